/* cuda_tune.c — choosing a tactic for every distinct conv and gemm layer.
 *
 * Order of sources: a loaded plan file (restore only: a layer missing there is an error, never a
 * compile), then the timing cache (restore the recorded cuDNN plan from its JSON, milliseconds),
 * then autotuning:
 *   1. on up to 15 host threads, each with its own cuDNN handle: build the layer's operation
 *      graph, take cuDNN's heuristic top-k (mode A) and finalize each (runtime compilation,
 *      0.2-2 s per plan, hence the threads). Besides the fully fused graph (variant 0) a layer
 *      may run split: variant 1 = conv + bias, variant 2 = the conv alone, the rest (bias,
 *      residual, activation) then in one bias_act pass. FP32 and TF32 layers try every variant
 *      (measured: cuDNN's fused FP32 graphs with a residual are runtime-compiled engines 100x
 *      slower than its plain convolutions); 16-bit layers only fall back to variant 1 when no
 *      engine fuses them (their fused engines are the fast ones);
 *   2. on this thread: time every compiled plan (and the own depthwise kernel where it applies)
 *      with CUDA events on buffers of the layer's real sizes (random inputs, the real weights),
 *      keep the fastest, and restore it from its JSON on the engine's own handle (the threads'
 *      handles go away); cuBLASLt's heuristic algorithms are timed the same way.
 * Every choice is recorded for the plan file and written back to the timing cache.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cuda/cuda_eltwise.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_mem.h"
#include "backend/cuda/cuda_timing.h"

#define MAX_PLANS 16
#define MAX_THREADS 15
#define TIME_WARMUP 2
#define TIME_ITERS 10

typedef struct compile_item {
    int layer;
    int split;                   /* variant compiled: 0 fused, 1 conv + bias, 2 conv alone */
    int fallback_ok;             /* may switch to variant 1 when variant 0 has no engine */
    kiln_cuda_conv_desc d;       /* what was compiled */
    kiln_cuda_conv_plan *plan[MAX_PLANS];
    char name[MAX_PLANS][96];
    int nplans;
    kiln_status st;
    kiln_err err;
} compile_item;

typedef struct compile_job {
    compile_item *items;
    int nitems;
    int next;                    /* next item to take (under mu) */
    int done;                    /* items finished (under mu) */
    int nworkers;                /* workers started (under mu): each takes a handle slot */
    int max_k;
    int device;
    kiln_cuda_handles h[MAX_THREADS + 1]; /* per worker; released after timing */
    kiln_status hst[MAX_THREADS + 1];
    pthread_mutex_t mu;
} compile_job;

/* The layer as variant v runs it (v 0: as asked). */
static kiln_cuda_conv_desc variant_desc(const kiln_cuda_conv_desc *d, int v) {
    kiln_cuda_conv_desc s = *d;
    if (v >= 1) {
        s.has_residual = 0;
        s.act.type = KILN_ACT_NONE;
        s.act.alpha = s.act.beta = 0;
    }
    if (v >= 2) s.has_bias = 0;
    return s;
}

/* Variant v differs from variant v - 1 (else it is not worth compiling). */
static int variant_useful(const kiln_cuda_conv_desc *d, int v) {
    if (v == 1) return d->has_residual || d->act.type != KILN_ACT_NONE;
    if (v == 2) return d->has_bias;
    return 1;
}

/* Graph + candidates + compiled plans of one desc (no plan: st != OK). */
static kiln_status compile_desc(kiln_cuda_handles *h, compile_item *it, int max_k) {
    kiln_cuda_conv_graph *g = NULL;
    KILN_TRY(kiln_cuda_conv_graph_create(h, &it->d, &g, &it->err));
    int n = 0;
    kiln_status st = kiln_cuda_conv_graph_candidates(g, max_k, &n, &it->err);
    for (int i = 0; st == KILN_OK && i < n && it->nplans < MAX_PLANS; i++) {
        kiln_err ce = {0};
        kiln_cuda_conv_plan *p = NULL;
        if (kiln_cuda_conv_plan_create(g, i, &p, &ce) != KILN_OK) {
            it->err = ce; /* keep the last reason in case none compiles */
            continue;
        }
        kiln_cuda_conv_graph_candidate_name(g, i, it->name[it->nplans], sizeof it->name[0]);
        it->plan[it->nplans++] = p;
    }
    kiln_cuda_conv_graph_destroy(g);
    if (st == KILN_OK && it->nplans == 0) st = it->err.status ? it->err.status : KILN_ERR_UNSUPPORTED;
    return st;
}

