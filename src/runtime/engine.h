/* engine.h — the insides of kiln_model, kiln_builder_config, kiln_engine and kiln_context
 * (internal: the CLI, backends, the plan reader/writer and tests use it; users see kiln.h). */
#ifndef KILN_RUNTIME_ENGINE_H
#define KILN_RUNTIME_ENGINE_H

#include "core/graph.h"
#include "core/shape.h"
#include "kiln.h"
#include "runtime/backend.h"

struct kiln_model {
    kiln_err err;
    kiln_graph *g;     /* as imported (NULL before a successful load) */
    char *source;      /* what was loaded: path or zoo:NAME */
};

struct kiln_builder_config {
    kiln_err err;
    kiln_backend_kind backend;
    kiln_precision precision;
    int64_t bmin, bopt, bmax; /* 0: not set */
    int optimize;
    int threads;
    char *timing_cache;
    kiln_progress_fn progress;
    void *progress_user;
    int max_tactics;               /* tactics timed per layer (0: the backend's default) */
};

struct kiln_engine {
    kiln_err err;
    kiln_graph *g;                 /* the optimized graph the engine runs */
    kiln_backend_kind backend;
    const kiln_backend_i *iface;
    kiln_precision precision;
    int64_t bmin, bopt, bmax;      /* batch profile; all 0 when the model has no batch dim */
    int has_batch;                 /* dim 0 of every input is the (symbolic) batch */
    int threads;
    int optimized;                 /* passes ran */
    kiln_shapes shapes_max;        /* shapes at bmax (or the fixed shapes) */
    kiln_io_info *io_in, *io_out;  /* names point into g */
    char *timing_cache;
    kiln_progress_fn progress;
    void *progress_user;
    void *bstate;                  /* backend's per-engine state */
    int max_tactics;               /* from the builder config (0: the backend's default) */
};

struct kiln_context {
    kiln_err err;
    kiln_engine *e;
    void *bstate;                  /* backend's per-context state */
};

/* Shapes of the graph inputs for batch b (declared shapes with dim 0 = b when has_batch). */
void kiln_engine_input_shapes(const kiln_engine *e, int64_t b, kiln_shape *out);
/* Build the io_in/io_out tables from e->g and e->shapes_max. */
kiln_status kiln_engine_make_io(kiln_engine *e, kiln_err *err);

/* Device memory of an engine with `contexts` execution contexts; 0 for host backends. */
static inline size_t kiln_engine_device_bytes(const kiln_engine *e, int contexts) {
    return e && e->iface && e->iface->device_bytes ? e->iface->device_bytes(e, contexts) : 0;
}

#endif
