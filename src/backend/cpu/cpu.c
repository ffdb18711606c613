#include "backend/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

#define SCRATCH_SLOTS 4

struct kiln_cpu {
    kiln_pool *pool;
    void *scratch[SCRATCH_SLOTS];
    size_t scratch_size[SCRATCH_SLOTS];
};

kiln_cpu *kiln_cpu_create(int threads) {
    kiln_cpu *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (threads != 1) {
        c->pool = kiln_pool_create(threads);
        if (!c->pool) {
            free(c);
            return NULL;
        }
    }
    return c;
}

void kiln_cpu_destroy(kiln_cpu *c) {
    if (!c) return;
    kiln_pool_destroy(c->pool);
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(c->scratch[i]);
    free(c);
}

kiln_pool *kiln_cpu_pool(kiln_cpu *c) { return c ? c->pool : NULL; }

void *kiln_cpu_scratch(kiln_cpu *c, int slot, size_t bytes) {
    if (!c || slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
    if (bytes <= c->scratch_size[slot] && c->scratch[slot]) return c->scratch[slot];
    free(c->scratch[slot]);
    size_t sz = (bytes + 63) & ~(size_t)63;
    c->scratch[slot] = aligned_alloc(64, sz ? sz : 64);
    c->scratch_size[slot] = c->scratch[slot] ? sz : 0;
    return c->scratch[slot];
}

kiln_cpu_kernel kiln_cpu_lookup(kiln_op op) {
    kiln_cpu_kernel k = kiln_cpu_nn_lookup(op);
    return k ? k : kiln_cpu_tensor_lookup(op);
}

kiln_status kiln_cpu_run_node(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e) {
    kiln_cpu_kernel k = kiln_cpu_lookup((kiln_op)n->op);
    if (!k)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "node '%s': the CPU backend has no %s kernel",
                            n->name, kiln_op_name(n->op));
    if (cpu) return k(cpu, n, in, out, e);
    kiln_cpu *tmp = kiln_cpu_create(1);
    if (!tmp) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    kiln_status st = k(tmp, n, in, out, e);
    kiln_cpu_destroy(tmp);
    return st;
}