static void compile_one(kiln_cuda_handles *h, compile_item *it, int max_k) {
    it->st = compile_desc(h, it, max_k);
    if (it->st != KILN_OK && max_k < 8) { /* the few best did not finalize: look further */
        memset(&it->err, 0, sizeof it->err);
        it->st = compile_desc(h, it, 8);
    }
    if (it->st == KILN_OK || it->split || !it->fallback_ok || !variant_useful(&it->d, 1)) return;
    /* No engine fuses this graph (seen: FP32 + residual under cuDNN 9.14): conv + bias. */
    it->d = variant_desc(&it->d, 1);
    it->split = 1;
    memset(&it->err, 0, sizeof it->err);
    it->st = compile_desc(h, it, max_k);
}

static void *compile_worker(void *arg) {
    compile_job *j = arg;
    pthread_mutex_lock(&j->mu);
    int slot = j->nworkers++;
    pthread_mutex_unlock(&j->mu);
    kiln_err he = {0};
    /* The handle outlives this thread: the plans compiled on it are timed on the engine's
       handle afterwards, and it is released only once they are gone. */
    j->hst[slot] = kiln_cuda_handles_init(&j->h[slot], j->device, &he);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next < j->nitems ? j->next++ : -1;
        pthread_mutex_unlock(&j->mu);
        if (i < 0) break;
        compile_item *it = &j->items[i];
        if (j->hst[slot] != KILN_OK) {
            it->st = j->hst[slot];
            it->err = he;
        } else {
            compile_one(&j->h[slot], it, j->max_k);
        }
        pthread_mutex_lock(&j->mu);
        j->done++;
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

static void progress(const kiln_engine *e, int done, int total, const char *what) {
    if (e->progress) e->progress(e->progress_user, done, total, what);
}

/* Compile every item on up to MAX_THREADS threads, reporting progress from this one. */
static void compile_all(const kiln_engine *e, compile_job *j, int *done_base, int total) {
    int n = j->nitems;
    if (n == 0) return;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = (int)(ncpu > 1 ? ncpu - 1 : 1);
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > n) nt = n;
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, compile_worker, j) == 0) started++;
        else break;
    if (started == 0) compile_worker(j); /* no threads: do it here */
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int d = j->done;
        pthread_mutex_unlock(&j->mu);
        progress(e, *done_base + d, total, "compiling cuDNN plans");
        if (d >= n) break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    *done_base += n;
}

int cu_conv_as_gemm(const kiln_cuda_conv_desc *d, kiln_cuda_gemm_desc *g) {
    if (d->r != 1 || d->s != 1 || d->groups != 1 || d->act.type > KILN_ACT_RELU) return 0;
    for (int q = 0; q < 2; q++)
        if (d->stride[q] != 1 || d->dilation[q] != 1 || d->pad_begin[q] || d->pad_end[q]) return 0;
    int64_t m = (int64_t)d->n * d->h * d->w;
    if (m > (1 << 30)) return 0;
    memset(g, 0, sizeof *g);
    g->m = (int)m;
    g->n = d->k;
    g->k = d->c;
    g->trans_w = 1;
    g->dtype = d->dtype;
    g->precision = d->precision;
    g->has_bias = d->has_bias;
    g->has_residual = d->has_residual;
    g->relu = d->act.type == KILN_ACT_RELU;
    g->alpha = 1.0f;
    g->beta = 1.0f;
    g->ldx = d->x_pitch;
    g->ldy = d->y_pitch;
    return 1;
}

/* ---- timing -------------------------------------------------------------------------------- */

typedef struct tbuf {
    void *x, *y, *r, *ws;
    size_t xb, yb, wsb;
} tbuf;

static size_t conv_x_bytes(const kiln_cuda_conv_desc *d) {
    size_t p = (size_t)(d->x_pitch ? d->x_pitch : d->c);
    return (size_t)d->n * d->h * d->w * p * kiln_dtype_size(d->dtype);
}

static size_t conv_y_bytes(const kiln_cuda_conv_desc *d) {
    int oh, ow;
    kiln_cuda_conv_out_dims(d, &oh, &ow);
    size_t p = (size_t)(d->y_pitch ? d->y_pitch : d->k);
    return (size_t)d->n * oh * ow * p * kiln_dtype_size(d->dtype);
}

/* Make sure b holds x/y/residual of these sizes and `ws` workspace bytes; new memory gets
   random values (never time on zeros). */
