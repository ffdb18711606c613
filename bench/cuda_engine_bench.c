/* cuda_engine_bench.c — measure a CUDA engine the way the GPU benchmarks need (scripts/gpu-bench.sh):
 *
 *   build     wall time of kiln_engine_build (cold or warm timing cache), cuDNN plans compiled
 *             and restored; or the load time of a plan file
 *   device    CUDA-event time of the engine's captured CUDA graph replayed back to back, input
 *             already in device memory (what bench/peers/torch_peer.py measures for PyTorch;
 *             kiln's graph also converts the FP32 NCHW input and the output, which PyTorch's
 *             FP16 channels-last runs do not)
 *   e2e       kiln_context_run: host FP32 input -> host FP32 output, one context
 *   streams   N contexts on N threads running back to back: aggregate images/s, host I/O included
 *   memory    device bytes of the engine with one context (weights, activations, workspace,
 *             staging)
 *   layers    with --layers: per-layer times (kiln_context_profile), the largest first
 * and prints one JSON object (also appended to --json FILE).
 *
 * usage: kiln_cuda_bench MODEL [--precision P] [--batch B] [--timing-cache F] [--tactics K]
 *                        [--save PLAN] [--iters N] [--streams N] [--duration S] [--layers N]
 *                        [--json FILE] [--size S]
 * MODEL: zoo:NAME, FILE.onnx or FILE.plan.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/cuda_engine.h"
#include "kiln.h"
#include "runtime/engine.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "kiln_cuda_bench: %s: %s\n", what, msg);
    exit(1);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

typedef struct worker {
    kiln_engine *e;
    kiln_buffer in;
    double until;
    long runs;
    int failed;
} worker;

static void *stream_main(void *arg) {
    worker *w = arg;
    kiln_context *c = NULL;
    if (kiln_context_create(w->e, &c) != KILN_OK) {
        w->failed = 1;
        return NULL;
    }
    if (kiln_context_run(c, 1, &w->in) != KILN_OK) w->failed = 1; /* warm-up (capture) */
    while (!w->failed && now() < w->until) {
        if (kiln_context_run(c, 1, &w->in) != KILN_OK) w->failed = 1;
        else w->runs++;
    }
    kiln_context_destroy(c);
    return NULL;
}

