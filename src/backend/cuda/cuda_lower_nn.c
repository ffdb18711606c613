/* cuda_lower_nn.c — lowering the layers that carry weights: Conv (cuDNN fused graph or the own
 * depthwise kernel) and Gemm / MatMul (cuBLASLt), with their packed weights.
 *
 * A layer runs fused (conv + bias + residual + activation in one cuDNN graph; gemm + bias
 * (+ ReLU) + residual in one cuBLASLt call) unless something stops it: an activation the library
 * cannot fuse (hard sigmoid / hard swish; anything but ReLU for cuBLASLt), a residual laid out
 * differently from the output, or an output slice whose first channel is not 16-byte aligned.
 * Then the layer writes t (y itself, or scratch) with only its bias, and a bias_act step adds the
 * residual and applies the activation into y ("post"). The tuner may split a layer the same way
 * when cuDNN offers no engine for its fused graph (FP32 residual graphs under cuDNN 9.14).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_lower.h"
#include "core/nn_window.h"

static int cudnn_act(int type) {
    return type == KILN_ACT_NONE || type == KILN_ACT_RELU || type == KILN_ACT_CLIP ||
           type == KILN_ACT_LEAKY_RELU || type == KILN_ACT_SIGMOID || type == KILN_ACT_TANH ||
           type == KILN_ACT_SILU;
}

static int64_t *grow_i64_table(int64_t **t, int n) {
    if (!*t) {
        *t = malloc(sizeof(int64_t) * ((size_t)n + 1));
        if (*t)
            for (int i = 0; i <= n; i++) (*t)[i] = -1;
    }
    return *t;
}

/* The weight-offset cache table `which` of the engine (per device node). */
static int64_t *wtab(cu_lw *L, int64_t **t) { return grow_i64_table(t, L->g->n_n); }

/* ---- convolution ------------------------------------------------------------------------- */

static int find_conv(const cu_engine *s, const char *sig) {
    for (int i = 0; i < s->nconv; i++)
        if (!strcmp(s->conv[i].sig, sig)) return i;
    return -1;
}

static kiln_status add_conv(cu_lw *L, const kiln_cuda_conv_desc *d, int dw_ok, int no_split,
                            int *index) {
    cu_engine *s = L->s;
    char sig[320];
    kiln_cuda_conv_signature(d, sig, sizeof sig);
    int i = find_conv(s, sig);
    if (i >= 0) {
        s->conv[i].no_split |= no_split;
        *index = i;
        return KILN_OK;
    }
    if (s->nconv == s->capconv) {
        int cap = s->capconv ? 2 * s->capconv : 64;
        cu_conv_layer *p = realloc(s->conv, sizeof *p * (size_t)cap);
        if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        s->conv = p;
        s->capconv = cap;
    }
    cu_conv_layer *c = &s->conv[s->nconv];
    memset(c, 0, sizeof *c);
    c->d = c->fused = *d;
    snprintf(c->sig, sizeof c->sig, "%s", sig);
    snprintf(c->fused_sig, sizeof c->fused_sig, "%s", sig);
    c->dw_ok = dw_ok;
    c->no_split = no_split;
    c->dw.kernel[0] = d->r;
    c->dw.kernel[1] = d->s;
    for (int q = 0; q < 2; q++) {
        c->dw.stride[q] = d->stride[q];
        c->dw.dilation[q] = d->dilation[q];
        c->dw.pad_begin[q] = d->pad_begin[q];
    }
    c->dw.act = d->act;
    c->example_step = L->b->nsteps;
    c->example_bucket = L->bi;
    *index = s->nconv++;
    return KILN_OK;
}

