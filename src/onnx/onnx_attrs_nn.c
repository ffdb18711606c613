/* onnx_attrs_nn.c — attributes of the network ops: Conv, ConvTranspose, pools, Gemm,
 * BatchNormalization, LRN, parameterized activations, Softmax/LogSoftmax.
 *
 * Lists of per-spatial-dimension values must agree in length (pads has two per dimension) and
 * hold sane values; kiln runs 1-D and 2-D convolutions and pools, so a third spatial dimension is
 * refused here, before anything runs.
 */
#include <string.h>

#include "onnx/onnx_internal.h"

typedef struct ilist {
    int64_t v[2 * KILN_MAX_DIMS];
    int n; /* -1: absent */
} ilist;

static kiln_status get_list(const kiln__onnx_node *nd, const char *name, ilist *l, int max) {
    return kiln__onnx_attr_ints(nd, name, l->v, max, &l->n);
}

/* Present lists must have want values each >= min. */
static kiln_status check_list(const kiln__onnx_node *nd, const char *name, const ilist *l,
                              int want, int64_t min, const char *per) {
    if (l->n < 0) return KILN_OK;
    if (l->n != want)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' has %d values, expected %d "
                                   "(%s)", name, l->n, want, per);
    for (int i = 0; i < l->n; i++)
        if (l->v[i] < min)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "attribute '%s' has value %lld, must be at least %lld", name,
                                       (long long)l->v[i], (long long)min);
    return KILN_OK;
}

static const char *const autopad_names[] = {"NOTSET", "", "SAME_UPPER", "SAME_LOWER", "VALID",
                                            NULL};
static const int autopad_values[] = {KILN_AUTOPAD_NOTSET, KILN_AUTOPAD_NOTSET,
                                     KILN_AUTOPAD_SAME_UPPER, KILN_AUTOPAD_SAME_LOWER,
                                     KILN_AUTOPAD_VALID};

static kiln_status too_many_dims(const kiln__onnx_node *nd, int ns) {
    return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                               "%d spatial dimensions (kernel_shape/weight rank): kiln supports "
                               "1-D and 2-D %s only",
                               ns, nd->op == KILN_OP_CONV || nd->op == KILN_OP_CONV_TRANSPOSE
                                       ? "convolutions" : "pooling");
}

/* The lists every windowed op shares, checked against ns spatial dims; fills the arrays. */
typedef struct window {
    ilist kernel, strides, dilations, pads;
} window;

static kiln_status window_check(const kiln__onnx_node *nd, const window *w, int ns,
                                int64_t *kernel, int64_t *stride, int64_t *dilation,
                                int64_t *pad_begin, int64_t *pad_end) {
    KILN_TRY(check_list(nd, "kernel_shape", &w->kernel, ns, 1, "one per spatial dimension"));
    KILN_TRY(check_list(nd, "strides", &w->strides, ns, 1, "one per spatial dimension"));
    KILN_TRY(check_list(nd, "dilations", &w->dilations, ns, 1, "one per spatial dimension"));
    KILN_TRY(check_list(nd, "pads", &w->pads, 2 * ns, 0, "begin and end per spatial dimension"));
    for (int i = 0; i < ns; i++) {
        if (w->kernel.n > 0) kernel[i] = w->kernel.v[i];
        if (w->strides.n > 0) stride[i] = w->strides.v[i];
        if (w->dilations.n > 0) dilation[i] = w->dilations.v[i];
        if (w->pads.n > 0) {
            pad_begin[i] = w->pads.v[i];
            pad_end[i] = w->pads.v[ns + i];
        }
    }
    return KILN_OK;
}

