/* The memory planner: lifetimes, shared storage (views, concat slices, in place), then offsets.
 * See planner.h for the rules; kiln_memplan_check (planner_check.c) proves the result. */
#include "build/planner.h"

#include <stdlib.h>
#include <string.h>

#include "core/tensor_params.h"
#include "opt/opt.h"

#define ALIGN 64

static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

static size_t exact_bytes(const kiln_shapes *s, int t) {
    int64_t n = kiln_shape_numel(&s->s[t]);
    return n < 0 ? 0 : (size_t)n * kiln_dtype_size(s->dt[t]);
}

/* Elements of one batch item (dim 0 is the batch). */
static int64_t item_elems(const kiln_shapes *s, int t) {
    const kiln_shape *sh = &s->s[t];
    if (sh->ndim < 1 || sh->d[0] <= 0) return kiln_shape_numel(sh);
    return kiln_shape_numel(sh) / sh->d[0];
}

void kiln_memplan_free(kiln_memplan *p) {
    if (!p) return;
    free(p->root);
    free(p->offset);
    free(p->bytes);
    free(p->item_offset);
    free(p->slice);
    free(p->first);
    free(p->last);
    free(p->mode);
    free(p->inplace_input);
    memset(p, 0, sizeof *p);
}

static int alloc_plan(kiln_memplan *p, int nt, int nn) {
    memset(p, 0, sizeof *p);
    p->n_t = nt;
    p->n_n = nn;
    size_t t = (size_t)nt + 1, n = (size_t)nn + 1;
    p->root = malloc(sizeof(int) * t);
    p->offset = calloc(t, sizeof(int64_t));
    p->bytes = calloc(t, sizeof(size_t));
    p->item_offset = calloc(t, sizeof(int64_t));
    p->slice = calloc(t, 1);
    p->first = malloc(sizeof(int) * t);
    p->last = malloc(sizeof(int) * t);
    p->mode = calloc(n, 1);
    p->inplace_input = malloc(sizeof(int) * n);
    if (!p->root || !p->offset || !p->bytes || !p->item_offset || !p->slice || !p->first ||
        !p->last || !p->mode || !p->inplace_input)
        return 0;
    for (int i = 0; i < nt; i++) p->root[i] = p->first[i] = p->last[i] = -1;
    for (int i = 0; i < nn; i++) p->inplace_input[i] = -1;
    return 1;
}

/* Which tensors need arena storage, and their lifetimes. */
static void lifetimes(const kiln_graph *g, const kiln_shapes *s, kiln_memplan *p) {
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        for (int j = 0; j < n->n_out; j++) {
            int t = n->out[j];
            if (t < 0 || g->t[t].kind != KILN_TENSOR_ACT || s->val[t]) continue;
            p->root[t] = t;
            p->first[t] = p->last[t] = k;
            p->bytes[t] = align_up(exact_bytes(s, t));
        }
    }
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t >= 0 && p->root[t] >= 0 && p->last[t] < k) p->last[t] = k;
        }
    }
    /* Outputs are read after the run: they live to its end. */
    for (int i = 0; i < g->n_outputs; i++)
        if (p->root[g->outputs[i]] >= 0) p->last[g->outputs[i]] = g->n_n;
}

static int reads_of(const kiln_graph *g, int t, int *reader) {
    int c = 0;
    for (int k = 0; k < g->n_n; k++)
        for (int j = 0; j < g->n[k].n_in; j++)
            if (g->n[k].in[j] == t) {
                c++;
                *reader = k;
            }
    return c + (g->t[t].is_output ? 1 : 0);
}

/* Is the optimizer's concat alias T -> O still sound under these shapes? */
static int concat_alias_ok(const kiln_graph *g, const kiln_shapes *s, const kiln_memplan *p,
                           const int *producer, int t) {
    int o = g->t[t].alias;
    if (o < 0 || o >= g->n_t || p->root[t] != t || p->root[o] < 0) return 0;
    const kiln_shape *ts = &s->s[t], *os = &s->s[o];
    if (s->dt[t] != s->dt[o] || ts->ndim != os->ndim || ts->ndim < 2 || ts->d[0] != os->d[0])
        return 0;
    int reader = -1;
    if (reads_of(g, t, &reader) != 1 || reader < 0) return 0;
    const kiln_node *c = &g->n[reader];
    if (c->op != KILN_OP_CONCAT || c->out[0] != o) return 0;
    int pk = producer[t];
    if (pk < 0 || !kiln_op_batch_separable(&g->n[pk], ts->ndim)) return 0;
    int64_t off = g->t[t].alias_offset;
    return off >= 0 && off + item_elems(s, t) <= item_elems(s, o);
}