static kiln_status tbuf_fit(tbuf *b, size_t xb, size_t yb, size_t ws, kiln_dtype dt,
                            cudaStream_t s, kiln_err *e) {
    if (xb > b->xb || yb > b->yb) {
        cudaFree(b->x), cudaFree(b->y), cudaFree(b->r);
        b->x = b->y = b->r = NULL;
        b->xb = xb > b->xb ? xb : b->xb;
        b->yb = yb > b->yb ? yb : b->yb;
        KILN_CUDA_CHECK(e, cudaMalloc(&b->x, b->xb + 16));
        KILN_CUDA_CHECK(e, cudaMalloc(&b->y, b->yb + 16));
        KILN_CUDA_CHECK(e, cudaMalloc(&b->r, b->yb + 16));
        size_t es = kiln_dtype_size(dt);
        KILN_TRY(kiln_cuda_fill_random(b->x, dt, (int64_t)(b->xb / es), 1234u, s, e));
        KILN_TRY(kiln_cuda_fill_random(b->r, dt, (int64_t)(b->yb / es), 5678u, s, e));
        KILN_TRY(kiln_cuda_fill_random(b->y, dt, (int64_t)(b->yb / es), 91u, s, e));
    }
    if (ws > b->wsb) {
        cudaFree(b->ws);
        b->ws = NULL;
        b->wsb = ws;
        KILN_CUDA_CHECK(e, cudaMalloc(&b->ws, ws));
    }
    return KILN_OK;
}

static void tbuf_free(tbuf *b) {
    cudaFree(b->x);
    cudaFree(b->y);
    cudaFree(b->r);
    cudaFree(b->ws);
    memset(b, 0, sizeof *b);
}

typedef struct dw_work {
    kiln_cuda_nhwc x, y;
    const void *w, *bias;
    const kiln_cuda_dwconv *p;
} dw_work;

static kiln_status dw_run(void *ctx, cudaStream_t s, kiln_err *e) {
    dw_work *w = ctx;
    return kiln_cuda_dwconv_run(&w->x, w->w, w->bias, &w->y, w->p, s, e);
}

static const cu_step *example(const cu_engine *s, int bucket, int step) {
    return &s->bk[bucket].steps[step];
}

/* Median time of fn, but a candidate whose first timed run is already half again slower than
   the best so far is not run further (FP32 offers engines 100x slower than the best: timing
   each ten times would dominate the build). */
static kiln_status time_candidate(kiln_cuda_work_fn fn, void *ctx, cudaStream_t stream, float best,
                                  float *ms, kiln_err *e) {
    KILN_TRY(kiln_cuda_time(fn, ctx, stream, 1, 1, ms, e));
    if (isfinite(best) && *ms > 1.5f * best) return KILN_OK;
    return kiln_cuda_time(fn, ctx, stream, TIME_WARMUP - 1, TIME_ITERS, ms, e);
}

typedef struct gemm_cand {
    kiln_cuda_handles *h;
    kiln_cuda_gemm *g;
    int i;
    const kiln_cuda_gemm_args *a;
} gemm_cand;

/* One run of gemm candidate i (selected for the run; the caller selects the winner after). */
static kiln_status gemm_cand_run(void *ctx, cudaStream_t s, kiln_err *e) {
    gemm_cand *c = ctx;
    KILN_TRY(kiln_cuda_gemm_select(c->g, c->i, e));
    return kiln_cuda_gemm_execute(c->h, c->g, c->a, s, e);
}

/* One run of a layer as variant v: the plan, then (split variants) the bias_act pass that the
   run time adds after it, so that variants compare by what they really cost. */
typedef struct var_work {
    kiln_cuda_handles *h;
    const kiln_cuda_conv_plan *p;
    kiln_cuda_conv_args a;
    int variant;
    kiln_cuda_nhwc y, r;
    const void *bias;
    int has_r;
    kiln_act act;
} var_work;

static kiln_status var_run(void *ctx, cudaStream_t s, kiln_err *e) {
    var_work *w = ctx;
    KILN_TRY(kiln_cuda_conv_plan_execute(w->h, w->p, &w->a, s, e));
    if (!w->variant) return KILN_OK;
    return kiln_cuda_bias_act(&w->y, w->variant == 2 ? w->bias : NULL, w->has_r ? &w->r : NULL,
                              &w->y, &w->act, s, e);
}

/* Time the compiled plans of every variant (and the own depthwise kernel) of one layer; keep
   the fastest. items[0..n) all belong to L. */
