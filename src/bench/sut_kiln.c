#include "bench/sut_kiln.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"

/* ---- query sample library ----------------------------------------------------------------- */

struct kiln_bench_qsl {
    kiln_lg_qsl iface;
    kiln_dataset *ds;
    int64_t numel;        /* floats per sample */
    uint64_t count;
    float **mem;          /* per sample index: loaded data or NULL */
    kiln_err err;
};

static kiln_status qsl_load(void *user, const uint64_t *idx, size_t n) {
    kiln_bench_qsl *q = user;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = idx[i];
        if (k >= q->count) return KILN_ERR_RANGE;
        if (q->mem[k]) continue;
        float *p = malloc(sizeof(float) * (size_t)q->numel);
        if (!p) return KILN_ERR_NOMEM;
        if (q->ds) {
            kiln_status st = kiln_dataset_load(q->ds, (int64_t)k, p, &q->err);
            if (st != KILN_OK) {
                free(p);
                return st;
            }
        } else {
            kiln_rng r;
            kiln_rng_seed(&r, 0x5eed0000u + k);
            for (int64_t j = 0; j < q->numel; j++) p[j] = (float)(kiln_rng_uniform(&r) * 2 - 1);
        }
        q->mem[k] = p;
    }
    return KILN_OK;
}

static kiln_status qsl_unload(void *user, const uint64_t *idx, size_t n) {
    kiln_bench_qsl *q = user;
    for (size_t i = 0; i < n; i++)
        if (idx[i] < q->count) {
            free(q->mem[idx[i]]);
            q->mem[idx[i]] = NULL;
        }
    return KILN_OK;
}

kiln_status kiln_bench_qsl_create(kiln_engine *e, kiln_dataset *ds, uint64_t random_count,
                                  kiln_bench_qsl **out, kiln_err *err) {
    *out = NULL;
    if (kiln_engine_num_inputs(e) != 1)
        return kiln_err_set(err, KILN_ERR_UNSUPPORTED,
                            "the benchmark feeds models with one input (this one has %d)",
                            kiln_engine_num_inputs(e));
    kiln_io_info io;
    kiln_engine_io(e, 1, 0, &io);
    if (io.dtype != KILN_F32)
        return kiln_err_set(err, KILN_ERR_DTYPE, "input '%s' is %s; the benchmark feeds float32",
                            io.name, kiln_dtype_name(io.dtype));
    int64_t numel = 1;
    for (int d = 1; d < io.ndim; d++) numel *= io.dims[d];
    if (ds && kiln_dataset_sample_numel(ds) != numel) {
        int64_t dims[KILN_MAX_DIMS];
        int nd = kiln_dataset_sample_shape(ds, dims);
        char shape[96] = "";
        for (int d = 0; d < nd; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "x" : "",
                     (long long)dims[d]);
        return kiln_err_set(err, KILN_ERR_SHAPE,
                            "dataset samples are %s (%lld values); input '%s' takes %lld per sample",
                            shape, (long long)kiln_dataset_sample_numel(ds), io.name,
                            (long long)numel);
    }
    kiln_bench_qsl *q = calloc(1, sizeof *q);
    if (!q) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    q->ds = ds;
    q->numel = numel;
    q->count = ds ? (uint64_t)kiln_dataset_count(ds) : random_count;
    q->mem = calloc(q->count ? q->count : 1, sizeof(float *));
    if (!q->mem) {
        free(q);
        return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    }
    q->iface = (kiln_lg_qsl){
        .name = ds ? kiln_dataset_name(ds) : "random",
        .total_sample_count = q->count,
        .performance_sample_count = q->count < 1024 ? q->count : 1024,
        .load_samples = qsl_load,
        .unload_samples = qsl_unload,
        .user = q,
    };
    *out = q;
    return KILN_OK;
}

void kiln_bench_qsl_destroy(kiln_bench_qsl *q) {
    if (!q) return;
    for (uint64_t i = 0; i < q->count; i++) free(q->mem[i]);
    free(q->mem);
    free(q);
}

const kiln_lg_qsl *kiln_bench_qsl_iface(kiln_bench_qsl *q) { return &q->iface; }

const float *kiln_bench_qsl_sample(const kiln_bench_qsl *q, uint64_t i) {
    return i < q->count ? q->mem[i] : NULL;
}

/* ---- system under test ------------------------------------------------------------------- */

typedef struct queued {
    kiln_lg_sample s;
    uint64_t t_ns; /* when it was queued (CLOCK_MONOTONIC) */
} queued;

