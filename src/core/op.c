#include "core/op.h"

#include <stdint.h>
#include <string.h>

static const char *const op_names[KILN_OP_COUNT] = {
#define KILN__OP_NAME(e, s) s,
    KILN_OP_LIST(KILN__OP_NAME)
#undef KILN__OP_NAME
};

const char *kiln_op_name(kiln_op op) {
    if ((int)op < 0 || op >= KILN_OP_COUNT) return "?";
    return op_names[op];
}

kiln_op kiln_op_from_onnx(const char *name) {
    for (int i = 0; i < KILN_OP_COUNT; i++)
        if (!strcmp(name, op_names[i])) return (kiln_op)i;
    if (!strcmp(name, "Upsample")) return KILN_OP_RESIZE;
    return KILN_OP_COUNT;
}

void kiln_attr_default(kiln_op op, int opset, kiln_attr *a) {
    memset(a, 0, sizeof *a);
    switch (op) {
    case KILN_OP_CONV:
    case KILN_OP_CONV_TRANSPOSE:
        a->conv.group = 1;
        for (int i = 0; i < KILN_MAX_SPATIAL; i++) a->conv.stride[i] = a->conv.dilation[i] = 1;
        break;
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL:
        for (int i = 0; i < KILN_MAX_SPATIAL; i++) a->pool.stride[i] = a->pool.dilation[i] = 1;
        break;
    case KILN_OP_GEMM: a->gemm.alpha = a->gemm.beta = 1.0f; break;
    case KILN_OP_BATCHNORM: a->bn.epsilon = 1e-5f; break;
    case KILN_OP_LRN:
        a->lrn.alpha = 1e-4f;
        a->lrn.beta = 0.75f;
        a->lrn.bias = 1.0f;
        break;
    case KILN_OP_LEAKY_RELU: a->unary.alpha = 0.01f; break;
    case KILN_OP_HARD_SIGMOID:
        a->unary.alpha = 0.2f;
        a->unary.beta = 0.5f;
        break;
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX:
        a->axis.legacy_2d = opset < 13;
        a->axis.axis = opset < 13 ? 1 : -1;
        break;
    case KILN_OP_FLATTEN: a->axis.axis = 1; break;
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: a->axes.keepdims = 1; break;
    case KILN_OP_SHAPE: a->shape.end = INT64_MAX; break;
    case KILN_OP_CONSTANT_OF_SHAPE: a->cos.dtype = KILN_F32; break;
    case KILN_OP_RESIZE:
        a->resize.cubic_coeff_a = -0.75f;
        a->resize.coord = opset < 11 ? KILN_CT_ASYMMETRIC : KILN_CT_HALF_PIXEL;
        a->resize.nearest_mode = opset < 11 ? KILN_NEAREST_FLOOR : KILN_NEAREST_ROUND_PREFER_FLOOR;
        break;
    case KILN_OP_CAST: a->cast.to = KILN_F32; break;
    default: break;
    }
}
