/* test_cuda_conv_plan.c — a fused cuDNN plan survives serialization: plan -> JSON -> restored
 * plan gives bit-identical outputs, in this process and in a fresh one (as when an engine file is
 * loaded: no kernel cache to lean on), restoring takes far less time than compiling, the
 * restored plan runs with another handle and stream too, and malformed JSON is an error, not a
 * crash. Also prints the heuristic candidates and their timings for one ResNet layer (what the
 * builder's autotuner sees). */
#include <stdio.h>

#include "backend/cuda/cuda_conv.h"
#include "cuda_test.h"

/* ResNet-50 layer3 3x3 conv with the block's residual and ReLU, FP16, batch 32. */
static kiln_cuda_conv_desc layer(void) {
    kiln_cuda_conv_desc d = {0};
    d.n = 32, d.h = 14, d.w = 14, d.c = 256, d.k = 256, d.r = 3, d.s = 3;
    d.stride[0] = d.stride[1] = 1;
    d.dilation[0] = d.dilation[1] = 1;
    d.pad_begin[0] = d.pad_begin[1] = d.pad_end[0] = d.pad_end[1] = 1;
    d.groups = 1, d.dtype = KILN_F16, d.precision = KILN_PREC_FP16;
    d.has_bias = 1, d.has_residual = 1, d.act.type = KILN_ACT_RELU;
    return d;
}

/* Device inputs drawn from the test seed (the child process draws the same ones). */
typedef struct {
    void *x, *w, *b, *r;
    int64_t ny;
} inputs;

static inputs make_inputs(const kiln_cuda_conv_desc *d) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    inputs in;
    int64_t nx = (int64_t)d->n * d->h * d->w * d->c, nw = (int64_t)d->k * 9 * d->c;
    in.ny = (int64_t)d->n * d->h * d->w * d->k;
    float *x = cuda_test_random(&r, d->dtype, nx, -1, 1), *w = cuda_test_random(&r, d->dtype, nw, -0.05f, 0.05f),
          *b = cuda_test_random(&r, d->dtype, d->k, -0.5f, 0.5f), *res = cuda_test_random(&r, d->dtype, in.ny, -1, 1);
    in.x = cuda_test_upload_as(d->dtype, x, nx);
    in.w = cuda_test_upload_as(d->dtype, w, nw);
    in.b = cuda_test_upload_as(d->dtype, b, d->k);
    in.r = cuda_test_upload_as(d->dtype, res, in.ny);
    free(x), free(w), free(b), free(res);
    return in;
}

/* Bit-identical for a deterministic engine; otherwise equal within FP16 rounding. */
static int same_output(const void *a, const void *b, int64_t n, int deterministic) {
    if (memcmp(a, b, (size_t)n * 2) == 0) return 1;
    if (deterministic) return 0;
    float *fa = malloc((size_t)n * sizeof *fa), *fb = malloc((size_t)n * sizeof *fb);
    cuda_test_unpack(KILN_F16, a, fa, n);
    cuda_test_unpack(KILN_F16, b, fb, n);
    double err = test_rel_l2(fa, fb, n);
    free(fa), free(fb);
    return err < 1e-3;
}

static void free_inputs(inputs *in) { cudaFree(in->x), cudaFree(in->w), cudaFree(in->b), cudaFree(in->r); }

/* Child: restore the plan in JSON_PATH, time the restore, run it, write y to OUT_PATH. */
static int child_restore(const char *json_path, const char *out_path) {
    kiln_err e = {0};
    kiln_cuda_handles h;
    CHECK_KILN(kiln_cuda_handles_init(&h, 0, &e), &e);
    kiln_cuda_conv_desc d = layer();
    inputs in = make_inputs(&d);
    FILE *f = fopen(json_path, "rb");
    CHECK(f != NULL, "open %s", json_path);
    if (!f) return test_done();
    char *json = malloc(1 << 22);
    size_t len = fread(json, 1, (1 << 22) - 1, f);
    fclose(f);
    json[len] = 0;
    kiln_cuda_conv_plan *p = NULL;
    double t0 = cuda_test_now();
    CHECK_KILN(kiln_cuda_conv_plan_from_json(&h, &d, json, len, &p, &e), &e);
    printf("restore_s=%.6f\n", cuda_test_now() - t0);
    if (p) {
        size_t ybytes = (size_t)in.ny * 2, wsb = kiln_cuda_conv_plan_workspace(p);
        void *y = cuda_test_poisoned(ybytes), *ws = NULL;
        if (wsb) CUDA_CHECK_RT(cudaMalloc(&ws, wsb));
        kiln_cuda_conv_args a = {in.x, in.w, in.b, in.r, y, ws};
        CHECK_KILN(kiln_cuda_conv_plan_execute(&h, p, &a, 0, &e), &e);
        unsigned char *hy = malloc(ybytes);
        cuda_test_download(hy, y, ybytes);
        FILE *o = fopen(out_path, "wb");
        CHECK(o && fwrite(hy, 1, ybytes, o) == ybytes, "write %s", out_path);
        if (o) fclose(o);
        free(hy);
        cudaFree(y), cudaFree(ws);
        kiln_cuda_conv_plan_destroy(p);
    }
    free(json);
    free_inputs(&in);
    kiln_cuda_handles_release(&h);
    return test_done();
}

