/* test_cuda_gemm.c — fully connected layers through cuBLASLt: FP32 (no TF32), TF32, FP16, BF16;
 * bias, bias+ReLU, residual in C (ReLU after beta*C), both weight layouts, an output column slice;
 * candidate timing; the selected algorithm saved as 8 words and restored with identical output.
 * Against a double reference: FP32 1e-4, TF32 5e-3, FP16/BF16 2e-2. */
#include <stdio.h>

#include "backend/cuda/cuda_gemm.h"
#include "cuda_test.h"

typedef struct {
    int m, n, k, trans_w, bias, residual, relu, ldy;
    float alpha, beta;
} gemm_case;

static const gemm_case cases[] = {
    {8, 1000, 2048, 1, 1, 0, 0, 0, 1, 0},   /* ResNet-50 classifier, batch 8 */
    {256, 1000, 512, 1, 1, 0, 0, 0, 1, 0},  /* ResNet-18 classifier, batch 256 */
    {3, 4096, 1024, 1, 1, 0, 1, 0, 1, 0},   /* VGG-style FC + ReLU */
    {16, 120, 400, 0, 1, 1, 1, 0, 1, 1},    /* MatMul layout [k][n], residual, ReLU after it */
    {5, 64, 96, 1, 0, 1, 0, 0, 0.5f, -2},   /* Gemm alpha/beta, no bias */
    {7, 48, 64, 1, 1, 0, 1, 80, 1, 0},      /* write into columns of a wider matrix */
};

static double tol_of(kiln_precision p) {
    return p == KILN_PREC_FP32 ? 1e-4 : p == KILN_PREC_TF32 ? 5e-3 : 2e-2;
}