/* KRSC weights with c_pad channels per group (zeros past the real ones), in the storage type. */
static int64_t pack_krsc(cu_lw *L, const float *w, int K, int Cg, int R, int S, int c_pad) {
    size_t count = (size_t)K * R * S * c_pad;
    float *p = calloc(count ? count : 1, sizeof(float));
    if (!p) return -1;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < Cg; c++)
            for (int r = 0; r < R; r++)
                for (int q = 0; q < S; q++)
                    p[(((size_t)k * R + r) * S + q) * c_pad + c] =
                        w[(((size_t)k * Cg + c) * R + r) * S + q];
    int64_t off = cu_lw_weights_f32(L, p, (int64_t)count);
    free(p);
    return off;
}

static int64_t pack_dw(cu_lw *L, const float *w, int C, int R, int S) {
    float *p = malloc(sizeof(float) * ((size_t)C * R * S + 1));
    if (!p) return -1;
    kiln_cuda_dwconv_pack_weights(w, C, R, S, p);
    int64_t off = cu_lw_weights_f32(L, p, (int64_t)C * R * S);
    free(p);
    return off;
}

/* The stem convolution over the space-to-depth input (cuda_engine_kernels.h): stride 1, kernel
   K2 = about K/2, weights W2[k][a][b][(qh*2 + qw)*C + c] = W[k][c][2(a + amin_h) + qh + pb_h]
   [2(b + amin_w) + qw + pb_w] (zero where that tap is outside the original kernel). The input
   was chosen for this (cuda_dgraph.c), so nothing here may fall back. */
