/* fuse-residual: z = Add(layer(x), r) with matching shapes becomes the layer with r as its
 * residual input (input 3, has_residual), and an activation reading z joins it too. The ResNet
 * bottleneck thus runs as conv, conv, conv+add+relu. Layers: Conv, ConvTranspose, Gemm, MatMul
 * without an activation or residual yet (the activation applies after the residual). When both
 * Add inputs come from such layers the later one absorbs the Add, so r is already computed. */
#include <stdlib.h>

#include "opt/opt.h"
#include "opt/opt_util.h"

static int is_conv(const kiln_node *n) {
    return n->op == KILN_OP_CONV || n->op == KILN_OP_CONV_TRANSPOSE;
}

/* Index of the node producing x when it can take the Add as its residual, else -1. */
static int fusable_producer(const kiln_graph *g, int x, int add) {
    int p = kiln_graph_producer(g, x);
    if (p < 0 || kiln__opt_sole_reader(g, x) != add) return -1;
    const kiln_node *n = &g->n[p];
    if (n->n_out < 1 || n->out[0] != x) return -1;
    if (is_conv(n)) {
        if (n->a.conv.act.type != KILN_ACT_NONE || n->a.conv.has_residual) return -1;
    } else if (n->op == KILN_OP_GEMM || n->op == KILN_OP_MATMUL) {
        if (n->a.gemm.act.type != KILN_ACT_NONE || n->a.gemm.has_residual) return -1;
    } else {
        return -1;
    }
    return p;
}

kiln_status kiln_pass_fuse_residual(kiln_graph *g, kiln_err *e) {
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    if (!s.ok) return KILN_OK;
    int moved = 0;
    for (int k = 0; k < g->n_n; k++) {
        kiln_node *add = &g->n[k];
        if (add->op != KILN_OP_ADD || add->n_in != 2 || add->in[0] < 0 || add->in[1] < 0) continue;
        int a = add->in[0], b = add->in[1], z = add->out[0];
        if (a == b || a >= s.at[0].n || b >= s.at[0].n) continue;
        /* No broadcasting: the residual is read element for element. */
        if (!kiln__opt_same_shape(&s, a, b) || !kiln__opt_same_shape(&s, a, z) ||
            s.at[0].dt[a] != s.at[0].dt[b])
            continue;
        int pa = fusable_producer(g, a, k), pb = fusable_producer(g, b, k);
        if (pa < 0 && pb < 0) continue;
        int p = pa > pb ? pa : pb, r = p == pa ? b : a;
        kiln_node *n = &g->n[p];
        if (n->n_in < 4) {
            int *in = realloc(n->in, sizeof(int) * 4);
            if (!in) {
                kiln__opt_shapes_free(&s);
                return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory fusing '%s'", add->name);
            }
            for (int j = n->n_in; j < 4; j++) in[j] = -1;
            n->in = in;
            n->n_in = 4;
        }
        n->in[3] = r;
        if (is_conv(n)) n->a.conv.has_residual = 1;
        else n->a.gemm.has_residual = 1;
        n->out[0] = z;
        kiln__opt_label_append(n, "add");
        int pr = kiln_graph_producer(g, r);
        if (pr > p) moved = 1;
        kiln__opt_remove_node(g, k);
        if (p > k) p--;
        /* An activation on the sum joins too. */
        int ak = kiln__opt_sole_reader(g, z);
        kiln_act act;
        if (ak >= 0 && g->n[ak].in[0] == z && kiln__opt_node_act(g, &g->n[ak], &act)) {
            n = &g->n[p];
            if (is_conv(n)) n->a.conv.act = act;
            else n->a.gemm.act = act;
            n->out[0] = g->n[ak].out[0];
            kiln__opt_label_append(n, kiln__opt_act_label(&act));
            kiln__opt_remove_node(g, ak);
        }
        k--;
    }
    kiln__opt_shapes_free(&s);
    kiln_graph_compact(g);
    /* A residual produced after its layer: restore topological order (stable). */
    return moved ? kiln_graph_toposort(g, e) : KILN_OK;
}
