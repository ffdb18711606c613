/* test_cuda_engine.c — whole CUDA engines against the CPU reference backend, through the public
 * API: every zoo model at batches 1, 2 (padded into the bucket of 3) and 3, in several
 * precisions (FP32 rel L2 <= 1e-4, TF32 <= 5e-3, FP16/BF16 <= 2e-2); a plan file round trip
 * (bit-identical outputs, no compilation on load, timed); two contexts on two threads; a batch
 * outside the profile. Small inputs where the architecture allows (the zoo graphs run at any
 * size; VGG-16 and AlexNet keep 224 for their classifiers). Builds time one tactic per layer
 * (cfg->max_tactics = 1) and share a timing cache in the build folder, to keep the run short;
 * the full autotuning is exercised by scripts/gpu-bench.sh.
 *
 * KILN_CUDA_TEST_MODELS=resnet18,vgg16 limits the models; KILN_CUDA_TEST_PRECISIONS=fp16 the
 * precisions.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_test.h"
#include "runtime/engine.h"

#ifdef KILN_CUDA_ENGINE
#include "backend/cuda/cuda_engine.h"
#endif

static double tol_of(kiln_precision p) {
    return p == KILN_PREC_FP32 ? 1e-4 : p == KILN_PREC_TF32 ? 5e-3 : 2e-2;
}

static char tcache[1024];

static int wanted(const char *env, const char *name) {
    const char *l = getenv(env);
    if (!l || !*l) return 1;
    size_t n = strlen(name);
    for (const char *p = l; (p = strstr(p, name)); p += n)
        if ((p == l || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static kiln_model *load(const char *name, int64_t size) {
    char src[128];
    snprintf(src, sizeof src, "zoo:%s", name);
    kiln_model *m = kiln_model_create();
    if (kiln_model_load(m, src) != KILN_OK) {
        CHECK(0, "%s: %s", src, kiln_model_errmsg(m));
        kiln_model_destroy(m);
        return NULL;
    }
    if (size) { /* zoo inputs are declared 224x224 like exports; the graphs run at any size */
        kiln_tensor *t = &m->g->t[m->g->inputs[0]];
        t->shape.d[2] = t->shape.d[3] = size;
    }
    return m;
}

static kiln_engine *build(const kiln_model *m, kiln_backend_kind b, kiln_precision p, int64_t bmin,
                          int64_t bopt, int64_t bmax, double *seconds) {
    kiln_builder_config *cfg = kiln_builder_config_create();
    kiln_builder_config_set_backend(cfg, b);
    kiln_builder_config_set_precision(cfg, p);
    kiln_builder_config_set_batch_range(cfg, bmin, bopt, bmax);
    if (b == KILN_BACKEND_CUDA) {
        kiln_builder_config_set_timing_cache(cfg, tcache);
        cfg->max_tactics = 1;
    }
    kiln_engine *e = kiln_engine_create();
    double t0 = cuda_test_now();
    kiln_status st = kiln_engine_build(e, m, cfg);
    if (seconds) *seconds = cuda_test_now() - t0;
    kiln_builder_config_destroy(cfg);
    if (st != KILN_OK) {
        CHECK(0, "build %s %s: %s", kiln_backend_name(b), kiln_precision_name(p), kiln_engine_errmsg(e));
        kiln_engine_destroy(e);
        return NULL;
    }
    return e;
}

/* Run e on x (batch rows of `item` floats); the output copied into a malloc'd buffer. */
static float *run(kiln_engine *e, kiln_context *c, const float *x, int64_t batch, int64_t size,
                  int64_t *nout) {
    kiln_io_info io;
    kiln_engine_io(e, 1, 0, &io);
    kiln_buffer in = {.dtype = KILN_F32, .ndim = io.ndim, .data = (void *)x};
    for (int d = 0; d < io.ndim; d++) in.dims[d] = d == 0 ? batch : (d >= 2 && size ? size : io.dims[d]);
    if (kiln_context_run(c, 1, &in) != KILN_OK) {
        CHECK(0, "run batch %lld: %s", (long long)batch, kiln_context_errmsg(c));
        return NULL;
    }
    kiln_buffer out;
    if (kiln_context_output(c, 0, &out) != KILN_OK) return NULL;
    int64_t n = 1;
    for (int d = 0; d < out.ndim; d++) n *= out.dims[d];
    float *r = malloc(sizeof(float) * (size_t)n);
    memcpy(r, out.data, sizeof(float) * (size_t)n);
    *nout = n;
    return r;
}

static int64_t input_item(const kiln_model *m, int64_t size) {
    kiln_io_info io;
    kiln_model_io(m, 1, 0, &io);
    int64_t item = 1;
    for (int d = 1; d < io.ndim; d++) item *= d >= 2 && size ? size : io.dims[d];
    return item;
}