static kiln_status lower_conv_s2d(cu_lw *L, const kiln_node *n) {
    cu_engine *s = L->s;
    const kiln_graph *g = L->g;
    const kiln_conv_attr *a = &n->a.conv;
    int x = n->in[0], w = n->in[1], bias = n->n_in > 2 ? n->in[2] : -1, y = n->out[0];
    int res = a->has_residual && n->n_in > 3 ? n->in[3] : -1;
    const kiln_shape *xs = &L->b->shapes.s[x], *ws = &g->t[w].shape;
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    kiln_window win;
    kiln_err ce = {0};
    if (kiln_window_conv(a, xs, ws, &win, &ce) != KILN_OK || !cu_lw_dev(L, y) ||
        (res >= 0 && !cu_lw_dev(L, res)) || (bias >= 0 && !cu_lw_const_f32(L, bias)))
        return kiln_err_set(L->e, KILN_ERR_INTERNAL, "cuda: stem conv '%s' changed", n->name);
    int K = (int)ws->d[0], C = (int)ws->d[1], k2[2], pb2[2], pe2[2], amin[2];
    for (int q = 0; q < 2; q++)
        if (!cu_s2d_axis((int)win.in[1 + q], (int)win.k[1 + q], (int)win.pb[1 + q],
                         (int)win.out[1 + q], &k2[q], &pb2[q], &pe2[q], &amin[q]))
            return kiln_err_set(L->e, KILN_ERR_INTERNAL, "cuda: stem conv '%s' geometry", n->name);
    const cu_view *rv = res >= 0 ? cu_lw_view(L, res) : NULL;
    cu_view t = *yv;
    if (!cu_view_aligned(yv)) t = cu_lw_scratch(L, yv->dt, yv->n, yv->h, yv->w, yv->c);
    int post = a->act.type == KILN_ACT_HARD_SIGMOID || a->act.type == KILN_ACT_HARD_SWISH ||
               t.space != yv->space || t.off != yv->off ||
               (rv && (rv->pitch != t.pitch || !cu_view_aligned(rv)));
    kiln_cuda_conv_desc d;
    memset(&d, 0, sizeof d);
    d.n = xv->n;
    d.h = xv->h;
    d.w = xv->w;
    d.c = xv->pitch;
    d.k = K;
    d.r = k2[0];
    d.s = k2[1];
    for (int q = 0; q < 2; q++) {
        d.stride[q] = d.dilation[q] = 1;
        d.pad_begin[q] = pb2[q];
        d.pad_end[q] = pe2[q];
    }
    d.groups = 1;
    d.dtype = s->dt;
    d.precision = s->prec;
    d.has_bias = bias >= 0;
    d.has_residual = rv && !post;
    if (!post) d.act = a->act;
    d.y_pitch = t.pitch == K ? 0 : t.pitch;
    int oh, ow;
    kiln_cuda_conv_out_dims(&d, &oh, &ow);
    if (oh != yv->h || ow != yv->w || kiln_cuda_conv_check(&d, &ce) != KILN_OK)
        return kiln_err_set(L->e, KILN_ERR_INTERNAL, "cuda: stem conv '%s': %s", n->name, ce.msg);
    int k = L->k;
    int64_t *krsc = wtab(L, &s->w_krsc), *bt = wtab(L, &s->w_bias);
    if (!krsc || !bt) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    if (krsc[k] < 0) {
        size_t cnt = (size_t)K * d.r * d.s * d.c;
        float *p = calloc(cnt, sizeof(float));
        if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        const float *wd = g->t[w].data;
        int R = (int)ws->d[2], S = (int)ws->d[3];
        for (int kk = 0; kk < K; kk++)
            for (int ai = 0; ai < d.r; ai++)
                for (int bi = 0; bi < d.s; bi++)
                    for (int qh = 0; qh < 2; qh++)
                        for (int qw = 0; qw < 2; qw++) {
                            int r = 2 * (ai + amin[0]) + qh + (int)win.pb[1];
                            int c2 = 2 * (bi + amin[1]) + qw + (int)win.pb[2];
                            if (r < 0 || r >= R || c2 < 0 || c2 >= S) continue;
                            for (int c = 0; c < C; c++)
                                p[(((size_t)kk * d.r + ai) * d.s + bi) * d.c + (qh * 2 + qw) * C + c] =
                                    wd[(((size_t)kk * C + c) * R + r) * S + c2];
                        }
        krsc[k] = cu_lw_weights_f32(L, p, (int64_t)cnt);
        free(p);
    }
    if (bias >= 0 && bt[k] < 0)
        bt[k] = cu_lw_weights_f32(L, g->t[bias].data, kiln_shape_numel(&g->t[bias].shape));
    if (krsc[k] < 0 || (bias >= 0 && bt[k] < 0))
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory packing weights");
    int layer = -1;
    KILN_TRY(add_conv(L, &d, 0, 0, &layer));
    cu_step st = {.kind = CU_STEP_CONV, .node = k, .x = *xv, .y = *yv, .t = t, .act = a->act,
                  .layer = layer, .post = post, .has_bias = bias >= 0};
    if (rv) st.r = *rv;
    st.w_off = (size_t)krsc[k];
    st.bias_off = bias >= 0 ? (size_t)bt[k] : 0;
    return cu_lw_push(L, &st);
}

