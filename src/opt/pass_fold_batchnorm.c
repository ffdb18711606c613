/* fold-batchnorm: inference batch norm is y = x * s[c] + (beta[c] - mean[c] * s[c]) with
 * s = gamma / sqrt(var + eps), an affine map per channel. After a Conv, ConvTranspose or Gemm
 * that nobody else reads, it folds into that layer's weights and bias (new constants: weights
 * may be shared). Elsewhere it becomes kiln.ScaleShift(x, s, shift). Arithmetic in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opt/opt.h"
#include "opt/opt_util.h"

typedef struct bn_params {
    int64_t c;
    double *s, *shift; /* per channel */
} bn_params;

static int bn_read(const kiln_graph *g, const kiln_node *n, bn_params *p) {
    if (n->n_in < 5) return 0;
    for (int j = 1; j < 5; j++)
        if (!kiln__opt_is_const_f32(g, n->in[j]) || g->t[n->in[j]].shape.ndim != 1) return 0;
    int64_t c = g->t[n->in[1]].shape.d[0];
    for (int j = 2; j < 5; j++)
        if (g->t[n->in[j]].shape.d[0] != c) return 0;
    /* Training-mode outputs (running mean/var) must be unused. */
    for (int j = 1; j < n->n_out; j++)
        if (n->out[j] >= 0 && kiln__opt_reads(g, n->out[j])) return 0;
    const float *gamma = g->t[n->in[1]].data, *beta = g->t[n->in[2]].data,
                *mean = g->t[n->in[3]].data, *var = g->t[n->in[4]].data;
    p->c = c;
    p->s = malloc(sizeof(double) * (size_t)(c ? c : 1));
    p->shift = malloc(sizeof(double) * (size_t)(c ? c : 1));
    if (!p->s || !p->shift) {
        free(p->s), free(p->shift);
        return 0;
    }
    for (int64_t i = 0; i < c; i++) {
        p->s[i] = (double)gamma[i] / sqrt((double)var[i] + (double)n->a.bn.epsilon);
        p->shift[i] = (double)beta[i] - (double)mean[i] * p->s[i];
    }
    return 1;
}

static void bn_free(bn_params *p) {
    free(p->s);
    free(p->shift);
}

/* New weights W' = W * s along the output channel, and bias b' = b * s + shift. */
static int fold_into_conv(kiln_graph *g, kiln_node *n, const bn_params *p) {
    if (n->n_in < 2 || !kiln__opt_is_const_f32(g, n->in[1])) return 0;
    if (n->a.conv.act.type != KILN_ACT_NONE || n->a.conv.has_residual) return 0;
    int has_b = n->n_in > 2 && n->in[2] >= 0;
    if (has_b && !kiln__opt_is_const_f32(g, n->in[2])) return 0;
    const kiln_tensor *w = &g->t[n->in[1]];
    if (w->shape.ndim < 2) return 0;
    int transpose = n->op == KILN_OP_CONV_TRANSPOSE;
    int64_t group = n->a.conv.group > 0 ? n->a.conv.group : 1;
    int64_t d0 = w->shape.d[0], d1 = w->shape.d[1], inner = 1;
    for (int i = 2; i < w->shape.ndim; i++) inner *= w->shape.d[i];
    /* Conv W: Cout x Cin/g x k; ConvTranspose W: Cin x Cout/g x k. */
    int64_t cout = transpose ? d1 * group : d0;
    if (cout != p->c || (transpose && d0 % group)) return 0;
    if (has_b && kiln_shape_numel(&g->t[n->in[2]].shape) != cout) return 0;
    int64_t nw = d0 * d1 * inner;
    float *nwd = malloc(sizeof(float) * (size_t)(nw ? nw : 1));
    float *nb = malloc(sizeof(float) * (size_t)(cout ? cout : 1));
    if (!nwd || !nb) {
        free(nwd), free(nb);
        return 0;
    }
    const float *wd = w->data;
    for (int64_t a = 0; a < d0; a++)
        for (int64_t b = 0; b < d1; b++) {
            int64_t o = transpose ? (a / (d0 / group)) * d1 + b : a;
            for (int64_t i = 0; i < inner; i++) {
                int64_t idx = (a * d1 + b) * inner + i;
                nwd[idx] = (float)((double)wd[idx] * p->s[o]);
            }
        }
    const float *bd = has_b ? g->t[n->in[2]].data : NULL;
    for (int64_t o = 0; o < cout; o++)
        nb[o] = (float)((bd ? (double)bd[o] : 0.0) * p->s[o] + p->shift[o]);
    kiln_shape ws = w->shape, bs = kiln_shape_make(1, &cout);
    int wid = kiln__opt_add_const_f32(g, n->name, ".w_bn", &ws, nwd);
    int bid = wid < 0 ? -1 : kiln__opt_add_const_f32(g, n->name, ".b_bn", &bs, nb);
    if (wid < 0 || bid < 0) {
        if (wid < 0) free(nb);
        return 0;
    }
    if (!has_b) {
        /* Grow the input list to X, W, B. */
        int *in = realloc(n->in, sizeof(int) * 3);
        if (!in) return 0;
        n->in = in;
        n->n_in = 3;
    }
    n->in[1] = wid;
    n->in[2] = bid;
    return 1;
}

