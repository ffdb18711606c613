/* Concat and Split: along an axis, every outer index holds one contiguous block per input
 * (output), so both are memcpy of runs; threads split the outer indices when there are many,
 * else the blocks. Empty inputs and outputs are skipped. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

typedef struct {
    int nparts;
    const kiln_view *parts;   /* the inputs (Concat) or outputs (Split) */
    char *whole;              /* the output (Concat) or input (Split) */
    int64_t outer, inner;     /* elements before the axis, after it */
    int64_t axis, whole_axis; /* axis index; its size in the whole tensor */
    size_t esz;
    int split;                /* 1: copy from whole to parts */
} cc_ctx;

static void cc_range(void *arg, int64_t b, int64_t e) {
    const cc_ctx *c = arg;
    size_t row = (size_t)(c->whole_axis * c->inner) * c->esz;
    for (int64_t o = b; o < e; o++) {
        char *w = c->whole + (size_t)o * row;
        for (int k = 0; k < c->nparts; k++) {
            const kiln_view *v = &c->parts[k];
            size_t blk = (size_t)(v->shape.d[c->axis] * c->inner) * c->esz;
            /* An output without a buffer (nobody reads it) is skipped, keeping the offsets. */
            if (!blk || !v->data) {
                w += blk;
                continue;
            }
            char *p = (char *)v->data + (size_t)o * blk;
            /* A part already in place (Concat planned in place by the optimizer) stays. */
            if (p != w) {
                if (c->split) memcpy(p, w, blk);
                else memcpy(w, p, blk);
            }
            w += blk;
        }
    }
}

static void run(kiln_cpu *cpu, cc_ctx *c, const kiln_shape *whole) {
    c->outer = 1;
    c->inner = 1;
    for (int i = 0; i < whole->ndim; i++) {
        if (i < c->axis) c->outer *= whole->d[i];
        else if (i > c->axis) c->inner *= whole->d[i];
    }
    c->whole_axis = whole->d[c->axis];
    int64_t per_outer = c->whole_axis * c->inner;
    if (per_outer == 0 || c->outer == 0) return;
    int64_t grain = KILN__CPU_GRAIN / per_outer > 0 ? KILN__CPU_GRAIN / per_outer : 1;
    kiln__cpu_parallel(cpu, c->outer, grain, cc_range, c);
}

kiln_status kiln__cpu_concat(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e) {
    (void)e;
    cc_ctx c = {n->n_in, in, out[0].data, 0, 0, 0, 0, kiln_dtype_size(out[0].dtype), 0};
    c.axis = kiln_axis_norm(n->a.axis.axis, out[0].shape.ndim);
    if (c.axis < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "node '%s': Concat axis %lld out of range",
                            n->name ? n->name : "?", (long long)n->a.axis.axis);
    run(cpu, &c, &out[0].shape);
    return KILN_OK;
}

kiln_status kiln__cpu_split(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e) {
    cc_ctx c = {n->n_out, out, in[0].data, 0, 0, 0, 0, kiln_dtype_size(in[0].dtype), 1};
    c.axis = kiln_axis_norm(n->a.split.axis, in[0].shape.ndim);
    if (c.axis < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "node '%s': Split axis %lld out of range",
                            n->name ? n->name : "?", (long long)n->a.split.axis);
    run(cpu, &c, &in[0].shape);
    return KILN_OK;
}
