/* The CPU backend at the engine level: an interpreter over the optimized graph.
 *
 * Per engine: the activation memory plan (src/build/planner.h), made once at the largest batch,
 * and each node's prepared state (kiln_cpu_prepare_node: packed filters), shared read-only by
 * every context. Per context: a kiln_cpu (thread pool + scratch), one arena of the planned size, and the shapes
 * and tensor addresses for the batch last run (re-derived only when the batch changes; smaller
 * batches fit because every tensor shrinks). Running allocates nothing.
 *
 * Under the plan a node is run as usual, skipped (its outputs are views of its input, or a
 * Concat whose inputs were written in place), run once per batch item (an output is a channel
 * slice of a Concat's buffer: each item of it is contiguous, so kernels keep seeing dense
 * tensors), or, for a Concat, reduced to copying the inputs that are not in place. Tensors whose
 * values shape inference computed (exporters' shape sub-graphs) are not run at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>

#include "backend/cpu/cpu.h"
#include "build/planner.h"
#include "core/dtype.h"
#include "runtime/engine.h"

typedef struct cpu_engine {
    kiln_memplan plan;         /* at the engine's largest batch */
    kiln_cpu_prepared **prep;  /* per node: its prepared state, or NULL */
    int n_nodes;
} cpu_engine;

typedef struct cpu_ctx {
    kiln_cpu *cpu;
    void *arena;
    int64_t batch;        /* batch of `shapes`, -1 before the first run */
    kiln_shape *in_shape; /* the input shapes `shapes` was inferred for */
    kiln_shapes shapes;
    char **ptr;           /* per tensor: address (first item for slices) at `shapes` */
    size_t *stride;       /* per tensor: bytes between items of a slice, else 0 */
    kiln_view *iv, *ov;   /* per-node view scratch */
    int maxio;
} cpu_ctx;

static int cpu_available(void) { return 1; }

static void cpu_describe(char *sig, size_t n) {
    struct utsname u;
    const char *arch = uname(&u) == 0 ? u.machine : "unknown";
    snprintf(sig, n, "cpu %s", arch);
}

static int cpu_supports(const kiln_graph *g, const kiln_node *n, kiln_precision p, char *why,
                        size_t nwhy) {
    (void)g;
    if (!kiln_cpu_lookup((kiln_op)n->op)) {
        snprintf(why, nwhy, "no CPU kernel for %s", kiln_op_name(n->op));
        return 0;
    }
    if (p != KILN_PREC_FP32 && p != KILN_PREC_BEST) {
        snprintf(why, nwhy, "the CPU backend computes in fp32 only (asked for %s)",
                 kiln_precision_name(p));
        return 0;
    }
    return 1;
}

static void engine_state_free(cpu_engine *s) {
    if (!s) return;
    kiln_memplan_free(&s->plan);
    if (s->prep)
        for (int k = 0; k < s->n_nodes; k++) kiln_cpu_prepared_free(s->prep[k]);
    free(s->prep);
    free(s);
}

/* Prepare every node once: its inputs at the largest shapes, constants with their data. */
static kiln_status prepare_nodes(const kiln_engine *e, cpu_engine *s, kiln_err *err) {
    const kiln_graph *g = e->g;
    const kiln_shapes *sh = &e->shapes_max;
    s->n_nodes = g->n_n;
    s->prep = calloc((size_t)g->n_n + 1, sizeof *s->prep);
    if (!s->prep) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    kiln_view in[64];
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        if (n->n_in > 64) continue;
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            if (id < 0) {
                in[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
                continue;
            }
            void *data = g->t[id].kind == KILN_TENSOR_CONST ? (sh->val[id] ? sh->val[id] : g->t[id].data) : NULL;
            in[j] = (kiln_view){sh->dt[id], sh->s[id], data};
        }
        kiln_status st = kiln_cpu_prepare_node(n, in, e->threads, &s->prep[k], err);
        if (st != KILN_OK) {
            kiln_err_prefix(err, "node '%s' (%s)", n->name, kiln_op_name(n->op));
            return st;
        }
    }
    return KILN_OK;
}

static kiln_status cpu_engine_prepare(kiln_engine *e, kiln_err *err) {
    cpu_engine *s = calloc(1, sizeof *s);
    if (!s) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    kiln_status st = kiln_memplan_build(e->g, &e->shapes_max, 0, &s->plan, err);
#ifndef NDEBUG
    if (st == KILN_OK) st = kiln_memplan_check(e->g, &e->shapes_max, &s->plan, err);
#endif
    if (st == KILN_OK) st = prepare_nodes(e, s, err);
    if (st != KILN_OK) {
        engine_state_free(s);
        return st;
    }
    e->bstate = s;
    return KILN_OK;
}