static kiln_status time_conv(cu_engine *s, cu_conv_layer *L, compile_item *items, int n, tbuf *b,
                             cudaStream_t stream, kiln_err *e) {
    size_t ws = 0;
    for (int q = 0; q < n; q++)
        for (int i = 0; i < items[q].nplans; i++)
            if (kiln_cuda_conv_plan_workspace(items[q].plan[i]) > ws)
                ws = kiln_cuda_conv_plan_workspace(items[q].plan[i]);
    KILN_TRY(tbuf_fit(b, conv_x_bytes(&L->fused), conv_y_bytes(&L->fused), ws, L->fused.dtype,
                      stream, e));
    const cu_step *st = example(s, L->example_bucket, L->example_step);
    const kiln_cuda_conv_desc *f = &L->fused;
    int oh, ow;
    kiln_cuda_conv_out_dims(f, &oh, &ow);
    float best = INFINITY;
    int bestq = -1, besti = -1;
    for (int q = 0; q < n; q++) {
        compile_item *it = &items[q];
        var_work w = {.h = &s->owner, .variant = it->split, .has_r = f->has_residual, .act = f->act,
                      .bias = f->has_bias ? (char *)s->wdev + st->bias_off : NULL};
        w.a = (kiln_cuda_conv_args){.x = b->x, .w = (char *)s->wdev + st->w_off,
                                    .bias = it->d.has_bias ? w.bias : NULL,
                                    .residual = it->d.has_residual ? b->r : NULL, .y = b->y,
                                    .workspace = b->ws};
        w.y = kiln_cuda_nhwc_make(b->y, f->dtype, f->n, oh, ow, f->k);
        w.y.c_pitch = f->y_pitch ? f->y_pitch : f->k;
        w.r = w.y;
        w.r.data = b->r;
        for (int i = 0; i < it->nplans; i++) {
            float ms;
            kiln_err te = {0};
            w.p = it->plan[i];
            if (time_candidate(var_run, &w, stream, best, &ms, &te) != KILN_OK) {
                (void)cudaStreamSynchronize(stream);
                (void)cudaGetLastError();
                continue;
            }
            if (ms < best) best = ms, bestq = q, besti = i;
        }
    }
    compile_item *it = bestq >= 0 ? &items[bestq] : NULL;
    if (it && it->split) {
        L->split = it->split;
        L->d = it->d;
        kiln_cuda_conv_signature(&L->d, L->sig, sizeof L->sig);
    }
    L->tactic = CU_TAC_NONE;
    if (L->dw_ok && !f->has_residual) { /* the own kernel runs the fused form (any activation) */
        dw_work w = {.w = (char *)s->wdev + st->w2_off,
                     .bias = f->has_bias ? (char *)s->wdev + st->bias_off : NULL, .p = &L->dw};
        w.x = kiln_cuda_nhwc_make(b->x, f->dtype, f->n, f->h, f->w, f->c);
        w.x.c_pitch = f->x_pitch ? f->x_pitch : f->c;
        w.y = kiln_cuda_nhwc_make(b->y, f->dtype, f->n, oh, ow, f->k);
        w.y.c_pitch = f->y_pitch ? f->y_pitch : f->k;
        float ms;
        kiln_err te = {0};
        if (time_candidate(dw_run, &w, stream, best, &ms, &te) == KILN_OK && ms < best) {
            best = ms;
            L->tactic = CU_TAC_DW;
            L->split = 0;
            L->d = L->fused;
            snprintf(L->sig, sizeof L->sig, "%s", L->fused_sig);
            snprintf(L->name, sizeof L->name, "own depthwise kernel");
        }
    }
    /* A 1x1 convolution is also a matmul: time cuBLASLt's heuristic algorithms on it. */
    kiln_cuda_gemm_desc gd;
    if (cu_conv_as_gemm(f, &gd)) {
        kiln_cuda_gemm *g = NULL;
        kiln_err ge = {0};
        int cnt = 0;
        if (kiln_cuda_gemm_create(&s->owner, &gd, &g, &ge) == KILN_OK &&
            kiln_cuda_gemm_candidates(&s->owner, g, s->max_gemm_tactics, CU_GEMM_MAX_WORKSPACE,
                                      &cnt, &ge) == KILN_OK &&
            tbuf_fit(b, conv_x_bytes(f), conv_y_bytes(f), CU_GEMM_MAX_WORKSPACE, f->dtype, stream,
                     &ge) == KILN_OK) {
            kiln_cuda_gemm_args ga = {.x = b->x, .w = (char *)s->wdev + st->w_off,
                                      .bias = f->has_bias ? (char *)s->wdev + st->bias_off : NULL,
                                      .residual = f->has_residual ? b->r : NULL, .y = b->y,
                                      .workspace = b->ws};
            int gbest = -1;
            float gms = INFINITY;
            for (int i = 0; i < cnt; i++) {
                float ms;
                kiln_err te = {0};
                gemm_cand gc = {&s->owner, g, i, &ga};
                if (time_candidate(gemm_cand_run, &gc, stream, gms < best ? gms : best, &ms, &te) !=
                    KILN_OK) {
                    (void)cudaStreamSynchronize(stream);
                    (void)cudaGetLastError();
                    continue;
                }
                if (ms < gms) gms = ms, gbest = i;
            }
            if (gbest >= 0 && gms < best && kiln_cuda_gemm_select(g, gbest, &ge) == KILN_OK &&
                kiln_cuda_gemm_algo_save(g, L->lt_algo, &ge) == KILN_OK) {
                best = gms;
                L->tactic = CU_TAC_GEMM;
                L->split = 0;
                L->d = L->fused;
                snprintf(L->sig, sizeof L->sig, "%s", L->fused_sig);
                L->lt = g;
                L->workspace = kiln_cuda_gemm_workspace(g);
                snprintf(L->name, sizeof L->name, "cuBLASLt matmul (1x1 conv)");
                g = NULL;
            }
        }
        kiln_cuda_gemm_destroy(g);
        (void)cudaGetLastError();
    }
    if (L->tactic == CU_TAC_NONE) {
        if (!it)
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "cuda: no cuDNN plan for %s ran", L->sig);
        KILN_TRY(kiln_cuda_conv_plan_json(it->plan[besti], &L->json, &L->json_len, e));
        L->tactic = CU_TAC_CUDNN;
        snprintf(L->name, sizeof L->name, "cuDNN %s", it->name[besti]);
    }
    L->ms = best;
    return KILN_OK;
}

