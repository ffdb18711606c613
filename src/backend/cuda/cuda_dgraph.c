/* cuda_dgraph.c — the device graph, batch buckets, and where every tensor lives.
 *
 * The device graph is e->g with one fusion the optimizer leaves to backends: a ScaleShift (a
 * batch norm that could not fold, DenseNet's pre-activation) followed by its only reader, an
 * activation, becomes one node writing the activation's output. Everything else is e->g's.
 * Planning memory on the device graph (not e->g) keeps the planner's lifetimes true to what runs.
 *
 * Phys views (cuda_engine.h): pass 1 gives every tensor its phys extent from its producer (view
 * ops and activations keep their input's, channel slices and everything else get the natural
 * one); pass 2 places it: planned arena storage, dense or as a channel slice of its root.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_engine.h"
#include "core/dtype.h"
#include "core/nn_window.h"

/* ---- activations as kiln_act --------------------------------------------------------------- */

/* Scalar float constant input i of n (absent: 0 and *present = 0). */
static int const_scalar(const kiln_graph *g, const kiln_node *n, int i, float *v, int *present) {
    *present = 0;
    if (i >= n->n_in || n->in[i] < 0) return 1;
    const kiln_tensor *t = &g->t[n->in[i]];
    if (t->kind != KILN_TENSOR_CONST || t->dtype != KILN_F32 || !t->data ||
        kiln_shape_numel(&t->shape) != 1)
        return 0;
    *v = *(const float *)t->data;
    *present = 1;
    return 1;
}

/* 1 when n is a unary activation kiln_act can express (with constant parameters). */
int cu_act_of_node(const kiln_graph *g, const kiln_node *n, kiln_act *a) {
    memset(a, 0, sizeof *a);
    const kiln_unary_attr *u = &n->a.unary;
    switch (n->op) {
    case KILN_OP_RELU: a->type = KILN_ACT_RELU; return 1;
    case KILN_OP_SIGMOID: a->type = KILN_ACT_SIGMOID; return 1;
    case KILN_OP_TANH: a->type = KILN_ACT_TANH; return 1;
    case KILN_OP_HARD_SWISH: a->type = KILN_ACT_HARD_SWISH; return 1;
    case KILN_OP_LEAKY_RELU:
        a->type = KILN_ACT_LEAKY_RELU;
        a->alpha = u->alpha;
        return 1;
    case KILN_OP_HARD_SIGMOID:
        a->type = KILN_ACT_HARD_SIGMOID;
        a->alpha = u->alpha;
        a->beta = u->beta;
        return 1;
    case KILN_OP_CLIP: {
        float lo = -FLT_MAX, hi = FLT_MAX, v;
        int present;
        if (u->has_min) lo = u->min;
        if (u->has_max) hi = u->max;
        if (!const_scalar(g, n, 1, &v, &present)) return 0;
        if (present) lo = v;
        if (!const_scalar(g, n, 2, &v, &present)) return 0;
        if (present) hi = v;
        a->type = KILN_ACT_CLIP;
        a->alpha = lo;
        a->beta = hi;
        return 1;
    }
    default: return 0;
    }
}

/* ---- the device graph ---------------------------------------------------------------------- */

static int readers(const kiln_graph *g, int t, int *only) {
    int c = 0;
    for (int k = 0; k < g->n_n; k++)
        for (int j = 0; j < g->n[k].n_in; j++)
            if (g->n[k].in[j] == t) {
                c++;
                *only = k;
            }
    return c;
}

void cu_dgraph_free(cu_dgraph *dg) {
    if (!dg) return;
    /* Output arrays of fused nodes were allocated here (see cu_dgraph_build). */
    if (dg->g.n && dg->orig)
        for (int k = 0; k < dg->g.n_n; k++)
            if (dg->fused_act[k].type != KILN_ACT_NONE) free(dg->g.n[k].out);
    free(dg->g.n);
    free(dg->orig);
    free(dg->fused_act);
    free(dg->node_of_orig);
    memset(dg, 0, sizeof *dg);
}

