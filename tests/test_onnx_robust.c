/* test_onnx_robust.c — bad bytes never crash the importer: every prefix of valid models, and
 * random byte mutations of them (fresh seed per run, printed), must come back as a status with a
 * message, or as a graph that validates. Each input sits in a buffer of exactly its size, so
 * the sanitizer build (label asan) catches any read past the end. */
#include <stdlib.h>

#include "onnx_cases.h"

static const char *const models[] = {
    "conv_relu_pool_op7.onnx", "conv_relu_pool_op13.onnx", "attrs_op11.onnx", "attrs_op15.onnx",
    "attrs_op18.onnx",         "tensors.onnx",             "constants.onnx",  "resize_op13.onnx",
    "dim_param.onnx",          "ext/ext_data.onnx",        "unsorted.onnx",   "resize_op19.onnx",
    "upsample_op7.onnx",       "slice_op1.onnx",           "pad_op2.onnx",    "clip_attr_op9.onnx",
};

static unsigned char *read_case(const char *name, size_t *n) {
    char path[1024];
    FILE *f = fopen(onnx_case_path(name, path, sizeof path), "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = buf && len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

/* Import bytes[0..n) from a buffer of exactly n bytes; 1 when it behaved. */
static int import_behaves(const unsigned char *bytes, size_t n, const char *base_dir, int *ok) {
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy) return 0;
    memcpy(copy, bytes, n);
    kiln_graph *g = NULL;
    kiln_err e;
    kiln_err_clear(&e);
    kiln_status s = kiln_onnx_import_memory(copy, n, base_dir, &g, &e);
    int good;
    if (s == KILN_OK) {
        kiln_err ve;
        good = g && kiln_graph_validate(g, &ve) == KILN_OK;
        *ok += 1;
    } else {
        good = !g && e.status == s && e.msg[0] && !strchr(e.msg, '\n');
    }
    if (!good)
        fprintf(stderr, "misbehaved on %zu bytes: status %s, message \"%s\"\n", n,
                kiln_status_str(s), e.msg);
    kiln_graph_destroy(g);
    free(copy);
    return good;
}

static void test_prefixes(const char *name, const unsigned char *buf, size_t n,
                          const char *dir) {
    int bad = 0, ok = 0;
    for (size_t len = 0; len <= n; len++)
        if (!import_behaves(buf, len, dir, &ok)) bad++;
    CHECK(bad == 0, "%s: %d of %zu prefixes misbehaved", name, bad, n + 1);
    CHECK(ok >= 1, "%s: the whole model must import", name);
}

static void test_mutations(const char *name, const unsigned char *buf, size_t n,
                           const char *dir, kiln_rng *r, int rounds) {
    unsigned char *m = malloc(n);
    if (!m || !n) {
        free(m);
        return;
    }
    int bad = 0, ok = 0;
    for (int k = 0; k < rounds; k++) {
        memcpy(m, buf, n);
        int flips = 1 + (int)(kiln_rng_next(r) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(kiln_rng_next(r) % n);
            /* Half the time a length-ish value (small or with the continuation bit set). */
            uint64_t v = kiln_rng_next(r);
            m[at] = (v & 1) ? (unsigned char)(v >> 8) : (unsigned char)((v >> 8) & 0x81);
        }
        if (!import_behaves(m, n, dir, &ok)) bad++;
    }
    CHECK(bad == 0, "%s: %d of %d mutations misbehaved", name, bad, rounds);
    free(m);
}

/* A few MiB of empty sub-messages unpack into structs ~50x their wire size: the importer caps
   what protobuf-c may allocate and says so, instead of eating the machine. */
static void test_alloc_cap(void) {
    const size_t nodes = 2u << 20; /* 2 bytes each on the wire */
    size_t glen = 2 * nodes, cap = glen + 64;
    unsigned char *b = malloc(cap);
    if (!b) return;
    size_t k = 0;
    b[k++] = 0x08; /* ir_version = 8 */
    b[k++] = 8;
    b[k++] = 0x42; /* opset_import { version: 13 } */
    b[k++] = 2;
    b[k++] = 0x10;
    b[k++] = 13;
    b[k++] = 0x3a; /* graph: field 7, length-delimited */
    for (size_t v = glen; ; v >>= 7) {
        b[k++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80) break;
    }
    for (size_t i = 0; i < nodes; i++) {
        b[k++] = 0x0a; /* node: field 1, empty */
        b[k++] = 0;
    }
    kiln_graph *g = NULL;
    kiln_err e;
    kiln_status st = kiln_onnx_import_memory(b, k, NULL, &g, &e);
    CHECK(st == KILN_ERR_NOMEM && !g && strstr(e.msg, "MiB to decode"), "allocation cap: %s (%s)",
          kiln_status_str(st), e.msg);
    free(b);
}

int main(void) {
    test_alloc_cap();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    char dir[1024];
    onnx_case_path("ext", dir, sizeof dir);
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        size_t n = 0;
        unsigned char *buf = read_case(models[i], &n);
        if (!buf) continue;
        test_prefixes(models[i], buf, n, dir);
        test_mutations(models[i], buf, n, dir, &r, 3000);
        free(buf);
    }
    /* Pure noise, many lengths. */
    unsigned char noise[512];
    int bad = 0, ok = 0;
    for (int k = 0; k < 2000; k++) {
        size_t n = 1 + (size_t)(kiln_rng_next(&r) % sizeof noise);
        for (size_t j = 0; j < n; j++) noise[j] = (unsigned char)kiln_rng_next(&r);
        if (!import_behaves(noise, n, NULL, &ok)) bad++;
    }
    CHECK(bad == 0, "noise: %d of 2000 misbehaved", bad);
    return test_done();
}