/* ---- records ------------------------------------------------------------------------------- */

static kiln_status record_conv(cu_engine *s, cu_records *cache, const cu_conv_layer *L,
                               kiln_err *e) {
    char key[640], head[256];
    if (L->split) {
        char v[16];
        int vn = snprintf(v, sizeof v, "split %d", L->split);
        KILN_TRY(cu_records_put(&s->chosen, L->fused_sig, v, (size_t)vn, e));
        if (cache) {
            snprintf(key, sizeof key, "%s#%s", s->devsig, L->fused_sig);
            KILN_TRY(cu_records_put(cache, key, v, (size_t)vn, e));
        }
    }
    char *val;
    size_t len;
    if (L->tactic == CU_TAC_DW) {
        len = (size_t)snprintf(head, sizeof head, "dw %.6f", (double)L->ms);
        val = strdup(head);
    } else if (L->tactic == CU_TAC_GEMM) {
        int n = snprintf(head, sizeof head, "lt %.6f", (double)L->ms);
        for (int i = 0; i < 8; i++)
            n += snprintf(head + n, sizeof head - (size_t)n, " %llx", (unsigned long long)L->lt_algo[i]);
        len = (size_t)n;
        val = strdup(head);
    } else {
        int h = snprintf(head, sizeof head, "cudnn %.6f %zu\n%s\n", (double)L->ms, L->workspace,
                         L->name);
        len = (size_t)h + L->json_len;
        val = malloc(len + 1);
        if (val) {
            memcpy(val, head, (size_t)h);
            memcpy(val + h, L->json, L->json_len);
        }
    }
    if (!val) return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    kiln_status st = cu_records_put(&s->chosen, L->sig, val, len, e);
    if (st == KILN_OK && cache) {
        snprintf(key, sizeof key, "%s#%s", s->devsig, L->sig);
        st = cu_records_put(cache, key, val, len, e);
    }
    free(val);
    return st;
}

static kiln_status record_gemm(cu_engine *s, cu_records *cache, const cu_gemm_layer *G,
                               kiln_err *e) {
    char val[512], key[640];
    int n = snprintf(val, sizeof val, "gemm %.6f", (double)G->ms);
    for (int i = 0; i < 8; i++)
        n += snprintf(val + n, sizeof val - (size_t)n, " %llx", (unsigned long long)G->algo[i]);
    KILN_TRY(cu_records_put(&s->chosen, G->sig, val, (size_t)n, e));
    if (cache) {
        snprintf(key, sizeof key, "%s#%s", s->devsig, G->sig);
        KILN_TRY(cu_records_put(cache, key, val, (size_t)n, e));
    }
    return KILN_OK;
}