static kiln_status conv_attrs(const kiln__onnx_node *nd, kiln_conv_attr *a) {
    int transpose = nd->op == KILN_OP_CONV_TRANSPOSE;
    window w;
    ilist out_pad, out_shape;
    int64_t group = 1;
    KILN_TRY(get_list(nd, "kernel_shape", &w.kernel, KILN_MAX_DIMS));
    KILN_TRY(get_list(nd, "strides", &w.strides, KILN_MAX_DIMS));
    KILN_TRY(get_list(nd, "dilations", &w.dilations, KILN_MAX_DIMS));
    KILN_TRY(get_list(nd, "pads", &w.pads, 2 * KILN_MAX_DIMS));
    out_pad.n = out_shape.n = -1;
    if (transpose) {
        KILN_TRY(get_list(nd, "output_padding", &out_pad, KILN_MAX_DIMS));
        KILN_TRY(get_list(nd, "output_shape", &out_shape, KILN_MAX_DIMS + 2));
    }
    KILN_TRY(kiln__onnx_attr_int(nd, "group", &group, NULL));
    KILN_TRY(kiln__onnx_attr_enum(nd, "auto_pad", autopad_names, autopad_values, &a->auto_pad));
    if (group < 1)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'group' is %lld, must be >= 1",
                                   (long long)group);
    a->group = group;

    /* Spatial rank: kernel_shape, else the weight's rank, else any list's length. */
    const kiln_tensor *W = kiln__onnx_input_tensor(nd, 1);
    int wrank = W && W->kind != KILN_TENSOR_ACT ? W->shape.ndim : -1;
    if (wrank >= 0 && wrank < 3)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                   "weight '%s' has rank %d; %s needs N x C x spatial...", W->name,
                                   wrank, nd->op_type);
    int ns = w.kernel.n >= 0 ? w.kernel.n
           : wrank >= 0      ? wrank - 2
           : w.strides.n >= 0 ? w.strides.n
           : w.dilations.n >= 0 ? w.dilations.n
           : w.pads.n >= 0    ? w.pads.n / 2
           : out_pad.n >= 0   ? out_pad.n
                              : 0; /* unknown: shape inference reads W */
    if (ns > 2) return too_many_dims(nd, ns);
    if (w.kernel.n == 0 || (ns == 0 && (w.pads.n > 0 || wrank >= 0)))
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "needs at least one spatial dimension");
    if (wrank >= 0 && wrank - 2 != ns)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                   "kernel_shape has %d dimensions but weight '%s' has %d spatial "
                                   "dimensions", ns, W->name, wrank - 2);
    a->nspatial = ns;
    KILN_TRY(window_check(nd, &w, ns, a->kernel, a->stride, a->dilation, a->pad_begin,
                          a->pad_end));
    /* The kernel from W where kernel_shape is absent; where both exist they must agree. */
    for (int i = 0; W && wrank == ns + 2 && i < ns; i++) {
        int64_t wk = W->shape.d[2 + i];
        if (wk < 0) continue;
        if (w.kernel.n > 0 && a->kernel[i] != wk)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "kernel_shape[%d] = %lld but weight '%s' has %lld there", i,
                                       (long long)a->kernel[i], W->name, (long long)wk);
        a->kernel[i] = wk;
    }
    if (!transpose) return KILN_OK;
    KILN_TRY(check_list(nd, "output_padding", &out_pad, ns, 0, "one per spatial dimension"));
    for (int i = 0; i < out_pad.n; i++) a->output_padding[i] = out_pad.v[i];
    if (out_shape.n >= 0 && ns == 0)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "attribute 'output_shape' needs kernel_shape or a constant "
                                   "weight to tell the spatial rank");
    if (out_shape.n >= 0) {
        /* The spatial sizes; some exporters write the full N x C x spatial shape. */
        int skip = out_shape.n == ns + 2 ? 2 : 0;
        ilist sp = out_shape;
        sp.n -= skip;
        memmove(sp.v, out_shape.v + skip, sizeof(int64_t) * (size_t)sp.n);
        KILN_TRY(check_list(nd, "output_shape", &sp, ns, 1, "one per spatial dimension"));
        for (int i = 0; i < ns; i++) a->output_shape[i] = sp.v[i];
        a->has_output_shape = 1;
    }
    return KILN_OK;
}

static kiln_status pool_attrs(const kiln__onnx_node *nd, kiln_pool_attr *a) {
    int maxpool = nd->op == KILN_OP_MAXPOOL, v = nd->opset;
    window w;
    w.dilations.n = -1;
    KILN_TRY(get_list(nd, "kernel_shape", &w.kernel, KILN_MAX_DIMS));
    KILN_TRY(get_list(nd, "strides", &w.strides, KILN_MAX_DIMS));
    KILN_TRY(get_list(nd, "pads", &w.pads, 2 * KILN_MAX_DIMS));
    if ((maxpool && v >= 10) || (!maxpool && v >= 19))
        KILN_TRY(get_list(nd, "dilations", &w.dilations, KILN_MAX_DIMS));
    KILN_TRY(kiln__onnx_attr_enum(nd, "auto_pad", autopad_names, autopad_values, &a->auto_pad));
    int64_t x;
    int have;
    if (v >= 10) {
        KILN_TRY(kiln__onnx_attr_int(nd, "ceil_mode", &x, &have));
        if (have) a->ceil_mode = x != 0;
    }
    if (!maxpool) {
        KILN_TRY(kiln__onnx_attr_int(nd, "count_include_pad", &x, &have));
        if (have) a->count_include_pad = x != 0;
    } else if (v >= 8) {
        KILN_TRY(kiln__onnx_attr_int(nd, "storage_order", &x, &have));
        if (have) a->storage_order = x != 0;
    }
    if (w.kernel.n < 0)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'kernel_shape' is required");
    int ns = w.kernel.n;
    if (ns == 0)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "needs at least one spatial dimension");
    if (ns > 2) return too_many_dims(nd, ns);
    a->nspatial = ns;
    return window_check(nd, &w, ns, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end);
}

