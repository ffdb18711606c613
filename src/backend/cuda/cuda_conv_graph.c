/* cuda_conv_graph.c — a fused convolution layer as a cuDNN operation graph, and its candidate
 * engine configurations.
 *
 * cuDNN describes tensors with dimensions in NCHW order and strides that say the memory is NHWC:
 * dims [N, C, H, W], strides [H*W*P, 1, W*P, P] with P the channels per pixel of the buffer (the
 * pitch, larger than C for a channel slice). Filters are [K, C/groups, R, S] with KRSC strides;
 * cuDNN infers the group count from C / (C/groups). Every descriptor made for a graph is kept in
 * its `owned` list and freed with it, which keeps the many error paths short.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_conv_impl.h"

/* ---- layer description ------------------------------------------------------------------- */

void kiln_cuda_conv_out_dims(const kiln_cuda_conv_desc *d, int *oh, int *ow) {
    int eh = d->dilation[0] * (d->r - 1) + 1, ew = d->dilation[1] * (d->s - 1) + 1;
    int sh = d->stride[0] > 0 ? d->stride[0] : 1, sw = d->stride[1] > 0 ? d->stride[1] : 1;
    int nh = d->h + d->pad_begin[0] + d->pad_end[0] - eh, nw = d->w + d->pad_begin[1] + d->pad_end[1] - ew;
    *oh = nh < 0 ? 0 : nh / sh + 1;
    *ow = nw < 0 ? 0 : nw / sw + 1;
}

static int act_supported(int type) {
    switch (type) {
    case KILN_ACT_NONE:
    case KILN_ACT_RELU:
    case KILN_ACT_CLIP:
    case KILN_ACT_LEAKY_RELU:
    case KILN_ACT_SIGMOID:
    case KILN_ACT_TANH:
    case KILN_ACT_SILU: return 1;
    default: return 0; /* hard sigmoid / hard swish: no cuDNN pointwise mode */
    }
}

kiln_status kiln_cuda_conv_check(const kiln_cuda_conv_desc *d, kiln_err *e) {
    if (!d) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: no descriptor");
    if (d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1 || d->k < 1 || d->r < 1 || d->s < 1)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: extent %dx%dx%dx%d, %d filters %dx%d",
                            d->n, d->h, d->w, d->c, d->k, d->r, d->s);
    for (int i = 0; i < 2; i++)
        if (d->stride[i] < 1 || d->dilation[i] < 1 || d->pad_begin[i] < 0 || d->pad_end[i] < 0)
            return kiln_err_set(e, KILN_ERR_INVALID_ARG,
                                "conv: stride %d, dilation %d, pads %d/%d on axis %d", d->stride[i],
                                d->dilation[i], d->pad_begin[i], d->pad_end[i], i);
    if (d->groups < 1 || d->c % d->groups || d->k % d->groups)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: %d groups for %d -> %d channels",
                            d->groups, d->c, d->k);
    int oh, ow;
    kiln_cuda_conv_out_dims(d, &oh, &ow);
    if (oh < 1 || ow < 1)
        return kiln_err_set(e, KILN_ERR_SHAPE, "conv: empty output (%dx%d)", oh, ow);
    if ((d->x_pitch && d->x_pitch < d->c) || (d->y_pitch && d->y_pitch < d->k))
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: pitch %d/%d below %d/%d channels",
                            d->x_pitch, d->y_pitch, d->c, d->k);
    int ok_type = (d->dtype == KILN_F32 && (d->precision == KILN_PREC_FP32 ||
                                            d->precision == KILN_PREC_TF32)) ||
                  (d->dtype == KILN_F16 && d->precision == KILN_PREC_FP16) ||
                  (d->dtype == KILN_BF16 && d->precision == KILN_PREC_BF16);
    if (!ok_type)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "conv: storage %s with precision %s",
                            kiln_dtype_name(d->dtype), kiln_cuda_precision_name(d->precision));
    if (!act_supported(d->act.type))
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "conv: activation %d has no cuDNN pointwise form (run it unfused)",
                            d->act.type);
    return KILN_OK;
}