/* ---- parity -------------------------------------------------------------------------------- */

static void parity(const char *name, int64_t size, const kiln_precision *precs, int nprec) {
    kiln_model *m = load(name, size);
    if (!m) return;
    kiln_engine *ref = build(m, KILN_BACKEND_CPU, KILN_PREC_FP32, 1, 1, 3, NULL);
    if (!ref) {
        kiln_model_destroy(m);
        return;
    }
    kiln_context *rc = NULL;
    CHECK_OK(kiln_context_create(ref, &rc));
    int64_t item = input_item(m, size);
    kiln_rng rng;
    kiln_rng_seed(&rng, test_seed() ^ (uint64_t)item);
    float *x = malloc(sizeof(float) * (size_t)(3 * item));
    test_fill_uniform(&rng, x, 3 * item, -1, 1);
    float *want[4] = {0};
    int64_t nw[4] = {0};
    for (int b = 1; b <= 3; b++) want[b] = run(ref, rc, x, b, size, &nw[b]);
    for (int i = 0; i < nprec; i++) {
        double secs;
        kiln_engine *e = build(m, KILN_BACKEND_CUDA, precs[i], 1, 1, 3, &secs);
        if (!e) continue;
        kiln_context *c = NULL;
        CHECK_OK(kiln_context_create(e, &c));
        for (int b = 1; b <= 3 && c; b++) {
            int64_t n = 0;
            float *got = run(e, c, x, b, size, &n);
            if (!got || !want[b]) {
                free(got);
                continue;
            }
            double err = n == nw[b] ? test_rel_l2(got, want[b], n) : INFINITY;
            CHECK(err <= tol_of(precs[i]), "%s %s batch %d: rel L2 %.3g > %.0e", name,
                  kiln_precision_name(precs[i]), b, err, tol_of(precs[i]));
            printf("parity %-14s %-5s %3lldpx batch %d: rel L2 %.2e  (build %.1f s)\n", name,
                   kiln_precision_name(precs[i]), (long long)(size ? size : 224), b, err, secs);
            free(got);
        }
        /* Again at batch 3 after batch 1: the bucket's padding rows must not leak. */
        int64_t n = 0;
        float *again = run(e, c, x, 3, size, &n);
        if (again && want[3]) {
            float *first = run(e, c, x, 3, size, &n);
            CHECK(first && !memcmp(first, again, sizeof(float) * (size_t)n),
                  "%s: repeated runs differ", name);
            free(first);
        }
        free(again);
        kiln_context_destroy(c);
        kiln_engine_destroy(e);
    }
    for (int b = 1; b <= 3; b++) free(want[b]);
    free(x);
    kiln_context_destroy(rc);
    kiln_engine_destroy(ref);
    kiln_model_destroy(m);
}

/* ---- plan files, threads, profile ---------------------------------------------------------- */

typedef struct thr {
    kiln_engine *e;
    const float *x;
    int64_t batch, size;
    const float *want;
    int64_t n;
    int mismatches, failures;
} thr;

static void *thread_main(void *arg) {
    thr *t = arg;
    kiln_context *c = NULL;
    if (kiln_context_create(t->e, &c) != KILN_OK) {
        t->failures++;
        return NULL;
    }
    kiln_io_info io;
    kiln_engine_io(t->e, 1, 0, &io);
    kiln_buffer in = {.dtype = KILN_F32, .ndim = io.ndim, .data = (void *)t->x};
    for (int d = 0; d < io.ndim; d++) in.dims[d] = d == 0 ? t->batch : (d >= 2 ? t->size : io.dims[d]);
    for (int i = 0; i < 20; i++) {
        kiln_buffer out;
        if (kiln_context_run(c, 1, &in) != KILN_OK || kiln_context_output(c, 0, &out) != KILN_OK) {
            t->failures++;
            break;
        }
        if (memcmp(out.data, t->want, sizeof(float) * (size_t)t->n)) t->mismatches++;
    }
    kiln_context_destroy(c);
    return NULL;
}

