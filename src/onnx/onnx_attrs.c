/* onnx_attrs.c — typed access to a node's attributes, and the per-op dispatch.
 *
 * Every getter checks the attribute's type, so a model that stores 'axis' as a float gets an
 * error naming the attribute instead of a silent 0. Old exporters (IR < 2) left `type` unset;
 * the type is then read from which field carries a value.
 */
#include <stdio.h>
#include <string.h>

#include "onnx/onnx_internal.h"

int kiln__onnx_attr_type(const Onnx__AttributeProto *at) {
    if (at->has_type && at->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return (int)at->type;
    if (at->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (at->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (at->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (at->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (at->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (at->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (at->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (at->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (at->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (at->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static const char *type_name(int t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "a float";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "an int";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "a string";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "a tensor";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "a graph";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "a list of floats";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "a list of ints";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "a list of strings";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "a list of tensors";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED: return "empty";
    default: return "of another kind";
    }
}

const Onnx__AttributeProto *kiln__onnx_attr_find(const kiln__onnx_node *nd, const char *name) {
    const Onnx__NodeProto *np = nd->np;
    for (size_t i = 0; i < np->n_attribute; i++)
        if (np->attribute[i]->name && !strcmp(np->attribute[i]->name, name))
            return np->attribute[i];
    return NULL;
}

/* Find name and check its type; NULL when absent (not an error). */
static kiln_status find_typed(const kiln__onnx_node *nd, const char *name, int type,
                              const Onnx__AttributeProto **out) {
    const Onnx__AttributeProto *at = kiln__onnx_attr_find(nd, name);
    *out = NULL;
    if (!at) return KILN_OK;
    int t = kiln__onnx_attr_type(at);
    /* An empty list carries no type hint when `type` is unset: accept it as any list. */
    int empty_list = t == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED &&
                     (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
                      type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    if (t != type && !empty_list)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' should be %s, is %s", name,
                                   type_name(type), type_name(t));
    *out = at;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_int(const kiln__onnx_node *nd, const char *name, int64_t *out,
                                int *present) {
    const Onnx__AttributeProto *at;
    KILN_TRY(find_typed(nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &at));
    if (present) *present = at != NULL;
    if (at) *out = at->i;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_float(const kiln__onnx_node *nd, const char *name, float *out,
                                  int *present) {
    const Onnx__AttributeProto *at;
    KILN_TRY(find_typed(nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &at));
    if (present) *present = at != NULL;
    if (at) *out = at->f;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_ints(const kiln__onnx_node *nd, const char *name, int64_t *out,
                                 int max, int *n) {
    const Onnx__AttributeProto *at;
    KILN_TRY(find_typed(nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &at));
    *n = -1;
    if (!at) return KILN_OK;
    if (at->n_ints > (size_t)max)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "attribute '%s' has %zu values (kiln supports at most %d)", name,
                                   at->n_ints, max);
    for (size_t i = 0; i < at->n_ints; i++) out[i] = at->ints[i];
    *n = (int)at->n_ints;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_floats(const kiln__onnx_node *nd, const char *name, float *out,
                                   int max, int *n) {
    const Onnx__AttributeProto *at;
    KILN_TRY(find_typed(nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, &at));
    *n = -1;
    if (!at) return KILN_OK;
    if (at->n_floats > (size_t)max)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "attribute '%s' has %zu values (kiln supports at most %d)", name,
                                   at->n_floats, max);
    for (size_t i = 0; i < at->n_floats; i++) out[i] = at->floats[i];
    *n = (int)at->n_floats;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_string(const kiln__onnx_node *nd, const char *name, char *buf,
                                   size_t cap, int *present) {
    const Onnx__AttributeProto *at;
    KILN_TRY(find_typed(nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &at));
    if (present) *present = at != NULL;
    if (!at) return KILN_OK;
    size_t n = at->s.len;
    if (n >= cap || (n && memchr(at->s.data, 0, n)))
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' is not a known value",
                                   name);
    if (n) memcpy(buf, at->s.data, n);
    buf[n] = 0;
    return KILN_OK;
}

kiln_status kiln__onnx_attr_enum(const kiln__onnx_node *nd, const char *name,
                                 const char *const *names, const int *values, int *out) {
    char s[64];
    int present;
    KILN_TRY(kiln__onnx_attr_string(nd, name, s, sizeof s, &present));
    if (!present) return KILN_OK;
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) {
            *out = values[i];
            return KILN_OK;
        }
    return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute '%s' has unknown value '%s'", name,
                               s);
}

const kiln_tensor *kiln__onnx_input_tensor(const kiln__onnx_node *nd, int i) {
    if (i < 0 || i >= nd->n_in || nd->in[i] < 0) return NULL;
    return &nd->c->g->t[nd->in[i]];
}

const kiln_tensor *kiln__onnx_input_const(const kiln__onnx_node *nd, int i) {
    const kiln_tensor *t = kiln__onnx_input_tensor(nd, i);
    return t && t->kind == KILN_TENSOR_CONST && t->data ? t : NULL;
}

kiln_status kiln__onnx_attrs(const kiln__onnx_node *nd, kiln_attr *a) {
    KILN_TRY(kiln__onnx_attrs_nn(nd, a));
    KILN_TRY(kiln__onnx_attrs_tensor(nd, a));
    return kiln__onnx_attrs_resize(nd, a);
}