kiln_status cu_dgraph_build(const kiln_graph *g, cu_dgraph *dg, kiln_err *e) {
    memset(dg, 0, sizeof *dg);
    dg->g = *g;
    size_t nn = (size_t)g->n_n + 1;
    dg->g.n = calloc(nn, sizeof(kiln_node));
    dg->orig = calloc(nn, sizeof(int));
    dg->fused_act = calloc(nn, sizeof(kiln_act));
    dg->node_of_orig = calloc(nn, sizeof(int));
    if (!dg->g.n || !dg->orig || !dg->fused_act || !dg->node_of_orig) {
        cu_dgraph_free(dg);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory (device graph)");
    }
    unsigned char *absorbed = calloc(nn, 1);
    if (!absorbed) {
        cu_dgraph_free(dg);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory (device graph)");
    }
    int m = 0;
    for (int k = 0; k < g->n_n; k++) {
        dg->node_of_orig[k] = -1;
        if (absorbed[k]) continue;
        const kiln_node *n = &g->n[k];
        dg->g.n[m] = *n;
        dg->orig[m] = k;
        dg->node_of_orig[k] = m;
        /* ScaleShift -> activation (its only reader) becomes one node. */
        int t = n->n_out == 1 ? n->out[0] : -1, j = -1;
        kiln_act act;
        if (n->op == KILN_OP_SCALE_SHIFT && t >= 0 && !g->t[t].is_output &&
            readers(g, t, &j) == 1 && j > k && g->n[j].n_in >= 1 && g->n[j].in[0] == t &&
            g->n[j].n_out == 1 && cu_act_of_node(g, &g->n[j], &act)) {
            int *out = malloc(sizeof(int));
            if (!out) {
                free(absorbed);
                cu_dgraph_free(dg);
                return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory (device graph)");
            }
            out[0] = g->n[j].out[0];
            dg->g.n[m].out = out;
            dg->fused_act[m] = act;
            absorbed[j] = 1;
            dg->node_of_orig[j] = m;
            /* NB: nodes between k and j do not read t (j is its only reader), so moving j's
               work up to k keeps the order topological; j's own inputs are t and constants. */
            int ok = 1;
            for (int q = 1; q < g->n[j].n_in; q++)
                if (g->n[j].in[q] >= 0 && g->t[g->n[j].in[q]].kind != KILN_TENSOR_CONST) ok = 0;
            if (!ok) { /* undo: a Clip with run-time bounds */
                free(out);
                dg->g.n[m].out = n->out;
                dg->fused_act[m].type = KILN_ACT_NONE;
                absorbed[j] = 0;
                dg->node_of_orig[j] = -1;
            }
        }
        m++;
    }
    free(absorbed);
    dg->g.n_n = m;
    dg->g.cap_n = m;
    return KILN_OK;
}

/* ---- buckets ------------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int cu_buckets_choose(int64_t bmin, int64_t bopt, int64_t bmax, int has_batch, int64_t *out) {
    if (!has_batch) {
        out[0] = 0;
        return 1;
    }
    /* cuDNN plans are built for one batch each; a batch runs in the smallest bucket that holds
       it (padded with zero rows). min, opt and max: the profile's ends are always exact, and
       opt, the batch the user tunes for, too. */
    int64_t v[3] = {bmin, bopt, bmax};
    qsort(v, 3, sizeof v[0], cmp_i64);
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (v[i] >= 1 && (n == 0 || out[n - 1] != v[i])) out[n++] = v[i];
    return n;
}

/* ---- phys views ---------------------------------------------------------------------------- */

void cu_natural(const kiln_shape *s, int *n, int *h, int *w, int *c) {
    int r = s->ndim;
    *n = *h = *w = *c = 1;
    if (r <= 0) return;
    if (r == 1) {
        *c = (int)s->d[0];
        return;
    }
    *n = (int)s->d[0];
    if (r == 4) {
        *c = (int)s->d[1];
        *h = (int)s->d[2];
        *w = (int)s->d[3];
        return;
    }
    int64_t rest = 1;
    for (int i = 1; i < r; i++) rest *= s->d[i];
    *c = (int)rest;
}

