/* The planner's proof (kiln_memplan_check), tensor addresses under a plan, and memory figures. */
#include <stdlib.h>
#include <string.h>

#include "build/planner.h"
#include "runtime/engine.h"

static int64_t numel(const kiln_shapes *s, int t) { return kiln_shape_numel(&s->s[t]); }

static int64_t item_elems(const kiln_shapes *s, int t) {
    const kiln_shape *sh = &s->s[t];
    if (sh->ndim < 1 || sh->d[0] <= 0) return kiln_shape_numel(sh);
    return kiln_shape_numel(sh) / sh->d[0];
}

void *kiln_memplan_data(const kiln_memplan *p, const kiln_shapes *s, int t, void *arena,
                        size_t *item_stride) {
    *item_stride = 0;
    int r = p->root[t];
    if (r < 0) return NULL;
    char *base = (char *)arena + p->offset[r];
    if (!p->slice[t]) return base;
    size_t es = kiln_dtype_size(s->dt[t]);
    *item_stride = (size_t)item_elems(s, r) * kiln_dtype_size(s->dt[r]);
    return base + (size_t)p->item_offset[t] * es;
}

/* Do a and b (same root) share any element? Dense members start at the root's first byte. */
static int members_overlap(const kiln_shapes *s, const kiln_memplan *p, int a, int b) {
    if (numel(s, a) == 0 || numel(s, b) == 0) return 0;
    if (!p->slice[a] && !p->slice[b]) return 1;
    if (p->slice[a] && p->slice[b]) {
        int64_t a0 = p->item_offset[a], a1 = a0 + item_elems(s, a);
        int64_t b0 = p->item_offset[b], b1 = b0 + item_elems(s, b);
        return a0 < b1 && b0 < a1;
    }
    int sl = p->slice[a] ? a : b, de = p->slice[a] ? b : a;
    /* The dense one covers [0, numel) of the root; the slice's first item starts at its
       item_offset, later items further on. */
    return p->item_offset[sl] < numel(s, de);
}

/* Is the write of b at its node, while a is live, a sanctioned sharing? */
static int justified(const kiln_graph *g, const kiln_memplan *p, int a, int b) {
    int k = p->first[b];
    const kiln_node *n = &g->n[k];
    /* In place: the node reads a for the last time, element by element. */
    if (p->inplace_input[k] >= 0 && n->in[p->inplace_input[k]] == a && p->last[a] == k) return 1;
    /* A Concat whose placed input a already sits in its slice of b. */
    if (n->op == KILN_OP_CONCAT && n->out[0] == b && p->slice[a] && g->t[a].alias == b &&
        (p->mode[k] == KILN_MEMPLAN_SKIP || p->mode[k] == KILN_MEMPLAN_CONCAT_REST))
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == a) return 1;
    return 0;
}

