/* Node attributes in plan files: each attribute struct of src/core/op.h is written field by
 * field, little-endian, in the order of the tables below (docs/plan-format.md lists them). A
 * table, not the in-memory union, defines the bytes, so padding and compiler layout never reach
 * the file. Append fields only at the end of a table, with a format version bump. */
#include <stddef.h>
#include <string.h>

#include "plan/plan_io.h"

enum { F_I32, F_I64, F_F32, F_F64 };

typedef struct field {
    size_t off;
    int type;
    int count;
} field;

#define I32(S, f) {offsetof(S, f), F_I32, 1}
#define I64(S, f) {offsetof(S, f), F_I64, 1}
#define F32(S, f) {offsetof(S, f), F_F32, 1}
#define F64(S, f) {offsetof(S, f), F_F64, 1}
#define I64N(S, f, n) {offsetof(S, f), F_I64, n}
#define F32N(S, f, n) {offsetof(S, f), F_F32, n}
#define END {0, -1, 0}

#define SP KILN_MAX_SPATIAL
#define MD KILN_MAX_DIMS

static const field conv_f[] = {
    I32(kiln_conv_attr, nspatial),        I64N(kiln_conv_attr, kernel, SP),
    I64N(kiln_conv_attr, stride, SP),     I64N(kiln_conv_attr, dilation, SP),
    I64N(kiln_conv_attr, pad_begin, SP),  I64N(kiln_conv_attr, pad_end, SP),
    I64(kiln_conv_attr, group),           I32(kiln_conv_attr, auto_pad),
    I64N(kiln_conv_attr, output_padding, SP), I64N(kiln_conv_attr, output_shape, SP),
    I32(kiln_conv_attr, has_output_shape), I32(kiln_conv_attr, act.type),
    F32(kiln_conv_attr, act.alpha),       F32(kiln_conv_attr, act.beta),
    I32(kiln_conv_attr, has_residual),    END};

static const field pool_f[] = {
    I32(kiln_pool_attr, nspatial),       I64N(kiln_pool_attr, kernel, SP),
    I64N(kiln_pool_attr, stride, SP),    I64N(kiln_pool_attr, dilation, SP),
    I64N(kiln_pool_attr, pad_begin, SP), I64N(kiln_pool_attr, pad_end, SP),
    I32(kiln_pool_attr, auto_pad),       I32(kiln_pool_attr, ceil_mode),
    I32(kiln_pool_attr, count_include_pad), I32(kiln_pool_attr, storage_order), END};

static const field gemm_f[] = {
    F32(kiln_gemm_attr, alpha),     F32(kiln_gemm_attr, beta),      I32(kiln_gemm_attr, trans_a),
    I32(kiln_gemm_attr, trans_b),   I32(kiln_gemm_attr, act.type),  F32(kiln_gemm_attr, act.alpha),
    F32(kiln_gemm_attr, act.beta),  I32(kiln_gemm_attr, has_residual), END};

static const field bn_f[] = {F32(kiln_bn_attr, epsilon), END};

static const field lrn_f[] = {F32(kiln_lrn_attr, alpha), F32(kiln_lrn_attr, beta),
                              F32(kiln_lrn_attr, bias), I64(kiln_lrn_attr, size), END};

static const field unary_f[] = {F32(kiln_unary_attr, alpha), F32(kiln_unary_attr, beta),
                                I32(kiln_unary_attr, has_min), I32(kiln_unary_attr, has_max),
                                F32(kiln_unary_attr, min),     F32(kiln_unary_attr, max), END};

static const field axis_f[] = {I64(kiln_axis_attr, axis), I32(kiln_axis_attr, legacy_2d), END};

static const field transpose_f[] = {I32(kiln_transpose_attr, nperm),
                                    I64N(kiln_transpose_attr, perm, MD), END};

static const field axes_f[] = {I32(kiln_axes_attr, naxes), I64N(kiln_axes_attr, axes, MD),
                               I32(kiln_axes_attr, has_axes), I32(kiln_axes_attr, keepdims),
                               I32(kiln_axes_attr, noop_with_empty_axes), END};

static const field split_f[] = {I64(kiln_split_attr, axis), I32(kiln_split_attr, nsplit),
                                I64N(kiln_split_attr, split, KILN_MAX_SPLIT),
                                I64(kiln_split_attr, num_outputs), END};

static const field pad_f[] = {I32(kiln_pad_attr, mode), I32(kiln_pad_attr, npads),
                              I64N(kiln_pad_attr, pads, 2 * MD), F32(kiln_pad_attr, value), END};

static const field slice_f[] = {I32(kiln_slice_attr, n), I64N(kiln_slice_attr, starts, MD),
                                I64N(kiln_slice_attr, ends, MD), I64N(kiln_slice_attr, axes, MD),
                                I32(kiln_slice_attr, has_axes), END};

static const field reshape_f[] = {I32(kiln_reshape_attr, allowzero), END};
static const field cast_f[] = {I32(kiln_cast_attr, to), END};
static const field shape_f[] = {I64(kiln_shape_attr, start), I64(kiln_shape_attr, end), END};
static const field cos_f[] = {I32(kiln_const_of_shape_attr, dtype),
                              F64(kiln_const_of_shape_attr, value), END};

