/* onnx_map.c — a small open-addressing hash map from borrowed strings to ints. Large models
 * have tens of thousands of tensor names; a linear kiln_graph_find per node input would make
 * import quadratic. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t slot_of(const kiln__onnx_map *m, const char *key) {
    size_t mask = m->cap - 1, i = (size_t)hash_str(key) & mask;
    while (m->key[i] && strcmp(m->key[i], key) != 0) i = (i + 1) & mask;
    return i;
}

int kiln__onnx_map_get(const kiln__onnx_map *m, const char *key) {
    if (!m->cap) return -1;
    size_t i = slot_of(m, key);
    return m->key[i] ? m->val[i] : -1;
}

static int rehash(kiln__onnx_map *m, size_t cap) {
    kiln__onnx_map nm = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(int)), cap, 0};
    if (!nm.key || !nm.val) {
        free(nm.key);
        free(nm.val);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i]) continue;
        size_t j = slot_of(&nm, m->key[i]);
        nm.key[j] = m->key[i];
        nm.val[j] = m->val[i];
        nm.n++;
    }
    kiln__onnx_map_free(m);
    *m = nm;
    return 0;
}

int kiln__onnx_map_put(kiln__onnx_map *m, const char *key, int val) {
    /* Keep the load factor under 1/2 so probes stay short. */
    if (2 * (m->n + 1) > m->cap && rehash(m, m->cap ? 2 * m->cap : 64)) return -1;
    size_t i = slot_of(m, key);
    if (!m->key[i]) {
        m->key[i] = key;
        m->n++;
    }
    m->val[i] = val;
    return 0;
}

void kiln__onnx_map_free(kiln__onnx_map *m) {
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}