static int is_float(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

kiln_dtype cu_dev_dtype(const cu_engine *s, kiln_dtype t) { return is_float(t) ? s->dt : t; }

size_t cu_view_bytes(const cu_view *v) {
    return (size_t)v->n * (size_t)v->h * (size_t)v->w * (size_t)v->pitch * kiln_dtype_size(v->dt);
}

static int is_view_op(int op) {
    return op == KILN_OP_RESHAPE || op == KILN_OP_FLATTEN || op == KILN_OP_SQUEEZE ||
           op == KILN_OP_UNSQUEEZE || op == KILN_OP_IDENTITY || op == KILN_OP_DROPOUT;
}

static int is_unary_act(int op) {
    return op == KILN_OP_RELU || op == KILN_OP_LEAKY_RELU || op == KILN_OP_CLIP ||
           op == KILN_OP_SIGMOID || op == KILN_OP_HARD_SIGMOID || op == KILN_OP_HARD_SWISH ||
           op == KILN_OP_TANH;
}

/* Channel shuffle: Transpose(perm 0,2,1,3,4) of [N, g, C/g, H, W] whose input lives as the
   NHWC map N,H,W,C. */
int cu_is_shuffle(const kiln_node *n, const kiln_shapes *sh, const cu_tinfo *ti, int *groups) {
    if (n->op != KILN_OP_TRANSPOSE || n->n_in < 1 || n->in[0] < 0 || n->out[0] < 0) return 0;
    const kiln_transpose_attr *a = &n->a.transpose;
    static const int64_t perm[5] = {0, 2, 1, 3, 4};
    if (a->nperm != 5) return 0;
    for (int i = 0; i < 5; i++)
        if (a->perm[i] != perm[i]) return 0;
    const kiln_shape *x = &sh->s[n->in[0]];
    const cu_tinfo *t = &ti[n->in[0]];
    if (x->ndim != 5 || t->where != CU_W_DEV) return 0;
    const cu_view *v = &t->v;
    if (v->n != x->d[0] || v->c != x->d[1] * x->d[2] || v->h != x->d[3] || v->w != x->d[4])
        return 0;
    *groups = (int)x->d[1];
    return 1;
}

static void set_dims(cu_tinfo *t, int n, int h, int w, int c, const kiln_shape *logical) {
    int nn, nh, nw, nc;
    cu_natural(logical, &nn, &nh, &nw, &nc);
    t->v.n = n;
    t->v.h = h;
    t->v.w = w;
    t->v.c = c;
    t->natural = n == nn && h == nh && w == nw && c == nc;
}

static void set_natural(cu_tinfo *t, const kiln_shape *logical) {
    int n, h, w, c;
    cu_natural(logical, &n, &h, &w, &c);
    set_dims(t, n, h, w, c, logical);
}

/* Pass 1: phys extent of every tensor at one bucket (producers decide, see the file comment). */
static void phys_dims(const cu_engine *s, cu_bucket *b) {
    const kiln_graph *g = &s->dg.g;
    const kiln_shapes *sh = &b->shapes;
    const kiln_memplan *p = &s->plan;
    for (int i = 0; i < g->n_inputs; i++) {
        int t = g->inputs[i];
        cu_tinfo *ti = &b->ti[t];
        ti->where = CU_W_DEV;
        ti->v.dt = cu_dev_dtype(s, sh->dt[t]);
        set_natural(ti, &sh->s[t]);
    }
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        for (int j = 0; j < n->n_out; j++) {
            int t = n->out[j];
            if (t < 0 || sh->val[t] || g->t[t].kind != KILN_TENSOR_ACT || p->root[t] < 0) continue;
            cu_tinfo *ti = &b->ti[t];
            ti->where = CU_W_DEV;
            ti->v.dt = cu_dev_dtype(s, sh->dt[t]);
            int x = n->n_in > 0 ? n->in[0] : -1;
            const cu_tinfo *xi = x >= 0 ? &b->ti[x] : NULL;
            int keep = 0, groups;
            if (j == 0 && xi && xi->where == CU_W_DEV && !p->slice[t] &&
                kiln_shape_numel(&sh->s[x]) == kiln_shape_numel(&sh->s[t])) {
                if (is_view_op(n->op) || is_unary_act(n->op)) keep = 1;
                else if ((n->op == KILN_OP_ADD || n->op == KILN_OP_SUB || n->op == KILN_OP_MUL ||
                          n->op == KILN_OP_DIV) &&
                         kiln_shape_eq(&sh->s[x], &sh->s[t]))
                    keep = 1;
                else if (cu_is_shuffle(n, sh, b->ti, &groups))
                    keep = 1;
            }
            if (keep) set_dims(ti, xi->v.n, xi->v.h, xi->v.w, xi->v.c, &sh->s[t]);
            else set_natural(ti, &sh->s[t]);
        }
    }
}

