/* fuse-activation: fold what follows a Conv, ConvTranspose, Gemm or MatMul into it.
 *
 * - bias: Add of a per-channel constant (Conv: [C], [C,1,1], [1,C,1,1]; Gemm/MatMul: [N], [1,N])
 *   joins the layer's bias; a 2-D MatMul with constant weights becomes a Gemm to take it;
 * - activation: Relu, Clip (ReLU6), LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh set the
 *   layer's fused act (applied after bias and residual);
 * - SiLU: Mul(x, Sigmoid(x)) on the layer's output sets act = SiLU.
 * The layer then writes the fused node's output itself; labels record the parts. */
#include <stdlib.h>
#include <string.h>

#include "opt/opt.h"
#include "opt/opt_util.h"

static int is_layer(const kiln_node *n) {
    return n->op == KILN_OP_CONV || n->op == KILN_OP_CONV_TRANSPOSE || n->op == KILN_OP_GEMM ||
           n->op == KILN_OP_MATMUL;
}

static kiln_act *layer_act(kiln_node *n) {
    return n->op == KILN_OP_CONV || n->op == KILN_OP_CONV_TRANSPOSE ? &n->a.conv.act
                                                                     : &n->a.gemm.act;
}

static int layer_has_residual(const kiln_node *n) {
    return n->op == KILN_OP_CONV || n->op == KILN_OP_CONV_TRANSPOSE ? n->a.conv.has_residual
                                                                     : n->a.gemm.has_residual;
}

/* Node `after` (reading the layer's output y) is gone: the layer writes `out` instead. */
static void absorb(kiln_graph *g, int k, int after, int out, const char *part) {
    g->n[k].out[0] = out;
    kiln__opt_label_append(&g->n[k], part);
    kiln__opt_remove_node(g, after);
}

/* Values of constant c when it broadcasts as one value per channel `axis` of a rank-r output
   with `ch` channels; NULL otherwise. */
static const float *per_channel(const kiln_graph *g, int c, int r, int axis, int64_t ch) {
    if (!kiln__opt_is_const_f32(g, c)) return NULL;
    const kiln_shape *s = &g->t[c].shape;
    if (s->ndim > r) return NULL;
    int64_t numel = kiln_shape_numel(s);
    if (numel != ch && numel != 1) return NULL;
    for (int i = 0; i < s->ndim; i++) {
        int at = r - s->ndim + i; /* numpy alignment from the right */
        if (s->d[i] != 1 && at != axis) return NULL;
    }
    return g->t[c].data;
}

static int grow_inputs(kiln_node *n, int want) {
    if (n->n_in >= want) return 1;
    int *in = realloc(n->in, sizeof(int) * (size_t)want);
    if (!in) return 0;
    for (int j = n->n_in; j < want; j++) in[j] = -1;
    n->in = in;
    n->n_in = want;
    return 1;
}