typedef struct worker {
    struct kiln_sut_kiln *sut;
    pthread_t thread;
    int started;
    kiln_context *ctx;
    float *input;           /* max_batch x numel */
    kiln_lg_sample *batch;  /* samples of the current run */
    kiln_lg_response *resp;
    int32_t *top;           /* max_batch x 5 */
} worker;

struct kiln_sut_kiln {
    kiln_lg_sut iface;
    kiln_engine *e;
    kiln_lg *lg;
    kiln_bench_qsl *q;
    int streams;
    int64_t max_batch;
    uint64_t max_delay_ns;
    worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queued *queue;          /* ring buffer */
    size_t cap, head, len;
    int flushing, stop;
    uint64_t runs, samples;
    char name[64];
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sut_issue(void *user, const kiln_lg_sample *s, size_t n) {
    struct kiln_sut_kiln *k = user;
    uint64_t t = now_ns();
    pthread_mutex_lock(&k->mu);
    if (k->len + n > k->cap) {
        size_t nc = k->cap ? k->cap : 1024;
        while (nc < k->len + n) nc *= 2;
        queued *nq = malloc(sizeof(queued) * nc);
        if (!nq) {
            pthread_mutex_unlock(&k->mu);
            kiln_lg_abort(k->lg, KILN_ERR_NOMEM, "out of memory queueing samples");
            return;
        }
        for (size_t i = 0; i < k->len; i++) nq[i] = k->queue[(k->head + i) % k->cap];
        free(k->queue);
        k->queue = nq;
        k->cap = nc;
        k->head = 0;
    }
    for (size_t i = 0; i < n; i++) k->queue[(k->head + k->len + i) % k->cap] = (queued){s[i], t};
    k->len += n;
    k->flushing = 0;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void sut_flush(void *user) {
    struct kiln_sut_kiln *k = user;
    pthread_mutex_lock(&k->mu);
    k->flushing = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

/* Take up to max_batch samples, waiting up to max_delay for a full batch. 0 when stopping. */
static size_t take_batch(struct kiln_sut_kiln *k, kiln_lg_sample *out) {
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->stop && k->len == 0) pthread_cond_wait(&k->cv, &k->mu);
        if (k->stop) {
            pthread_mutex_unlock(&k->mu);
            return 0;
        }
        if ((int64_t)k->len >= k->max_batch || k->flushing || k->max_delay_ns == 0) break;
        uint64_t deadline = k->queue[k->head].t_ns + k->max_delay_ns;
        uint64_t now = now_ns();
        if (now >= deadline) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = deadline - now;
        ts.tv_sec += (time_t)(wait / 1000000000ull);
        ts.tv_nsec += (long)(wait % 1000000000ull);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
    }
    size_t n = k->len < (size_t)k->max_batch ? k->len : (size_t)k->max_batch;
    for (size_t i = 0; i < n; i++) out[i] = k->queue[(k->head + i) % k->cap].s;
    k->head = (k->head + n) % k->cap;
    k->len -= n;
    k->runs++;
    k->samples += n;
    pthread_mutex_unlock(&k->mu);
    return n;
}

static void top5(const float *row, int64_t classes, int32_t *best) {
    int nb = classes < 5 ? (int)classes : 5;
    for (int t = 0; t < 5; t++) best[t] = -1;
    for (int t = 0; t < nb; t++) {
        int64_t arg = -1;
        for (int64_t c = 0; c < classes; c++) {
            int taken = 0;
            for (int q = 0; q < t; q++) taken |= best[q] == c;
            if (!taken && (arg < 0 || row[c] > row[arg])) arg = c;
        }
        best[t] = (int32_t)arg;
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    struct kiln_sut_kiln *k = w->sut;
    int64_t numel = k->q->numel;
    kiln_io_info io;
    kiln_engine_io(k->e, 1, 0, &io);
    for (;;) {
        size_t n = take_batch(k, w->batch);
        if (!n) break;
        for (size_t i = 0; i < n; i++) {
            const float *src = kiln_bench_qsl_sample(k->q, w->batch[i].index);
            if (!src) {
                kiln_lg_abort(k->lg, KILN_ERR_INTERNAL, "a sample was issued before it was loaded");
                return NULL;
            }
            memcpy(w->input + (int64_t)i * numel, src, sizeof(float) * (size_t)numel);
        }
        kiln_buffer in = {.name = io.name, .dtype = KILN_F32, .ndim = io.ndim, .data = w->input};
        memcpy(in.dims, io.dims, sizeof in.dims);
        in.dims[0] = (int64_t)n;
        kiln_buffer out;
        if (kiln_context_run(w->ctx, 1, &in) != KILN_OK ||
            kiln_context_output(w->ctx, 0, &out) != KILN_OK) {
            kiln_lg_abort(k->lg, KILN_ERR_BACKEND, kiln_context_errmsg(w->ctx));
            return NULL;
        }
        int64_t row = 1;
        for (int d = 1; d < out.ndim; d++) row *= out.dims[d];
        int classifier = out.dtype == KILN_F32 && out.ndim == 2;
        for (size_t i = 0; i < n; i++) {
            w->resp[i].id = w->batch[i].id;
            if (classifier) {
                top5((const float *)out.data + (int64_t)i * row, row, w->top + i * 5);
                w->resp[i].data = w->top + i * 5;
                w->resp[i].size = 5 * sizeof(int32_t);
            } else {
                w->resp[i].data = (const char *)out.data + (size_t)i * (size_t)row * kiln_dtype_size(out.dtype);
                w->resp[i].size = (size_t)row * kiln_dtype_size(out.dtype);
            }
        }
        kiln_lg_complete(k->lg, w->resp, n);
    }
    return NULL;
}

kiln_status kiln_sut_kiln_create(kiln_engine *e, int streams, int64_t max_batch,
                                 uint64_t max_delay_ns, kiln_sut_kiln **out, kiln_err *err) {
    *out = NULL;
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    if (streams < 1) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "--streams must be >= 1");
    if (max_batch < 1 || (bmax && max_batch > bmax) || (!bmax && max_batch != 1))
        return kiln_err_set(err, KILN_ERR_RANGE,
                            "batch %lld is outside the engine's profile %lld..%lld",
                            (long long)max_batch, (long long)bmin, (long long)bmax);
    struct kiln_sut_kiln *k = calloc(1, sizeof *k);
    if (!k) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    k->e = e;
    k->streams = streams;
    k->max_batch = max_batch;
    k->max_delay_ns = max_delay_ns;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    snprintf(k->name, sizeof k->name, "kiln-%s-%s", kiln_backend_name(kiln_engine_backend(e)),
             kiln_precision_name(kiln_engine_precision(e)));
    k->iface = (kiln_lg_sut){.name = k->name, .issue_query = sut_issue,
                             .flush_queries = sut_flush, .user = k};
    k->w = calloc((size_t)streams, sizeof(worker));
    if (!k->w) {
        kiln_sut_kiln_destroy(k);
        return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < streams; i++) {
        k->w[i].sut = k;
        if (kiln_context_create(e, &k->w[i].ctx) != KILN_OK) {
            kiln_err_set(err, KILN_ERR_BACKEND, "%s", kiln_engine_errmsg(e));
            kiln_sut_kiln_destroy(k);
            return KILN_ERR_BACKEND;
        }
    }
    *out = k;
    return KILN_OK;
}

kiln_status kiln_sut_kiln_start(kiln_sut_kiln *k, kiln_lg *lg, kiln_bench_qsl *q, kiln_err *err) {
    k->lg = lg;
    k->q = q;
    for (int i = 0; i < k->streams; i++) {
        worker *w = &k->w[i];
        w->input = malloc(sizeof(float) * (size_t)(k->max_batch * q->numel));
        w->batch = malloc(sizeof(kiln_lg_sample) * (size_t)k->max_batch);
        w->resp = malloc(sizeof(kiln_lg_response) * (size_t)k->max_batch);
        w->top = malloc(sizeof(int32_t) * 5 * (size_t)k->max_batch);
        if (!w->input || !w->batch || !w->resp || !w->top)
            return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory for batch buffers");
        if (pthread_create(&w->thread, NULL, worker_main, w))
            return kiln_err_set(err, KILN_ERR_INTERNAL, "cannot start a worker thread");
        w->started = 1;
    }
    return KILN_OK;
}

const kiln_lg_sut *kiln_sut_kiln_iface(kiln_sut_kiln *k) { return &k->iface; }

void kiln_sut_kiln_destroy(kiln_sut_kiln *k) {
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    for (int i = 0; k->w && i < k->streams; i++) {
        worker *w = &k->w[i];
        if (w->started) pthread_join(w->thread, NULL);
        kiln_context_destroy(w->ctx);
        free(w->input);
        free(w->batch);
        free(w->resp);
        free(w->top);
    }
    free(k->w);
    free(k->queue);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}

void kiln_sut_kiln_stats(const kiln_sut_kiln *k, uint64_t *runs, double *mean_batch) {
    *runs = k->runs;
    *mean_batch = k->runs ? (double)k->samples / (double)k->runs : 0;
}