/* The record for sig: from the plan file, else the timing cache. */
static const cu_record *lookup(const cu_engine *s, const cu_records *cache, const char *sig) {
    if (s->preload) return cu_records_find(s->preload, sig);
    char key[640];
    snprintf(key, sizeof key, "%s#%s", s->devsig, sig);
    return cu_records_find(cache, key);
}

/* Apply a conv record; 1 when the layer is settled, 0 when it must be tuned. */
static int apply_conv(cu_engine *s, const cu_records *cache, cu_conv_layer *L, kiln_err *e,
                      kiln_status *st) {
    *st = KILN_OK;
    const cu_record *r = lookup(s, cache, L->fused_sig);
    if (r && !strncmp(r->val, "split", 5)) {
        int v = r->val[5] == ' ' ? atoi(r->val + 6) : 1;
        if (v < 1 || v > 2 || L->no_split) return 0;
        L->d = variant_desc(&L->fused, v);
        L->split = v;
        kiln_cuda_conv_signature(&L->d, L->sig, sizeof L->sig);
        r = lookup(s, cache, L->sig);
    }
    if (!r) return 0;
    double ms = 0;
    if (!strncmp(r->val, "dw ", 3) && L->dw_ok) {
        ms = atof(r->val + 3);
        L->tactic = CU_TAC_DW;
        L->ms = (float)ms;
        snprintf(L->name, sizeof L->name, "own depthwise kernel");
        return 1;
    }
    if (!strncmp(r->val, "lt ", 3)) {
        kiln_cuda_gemm_desc gd;
        if (L->split || !cu_conv_as_gemm(&L->fused, &gd)) return 0;
        const char *p = r->val + 3;
        char *end;
        ms = strtod(p, &end);
        p = end;
        for (int i = 0; i < 8; i++) {
            L->lt_algo[i] = strtoull(p, &end, 16);
            if (end == p) return 0;
            p = end;
        }
        kiln_err le = {0};
        kiln_cuda_gemm *g = NULL;
        if (kiln_cuda_gemm_create(&s->owner, &gd, &g, &le) != KILN_OK ||
            kiln_cuda_gemm_algo_load(&s->owner, g, L->lt_algo, &le) != KILN_OK) {
            kiln_cuda_gemm_destroy(g);
            if (s->preload) {
                *st = kiln_err_set(e, KILN_ERR_VERSION, "cuda: the plan's cuBLASLt algorithm for %s "
                                   "does not load (%s)", L->sig, le.msg);
                return 1;
            }
            return 0;
        }
        L->lt = g;
        L->tactic = CU_TAC_GEMM;
        L->ms = (float)ms;
        L->workspace = kiln_cuda_gemm_workspace(g);
        snprintf(L->name, sizeof L->name, "cuBLASLt matmul (1x1 conv)");
        return 1;
    }
    if (strncmp(r->val, "cudnn ", 6)) return 0;
    const char *nl1 = memchr(r->val, '\n', r->val_len);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', r->val_len - (size_t)(nl1 + 1 - r->val)) : NULL;
    if (!nl2) return 0;
    ms = atof(r->val + 6);
    const char *json = nl2 + 1;
    size_t len = r->val_len - (size_t)(json - r->val);
    kiln_err re = {0};
    kiln_cuda_conv_plan *p = NULL;
    if (kiln_cuda_conv_plan_from_json(&s->owner, &L->d, json, len, &p, &re) != KILN_OK) {
        if (s->preload) {
            *st = kiln_err_set(e, re.status, "cuda: the plan's cuDNN plan for %s does not load (%s)",
                               L->sig, re.msg);
            return 1;
        }
        return 0; /* a stale cache entry: tune again */
    }
    L->plan = p;
    L->tactic = CU_TAC_CUDNN;
    L->ms = (float)ms;
    L->workspace = kiln_cuda_conv_plan_workspace(p);
    size_t nlen = (size_t)(nl2 - nl1 - 1);
    if (nlen >= sizeof L->name) nlen = sizeof L->name - 1;
    memcpy(L->name, nl1 + 1, nlen);
    L->name[nlen] = 0;
    L->json = malloc(len + 1);
    if (!L->json) {
        *st = kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
        return 1;
    }
    memcpy(L->json, json, len);
    L->json[len] = 0;
    L->json_len = len;
    s->n_restored++;
    return 1;
}

/* ---- gemm ---------------------------------------------------------------------------------- */

