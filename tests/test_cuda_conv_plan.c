/* test_cuda_conv_plan.c — a fused cuDNN plan survives serialization: plan -> JSON -> restored
 * plan gives bit-identical outputs, restoring takes far less time than compiling, the restored
 * plan runs with another handle too, and malformed JSON is an error, not a crash. Also prints the
 * heuristic candidates and their timings for one ResNet layer (what the builder's autotuner
 * sees). */
#include <stdio.h>

#include "backend/cuda/cuda_conv.h"
#include "cuda_test.h"

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    kiln_err e = {0};
    kiln_cuda_handles h, h2;
    CHECK_KILN(kiln_cuda_handles_init(&h, 0, &e), &e);
    CHECK_KILN(kiln_cuda_handles_init(&h2, 0, &e), &e);
    if (test_failed) return test_done();

    /* ResNet-50 layer3 3x3 conv with the block's residual and ReLU, FP16, batch 32. */
    kiln_cuda_conv_desc d = {0};
    d.n = 32, d.h = 14, d.w = 14, d.c = 256, d.k = 256, d.r = 3, d.s = 3;
    d.stride[0] = d.stride[1] = 1;
    d.dilation[0] = d.dilation[1] = 1;
    d.pad_begin[0] = d.pad_begin[1] = d.pad_end[0] = d.pad_end[1] = 1;
    d.groups = 1, d.dtype = KILN_F16, d.precision = KILN_PREC_FP16;
    d.has_bias = 1, d.has_residual = 1, d.act.type = KILN_ACT_RELU;
    char sig[512];
    kiln_cuda_conv_signature(&d, sig, sizeof sig);
    printf("layer: %s\n", sig);

    int64_t nx = (int64_t)d.n * d.h * d.w * d.c, nw = (int64_t)d.k * 9 * d.c, ny = (int64_t)d.n * d.h * d.w * d.k;
    float *x = cuda_test_random(&r, d.dtype, nx, -1, 1), *w = cuda_test_random(&r, d.dtype, nw, -0.05f, 0.05f),
          *b = cuda_test_random(&r, d.dtype, d.k, -0.5f, 0.5f), *res = cuda_test_random(&r, d.dtype, ny, -1, 1);
    void *dx = cuda_test_upload_as(d.dtype, x, nx), *dw = cuda_test_upload_as(d.dtype, w, nw),
         *db = cuda_test_upload_as(d.dtype, b, d.k), *dr = cuda_test_upload_as(d.dtype, res, ny);
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
    CHECK(restore < best_compile / 5 || restore < 0.02, "restore %.4f s is far below compile %.3f s", restore,
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
        CHECK(memcmp(h1, hb, ybytes) == 0, "restored plan: bit-identical output");
        CHECK(memcmp(h1, hc, ybytes) == 0, "restored plan on a second handle and stream: identical output");
        float *yf = malloc((size_t)ny * sizeof *yf);
        cuda_test_unpack(d.dtype, h1, yf, ny);
        int64_t nan = 0;
        for (int64_t i = 0; i < ny; i++) nan += isnan(yf[i]);
        CHECK(nan == 0, "every output written (%lld NaN)", (long long)nan);
        float ms = 0;
        CHECK_KILN(kiln_cuda_conv_plan_time(&h, restored, &a2, 0, 3, 20, &ms, &e), &e);
        printf("restored plan: %.4f ms (original %.4f ms)\n", ms, best_ms);
        free(h1), free(hb), free(hc), free(yf);
        kiln_cuda_conv_plan_destroy(restored);
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
    free(x), free(w), free(b), free(res);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dr), cudaFree(y1), cudaFree(y2), cudaFree(y3), cudaFree(ws);
    kiln_cuda_handles_release(&h);
    kiln_cuda_handles_release(&h2);
    return test_done();
}
