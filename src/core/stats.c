/* Parameter and MAC counting (see stats.h for the conventions and why). */
#include "core/stats.h"

#include <stdlib.h>

#include "core/dtype.h"

/* 1 when input slot j of op holds configuration rather than learned values. Integer constants
   (shapes, axes, indices) are excluded by dtype already; this lists the float ones. */
static int config_slot(int op, int j) {
    switch (op) {
    case KILN_OP_BATCHNORM: return j == 3 || j == 4; /* running mean / variance: buffers */
    case KILN_OP_CLIP: return j >= 1;                 /* min, max */
    case KILN_OP_RESIZE: return j >= 1;               /* roi, scales, sizes */
    case KILN_OP_PAD: return j >= 1;                  /* pads, constant value, axes */
    case KILN_OP_RESHAPE:
    case KILN_OP_EXPAND:
    case KILN_OP_SLICE:
    case KILN_OP_SQUEEZE:
    case KILN_OP_UNSQUEEZE:
    case KILN_OP_SPLIT:
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN:
    case KILN_OP_GATHER: return j >= 1;
    case KILN_OP_CONSTANT_OF_SHAPE: return 1;
    default: return 0;
    }
}

int64_t kiln_graph_param_count(const kiln_graph *g) {
    unsigned char *seen = calloc((size_t)g->n_t + 1, 1);
    if (!seen) return -1;
    int64_t total = 0;
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            if (id < 0 || id >= g->n_t || seen[id] || config_slot(n->op, j)) continue;
            const kiln_tensor *t = &g->t[id];
            if (t->kind != KILN_TENSOR_CONST || !kiln_dtype_is_float(t->dtype)) continue;
            int64_t numel = kiln_shape_numel(&t->shape);
            if (numel < 0) continue;
            seen[id] = 1;
            total += numel;
        }
    }
    free(seen);
    return total;
}

/* Shape of input/output id under s, or NULL when absent or unknown. */
static const kiln_shape *known(const kiln_shapes *s, int id) {
    if (id < 0 || id >= s->n || s->s[id].ndim < 0 || kiln_shape_numel(&s->s[id]) < 0) return NULL;
    return &s->s[id];
}

int64_t kiln_node_macs(const kiln_graph *g, const kiln_shapes *s, const kiln_node *n) {
    (void)g;
    if (n->n_in < 2 || n->n_out < 1) return 0;
    const kiln_shape *x = known(s, n->in[0]), *w = known(s, n->in[1]), *y = known(s, n->out[0]);
    if (!x || !w || !y) return 0;
    switch (n->op) {
    case KILN_OP_CONV:
        /* Each output element: (C_in / group) * prod(kernel) = numel(W) / C_out MACs. */
        if (w->ndim < 3 || w->d[0] <= 0) return 0;
        return kiln_shape_numel(y) * (kiln_shape_numel(w) / w->d[0]);
    case KILN_OP_CONV_TRANSPOSE:
        /* Each input element scatters into (C_out / group) * prod(kernel) = numel(W) / C_in. */
        if (w->ndim < 3 || w->d[0] <= 0) return 0;
        return kiln_shape_numel(x) * (kiln_shape_numel(w) / w->d[0]);
    case KILN_OP_GEMM:
        if (x->ndim != 2) return 0;
        return kiln_shape_numel(y) * (n->a.gemm.trans_a ? x->d[0] : x->d[1]);
    case KILN_OP_MATMUL:
        /* y = a @ b: each output element sums over a's last dim (a 1-D a is one row). */
        if (x->ndim < 1) return 0;
        return kiln_shape_numel(y) * x->d[x->ndim - 1];
    default: return 0;
    }
}

int64_t kiln_graph_macs(const kiln_graph *g, const kiln_shapes *s) {
    int64_t total = 0;
    for (int k = 0; k < g->n_n; k++) total += kiln_node_macs(g, s, &g->n[k]);
    return total;
}
