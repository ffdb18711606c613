/* fold-pad: a constant-mode Pad of the spatial dimensions whose only reader is a Conv (pad value
 * 0), an AveragePool (value 0: the padded zeros then count, count_include_pad = 1) or a MaxPool
 * (value -inf) becomes that layer's own padding. Exporters emit this for TensorFlow-style
 * asymmetric "same" padding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/tensor_params.h"
#include "opt/opt.h"
#include "opt/opt_util.h"

/* The pad value of node n: attribute form, or the optional constant input 2. */
static int pad_value(const kiln_graph *g, const kiln_node *n, double *v) {
    *v = n->a.pad.npads ? n->a.pad.value : 0.0;
    if (n->n_in > 2 && n->in[2] >= 0) {
        const kiln_tensor *t = &g->t[n->in[2]];
        if (t->kind != KILN_TENSOR_CONST || !t->data || kiln_shape_numel(&t->shape) != 1) return 0;
        *v = kiln_elem_get(t->data, t->dtype, 0);
    }
    return 1;
}

static int prepend_label(kiln_node *n, const char *part) {
    char base[128];
    const char *cur = n->label;
    if (!cur) {
        kiln__opt_base_label(n, base, sizeof base);
        cur = base;
    }
    size_t len = strlen(part) + 1 + strlen(cur) + 1;
    char *l = malloc(len);
    if (!l) return 0;
    snprintf(l, len, "%s+%s", part, cur);
    free(n->label);
    n->label = l;
    return 1;
}

/* Try to fold Pad node k into its reader; 1 when done. */
static int fold_one(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    const kiln_node *pad = &g->n[k];
    if (pad->a.pad.mode != KILN_PAD_CONSTANT || pad->n_in < 1 || pad->in[0] < 0) return 0;
    int x = pad->in[0], y = pad->out[0];
    if (x >= s->at[0].n) return 0;
    int r = s->at[0].s[x].ndim;
    if (r < 3 || r - 2 > KILN_MAX_SPATIAL) return 0;
    /* Resolve the pads from the attribute or the constant inputs. */
    enum { MAXIN = 4 };
    kiln_view in[MAXIN];
    int nin = pad->n_in < MAXIN ? pad->n_in : MAXIN;
    for (int j = 0; j < nin; j++) {
        int id = pad->in[j];
        if (id < 0) in[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
        else if (j == 0) in[j] = (kiln_view){s->at[0].dt[id], s->at[0].s[id], NULL};
        else if (g->t[id].kind == KILN_TENSOR_CONST)
            in[j] = (kiln_view){g->t[id].dtype, g->t[id].shape, g->t[id].data};
        else return 0;
    }
    kiln_pad_plan pp;
    kiln_err ce;
    if (kiln_pad_resolve(pad, nin, in, &pp, &ce) != KILN_OK) return 0;
    if (pp.begin[0] || pp.end[0] || pp.begin[1] || pp.end[1]) return 0;
    for (int i = 2; i < r; i++)
        if (pp.begin[i] < 0 || pp.end[i] < 0) return 0;
    double value;
    if (!pad_value(g, pad, &value)) return 0;
    int ck = kiln__opt_sole_reader(g, y);
    if (ck < 0 || g->n[ck].in[0] != y) return 0;
    kiln_node *c = &g->n[ck];
    int64_t *pb, *pe;
    if (c->op == KILN_OP_CONV) {
        if (value != 0.0 || c->a.conv.auto_pad != KILN_AUTOPAD_NOTSET ||
            c->a.conv.nspatial != r - 2)
            return 0;
        pb = c->a.conv.pad_begin;
        pe = c->a.conv.pad_end;
    } else if (c->op == KILN_OP_AVGPOOL || c->op == KILN_OP_MAXPOOL) {
        kiln_pool_attr *pa = &c->a.pool;
        if (pa->auto_pad != KILN_AUTOPAD_NOTSET || pa->nspatial != r - 2 || pa->ceil_mode) return 0;
        int own = 0;
        for (int i = 0; i < pa->nspatial; i++) own |= pa->pad_begin[i] || pa->pad_end[i];
        if (c->op == KILN_OP_MAXPOOL) {
            if (!(isinf(value) && value < 0)) return 0;
        } else {
            /* Padded zeros are averaged in; the pool's own padding must count the same way. */
            if (value != 0.0 || (own && !pa->count_include_pad)) return 0;
            pa->count_include_pad = 1;
        }
        pb = pa->pad_begin;
        pe = pa->pad_end;
    } else {
        return 0;
    }
    for (int i = 0; i < r - 2; i++) {
        pb[i] += pp.begin[i + 2];
        pe[i] += pp.end[i + 2];
    }
    c->in[0] = x;
    prepend_label(c, "pad");
    kiln__opt_remove_node(g, k);
    return 1;
}

kiln_status kiln_pass_fold_pad(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    if (!s.ok) return KILN_OK;
    for (int k = 0; k < g->n_n; k++)
        if (g->n[k].op == KILN_OP_PAD && fold_one(g, &s, k)) k--;
    kiln__opt_shapes_free(&s);
    kiln_graph_compact(g);
    return KILN_OK;
}