static void plan_threads_profile(void) {
    const int64_t size = 64;
    kiln_model *m = load("resnet50", size);
    if (!m) return;
    double secs;
    kiln_engine *e = build(m, KILN_BACKEND_CUDA, KILN_PREC_FP16, 1, 2, 4, &secs);
    if (!e) {
        kiln_model_destroy(m);
        return;
    }
    int64_t item = input_item(m, size);
    kiln_rng rng;
    kiln_rng_seed(&rng, test_seed() + 7);
    float *x = malloc(sizeof(float) * (size_t)(4 * item));
    test_fill_uniform(&rng, x, 4 * item, -1, 1);
    kiln_context *c = NULL;
    CHECK_OK(kiln_context_create(e, &c));
    int64_t n1 = 0, n4 = 0;
    float *y1 = run(e, c, x, 1, size, &n1), *y4 = run(e, c, x, 4, size, &n4);

    /* Plan round trip: same outputs bit for bit, nothing compiled while loading. */
    char path[1024];
    test_build_path("cuda_engine_test.plan", path, sizeof path);
    CHECK_OK(kiln_engine_save(e, path));
    kiln_engine *l = kiln_engine_create();
    double t0 = cuda_test_now();
    kiln_status st = kiln_engine_load(l, path);
    double load_s = cuda_test_now() - t0;
    CHECK(st == KILN_OK, "load: %s", kiln_engine_errmsg(l));
    if (st == KILN_OK) {
#ifdef KILN_CUDA_ENGINE
        const cu_engine *s = l->bstate;
        CHECK(s && s->n_compiled == 0, "plan load compiled %d cuDNN plans", s ? s->n_compiled : -1);
        printf("plan load: %.3f s, %d cuDNN plans restored from JSON, 0 compiled\n", load_s,
               s ? s->n_restored : -1);
#endif
        kiln_context *lc = NULL;
        CHECK_OK(kiln_context_create(l, &lc));
        int64_t m1 = 0, m4 = 0;
        float *z1 = run(l, lc, x, 1, size, &m1), *z4 = run(l, lc, x, 4, size, &m4);
        CHECK(z1 && y1 && m1 == n1 && !memcmp(z1, y1, sizeof(float) * (size_t)n1),
              "plan round trip: batch 1 outputs differ");
        CHECK(z4 && y4 && m4 == n4 && !memcmp(z4, y4, sizeof(float) * (size_t)n4),
              "plan round trip: batch 4 outputs differ");
        free(z1);
        free(z4);
        kiln_context_destroy(lc);
        /* A batch outside the profile. */
        kiln_io_info io;
        kiln_engine_io(l, 1, 0, &io);
        kiln_buffer in = {.dtype = KILN_F32, .ndim = 4, .dims = {5, io.dims[1], size, size}, .data = x};
        kiln_context *rc = NULL;
        CHECK_OK(kiln_context_create(l, &rc));
        float *big = calloc((size_t)(5 * item), sizeof(float));
        in.data = big;
        CHECK(rc && kiln_context_run(rc, 1, &in) == KILN_ERR_RANGE, "batch 5 of 1..4 must be a range error");
        free(big);
        kiln_context_destroy(rc);
    }
    kiln_engine_destroy(l);
    remove(path);

    /* Two contexts on two threads, different batches, at the same time. */
    thr t[2] = {{e, x, 1, size, y1, n1, 0, 0}, {e, x, 4, size, y4, n4, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_main, &t[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        CHECK(t[i].failures == 0 && t[i].mismatches == 0,
              "thread %d (batch %lld): %d failures, %d runs differ from the single-thread output", i,
              (long long)t[i].batch, t[i].failures, t[i].mismatches);
    printf("two threads: %d + %d mismatches\n", t[0].mismatches, t[1].mismatches);
    free(y1);
    free(y4);
    free(x);
    kiln_context_destroy(c);
    kiln_engine_destroy(e);
    kiln_model_destroy(m);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
#ifndef KILN_CUDA_ENGINE
    return test_skip("the CUDA engine is not compiled in");
#else
    test_build_path("cuda_engine_tests.tcache", tcache, sizeof tcache);
    static const kiln_precision all[] = {KILN_PREC_FP32, KILN_PREC_TF32, KILN_PREC_FP16, KILN_PREC_BF16};
    static const kiln_precision two[] = {KILN_PREC_FP32, KILN_PREC_FP16};
    static const kiln_precision half[] = {KILN_PREC_FP16};
    static const struct {
        const char *name;
        int64_t size;
        const kiln_precision *p;
        int np;
    } models[] = {
        {"resnet18", 64, all, 4},     {"resnet50", 64, all, 4},     {"mobilenet_v2", 64, all, 4},
        {"googlenet", 64, two, 2},    {"densenet121", 64, two, 2},  {"resnet34", 64, two, 2},
        {"alexnet", 0, two, 2},       {"vgg16", 0, half, 1},        {"resnet101", 64, half, 1},
        {"resnet152", 64, half, 1},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (!wanted("KILN_CUDA_TEST_MODELS", models[i].name)) continue;
        kiln_precision ps[4];
        int np = 0;
        for (int q = 0; q < models[i].np; q++)
            if (wanted("KILN_CUDA_TEST_PRECISIONS", kiln_precision_name(models[i].p[q])))
                ps[np++] = models[i].p[q];
        parity(models[i].name, models[i].size, ps, np);
    }
    if (wanted("KILN_CUDA_TEST_MODELS", "plan")) plan_threads_profile();
    return test_done();
#endif
}
