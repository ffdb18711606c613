/* merge-siblings: 1x1 convolutions that read the same tensor with the same geometry and fused
 * activation (GoogLeNet/Inception branches) become one convolution with their filters stacked
 * along the output channels, followed by a Split (axis 1) that gives each branch its original
 * output tensor. The input is then read once and the product is one wider GEMM. Where the engine
 * runs at batch 1 the memory planner makes the Split's outputs views of the merged output (no
 * copy); elsewhere the Split copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt/opt.h"
#include "opt/opt_util.h"

/* 1 when conv node n is a plain 1x1, group-1 convolution with constant float weights. */
static int is_pointwise(const kiln_graph *g, const kiln_node *n) {
    if (n->op != KILN_OP_CONV || n->n_in < 2 || n->in[0] < 0 || n->n_out != 1) return 0;
    const kiln_conv_attr *a = &n->a.conv;
    if (a->group != 1 || a->has_residual) return 0;
    if (!kiln__opt_is_const_f32(g, n->in[1])) return 0;
    if (n->n_in > 2 && n->in[2] >= 0 && !kiln__opt_is_const_f32(g, n->in[2])) return 0;
    const kiln_shape *w = &g->t[n->in[1]].shape;
    if (w->ndim != a->nspatial + 2) return 0;
    for (int i = 2; i < w->ndim; i++)
        if (w->d[i] != 1) return 0;
    return 1;
}

/* Same geometry and activation (the output channels may differ). */
static int same_layer(const kiln_graph *g, const kiln_node *a, const kiln_node *b) {
    const kiln_conv_attr *x = &a->a.conv, *y = &b->a.conv;
    if (x->nspatial != y->nspatial || x->auto_pad != y->auto_pad) return 0;
    for (int i = 0; i < x->nspatial; i++)
        if (x->stride[i] != y->stride[i] || x->dilation[i] != y->dilation[i] ||
            x->pad_begin[i] != y->pad_begin[i] || x->pad_end[i] != y->pad_end[i] ||
            x->kernel[i] != y->kernel[i])
            return 0;
    if (x->act.type != y->act.type || x->act.alpha != y->act.alpha || x->act.beta != y->act.beta)
        return 0;
    return g->t[a->in[1]].shape.d[1] == g->t[b->in[1]].shape.d[1];
}

/* Merge the convolutions at indices idx[0..m) (ascending) into the first one. */
static kiln_status merge(kiln_graph *g, const int *idx, int m, kiln_err *e) {
    int64_t cin = g->t[g->n[idx[0]].in[1]].shape.d[1], total = 0;
    int64_t sizes[KILN_MAX_SPLIT];
    int outs[KILN_MAX_SPLIT];
    for (int i = 0; i < m; i++) {
        sizes[i] = g->t[g->n[idx[i]].in[1]].shape.d[0];
        outs[i] = g->n[idx[i]].out[0];
        total += sizes[i];
    }
    float *w = malloc(sizeof(float) * (size_t)(total * cin));
    float *b = malloc(sizeof(float) * (size_t)total);
    if (!w || !b) {
        free(w), free(b);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory merging convolutions");
    }
    int64_t at = 0;
    for (int i = 0; i < m; i++) {
        const kiln_node *n = &g->n[idx[i]];
        memcpy(w + at * cin, g->t[n->in[1]].data, sizeof(float) * (size_t)(sizes[i] * cin));
        const float *bd = n->n_in > 2 && n->in[2] >= 0 ? g->t[n->in[2]].data : NULL;
        for (int64_t o = 0; o < sizes[i]; o++) b[at + o] = bd ? bd[o] : 0.0f;
        at += sizes[i];
    }
    kiln_shape ws = g->t[g->n[idx[0]].in[1]].shape, bs = kiln_shape_make(1, &total);
    ws.d[0] = total;
    const char *name = g->n[idx[0]].name;
    int wid = kiln__opt_add_const_f32(g, name, ".merged_w", &ws, w);
    int bid = wid < 0 ? -1 : kiln__opt_add_const_f32(g, name, ".merged_b", &bs, b);
    char yname[256];
    snprintf(yname, sizeof yname, "%s.merged", name);
    int y = bid < 0 ? -1 : kiln_graph_add_tensor(g, yname, KILN_TENSOR_ACT, KILN_F32, NULL);
    if (wid < 0 || bid < 0 || y < 0) {
        if (wid < 0) free(b);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory merging convolutions");
    }
    /* The split, inserted right after the merged convolution. */
    int sk = kiln_graph_add_node(g, KILN_OP_SPLIT, yname, 1, &y, m, outs);
    if (sk < 0) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory merging convolutions");
    kiln_node *sp = &g->n[sk];
    sp->a.split.axis = 1;
    sp->a.split.nsplit = m;
    for (int i = 0; i < m; i++) sp->a.split.split[i] = sizes[i];
    kiln__opt_move_node(g, sk, idx[0] + 1);

    kiln_node *c = &g->n[idx[0]];
    if (c->n_in < 3) {
        int *in = realloc(c->in, sizeof(int) * 3);
        if (!in) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory merging convolutions");
        c->in = in;
        c->n_in = 3;
    }
    c->in[1] = wid;
    c->in[2] = bid;
    c->out[0] = y;
    char base[128], label[192];
    if (c->label) snprintf(base, sizeof base, "%s", c->label);
    else kiln__opt_base_label(c, base, sizeof base);
    if (c->a.conv.act.type != KILN_ACT_NONE && !c->label)
        snprintf(base + strlen(base), sizeof base - strlen(base), "+%s",
                 kiln__opt_act_label(&c->a.conv.act));
    snprintf(label, sizeof label, "%s (%d merged)", base, m);
    char *l = strdup(label);
    if (l) {
        free(c->label);
        c->label = l;
    }
    /* The other siblings go (their indices shifted by one past the inserted split). */
    for (int i = m - 1; i >= 1; i--) kiln__opt_remove_node(g, idx[i] + 1);
    return KILN_OK;
}

kiln_status kiln_pass_merge_siblings(kiln_graph *g, kiln_err *e) {
    int *idx = malloc(sizeof(int) * (size_t)(g->n_n + 1));
    unsigned char *used = calloc((size_t)g->n_n + 1, 1);
    if (!idx || !used) {
        free(idx), free(used);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    }
    kiln_status st = KILN_OK;
    for (int k = 0; k < g->n_n && st == KILN_OK; k++) {
        if (used[k] || !is_pointwise(g, &g->n[k])) continue;
        int x = g->n[k].in[0], m = 0;
        idx[m++] = k;
        for (int j = k + 1; j < g->n_n && m < KILN_MAX_SPLIT; j++)
            if (!used[j] && g->n[j].in[0] == x && is_pointwise(g, &g->n[j]) &&
                same_layer(g, &g->n[k], &g->n[j]))
                idx[m++] = j;
        if (m < 2) continue;
        st = merge(g, idx, m, e);
        /* Indices changed: start over with a fresh bookkeeping array. */
        free(used);
        used = calloc((size_t)g->n_n + 1, 1);
        if (!used && st == KILN_OK) st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
        if (used) used[k] = used[k + 1] = 1;
        k = -1;
    }
    free(idx);
    free(used);
    if (st != KILN_OK) return st;
    kiln_graph_compact(g);
    return KILN_OK;
}