int kiln_cuda_conv_signature(const kiln_cuda_conv_desc *d, char *buf, size_t n) {
    return snprintf(buf, n,
                    "conv:n%d:h%d:w%d:c%d:k%d:r%d:s%d:st%d,%d:dl%d,%d:pb%d,%d:pe%d,%d:g%d:%s:%s:"
                    "b%d:res%d:act%d,%g,%g:xp%d:yp%d",
                    d->n, d->h, d->w, d->c, d->k, d->r, d->s, d->stride[0], d->stride[1],
                    d->dilation[0], d->dilation[1], d->pad_begin[0], d->pad_begin[1],
                    d->pad_end[0], d->pad_end[1], d->groups, kiln_dtype_name(d->dtype),
                    kiln_cuda_precision_name(d->precision), d->has_bias, d->has_residual, d->act.type,
                    (double)d->act.alpha, (double)d->act.beta, d->x_pitch, d->y_pitch);
}

/* ---- descriptors ------------------------------------------------------------------------- */

static kiln_status make_desc(kiln_cuda_conv_graph *g, cudnnBackendDescriptorType_t type,
                             cudnnBackendDescriptor_t *out, kiln_err *e) {
    if (g->nowned == g->capowned) {
        int cap = g->capowned ? 2 * g->capowned : 32;
        cudnnBackendDescriptor_t *p = realloc(g->owned, (size_t)cap * sizeof *p);
        if (!p) return kiln_err_set(e, KILN_ERR_NOMEM, "conv: out of memory");
        g->owned = p;
        g->capowned = cap;
    }
    KILN_CUDNN_CHECK(e, cudnnBackendCreateDescriptor(type, out));
    g->owned[g->nowned++] = *out;
    return KILN_OK;
}

static cudnnDataType_t dnn_type(kiln_dtype t) {
    return t == KILN_F16 ? CUDNN_DATA_HALF : t == KILN_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static kiln_status make_tensor(kiln_cuda_conv_graph *g, int64_t uid, cudnnDataType_t type,
                               const int64_t dims[4], const int64_t strides[4], bool is_virtual,
                               cudnnBackendDescriptor_t *out, kiln_err *e) {
    KILN_TRY(make_desc(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, out, e));
    int64_t align = 16;
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DATA_TYPE,
                                                 CUDNN_TYPE_DATA_TYPE, 1, &type));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                                 CUDNN_TYPE_INT64, 4, dims));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64,
                                                 4, strides));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_UNIQUE_ID,
                                                 CUDNN_TYPE_INT64, 1, &uid));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
                                                 CUDNN_TYPE_INT64, 1, &align));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_IS_VIRTUAL,
                                                 CUDNN_TYPE_BOOLEAN, 1, &is_virtual));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(*out));
    return KILN_OK;
}

/* NHWC strides for dims [n, c, h, w] in a buffer of `pitch` channels per pixel. */
static void nhwc_strides(const int64_t dims[4], int64_t pitch, int64_t strides[4]) {
    strides[0] = dims[2] * dims[3] * pitch;
    strides[1] = 1;
    strides[2] = dims[3] * pitch;
    strides[3] = pitch;
}

static kiln_status make_conv_op(kiln_cuda_conv_graph *g, cudnnBackendDescriptor_t x,
                                cudnnBackendDescriptor_t w, cudnnBackendDescriptor_t y,
                                cudnnBackendDescriptor_t *op, kiln_err *e) {
    const kiln_cuda_conv_desc *d = &g->d;
    cudnnBackendDescriptor_t conv;
    KILN_TRY(make_desc(g, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &conv, e));
    cudnnDataType_t comp = CUDNN_DATA_FLOAT; /* accumulate in FP32 for every storage type */
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    int64_t dims = 2, dil[2] = {d->dilation[0], d->dilation[1]},
            str[2] = {d->stride[0], d->stride[1]}, pre[2] = {d->pad_begin[0], d->pad_begin[1]},
            post[2] = {d->pad_end[0], d->pad_end[1]};
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE,
                                                 CUDNN_TYPE_DATA_TYPE, 1, &comp));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                                 CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS,
                                                 CUDNN_TYPE_INT64, 1, &dims));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS,
                                                 CUDNN_TYPE_INT64, 2, dil));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                                                 CUDNN_TYPE_INT64, 2, str));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
                                                 CUDNN_TYPE_INT64, 2, pre));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS,
                                                 CUDNN_TYPE_INT64, 2, post));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(conv));

    KILN_TRY(make_desc(g, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, op, e));
    float alpha = 1.f, beta = 0.f;
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op,
                                                 CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                                 CUDNN_TYPE_FLOAT, 1, &alpha));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                                 CUDNN_TYPE_FLOAT, 1, &beta));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(*op));
    return KILN_OK;
}