/* Resolve concat aliases, following chains (a Concat's output placed in an outer Concat). */
static void resolve_slice(const kiln_graph *g, const kiln_shapes *s, kiln_memplan *p,
                          const int *producer, unsigned char *state, int t) {
    if (state[t]) return;
    state[t] = 1;
    if (!concat_alias_ok(g, s, p, producer, t)) {
        state[t] = 2;
        return;
    }
    int o = g->t[t].alias;
    resolve_slice(g, s, p, producer, state, o);
    if (state[o] != 2) { /* a cycle: leave t alone */
        state[t] = 2;
        return;
    }
    p->root[t] = p->root[o];
    p->slice[t] = 1;
    p->item_offset[t] = p->item_offset[o] + g->t[t].alias_offset;
    state[t] = 2;
}

static int is_view_op(int op) {
    return op == KILN_OP_RESHAPE || op == KILN_OP_FLATTEN || op == KILN_OP_SQUEEZE ||
           op == KILN_OP_UNSQUEEZE || op == KILN_OP_IDENTITY;
}

/* Elementwise ops whose CPU kernels read element i before writing it and nothing else. */
static int is_inplace_op(int op) {
    switch (op) {
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH:
    case KILN_OP_ERF:
    case KILN_OP_EXP:
    case KILN_OP_LOG:
    case KILN_OP_NEG:
    case KILN_OP_ABS:
    case KILN_OP_SQRT:
    case KILN_OP_RECIPROCAL:
    case KILN_OP_FLOOR:
    case KILN_OP_CEIL:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV: return 1;
    default: return 0;
    }
}

/* 1 when t owns its storage and nothing lives in it yet. */
static int unshared(const kiln_memplan *p, const int *members, int t) {
    return p->root[t] == t && !p->slice[t] && members[t] == 1;
}

static void join(kiln_memplan *p, int *members, int *glast, int t, int root) {
    members[p->root[t]]--;
    p->root[t] = root;
    members[root]++;
    if (p->last[t] > glast[root]) glast[root] = p->last[t];
}

/* At batch 1 a channel Split's outputs are contiguous pieces of its input. */
static int split_views(const kiln_graph *g, const kiln_shapes *s, kiln_memplan *p, int *members,
                       int *glast, int k) {
    const kiln_node *n = &g->n[k];
    int x = n->in[0];
    if (x < 0 || p->root[x] < 0 || p->slice[x] || s->s[x].ndim < 2 || s->s[x].d[0] != 1) return 0;
    if (n->n_out > KILN_MAX_SPLIT) return 0;
    kiln_view in[2];
    int nin = n->n_in < 2 ? n->n_in : 2;
    for (int j = 0; j < nin; j++) {
        int id = n->in[j];
        in[j] = id < 0 ? (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL}
                       : (kiln_view){s->dt[id], s->s[id], s->val[id] ? s->val[id] : g->t[id].data};
    }
    int64_t axis, sizes[128];
    kiln_err ce;
    if (kiln_split_resolve(n, nin, in, n->n_out, &axis, sizes, &ce) != KILN_OK || axis != 1)
        return 0;
    for (int j = 0; j < n->n_out; j++) {
        int t = n->out[j];
        if (t < 0 || p->root[t] < 0 || !unshared(p, members, t) || s->dt[t] != s->dt[x]) return 0;
    }
    int64_t inner = 1, c0 = 0;
    for (int i = 2; i < s->s[x].ndim; i++) inner *= s->s[x].d[i];
    for (int j = 0; j < n->n_out; j++) {
        int t = n->out[j];
        join(p, members, glast, t, p->root[x]);
        p->slice[t] = 1;
        p->item_offset[t] = p->item_offset[x] + c0 * inner;
        c0 += sizes[j];
    }
    return 1;
}

/* An elementwise node writing over an input that dies here. */
static void try_inplace(const kiln_graph *g, const kiln_shapes *s, kiln_memplan *p, int *members,
                        int *glast, int k) {
    const kiln_node *n = &g->n[k];
    int y = n->out[0];
    if (n->n_out != 1 || y < 0 || p->root[y] < 0 || !unshared(p, members, y)) return;
    int cand = n->op == KILN_OP_ADD || n->op == KILN_OP_SUB || n->op == KILN_OP_MUL ||
                       n->op == KILN_OP_DIV
                   ? 2
                   : 1;
    for (int j = 0; j < cand && j < n->n_in; j++) {
        int x = n->in[j];
        if (x < 0 || p->root[x] < 0 || p->slice[x] || g->t[x].is_output) continue;
        int r = p->root[x];
        if (s->dt[x] != s->dt[y] || !kiln_shape_eq(&s->s[x], &s->s[y]) ||
            exact_bytes(s, x) != exact_bytes(s, r) || glast[r] != k)
            continue;
        int other = 0;
        for (int i = 0; i < n->n_in; i++)
            if (i != j && n->in[i] >= 0 && p->root[n->in[i]] == r) other = 1;
        if (other) continue;
        join(p, members, glast, y, r);
        p->inplace_input[k] = j;
        return;
    }
}