/* Gemm Y = alpha * A * B + beta * C with Y: M x N and the batch norm over N. */
static int fold_into_gemm(kiln_graph *g, kiln_node *n, const bn_params *p) {
    if (n->n_in < 2 || !kiln__opt_is_const_f32(g, n->in[1])) return 0;
    if (n->a.gemm.act.type != KILN_ACT_NONE || n->a.gemm.has_residual) return 0;
    const kiln_tensor *bt = &g->t[n->in[1]];
    if (bt->shape.ndim != 2) return 0;
    int tb = n->a.gemm.trans_b;
    int64_t K = tb ? bt->shape.d[1] : bt->shape.d[0], N = tb ? bt->shape.d[0] : bt->shape.d[1];
    if (N != p->c) return 0;
    int has_c = n->n_in > 2 && n->in[2] >= 0;
    const float *cd = NULL;
    int64_t cn = 0;
    if (has_c) {
        const kiln_tensor *ct = &g->t[n->in[2]];
        if (!kiln__opt_is_const_f32(g, n->in[2])) return 0;
        cn = kiln_shape_numel(&ct->shape);
        /* Per-column bias only: [N], [1, N] or a scalar. */
        int ok = (ct->shape.ndim == 1 && cn == N) || (ct->shape.ndim == 2 && ct->shape.d[0] == 1 &&
                                                      ct->shape.d[1] == N) || cn == 1;
        if (!ok) return 0;
        cd = ct->data;
    }
    int64_t kn = K * N;
    float *nbd = malloc(sizeof(float) * (size_t)(kn > 0 ? kn : 1));
    float *ncd = malloc(sizeof(float) * (size_t)(N ? N : 1));
    if (!nbd || !ncd) {
        free(nbd), free(ncd);
        return 0;
    }
    const float *bd = bt->data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) {
            int64_t idx = tb ? j * K + k : k * N + j;
            nbd[idx] = (float)((double)bd[idx] * p->s[j]);
        }
    for (int64_t j = 0; j < N; j++) {
        double c = cd ? (double)n->a.gemm.beta * (double)cd[cn == 1 ? 0 : j] : 0.0;
        ncd[j] = (float)(c * p->s[j] + p->shift[j]);
    }
    kiln_shape bs = bt->shape, cs = kiln_shape_make(1, &N);
    int bid = kiln__opt_add_const_f32(g, n->name, ".w_bn", &bs, nbd);
    int cid = bid < 0 ? -1 : kiln__opt_add_const_f32(g, n->name, ".b_bn", &cs, ncd);
    if (bid < 0 || cid < 0) {
        if (bid < 0) free(ncd);
        return 0;
    }
    if (!has_c) {
        int *in = realloc(n->in, sizeof(int) * 3);
        if (!in) return 0;
        n->in = in;
        n->n_in = 3;
    }
    n->in[1] = bid;
    n->in[2] = cid;
    n->a.gemm.beta = 1.0f;
    return 1;
}

/* The batch norm becomes kiln.ScaleShift(x, s, shift). */
static int to_scale_shift(kiln_graph *g, int k, const bn_params *p) {
    int64_t c = p->c;
    float *s = malloc(sizeof(float) * (size_t)(c ? c : 1));
    float *t = malloc(sizeof(float) * (size_t)(c ? c : 1));
    if (!s || !t) {
        free(s), free(t);
        return 0;
    }
    for (int64_t i = 0; i < c; i++) {
        s[i] = (float)p->s[i];
        t[i] = (float)p->shift[i];
    }
    kiln_shape cs = kiln_shape_make(1, &c);
    const char *name = g->n[k].name;
    int sid = kiln__opt_add_const_f32(g, name, ".scale", &cs, s);
    int tid = sid < 0 ? -1 : kiln__opt_add_const_f32(g, name, ".shift", &cs, t);
    if (sid < 0 || tid < 0) {
        if (sid < 0) free(t);
        return 0;
    }
    kiln_node *n = &g->n[k];
    n->op = KILN_OP_SCALE_SHIFT;
    n->in[1] = sid;
    n->in[2] = tid;
    n->n_in = 3;
    n->n_out = 1;
    memset(&n->a, 0, sizeof n->a);
    return 1;
}

kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, kiln_err *e) {
    for (int k = 0; k < g->n_n; k++) {
        kiln_node *bn = &g->n[k];
        if (bn->op != KILN_OP_BATCHNORM || bn->n_in < 5 || bn->in[0] < 0) continue;
        bn_params p;
        if (!bn_read(g, bn, &p)) continue;
        int x = bn->in[0], y = bn->out[0];
        int pk = kiln_graph_producer(g, x);
        int folded = 0;
        if (pk >= 0 && kiln__opt_sole_reader(g, x) == k) {
            kiln_node *pn = &g->n[pk];
            if (pn->op == KILN_OP_CONV || pn->op == KILN_OP_CONV_TRANSPOSE)
                folded = fold_into_conv(g, pn, &p);
            else if (pn->op == KILN_OP_GEMM)
                folded = fold_into_gemm(g, pn, &p);
            if (folded) {
                /* The layer now writes the batch norm's output itself. */
                pn = &g->n[pk];
                kiln__opt_label_append(pn, "bn");
                pn->out[0] = y;
                kiln__opt_remove_node(g, k);
                if (pk > k) pk--;
                k--;
            }
        }
        if (!folded && !to_scale_shift(g, k, &p)) {
            bn_free(&p);
            return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory folding '%s'", g->n[k].name);
        }
        bn_free(&p);
    }
    kiln_graph_compact(g);
    return KILN_OK;
}
