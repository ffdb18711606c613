/* concat-inplace: let the producers of a channel Concat write straight into their slice of the
 * concatenated tensor, so the Concat copies nothing (GoogLeNet/Inception branches, DenseNet's
 * last layer of a block).
 *
 * An input T of Concat(axis 1) -> O qualifies when the Concat is its only reader, it is no graph
 * output, and its producer is "batch-separable" (computes each batch item from the same item of
 * its inputs: convolutions, pools, activations, scale-shift, batch norm, LRN, another channel
 * Concat or Split), so a backend can run it per batch item or with strided output descriptors.
 * T then records alias = O and alias_offset = (channels before T) * (elements per channel): item
 * n of T starts alias_offset elements into item n of O (see kiln_tensor in graph.h). The Concat
 * node stays in the graph; backends that honour aliases copy only the inputs that are not in
 * place, and a backend that ignores them still computes the same result. The memory planner
 * (src/build/planner.c) checks every alias again and lays the storage out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt/opt.h"
#include "opt/opt_util.h"

int kiln_op_batch_separable(const kiln_node *n, int rank) {
    switch (n->op) {
    case KILN_OP_CONV:
    case KILN_OP_CONV_TRANSPOSE:
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL:
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL:
    case KILN_OP_LRN:
    case KILN_OP_BATCHNORM:
    case KILN_OP_SCALE_SHIFT:
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH: return rank >= 2;
    case KILN_OP_CONCAT: return rank >= 2 && kiln_axis_norm(n->a.axis.axis, rank) > 0;
    case KILN_OP_SPLIT: return rank >= 2 && kiln_axis_norm(n->a.split.axis, rank) > 0;
    default: return 0;
    }
}

/* t and o have the same rank, the same batch (dim 0) and the same dims past the channel, at
   both batches, and t's channel count does not depend on the batch. */
static int batch_dims_ok(const kiln__opt_shapes *s, int t, int o) {
    for (int b = 0; b < 2; b++) {
        const kiln_shape *a = &s->at[b].s[t], *c = &s->at[b].s[o];
        if (a->ndim != c->ndim || a->ndim < 2 || a->d[0] != c->d[0]) return 0;
        for (int i = 2; i < a->ndim; i++)
            if (a->d[i] != c->d[i] || a->d[i] != s->at[0].s[o].d[i]) return 0;
    }
    return s->at[0].s[t].d[1] == s->at[1].s[t].d[1];
}

static int place_inputs(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    const kiln_node *n = &g->n[k];
    int o = n->out[0];
    if (n->n_in < 2 || o < 0 || o >= s->at[0].n || g->t[o].kind != KILN_TENSOR_ACT) return 0;
    int r = s->at[0].s[o].ndim;
    if (r < 2 || kiln_axis_norm(n->a.axis.axis, r) != 1) return 0;
    int64_t inner = 1;
    for (int i = 2; i < r; i++) inner *= s->at[0].s[o].d[i];
    int64_t c0 = 0;
    int placed = 0;
    for (int j = 0; j < n->n_in; j++) {
        int t = n->in[j];
        if (t < 0 || t >= s->at[0].n) return placed;
        int64_t ch = s->at[0].s[t].ndim == r ? s->at[0].s[t].d[1] : -1;
        if (ch < 0) return placed;
        int p = kiln_graph_producer(g, t);
        if (g->t[t].kind == KILN_TENSOR_ACT && g->t[t].alias < 0 && !g->t[t].is_output &&
            kiln__opt_sole_reader(g, t) == k && p >= 0 && kiln_op_batch_separable(&g->n[p], r) &&
            batch_dims_ok(s, t, o) && s->at[0].dt[t] == s->at[0].dt[o]) {
            g->t[t].alias = o;
            g->t[t].alias_offset = c0 * inner;
            placed++;
        }
        c0 += ch;
    }
    return placed;
}

kiln_status kiln_pass_concat_inplace(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    if (!s.ok) return KILN_OK;
    for (int k = 0; k < g->n_n; k++) {
        if (g->n[k].op != KILN_OP_CONCAT) continue;
        int placed = place_inputs(g, &s, k);
        if (!placed) continue;
        char l[64];
        if (placed == g->n[k].n_in) snprintf(l, sizeof l, "concat (in place)");
        else snprintf(l, sizeof l, "concat (%d of %d in place)", placed, g->n[k].n_in);
        char *d = strdup(l);
        if (d) {
            free(g->n[k].label);
            g->n[k].label = d;
        }
    }
    kiln__opt_shapes_free(&s);
    return KILN_OK;
}
