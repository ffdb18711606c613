/* onnx_attrs_tensor.c — attributes of the tensor-manipulation ops: axes, permutations, splits,
 * pads, slices, casts, Shape, ConstantOfShape, Dropout.
 *
 * Several of these moved from attributes to inputs over the opsets (Squeeze/Unsqueeze/ReduceSum
 * axes and Split's split at 13, other reductions' axes at 18, Pad's pads/value at 11, Slice's
 * starts/ends/axes at 10). The attribute form is read only in the opsets that define it; later
 * opsets keep the inputs in place for shape inference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "onnx/onnx_internal.h"

static kiln_status axis_attr(const kiln__onnx_node *nd, int64_t *axis, int required) {
    int have;
    KILN_TRY(kiln__onnx_attr_int(nd, "axis", axis, &have));
    if (required && !have)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'axis' is required");
    return KILN_OK;
}

static kiln_status transpose_attrs(const kiln__onnx_node *nd, kiln_transpose_attr *a) {
    int64_t perm[KILN_MAX_DIMS];
    int n;
    KILN_TRY(kiln__onnx_attr_ints(nd, "perm", perm, KILN_MAX_DIMS, &n));
    if (n <= 0) return KILN_OK; /* absent: reverse the dimensions */
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || (seen >> perm[i] & 1))
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "attribute 'perm' is not a permutation of 0..%d", n - 1);
        seen |= 1u << perm[i];
        a->perm[i] = perm[i];
    }
    a->nperm = n;
    return KILN_OK;
}

/* Axes lists hold distinct axes; their range depends on the rank, checked by shape inference. */
static kiln_status axes_list(const kiln__onnx_node *nd, kiln_axes_attr *a, int required) {
    KILN_TRY(kiln__onnx_attr_ints(nd, "axes", a->axes, KILN_MAX_DIMS, &a->naxes));
    if (a->naxes < 0) {
        a->naxes = 0;
        if (required)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'axes' is required");
        return KILN_OK;
    }
    for (int i = 0; i < a->naxes; i++)
        for (int j = 0; j < i; j++)
            if (a->axes[i] == a->axes[j])
                return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'axes' repeats axis %lld",
                                           (long long)a->axes[i]);
    a->has_axes = 1;
    return KILN_OK;
}

static kiln_status reduce_attrs(const kiln__onnx_node *nd, kiln_axes_attr *a) {
    /* ReduceSum took axes as an input from 13, the other reductions from 18. */
    int input_from = nd->op == KILN_OP_REDUCE_SUM ? 13 : 18;
    int64_t x;
    int have;
    if (nd->opset < input_from) KILN_TRY(axes_list(nd, a, 0));
    KILN_TRY(kiln__onnx_attr_int(nd, "keepdims", &x, &have));
    if (have) a->keepdims = x != 0;
    if (nd->opset >= input_from) {
        KILN_TRY(kiln__onnx_attr_int(nd, "noop_with_empty_axes", &x, &have));
        if (have) a->noop_with_empty_axes = x != 0;
    }
    return KILN_OK;
}

static kiln_status split_attrs(const kiln__onnx_node *nd, kiln_split_attr *a) {
    KILN_TRY(axis_attr(nd, &a->axis, 0));
    if (nd->opset < 13) {
        int n;
        KILN_TRY(kiln__onnx_attr_ints(nd, "split", a->split, KILN_MAX_SPLIT, &n));
        if (n >= 0) {
            if (n != (int)nd->np->n_output)
                return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                           "attribute 'split' has %d values for %zu outputs", n,
                                           nd->np->n_output);
            for (int i = 0; i < n; i++)
                if (a->split[i] < 0)
                    return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                               "attribute 'split' has a negative size");
            a->nsplit = n;
        }
    }
    if (nd->opset >= 18) {
        int have;
        KILN_TRY(kiln__onnx_attr_int(nd, "num_outputs", &a->num_outputs, &have));
        if (have && a->num_outputs != (int64_t)nd->np->n_output)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "attribute 'num_outputs' is %lld but the node has %zu "
                                       "outputs",
                                       (long long)a->num_outputs, nd->np->n_output);
    }
    return KILN_OK;
}

static const char *const pad_mode_names[] = {"constant", "reflect", "edge", "wrap", NULL};
static const int pad_mode_values[] = {KILN_PAD_CONSTANT, KILN_PAD_REFLECT, KILN_PAD_EDGE,
                                      KILN_PAD_WRAP};

static kiln_status pad_attrs(const kiln__onnx_node *nd, kiln_pad_attr *a) {
    KILN_TRY(kiln__onnx_attr_enum(nd, "mode", pad_mode_names, pad_mode_values, &a->mode));
    if (nd->opset >= 11) return KILN_OK; /* pads, value (and axes from 18) are inputs */
    int n;
    KILN_TRY(kiln__onnx_attr_ints(nd, "pads", a->pads, 2 * KILN_MAX_DIMS, &n));
    if (n < 0) return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'pads' is required");
    if (n % 2)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                   "attribute 'pads' has %d values (begin and end per axis)", n);
    a->npads = n;
    return kiln__onnx_attr_float(nd, "value", &a->value, NULL);
}