static void run_case(kiln_cuda_handles *h, kiln_rng *r, const gemm_case *c, kiln_precision prec) {
    kiln_dtype t = prec == KILN_PREC_FP16 ? KILN_F16 : prec == KILN_PREC_BF16 ? KILN_BF16 : KILN_F32;
    int ldy = c->ldy ? c->ldy : c->n;
    int64_t nx = (int64_t)c->m * c->k, nw = (int64_t)c->n * c->k, nyb = (int64_t)c->m * ldy, ny = (int64_t)c->m * c->n;
    float *x = cuda_test_random(r, t, nx, -1, 1), *w = cuda_test_random(r, t, nw, -0.1f, 0.1f),
          *bias = cuda_test_random(r, t, c->n, -1, 1), *res = cuda_test_random(r, t, nyb, -1, 1);
    float *ref = malloc((size_t)ny * sizeof *ref), *y = malloc((size_t)nyb * sizeof *y),
          *got = malloc((size_t)ny * sizeof *got);
    for (int i = 0; i < c->m; i++)
        for (int j = 0; j < c->n; j++) {
            double acc = 0;
            for (int q = 0; q < c->k; q++)
                acc += (double)x[(int64_t)i * c->k + q] * (c->trans_w ? w[(int64_t)j * c->k + q] : w[(int64_t)q * c->n + j]);
            acc *= c->alpha;
            if (c->residual) acc += (double)c->beta * res[(int64_t)i * ldy + j];
            if (c->bias) acc += bias[j];
            if (c->relu && acc < 0) acc = 0;
            ref[(int64_t)i * c->n + j] = (float)acc;
        }
    size_t es = kiln_dtype_size(t);
    void *dx = cuda_test_upload_as(t, x, nx), *dw = cuda_test_upload_as(t, w, nw), *db = cuda_test_upload_as(t, bias, c->n),
         *dr = cuda_test_upload_as(t, res, nyb), *dy = cuda_test_poisoned((size_t)nyb * es),
         *dy2 = cuda_test_poisoned((size_t)nyb * es);
    kiln_cuda_gemm_desc d = {c->m, c->n, c->k, c->trans_w, t, prec, c->bias, c->residual, c->relu, c->alpha, c->beta, 0, c->ldy};
    kiln_err e = {0};
    kiln_cuda_gemm *g = NULL;
    CHECK_KILN(kiln_cuda_gemm_create(h, &d, &g, &e), &e);
    int count = 0;
    if (g) CHECK_KILN(kiln_cuda_gemm_candidates(h, g, 8, 32u << 20, &count, &e), &e);
    if (!g || count == 0) {
        kiln_cuda_gemm_destroy(g);
        return;
    }
    void *ws = NULL;
    CUDA_CHECK_RT(cudaMalloc(&ws, 32u << 20));
    kiln_cuda_gemm_args a = {dx, dw, db, dr, dy, ws};
    int best = 0;
    float best_ms = 1e30f;
    for (int i = 0; i < count; i++) {
        float ms = 0;
        if (kiln_cuda_gemm_time(h, g, i, &a, 0, 2, 10, &ms, &e) == KILN_OK && ms < best_ms) best_ms = ms, best = i;
    }
    CHECK_KILN(kiln_cuda_gemm_select(g, best, &e), &e);
    CUDA_CHECK_RT(cudaMemset(dy, 0xFF, (size_t)nyb * es));
    CHECK_KILN(kiln_cuda_gemm_execute(h, g, &a, 0, &e), &e);
    cuda_test_download_as(t, dy, y, nyb);
    int64_t outside = 0, m = 0;
    for (int i = 0; i < c->m; i++)
        for (int j = 0; j < ldy; j++) {
            if (j < c->n) got[m++] = y[(int64_t)i * ldy + j];
            else outside += !isnan(y[(int64_t)i * ldy + j]);
        }
    double err = test_rel_l2(got, ref, ny);
    printf("  gemm %dx%dx%d %s trans_w %d bias %d res %d relu %d: %d algos, best %.4f ms, rel L2 %.2e\n", c->m,
           c->n, c->k, kiln_cuda_precision_name(prec), c->trans_w, c->bias, c->residual, c->relu, count, best_ms, err);
    CHECK(err <= tol_of(prec), "gemm %dx%dx%d %s: rel L2 %g", c->m, c->n, c->k, kiln_cuda_precision_name(prec), err);
    CHECK(outside == 0, "gemm wrote %lld elements outside its columns", (long long)outside);

    /* Save the selection, load it into a fresh layer, same bits out. */
    uint64_t saved[8];
    CHECK_KILN(kiln_cuda_gemm_algo_save(g, saved, &e), &e);
    kiln_cuda_gemm *g2 = NULL;
    CHECK_KILN(kiln_cuda_gemm_create(h, &d, &g2, &e), &e);
    if (g2) {
        CHECK_KILN(kiln_cuda_gemm_algo_load(h, g2, saved, &e), &e);
        CHECK(kiln_cuda_gemm_workspace(g2) == kiln_cuda_gemm_workspace(g), "same workspace after load");
        kiln_cuda_gemm_args a2 = a;
        a2.y = dy2;
        CHECK_KILN(kiln_cuda_gemm_execute(h, g2, &a2, 0, &e), &e);
        unsigned char *b1 = malloc((size_t)nyb * es), *b2 = malloc((size_t)nyb * es);
        cuda_test_download(b1, dy, (size_t)nyb * es);
        cuda_test_download(b2, dy2, (size_t)nyb * es);
        CHECK(memcmp(b1, b2, (size_t)nyb * es) == 0, "restored algorithm: identical output");
        /* Captured into a CUDA graph and replayed, as the runtime runs it. */
        cudaStream_t cs;
        CUDA_CHECK_RT(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
        CUDA_CHECK_RT(cudaMemset(dy2, 0xFF, (size_t)nyb * es));
        cudaGraph_t graph = NULL;
        cudaGraphExec_t exec = NULL;
        CUDA_CHECK_RT(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal));
        kiln_status cst = kiln_cuda_gemm_execute(h, g2, &a2, cs, &e);
        CUDA_CHECK_RT(cudaStreamEndCapture(cs, &graph));
        CHECK(cst == KILN_OK, "gemm under stream capture: %s", e.msg);
        if (graph) CUDA_CHECK_RT(cudaGraphInstantiate(&exec, graph, 0));
        if (exec) {
            CUDA_CHECK_RT(cudaGraphLaunch(exec, cs));
            CUDA_CHECK_RT(cudaStreamSynchronize(cs));
            cuda_test_download(b2, dy2, (size_t)nyb * es);
            CHECK(memcmp(b1, b2, (size_t)nyb * es) == 0, "gemm graph replay: identical output");
            cudaGraphExecDestroy(exec);
        }
        if (graph) cudaGraphDestroy(graph);
        cudaStreamDestroy(cs);
        free(b1), free(b2);
        kiln_cuda_gemm_destroy(g2);
    }
    kiln_cuda_gemm_destroy(g);
    free(x), free(w), free(bias), free(res), free(ref), free(y), free(got);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dr), cudaFree(dy), cudaFree(dy2), cudaFree(ws);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    kiln_err e = {0};
    kiln_cuda_handles h;
    CHECK_KILN(kiln_cuda_handles_init(&h, 0, &e), &e);
    if (test_failed) return test_done();
    const kiln_precision precs[] = {KILN_PREC_FP32, KILN_PREC_TF32, KILN_PREC_FP16, KILN_PREC_BF16};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int p = 0; p < 4; p++) run_case(&h, &r, &cases[i], precs[p]);

    kiln_cuda_gemm_desc bad = {4, 4, 4, 1, KILN_F16, KILN_PREC_FP32, 0, 0, 0, 1, 0, 0, 0};
    kiln_cuda_gemm *g = NULL;
    CHECK(kiln_cuda_gemm_create(&h, &bad, &g, &e) == KILN_ERR_UNSUPPORTED && !g, "f16 data, fp32 precision refused");
    bad.precision = KILN_PREC_FP16;
    bad.ldy = 2; /* row pitch below n */
    CHECK(kiln_cuda_gemm_create(&h, &bad, &g, &e) == KILN_ERR_INVALID_ARG && !g, "ldy < n refused");
    kiln_cuda_handles_release(&h);
    return test_done();
}
