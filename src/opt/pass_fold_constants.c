/* fold-constants: compute at build time what does not depend on the input.
 *
 * 1. A node whose inputs are all constants runs once now (CPU kernels, any size) and its outputs
 *    become constants.
 * 2. A node whose outputs shape inference could compute with the same value at two batch sizes
 *    (exporters' shape arithmetic such as Shape(x)[1:] or a Gather of a fixed dimension) is
 *    replaced by those values.
 * 3. A Reshape whose target is computed from Shape(x) and so depends on the batch (exporters'
 *    dynamic-batch pattern Shape -> Gather -> Unsqueeze -> Concat -> Reshape) gets a constant
 *    target that is right at every batch: the entries that vary become 0 (copy the input's
 *    dimension) or -1 (infer it). The shape sub-graph is then dead and goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "opt/opt.h"
#include "opt/opt_util.h"

/* Largest constant folded from constant inputs (bigger results stay computed at run time). */
#define FOLD_MAX_BYTES ((size_t)256 << 20)

static size_t value_bytes(const kiln_shape *s, kiln_dtype t) {
    int64_t n = kiln_shape_numel(s);
    return n < 0 ? 0 : (size_t)n * kiln_dtype_size(t);
}

static int all_inputs_const(const kiln_graph *g, const kiln_node *n) {
    int any = 0;
    for (int j = 0; j < n->n_in; j++) {
        if (n->in[j] < 0) continue;
        if (g->t[n->in[j]].kind != KILN_TENSOR_CONST || !g->t[n->in[j]].data) return 0;
        any = 1;
    }
    return any;
}

