/* onnx_graph.c — GraphProto -> kiln graph: initializers, inputs, nodes, outputs, then order.
 *
 * Tensors are looked up by name through c->names. A node may name a tensor that is defined
 * later (ONNX demands topological order, exporters mostly comply): the reference creates a
 * placeholder activation that the later definition fills, and kiln_graph_toposort orders the
 * nodes or names the input nobody defines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "onnx/onnx_internal.h"

kiln_status kiln__onnx_graph_build(kiln__onnx_ctx *c, Onnx__GraphProto *gp);

int kiln__onnx_set_produced(kiln__onnx_ctx *c, int id) {
    if (id >= c->cap_produced) {
        int nc = c->cap_produced ? c->cap_produced : 256;
        while (nc <= id) nc *= 2;
        unsigned char *np = realloc(c->produced, (size_t)nc);
        if (!np) return -1;
        memset(np + c->cap_produced, 0, (size_t)(nc - c->cap_produced));
        c->produced = np;
        c->cap_produced = nc;
    }
    c->produced[id] = 1;
    return 0;
}

int kiln__onnx_is_produced(const kiln__onnx_ctx *c, int id) {
    return id >= 0 && id < c->cap_produced && c->produced[id];
}

int kiln__onnx_tensor_ref(kiln__onnx_ctx *c, const char *name) {
    int id = kiln__onnx_map_get(&c->names, name);
    if (id >= 0) return id;
    id = kiln_graph_add_tensor(c->g, name, KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    if (id < 0 || kiln__onnx_map_put(&c->names, c->g->t[id].name, id)) return -1;
    return id;
}

kiln_status kiln__onnx_define_const(kiln__onnx_ctx *c, const char *name, kiln_dtype dt,
                                    const kiln_shape *shape, void *data, const char *what) {
    int named = name && *name;
    int id = named ? kiln__onnx_map_get(&c->names, name) : -1;
    if (id >= 0) {
        kiln_tensor *t = &c->g->t[id];
        if (kiln__onnx_is_produced(c, id) || t->kind != KILN_TENSOR_ACT) {
            free(data);
            return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: tensor '%s' is defined twice", what,
                                name);
        }
        t->kind = KILN_TENSOR_CONST; /* the placeholder earlier nodes referred to */
        t->dtype = dt;
        t->shape = *shape;
        t->data = data;
        t->owns_data = 1;
    } else {
        id = kiln_graph_add_const(c->g, named ? name : NULL, dt, shape, data, 1);
        if (id < 0 || (named && kiln__onnx_map_put(&c->names, c->g->t[id].name, id)))
            return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
    }
    if (kiln__onnx_set_produced(c, id))
        return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
    return KILN_OK;
}

/* Declared type of a graph input or output. sym gets strdup'd dim_param names. */
static kiln_status value_type(kiln__onnx_ctx *c, const Onnx__ValueInfoProto *vi, const char *what,
                              kiln_dtype *dt, kiln_shape *shape, char **sym) {
    *dt = KILN_DTYPE_UNDEFINED;
    shape->ndim = -1;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp) return kiln_err_set(c->e, KILN_ERR_PARSE, "%s '%s' has no type", what, vi->name);
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED,
                            "%s '%s' is not a dense tensor (sequences, maps, optionals and sparse "
                            "tensors are not supported)",
                            what, vi->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    *dt = kiln__onnx_dtype(tt->elem_type);
    if (*dt == KILN_DTYPE_UNDEFINED)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED, "%s '%s' has data type %s, not supported",
                            what, vi->name, kiln__onnx_dtype_name(tt->elem_type));
    if (!tt->shape) return KILN_OK; /* unknown rank */
    if (tt->shape->n_dim > KILN_MAX_DIMS)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED, "%s '%s' has rank %zu (kiln supports %d)",
                            what, vi->name, tt->shape->n_dim, KILN_MAX_DIMS);
    shape->ndim = (int)tt->shape->n_dim;
    double known = 1;
    for (int i = 0; i < shape->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        shape->d[i] = -1;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return kiln_err_set(c->e, KILN_ERR_PARSE,
                                    "%s '%s': dimension %d is negative (%lld)", what, vi->name, i,
                                    (long long)d->dim_value);
            shape->d[i] = d->dim_value;
            known *= (double)d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   d->dim_param && *d->dim_param && sym) {
            if (!(sym[i] = strdup(d->dim_param)))
                return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
        }
    }
    if (known > 0x1p48)
        return kiln_err_set(c->e, KILN_ERR_PARSE, "%s '%s': absurd shape (over 2^48 elements)",
                            what, vi->name);
    return KILN_OK;
}