kiln_status kiln_memplan_check(const kiln_graph *g, const kiln_shapes *s, const kiln_memplan *p,
                               kiln_err *e) {
    int nt = g->n_t;
    int *gf = malloc(sizeof(int) * (size_t)(nt + 1)), *gl = malloc(sizeof(int) * (size_t)(nt + 1));
    if (!gf || !gl) {
        free(gf), free(gl);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory checking the memory plan");
    }
    kiln_status st = KILN_OK;
    for (int t = 0; t < nt; t++) gf[t] = gl[t] = -1;
    /* Every tensor inside its root, every root inside the arena. */
    for (int t = 0; t < nt && st == KILN_OK; t++) {
        int r = p->root[t];
        if (r < 0) {
            if (g->t[t].kind == KILN_TENSOR_ACT && !s->val[t] && kiln_graph_producer(g, t) >= 0)
                st = kiln_err_set(e, KILN_ERR_INTERNAL,
                                  "memory plan: activation '%s' has no storage", g->t[t].name);
            continue;
        }
        size_t bt = (size_t)numel(s, t) * kiln_dtype_size(s->dt[t]);
        if (p->root[r] != r)
            st = kiln_err_set(e, KILN_ERR_INTERNAL, "memory plan: '%s' lives in '%s', which is "
                              "not a root", g->t[t].name, g->t[r].name);
        else if (r == t &&
                 (p->offset[t] < 0 || p->offset[t] % 64 ||
                  (size_t)p->offset[t] + p->bytes[t] > p->arena_bytes || bt > p->bytes[t]))
            st = kiln_err_set(e, KILN_ERR_INTERNAL, "memory plan: '%s' (%zu bytes at %lld) does "
                              "not fit the %zu-byte arena", g->t[t].name, bt,
                              (long long)p->offset[t], p->arena_bytes);
        else if (r != t && !p->slice[t] && bt > p->bytes[r])
            st = kiln_err_set(e, KILN_ERR_INTERNAL, "memory plan: view '%s' is larger than '%s'",
                              g->t[t].name, g->t[r].name);
        else if (p->slice[t] &&
                 (s->s[t].d[0] != s->s[r].d[0] || p->item_offset[t] < 0 ||
                  kiln_dtype_size(s->dt[t]) != kiln_dtype_size(s->dt[r]) ||
                  p->item_offset[t] + item_elems(s, t) > item_elems(s, r)))
            st = kiln_err_set(e, KILN_ERR_INTERNAL, "memory plan: slice '%s' does not fit in '%s'",
                              g->t[t].name, g->t[r].name);
        if (gf[r] < 0 || p->first[t] < gf[r]) gf[r] = p->first[t];
        if (p->last[t] > gl[r]) gl[r] = p->last[t];
    }
    /* Storage groups live at the same time never share bytes. */
    for (int a = 0; a < nt && st == KILN_OK; a++) {
        if (p->root[a] != a) continue;
        for (int b = a + 1; b < nt && st == KILN_OK; b++) {
            if (p->root[b] != b || gf[a] > gl[b] || gf[b] > gl[a]) continue;
            int64_t a0 = p->offset[a], a1 = a0 + (int64_t)p->bytes[a];
            int64_t b0 = p->offset[b], b1 = b0 + (int64_t)p->bytes[b];
            if (a0 < b1 && b0 < a1 && p->bytes[a] && p->bytes[b])
                st = kiln_err_set(e, KILN_ERR_INTERNAL,
                                  "memory plan: '%s' [%lld, %lld) and '%s' [%lld, %lld) overlap "
                                  "while both live (nodes %d-%d and %d-%d)",
                                  g->t[a].name, (long long)a0, (long long)a1, g->t[b].name,
                                  (long long)b0, (long long)b1, gf[a], gl[a], gf[b], gl[b]);
        }
    }
    /* Inside a group: a node writing b must not clobber a tensor a still to be read. */
    for (int b = 0; b < nt && st == KILN_OK; b++) {
        int r = p->root[b];
        if (r < 0 || p->first[b] < 0 || p->first[b] >= g->n_n) continue;
        if (p->mode[p->first[b]] == KILN_MEMPLAN_SKIP) continue; /* a view: nothing written */
        for (int a = 0; a < nt && st == KILN_OK; a++) {
            if (a == b || p->root[a] != r) continue;
            if (!(p->first[a] < p->first[b] && p->first[b] <= p->last[a])) continue;
            if (!members_overlap(s, p, a, b) || justified(g, p, a, b)) continue;
            st = kiln_err_set(e, KILN_ERR_INTERNAL,
                              "memory plan: node '%s' writes '%s' over '%s', which is read until "
                              "node %d",
                              g->n[p->first[b]].name, g->t[b].name, g->t[a].name, p->last[a]);
        }
    }
    free(gf);
    free(gl);
    return st;
}

size_t kiln_graph_weight_bytes(const kiln_graph *g) {
    size_t n = 0;
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].kind == KILN_TENSOR_CONST) n += kiln_tensor_nbytes(&g->t[i]);
    return n;
}

kiln_status kiln_memplan_stats_get(const kiln_engine *e, int64_t batch, kiln_memplan_stats *st,
                                   kiln_err *err) {
    memset(st, 0, sizeof *st);
    if (!e || !e->g) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "engine not built");
    if (e->g->n_inputs > 64) return kiln_err_set(err, KILN_ERR_UNSUPPORTED, "more than 64 inputs");
    if (!e->has_batch) batch = 0;
    else if (batch <= 0) batch = e->bmax;
    else if (batch < e->bmin || batch > e->bmax)
        return kiln_err_set(err, KILN_ERR_RANGE, "batch %lld is outside the engine's profile "
                            "%lld..%lld", (long long)batch, (long long)e->bmin, (long long)e->bmax);
    kiln_shape in[64];
    kiln_engine_input_shapes(e, batch, in);
    kiln_shapes s;
    KILN_TRY(kiln_infer(e->g, in, &s, err));
    kiln_memplan p;
    kiln_status rc = kiln_memplan_build(e->g, &s, 0, &p, err);
    if (rc != KILN_OK) {
        kiln_shapes_free(&s);
        return rc;
    }
    st->batch = batch ? batch : (e->g->n_inputs && in[0].ndim > 0 ? in[0].d[0] : 1);
    st->weight_bytes = kiln_graph_weight_bytes(e->g);
    st->arena_bytes = p.arena_bytes;
    st->lower_bound_bytes = p.lower_bound_bytes;
    st->naive_bytes = p.naive_bytes;
    st->n_nodes = e->g->n_n;
    for (int t = 0; t < e->g->n_t; t++) {
        int r = p.root[t];
        if (r < 0 || r == t) continue;
        if (p.slice[t]) st->n_slices++;
        else if (p.first[t] >= 0 && p.inplace_input[p.first[t]] >= 0) st->n_inplace++;
        else st->n_views++;
    }
    kiln_memplan_free(&p);
    kiln_shapes_free(&s);
    return KILN_OK;
}