static kiln_status tune_gemm(cu_engine *s, const cu_records *cache, cu_gemm_layer *G, tbuf *b,
                             cudaStream_t stream, kiln_err *e) {
    KILN_TRY(kiln_cuda_gemm_create(&s->owner, &G->d, &G->g, e));
    const cu_record *r = lookup(s, cache, G->sig);
    if (r && !strncmp(r->val, "gemm ", 5)) {
        const char *p = r->val + 5;
        char *end;
        G->ms = strtof(p, &end);
        p = end;
        int ok = 1;
        for (int i = 0; i < 8 && ok; i++) {
            G->algo[i] = strtoull(p, &end, 16);
            if (end == p) ok = 0;
            p = end;
        }
        kiln_err le = {0};
        if (ok && kiln_cuda_gemm_algo_load(&s->owner, G->g, G->algo, &le) == KILN_OK) {
            G->workspace = kiln_cuda_gemm_workspace(G->g);
            return KILN_OK;
        }
        if (s->preload)
            return kiln_err_set(e, KILN_ERR_VERSION, "cuda: the plan's cuBLASLt algorithm for %s "
                                "does not load (%s)", G->sig, le.msg);
    } else if (s->preload) {
        return kiln_err_set(e, KILN_ERR_PARSE, "cuda: the plan has no tactic for %s (corrupted "
                            "plan?)", G->sig);
    }
    int n = 0;
    KILN_TRY(kiln_cuda_gemm_candidates(&s->owner, G->g, s->max_gemm_tactics, CU_GEMM_MAX_WORKSPACE,
                                       &n, e));
    const kiln_cuda_gemm_desc *d = &G->d;
    size_t es = kiln_dtype_size(d->dtype);
    size_t xb = (size_t)d->m * (d->ldx ? d->ldx : d->k) * es, yb = (size_t)d->m * (d->ldy ? d->ldy : d->n) * es;
    KILN_TRY(tbuf_fit(b, xb, yb, CU_GEMM_MAX_WORKSPACE, d->dtype, stream, e));
    const cu_step *st = example(s, G->example_bucket, G->example_step);
    kiln_cuda_gemm_args a = {.x = b->x, .w = (char *)s->wdev + st->w_off,
                             .bias = d->has_bias ? (char *)s->wdev + st->bias_off : NULL,
                             .residual = d->has_residual ? b->r : NULL, .y = b->y, .workspace = b->ws};
    float best = INFINITY;
    int besti = 0;
    for (int i = 0; i < n && n > 1; i++) {
        float ms;
        kiln_err te = {0};
        if (kiln_cuda_gemm_time(&s->owner, G->g, i, &a, stream, TIME_WARMUP, TIME_ITERS, &ms, &te) !=
            KILN_OK) {
            (void)cudaStreamSynchronize(stream);
            (void)cudaGetLastError();
            continue;
        }
        if (ms < best) best = ms, besti = i;
    }
    KILN_TRY(kiln_cuda_gemm_select(G->g, besti, e));
    G->ms = isinf(best) ? 0 : best;
    G->workspace = kiln_cuda_gemm_workspace(G->g);
    return kiln_cuda_gemm_algo_save(G->g, G->algo, e);
}