/* Pass 2: place every device tensor. */
static kiln_status place(const cu_engine *s, cu_bucket *b, kiln_err *e) {
    const kiln_graph *g = &s->dg.g;
    const kiln_shapes *sh = &b->shapes;
    const kiln_memplan *p = &s->plan;
    for (int i = 0; i < g->n_inputs; i++) {
        cu_view *v = &b->ti[g->inputs[i]].v;
        v->space = CU_SP_INPUTS;
        v->off = s->in_view_off[i];
        v->coff = 0;
        size_t es = kiln_dtype_size(v->dt);
        if (s->in_s2d[i]) { /* space-to-depth for the stem conv (cuda_engine_kernels.h) */
            v->h /= 2;
            v->w /= 2;
            v->c *= 4;
            b->ti[g->inputs[i]].natural = 0;
        }
        v->pitch = v->c;
        /* Pad the channels of a 4-D float input so that a pixel is a multiple of 16 bytes: the
           stem convolution then gets tensor-core engines (cuda_layout.h). */
        if (sh->s[g->inputs[i]].ndim == 4 && is_float(sh->dt[g->inputs[i]]) && es &&
            (v->c * es) % 16)
            v->pitch = (int)(((size_t)v->c * es + 15) / 16 * 16 / es);
    }
    for (int t = 0; t < g->n_t; t++) {
        cu_tinfo *ti = &b->ti[t];
        if (ti->where != CU_W_DEV || g->t[t].kind == KILN_TENSOR_INPUT) continue;
        int r = p->root[t];
        if (r < 0)
            return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda: tensor '%s' has no planned storage",
                                g->t[t].name);
        cu_view *v = &ti->v;
        v->space = CU_SP_ARENA;
        v->off = (size_t)p->offset[r];
        v->pitch = v->c;
        v->coff = 0;
        if (!p->slice[t]) continue;
        /* A channel slice of its root: the root is natural (a Concat output or a Split input
           at batch 1), the slice shares its h and w. */
        const cu_tinfo *ri = &b->ti[r];
        int64_t hw = (int64_t)ri->v.h * ri->v.w;
        set_natural(ti, &sh->s[t]);
        if (ri->where != CU_W_DEV || !ri->natural || v->h != ri->v.h || v->w != ri->v.w ||
            hw <= 0 || p->item_offset[t] % hw)
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                                "cuda: tensor '%s' is a slice of '%s' that no NHWC view expresses",
                                g->t[t].name, g->t[r].name);
        v->pitch = ri->v.c;
        v->coff = (int)(p->item_offset[t] / hw);
    }
    return KILN_OK;
}