/* Bias: y = layer(x); z = y + c. */
static int try_bias(kiln_graph *g, const kiln__opt_shapes *s, int k) {
    kiln_node *n = &g->n[k];
    if (layer_act(n)->type != KILN_ACT_NONE || layer_has_residual(n) || !s->ok) return 0;
    int y = n->out[0];
    int ak = kiln__opt_sole_reader(g, y);
    if (ak < 0 || g->n[ak].op != KILN_OP_ADD || g->n[ak].n_in != 2) return 0;
    int c = g->n[ak].in[0] == y ? g->n[ak].in[1] : g->n[ak].in[0];
    if (c == y || y >= s->at[0].n) return 0;
    int r = s->at[0].s[y].ndim;
    if (r < 2) return 0;
    int conv = n->op == KILN_OP_CONV || n->op == KILN_OP_CONV_TRANSPOSE;
    int axis = conv ? 1 : r - 1;
    int64_t ch = s->at[0].s[y].d[axis];
    const float *cv = per_channel(g, c, r, axis, ch);
    if (!cv) return 0;
    int64_t cn = kiln_shape_numel(&g->t[c].shape);
    int is_matmul = n->op == KILN_OP_MATMUL;
    if (is_matmul) {
        /* Only a plain 2-D product with constant weights turns into a Gemm. */
        if (r != 2 || n->n_in != 2 || s->at[0].s[n->in[0]].ndim != 2 ||
            !kiln__opt_is_const_f32(g, n->in[1]) || g->t[n->in[1]].shape.ndim != 2)
            return 0;
    }
    if (!conv && !is_matmul && n->n_in > 2 && n->in[2] >= 0) {
        /* Gemm with C: only a per-column C can absorb the add. */
        if (!per_channel(g, n->in[2], 2, 1, ch)) return 0;
    }
    if (conv && n->n_in > 2 && n->in[2] >= 0 && !kiln__opt_is_const_f32(g, n->in[2])) return 0;
    float *nb = malloc(sizeof(float) * (size_t)(ch ? ch : 1));
    if (!nb) return 0;
    int old = n->n_in > 2 ? n->in[2] : -1;
    const float *ob = old >= 0 ? g->t[old].data : NULL;
    int64_t on = old >= 0 ? kiln_shape_numel(&g->t[old].shape) : 0;
    double beta = conv || is_matmul ? 1.0 : (double)n->a.gemm.beta;
    for (int64_t i = 0; i < ch; i++)
        nb[i] = (float)((ob ? beta * (double)ob[on == 1 ? 0 : i] : 0.0) +
                        (double)cv[cn == 1 ? 0 : i]);
    kiln_shape bs = kiln_shape_make(1, &ch);
    int bid = kiln__opt_add_const_f32(g, n->name, ".bias", &bs, nb);
    n = &g->n[k];
    if (bid < 0 || !grow_inputs(n, 3)) return 0;
    n->in[2] = bid;
    if (is_matmul) {
        char base[32];
        kiln__opt_base_label(n, base, sizeof base);
        if (!n->label) n->label = strdup(base);
        kiln_act act = n->a.gemm.act;
        n->op = KILN_OP_GEMM;
        kiln_attr_default(KILN_OP_GEMM, n->opset ? n->opset : 17, &n->a);
        n->a.gemm.act = act;
    } else if (!conv) {
        n->a.gemm.beta = 1.0f;
    }
    absorb(g, k, ak, g->n[ak].out[0], "bias");
    return 1;
}

/* Activation: z = act(layer(x)). */
static int try_act(kiln_graph *g, int k) {
    kiln_node *n = &g->n[k];
    if (layer_act(n)->type != KILN_ACT_NONE) return 0;
    int ak = kiln__opt_sole_reader(g, n->out[0]);
    kiln_act act;
    if (ak < 0 || g->n[ak].in[0] != n->out[0] || !kiln__opt_node_act(g, &g->n[ak], &act)) return 0;
    *layer_act(n) = act;
    absorb(g, k, ak, g->n[ak].out[0], kiln__opt_act_label(&act));
    return 1;
}

/* SiLU: z = y * sigmoid(y) with y the layer's output read by exactly those two nodes. */
static int try_silu(kiln_graph *g, int k) {
    kiln_node *n = &g->n[k];
    int y = n->out[0];
    if (layer_act(n)->type != KILN_ACT_NONE || g->t[y].is_output) return 0;
    int sk = -1, mk = -1, reads = 0;
    for (int i = 0; i < g->n_n; i++)
        for (int j = 0; j < g->n[i].n_in; j++) {
            if (g->n[i].in[j] != y) continue;
            reads++;
            if (g->n[i].op == KILN_OP_SIGMOID) sk = i;
            else if (g->n[i].op == KILN_OP_MUL) mk = i;
        }
    if (reads != 2 || sk < 0 || mk < 0 || g->n[mk].n_in != 2) return 0;
    int sig = g->n[sk].out[0];
    const kiln_node *m = &g->n[mk];
    if (!((m->in[0] == y && m->in[1] == sig) || (m->in[0] == sig && m->in[1] == y))) return 0;
    if (kiln__opt_sole_reader(g, sig) != mk) return 0;
    layer_act(n)->type = KILN_ACT_SILU;
    n->out[0] = g->n[mk].out[0];
    kiln__opt_label_append(n, "silu");
    /* Remove the later index first so the earlier stays valid. */
    int a = sk > mk ? sk : mk, b = sk > mk ? mk : sk;
    kiln__opt_remove_node(g, a);
    kiln__opt_remove_node(g, b);
    return 1;
}

kiln_status kiln_pass_fuse_activation(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    for (int k = 0; k < g->n_n; k++) {
        if (!is_layer(&g->n[k]) || g->n[k].n_out < 1 || g->n[k].out[0] < 0) continue;
        /* Fused nodes come after the layer, so removing them keeps k valid. */
        while (try_bias(g, &s, k) || try_act(g, k) || try_silu(g, k)) {
        }
    }
    kiln__opt_shapes_free(&s);
    kiln_graph_compact(g);
    return KILN_OK;
}