static void cpu_engine_release(kiln_engine *e) {
    engine_state_free(e->bstate);
    e->bstate = NULL;
}

static void ctx_free_state(cpu_ctx *s) {
    if (!s) return;
    kiln_cpu_destroy(s->cpu);
    kiln_shapes_free(&s->shapes);
    free(s->arena);
    free(s->ptr);
    free(s->stride);
    free(s->iv);
    free(s->ov);
    free(s->in_shape);
    free(s);
}

static kiln_status cpu_context_create(kiln_context *c, kiln_err *err) {
    const kiln_graph *g = c->e->g;
    const cpu_engine *es = c->e->bstate;
    if (!es) return kiln_err_set(err, KILN_ERR_INTERNAL, "CPU engine not prepared");
    cpu_ctx *s = calloc(1, sizeof *s);
    if (!s) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    s->batch = -1;
    s->maxio = 1;
    for (int i = 0; i < g->n_n; i++) {
        if (g->n[i].n_in > s->maxio) s->maxio = g->n[i].n_in;
        if (g->n[i].n_out > s->maxio) s->maxio = g->n[i].n_out;
    }
    s->cpu = kiln_cpu_create(c->e->threads);
    size_t arena = (es->plan.arena_bytes + 63) & ~(size_t)63;
    s->arena = aligned_alloc(64, arena ? arena : 64);
    s->ptr = calloc((size_t)g->n_t + 1, sizeof(char *));
    s->stride = calloc((size_t)g->n_t + 1, sizeof(size_t));
    s->iv = calloc((size_t)s->maxio, sizeof(kiln_view));
    s->ov = calloc((size_t)s->maxio, sizeof(kiln_view));
    s->in_shape = calloc((size_t)g->n_inputs + 1, sizeof(kiln_shape));
    if (!s->cpu || !s->arena || !s->ptr || !s->stride || !s->iv || !s->ov || !s->in_shape) {
        ctx_free_state(s);
        return kiln_err_set(err, KILN_ERR_NOMEM,
                            "out of memory creating a CPU context (%zu-byte activation arena)",
                            arena);
    }
    c->bstate = s;
    return KILN_OK;
}

static void cpu_context_destroy(kiln_context *c) {
    ctx_free_state(c->bstate);
    c->bstate = NULL;
}

static size_t tensor_bytes(const kiln_shapes *sh, int t) {
    int64_t n = kiln_shape_numel(&sh->s[t]);
    return n < 0 ? 0 : (size_t)n * kiln_dtype_size(sh->dt[t]);
}

static int64_t item_elems(const kiln_shape *s) {
    if (s->ndim < 1 || s->d[0] <= 0) return kiln_shape_numel(s);
    return kiln_shape_numel(s) / s->d[0];
}

/* The plan was made at the largest batch; check these shapes fit it (they do for any sensible
   network, since tensors shrink with the batch) and derive every tensor's address. */
static kiln_status bind_plan(const kiln_graph *g, const kiln_memplan *p, cpu_ctx *s,
                             kiln_err *err) {
    const kiln_shapes *sh = &s->shapes;
    for (int t = 0; t < g->n_t; t++) {
        s->ptr[t] = NULL;
        s->stride[t] = 0;
        if (g->t[t].kind != KILN_TENSOR_ACT || sh->val[t]) continue;
        int r = p->root[t];
        if (r < 0) {
            if (kiln_graph_producer(g, t) < 0) continue;
            return kiln_err_set(err, KILN_ERR_INTERNAL,
                                "tensor '%s' has no planned storage at this batch", g->t[t].name);
        }
        int fits = tensor_bytes(sh, t) <= p->bytes[t];
        if (p->slice[t])
            fits = fits && sh->s[t].d[0] == sh->s[r].d[0] &&
                   p->item_offset[t] + item_elems(&sh->s[t]) <= item_elems(&sh->s[r]);
        if (!fits)
            return kiln_err_set(err, KILN_ERR_SHAPE,
                                "tensor '%s' does not fit its planned storage at this batch",
                                g->t[t].name);
        s->ptr[t] = kiln_memplan_data(p, sh, t, s->arena, &s->stride[t]);
    }
    for (int k = 0; k < g->n_n; k++) {
        int j = p->inplace_input[k];
        if (j >= 0 && !kiln_shape_eq(&sh->s[g->n[k].in[j]], &sh->s[g->n[k].out[0]]))
            return kiln_err_set(err, KILN_ERR_SHAPE,
                                "node '%s' was planned in place but its shapes differ at this "
                                "batch", g->n[k].name);
    }
    return KILN_OK;
}