static kiln_status slice_attrs(const kiln__onnx_node *nd, kiln_slice_attr *a) {
    if (nd->opset >= 10) return KILN_OK; /* starts, ends, axes, steps are inputs */
    int ns, ne, na;
    KILN_TRY(kiln__onnx_attr_ints(nd, "starts", a->starts, KILN_MAX_DIMS, &ns));
    KILN_TRY(kiln__onnx_attr_ints(nd, "ends", a->ends, KILN_MAX_DIMS, &ne));
    KILN_TRY(kiln__onnx_attr_ints(nd, "axes", a->axes, KILN_MAX_DIMS, &na));
    if (ns < 0 || ne < 0)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attributes 'starts' and 'ends' are "
                                   "required");
    if (ns != ne || (na >= 0 && na != ns))
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                   "attributes 'starts' (%d values), 'ends' (%d) and 'axes' (%d) "
                                   "differ in length", ns, ne, na < 0 ? ns : na);
    a->n = ns;
    a->has_axes = na >= 0;
    return KILN_OK;
}

static kiln_status cast_attrs(const kiln__onnx_node *nd, kiln_cast_attr *a) {
    int64_t to;
    int have;
    KILN_TRY(kiln__onnx_attr_int(nd, "to", &to, &have));
    if (!have) return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'to' is required");
    kiln_dtype dt = kiln__onnx_dtype(to);
    if (dt == KILN_DTYPE_UNDEFINED)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "attribute 'to' = %lld (%s) is not a type kiln supports",
                                   (long long)to, kiln__onnx_dtype_name(to));
    a->to = dt;
    if (nd->opset >= 19 && dt == KILN_F8E4M3) {
        /* saturate applies to float8 targets only; kiln's conversion saturates. */
        int64_t sat;
        KILN_TRY(kiln__onnx_attr_int(nd, "saturate", &sat, &have));
        if (have && sat == 0)
            return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                       "attribute 'saturate' = 0 is not supported");
    }
    return KILN_OK;
}

static kiln_status shape_attrs(const kiln__onnx_node *nd, kiln_shape_attr *a) {
    if (nd->opset < 15) return KILN_OK;
    KILN_TRY(kiln__onnx_attr_int(nd, "start", &a->start, NULL));
    return kiln__onnx_attr_int(nd, "end", &a->end, NULL);
}

static kiln_status cos_attrs(const kiln__onnx_node *nd, kiln_const_of_shape_attr *a) {
    const Onnx__AttributeProto *at = kiln__onnx_attr_find(nd, "value");
    if (!at) return KILN_OK; /* float32 zeros */
    if (kiln__onnx_attr_type(at) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !at->t)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'value' should be a tensor");
    char what[KILN_ERRMSG_MAX / 2];
    snprintf(what, sizeof what, "node '%.100s' (op %s, opset %d): attribute 'value'", nd->name,
             nd->op_type, nd->opset);
    kiln_dtype dt;
    kiln_shape shape;
    void *data;
    KILN_TRY(kiln__onnx_tensor_decode(nd->c, at->t, what, &dt, &shape, &data));
    kiln_status st = KILN_OK;
    if (kiln_shape_numel(&shape) != 1)
        st = kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                 "attribute 'value' must hold exactly one element");
    else if (dt == KILN_F8E4M3) /* kiln_elem_get has no float8 decoding */
        st = kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                 "attribute 'value' of type float8 is not supported");
    else {
        a->dtype = dt;
        a->value = kiln_elem_get(data, dt, 0);
    }
    free(data);
    return st;
}

static kiln_status dropout_attrs(const kiln__onnx_node *nd) {
    /* ratio (attribute before 12, input after) is ignored: inference passes x through. A
       training_mode input that is a constant true would ask for random masks. */
    const kiln_tensor *tm = kiln__onnx_input_const(nd, 2);
    if (tm && kiln_shape_numel(&tm->shape) >= 1 && kiln_elem_get(tm->data, tm->dtype, 0) != 0)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "training_mode = true is not supported (kiln runs inference)");
    return KILN_OK;
}

kiln_status kiln__onnx_attrs_tensor(const kiln__onnx_node *nd, kiln_attr *a) {
    int64_t x;
    int have;
    switch (nd->op) {
    case KILN_OP_CONCAT: return axis_attr(nd, &a->axis.axis, 1);
    case KILN_OP_FLATTEN: return axis_attr(nd, &a->axis.axis, 0);
    case KILN_OP_GATHER: return axis_attr(nd, &a->gather.axis, 0);
    case KILN_OP_TRANSPOSE: return transpose_attrs(nd, &a->transpose);
    case KILN_OP_SQUEEZE:
        return nd->opset < 13 ? axes_list(nd, &a->axes, 0) : KILN_OK;
    case KILN_OP_UNSQUEEZE:
        return nd->opset < 13 ? axes_list(nd, &a->axes, 1) : KILN_OK;
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: return reduce_attrs(nd, &a->axes);
    case KILN_OP_SPLIT: return split_attrs(nd, &a->split);
    case KILN_OP_PAD: return pad_attrs(nd, &a->pad);
    case KILN_OP_SLICE: return slice_attrs(nd, &a->slice);
    case KILN_OP_RESHAPE:
        if (nd->opset < 14) return KILN_OK;
        KILN_TRY(kiln__onnx_attr_int(nd, "allowzero", &x, &have));
        if (have) a->reshape.allowzero = x != 0;
        return KILN_OK;
    case KILN_OP_CAST: return cast_attrs(nd, &a->cast);
    case KILN_OP_SHAPE: return shape_attrs(nd, &a->shape);
    case KILN_OP_CONSTANT_OF_SHAPE: return cos_attrs(nd, &a->cos);
    case KILN_OP_DROPOUT: return dropout_attrs(nd);
    default: return KILN_OK;
    }
}
