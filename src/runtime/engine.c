/* kiln_engine: build (optimize, resolve shapes, check support, let the backend prepare) and
 * describe. Saving and loading plan files lives in src/plan/. */
#include <stdlib.h>
#include <string.h>

#include "opt/opt.h"
#include "runtime/engine.h"

kiln_engine *kiln_engine_create(void) { return calloc(1, sizeof(kiln_engine)); }

static void engine_clear(kiln_engine *e) {
    if (e->iface && e->iface->engine_release && e->bstate) e->iface->engine_release(e);
    e->bstate = NULL;
    kiln_shapes_free(&e->shapes_max);
    kiln_graph_destroy(e->g);
    e->g = NULL;
    free(e->io_in);
    free(e->io_out);
    e->io_in = e->io_out = NULL;
    free(e->timing_cache);
    e->timing_cache = NULL;
}

void kiln_engine_destroy(kiln_engine *e) {
    if (!e) return;
    engine_clear(e);
    free(e);
}

const char *kiln_engine_errmsg(const kiln_engine *e) {
    if (!e) return "no engine (out of memory?)";
    return e->err.status == KILN_OK ? "" : e->err.msg;
}

void kiln_engine_input_shapes(const kiln_engine *e, int64_t b, kiln_shape *out) {
    for (int i = 0; i < e->g->n_inputs; i++) {
        out[i] = e->g->t[e->g->inputs[i]].shape;
        if (e->has_batch) out[i].d[0] = b;
    }
}

kiln_status kiln_engine_make_io(kiln_engine *e, kiln_err *err) {
    const kiln_graph *g = e->g;
    free(e->io_in);
    free(e->io_out);
    e->io_in = calloc((size_t)g->n_inputs + 1, sizeof(kiln_io_info));
    e->io_out = calloc((size_t)g->n_outputs + 1, sizeof(kiln_io_info));
    if (!e->io_in || !e->io_out) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 2; k++) {
        int n = k ? g->n_outputs : g->n_inputs;
        for (int i = 0; i < n; i++) {
            int id = k ? g->outputs[i] : g->inputs[i];
            kiln_io_info *io = k ? &e->io_out[i] : &e->io_in[i];
            io->name = g->t[id].name;
            io->dtype = e->shapes_max.dt[id];
            io->ndim = e->shapes_max.s[id].ndim;
            for (int d = 0; d < io->ndim; d++) io->dims[d] = e->shapes_max.s[id].d[d];
            if (e->has_batch && io->ndim > 0) io->dims[0] = -1;
        }
    }
    return KILN_OK;
}

/* Decide the batch profile from the model's inputs and the configuration. */
static kiln_status resolve_batch(kiln_engine *e, const kiln_builder_config *cfg) {
    const kiln_graph *g = e->g;
    int dyn0 = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const kiln_tensor *t = &g->t[g->inputs[i]];
        char buf[96];
        for (int d = 0; d < t->shape.ndim; d++) {
            if (t->shape.d[d] >= 0) continue;
            if (d == 0) {
                dyn0++;
                continue;
            }
            return kiln_err_set(&e->err, KILN_ERR_SHAPE,
                                "input '%s' has a symbolic dimension %d (%s%s%s); fix it with "
                                "--shape %s=...",
                                t->name, d, kiln_shape_str(&t->shape, buf, sizeof buf),
                                t->sym[d] ? ", " : "", t->sym[d] ? t->sym[d] : "", t->name);
        }
    }
    e->has_batch = g->n_inputs > 0 && dyn0 == g->n_inputs;
    if (dyn0 && !e->has_batch)
        return kiln_err_set(&e->err, KILN_ERR_SHAPE,
                            "some inputs have a symbolic first dimension and some do not; fix "
                            "them with --shape");
    if (e->has_batch) {
        e->bmin = cfg->bmin ? cfg->bmin : 1;
        e->bopt = cfg->bopt ? cfg->bopt : e->bmin;
        e->bmax = cfg->bmax ? cfg->bmax : e->bopt;
        return KILN_OK;
    }
    if (cfg->bmax) {
        int64_t fixed = g->n_inputs && g->t[g->inputs[0]].shape.ndim > 0
                            ? g->t[g->inputs[0]].shape.d[0]
                            : 1;
        if (cfg->bmin != fixed || cfg->bmax != fixed)
            return kiln_err_set(&e->err, KILN_ERR_RANGE,
                                "the model's batch is fixed at %lld; a batch of %lld..%lld needs a "
                                "model exported with a dynamic batch axis",
                                (long long)fixed, (long long)cfg->bmin, (long long)cfg->bmax);
    }
    return KILN_OK;
}

