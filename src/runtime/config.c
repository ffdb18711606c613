/* kiln_builder_config and the names of backends and precisions. */
#include <stdlib.h>
#include <string.h>

#include "runtime/engine.h"

kiln_builder_config *kiln_builder_config_create(void) {
    kiln_builder_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->backend = KILN_BACKEND_CPU;
    c->precision = KILN_PREC_FP32;
    c->optimize = 1;
    return c;
}

void kiln_builder_config_destroy(kiln_builder_config *c) {
    if (!c) return;
    free(c->timing_cache);
    free(c);
}

const char *kiln_builder_config_errmsg(const kiln_builder_config *c) {
    return c && c->err.status != KILN_OK ? c->err.msg : "";
}

kiln_status kiln_builder_config_set_backend(kiln_builder_config *c, kiln_backend_kind b) {
    if (!c) return KILN_ERR_INVALID_ARG;
    if (b != KILN_BACKEND_CPU && b != KILN_BACKEND_CUDA)
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "unknown backend %d", (int)b);
    c->backend = b;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_precision(kiln_builder_config *c, kiln_precision p) {
    if (!c) return KILN_ERR_INVALID_ARG;
    if ((int)p < 0 || p >= KILN_PREC_COUNT)
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "unknown precision %d", (int)p);
    c->precision = p;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_batch_range(kiln_builder_config *c, int64_t min, int64_t opt,
                                                int64_t max) {
    if (!c) return KILN_ERR_INVALID_ARG;
    if (min < 1 || opt < min || max < opt)
        return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG,
                            "batch range must satisfy 1 <= min <= opt <= max (got %lld/%lld/%lld)",
                            (long long)min, (long long)opt, (long long)max);
    c->bmin = min;
    c->bopt = opt;
    c->bmax = max;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_optimize(kiln_builder_config *c, int on) {
    if (!c) return KILN_ERR_INVALID_ARG;
    c->optimize = on != 0;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_threads(kiln_builder_config *c, int n) {
    if (!c) return KILN_ERR_INVALID_ARG;
    if (n < 0) return kiln_err_set(&c->err, KILN_ERR_INVALID_ARG, "threads must be >= 0");
    c->threads = n;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_timing_cache(kiln_builder_config *c, const char *path) {
    if (!c) return KILN_ERR_INVALID_ARG;
    free(c->timing_cache);
    c->timing_cache = path ? strdup(path) : NULL;
    if (path && !c->timing_cache) return kiln_err_set(&c->err, KILN_ERR_NOMEM, "out of memory");
    return KILN_OK;
}

kiln_status kiln_builder_config_set_progress(kiln_builder_config *c, kiln_progress_fn fn,
                                             void *user) {
    if (!c) return KILN_ERR_INVALID_ARG;
    c->progress = fn;
    c->progress_user = user;
    return KILN_OK;
}

static const char *const backend_names[] = {"cpu", "cuda"};
static const char *const precision_names[KILN_PREC_COUNT] = {"fp32", "tf32", "fp16",
                                                              "bf16", "int8", "best"};

const char *kiln_backend_name(kiln_backend_kind b) {
    return (unsigned)b < 2 ? backend_names[b] : "?";
}

const char *kiln_precision_name(kiln_precision p) {
    return (unsigned)p < KILN_PREC_COUNT ? precision_names[p] : "?";
}

int kiln_backend_parse(const char *name) {
    for (int i = 0; i < 2; i++)
        if (name && !strcmp(name, backend_names[i])) return i;
    return -1;
}

int kiln_precision_parse(const char *name) {
    for (int i = 0; i < KILN_PREC_COUNT; i++)
        if (name && !strcmp(name, precision_names[i])) return i;
    return -1;
}

const kiln_backend_i *kiln_backend_get(kiln_backend_kind b) {
    switch (b) {
    case KILN_BACKEND_CPU: return &kiln_backend_cpu;
#ifdef KILN_CUDA_ENGINE
    case KILN_BACKEND_CUDA: return &kiln_backend_cuda;
#endif
    default: return NULL;
    }
}

int kiln_backend_available(kiln_backend_kind b) {
    const kiln_backend_i *i = kiln_backend_get(b);
    return i && (!i->available || i->available());
}
