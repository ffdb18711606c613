/* kiln_context: validate what the caller binds, then let the backend run it. */
#include <stdlib.h>
#include <string.h>

#include "runtime/engine.h"

kiln_status kiln_context_create(kiln_engine *e, kiln_context **out) {
    if (!out) return KILN_ERR_INVALID_ARG;
    *out = NULL;
    if (!e) return KILN_ERR_INVALID_ARG;
    if (!e->g || !e->iface) return kiln_err_set(&e->err, KILN_ERR_INVALID_ARG, "engine not built");
    kiln_context *c = calloc(1, sizeof *c);
    if (!c) return kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory");
    c->e = e;
    if (e->iface->context_create) {
        kiln_status st = e->iface->context_create(c, &e->err);
        if (st != KILN_OK) {
            free(c);
            return st;
        }
    }
    *out = c;
    return KILN_OK;
}

void kiln_context_destroy(kiln_context *c) {
    if (!c) return;
    if (c->e->iface->context_destroy) c->e->iface->context_destroy(c);
    free(c);
}

const char *kiln_context_errmsg(const kiln_context *c) {
    if (!c) return "no context";
    return c->err.status == KILN_OK ? "" : c->err.msg;
}

/* Match the caller's buffers to the graph inputs (by name, else by position) and check them. */
static kiln_status bind_inputs(kiln_context *c, int n, const kiln_buffer *in, kiln_view *views) {
    const kiln_engine *e = c->e;
    const kiln_graph *g = e->g;
    if (n != g->n_inputs)
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "the engine has %d input%s, %d given",
                            g->n_inputs, g->n_inputs == 1 ? "" : "s", n);
    int64_t batch = -1;
    for (int i = 0; i < g->n_inputs; i++) {
        const kiln_io_info *io = &e->io_in[i];
        const kiln_buffer *b = NULL;
        for (int k = 0; k < n && !b; k++)
            if (in[k].name && !strcmp(in[k].name, io->name)) b = &in[k];
        if (!b) {
            if (in[i].name && strcmp(in[i].name, io->name))
                return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG,
                                    "input '%s' given, but the engine has no input of that name",
                                    in[i].name);
            b = &in[i];
        }
        if (!b->data)
            return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "input '%s': no data", io->name);
        if (b->dtype != io->dtype)
            return kiln_err_set(&c->err, KILN_ERR_DTYPE, "input '%s': %s given, the model takes %s",
                                io->name, kiln_dtype_name(b->dtype), kiln_dtype_name(io->dtype));
        char want[96], got[96];
        kiln_shape gs = kiln_shape_make(b->ndim, b->dims);
        kiln_shape ws = kiln_shape_make(io->ndim, io->dims);
        int ok = b->ndim == io->ndim;
        for (int d = 0; ok && d < io->ndim; d++)
            if (io->dims[d] >= 0 && io->dims[d] != b->dims[d]) ok = 0;
        if (!ok)
            return kiln_err_set(&c->err, KILN_ERR_SHAPE, "input '%s': shape %s given, expected %s",
                                io->name, kiln_shape_str(&gs, got, sizeof got),
                                kiln_shape_str(&ws, want, sizeof want));
        if (e->has_batch) {
            if (batch >= 0 && b->dims[0] != batch)
                return kiln_err_set(&c->err, KILN_ERR_SHAPE,
                                    "inputs disagree on the batch size (%lld and %lld)",
                                    (long long)batch, (long long)b->dims[0]);
            batch = b->dims[0];
            if (batch < e->bmin || batch > e->bmax)
                return kiln_err_set(&c->err, KILN_ERR_RANGE,
                                    "batch %lld is outside the engine's profile %lld..%lld "
                                    "(rebuild with --max-batch)",
                                    (long long)batch, (long long)e->bmin, (long long)e->bmax);
        }
        views[i] = (kiln_view){b->dtype, gs, b->data};
    }
    return KILN_OK;
}

#define MAX_RUN_INPUTS 64

/* The checks every run makes before the backend sees it, then the inputs bound as views. */
static kiln_status check_and_bind(kiln_context *c, int n_inputs, const kiln_buffer *inputs,
                                  kiln_view *views) {
    if (n_inputs < 0 || (n_inputs > 0 && !inputs))
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "no inputs given");
    if (c->e->g->n_inputs > MAX_RUN_INPUTS)
        return kiln_err_set(&c->err, KILN_ERR_UNSUPPORTED, "more than %d inputs", MAX_RUN_INPUTS);
    return bind_inputs(c, n_inputs, inputs, views);
}

kiln_status kiln_context_run(kiln_context *c, int n_inputs, const kiln_buffer *inputs) {
    if (!c) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&c->err);
    kiln_view views[MAX_RUN_INPUTS];
    KILN_TRY(check_and_bind(c, n_inputs, inputs, views));
    return c->e->iface->context_run(c, views, &c->err);
}

kiln_status kiln_context_profile(kiln_context *c, int n_inputs, const kiln_buffer *inputs,
                                 double *layer_ms) {
    if (!c) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&c->err);
    if (!layer_ms) return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "no array for the times");
    if (!c->e->iface->context_profile)
        return kiln_err_set(&c->err, KILN_ERR_UNSUPPORTED, "the %s backend cannot profile layers",
                            c->e->iface->name);
    kiln_view views[MAX_RUN_INPUTS];
    KILN_TRY(check_and_bind(c, n_inputs, inputs, views));
    return c->e->iface->context_profile(c, views, layer_ms, &c->err);
}

kiln_status kiln_context_output(kiln_context *c, int index, kiln_buffer *out) {
    if (!c || !out) return KILN_ERR_INVALID_ARG;
    if (index < 0 || index >= c->e->g->n_outputs)
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "output %d out of range (%d outputs)",
                            index, c->e->g->n_outputs);
    kiln_view v;
    KILN_TRY(c->e->iface->context_output(c, index, &v, &c->err));
    memset(out, 0, sizeof *out);
    out->name = c->e->io_out[index].name;
    out->dtype = v.dtype;
    out->ndim = v.shape.ndim;
    for (int d = 0; d < v.shape.ndim; d++) out->dims[d] = v.shape.d[d];
    out->data = v.data;
    return KILN_OK;
}
