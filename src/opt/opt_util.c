#include "opt/opt_util.h"

#include <ctype.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"

static kiln_status infer_at(const kiln_graph *g, int64_t batch, kiln_shapes *out) {
    kiln_shape in[64];
    if (g->n_inputs > 64) return KILN_ERR_UNSUPPORTED;
    for (int i = 0; i < g->n_inputs; i++) {
        in[i] = g->t[g->inputs[i]].shape;
        if (in[i].ndim < 0) return KILN_ERR_SHAPE;
        for (int d = 0; d < in[i].ndim; d++) {
            if (in[i].d[d] >= 0) continue;
            if (d != 0) return KILN_ERR_SHAPE; /* only the batch may be open here */
            in[i].d[d] = batch;
        }
    }
    kiln_err e;
    return kiln_infer(g, in, out, &e);
}

void kiln__opt_shapes_init(const kiln_graph *g, kiln__opt_shapes *s) {
    memset(s, 0, sizeof *s);
    if (infer_at(g, KILN__OPT_BATCH_A, &s->at[0]) != KILN_OK) return;
    if (infer_at(g, KILN__OPT_BATCH_B, &s->at[1]) != KILN_OK) {
        kiln_shapes_free(&s->at[0]);
        return;
    }
    s->ok = 1;
}

void kiln__opt_shapes_free(kiln__opt_shapes *s) {
    kiln_shapes_free(&s->at[0]);
    kiln_shapes_free(&s->at[1]);
    s->ok = 0;
}

int kiln__opt_same_shape(const kiln__opt_shapes *s, int t, int u) {
    if (!s->ok) return 0;
    return kiln_shape_eq(&s->at[0].s[t], &s->at[0].s[u]) &&
           kiln_shape_eq(&s->at[1].s[t], &s->at[1].s[u]);
}

int kiln__opt_reads(const kiln_graph *g, int t) { return kiln_graph_consumers(g, t); }

int kiln__opt_sole_reader(const kiln_graph *g, int t) {
    if (g->t[t].is_output) return -1;
    int who = -1;
    for (int i = 0; i < g->n_n; i++)
        for (int j = 0; j < g->n[i].n_in; j++)
            if (g->n[i].in[j] == t) {
                if (who >= 0) return -1;
                who = i;
            }
    return who;
}

void kiln__opt_replace_uses(kiln_graph *g, int from, int to) {
    for (int i = 0; i < g->n_n; i++)
        for (int j = 0; j < g->n[i].n_in; j++)
            if (g->n[i].in[j] == from) g->n[i].in[j] = to;
}

void kiln__opt_remove_node(kiln_graph *g, int k) {
    kiln_node *n = &g->n[k];
    free(n->name);
    free(n->in);
    free(n->out);
    free(n->label);
    memmove(&g->n[k], &g->n[k + 1], sizeof(kiln_node) * (size_t)(g->n_n - k - 1));
    g->n_n--;
}

void kiln__opt_move_node(kiln_graph *g, int from, int to) {
    if (from == to) return;
    kiln_node n = g->n[from];
    if (from < to)
        memmove(&g->n[from], &g->n[from + 1], sizeof(kiln_node) * (size_t)(to - from));
    else
        memmove(&g->n[to + 1], &g->n[to], sizeof(kiln_node) * (size_t)(from - to));
    g->n[to] = n;
}

int kiln__opt_bypass(kiln_graph *g, int k, int in, int out) {
    if (in == out) return 0;
    if (!g->t[out].is_output) {
        kiln__opt_replace_uses(g, out, in);
        kiln__opt_remove_node(g, k);
        return 1;
    }
    /* out names a binding: keep the name by letting in's producer write out itself. */
    if (g->t[in].kind != KILN_TENSOR_ACT || g->t[in].is_output) return 0;
    int p = kiln_graph_producer(g, in);
    if (p < 0 || kiln__opt_sole_reader(g, in) != k) return 0;
    for (int j = 0; j < g->n[p].n_out; j++)
        if (g->n[p].out[j] == in) g->n[p].out[j] = out;
    kiln__opt_remove_node(g, k);
    return 1;
}

