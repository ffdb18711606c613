/* op.h — the operator set of the IR and each operator's attributes (plain data).
 *
 * Operators follow ONNX semantics (NCHW, row-major). The importer maps every supported ONNX
 * opset variant onto one kiln op with normalized attributes: e.g. Clip's min/max attributes
 * (opset < 11) become inputs' values, Squeeze's axes attribute (opset < 13) goes into `axes`, and
 * the node keeps the opset it came from for the few ops whose meaning changed (Softmax's axis
 * coercion before opset 13). Optimizer passes add fused forms (a Conv with an activation and a
 * residual), never new semantics hidden from the table below.
 *
 * The enum values are written to plan files: append only (add before KILN_OP_COUNT).
 */
#ifndef KILN_CORE_OP_H
#define KILN_CORE_OP_H

#include <stdint.h>

#include "kiln.h"

/* X(ENUM, "OnnxName") — one row per operator, in enum order. */
#define KILN_OP_LIST(X)                                                                          \
    X(CONV, "Conv")                                                                              \
    X(CONV_TRANSPOSE, "ConvTranspose")                                                           \
    X(BATCHNORM, "BatchNormalization")                                                           \
    X(RELU, "Relu")                                                                              \
    X(LEAKY_RELU, "LeakyRelu")                                                                   \
    X(PRELU, "PRelu")                                                                            \
    X(CLIP, "Clip")                                                                              \
    X(SIGMOID, "Sigmoid")                                                                        \
    X(HARD_SIGMOID, "HardSigmoid")                                                               \
    X(HARD_SWISH, "HardSwish")                                                                   \
    X(TANH, "Tanh")                                                                              \
    X(ERF, "Erf")                                                                                \
    X(EXP, "Exp")                                                                                \
    X(LOG, "Log")                                                                                \
    X(NEG, "Neg")                                                                                \
    X(ABS, "Abs")                                                                                \
    X(SQRT, "Sqrt")                                                                              \
    X(POW, "Pow")                                                                                \
    X(RECIPROCAL, "Reciprocal")                                                                  \
    X(SOFTMAX, "Softmax")                                                                        \
    X(LOG_SOFTMAX, "LogSoftmax")                                                                 \
    X(MAXPOOL, "MaxPool")                                                                        \
    X(AVGPOOL, "AveragePool")                                                                    \
    X(GLOBAL_AVGPOOL, "GlobalAveragePool")                                                       \
    X(GLOBAL_MAXPOOL, "GlobalMaxPool")                                                           \
    X(LRN, "LRN")                                                                                \
    X(GEMM, "Gemm")                                                                              \
    X(MATMUL, "MatMul")                                                                          \
    X(ADD, "Add")                                                                                \
    X(SUB, "Sub")                                                                                \
    X(MUL, "Mul")                                                                                \
    X(DIV, "Div")                                                                                \
    X(CONCAT, "Concat")                                                                          \
    X(SPLIT, "Split")                                                                            \
    X(FLATTEN, "Flatten")                                                                        \
    X(RESHAPE, "Reshape")                                                                        \
    X(TRANSPOSE, "Transpose")                                                                    \
    X(SQUEEZE, "Squeeze")                                                                        \
    X(UNSQUEEZE, "Unsqueeze")                                                                    \
    X(EXPAND, "Expand")                                                                          \
    X(IDENTITY, "Identity")                                                                      \
    X(DROPOUT, "Dropout")                                                                        \
    X(SHAPE, "Shape")                                                                            \
    X(GATHER, "Gather")                                                                          \
    X(SLICE, "Slice")                                                                            \
    X(PAD, "Pad")                                                                                \
    X(REDUCE_MEAN, "ReduceMean")                                                                 \
    X(REDUCE_SUM, "ReduceSum")                                                                   \
    X(REDUCE_MAX, "ReduceMax")                                                                   \
    X(CAST, "Cast")                                                                              \
    X(CONSTANT_OF_SHAPE, "ConstantOfShape")                                                      \
    X(RESIZE, "Resize")                                                                          \
    X(FLOOR, "Floor")                                                                            \
    X(CEIL, "Ceil")                                                                              \
    X(MIN, "Min")                                                                                \
    X(MAX, "Max")                                                                                \
    X(EQUAL, "Equal")                                                                            \
    X(WHERE, "Where")                                                                            \
    X(REDUCE_MIN, "ReduceMin")                                                                   \
    X(SCALE_SHIFT, "kiln.ScaleShift") /* y = x * scale[c] + shift[c] (standalone batch norm) */