/* ---- driver -------------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static kiln_status tune_convs(cu_engine *s, const kiln_engine *e, cu_records *cache, tbuf *b,
                              cudaStream_t stream, int *done, int total, kiln_err *err) {
    compile_item *items = calloc(3 * (size_t)s->nconv + 1, sizeof *items);
    if (!items) return kiln_err_set(err, KILN_ERR_NOMEM, "cuda: out of memory");
    int n = 0;
    kiln_status st = KILN_OK;
    for (int i = 0; i < s->nconv && st == KILN_OK; i++) {
        cu_conv_layer *L = &s->conv[i];
        if (apply_conv(s, cache, L, err, &st)) {
            (*done)++;
            continue;
        }
        if (s->preload) {
            st = kiln_err_set(err, KILN_ERR_PARSE, "cuda: the plan has no tactic for %s "
                              "(corrupted plan?)", L->sig);
            break;
        }
        /* Restart from the fused form (a stale cache entry may have split it). */
        L->d = L->fused;
        L->split = 0;
        snprintf(L->sig, sizeof L->sig, "%s", L->fused_sig);
        /* KILN_CUDA_SPLIT=0 (debugging switch): fused forms only. */
        const char *sp = getenv("KILN_CUDA_SPLIT");
        int explore = (s->prec == KILN_PREC_FP32 || s->prec == KILN_PREC_TF32) && !L->no_split &&
                      !(sp && !strcmp(sp, "0"));
        for (int v = 0; v <= (explore ? 2 : 0); v++) {
            if (v && !variant_useful(&L->fused, v)) continue;
            compile_item *it = &items[n++];
            it->layer = i;
            it->split = v;
            it->d = variant_desc(&L->fused, v);
            it->fallback_ok = !explore && !L->no_split;
        }
    }
    compile_job *job = calloc(1, sizeof *job);
    if (!job) {
        free(items);
        return kiln_err_set(err, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    job->items = items;
    job->nitems = n;
    job->max_k = s->max_conv_tactics;
    job->device = s->dev.device;
    pthread_mutex_init(&job->mu, NULL);
    if (st == KILN_OK) compile_all(e, job, done, total);
    for (int i = 0; i < n && st == KILN_OK;) {
        int j = i + 1; /* items[i..j) are one layer's variants */
        while (j < n && items[j].layer == items[i].layer) j++;
        cu_conv_layer *L = &s->conv[items[i].layer];
        int ok = 0;
        for (int q = i; q < j; q++) {
            s->n_compiled += items[q].nplans;
            if (items[q].st == KILN_OK) ok = 1;
        }
        if (!ok) {
            st = kiln_err_set(err, items[i].st, "cuda: conv layer %s: %s", L->fused_sig,
                              items[i].err.msg);
            break;
        }
        progress(e, *done, total, L->sig);
        st = time_conv(s, L, items + i, j - i, b, stream, err);
        i = j;
        if (st == KILN_OK && L->tactic == CU_TAC_CUDNN) {
            st = kiln_cuda_conv_plan_from_json(&s->owner, &L->d, L->json, L->json_len, &L->plan, err);
            if (st == KILN_OK) L->workspace = kiln_cuda_conv_plan_workspace(L->plan);
        }
        if (st == KILN_OK) (*done)++;
    }
    for (int i = 0; i < n; i++)
        for (int q = 0; q < items[i].nplans; q++) kiln_cuda_conv_plan_destroy(items[i].plan[q]);
    for (int w = 0; w < job->nworkers; w++)
        if (job->hst[w] == KILN_OK) kiln_cuda_handles_release(&job->h[w]);
    pthread_mutex_destroy(&job->mu);
    free(job);
    free(items);
    for (int i = 0; i < s->nconv && st == KILN_OK; i++) st = record_conv(s, s->preload ? NULL : cache, &s->conv[i], err);
    return st;
}

kiln_status cu_tune(cu_engine *s, const kiln_engine *e, kiln_err *err) {
    double t0 = now_s();
    cu_records cache = {0};
    if (!s->preload && e->timing_cache) KILN_TRY(cu_tcache_load(e->timing_cache, &cache, err));
    cudaStream_t stream = NULL;
    kiln_status st = KILN_OK;
    cudaError_t cr = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    if (cr != cudaSuccess) {
        stream = NULL;
        st = kiln__cuda_fail(err, KILN_LIB_CUDA, (int)cr, "cudaStreamCreateWithFlags", __FILE__,
                             __LINE__);
    }
    tbuf b = {0};
    int done = 0, total = 2 * s->nconv + s->ngemm;
    if (st == KILN_OK) st = tune_convs(s, e, &cache, &b, stream, &done, total, err);
    for (int i = 0; i < s->ngemm && st == KILN_OK; i++) {
        progress(e, done + s->nconv, total, s->gemm[i].sig);
        st = tune_gemm(s, &cache, &s->gemm[i], &b, stream, err);
        if (st == KILN_OK) st = record_gemm(s, s->preload ? NULL : &cache, &s->gemm[i], err);
    }
    if (stream) {
        cudaStreamSynchronize(stream);
        cudaStreamDestroy(stream);
    }
    tbuf_free(&b);
    if (st == KILN_OK && !s->preload && e->timing_cache) st = cu_tcache_save(e->timing_cache, &cache, err);
    cu_records_free(&cache);
    if (st == KILN_OK) progress(e, total, total, "done");
    s->build_seconds = now_s() - t0;
    return st;
}

void cu_layers_free(cu_engine *s) {
    for (int i = 0; i < s->nconv; i++) {
        kiln_cuda_conv_plan_destroy(s->conv[i].plan);
        kiln_cuda_gemm_destroy(s->conv[i].lt);
        free(s->conv[i].json);
    }
    for (int i = 0; i < s->ngemm; i++) kiln_cuda_gemm_destroy(s->gemm[i].g);
    free(s->conv);
    free(s->gemm);
    s->conv = NULL;
    s->gemm = NULL;
    s->nconv = s->ngemm = 0;
}