kiln_status cu_lower_conv(cu_lw *L, const kiln_node *n) {
    cu_engine *s = L->s;
    const kiln_graph *g = L->g;
    const kiln_shapes *sh = &L->b->shapes;
    const kiln_conv_attr *a = &n->a.conv;
    if (a->nspatial != 2) return cu_lw_fallback(L, "%d-D convolution (the GPU runs 2-D)", a->nspatial);
    int x = n->in[0], w = n->n_in > 1 ? n->in[1] : -1, bias = n->n_in > 2 ? n->in[2] : -1;
    int res = a->has_residual ? (n->n_in > 3 ? n->in[3] : -1) : -1, y = n->out[0];
    if (a->has_residual && res < 0) return cu_lw_fallback(L, "residual input missing");
    if (!cu_lw_const_f32(L, w)) return cu_lw_fallback(L, "weights are not a float constant");
    if (bias >= 0 && !cu_lw_const_f32(L, bias)) return cu_lw_fallback(L, "bias is not a float constant");
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y) || (res >= 0 && !cu_lw_dev(L, res)))
        return cu_lw_fallback(L, "operands are not device activations");
    const cu_tinfo *ti = L->b->ti;
    const kiln_shape *xs = &sh->s[x], *ws = &g->t[w].shape;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == x && s->in_s2d[i]) return lower_conv_s2d(L, n);
    if (xs->ndim != 4 || ws->ndim != 4 || !ti[x].natural || !ti[y].natural ||
        (res >= 0 && (!ti[res].natural || !kiln_shape_eq(&sh->s[res], &sh->s[y]))))
        return cu_lw_fallback(L, "operands are not NHWC maps");
    if (ti[x].v.dt != s->dt) return cu_lw_fallback(L, "input type %s", kiln_dtype_name(ti[x].v.dt));
    kiln_window win;
    kiln_err ce = {0};
    if (kiln_window_conv(a, xs, ws, &win, &ce) != KILN_OK) return cu_lw_fallback(L, "%s", ce.msg);
    int K = (int)ws->d[0], Cg = (int)ws->d[1], R = (int)ws->d[2], S = (int)ws->d[3];
    int groups = (int)a->group, C = (int)xs->d[1];
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y), *rv = res >= 0 ? cu_lw_view(L, res) : NULL;

    /* The padded stem: the filter sees the zero channels too. */
    int cdesc = xv->c;
    if (groups == 1 && xv->space == CU_SP_INPUTS && xv->coff == 0 && xv->pitch > xv->c)
        cdesc = xv->pitch;
    cu_view xuse = *xv;
    if (!cu_view_aligned(xv)) { /* cuDNN wants 16-byte aligned pointers: copy the slice */
        xuse = cu_lw_scratch(L, xv->dt, xv->n, xv->h, xv->w, xv->c);
        cu_step cp = {.kind = CU_STEP_ACT, .node = L->k, .x = *xv, .y = xuse};
        KILN_TRY(cu_lw_push(L, &cp));
        cdesc = xv->c;
    }
    cu_view t = *yv;
    if (!cu_view_aligned(yv)) t = cu_lw_scratch(L, yv->dt, yv->n, yv->h, yv->w, yv->c);
    int post = !cudnn_act(a->act.type) || t.space != yv->space || t.off != yv->off ||
               (rv && (rv->pitch != t.pitch || !cu_view_aligned(rv)));
    /* The memory plan may let y overwrite the residual (cuda_dgraph.c): then the layer runs
       fused, or its conv part writes scratch and the last pass reads the residual in place. */
    int alias = rv && rv->space == yv->space && rv->off == yv->off;
    if (alias && post && t.space == yv->space && t.off == yv->off)
        t = cu_lw_scratch(L, yv->dt, yv->n, yv->h, yv->w, yv->c);

    kiln_cuda_conv_desc d;
    memset(&d, 0, sizeof d);
    d.n = xuse.n;
    d.h = xuse.h;
    d.w = xuse.w;
    d.c = cdesc;
    d.k = K;
    d.r = R;
    d.s = S;
    for (int q = 0; q < 2; q++) {
        d.stride[q] = (int)win.s[1 + q];
        d.dilation[q] = (int)win.d[1 + q];
        d.pad_begin[q] = (int)win.pb[1 + q];
        d.pad_end[q] = (int)win.pe[1 + q];
    }
    d.groups = groups;
    d.dtype = s->dt;
    d.precision = s->prec;
    d.has_bias = bias >= 0;
    d.has_residual = rv && !post;
    if (!post) d.act = a->act;
    d.x_pitch = xuse.pitch == d.c ? 0 : xuse.pitch;
    d.y_pitch = t.pitch == K ? 0 : t.pitch;
    if (C != Cg * groups || K % groups)
        return cu_lw_fallback(L, "%d channels, %d groups, %d filters of %d", C, groups, K, Cg);
    int oh, ow;
    kiln_cuda_conv_out_dims(&d, &oh, &ow);
    if (oh != yv->h || ow != yv->w || K != yv->c || d.n != yv->n)
        return cu_lw_fallback(L, "output extent %dx%d, expected %dx%d", oh, ow, yv->h, yv->w);
    if (kiln_cuda_conv_check(&d, &ce) != KILN_OK) return cu_lw_fallback(L, "%s", ce.msg);

    /* Weights, once per node for every bucket. */
    int k = L->k;
    int64_t *krsc = wtab(L, &s->w_krsc), *dwt = wtab(L, &s->w_dw), *bt = wtab(L, &s->w_bias);
    if (!krsc || !dwt || !bt) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    int dw_ok = groups == C && K == C && Cg == 1 && groups > 1;
    const float *wd = g->t[w].data;
    if (krsc[k] < 0 && (krsc[k] = pack_krsc(L, wd, K, Cg, R, S, cdesc / groups)) < 0)
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory packing weights");
    if (dw_ok && dwt[k] < 0 && (dwt[k] = pack_dw(L, wd, C, R, S)) < 0)
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory packing weights");
    if (bias >= 0 && bt[k] < 0 &&
        (bt[k] = cu_lw_weights_f32(L, g->t[bias].data, kiln_shape_numel(&g->t[bias].shape))) < 0)
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory packing weights");

    int layer = -1;
    KILN_TRY(add_conv(L, &d, dw_ok, alias && !post, &layer));
    cu_step st = {.kind = CU_STEP_CONV, .node = L->k, .x = xuse, .y = *yv, .t = t,
                  .act = a->act, .layer = layer, .post = post, .has_bias = bias >= 0};
    if (rv) st.r = *rv;
    st.w_off = (size_t)krsc[k];
    st.w2_off = dw_ok ? (size_t)dwt[k] : 0;
    st.bias_off = bias >= 0 ? (size_t)bt[k] : 0;
    return cu_lw_push(L, &st);
}