/* Re-infer shapes when the inputs' shapes changed. */
static kiln_status prepare_shapes(kiln_context *c, cpu_ctx *s, const kiln_view *inputs,
                                  kiln_err *err) {
    const kiln_graph *g = c->e->g;
    int same = s->batch >= 0;
    for (int i = 0; i < g->n_inputs && same; i++)
        if (!kiln_shape_eq(&s->in_shape[i], &inputs[i].shape)) same = 0;
    if (same) return KILN_OK;
    kiln_shapes_free(&s->shapes);
    s->batch = -1;
    kiln_shape in[64];
    for (int i = 0; i < g->n_inputs; i++) in[i] = inputs[i].shape;
    KILN_TRY(kiln_infer(g, in, &s->shapes, err));
    kiln_status st = bind_plan(g, &((const cpu_engine *)c->e->bstate)->plan, s, err);
    if (st != KILN_OK) {
        kiln_shapes_free(&s->shapes);
        return st;
    }
    for (int i = 0; i < g->n_inputs; i++) s->in_shape[i] = inputs[i].shape;
    s->batch = g->n_inputs && inputs[0].shape.ndim > 0 ? inputs[0].shape.d[0] : 0;
    return KILN_OK;
}

/* A tensor as the kernels see it (the first item of a slice). */
static kiln_view view_of(const kiln_graph *g, const cpu_ctx *s, const kiln_view *inputs, int id) {
    if (id < 0) return (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
    void *data = s->shapes.val[id] ? s->shapes.val[id] : s->ptr[id];
    if (g->t[id].kind == KILN_TENSOR_INPUT)
        for (int q = 0; q < g->n_inputs; q++)
            if (g->inputs[q] == id) data = inputs[q].data;
    return (kiln_view){s->shapes.dt[id], s->shapes.s[id], data};
}

/* Item n of a view whose dim 0 is the batch: one item, at its place (stride 0: dense). */
static kiln_view item_of(kiln_view v, int64_t n, size_t stride) {
    size_t item = (size_t)item_elems(&v.shape) * kiln_dtype_size(v.dtype);
    v.data = (char *)v.data + (size_t)n * (stride ? stride : item);
    v.shape.d[0] = 1;
    return v;
}

/* Run node n once per batch item: an output is a slice of a larger buffer, whose items are
   contiguous. Activations with the batch as dim 0 are split; constants and values are not. */
static kiln_status run_per_item(const kiln_graph *g, cpu_ctx *s, const kiln_node *n,
                                const kiln_cpu_prepared *pp, const kiln_view *inputs,
                                kiln_err *err) {
    int64_t batch = s->shapes.s[n->out[0]].d[0];
    kiln_view full_in[64];
    if (n->n_in > 64) return kiln_err_set(err, KILN_ERR_UNSUPPORTED, "more than 64 inputs");
    for (int j = 0; j < n->n_in; j++) full_in[j] = view_of(g, s, inputs, n->in[j]);
    for (int64_t b = 0; b < batch; b++) {
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            int split = id >= 0 && !s->shapes.val[id] && g->t[id].kind != KILN_TENSOR_CONST &&
                        full_in[j].shape.ndim > 0 && full_in[j].shape.d[0] == batch;
            s->iv[j] = split ? item_of(full_in[j], b, s->stride[id]) : full_in[j];
        }
        for (int j = 0; j < n->n_out; j++) {
            int id = n->out[j];
            kiln_view v = {s->shapes.dt[id], s->shapes.s[id], s->ptr[id]};
            s->ov[j] = item_of(v, b, s->stride[id]);
        }
        KILN_TRY(kiln_cpu_run_prepared(s->cpu, n, pp, s->iv, s->ov, err));
    }
    return KILN_OK;
}

/* A Concat some of whose inputs already sit in their slice: copy the others, item by item (the
   output may itself be a slice of an outer Concat). */