static int floor_div2(int a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

int cu_s2d_axis(int in, int k, int pb, int out, int *k2, int *pb2, int *pe2, int *amin) {
    if (in % 2 || k < 1 || pb < 0) return 0;
    int a0 = floor_div2(-pb), a1 = floor_div2(k - 1 - pb);
    *amin = a0;
    *k2 = a1 - a0 + 1;
    *pb2 = -a0;
    *pe2 = out - 1 + *k2 - *pb2 - in / 2;
    return *pb2 >= 0 && *pe2 >= 0;
}

/* Store graph input t space-to-depth? Only 16-bit storage (3 channels padded to 8 waste most
   there), a 4-D image of at most 4 channels whose one reader is a stride-2, group-1 conv. */
static int s2d_input(const cu_engine *s, const cu_bucket *b, int t) {
    const kiln_graph *g = &s->dg.g;
    const kiln_shape *x = &b->shapes.s[t];
    if ((s->dt == KILN_F32 && !s->fp32_like_16bit) || x->ndim != 4 || !is_float(b->shapes.dt[t]) || g->t[t].is_output ||
        x->d[1] > 4 || x->d[2] % 2 || x->d[3] % 2)
        return 0;
    const kiln_node *c = NULL;
    for (int k = 0; k < g->n_n; k++)
        for (int j = 0; j < g->n[k].n_in; j++)
            if (g->n[k].in[j] == t) {
                if (c || j != 0) return 0;
                c = &g->n[k];
            }
    if (!c || c->op != KILN_OP_CONV || c->n_in < 2 || c->in[1] < 0) return 0;
    const kiln_conv_attr *a = &c->a.conv;
    const kiln_tensor *w = &g->t[c->in[1]];
    if (a->nspatial != 2 || a->group != 1 || w->kind != KILN_TENSOR_CONST || w->dtype != KILN_F32 ||
        w->shape.ndim != 4)
        return 0;
    kiln_window win;
    kiln_err ce = {0};
    if (kiln_window_conv(a, x, &w->shape, &win, &ce) != KILN_OK) return 0;
    for (int q = 0; q < 2; q++) {
        int k2, pb2, pe2, amin;
        if (win.s[1 + q] != 2 || win.d[1 + q] != 1 ||
            !cu_s2d_axis((int)win.in[1 + q], (int)win.k[1 + q], (int)win.pb[1 + q],
                         (int)win.out[1 + q], &k2, &pb2, &pe2, &amin))
            return 0;
    }
    return 1;
}

/* INPUTS and INSTAGE inside the arena: both are dead once the layers reading the graph inputs
   ran (INSTAGE even sooner: once the INPUT steps converted it), so they take arena bytes that
   are free at the start of the network instead of memory of their own. */
static size_t first_fit(size_t size, const size_t (*busy)[2], int nbusy) {
    size_t at = 0;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int i = 0; i < nbusy; i++)
            if (at < busy[i][1] && busy[i][0] < at + size) {
                at = (busy[i][1] + 255) & ~(size_t)255;
                moved = 1;
            }
    }
    return at;
}

