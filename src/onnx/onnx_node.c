/* onnx_node.c — one NodeProto -> one kiln node: domain and op, opset availability, input and
 * output counts, tensor ids, attributes.
 *
 * Counts are checked here, per op and opset, so that every later stage (shape inference,
 * kernels) can index the inputs an op requires without checking again. Optional outputs kiln
 * does not compute (MaxPool's indices, BatchNormalization's training statistics) are dropped
 * when nothing reads them and refused when something does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

kiln_status kiln__onnx_node_err(const kiln__onnx_node *nd, kiln_status s, const char *fmt, ...) {
    char msg[KILN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_err_set(nd->c->e, s, "node '%s' (op %s, opset %d): %s", nd->name, nd->op_type,
                        nd->opset, msg);
}

typedef struct arity {
    int min_in, max_in; /* max -1: variadic */
    int max_out;        /* outputs ONNX allows; -1: variadic */
    int keep_out;       /* outputs kiln computes; the rest must be unused */
    int since;          /* first opset with this op (0: before 7) */
    int until;          /* last opset (0: still current) */
} arity;

static arity op_arity(kiln_op op, int upsample, int v) {
    switch (op) {
    case KILN_OP_CONV:
    case KILN_OP_CONV_TRANSPOSE: return (arity){2, 3, 1, 1, 0, 0};
    case KILN_OP_BATCHNORM: return (arity){5, 5, v < 14 ? 5 : 3, 1, 0, 0};
    case KILN_OP_PRELU:
    case KILN_OP_POW:
    case KILN_OP_MATMUL:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_EQUAL:
    case KILN_OP_RESHAPE:
    case KILN_OP_GATHER: return (arity){2, 2, 1, 1, 0, 0};
    case KILN_OP_EXPAND: return (arity){2, 2, 1, 1, 8, 0};
    case KILN_OP_WHERE: return (arity){3, 3, 1, 1, 9, 0};
    case KILN_OP_CLIP: return (arity){1, v < 11 ? 1 : 3, 1, 1, 0, 0};
    case KILN_OP_ERF: return (arity){1, 1, 1, 1, 9, 0};
    case KILN_OP_HARD_SWISH: return (arity){1, 1, 1, 1, 14, 0};
    case KILN_OP_CONSTANT_OF_SHAPE: return (arity){1, 1, 1, 1, 9, 0};
    case KILN_OP_MAXPOOL: return (arity){1, 1, v < 8 ? 1 : 2, 1, 0, 0};
    case KILN_OP_GEMM: return (arity){v < 11 ? 3 : 2, 3, 1, 1, 0, 0};
    case KILN_OP_CONCAT:
    case KILN_OP_MIN:
    case KILN_OP_MAX: return (arity){1, -1, 1, 1, 0, 0}; /* variadic */
    case KILN_OP_SPLIT: return (arity){1, v < 13 ? 1 : 2, -1, -1, 0, 0};
    case KILN_OP_SQUEEZE: return (arity){1, v < 13 ? 1 : 2, 1, 1, 0, 0};
    case KILN_OP_UNSQUEEZE: return (arity){v < 13 ? 1 : 2, v < 13 ? 1 : 2, 1, 1, 0, 0};
    case KILN_OP_DROPOUT: return (arity){1, v < 12 ? 1 : 3, 2, 2, 0, 0};
    case KILN_OP_SLICE: return (arity){v < 10 ? 1 : 3, v < 10 ? 1 : 5, 1, 1, 0, 0};
    case KILN_OP_PAD: return (arity){v < 11 ? 1 : 2, v < 11 ? 1 : v < 18 ? 3 : 4, 1, 1, 0, 0};
    case KILN_OP_REDUCE_SUM: return (arity){1, v < 13 ? 1 : 2, 1, 1, 0, 0};
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: return (arity){1, v < 18 ? 1 : 2, 1, 1, 0, 0};
    case KILN_OP_RESIZE:
        /* Upsample: 7 takes scales as an attribute, 9 as an input; deprecated from 10. */
        if (upsample) return (arity){v < 9 ? 1 : 2, v < 9 ? 1 : 2, 1, 1, 7, 9};
        /* Resize-10: X, scales. From 11: X, roi, scales, sizes (roi and scales optional from 13;
           exporters leave them empty at 11 too, so only X is required). */
        return v < 11 ? (arity){2, 2, 1, 1, 10, 0} : (arity){1, 4, 1, 1, 10, 0};
    default: return (arity){1, 1, 1, 1, 0, 0}; /* unary ops, pools, Shape, Cast, ... */
    }
}

/* Used: some node reads it or it is a graph output. */
static int name_used(const kiln__onnx_ctx *c, const char *name) {
    return name && *name && kiln__onnx_map_get(&c->uses, name) > 0;
}