/* ---- fully connected --------------------------------------------------------------------- */

static kiln_status add_gemm(cu_lw *L, const kiln_cuda_gemm_desc *d, int *index) {
    cu_engine *s = L->s;
    char sig[256];
    snprintf(sig, sizeof sig, "gemm:m%d:n%d:k%d:t%d:%s:%s:b%d:r%d:relu%d:a%g:be%g:ldx%d:ldy%d",
             d->m, d->n, d->k, d->trans_w, kiln_dtype_name(d->dtype),
             kiln_cuda_precision_name(d->precision), d->has_bias, d->has_residual, d->relu,
             (double)d->alpha, (double)d->beta, d->ldx, d->ldy);
    for (int i = 0; i < s->ngemm; i++)
        if (!strcmp(s->gemm[i].sig, sig)) {
            *index = i;
            return KILN_OK;
        }
    if (s->ngemm == s->capgemm) {
        int cap = s->capgemm ? 2 * s->capgemm : 16;
        cu_gemm_layer *p = realloc(s->gemm, sizeof *p * (size_t)cap);
        if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        s->gemm = p;
        s->capgemm = cap;
    }
    cu_gemm_layer *gl = &s->gemm[s->ngemm];
    memset(gl, 0, sizeof *gl);
    gl->d = *d;
    snprintf(gl->sig, sizeof gl->sig, "%s", sig);
    gl->example_step = L->b->nsteps;
    gl->example_bucket = L->bi;
    *index = s->ngemm++;
    return KILN_OK;
}

/* B as stored for cuBLASLt: the storage type; with perm (a Flatten of an NHWC map C x H x W
   feeds it) the K index c*H*W + h*W + w moves to (h*W + w)*C + c. */