typedef enum kiln_op {
#define KILN__OP_ENUM(e, s) KILN_OP_##e,
    KILN_OP_LIST(KILN__OP_ENUM)
#undef KILN__OP_ENUM
    KILN_OP_COUNT
} kiln_op;

/* Upsample (opsets 7-9) imports as RESIZE. */

const char *kiln_op_name(kiln_op op);        /* the ONNX name, "Conv" */
kiln_op kiln_op_from_onnx(const char *name); /* KILN_OP_COUNT when unknown */

#define KILN_MAX_SPATIAL 3

/* ---- fused activations (optimizer output; also the unfused activation ops' parameters) ---- */

typedef enum kiln_act_type { /* stable values */
    KILN_ACT_NONE = 0,
    KILN_ACT_RELU = 1,
    KILN_ACT_CLIP = 2,        /* min(max(x, alpha), beta): ReLU6 is alpha=0, beta=6 */
    KILN_ACT_LEAKY_RELU = 3,  /* x < 0 ? alpha * x : x */
    KILN_ACT_SIGMOID = 4,
    KILN_ACT_HARD_SIGMOID = 5, /* max(0, min(1, alpha * x + beta)) */
    KILN_ACT_HARD_SWISH = 6,   /* x * max(0, min(1, x / 6 + 1/2)) */
    KILN_ACT_SILU = 7,         /* x * sigmoid(x) */
    KILN_ACT_TANH = 8,
} kiln_act_type;

typedef struct kiln_act {
    int type;    /* kiln_act_type */
    float alpha; /* see kiln_act_type */
    float beta;
} kiln_act;

/* y = act(x), the scalar definition every backend follows. */
static inline float kiln_act_apply(const kiln_act *a, float x);

/* ---- per-op attributes ------------------------------------------------------------------- */

typedef enum { KILN_AUTOPAD_NOTSET = 0, KILN_AUTOPAD_SAME_UPPER = 1, KILN_AUTOPAD_SAME_LOWER = 2,
               KILN_AUTOPAD_VALID = 3 } kiln_autopad;

/* Conv and ConvTranspose. inputs: X, W, [B], [residual (fused Add, optimizer only)]. */
typedef struct kiln_conv_attr {
    int nspatial;                          /* 1 or 2 (3-D convolutions are not supported) */
    int64_t kernel[KILN_MAX_SPATIAL];      /* from kernel_shape or W */
    int64_t stride[KILN_MAX_SPATIAL];
    int64_t dilation[KILN_MAX_SPATIAL];
    int64_t pad_begin[KILN_MAX_SPATIAL];   /* explicit pads; auto_pad resolves at shape time */
    int64_t pad_end[KILN_MAX_SPATIAL];
    int64_t group;
    int auto_pad;                          /* kiln_autopad */
    int64_t output_padding[KILN_MAX_SPATIAL]; /* ConvTranspose */
    int64_t output_shape[KILN_MAX_SPATIAL];   /* ConvTranspose, when has_output_shape */
    int has_output_shape;
    kiln_act act;                          /* fused activation, applied after bias and residual */
    int has_residual;                      /* input 3 is added before the activation */
} kiln_conv_attr;