static kiln_status check_counts(const kiln__onnx_node *nd, const arity *ar, int *n_out) {
    const Onnx__NodeProto *np = nd->np;
    if (ar->since && nd->opset < ar->since)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "operator %s exists from opset %d",
                                   nd->op_type, ar->since);
    if (ar->until && nd->opset > ar->until)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "operator %s is deprecated after opset %d (use Resize)",
                                   nd->op_type, ar->until);
    int n_in = (int)np->n_input;
    if (n_in < ar->min_in || (ar->max_in >= 0 && n_in > ar->max_in)) {
        if (ar->max_in < 0)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "needs at least %d inputs, has %d",
                                       ar->min_in, n_in);
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "needs %d to %d inputs, has %d", ar->min_in,
                                   ar->max_in, n_in);
    }
    for (int i = 0; i < ar->min_in; i++)
        if (!np->input[i] || !*np->input[i])
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "required input %d is empty", i);
    int n = (int)np->n_output;
    if (n < 1) return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "node has no outputs");
    if (ar->max_out >= 0 && n > ar->max_out)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "has %d outputs, expected at most %d", n,
                                   ar->max_out);
    if (ar->keep_out < 0) {
        *n_out = n;
        return KILN_OK;
    }
    for (int j = ar->keep_out; j < n; j++)
        if (name_used(nd->c, np->output[j]))
            return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                       "output %d ('%s') is used, but kiln computes only the "
                                       "first %d output%s of %s",
                                       j, np->output[j], ar->keep_out, ar->keep_out > 1 ? "s" : "",
                                       nd->op_type);
    /* Trailing outputs nothing reads (an unused Dropout mask, say) are dropped. */
    if (n > ar->keep_out) n = ar->keep_out;
    while (n > 1 && !name_used(nd->c, np->output[n - 1])) n--;
    *n_out = n;
    return KILN_OK;
}

static kiln_status resolve_inputs(const kiln__onnx_node *nd, int *in) {
    for (int i = 0; i < nd->n_in; i++) {
        const char *s = nd->np->input[i];
        in[i] = -1; /* '' is an absent optional input */
        if (s && *s && (in[i] = kiln__onnx_tensor_ref(nd->c, s)) < 0)
            return kiln_err_set(nd->c->e, KILN_ERR_NOMEM, "out of memory");
    }
    return KILN_OK;
}

static kiln_status resolve_outputs(const kiln__onnx_node *nd, int n_out, int *out) {
    kiln__onnx_ctx *c = nd->c;
    for (int j = 0; j < n_out; j++) {
        const char *s = nd->np->output[j];
        int id;
        if (!s || !*s) { /* a fresh unnamed tensor */
            id = kiln_graph_add_tensor(c->g, NULL, KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
        } else {
            id = kiln__onnx_map_get(&c->names, s);
            if (id >= 0 && (kiln__onnx_is_produced(c, id) || c->g->t[id].kind != KILN_TENSOR_ACT))
                return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "output '%s' is already defined",
                                           s);
            if (id < 0) id = kiln__onnx_tensor_ref(c, s);
        }
        if (id < 0 || kiln__onnx_set_produced(c, id))
            return kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
        out[j] = id;
    }
    return KILN_OK;
}

static int default_domain(const char *d) { return !d || !*d || !strcmp(d, "ai.onnx"); }

kiln_status kiln__onnx_node_import(kiln__onnx_ctx *c, const Onnx__NodeProto *np, int index) {
    char namebuf[96];
    const char *op_type = np->op_type ? np->op_type : "";
    const char *name = np->name;
    if (!name || !*name) {
        snprintf(namebuf, sizeof namebuf, "%.64s_%d", *op_type ? op_type : "node", index);
        name = namebuf;
    }
    kiln__onnx_node nd = {c, np, name, *op_type ? op_type : "?", KILN_OP_COUNT, c->opset, 0,
                          NULL};
    if (!default_domain(np->domain))
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED,
                            "node '%s' (op %s, domain '%s'): operator domain '%s' not supported by "
                            "kiln (only the default ONNX domain is)",
                            name, op_type, np->domain, np->domain);
    if (!*op_type) return kiln__onnx_node_err(&nd, KILN_ERR_PARSE, "node has no op_type");
    if (!strcmp(op_type, "Constant")) return kiln__onnx_const_node(c, np, name);

    nd.op = kiln_op_from_onnx(op_type);
    /* kiln.* ops are the optimizer's, not ONNX's. */
    if (nd.op == KILN_OP_COUNT || strchr(op_type, '.'))
        return kiln__onnx_node_err(&nd, KILN_ERR_UNSUPPORTED, "operator not supported by kiln");
    arity ar = op_arity(nd.op, !strcmp(op_type, "Upsample"), c->opset);
    int n_out = 0;
    KILN_TRY(check_counts(&nd, &ar, &n_out));

    nd.n_in = (int)np->n_input;
    int *in = malloc(sizeof(int) * (size_t)(nd.n_in + 1));
    int *out = malloc(sizeof(int) * (size_t)(n_out + 1));
    kiln_status st = (in && out) ? KILN_OK : kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
    nd.in = in;
    kiln_attr a;
    if (st == KILN_OK) st = resolve_inputs(&nd, in);
    if (st == KILN_OK) {
        kiln_attr_default(nd.op, c->opset, &a);
        st = kiln__onnx_attrs(&nd, &a);
    }
    if (st == KILN_OK) st = resolve_outputs(&nd, n_out, out);
    if (st == KILN_OK) {
        int k = kiln_graph_add_node(c->g, nd.op, name, nd.n_in, in, n_out, out);
        if (k < 0) st = kiln_err_set(c->e, KILN_ERR_NOMEM, "out of memory");
        else {
            c->g->n[k].a = a;
            c->g->n[k].opset = c->opset;
        }
    }
    free(in);
    free(out);
    return st;
}