static const field resize_f[] = {
    I32(kiln_resize_attr, mode),          I32(kiln_resize_attr, coord),
    I32(kiln_resize_attr, nearest_mode),  F32(kiln_resize_attr, cubic_coeff_a),
    I32(kiln_resize_attr, exclude_outside), F32(kiln_resize_attr, extrapolation_value),
    I32(kiln_resize_attr, nscales),       F32N(kiln_resize_attr, scales, MD),
    I32(kiln_resize_attr, naxes),         I64N(kiln_resize_attr, axes, MD),
    I32(kiln_resize_attr, keep_aspect_ratio_policy), I32(kiln_resize_attr, antialias), END};

static const field gather_f[] = {I64(kiln_gather_attr, axis), END};

/* Attribute kinds: stable values written to plan files (append only). */
enum {
    K_NONE = 0, K_CONV = 1, K_POOL = 2, K_GEMM = 3, K_BN = 4, K_LRN = 5, K_UNARY = 6, K_AXIS = 7,
    K_TRANSPOSE = 8, K_AXES = 9, K_SPLIT = 10, K_PAD = 11, K_SLICE = 12, K_RESHAPE = 13,
    K_CAST = 14, K_SHAPE = 15, K_COS = 16, K_RESIZE = 17, K_GATHER = 18, K_COUNT
};

static const field *const tables[K_COUNT] = {
    NULL,    conv_f,  pool_f,    gemm_f,    bn_f,     lrn_f,    unary_f,  axis_f,  transpose_f,
    axes_f,  split_f, pad_f,     slice_f,   reshape_f, cast_f,  shape_f,  cos_f,   resize_f,
    gather_f};

int kiln__plan_attr_kind(int op) {
    switch (op) {
    case KILN_OP_CONV:
    case KILN_OP_CONV_TRANSPOSE: return K_CONV;
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL: return K_POOL;
    case KILN_OP_GEMM:
    case KILN_OP_MATMUL: return K_GEMM;
    case KILN_OP_BATCHNORM: return K_BN;
    case KILN_OP_LRN: return K_LRN;
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_CLIP: return K_UNARY;
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX:
    case KILN_OP_CONCAT:
    case KILN_OP_FLATTEN: return K_AXIS;
    case KILN_OP_TRANSPOSE: return K_TRANSPOSE;
    case KILN_OP_SQUEEZE:
    case KILN_OP_UNSQUEEZE:
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: return K_AXES;
    case KILN_OP_SPLIT: return K_SPLIT;
    case KILN_OP_PAD: return K_PAD;
    case KILN_OP_SLICE: return K_SLICE;
    case KILN_OP_RESHAPE: return K_RESHAPE;
    case KILN_OP_CAST: return K_CAST;
    case KILN_OP_SHAPE: return K_SHAPE;
    case KILN_OP_CONSTANT_OF_SHAPE: return K_COS;
    case KILN_OP_RESIZE: return K_RESIZE;
    case KILN_OP_GATHER: return K_GATHER;
    default: return K_NONE;
    }
}

static size_t field_size(int type) { return type == F_I32 || type == F_F32 ? 4 : 8; }

static uint32_t table_bytes(const field *f) {
    uint32_t n = 0;
    for (; f && f->type >= 0; f++) n += (uint32_t)(field_size(f->type) * (size_t)f->count);
    return n;
}

void kiln__plan_attr_write(kiln__pbuf *b, int op, const kiln_attr *a) {
    int kind = kiln__plan_attr_kind(op);
    const field *f = tables[kind];
    kiln__pb_u32(b, (uint32_t)kind);
    kiln__pb_u32(b, table_bytes(f));
    const char *base = (const char *)a;
    for (; f && f->type >= 0; f++)
        for (int i = 0; i < f->count; i++) {
            const char *p = base + f->off + (size_t)i * field_size(f->type);
            switch (f->type) {
            case F_I32: {
                int32_t v;
                memcpy(&v, p, 4);
                kiln__pb_i32(b, v);
                break;
            }
            case F_I64: {
                int64_t v;
                memcpy(&v, p, 8);
                kiln__pb_i64(b, v);
                break;
            }
            case F_F32: {
                float v;
                memcpy(&v, p, 4);
                kiln__pb_f32(b, v);
                break;
            }
            default: {
                double v;
                memcpy(&v, p, 8);
                kiln__pb_f64(b, v);
                break;
            }
            }
        }
}

int kiln__plan_attr_read(kiln__prd *r, int op, uint32_t kind, uint32_t nbytes, kiln_attr *a) {
    memset(a, 0, sizeof *a);
    if ((int)kind != kiln__plan_attr_kind(op)) return 0;
    const field *f = tables[kind];
    if (nbytes != table_bytes(f)) return 0;
    char *base = (char *)a;
    for (; f && f->type >= 0; f++)
        for (int i = 0; i < f->count; i++) {
            char *p = base + f->off + (size_t)i * field_size(f->type);
            switch (f->type) {
            case F_I32: {
                int32_t v = kiln__pr_i32(r);
                memcpy(p, &v, 4);
                break;
            }
            case F_I64: {
                int64_t v = kiln__pr_i64(r);
                memcpy(p, &v, 8);
                break;
            }
            case F_F32: {
                float v = kiln__pr_f32(r);
                memcpy(p, &v, 4);
                break;
            }
            default: {
                double v = kiln__pr_f64(r);
                memcpy(p, &v, 8);
                break;
            }
            }
        }
    return !r->bad;
}