static int64_t pack_gemm_w(cu_lw *L, const float *b, int K, int N, int trans_b, const int *chw) {
    if (!chw) return cu_lw_weights_f32(L, b, (int64_t)K * N);
    float *p = malloc(sizeof(float) * ((size_t)K * N + 1));
    if (!p) return -1;
    int C = chw[0], H = chw[1], W = chw[2];
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                size_t k = ((size_t)c * H + h) * W + w, kp = ((size_t)h * W + w) * C + c;
                if (trans_b)
                    for (int n = 0; n < N; n++) p[(size_t)n * K + kp] = b[(size_t)n * K + k];
                else
                    memcpy(p + kp * N, b + k * N, sizeof(float) * (size_t)N);
            }
    int64_t off = cu_lw_weights_f32(L, p, (int64_t)K * N);
    free(p);
    return off;
}

kiln_status cu_lower_gemm(cu_lw *L, const kiln_node *n) {
    cu_engine *s = L->s;
    const kiln_graph *g = L->g;
    const kiln_shapes *sh = &L->b->shapes;
    const kiln_gemm_attr *a = &n->a.gemm;
    int is_gemm = n->op == KILN_OP_GEMM;
    int A = n->in[0], B = n->n_in > 1 ? n->in[1] : -1;
    int Cb = is_gemm && n->n_in > 2 ? n->in[2] : -1;
    int res = a->has_residual ? (n->n_in > 3 ? n->in[3] : -1) : -1, y = n->out[0];
    if (a->has_residual && res < 0) return cu_lw_fallback(L, "residual input missing");
    if (is_gemm && a->trans_a) return cu_lw_fallback(L, "Gemm with transA");
    if (!cu_lw_const_f32(L, B) || g->t[B].shape.ndim != 2)
        return cu_lw_fallback(L, "B is not a 2-D float constant");
    if (!cu_lw_dev(L, A) || !cu_lw_dev(L, y) || (res >= 0 && !cu_lw_dev(L, res)))
        return cu_lw_fallback(L, "operands are not device activations");
    int trans_b = is_gemm ? a->trans_b : 0;
    const kiln_shape *bs = &g->t[B].shape, *as = &sh->s[A];
    int K = (int)(trans_b ? bs->d[1] : bs->d[0]), N = (int)(trans_b ? bs->d[0] : bs->d[1]);
    const cu_view *av = cu_lw_view(L, A), *yv = cu_lw_view(L, y);
    if (av->dt != s->dt) return cu_lw_fallback(L, "input type %s", kiln_dtype_name(av->dt));
    if (as->ndim < 2 || as->d[as->ndim - 1] != K || (is_gemm && as->ndim != 2))
        return cu_lw_fallback(L, "A is not M x %d", K);
    int64_t M = kiln_shape_numel(as) / K;
    /* x as M rows of K: row-major, or the NHWC map a Flatten left (columns permuted). */
    int chw[3] = {0, 0, 0}, perm = 0, ldx;
    cu_view xuse = *av;
    if (av->h == 1 && av->w == 1 && av->n == M && av->c == K) {
        ldx = av->pitch;
    } else if (av->pitch == av->c && av->coff == 0 &&
               (int64_t)av->n * av->h * av->w * av->c == M * K) {
        if (av->h * av->w > 1 || av->n != M) {
            if (av->n != M || as->ndim != 2) return cu_lw_fallback(L, "A's layout");
            perm = 1;
            chw[0] = av->c;
            chw[1] = av->h;
            chw[2] = av->w;
        }
        xuse.n = (int)M;
        xuse.h = xuse.w = 1;
        xuse.c = xuse.pitch = K;
        ldx = K;
    } else {
        return cu_lw_fallback(L, "A's layout");
    }
    if (!cu_view_aligned(&xuse)) {
        cu_view c = cu_lw_scratch(L, xuse.dt, xuse.n, 1, 1, xuse.c);
        cu_step cp = {.kind = CU_STEP_ACT, .node = L->k, .x = xuse, .y = c};
        KILN_TRY(cu_lw_push(L, &cp));
        xuse = c;
        ldx = K;
    }
    /* y as M rows of N (a column slice of a wider matrix allowed). */
    cu_view yuse = *yv;
    if (!(yv->h == 1 && yv->w == 1 && yv->n == M && yv->c == N)) {
        if (!(yv->pitch == yv->c && yv->coff == 0 &&
              (int64_t)yv->n * yv->h * yv->w * yv->c == M * N && L->b->ti[y].natural))
            return cu_lw_fallback(L, "output layout");
        yuse.n = (int)M;
        yuse.h = yuse.w = 1;
        yuse.c = yuse.pitch = N;
    }
    cu_view rv = {0};
    if (res >= 0) {
        rv = *cu_lw_view(L, res);
        if (!kiln_shape_eq(&sh->s[res], &sh->s[y]) || rv.h != 1 || rv.w != 1 || rv.n != M ||
            rv.c != N)
            return cu_lw_fallback(L, "residual layout");
    }
    /* Bias: beta * C broadcast along the rows. */
    int has_bias = 0;
    float *bias = NULL;
    if (Cb >= 0 && a->beta != 0.0f) {
        if (!cu_lw_const_f32(L, Cb)) return cu_lw_fallback(L, "C is not a float constant");
        const kiln_shape *cs = &g->t[Cb].shape;
        int64_t cn = kiln_shape_numel(cs);
        int rowvec = cn == 1 || (cn == N && (cs->ndim == 1 || (cs->ndim == 2 && cs->d[0] == 1)));
        if (!rowvec) return cu_lw_fallback(L, "C is not a row vector");
        bias = malloc(sizeof(float) * (size_t)N);
        if (!bias) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        const float *cd = g->t[Cb].data;
        for (int j = 0; j < N; j++) bias[j] = a->beta * cd[cn == 1 ? 0 : j];
        has_bias = 1;
    }
    cu_view t = yuse;
    if (!cu_view_aligned(&yuse)) t = cu_lw_scratch(L, yuse.dt, (int)M, 1, 1, N);
    int relu_ok = a->act.type == KILN_ACT_NONE || a->act.type == KILN_ACT_RELU;
    int post = !relu_ok || t.space != yuse.space || t.off != yuse.off ||
               (res >= 0 && (rv.pitch != t.pitch || !cu_view_aligned(&rv)));
    kiln_cuda_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.m = (int)M;
    d.n = N;
    d.k = K;
    d.trans_w = trans_b;
    d.dtype = s->dt;
    d.precision = s->prec;
    d.has_bias = has_bias;
    d.has_residual = res >= 0 && !post;
    d.relu = !post && a->act.type == KILN_ACT_RELU;
    d.alpha = is_gemm ? a->alpha : 1.0f;
    d.beta = 1.0f;
    d.ldx = ldx == K ? 0 : ldx;
    d.ldy = t.pitch == N ? 0 : t.pitch;

    int k = L->k;
    int64_t *wt = wtab(L, &s->w_gemm), *bt = wtab(L, &s->w_bias);
    if (!wt || !bt) {
        free(bias);
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    if (wt[k] < 0) wt[k] = pack_gemm_w(L, g->t[B].data, K, N, trans_b, perm ? chw : NULL);
    if (has_bias && bt[k] < 0) bt[k] = cu_lw_weights_f32(L, bias, N);
    free(bias);
    if (wt[k] < 0 || (has_bias && bt[k] < 0))
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory packing weights");
    int layer = -1;
    KILN_TRY(add_gemm(L, &d, &layer));
    cu_step st = {.kind = CU_STEP_GEMM, .node = L->k, .x = xuse, .y = yuse, .t = t, .r = rv,
                  .act = a->act, .layer = layer, .post = post, .has_bias = has_bias};
    st.w_off = (size_t)wt[k];
    st.bias_off = has_bias ? (size_t)bt[k] : 0;
    return cu_lw_push(L, &st);
}