static void share_storage(const kiln_graph *g, const kiln_shapes *s, kiln_memplan *p,
                          const int *producer, int *members, int *glast, unsigned char *state) {
    for (int t = 0; t < g->n_t; t++)
        if (p->root[t] >= 0) resolve_slice(g, s, p, producer, state, t);
    for (int t = 0; t < g->n_t; t++) members[t] = 0;
    for (int t = 0; t < g->n_t; t++)
        if (p->root[t] >= 0) members[p->root[t]]++;
    for (int t = 0; t < g->n_t; t++) glast[t] = -1;
    for (int t = 0; t < g->n_t; t++)
        if (p->root[t] >= 0 && p->last[t] > glast[p->root[t]]) glast[p->root[t]] = p->last[t];

    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        if (n->n_in < 1 || n->n_out < 1) continue;
        int x = n->in[0], y = n->out[0];
        if (is_view_op(n->op)) {
            if (x >= 0 && y >= 0 && p->root[x] >= 0 && p->root[y] >= 0 && !p->slice[x] &&
                unshared(p, members, y) && exact_bytes(s, x) == exact_bytes(s, y) &&
                s->dt[x] == s->dt[y]) {
                join(p, members, glast, y, p->root[x]);
                p->mode[k] = KILN_MEMPLAN_SKIP;
            }
        } else if (n->op == KILN_OP_SPLIT) {
            if (split_views(g, s, p, members, glast, k)) p->mode[k] = KILN_MEMPLAN_SKIP;
        } else if (is_inplace_op(n->op)) {
            try_inplace(g, s, p, members, glast, k);
        }
    }
}

/* Modes of the nodes that write slices and of the Concats. */
static void node_modes(const kiln_graph *g, kiln_memplan *p) {
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        if (p->mode[k] == KILN_MEMPLAN_SKIP) continue;
        if (n->op == KILN_OP_CONCAT && n->out[0] >= 0 && p->root[n->out[0]] >= 0) {
            int o = n->out[0], placed = 0;
            for (int j = 0; j < n->n_in; j++) {
                int t = n->in[j];
                if (t >= 0 && p->slice[t] && g->t[t].alias == o && p->root[t] == p->root[o])
                    placed++;
            }
            if (placed == n->n_in) p->mode[k] = KILN_MEMPLAN_SKIP;
            else if (placed || p->slice[o]) p->mode[k] = KILN_MEMPLAN_CONCAT_REST;
            continue;
        }
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0 && p->root[n->out[j]] >= 0 && p->slice[n->out[j]])
                p->mode[k] = KILN_MEMPLAN_PER_ITEM;
    }
}

typedef struct group {
    int root;
    int first, last;
    size_t bytes;
} group;

/* Orders to place groups in; the planner keeps whichever packs tightest. Largest first is the
   classic (TFLite's "greedy by size"); in order of first use and longest-lived first win on
   graphs where big tensors interleave (DenseNet's growing concatenations). */
static int cmp_size(const void *a, const void *b) {
    const group *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->root - y->root;
}

static int cmp_first(const void *a, const void *b) {
    const group *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return cmp_size(a, b);
}

static int cmp_area(const void *a, const void *b) {
    const group *x = a, *y = b;
    double ax = (double)x->bytes * (x->last - x->first + 1);
    double ay = (double)y->bytes * (y->last - y->first + 1);
    if (ax != ay) return ax > ay ? -1 : 1;
    return cmp_size(a, b);
}

