/* Gather along any axis, any data type, int32 or int64 indices (negative ones count from the
 * end). Indices are checked once up front; then every (outer, index) pair copies one
 * contiguous block of the trailing dimensions. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

typedef struct {
    const char *data;
    char *out;
    const void *idx;
    kiln_dtype idx_t;
    int64_t nidx, dim, inner;
    size_t esz;
} gather_ctx;

static inline int64_t index_at(const gather_ctx *c, int64_t k) {
    int64_t v = c->idx_t == KILN_I64 ? ((const int64_t *)c->idx)[k] : ((const int32_t *)c->idx)[k];
    return v < 0 ? v + c->dim : v;
}

static void gather_range(void *arg, int64_t b, int64_t e) {
    const gather_ctx *c = arg;
    size_t blk = (size_t)c->inner * c->esz;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / c->nidx, k = t % c->nidx;
        const char *src = c->data + (size_t)(o * c->dim + index_at(c, k)) * blk;
        char *dst = c->out + (size_t)t * blk;
        switch (blk) {
        case 4: memcpy(dst, src, 4); break; /* constant sizes: single moves */
        case 8: memcpy(dst, src, 8); break;
        default: memcpy(dst, src, blk);
        }
    }
}

kiln_status kiln__cpu_gather(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e) {
    const kiln_shape *s = &in[0].shape;
    int64_t axis = kiln_axis_norm(n->a.gather.axis, s->ndim);
    if (axis < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "node '%s': Gather axis %lld out of range",
                            n->name ? n->name : "?", (long long)n->a.gather.axis);
    if (in[1].dtype != KILN_I64 && in[1].dtype != KILN_I32)
        return kiln_err_set(e, KILN_ERR_DTYPE, "node '%s': Gather indices must be int32/int64",
                            n->name ? n->name : "?");
    gather_ctx c = {in[0].data, out[0].data, in[1].data, in[1].dtype,
                    kiln_shape_numel(&in[1].shape), s->d[axis], 1, kiln_dtype_size(in[0].dtype)};
    int64_t outer = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (i < axis) outer *= s->d[i];
        else if (i > axis) c.inner *= s->d[i];
    }
    for (int64_t k = 0; k < c.nidx; k++) {
        int64_t v = index_at(&c, k);
        if (v < 0 || v >= c.dim)
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "node '%s': Gather index %lld is out of range for axis %lld of "
                                "size %lld",
                                n->name ? n->name : "?", (long long)(v < 0 ? v - c.dim : v),
                                (long long)axis, (long long)c.dim);
    }
    if (c.inner == 0 || c.nidx == 0 || outer == 0) return KILN_OK;
    int64_t grain = KILN__CPU_GRAIN / c.inner > 0 ? KILN__CPU_GRAIN / c.inner : 1;
    kiln__cpu_parallel(cpu, outer * c.nidx, grain, gather_range, &c);
    return KILN_OK;
}
