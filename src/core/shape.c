#include "core/shape.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/dtype.h"

kiln_infer_fn kiln_infer_lookup(kiln_op op) {
    kiln_infer_fn f = kiln_infer_nn_lookup(op);
    return f ? f : kiln_infer_tensor_lookup(op);
}

int64_t kiln_axis_norm(int64_t axis, int rank) {
    if (axis < 0) axis += rank;
    return (axis < 0 || axis >= rank) ? -1 : axis;
}

int kiln_shape_broadcast(const kiln_shape *a, const kiln_shape *b, kiln_shape *out) {
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    kiln_shape o;
    memset(&o, 0, sizeof o);
    o.ndim = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da == db || db == 1) o.d[i] = da;
        else if (da == 1) o.d[i] = db;
        else return 0;
    }
    *out = o;
    return 1;
}

void kiln_shapes_free(kiln_shapes *s) {
    if (!s) return;
    if (s->val)
        for (int i = 0; i < s->n; i++)
            if (s->own[i]) free(s->val[i]);
    free(s->s);
    free(s->dt);
    free(s->val);
    free(s->own);
    memset(s, 0, sizeof *s);
}

/* Shape's output value needs only the input's shape. */
static kiln_status shape_value(const kiln_node *n, const kiln_shape *in, const kiln_shape *out,
                               void **val) {
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(out->d[0] ? out->d[0] : 1));
    if (!v) return KILN_ERR_NOMEM;
    int64_t start = kiln_axis_norm(n->a.shape.start, in->ndim);
    if (n->a.shape.start >= in->ndim) start = in->ndim;
    if (start < 0) start = 0;
    for (int64_t i = 0; i < out->d[0]; i++) v[i] = in->d[start + i];
    *val = v;
    return KILN_OK;
}