typedef struct span {
    int64_t begin, end;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Place groups in the order given: each into the best-fitting gap among the groups already
   placed whose lifetimes overlap it, else above them all. */
static size_t place_in_order(const group *gr, int ng, int64_t *off, span *sp) {
    size_t top = 0;
    for (int i = 0; i < ng; i++) {
        int m = 0;
        for (int j = 0; j < i; j++)
            if (gr[j].first <= gr[i].last && gr[i].first <= gr[j].last)
                sp[m++] = (span){off[j], off[j] + (int64_t)gr[j].bytes};
        qsort(sp, (size_t)m, sizeof *sp, cmp_span);
        int64_t prev = 0, best = -1, best_gap = INT64_MAX;
        for (int j = 0; j < m; j++) {
            int64_t gap = sp[j].begin - prev;
            if (gap >= (int64_t)gr[i].bytes && gap < best_gap) {
                best_gap = gap;
                best = prev;
            }
            if (sp[j].end > prev) prev = sp[j].end;
        }
        off[i] = best >= 0 ? best : prev;
        if ((size_t)off[i] + gr[i].bytes > top) top = (size_t)off[i] + gr[i].bytes;
    }
    return top;
}

/* Try each order, keep the smallest arena; gr and off end up in the winning order. */
static int place(group *gr, int ng, int64_t *off, size_t *arena) {
    int (*const orders[])(const void *, const void *) = {cmp_size, cmp_first, cmp_area};
    span *sp = malloc(sizeof(span) * (size_t)(ng + 1));
    int64_t *o2 = malloc(sizeof(int64_t) * (size_t)(ng + 1));
    if (!sp || !o2) {
        free(sp), free(o2);
        return 0;
    }
    int best = 0;
    size_t best_top = SIZE_MAX;
    for (int k = 0; k < 3; k++) {
        qsort(gr, (size_t)ng, sizeof *gr, orders[k]);
        size_t top = place_in_order(gr, ng, o2, sp);
        if (top < best_top) {
            best_top = top;
            best = k;
        }
    }
    qsort(gr, (size_t)ng, sizeof *gr, orders[best]);
    *arena = place_in_order(gr, ng, off, sp);
    free(sp);
    free(o2);
    return 1;
}

kiln_status kiln_memplan_build(const kiln_graph *g, const kiln_shapes *s, int no_reuse,
                               kiln_memplan *p, kiln_err *e) {
    if (!alloc_plan(p, g->n_t, g->n_n)) {
        kiln_memplan_free(p);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory planning activations");
    }
    size_t nt = (size_t)g->n_t + 1;
    int *producer = malloc(sizeof(int) * nt), *members = malloc(sizeof(int) * nt);
    int *glast = malloc(sizeof(int) * nt);
    unsigned char *state = calloc(nt, 1);
    group *gr = malloc(sizeof(group) * nt);
    int64_t *goff = malloc(sizeof(int64_t) * nt);
    kiln_status st = KILN_OK;
    if (!producer || !members || !glast || !state || !gr || !goff) {
        st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory planning activations");
        goto out;
    }
    for (int t = 0; t < g->n_t; t++) producer[t] = -1;
    for (int k = 0; k < g->n_n; k++)
        for (int j = 0; j < g->n[k].n_out; j++)
            if (g->n[k].out[j] >= 0) producer[g->n[k].out[j]] = k;
    lifetimes(g, s, p);
    for (int t = 0; t < g->n_t; t++)
        if (p->root[t] >= 0) p->naive_bytes += p->bytes[t];
    if (!no_reuse) {
        share_storage(g, s, p, producer, members, glast, state);
        node_modes(g, p);
    }

    /* Storage groups: a root and what lives in it. */
    int ng = 0;
    for (int t = 0; t < g->n_t; t++) {
        if (p->root[t] != t) continue;
        gr[ng++] = (group){t, p->first[t], p->last[t], p->bytes[t]};
    }
    for (int t = 0; t < g->n_t; t++) {
        int r = p->root[t];
        if (r < 0 || r == t) continue;
        for (int i = 0; i < ng; i++) {
            if (gr[i].root != r) continue;
            if (p->first[t] < gr[i].first) gr[i].first = p->first[t];
            if (p->last[t] > gr[i].last) gr[i].last = p->last[t];
        }
    }
    /* The lower bound: the most group bytes live at one node. */
    for (int k = 0; k <= g->n_n; k++) {
        size_t live = 0;
        for (int i = 0; i < ng; i++)
            if (gr[i].first <= k && k <= gr[i].last) live += gr[i].bytes;
        if (live > p->lower_bound_bytes) p->lower_bound_bytes = live;
    }
    if (no_reuse) {
        /* The baseline: every activation its own bytes for the whole run. */
        for (int i = 0; i < ng; i++) {
            gr[i].first = 0;
            gr[i].last = g->n_n;
        }
    }
    if (!place(gr, ng, goff, &p->arena_bytes)) {
        st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory planning activations");
        goto out;
    }
    for (int i = 0; i < ng; i++) p->offset[gr[i].root] = goff[i];
out:
    free(producer);
    free(members);
    free(glast);
    free(state);
    free(gr);
    free(goff);
    if (st != KILN_OK) kiln_memplan_free(p);
    return st;
}