static kiln_status check_support(kiln_engine *e) {
    if (!e->iface->supports) return KILN_OK;
    for (int i = 0; i < e->g->n_n; i++) {
        const kiln_node *n = &e->g->n[i];
        char why[256] = "";
        if (!e->iface->supports(e->g, n, e->precision, why, sizeof why))
            return kiln_err_set(&e->err, KILN_ERR_UNSUPPORTED,
                                "node '%s' (op %s, opset %d): not supported by the %s backend%s%s",
                                n->name, kiln_op_name(n->op), n->opset, e->iface->name,
                                why[0] ? ": " : "", why);
    }
    return KILN_OK;
}

kiln_status kiln_engine_build(kiln_engine *e, const kiln_model *m, const kiln_builder_config *cfg) {
    if (!e) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&e->err);
    if (!m || !m->g) return kiln_err_set(&e->err, KILN_ERR_INVALID_ARG, "no model loaded");
    kiln_builder_config defaults;
    if (!cfg) {
        memset(&defaults, 0, sizeof defaults);
        defaults.optimize = 1;
        cfg = &defaults;
    }
    engine_clear(e);
    e->backend = cfg->backend;
    e->precision = cfg->precision;
    e->threads = cfg->threads;
    e->progress = cfg->progress;
    e->progress_user = cfg->progress_user;
    e->max_tactics = cfg->max_tactics;
    e->iface = kiln_backend_get(cfg->backend);
    if (!e->iface)
        return kiln_err_set(&e->err, KILN_ERR_UNSUPPORTED,
                            "the %s backend is not compiled into this kiln",
                            kiln_backend_name(cfg->backend));
    if (e->iface->available && !e->iface->available())
        return kiln_err_set(&e->err, KILN_ERR_NO_DEVICE, "%s backend: no %s device found",
                            e->iface->name, cfg->backend == KILN_BACKEND_CUDA ? "CUDA" : "");
    if (cfg->timing_cache && !(e->timing_cache = strdup(cfg->timing_cache)))
        return kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory");
    e->g = kiln_graph_clone(m->g);
    if (!e->g) return kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory copying the graph");

    KILN_TRY(resolve_batch(e, cfg));
    /* Shapes first on the imported graph: errors then name the user's own nodes. */
    kiln_shape in[64];
    if (e->g->n_inputs > 64)
        return kiln_err_set(&e->err, KILN_ERR_UNSUPPORTED, "more than 64 inputs");
    kiln_engine_input_shapes(e, e->bmax, in);
    KILN_TRY(kiln_infer(e->g, in, &e->shapes_max, &e->err));
    if (cfg->optimize) {
        kiln_shapes_free(&e->shapes_max);
        KILN_TRY(kiln_optimize(e->g, &e->err));
        e->optimized = 1;
        KILN_TRY(kiln_infer(e->g, in, &e->shapes_max, &e->err));
    }
    KILN_TRY(check_support(e));
    KILN_TRY(kiln_engine_make_io(e, &e->err));
    if (e->iface->engine_prepare) KILN_TRY(e->iface->engine_prepare(e, &e->err));
    return KILN_OK;
}

int kiln_engine_num_inputs(const kiln_engine *e) { return e && e->g ? e->g->n_inputs : 0; }
int kiln_engine_num_outputs(const kiln_engine *e) { return e && e->g ? e->g->n_outputs : 0; }

kiln_status kiln_engine_io(const kiln_engine *e, int is_input, int index, kiln_io_info *info) {
    if (!e || !e->g || !info) return KILN_ERR_INVALID_ARG;
    int n = is_input ? e->g->n_inputs : e->g->n_outputs;
    if (index < 0 || index >= n) return KILN_ERR_INVALID_ARG;
    *info = is_input ? e->io_in[index] : e->io_out[index];
    return KILN_OK;
}

void kiln_engine_batch_range(const kiln_engine *e, int64_t *min, int64_t *opt, int64_t *max) {
    if (min) *min = e ? e->bmin : 0;
    if (opt) *opt = e ? e->bopt : 0;
    if (max) *max = e ? e->bmax : 0;
}

kiln_backend_kind kiln_engine_backend(const kiln_engine *e) { return e->backend; }

int kiln_engine_num_layers(const kiln_engine *e) { return e && e->g ? e->g->n_n : 0; }

kiln_status kiln_engine_layer(const kiln_engine *e, int i, const char **name, const char **kind) {
    if (!e || !e->g || i < 0 || i >= e->g->n_n) return KILN_ERR_INVALID_ARG;
    const kiln_node *n = &e->g->n[i];
    if (name) *name = n->name;
    if (kind) *kind = n->label ? n->label : kiln_op_name(n->op);
    return KILN_OK;
}
kiln_precision kiln_engine_precision(const kiln_engine *e) { return e->precision; }