static kiln_status count_uses(kiln__onnx_ctx *c, const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        for (size_t j = 0; j < np->n_input; j++) {
            const char *s = np->input[j];
            if (!s || !*s) continue;
            int n = kiln__onnx_map_get(&c->uses, s);
            if (kiln__onnx_map_put(&c->uses, s, n < 0 ? 1 : n + 1))
                return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *s = gp->output[i]->name;
        if (!s || !*s) continue;
        int n = kiln__onnx_map_get(&c->uses, s);
        if (kiln__onnx_map_put(&c->uses, s, n < 0 ? 1 : n + 1))
            return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
    }
    return KILN_OK;
}

static kiln_status add_initializers(kiln__onnx_ctx *c, const Onnx__GraphProto *gp) {
    if (gp->n_sparse_initializer)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED,
                            "graph has %zu sparse initializers; kiln supports dense ones only",
                            gp->n_sparse_initializer);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return kiln_err_set(c->e, KILN_ERR_PARSE, "initializer #%zu has no name", i);
        char what[160];
        snprintf(what, sizeof what, "initializer '%.120s'", tp->name);
        kiln_dtype dt;
        kiln_shape shape;
        void *data;
        KILN_TRY(kiln__onnx_tensor_decode(c, tp, what, &dt, &shape, &data));
        KILN_TRY(kiln__onnx_define_const(c, tp->name, dt, &shape, data, what));
    }
    return KILN_OK;
}

static kiln_status add_inputs(kiln__onnx_ctx *c, const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name)
            return kiln_err_set(c->e, KILN_ERR_PARSE, "graph input #%zu has no name", i);
        int id = kiln__onnx_map_get(&c->names, vi->name);
        if (id >= 0) {
            /* An input with an initializer is a constant (IR < 4 lists every initializer as an
               input; later IRs call it an overridable default, which kiln freezes). */
            if (c->g->t[id].kind == KILN_TENSOR_CONST) continue;
            return kiln_err_set(c->e, KILN_ERR_PARSE, "graph input '%s' is listed twice",
                                vi->name);
        }
        kiln_dtype dt;
        kiln_shape shape;
        char *sym[KILN_MAX_DIMS] = {0};
        kiln_status st = value_type(c, vi, "graph input", &dt, &shape, sym);
        if (st == KILN_OK) {
            id = kiln_graph_add_tensor(c->g, vi->name, KILN_TENSOR_INPUT, dt, &shape);
            if (id < 0 || kiln__onnx_map_put(&c->names, c->g->t[id].name, id) ||
                kiln__onnx_set_produced(c, id) || kiln_graph_mark_input(c->g, id))
                st = kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
        }
        if (st != KILN_OK) {
            for (int d = 0; d < KILN_MAX_DIMS; d++) free(sym[d]);
            return st;
        }
        memcpy(c->g->t[id].sym, sym, sizeof sym);
    }
    return KILN_OK;
}

static kiln_status add_outputs(kiln__onnx_ctx *c, const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi->name || !*vi->name)
            return kiln_err_set(c->e, KILN_ERR_PARSE, "graph output #%zu has no name", i);
        int id = kiln__onnx_map_get(&c->names, vi->name);
        if (id < 0 || !kiln__onnx_is_produced(c, id))
            return kiln_err_set(c->e, KILN_ERR_PARSE,
                                "graph output '%s' is not produced by any node", vi->name);
        kiln_tensor *t = &c->g->t[id];
        if (t->is_output)
            return kiln_err_set(c->e, KILN_ERR_PARSE, "graph output '%s' is listed twice",
                                vi->name);
        if (t->kind == KILN_TENSOR_ACT && vi->type) {
            /* The declared type documents the binding; shape inference recomputes it. */
            kiln_dtype dt;
            kiln_shape shape;
            char *sym[KILN_MAX_DIMS] = {0};
            kiln_status st = value_type(c, vi, "graph output", &dt, &shape, sym);
            if (st != KILN_OK) {
                for (int d = 0; d < KILN_MAX_DIMS; d++) free(sym[d]);
                return st;
            }
            t->dtype = dt;
            t->shape = shape;
            memcpy(t->sym, sym, sizeof sym);
        }
        if (kiln_graph_mark_output(c->g, id))
            return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
    }
    return KILN_OK;
}

kiln_status kiln__onnx_graph_build(kiln__onnx_ctx *c, Onnx__GraphProto *gp) {
    if (gp->name && *gp->name && !(c->g->name = strdup(gp->name)))
        return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
    KILN_TRY(count_uses(c, gp));
    KILN_TRY(add_initializers(c, gp));
    KILN_TRY(add_inputs(c, gp));
    for (size_t i = 0; i < gp->n_node; i++)
        KILN_TRY(kiln__onnx_node_import(c, gp->node[i], (int)i));
    /* Exporters almost always write nodes in order: a linear check spares the sort (which
       sweeps repeatedly). Otherwise sort, which also names the node whose input nobody
       defines (a missing initializer). */
    kiln_err scratch;
    if (kiln_graph_validate(c->g, &scratch) != KILN_OK)
        KILN_TRY(kiln_graph_toposort(c->g, c->e));
    KILN_TRY(add_outputs(c, gp));
    return kiln_graph_validate(c->g, c->e);
}