kiln_status cu_io_in_arena(cu_engine *s, kiln_err *e) {
    const kiln_graph *g = &s->dg.g;
    const kiln_memplan *p = &s->plan;
    int last = -1;
    for (int i = 0; i < g->n_inputs; i++) {
        int t = g->inputs[i];
        if (g->t[t].is_output) last = g->n_n;
        for (int k = 0; k < g->n_n; k++)
            for (int j = 0; j < g->n[k].n_in; j++)
                if (g->n[k].in[j] == t && k > last) last = k;
    }
    size_t (*busy)[2] = calloc((size_t)g->n_t + 2, sizeof *busy);
    int *gfirst = malloc(sizeof(int) * ((size_t)g->n_t + 1));
    if (!busy || !gfirst) {
        free(busy);
        free(gfirst);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    for (int t = 0; t < g->n_t; t++) gfirst[t] = 1 << 30;
    for (int t = 0; t < g->n_t; t++) {
        int r = p->root[t];
        if (r >= 0 && p->first[t] >= 0 && p->first[t] < gfirst[r]) gfirst[r] = p->first[t];
    }
    int nb = 0;
    for (int r = 0; r < g->n_t; r++)
        if (p->root[r] == r && gfirst[r] <= last) {
            busy[nb][0] = (size_t)p->offset[r];
            busy[nb][1] = (size_t)p->offset[r] + p->bytes[r];
            nb++;
        }
    s->inputs_at = first_fit(s->inputs_bytes, (const size_t(*)[2])busy, nb);
    busy[0][0] = s->inputs_at;
    busy[0][1] = s->inputs_at + s->inputs_bytes;
    s->instage_at = first_fit(s->instage_bytes, (const size_t(*)[2])busy, s->inputs_bytes ? 1 : 0);
    size_t end = s->inputs_at + s->inputs_bytes;
    if (s->instage_at + s->instage_bytes > end) end = s->instage_at + s->instage_bytes;
    if (end > s->arena_bytes) s->arena_bytes = (end + 255) & ~(size_t)255;
    free(busy);
    free(gfirst);
    return KILN_OK;
}

/* The graph the planner sees: the device graph, except that (16-bit engines) a convolution
   with a fused residual is presented as an in-place capable unary op reading the residual
   first: the planner then lets its output overwrite the residual where the residual dies
   there. cuDNN's fused epilogue reads each residual element before writing the output element
   at the same place, so the layer runs in place; ResNet-50 at batch 256 needs a third less
   activation memory (the 256-channel maps at 56x56 are 411 MB each). FP32 / TF32 engines may
   run such a layer split (the residual added by a later pass), so they keep separate storage. */
static kiln_node *planning_nodes(const cu_engine *s, int **extra) {
    const kiln_graph *g = &s->dg.g;
    kiln_node *n = malloc(sizeof *n * ((size_t)g->n_n + 1));
    int *in = malloc(sizeof(int) * (4 * (size_t)g->n_n + 1));
    if (!n || !in) {
        free(n);
        free(in);
        return NULL;
    }
    memcpy(n, g->n, sizeof *n * (size_t)g->n_n);
    int inplace = s->dt != KILN_F32 || s->fp32_like_16bit;
    for (int k = 0; k < g->n_n && inplace; k++) {
        kiln_node *c = &n[k];
        if (c->op != KILN_OP_CONV || !c->a.conv.has_residual || c->n_in < 4 || c->in[3] < 0)
            continue;
        int *p = in + 4 * k;
        p[0] = c->in[3]; /* the residual first: the one input an in-place unary op may take */
        p[1] = c->in[0];
        p[2] = c->in[1];
        p[3] = c->in[2];
        c->op = KILN_OP_RELU;
        c->in = p;
        c->n_in = 4;
    }
    *extra = in;
    return n;
}

kiln_status cu_memory_plan(cu_engine *s, kiln_err *e) {
    const kiln_graph *g = &s->dg.g;
    cu_bucket *big = &s->bk[s->nb - 1];
    /* Device byte sizes: float activations in the storage type. */
    kiln_shapes dsh = big->shapes;
    dsh.dt = malloc(sizeof(kiln_dtype) * ((size_t)g->n_t + 1));
    int *extra = NULL;
    kiln_graph pg = *g;
    pg.n = planning_nodes(s, &extra);
    if (!dsh.dt || !pg.n) {
        free(dsh.dt);
        free(pg.n);
        free(extra);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    for (int t = 0; t < g->n_t; t++) dsh.dt[t] = cu_dev_dtype(s, big->shapes.dt[t]);
    kiln_status st = kiln_memplan_build(&pg, &dsh, 0, &s->plan, e);
#ifndef NDEBUG
    if (st == KILN_OK) st = kiln_memplan_check(&pg, &dsh, &s->plan, e);
#endif
    free(dsh.dt);
    free(pg.n);
    free(extra);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "cuda: memory plan");
        return st;
    }
    s->arena_bytes = s->plan.arena_bytes;
    /* Graph inputs (their NHWC or space-to-depth form): one region per input. */
    size_t off = 0;
    for (int i = 0; i < g->n_inputs && i < CU_MAX_IO; i++) {
        s->in_view_off[i] = off;
        const kiln_shape *x = &big->shapes.s[g->inputs[i]];
        int n, h, w, c;
        cu_natural(x, &n, &h, &w, &c);
        s->in_s2d[i] = (unsigned char)s2d_input(s, big, g->inputs[i]);
        if (s->in_s2d[i]) h /= 2, w /= 2, c *= 4;
        size_t es = kiln_dtype_size(cu_dev_dtype(s, big->shapes.dt[g->inputs[i]]));
        size_t cp = es ? ((size_t)c * es + 15) / 16 * 16 : 0;
        off += ((size_t)n * h * w * cp + 255) & ~(size_t)255;
    }
    s->inputs_bytes = off;
    for (int bi = 0; bi < s->nb; bi++) {
        cu_bucket *b = &s->bk[bi];
        b->ti = calloc((size_t)g->n_t + 1, sizeof(cu_tinfo));
        if (!b->ti) return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
        phys_dims(s, b);
        KILN_TRY(place(s, b, e));
    }
    return KILN_OK;
}