/* MaxPool, AveragePool (GlobalAveragePool/GlobalMaxPool have no attributes). */
typedef struct kiln_pool_attr {
    int nspatial;
    int64_t kernel[KILN_MAX_SPATIAL];
    int64_t stride[KILN_MAX_SPATIAL];
    int64_t dilation[KILN_MAX_SPATIAL];
    int64_t pad_begin[KILN_MAX_SPATIAL];
    int64_t pad_end[KILN_MAX_SPATIAL];
    int auto_pad;
    int ceil_mode;
    int count_include_pad; /* AveragePool */
    int storage_order;     /* MaxPool; only the values output uses it, which kiln does not */
} kiln_pool_attr;

/* Gemm: Y = alpha * op(A) * op(B) + beta * C; MatMul uses act only. */
typedef struct kiln_gemm_attr {
    float alpha, beta;
    int trans_a, trans_b;
    kiln_act act;     /* fused activation */
    int has_residual; /* MatMul/Gemm: input 3 added before the activation */
} kiln_gemm_attr;

typedef struct kiln_bn_attr {
    float epsilon;
} kiln_bn_attr;

typedef struct kiln_lrn_attr {
    float alpha, beta, bias;
    int64_t size;
} kiln_lrn_attr;

/* Elementwise activations with parameters: LeakyRelu (alpha), HardSigmoid (alpha, beta),
   Clip in attribute form (opset < 11: has_min/has_max with min/max). Relu, Sigmoid, ... use
   none. */
typedef struct kiln_unary_attr {
    float alpha, beta;
    int has_min, has_max;
    float min, max;
} kiln_unary_attr;

/* One axis: Softmax, LogSoftmax, Concat, Flatten, Gather. legacy_2d: Softmax/LogSoftmax before
   opset 13 coerce the input to 2-D at axis (default 1); from 13 they act along axis (default -1). */
typedef struct kiln_axis_attr {
    int64_t axis;
    int legacy_2d;
} kiln_axis_attr;

typedef struct kiln_transpose_attr {
    int nperm; /* 0: reverse the dimensions */
    int64_t perm[KILN_MAX_DIMS];
} kiln_transpose_attr;

/* Reduce*, Squeeze, Unsqueeze. has_axes=0 with no axes input means all axes (reduce) or all
   size-1 axes (Squeeze). From opsets 13 (Squeeze/Unsqueeze/ReduceSum) and 18 (others) axes come
   as an input instead; the importer leaves that input in place. */
typedef struct kiln_axes_attr {
    int naxes;
    int64_t axes[KILN_MAX_DIMS];
    int has_axes;
    int keepdims;
    int noop_with_empty_axes;
} kiln_axes_attr;

#define KILN_MAX_SPLIT 64
typedef struct kiln_split_attr {
    int64_t axis;
    int nsplit;                   /* 0: equal parts (or the split input, opset >= 13) */
    int64_t split[KILN_MAX_SPLIT];
    int64_t num_outputs;          /* opset 18 */
} kiln_split_attr;

typedef enum { KILN_PAD_CONSTANT = 0, KILN_PAD_REFLECT = 1, KILN_PAD_EDGE = 2, KILN_PAD_WRAP = 3 }
    kiln_pad_mode;

/* Pad: attribute form (opset < 11) fills pads/value; later opsets take pads, value, axes as
   inputs. */
typedef struct kiln_pad_attr {
    int mode;                         /* kiln_pad_mode */
    int npads;                        /* 0 when pads come as an input */
    int64_t pads[2 * KILN_MAX_DIMS];  /* begins then ends, ONNX order */
    float value;
} kiln_pad_attr;

/* Slice: attribute form (opset < 10) fills starts/ends/axes; later opsets take inputs. */
typedef struct kiln_slice_attr {
    int n;                            /* 0 when they come as inputs */
    int64_t starts[KILN_MAX_DIMS], ends[KILN_MAX_DIMS], axes[KILN_MAX_DIMS];
    int has_axes;
} kiln_slice_attr;

typedef struct kiln_reshape_attr {
    int allowzero;
} kiln_reshape_attr;

typedef struct kiln_cast_attr {
    int to; /* kiln_dtype */
} kiln_cast_attr;

typedef struct kiln_shape_attr {
    int64_t start, end; /* opset 15; end = INT64_MAX when absent */
} kiln_shape_attr;