/* Case 1: run node k on its constant inputs. Returns 1 when its outputs became constants. */
static int fold_const_inputs(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    const kiln_node *n = &g->n[k];
    enum { MAXIO = 32 };
    if (n->n_in > MAXIO || n->n_out > MAXIO || !kiln_cpu_lookup((kiln_op)n->op)) return 0;
    kiln_view in[MAXIO], out[MAXIO];
    for (int j = 0; j < n->n_in; j++) {
        int id = n->in[j];
        if (id < 0) in[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
        else in[j] = (kiln_view){g->t[id].dtype, g->t[id].shape, g->t[id].data};
    }
    int ok = 1;
    for (int j = 0; j < n->n_out; j++) {
        int id = n->out[j];
        out[j].data = NULL;
        if (id < 0 || id >= s->at[0].n) {
            ok = 0;
            continue;
        }
        out[j].dtype = s->at[0].dt[id];
        out[j].shape = s->at[0].s[id];
        size_t nb = value_bytes(&out[j].shape, out[j].dtype);
        if (!kiln_shape_eq(&s->at[0].s[id], &s->at[1].s[id]) || nb > FOLD_MAX_BYTES ||
            !(out[j].data = malloc(nb ? nb : 1)))
            ok = 0;
    }
    kiln_err ce;
    if (ok) ok = kiln_cpu_run_node(NULL, n, in, out, &ce) == KILN_OK;
    for (int j = 0; j < n->n_out && ok; j++) {
        kiln_tensor *t = &g->t[n->out[j]];
        t->kind = KILN_TENSOR_CONST;
        t->dtype = out[j].dtype;
        t->shape = out[j].shape;
        t->data = out[j].data;
        t->owns_data = 1;
        out[j].data = NULL;
    }
    for (int j = 0; j < n->n_out; j++) free(out[j].data);
    return ok;
}

/* Case 2: every output's value is known and the same at both batches. */
static int fold_known_values(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    const kiln_node *n = &g->n[k];
    if (n->n_in == 0) return 0;
    for (int j = 0; j < n->n_out; j++) {
        int id = n->out[j];
        if (id < 0 || id >= s->at[0].n) return 0;
        const void *a = s->at[0].val[id], *b = s->at[1].val[id];
        if (!a || !b || s->at[0].dt[id] != s->at[1].dt[id] ||
            !kiln_shape_eq(&s->at[0].s[id], &s->at[1].s[id]))
            return 0;
        if (memcmp(a, b, value_bytes(&s->at[0].s[id], s->at[0].dt[id]))) return 0;
    }
    enum { MAXOUT = 32 };
    void *copy[MAXOUT];
    if (n->n_out > MAXOUT) return 0;
    for (int j = 0; j < n->n_out; j++) {
        size_t nb = value_bytes(&s->at[0].s[n->out[j]], s->at[0].dt[n->out[j]]);
        if (!(copy[j] = malloc(nb ? nb : 1))) {
            while (j--) free(copy[j]);
            return 0;
        }
        memcpy(copy[j], s->at[0].val[n->out[j]], nb);
    }
    for (int j = 0; j < n->n_out; j++) {
        kiln_tensor *t = &g->t[n->out[j]];
        t->kind = KILN_TENSOR_CONST;
        t->dtype = s->at[0].dt[n->out[j]];
        t->shape = s->at[0].s[n->out[j]];
        t->data = copy[j];
        t->owns_data = 1;
    }
    return 1;
}

/* Reshape's rule (as in src/core/infer_shape_ops.c), to check a rewritten target. */
static int reshape_result(const kiln_shape *in, const int64_t *t, int k, int allowzero,
                          kiln_shape *o) {
    *o = kiln_shape_make(k, t);
    int at = -1;
    int64_t known = 1;
    for (int i = 0; i < k; i++) {
        if (t[i] == -1) {
            if (at >= 0) return 0;
            at = i;
            continue;
        }
        if (t[i] < -1) return 0;
        if (t[i] == 0 && !allowzero) {
            if (i >= in->ndim) return 0;
            o->d[i] = in->d[i];
        }
        known *= o->d[i];
    }
    int64_t numel = kiln_shape_numel(in);
    if (at >= 0) {
        if (known == 0 || numel % known) return 0;
        o->d[at] = numel / known;
        known = numel;
    }
    return known == numel;
}

/* Case 3: a Reshape whose target varies with the batch. */
static int fix_reshape_target(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    kiln_node *n = &g->n[k];
    if (n->op != KILN_OP_RESHAPE || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0) return 0;
    int x = n->in[0], sh = n->in[1], y = n->out[0];
    if (g->t[sh].kind == KILN_TENSOR_CONST || sh >= s->at[0].n) return 0;
    const void *va = s->at[0].val[sh], *vb = s->at[1].val[sh];
    kiln_dtype dt = s->at[0].dt[sh];
    if (!va || !vb || (dt != KILN_I64 && dt != KILN_I32)) return 0;
    int64_t len = kiln_shape_numel(&s->at[0].s[sh]);
    if (len < 0 || len > KILN_MAX_DIMS || len != kiln_shape_numel(&s->at[1].s[sh])) return 0;
    int allowzero = n->a.reshape.allowzero;
    int64_t t[KILN_MAX_DIMS];
    int varying = -1, n_vary = 0, has_minus = 0;
    for (int i = 0; i < len; i++) {
        int64_t a = dt == KILN_I64 ? ((const int64_t *)va)[i] : ((const int32_t *)va)[i];
        int64_t b = dt == KILN_I64 ? ((const int64_t *)vb)[i] : ((const int32_t *)vb)[i];
        t[i] = a;
        if (a == -1) has_minus = 1;
        if (a == b) continue;
        n_vary++;
        /* A dimension copied from the input at both batches: 0 says exactly that. */
        if (!allowzero && i < s->at[0].s[x].ndim && a == s->at[0].s[x].d[i] &&
            b == s->at[1].s[x].d[i]) {
            t[i] = 0;
            continue;
        }
        varying = i;
        t[i] = -2; /* decided below */
    }
    if (n_vary == 0) return 0;
    if (varying >= 0) {
        /* One entry left that is not a copy: let Reshape infer it, if nothing else is -1. */
        int left = 0;
        for (int i = 0; i < len; i++) left += t[i] == -2;
        if (left != 1 || has_minus) return 0;
        t[varying] = -1;
    }
    for (int b = 0; b < 2; b++) {
        kiln_shape o;
        if (!reshape_result(&s->at[b].s[x], t, (int)len, allowzero, &o) ||
            !kiln_shape_eq(&o, &s->at[b].s[y]))
            return 0;
    }
    int64_t *data = malloc(sizeof(int64_t) * (size_t)(len ? len : 1));
    if (!data) return 0;
    memcpy(data, t, sizeof(int64_t) * (size_t)len);
    kiln_shape cs = kiln_shape_make(1, &len);
    char name[256];
    snprintf(name, sizeof name, "%s.shape", n->name ? n->name : "reshape");
    int c = kiln_graph_add_const(g, name, KILN_I64, &cs, data, 1);
    if (c < 0) return 0;
    g->n[k].in[1] = c;
    return 1;
}

kiln_status kiln_pass_fold_constants(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    if (!s.ok) return KILN_OK;
    for (int k = 0; k < g->n_n; k++) {
        if (all_inputs_const(g, &g->n[k]) ? fold_const_inputs(g, &s, k)
                                          : fold_known_values(g, &s, k)) {
            kiln__opt_remove_node(g, k);
            k--;
            continue;
        }
        fix_reshape_target(g, &s, k);
    }
    kiln__opt_shapes_free(&s);
    kiln_graph_compact(g);
    return KILN_OK;
}