int main(int argc, char **argv) {
    const char *model = NULL, *prec = "fp16", *tcache = NULL, *save = NULL, *json = NULL;
    int64_t batch = 1, size = 0;
    int iters = 100, streams = 2, layers = 0, tactics = 0;
    double duration = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--precision") && v) prec = v, i++;
        else if (!strcmp(a, "--batch") && v) batch = atoll(v), i++;
        else if (!strcmp(a, "--timing-cache") && v) tcache = v, i++;
        else if (!strcmp(a, "--tactics") && v) tactics = atoi(v), i++;
        else if (!strcmp(a, "--save") && v) save = v, i++;
        else if (!strcmp(a, "--iters") && v) iters = atoi(v), i++;
        else if (!strcmp(a, "--streams") && v) streams = atoi(v), i++;
        else if (!strcmp(a, "--duration") && v) duration = atof(v), i++;
        else if (!strcmp(a, "--layers") && v) layers = atoi(v), i++;
        else if (!strcmp(a, "--json") && v) json = v, i++;
        else if (!strcmp(a, "--size") && v) size = atoll(v), i++;
        else if (a[0] != '-' && !model) model = a;
        else die("usage", "kiln_cuda_bench MODEL [--precision P] [--batch B] [--timing-cache F] "
                          "[--tactics K] [--save PLAN] [--iters N] [--streams N] [--duration S] "
                          "[--layers N] [--json FILE] [--size S]");
    }
    if (!model) die("usage", "no model");
    if (iters < 1) iters = 1;
    kiln_engine *e = kiln_engine_create();
    double t0 = now(), build_s;
    size_t ml = strlen(model);
    int is_plan = ml > 5 && !strcmp(model + ml - 5, ".plan");
    if (is_plan) {
        if (kiln_engine_load(e, model) != KILN_OK) die(model, kiln_engine_errmsg(e));
    } else {
        kiln_model *m = kiln_model_create();
        if (kiln_model_load(m, model) != KILN_OK) die(model, kiln_model_errmsg(m));
        if (size) {
            kiln_tensor *t = &m->g->t[m->g->inputs[0]];
            t->shape.d[2] = t->shape.d[3] = size;
        }
        kiln_builder_config *cfg = kiln_builder_config_create();
        kiln_builder_config_set_backend(cfg, KILN_BACKEND_CUDA);
        int p = kiln_precision_parse(prec);
        if (p < 0) die("--precision", prec);
        kiln_builder_config_set_precision(cfg, (kiln_precision)p);
        kiln_builder_config_set_batch_range(cfg, batch, batch, batch);
        if (tcache) kiln_builder_config_set_timing_cache(cfg, tcache);
        cfg->max_tactics = tactics;
        t0 = now();
        if (kiln_engine_build(e, m, cfg) != KILN_OK) die(model, kiln_engine_errmsg(e));
        kiln_builder_config_destroy(cfg);
        kiln_model_destroy(m);
    }
    build_s = now() - t0;
    const cu_engine *s = e->bstate;
    if (save && kiln_engine_save(e, save) != KILN_OK) die(save, kiln_engine_errmsg(e));

    /* Input: random, not zeros. */
    kiln_io_info io;
    kiln_engine_io(e, 1, 0, &io);
    int64_t b = batch;
    if (is_plan) kiln_engine_batch_range(e, NULL, NULL, &b);
    kiln_buffer in = {.dtype = KILN_F32, .ndim = io.ndim};
    int64_t numel = 1;
    for (int d = 0; d < io.ndim; d++) {
        in.dims[d] = io.dims[d] < 0 ? b : io.dims[d];
        numel *= in.dims[d];
    }
    float *x = malloc(sizeof(float) * (size_t)numel);
    uint32_t h = 12345u;
    for (int64_t i = 0; i < numel; i++) {
        h = h * 1664525u + 1013904223u;
        x[i] = (float)(h >> 8) / 8388608.0f - 1.0f;
    }
    in.data = x;

    kiln_context *c = NULL;
    if (kiln_context_create(e, &c) != KILN_OK) die("context", kiln_engine_errmsg(e));
    for (int i = 0; i < 3; i++)
        if (kiln_context_run(c, 1, &in) != KILN_OK) die("run", kiln_context_errmsg(c));

    /* Device time: graph replays, CUDA events. */
    cu_ctx *cx = c->bstate;
    double dev_ms = -1;
    if (cx->gexec[cx->bucket]) {
        cudaGraphExec_t g = (cudaGraphExec_t)cx->gexec[cx->bucket];
        cudaEvent_t a, z;
        cudaEventCreate(&a);
        cudaEventCreate(&z);
        double *t = malloc(sizeof(double) * (size_t)iters);
        for (int i = 0; i < 5; i++) cudaGraphLaunch(g, cx->s);
        for (int i = 0; i < iters; i++) {
            cudaEventRecord(a, cx->s);
            cudaGraphLaunch(g, cx->s);
            cudaEventRecord(z, cx->s);
            cudaEventSynchronize(z);
            float ms;
            cudaEventElapsedTime(&ms, a, z);
            t[i] = ms;
        }
        dev_ms = median(t, iters);
        free(t);
        cudaEventDestroy(a);
        cudaEventDestroy(z);
    }
    /* End to end, one context. */
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double q = now();
        if (kiln_context_run(c, 1, &in) != KILN_OK) die("run", kiln_context_errmsg(c));
        t[i] = (now() - q) * 1e3;
    }
    double e2e_ms = median(t, iters);
    free(t);
    /* Layers. */
    double *node_ms = NULL;
    if (layers > 0) {
        node_ms = calloc((size_t)e->g->n_n + 1, sizeof(double));
        for (int r = 0; r < 2; r++) /* the second run is the one kept (warm) */
            if (kiln_context_profile(c, 1, &in, node_ms) != KILN_OK) die("profile", kiln_context_errmsg(c));
    }
    kiln_context_destroy(c);
    /* Streams. */
    double stream_ips = 0;
    long stream_runs = 0;
    if (streams > 0) {
        worker w[16];
        pthread_t th[16];
        if (streams > 16) streams = 16;
        double start = now();
        for (int i = 0; i < streams; i++) {
            w[i] = (worker){e, in, start + duration, 0, 0};
            pthread_create(&th[i], NULL, stream_main, &w[i]);
        }
        for (int i = 0; i < streams; i++) {
            pthread_join(th[i], NULL);
            if (w[i].failed) die("streams", "a context failed");
            stream_runs += w[i].runs;
        }
        double el = now() - start;
        stream_ips = (double)stream_runs * (double)b / el;
    }
    size_t dev_bytes = kiln_engine_device_bytes(e, 1);
    char out[1 << 16];
    int n = snprintf(out, sizeof out,
                     "{\"model\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, \"build_s\": %.3f, "
                     "\"loaded_plan\": %d, \"cudnn_plans_compiled\": %d, \"cudnn_plans_restored\": %d, "
                     "\"device_ms\": %.4f, \"device_img_s\": %.1f, \"e2e_ms\": %.4f, \"e2e_img_s\": %.1f, "
                     "\"streams\": %d, \"streams_img_s\": %.1f, \"device_bytes\": %zu, \"device_mib\": %.1f, "
                     "\"weights_mib\": %.1f, \"arena_mib\": %.1f, \"workspace_mib\": %.1f, \"staging_mib\": %.1f, "
                     "\"conv_layers\": %d, \"gemm_layers\": %d",
                     model, kiln_precision_name(kiln_engine_precision(e)), (long long)b, build_s,
                     is_plan, s->n_compiled, s->n_restored, dev_ms,
                     dev_ms > 0 ? (double)b / dev_ms * 1e3 : 0, e2e_ms, (double)b / e2e_ms * 1e3, streams,
                     stream_ips, dev_bytes, dev_bytes / 1048576.0, s->wbytes / 1048576.0,
                     s->arena_bytes / 1048576.0, s->workspace_bytes / 1048576.0,
                     s->outstage_bytes / 1048576.0, s->nconv,
                     s->ngemm);
    if (node_ms) {
        n += snprintf(out + n, sizeof out - (size_t)n, ", \"layers\": [");
        double total = 0;
        for (int i = 0; i < e->g->n_n; i++) total += node_ms[i];
        for (int k = 0; k < layers; k++) {
            int best = -1;
            for (int i = 0; i < e->g->n_n; i++)
                if (node_ms[i] > 0 && (best < 0 || node_ms[i] > node_ms[best])) best = i;
            if (best < 0) break;
            char tac[160];
            e->iface->node_tactic(e, best, tac, sizeof tac);
            n += snprintf(out + n, sizeof out - (size_t)n, "%s{\"node\": \"%s\", \"op\": \"%s\", \"ms\": %.4f, \"tactic\": \"%s\"}",
                          k ? ", " : "", e->g->n[best].name, e->g->n[best].label ? e->g->n[best].label : kiln_op_name((kiln_op)e->g->n[best].op),
                          node_ms[best], tac);
            node_ms[best] = -node_ms[best];
        }
        n += snprintf(out + n, sizeof out - (size_t)n, "], \"layers_total_ms\": %.4f", total);
        free(node_ms);
    }
    snprintf(out + n, sizeof out - (size_t)n, "}\n");
    fputs(out, stdout);
    if (json) {
        FILE *f = fopen(json, "a");
        if (f) {
            fputs(out, f);
            fclose(f);
        }
    }
    free(x);
    kiln_engine_destroy(e);
    return 0;
}