int kiln__opt_add_const_f32(kiln_graph *g, const char *base, const char *suffix,
                            const kiln_shape *shape, float *data) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", base ? base : "const", suffix);
    /* Keep names unique (plan files and lookups by name rely on it). */
    for (int k = 2; kiln_graph_find(g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s%s.%d", base ? base : "const", suffix, k);
    return kiln_graph_add_const(g, name, KILN_F32, shape, data, 1);
}

int kiln__opt_is_const_f32(const kiln_graph *g, int t) {
    return t >= 0 && g->t[t].kind == KILN_TENSOR_CONST && g->t[t].dtype == KILN_F32 &&
           g->t[t].data && kiln_shape_numel(&g->t[t].shape) >= 0;
}

static void window_label(const char *name, int nsp, const int64_t *k, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "%s", name);
    for (int i = 0; i < nsp && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? "x%lld" : "%lld", (long long)k[i]);
}

void kiln__opt_base_label(const kiln_node *n, char *buf, size_t size) {
    switch (n->op) {
    case KILN_OP_CONV:
        /* grouped (depthwise among them): "gconv3x3" */
        window_label(n->a.conv.group > 1 ? "gconv" : "conv", n->a.conv.nspatial,
                     n->a.conv.kernel, buf, size);
        return;
    case KILN_OP_CONV_TRANSPOSE:
        window_label("deconv", n->a.conv.nspatial, n->a.conv.kernel, buf, size);
        return;
    case KILN_OP_MAXPOOL:
        window_label("maxpool", n->a.pool.nspatial, n->a.pool.kernel, buf, size);
        return;
    case KILN_OP_AVGPOOL:
        window_label("avgpool", n->a.pool.nspatial, n->a.pool.kernel, buf, size);
        return;
    default: break;
    }
    const char *s = kiln_op_name((kiln_op)n->op);
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++) buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = 0;
}

const char *kiln__opt_act_label(const kiln_act *a) {
    switch (a->type) {
    case KILN_ACT_RELU: return "relu";
    case KILN_ACT_CLIP: return a->alpha == 0.0f && a->beta == 6.0f ? "relu6" : "clip";
    case KILN_ACT_LEAKY_RELU: return "leakyrelu";
    case KILN_ACT_SIGMOID: return "sigmoid";
    case KILN_ACT_HARD_SIGMOID: return "hardsigmoid";
    case KILN_ACT_HARD_SWISH: return "hardswish";
    case KILN_ACT_SILU: return "silu";
    case KILN_ACT_TANH: return "tanh";
    default: return "none";
    }
}

int kiln__opt_label_append(kiln_node *n, const char *part) {
    char base[128];
    const char *cur = n->label;
    if (!cur) {
        kiln__opt_base_label(n, base, sizeof base);
        cur = base;
    }
    size_t len = strlen(cur) + 1 + strlen(part) + 1;
    char *l = malloc(len);
    if (!l) return 0;
    snprintf(l, len, "%s+%s", cur, part);
    free(n->label);
    n->label = l;
    return 1;
}

/* A scalar bound of Clip given as an input: absent (-1) keeps the default. */
static int clip_bound(const kiln_graph *g, const kiln_node *n, int i, float *v) {
    if (i >= n->n_in || n->in[i] < 0) return 1;
    const kiln_tensor *t = &g->t[n->in[i]];
    if (t->kind != KILN_TENSOR_CONST || !t->data || kiln_shape_numel(&t->shape) != 1 ||
        !kiln_dtype_is_float(t->dtype))
        return 0;
    *v = (float)kiln_elem_get(t->data, t->dtype, 0);
    return 1;
}

int kiln__opt_node_act(const kiln_graph *g, const kiln_node *n, kiln_act *act) {
    memset(act, 0, sizeof *act);
    switch (n->op) {
    case KILN_OP_RELU: act->type = KILN_ACT_RELU; return 1;
    case KILN_OP_SIGMOID: act->type = KILN_ACT_SIGMOID; return 1;
    case KILN_OP_TANH: act->type = KILN_ACT_TANH; return 1;
    case KILN_OP_HARD_SWISH: act->type = KILN_ACT_HARD_SWISH; return 1;
    case KILN_OP_LEAKY_RELU:
        act->type = KILN_ACT_LEAKY_RELU;
        act->alpha = n->a.unary.alpha;
        return 1;
    case KILN_OP_HARD_SIGMOID:
        act->type = KILN_ACT_HARD_SIGMOID;
        act->alpha = n->a.unary.alpha;
        act->beta = n->a.unary.beta;
        return 1;
    case KILN_OP_CLIP: {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (n->a.unary.has_min) lo = n->a.unary.min;
        if (n->a.unary.has_max) hi = n->a.unary.max;
        if (!clip_bound(g, n, 1, &lo) || !clip_bound(g, n, 2, &hi)) return 0;
        act->type = KILN_ACT_CLIP;
        act->alpha = lo;
        act->beta = hi;
        return 1;
    }
    default: return 0;
    }
}