int main(int argc, char **argv) {
    CUDA_TEST_REQUIRE_DEVICE();
    if (argc == 4 && strcmp(argv[1], "--restore") == 0) return child_restore(argv[2], argv[3]);
    kiln_err e = {0};
    kiln_cuda_handles h, h2;
    CHECK_KILN(kiln_cuda_handles_init(&h, 0, &e), &e);
    CHECK_KILN(kiln_cuda_handles_init(&h2, 0, &e), &e);
    if (test_failed) return test_done();

    kiln_cuda_conv_desc d = layer();
    char sig[512];
    kiln_cuda_conv_signature(&d, sig, sizeof sig);
    printf("layer: %s\n", sig);
    inputs in = make_inputs(&d);
    int64_t ny = in.ny;
    void *dx = in.x, *dw = in.w, *db = in.b, *dr = in.r;
    size_t ybytes = (size_t)ny * 2;
    void *y1 = cuda_test_poisoned(ybytes), *y2 = cuda_test_poisoned(ybytes), *y3 = cuda_test_poisoned(ybytes);

    kiln_cuda_conv_graph *g = NULL;
    CHECK_KILN(kiln_cuda_conv_graph_create(&h, &d, &g, &e), &e);
    int count = 0;
    double t0 = cuda_test_now();
    if (g) CHECK_KILN(kiln_cuda_conv_graph_candidates(g, 8, &count, &e), &e);
    printf("heuristics: %d candidates in %.3f s\n", count, cuda_test_now() - t0);

    /* Compile and time every candidate, keep the fastest: the builder's loop. */
    kiln_cuda_conv_plan *best = NULL;
    float best_ms = 1e30f;
    double best_compile = 0;
    void *ws = NULL;
    size_t ws_size = 0;
    for (int i = 0; i < count; i++) {
        char name[96];
        kiln_cuda_conv_graph_candidate_name(g, i, name, sizeof name);
        kiln_cuda_conv_plan *p = NULL;
        t0 = cuda_test_now();
        kiln_status st = kiln_cuda_conv_plan_create(g, i, &p, &e);
        double compile = cuda_test_now() - t0;
        if (st != KILN_OK) {
            printf("  %d %-40s refused (%.2f s): %s\n", i, name, compile, e.msg);
            continue;
        }
        size_t need = kiln_cuda_conv_plan_workspace(p);
        if (need > ws_size) {
            cudaFree(ws);
            ws = NULL;
            CUDA_CHECK_RT(cudaMalloc(&ws, need));
            ws_size = need;
        }
        kiln_cuda_conv_args a = {dx, dw, db, dr, y1, ws};
        float ms = 0;
        st = kiln_cuda_conv_plan_time(&h, p, &a, 0, 3, 20, &ms, &e);
        printf("  %d %-40s compile %.2f s, workspace %zu, %.4f ms%s\n", i, name, compile, need, ms,
               st == KILN_OK ? "" : " (timing failed)");
        if (st == KILN_OK && ms < best_ms) {
            kiln_cuda_conv_plan_destroy(best);
            best = p;
            best_ms = ms;
            best_compile = compile;
        } else {
            kiln_cuda_conv_plan_destroy(p);
        }
    }
    kiln_cuda_conv_graph_destroy(g);
    CHECK(best != NULL, "some candidate compiles and runs");
    if (!best) return test_done();
    double tflops = 2.0 * (double)ny * 9 * d.c / (best_ms * 1e-3) / 1e12;
    printf("fastest: %.4f ms (%.1f TFLOP/s)\n", best_ms, tflops);

    kiln_cuda_conv_args a1 = {dx, dw, db, dr, y1, ws};
    CUDA_CHECK_RT(cudaMemset(y1, 0xFF, ybytes));
    CHECK_KILN(kiln_cuda_conv_plan_execute(&h, best, &a1, 0, &e), &e);
    /* Is the engine deterministic (no split reductions with atomics)? Then a restored plan must
       give the same bits; otherwise the same values within rounding. */
    kiln_cuda_conv_args a1b = {dx, dw, db, dr, y3, ws};
    CHECK_KILN(kiln_cuda_conv_plan_execute(&h, best, &a1b, 0, &e), &e);
    int deterministic = 0;
    {
        unsigned char *p1 = malloc(ybytes), *p2 = malloc(ybytes);
        cuda_test_download(p1, y1, ybytes);
        cuda_test_download(p2, y3, ybytes);
        deterministic = memcmp(p1, p2, ybytes) == 0;
        free(p1), free(p2);
    }
    printf("fastest engine is %sdeterministic\n", deterministic ? "" : "NOT ");

    char *json = NULL;
    size_t len = 0;
    CHECK_KILN(kiln_cuda_conv_plan_json(best, &json, &len, &e), &e);
    CHECK(json && len > 10 && json[0] == '{' && strlen(json) == len, "JSON text (%zu bytes)", len);
    if (json) printf("json: %zu bytes: %.120s...\n", len, json);

    kiln_cuda_conv_plan *restored = NULL;
    t0 = cuda_test_now();
    if (json) CHECK_KILN(kiln_cuda_conv_plan_from_json(&h, &d, json, len, &restored, &e), &e);
    double restore = cuda_test_now() - t0;
    printf("restore from JSON: %.4f s (compile was %.3f s)\n", restore, best_compile);
    CHECK(restore * 5 < best_compile || restore < 0.05, "restore %.4f s is far below compile %.3f s", restore,
          best_compile);
    if (restored) {
        CHECK(kiln_cuda_conv_plan_workspace(restored) == kiln_cuda_conv_plan_workspace(best), "same workspace");
        kiln_cuda_conv_args a2 = {dx, dw, db, dr, y2, ws};
        CHECK_KILN(kiln_cuda_conv_plan_execute(&h, restored, &a2, 0, &e), &e);
        /* Another handle (another execution context) runs the same plan. */
        cudaStream_t s2;
        CUDA_CHECK_RT(cudaStreamCreate(&s2));
        kiln_cuda_conv_args a3 = {dx, dw, db, dr, y3, ws};
        CHECK_KILN(kiln_cuda_conv_plan_execute(&h2, restored, &a3, s2, &e), &e);
        CUDA_CHECK_RT(cudaStreamSynchronize(s2));
        cudaStreamDestroy(s2);
        unsigned char *h1 = malloc(ybytes), *hb = malloc(ybytes), *hc = malloc(ybytes);
        cuda_test_download(h1, y1, ybytes);
        cuda_test_download(hb, y2, ybytes);
        cuda_test_download(hc, y3, ybytes);
        CHECK(same_output(h1, hb, ny, deterministic), "restored plan: identical output");
        CHECK(same_output(h1, hc, ny, deterministic), "restored plan on a second handle and stream: identical output");
        float *yf = malloc((size_t)ny * sizeof *yf);
        cuda_test_unpack(d.dtype, h1, yf, ny);
        int64_t nan = 0;
        for (int64_t i = 0; i < ny; i++) nan += isnan(yf[i]);
        CHECK(nan == 0, "every output written (%lld NaN)", (long long)nan);
        float ms = 0;
        CHECK_KILN(kiln_cuda_conv_plan_time(&h, restored, &a2, 0, 3, 20, &ms, &e), &e);
        printf("restored plan: %.4f ms (original %.4f ms)\n", ms, best_ms);

        /* The runtime replays whole networks as CUDA graphs: the plan must be capturable. */
        cudaStream_t cs;
        CUDA_CHECK_RT(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
        CUDA_CHECK_RT(cudaMemset(y2, 0xFF, ybytes));
        cudaGraph_t graph = NULL;
        cudaGraphExec_t exec = NULL;
        CUDA_CHECK_RT(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal));
        kiln_status cst = kiln_cuda_conv_plan_execute(&h, restored, &a2, cs, &e);
        CUDA_CHECK_RT(cudaStreamEndCapture(cs, &graph));
        CHECK(cst == KILN_OK, "execute under stream capture: %s", e.msg);
        if (graph) CUDA_CHECK_RT(cudaGraphInstantiate(&exec, graph, 0));
        if (exec) {
            CUDA_CHECK_RT(cudaGraphLaunch(exec, cs));
            CUDA_CHECK_RT(cudaStreamSynchronize(cs));
            cuda_test_download(hb, y2, ybytes);
            CHECK(same_output(h1, hb, ny, deterministic), "CUDA graph replay: identical output");
            cudaEvent_t ea, eb;
            cudaEventCreate(&ea), cudaEventCreate(&eb);
            cudaEventRecord(ea, cs);
            for (int i = 0; i < 20; i++) cudaGraphLaunch(exec, cs);
            cudaEventRecord(eb, cs);
            cudaEventSynchronize(eb);
            float gms = 0;
            cudaEventElapsedTime(&gms, ea, eb);
            printf("graph replay: %.4f ms per layer\n", gms / 20);
            cudaEventDestroy(ea), cudaEventDestroy(eb);
            cudaGraphExecDestroy(exec);
        }
        if (graph) cudaGraphDestroy(graph);
        cudaStreamDestroy(cs);
        free(h1), free(hb), free(hc), free(yf);
        kiln_cuda_conv_plan_destroy(restored);
    }

    /* A fresh process (an engine being loaded): restore from the JSON file, same bits out. */
    if (json) {
        char jpath[1024], ypath[1024], cmd[4096], out[4096];
        test_build_path("cuda_conv_plan.json", jpath, sizeof jpath);
        test_build_path("cuda_conv_plan.y", ypath, sizeof ypath);
        FILE *f = fopen(jpath, "wb");
        CHECK(f && fwrite(json, 1, len, f) == len, "write %s", jpath);
        if (f) fclose(f);
        snprintf(cmd, sizeof cmd, "KILN_TEST_SEED=%llu '%s' --restore '%s' '%s'", (unsigned long long)test_seed(),
                 argv[0], jpath, ypath);
        int rc = test_run(cmd, out, sizeof out);
        const char *rs = strstr(out, "restore_s=");
        double child_restore_s = rs ? atof(rs + 10) : -1;
        printf("fresh process: restore %.4f s (compile was %.3f s), exit %d\n", child_restore_s, best_compile, rc);
        CHECK(rc == 0, "child restore failed: %s", out);
        CHECK(child_restore_s >= 0 && (child_restore_s * 5 < best_compile || child_restore_s < 0.05),
              "fresh-process restore %.4f s is far below compile %.3f s", child_restore_s, best_compile);
        unsigned char *h1 = malloc(ybytes), *hc = malloc(ybytes);
        cuda_test_download(h1, y1, ybytes);
        FILE *yf = fopen(ypath, "rb");
        size_t got = yf ? fread(hc, 1, ybytes, yf) : 0;
        if (yf) fclose(yf);
        CHECK(got == ybytes && same_output(h1, hc, ny, deterministic), "fresh-process restored plan: identical output");
        free(h1), free(hc);
    }

    /* Malformed JSON: an error with a message, never a crash. */
    kiln_cuda_conv_plan *bad = NULL;
    const char *junk = "{\"not\": \"a plan\"}";
    kiln_status st = kiln_cuda_conv_plan_from_json(&h, &d, junk, strlen(junk), &bad, &e);
    CHECK(st != KILN_OK && bad == NULL, "junk JSON refused (%s: %s)", kiln_status_str(st), e.msg);
    if (json && len > 40) {
        st = kiln_cuda_conv_plan_from_json(&h, &d, json, len / 2, &bad, &e);
        CHECK(st != KILN_OK && bad == NULL, "truncated JSON refused (%s)", kiln_status_str(st));
    }
    free(json);
    kiln_cuda_conv_plan_destroy(best);
    free_inputs(&in);
    cudaFree(y1), cudaFree(y2), cudaFree(y3), cudaFree(ws);
    kiln_cuda_handles_release(&h);
    kiln_cuda_handles_release(&h2);
    return test_done();
}