/* A pointwise op y = mode(x [, b]); `act` supplies RELU_FWD's clip parameters. */
static kiln_status make_pointwise(kiln_cuda_conv_graph *g, cudnnPointwiseMode_t mode,
                                  const kiln_act *act, cudnnBackendDescriptor_t x,
                                  cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y,
                                  cudnnBackendDescriptor_t *op, kiln_err *e) {
    cudnnBackendDescriptor_t pw;
    KILN_TRY(make_desc(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw, e));
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE,
                                                 CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC,
                                                 CUDNN_TYPE_DATA_TYPE, 1, &prec));
    if (mode == CUDNN_POINTWISE_RELU_FWD) {
        /* RELU_FWD: x <= lower ? lower + slope * (x - lower) : min(x, upper). ReLU is lower 0;
           clip(a, b) is lower a, upper b; leaky ReLU is lower 0 with slope alpha. */
        double lower = 0, slope = 0, upper = 0;
        int has_upper = 0;
        if (act->type == KILN_ACT_CLIP) {
            lower = act->alpha;
            upper = act->beta;
            has_upper = 1;
        } else if (act->type == KILN_ACT_LEAKY_RELU) {
            slope = act->alpha;
        }
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP,
                                                     CUDNN_TYPE_DOUBLE, 1, &lower));
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE,
                                                     CUDNN_TYPE_DOUBLE, 1, &slope));
        if (has_upper)
            KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP,
                                                         CUDNN_TYPE_DOUBLE, 1, &upper));
    } else if (mode == CUDNN_POINTWISE_SWISH_FWD) {
        double beta = 1.0; /* SiLU = swish with beta 1 */
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA,
                                                     CUDNN_TYPE_DOUBLE, 1, &beta));
    }
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(pw));

    KILN_TRY(make_desc(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, op, e));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    if (b)
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(*op));
    return KILN_OK;
}

static cudnnPointwiseMode_t act_mode(int type) {
    switch (type) {
    case KILN_ACT_SIGMOID: return CUDNN_POINTWISE_SIGMOID_FWD;
    case KILN_ACT_TANH: return CUDNN_POINTWISE_TANH_FWD;
    case KILN_ACT_SILU: return CUDNN_POINTWISE_SWISH_FWD;
    default: return CUDNN_POINTWISE_RELU_FWD; /* RELU, CLIP, LEAKY_RELU */
    }
}

/* conv -> [+bias] -> [+residual] -> [act]: each stage writes a virtual FP32 tensor except the
   last, which writes y. */
static kiln_status build(kiln_cuda_conv_graph *g, kiln_err *e) {
    const kiln_cuda_conv_desc *d = &g->d;
    int oh, ow;
    kiln_cuda_conv_out_dims(d, &oh, &ow);
    cudnnDataType_t io = dnn_type(d->dtype);
    int64_t xp = d->x_pitch ? d->x_pitch : d->c, yp = d->y_pitch ? d->y_pitch : d->k;
    int64_t cg = d->c / d->groups;

    int64_t xd[4] = {d->n, d->c, d->h, d->w}, xs[4];
    int64_t wd[4] = {d->k, cg, d->r, d->s}, ws[4] = {d->r * d->s * cg, 1, d->s * cg, cg};
    int64_t yd[4] = {d->n, d->k, oh, ow}, ys[4], vs[4];
    int64_t bd[4] = {1, d->k, 1, 1}, bs[4] = {d->k, 1, d->k, d->k};
    nhwc_strides(xd, xp, xs);
    nhwc_strides(yd, yp, ys);
    nhwc_strides(yd, d->k, vs);

    cudnnBackendDescriptor_t x, w, y, ops[4];
    int nops = 0;
    KILN_TRY(make_tensor(g, KILN__UID_X, io, xd, xs, false, &x, e));
    KILN_TRY(make_tensor(g, KILN__UID_W, io, wd, ws, false, &w, e));
    KILN_TRY(make_tensor(g, KILN__UID_Y, io, yd, ys, false, &y, e));

    int stages = (d->has_bias != 0) + (d->has_residual != 0) + (d->act.type != KILN_ACT_NONE);
    int64_t next_uid = 100;
    cudnnBackendDescriptor_t cur;
    /* The tensor a stage writes: y for the last stage, a fresh virtual FP32 tensor otherwise. */
#define STAGE_OUT(out)                                                                           \
    do {                                                                                         \
        if (--stages == 0) (out) = y;                                                            \
        else KILN_TRY(make_tensor(g, next_uid++, CUDNN_DATA_FLOAT, yd, vs, true, &(out), e));   \
    } while (0)

    stages++; /* the convolution itself is a stage */
    STAGE_OUT(cur);
    KILN_TRY(make_conv_op(g, x, w, cur, &ops[nops++], e));
    if (d->has_bias) {
        cudnnBackendDescriptor_t b, out;
        KILN_TRY(make_tensor(g, KILN__UID_B, io, bd, bs, false, &b, e));
        STAGE_OUT(out);
        KILN_TRY(make_pointwise(g, CUDNN_POINTWISE_ADD, NULL, cur, b, out, &ops[nops++], e));
        cur = out;
    }
    if (d->has_residual) {
        cudnnBackendDescriptor_t r, out;
        KILN_TRY(make_tensor(g, KILN__UID_R, io, yd, ys, false, &r, e));
        STAGE_OUT(out);
        KILN_TRY(make_pointwise(g, CUDNN_POINTWISE_ADD, NULL, cur, r, out, &ops[nops++], e));
        cur = out;
    }
    if (d->act.type != KILN_ACT_NONE) {
        cudnnBackendDescriptor_t out;
        STAGE_OUT(out);
        KILN_TRY(make_pointwise(g, act_mode(d->act.type), &d->act, cur, NULL, out, &ops[nops++], e));
    }
#undef STAGE_OUT

    KILN_TRY(make_desc(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->opgraph, e));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(g->opgraph, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops));
    /* Deprecated in the header, but without it cuDNN 9.19's heuristics offer no usable engine
       for these graphs (measured on the H100). */
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(g->opgraph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE,
                                                 CUDNN_TYPE_HANDLE, 1, &g->dnn));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(g->opgraph));
    return KILN_OK;
}