kiln_status kiln_infer(const kiln_graph *g, const kiln_shape *inputs, kiln_shapes *out,
                       kiln_err *e) {
    memset(out, 0, sizeof *out);
    int nt = g->n_t;
    out->n = nt;
    out->s = calloc((size_t)nt + 1, sizeof(kiln_shape));
    out->dt = calloc((size_t)nt + 1, sizeof(kiln_dtype));
    out->val = calloc((size_t)nt + 1, sizeof(void *));
    out->own = calloc((size_t)nt + 1, 1);
    if (!out->s || !out->dt || !out->val || !out->own) {
        kiln_shapes_free(out);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory inferring shapes");
    }
    for (int i = 0; i < nt; i++) {
        const kiln_tensor *t = &g->t[i];
        out->s[i] = t->shape;
        out->dt[i] = t->dtype;
        /* An empty constant may have no data pointer; its (zero) values are still known. */
        static const int64_t empty_value;
        if (t->kind == KILN_TENSOR_CONST)
            out->val[i] = t->data ? t->data : (void *)&empty_value;
        else if (t->kind == KILN_TENSOR_ACT) out->s[i].ndim = -1;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        if (inputs && inputs[i].ndim >= 0) out->s[id] = inputs[i];
        if (kiln_shape_numel(&out->s[id]) < 0) {
            char buf[96];
            kiln_shapes_free(out);
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "input '%s' has unresolved dimensions (%s); give them with --shape",
                                g->t[id].name, kiln_shape_str(&g->t[id].shape, buf, sizeof buf));
        }
    }

    enum { MAXIO = 128 };
    kiln_shape ish[MAXIO], osh[MAXIO];
    kiln_dtype idt[MAXIO], odt[MAXIO];
    const void *ival[MAXIO];
    kiln_status st = KILN_OK;
    for (int k = 0; k < g->n_n && st == KILN_OK; k++) {
        const kiln_node *n = &g->n[k];
        if (n->n_in > MAXIO || n->n_out > MAXIO) {
            st = kiln_err_set(e, KILN_ERR_UNSUPPORTED, "node '%s' (%s): more than %d inputs",
                              n->name, kiln_op_name(n->op), MAXIO);
            break;
        }
        kiln_infer_fn f = kiln_infer_lookup((kiln_op)n->op);
        if (!f) {
            st = kiln_err_set(e, KILN_ERR_UNSUPPORTED, "node '%s': operator %s has no shape rule",
                              n->name, kiln_op_name(n->op));
            break;
        }
        int all_val = 1;
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            if (id < 0) {
                ish[j].ndim = -1;
                idt[j] = KILN_DTYPE_UNDEFINED;
                ival[j] = NULL;
                continue;
            }
            ish[j] = out->s[id];
            idt[j] = out->dt[id];
            ival[j] = out->val[id];
            if (!ival[j]) all_val = 0;
        }
        for (int j = 0; j < n->n_out; j++) {
            memset(&osh[j], 0, sizeof osh[j]);
            osh[j].ndim = -1;
            odt[j] = KILN_DTYPE_UNDEFINED;
        }
        kiln_infer_io io = {n, n->n_in, ish, idt, ival, n->n_out, osh, odt};
        st = f(&io, e);
        if (st != KILN_OK) {
            kiln_err_prefix(e, "node '%s' (%s)", n->name, kiln_op_name(n->op));
            break;
        }
        for (int j = 0; j < n->n_out; j++) {
            int id = n->out[j];
            if (id < 0) continue;
            /* Bound every size before anything multiplies it: crafted files (huge pads,
               strides of 0, ...) must fail here, not overflow later. */
            int64_t numel = 1;
            int too_big = 0;
            for (int d = 0; d < osh[j].ndim && !too_big; d++) {
                if (osh[j].d[d] > KILN_MAX_DIM_SIZE) too_big = 1;
                else if (osh[j].d[d] > 0 && numel > KILN_MAX_NUMEL / osh[j].d[d]) too_big = 1;
                else if (osh[j].d[d] >= 0) numel *= osh[j].d[d];
            }
            if (too_big) {
                char buf[160];
                st = kiln_err_set(e, KILN_ERR_SHAPE, "node '%s' (%s): output %d shape %s is too large",
                                  n->name, kiln_op_name(n->op), j,
                                  kiln_shape_str(&osh[j], buf, sizeof buf));
                break;
            }
            if (osh[j].ndim < 0 || kiln_shape_numel(&osh[j]) < 0) {
                st = kiln_err_set(e, KILN_ERR_INTERNAL, "node '%s' (%s): output %d shape unknown",
                                  n->name, kiln_op_name(n->op), j);
                break;
            }
            out->s[id] = osh[j];
            out->dt[id] = odt[j];
        }
        if (st != KILN_OK) break;

        /* Known values: Shape from shapes alone; others from known inputs via the CPU kernels. */
        if (n->op == KILN_OP_SHAPE && n->out[0] >= 0) {
            if (shape_value(n, &ish[0], &osh[0], &out->val[n->out[0]]) != KILN_OK) {
                st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
                break;
            }
            out->own[n->out[0]] = 1;
            continue;
        }
        if (!all_val || n->n_in == 0) continue;
        int small = 1;
        for (int j = 0; j < n->n_out; j++)
            if (kiln_shape_numel(&osh[j]) > KILN_SHAPE_VALUE_MAX) small = 0;
        if (!small) continue;
        kiln_view iv[MAXIO], ov[MAXIO];
        for (int j = 0; j < n->n_in; j++)
            iv[j] = (kiln_view){idt[j], ish[j], (void *)ival[j]};
        int ok = 1;
        for (int j = 0; j < n->n_out; j++) {
            size_t nb = (size_t)kiln_shape_numel(&osh[j]) * kiln_dtype_size(odt[j]);
            ov[j] = (kiln_view){odt[j], osh[j], malloc(nb ? nb : 1)};
            if (!ov[j].data) ok = 0;
        }
        kiln_err ce;
        if (ok && kiln_cpu_run_node(NULL, n, iv, ov, &ce) == KILN_OK) {
            for (int j = 0; j < n->n_out; j++) {
                if (n->out[j] < 0) {
                    free(ov[j].data);
                    continue;
                }
                out->val[n->out[j]] = ov[j].data;
                out->own[n->out[j]] = 1;
            }
        } else {
            /* Not computable here (e.g. no CPU kernel): the value stays unknown, and an op that
               needs it reports that itself. */
            for (int j = 0; j < n->n_out; j++) free(ov[j].data);
        }
    }
    if (st != KILN_OK) kiln_shapes_free(out);
    return st;
}
