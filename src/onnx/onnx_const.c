/* onnx_const.c — Constant nodes become constant tensors (no node is added).
 *
 * Constant carries its value in exactly one attribute: value (a tensor, every opset),
 * value_float(s) / value_int(s) (opset 12+; scalars are rank 0, lists rank 1), value_string(s)
 * and sparse_value, which kiln does not support.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static const char *const value_attrs[] = {"value",        "value_float",  "value_floats",
                                          "value_int",    "value_ints",   "value_string",
                                          "value_strings", "sparse_value", NULL};

static kiln_status list_value(const kiln__onnx_node *nd, const Onnx__AttributeProto *at,
                              int is_float, kiln_dtype *dt, kiln_shape *shape, void **data) {
    int want = is_float ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                        : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    int t = kiln__onnx_attr_type(at);
    if (t != want && t != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' should be a list of %s",
                                   at->name, is_float ? "floats" : "ints");
    size_t n = is_float ? at->n_floats : at->n_ints, es = is_float ? 4 : 8;
    *dt = is_float ? KILN_F32 : KILN_I64;
    shape->ndim = 1;
    shape->d[0] = (int64_t)n;
    *data = malloc(n ? n * es : 1);
    if (!*data) return kiln_err_set(nd->c->e, KILN_ERR_NOMEM, "out of memory");
    if (n) memcpy(*data, is_float ? (const void *)at->floats : (const void *)at->ints, n * es);
    return KILN_OK;
}

static kiln_status scalar_value(const kiln__onnx_node *nd, const Onnx__AttributeProto *at,
                                int is_float, kiln_dtype *dt, kiln_shape *shape, void **data) {
    int want = is_float ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                        : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (kiln__onnx_attr_type(at) != want)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' should be %s", at->name,
                                   is_float ? "a float" : "an int");
    *dt = is_float ? KILN_F32 : KILN_I64;
    shape->ndim = 0; /* a scalar */
    *data = malloc(8);
    if (!*data) return kiln_err_set(nd->c->e, KILN_ERR_NOMEM, "out of memory");
    if (is_float) memcpy(*data, &at->f, 4);
    else memcpy(*data, &at->i, 8);
    return KILN_OK;
}

kiln_status kiln__onnx_const_node(kiln__onnx_ctx *c, const Onnx__NodeProto *np, const char *name) {
    kiln__onnx_node nd = {c, np, name, "Constant", KILN_OP_COUNT, c->opset, 0, NULL};
    if (np->n_input != 0 || np->n_output != 1)
        return kiln__onnx_node_err(&nd, KILN_ERR_PARSE,
                                   "needs no inputs and 1 output, has %zu and %zu", np->n_input,
                                   np->n_output);
    const Onnx__AttributeProto *at = NULL;
    int which = -1;
    for (int k = 0; value_attrs[k]; k++) {
        const Onnx__AttributeProto *x = kiln__onnx_attr_find(&nd, value_attrs[k]);
        if (!x) continue;
        if (at)
            return kiln__onnx_node_err(&nd, KILN_ERR_PARSE,
                                       "has both attributes '%s' and '%s' (exactly one allowed)",
                                       at->name, x->name);
        at = x;
        which = k;
    }
    if (!at)
        return kiln__onnx_node_err(&nd, KILN_ERR_PARSE,
                                   "has no value attribute (value, value_float(s), value_int(s))");

    kiln_dtype dt = KILN_DTYPE_UNDEFINED;
    kiln_shape shape;
    memset(&shape, 0, sizeof shape);
    void *data = NULL;
    switch (which) {
    case 0: {
        if (kiln__onnx_attr_type(at) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !at->t)
            return kiln__onnx_node_err(&nd, KILN_ERR_PARSE, "attribute 'value' should be a tensor");
        char what[KILN_ERRMSG_MAX / 2];
        snprintf(what, sizeof what, "node '%.100s' (op Constant, opset %d): attribute 'value'",
                 name, c->opset);
        KILN_TRY(kiln__onnx_tensor_decode(c, at->t, what, &dt, &shape, &data));
        break;
    }
    case 1: KILN_TRY(scalar_value(&nd, at, 1, &dt, &shape, &data)); break;
    case 2: KILN_TRY(list_value(&nd, at, 1, &dt, &shape, &data)); break;
    case 3: KILN_TRY(scalar_value(&nd, at, 0, &dt, &shape, &data)); break;
    case 4: KILN_TRY(list_value(&nd, at, 0, &dt, &shape, &data)); break;
    case 5:
    case 6:
        return kiln__onnx_node_err(&nd, KILN_ERR_UNSUPPORTED,
                                   "attribute '%s': string constants are not supported",
                                   at->name);
    default:
        return kiln__onnx_node_err(&nd, KILN_ERR_UNSUPPORTED,
                                   "attribute 'sparse_value': sparse constants are not supported");
    }
    char what[KILN_ERRMSG_MAX / 2];
    snprintf(what, sizeof what, "node '%.100s' (op Constant, opset %d)", name, c->opset);
    return kiln__onnx_define_const(c, np->output[0], dt, &shape, data, what);
}