static kiln_status concat_rest(const kiln_graph *g, const kiln_memplan *p, cpu_ctx *s,
                               const kiln_node *n, const kiln_view *inputs, kiln_err *err) {
    int o = n->out[0];
    const kiln_shape *os = &s->shapes.s[o];
    int r = os->ndim;
    int64_t axis = kiln_axis_norm(n->a.axis.axis, r);
    if (axis < 1) return kiln_err_set(err, KILN_ERR_INTERNAL, "in-place Concat along the batch");
    size_t es = kiln_dtype_size(s->shapes.dt[o]);
    int64_t outer = 1, inner = 1;
    for (int i = 1; i < axis; i++) outer *= os->d[i];
    for (int i = (int)axis + 1; i < r; i++) inner *= os->d[i];
    size_t o_item = (size_t)item_elems(os) * es;
    size_t o_stride = s->stride[o] ? s->stride[o] : o_item;
    int64_t c0 = 0;
    for (int j = 0; j < n->n_in; j++) {
        int t = n->in[j];
        if (t < 0) continue;
        kiln_view v = view_of(g, s, inputs, t);
        int64_t ch = v.shape.d[axis];
        int placed = p->slice[t] && g->t[t].alias == o && p->root[t] == p->root[o];
        if (!placed) {
            size_t block = (size_t)(ch * inner) * es, i_item = (size_t)item_elems(&v.shape) * es;
            size_t i_stride = s->stride[t] ? s->stride[t] : i_item;
            for (int64_t b = 0; b < os->d[0]; b++)
                for (int64_t q = 0; q < outer; q++)
                    memcpy(s->ptr[o] + (size_t)b * o_stride +
                               ((size_t)(q * os->d[axis] + c0) * (size_t)inner) * es,
                           (const char *)v.data + (size_t)b * i_stride + (size_t)q * block, block);
        }
        c0 += ch;
    }
    return KILN_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Run the graph; with node_ms, time every node too. */
static kiln_status run_graph(kiln_context *c, const kiln_view *inputs, double *node_ms,
                             kiln_err *err) {
    const kiln_graph *g = c->e->g;
    const cpu_engine *es = c->e->bstate;
    const kiln_memplan *p = &es->plan;
    cpu_ctx *s = c->bstate;
    KILN_TRY(prepare_shapes(c, s, inputs, err));
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        int all_known = 1;
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0 && !s->shapes.val[n->out[j]]) all_known = 0;
        if (node_ms) node_ms[k] = 0;
        if (all_known || p->mode[k] == KILN_MEMPLAN_SKIP) continue;
        double t0 = node_ms ? now_ms() : 0;
        kiln_status st;
        if (p->mode[k] == KILN_MEMPLAN_CONCAT_REST) {
            st = concat_rest(g, p, s, n, inputs, err);
        } else if (p->mode[k] == KILN_MEMPLAN_PER_ITEM) {
            st = run_per_item(g, s, n, es->prep[k], inputs, err);
        } else {
            for (int j = 0; j < n->n_in; j++) s->iv[j] = view_of(g, s, inputs, n->in[j]);
            for (int j = 0; j < n->n_out; j++) {
                int id = n->out[j];
                s->ov[j] = id < 0 ? (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL}
                                  : (kiln_view){s->shapes.dt[id], s->shapes.s[id], s->ptr[id]};
            }
            st = kiln_cpu_run_prepared(s->cpu, n, es->prep[k], s->iv, s->ov, err);
        }
        if (st != KILN_OK) {
            kiln_err_prefix(err, "node '%s' (%s)", n->name, kiln_op_name(n->op));
            return st;
        }
        if (node_ms) node_ms[k] = now_ms() - t0;
    }
    return KILN_OK;
}

static kiln_status cpu_context_run(kiln_context *c, const kiln_view *inputs, kiln_err *err) {
    return run_graph(c, inputs, NULL, err);
}

static kiln_status cpu_context_profile(kiln_context *c, const kiln_view *inputs, double *node_ms,
                                       kiln_err *err) {
    return run_graph(c, inputs, node_ms, err);
}

static kiln_status cpu_context_output(kiln_context *c, int i, kiln_view *out, kiln_err *err) {
    cpu_ctx *s = c->bstate;
    if (s->batch < 0) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "no run yet");
    int id = c->e->g->outputs[i];
    void *data = s->shapes.val[id] ? s->shapes.val[id] : s->ptr[id];
    if (c->e->g->t[id].kind != KILN_TENSOR_ACT) data = c->e->g->t[id].data;
    *out = (kiln_view){s->shapes.dt[id], s->shapes.s[id], data};
    return KILN_OK;
}

const kiln_backend_i kiln_backend_cpu = {
    .version = KILN_BACKEND_IFACE_VERSION,
    .name = "cpu",
    .available = cpu_available,
    .describe = cpu_describe,
    .supports = cpu_supports,
    .engine_prepare = cpu_engine_prepare,
    .engine_release = cpu_engine_release,
    .context_create = cpu_context_create,
    .context_destroy = cpu_context_destroy,
    .context_run = cpu_context_run,
    .context_output = cpu_context_output,
    .context_profile = cpu_context_profile,
};
