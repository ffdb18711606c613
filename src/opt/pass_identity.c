/* identity: remove nodes that compute nothing at inference time — Identity, Dropout (its mask
 * unread), Reshape/Flatten/Squeeze/Unsqueeze whose output has the input's shape at every batch,
 * Cast to the type the input already has, Transposes with the identity permutation, and pairs of
 * Transposes that undo each other. Readers are rewired to the input; graph outputs keep their
 * names (see kiln__opt_bypass). */
#include "opt/opt.h"
#include "opt/opt_util.h"

/* The permutation of a Transpose for rank r (nperm 0 reverses). */
static void perm_of(const kiln_node *n, int r, int64_t *p) {
    for (int i = 0; i < r; i++)
        p[i] = n->a.transpose.nperm ? n->a.transpose.perm[i] : r - 1 - i;
}

static int is_identity_perm(const int64_t *p, int r) {
    for (int i = 0; i < r; i++)
        if (p[i] != i) return 0;
    return 1;
}

/* The tensor node k can be replaced with (its input), or -1 when it does real work. */
static int noop_source(const kiln_graph *g, const kiln__opt_shapes *s, int k) {
    const kiln_node *n = &g->n[k];
    if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0) return -1;
    int x = n->in[0], y = n->out[0];
    switch (n->op) {
    case KILN_OP_IDENTITY: return x;
    case KILN_OP_DROPOUT:
        /* Inference: the output is the input; the mask output must be unused. */
        for (int j = 1; j < n->n_out; j++)
            if (n->out[j] >= 0 && kiln__opt_reads(g, n->out[j])) return -1;
        return x;
    case KILN_OP_RESHAPE:
    case KILN_OP_FLATTEN:
    case KILN_OP_SQUEEZE:
    case KILN_OP_UNSQUEEZE: return kiln__opt_same_shape(s, x, y) ? x : -1;
    case KILN_OP_CAST:
        return s->ok && s->at[0].dt[x] == (kiln_dtype)n->a.cast.to ? x : -1;
    case KILN_OP_TRANSPOSE: {
        if (!s->ok) return -1;
        int r = s->at[0].s[x].ndim;
        int64_t p[KILN_MAX_DIMS];
        perm_of(n, r, p);
        if (is_identity_perm(p, r)) return x;
        /* Transpose(Transpose(z, p1), p2) == z when p1[p2[j]] == j. */
        int pk = kiln_graph_producer(g, x);
        if (pk < 0 || g->n[pk].op != KILN_OP_TRANSPOSE || g->n[pk].in[0] < 0) return -1;
        int z = g->n[pk].in[0];
        if (s->at[0].s[z].ndim != r) return -1;
        int64_t p1[KILN_MAX_DIMS];
        perm_of(&g->n[pk], r, p1);
        for (int j = 0; j < r; j++)
            if (p1[p[j]] != j) return -1;
        return z;
    }
    default: return -1;
    }
}

kiln_status kiln_pass_identity(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln__opt_shapes s;
    kiln__opt_shapes_init(g, &s);
    /* Removing nodes keeps tensor ids, so the shapes stay valid throughout. */
    for (int k = 0; k < g->n_n; k++) {
        int src = noop_source(g, &s, k);
        if (src >= 0 && kiln__opt_bypass(g, k, src, g->n[k].out[0])) k--;
    }
    kiln__opt_shapes_free(&s);
    kiln_graph_compact(g);
    return KILN_OK;
}