void kiln__conv_graph_unref(kiln_cuda_conv_graph *g) {
    if (!g || --g->refs > 0) return;
    /* Reverse order: users before what they use. */
    for (int i = g->nowned - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->owned[i]);
    free(g->owned);
    free(g->cand);
    free(g->cand_name);
    free(g);
}

kiln_status kiln_cuda_conv_graph_create(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d,
                                        kiln_cuda_conv_graph **out, kiln_err *e) {
    *out = NULL;
    if (!h || !h->dnn) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: no cuDNN handle");
    KILN_TRY(kiln_cuda_conv_check(d, e));
    kiln_cuda_conv_graph *g = calloc(1, sizeof *g);
    if (!g) return kiln_err_set(e, KILN_ERR_NOMEM, "conv: out of memory");
    g->refs = 1;
    g->d = *d;
    g->dnn = h->dnn;
    kiln_status st = build(g, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "conv graph");
        kiln__conv_graph_unref(g);
        return st;
    }
    *out = g;
    return KILN_OK;
}

void kiln_cuda_conv_graph_destroy(kiln_cuda_conv_graph *g) { kiln__conv_graph_unref(g); }

/* ---- candidates -------------------------------------------------------------------------- */

/* The numerical and behaviour notes of cfg's engine, and its global index. */
static kiln_status engine_notes(kiln_cuda_conv_graph *g, cudnnBackendDescriptor_t cfg,
                                int *tensor_core, int *down_convert, int *runtime_compiled,
                                int *nondeterministic, int64_t *index, kiln_err *e) {
    cudnnBackendDescriptor_t eng;
    KILN_TRY(make_desc(g, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng, e));
    int64_t n = 0;
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eng));
    cudnnBackendNumericalNote_t num[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                                 CUDNN_TYPE_NUMERICAL_NOTE,
                                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, num));
    *tensor_core = *down_convert = *runtime_compiled = *nondeterministic = 0;
    for (int64_t i = 0; i < n && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++) {
        if (num[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) *tensor_core = 1;
        if (num[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) *down_convert = 1;
        if (num[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) *nondeterministic = 1;
    }
    cudnnBackendBehaviorNote_t beh[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                                 CUDNN_TYPE_BEHAVIOR_NOTE,
                                                 CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n, beh));
    for (int64_t i = 0; i < n && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; i++)
        if (beh[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) *runtime_compiled = 1;
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX,
                                                 CUDNN_TYPE_INT64, 1, &n, index));
    return KILN_OK;
}