typedef struct kiln_const_of_shape_attr {
    int dtype;    /* kiln_dtype of value (default float32) */
    double value; /* default 0 */
} kiln_const_of_shape_attr;

typedef enum { KILN_RESIZE_NEAREST = 0, KILN_RESIZE_LINEAR = 1, KILN_RESIZE_CUBIC = 2 }
    kiln_resize_mode;
typedef enum { KILN_CT_HALF_PIXEL = 0, KILN_CT_ASYMMETRIC = 1, KILN_CT_PYTORCH_HALF_PIXEL = 2,
               KILN_CT_ALIGN_CORNERS = 3, KILN_CT_TF_HALF_PIXEL_FOR_NN = 4,
               KILN_CT_TF_CROP_AND_RESIZE = 5, KILN_CT_HALF_PIXEL_SYMMETRIC = 6 }
    kiln_coord_transform;
typedef enum { KILN_NEAREST_ROUND_PREFER_FLOOR = 0, KILN_NEAREST_ROUND_PREFER_CEIL = 1,
               KILN_NEAREST_FLOOR = 2, KILN_NEAREST_CEIL = 3 } kiln_nearest_mode;

/* Resize (opset 10+; inputs X, [roi], [scales], [sizes] — opset 10 has X, scales) and Upsample
   (opsets 7-9, imported as Resize with coord=asymmetric and nearest_mode=floor; opset 7's
   scales attribute goes to `scales`). */
typedef struct kiln_resize_attr {
    int mode;            /* kiln_resize_mode */
    int coord;           /* kiln_coord_transform */
    int nearest_mode;    /* kiln_nearest_mode */
    float cubic_coeff_a; /* -0.75 */
    int exclude_outside;
    float extrapolation_value;
    int nscales;         /* > 0 when scales came as an attribute (Upsample-7) */
    float scales[KILN_MAX_DIMS];
    int naxes;           /* opset 18 axes; 0: all */
    int64_t axes[KILN_MAX_DIMS];
    int keep_aspect_ratio_policy; /* 0 stretch, 1 not_larger, 2 not_smaller */
    int antialias;
} kiln_resize_attr;

typedef struct kiln_gather_attr {
    int64_t axis;
} kiln_gather_attr;

typedef union kiln_attr {
    kiln_conv_attr conv;
    kiln_pool_attr pool;
    kiln_gemm_attr gemm;
    kiln_bn_attr bn;
    kiln_lrn_attr lrn;
    kiln_unary_attr unary;
    kiln_axis_attr axis;
    kiln_transpose_attr transpose;
    kiln_axes_attr axes;
    kiln_split_attr split;
    kiln_pad_attr pad;
    kiln_slice_attr slice;
    kiln_reshape_attr reshape;
    kiln_cast_attr cast;
    kiln_shape_attr shape;
    kiln_const_of_shape_attr cos;
    kiln_resize_attr resize;
    kiln_gather_attr gather;
} kiln_attr;

/* Defaults for an op's attributes, as ONNX gives them when an attribute is absent. */
void kiln_attr_default(kiln_op op, int opset, kiln_attr *a);

#include <math.h>
static inline float kiln_act_apply(const kiln_act *a, float x) {
    switch (a->type) {
    case KILN_ACT_RELU: return x > 0 ? x : 0;
    case KILN_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case KILN_ACT_LEAKY_RELU: return x < 0 ? a->alpha * x : x;
    case KILN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KILN_ACT_HARD_SIGMOID: {
        float v = a->alpha * x + a->beta;
        return v < 0 ? 0 : (v > 1 ? 1 : v);
    }
    case KILN_ACT_HARD_SWISH: {
        float v = x / 6.0f + 0.5f;
        return x * (v < 0 ? 0 : (v > 1 ? 1 : v));
    }
    case KILN_ACT_SILU: return x / (1.0f + expf(-x));
    case KILN_ACT_TANH: return tanhf(x);
    default: return x;
    }
}

#endif
