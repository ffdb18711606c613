/* The CPU backend at the engine level: an interpreter over the optimized graph.
 *
 * Per context: a kiln_cpu (thread pool + scratch), the shapes for the batch last run (re-inferred
 * only when the batch changes), and one buffer per activation sized for the largest batch seen.
 * Tensors whose values shape inference already computed (exporters' shape sub-graphs) are not
 * run at all: their values come from the inference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "backend/cpu/cpu.h"
#include "core/dtype.h"
#include "runtime/engine.h"

typedef struct cpu_ctx {
    kiln_cpu *cpu;
    int64_t batch;        /* batch of `shapes`, -1 before the first run */
    kiln_shape *in_shape; /* the input shapes `shapes` was inferred for */
    kiln_shapes shapes;
    void **buf;           /* per tensor: activation storage */
    size_t *cap;
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

static void ctx_free_state(cpu_ctx *s, int nt) {
    if (!s) return;
    kiln_cpu_destroy(s->cpu);
    kiln_shapes_free(&s->shapes);
    if (s->buf)
        for (int i = 0; i < nt; i++) free(s->buf[i]);
    free(s->buf);
    free(s->cap);
    free(s->iv);
    free(s->ov);
    free(s->in_shape);
    free(s);
}

static kiln_status cpu_context_create(kiln_context *c, kiln_err *err) {
    const kiln_graph *g = c->e->g;
    cpu_ctx *s = calloc(1, sizeof *s);
    if (!s) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    s->batch = -1;
    s->maxio = 1;
    for (int i = 0; i < g->n_n; i++) {
        if (g->n[i].n_in > s->maxio) s->maxio = g->n[i].n_in;
        if (g->n[i].n_out > s->maxio) s->maxio = g->n[i].n_out;
    }
    s->cpu = kiln_cpu_create(c->e->threads);
    s->buf = calloc((size_t)g->n_t + 1, sizeof(void *));
    s->cap = calloc((size_t)g->n_t + 1, sizeof(size_t));
    s->iv = calloc((size_t)s->maxio, sizeof(kiln_view));
    s->ov = calloc((size_t)s->maxio, sizeof(kiln_view));
    s->in_shape = calloc((size_t)g->n_inputs + 1, sizeof(kiln_shape));
    if (!s->cpu || !s->buf || !s->cap || !s->iv || !s->ov || !s->in_shape) {
        ctx_free_state(s, g->n_t);
        return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory creating a CPU context");
    }
    c->bstate = s;
    return KILN_OK;
}

static void cpu_context_destroy(kiln_context *c) {
    ctx_free_state(c->bstate, c->e->g->n_t);
    c->bstate = NULL;
}

/* Re-infer shapes when the inputs' shapes changed and make every activation buffer large
   enough. Allocation happens only here, never per node. */
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
    for (int i = 0; i < g->n_t; i++) {
        if (g->t[i].kind != KILN_TENSOR_ACT || s->shapes.val[i]) continue;
        size_t nb = (size_t)kiln_shape_numel(&s->shapes.s[i]) * kiln_dtype_size(s->shapes.dt[i]);
        if (nb <= s->cap[i] && s->buf[i]) continue;
        free(s->buf[i]);
        s->buf[i] = aligned_alloc(64, (nb + 63) & ~(size_t)63);
        s->cap[i] = s->buf[i] ? nb : 0;
        if (!s->buf[i] && nb) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory for '%s'",
                                                  g->t[i].name);
    }
    for (int i = 0; i < g->n_inputs; i++) s->in_shape[i] = inputs[i].shape;
    s->batch = g->n_inputs && inputs[0].shape.ndim > 0 ? inputs[0].shape.d[0] : 0;
    return KILN_OK;
}

static kiln_status cpu_context_run(kiln_context *c, const kiln_view *inputs, kiln_err *err) {
    const kiln_graph *g = c->e->g;
    cpu_ctx *s = c->bstate;
    KILN_TRY(prepare_shapes(c, s, inputs, err));
    /* Graph inputs are read in place from the caller's memory. */
    for (int i = 0; i < g->n_inputs; i++) s->buf[g->inputs[i]] = NULL;
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        int all_known = 1;
        for (int j = 0; j < n->n_out; j++)
            if (!s->shapes.val[n->out[j]]) all_known = 0;
        if (all_known) continue;
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            if (id < 0) {
                s->iv[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
                continue;
            }
            void *data = s->shapes.val[id] ? s->shapes.val[id] : s->buf[id];
            if (g->t[id].kind == KILN_TENSOR_INPUT) {
                for (int q = 0; q < g->n_inputs; q++)
                    if (g->inputs[q] == id) data = inputs[q].data;
            }
            s->iv[j] = (kiln_view){s->shapes.dt[id], s->shapes.s[id], data};
        }
        for (int j = 0; j < n->n_out; j++) {
            int id = n->out[j];
            s->ov[j] = (kiln_view){s->shapes.dt[id], s->shapes.s[id], s->buf[id]};
        }
        kiln_status st = kiln_cpu_run_node(s->cpu, n, s->iv, s->ov, err);
        if (st != KILN_OK) {
            kiln_err_prefix(err, "node '%s' (%s)", n->name, kiln_op_name(n->op));
            return st;
        }
    }
    return KILN_OK;
}

static kiln_status cpu_context_output(kiln_context *c, int i, kiln_view *out, kiln_err *err) {
    cpu_ctx *s = c->bstate;
    if (s->batch < 0) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "no run yet");
    int id = c->e->g->outputs[i];
    void *data = s->shapes.val[id] ? s->shapes.val[id] : s->buf[id];
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
    .engine_prepare = NULL,
    .engine_release = NULL,
    .context_create = cpu_context_create,
    .context_destroy = cpu_context_destroy,
    .context_run = cpu_context_run,
    .context_output = cpu_context_output,
};