/* Append the usable configurations of heuristics `mode`, up to max_k in total. */
/* KILN_CUDNN_SKIP=I,J,... (debugging switch): never offer these cuDNN engine indexes. */
static int skip_engine(int64_t index) {
    const char *v = getenv("KILN_CUDNN_SKIP");
    while (v && *v) {
        char *end;
        long k = strtol(v, &end, 10);
        if (end == v) break;
        if (k == index) return 1;
        v = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static kiln_status query_mode(kiln_cuda_conv_graph *g, cudnnBackendHeurMode_t mode, int max_k,
                              kiln_err *e) {
    cudnnBackendDescriptor_t heur;
    KILN_TRY(make_desc(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur, e));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->opgraph));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE,
                                                 CUDNN_TYPE_HEUR_MODE, 1, &mode));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(heur));
    int64_t total = 0;
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &total, NULL));
    if (total <= 0) return KILN_OK;
    cudnnBackendDescriptor_t *cfg = calloc((size_t)total, sizeof *cfg);
    if (!cfg) return kiln_err_set(e, KILN_ERR_NOMEM, "conv: out of memory");
    kiln_status st = KILN_OK;
    for (int64_t i = 0; i < total && st == KILN_OK; i++)
        st = make_desc(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i], e);
    int64_t got = 0;
    if (st == KILN_OK) {
        cudnnStatus_t r = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, total, &got, cfg);
        if (r != CUDNN_STATUS_SUCCESS)
            st = kiln__cuda_fail(e, KILN_LIB_CUDNN, (int)r, "cudnnBackendGetAttribute(RESULTS)",
                                 __FILE__, __LINE__);
    }
    int fp32_strict = g->d.dtype == KILN_F32 && g->d.precision == KILN_PREC_FP32;
    int fp32_io = g->d.dtype == KILN_F32;
    for (int64_t i = 0; i < got && st == KILN_OK && g->ncand < max_k; i++) {
        int tc = 0, down = 0, rtc = 0, nondet = 0;
        int64_t index = -1;
        /* A configuration whose notes cannot be read is skipped, not fatal. */
        kiln_err ignore = {0};
        if (engine_notes(g, cfg[i], &tc, &down, &rtc, &nondet, &index, &ignore) != KILN_OK) continue;
        if (fp32_strict && tc) continue; /* tensor cores on FP32 data mean TF32 */
        if (skip_engine(index)) continue;
        if (fp32_io && down) continue;   /* FP32 layers must not drop to FP16 inside */
        g->cand[g->ncand] = cfg[i];
        snprintf(g->cand_name[g->ncand], sizeof g->cand_name[0], "engine %lld%s%s%s",
                 (long long)index, tc ? " tensor-cores" : "", rtc ? " runtime-compiled" : "",
                 nondet ? " nondeterministic" : "");
        g->ncand++;
    }
    free(cfg);
    return st;
}

kiln_status kiln_cuda_conv_graph_candidates(kiln_cuda_conv_graph *g, int max_k, int *count,
                                            kiln_err *e) {
    *count = 0;
    if (max_k < 1) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: max_k %d", max_k);
    /* Earlier candidates stay owned (plans may use them); only the list is replaced. */
    g->ncand = 0;
    void *c = realloc(g->cand, (size_t)max_k * sizeof *g->cand);
    if (!c) return kiln_err_set(e, KILN_ERR_NOMEM, "conv: out of memory");
    g->cand = c;
    void *nm = realloc(g->cand_name, (size_t)max_k * sizeof *g->cand_name);
    if (!nm) return kiln_err_set(e, KILN_ERR_NOMEM, "conv: out of memory");
    g->cand_name = nm;
    KILN_TRY(query_mode(g, CUDNN_HEUR_MODE_A, max_k, e));
    if (g->ncand == 0) KILN_TRY(query_mode(g, CUDNN_HEUR_MODE_FALLBACK, max_k, e));
    if (g->ncand == 0) {
        char sig[256];
        kiln_cuda_conv_signature(&g->d, sig, sizeof sig);
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "conv: cuDNN offers no usable engine for %s",
                            sig);
    }
    *count = g->ncand;
    return KILN_OK;
}

int kiln_cuda_conv_graph_candidate_name(const kiln_cuda_conv_graph *g, int i, char *buf, size_t n) {
    if (!g || i < 0 || i >= g->ncand) return snprintf(buf, n, "(no candidate %d)", i);
    return snprintf(buf, n, "%s", g->cand_name[i]);
}