static kiln_status gemm_attrs(const kiln__onnx_node *nd, kiln_gemm_attr *a) {
    int64_t ta = 0, tb = 0;
    KILN_TRY(kiln__onnx_attr_float(nd, "alpha", &a->alpha, NULL));
    KILN_TRY(kiln__onnx_attr_float(nd, "beta", &a->beta, NULL));
    KILN_TRY(kiln__onnx_attr_int(nd, "transA", &ta, NULL));
    KILN_TRY(kiln__onnx_attr_int(nd, "transB", &tb, NULL));
    a->trans_a = ta != 0;
    a->trans_b = tb != 0;
    return KILN_OK;
}

static kiln_status bn_attrs(const kiln__onnx_node *nd, kiln_bn_attr *a) {
    int64_t x;
    int have;
    KILN_TRY(kiln__onnx_attr_float(nd, "epsilon", &a->epsilon, NULL));
    if (nd->opset < 9) { /* BatchNormalization-7: per-activation statistics when spatial=0 */
        KILN_TRY(kiln__onnx_attr_int(nd, "spatial", &x, &have));
        if (have && x == 0)
            return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                       "attribute 'spatial' = 0 (per-activation statistics) is "
                                       "not supported");
    }
    if (nd->opset >= 14) {
        KILN_TRY(kiln__onnx_attr_int(nd, "training_mode", &x, &have));
        if (have && x != 0)
            return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                       "attribute 'training_mode' = 1 is not supported (kiln runs "
                                       "inference)");
    }
    return KILN_OK;
}

static kiln_status lrn_attrs(const kiln__onnx_node *nd, kiln_lrn_attr *a) {
    int have;
    KILN_TRY(kiln__onnx_attr_float(nd, "alpha", &a->alpha, NULL));
    KILN_TRY(kiln__onnx_attr_float(nd, "beta", &a->beta, NULL));
    KILN_TRY(kiln__onnx_attr_float(nd, "bias", &a->bias, NULL));
    KILN_TRY(kiln__onnx_attr_int(nd, "size", &a->size, &have));
    if (!have) return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'size' is required");
    if (a->size < 1)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'size' is %lld, must be >= 1",
                                   (long long)a->size);
    return KILN_OK;
}

kiln_status kiln__onnx_attrs_nn(const kiln__onnx_node *nd, kiln_attr *a) {
    switch (nd->op) {
    case KILN_OP_CONV:
    case KILN_OP_CONV_TRANSPOSE: return conv_attrs(nd, &a->conv);
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL: return pool_attrs(nd, &a->pool);
    case KILN_OP_GEMM: return gemm_attrs(nd, &a->gemm);
    case KILN_OP_BATCHNORM: return bn_attrs(nd, &a->bn);
    case KILN_OP_LRN: return lrn_attrs(nd, &a->lrn);
    case KILN_OP_LEAKY_RELU: return kiln__onnx_attr_float(nd, "alpha", &a->unary.alpha, NULL);
    case KILN_OP_HARD_SIGMOID:
        KILN_TRY(kiln__onnx_attr_float(nd, "alpha", &a->unary.alpha, NULL));
        return kiln__onnx_attr_float(nd, "beta", &a->unary.beta, NULL);
    case KILN_OP_CLIP:
        if (nd->opset >= 11) return KILN_OK; /* min and max are inputs from opset 11 */
        KILN_TRY(kiln__onnx_attr_float(nd, "min", &a->unary.min, &a->unary.has_min));
        return kiln__onnx_attr_float(nd, "max", &a->unary.max, &a->unary.has_max);
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX: return kiln__onnx_attr_int(nd, "axis", &a->axis.axis, NULL);
    default: return KILN_OK;
    }
}
