/* cuda_timing.c — median of per-run CUDA event times. */
#include "backend/cuda/cuda_timing.h"

#include <stdlib.h>

#define MAX_ITERS 1000

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Records events and runs; kept apart so the caller can always destroy the events. */
static kiln_status run_timed(kiln_cuda_work_fn fn, void *ctx, cudaStream_t s, int warmup,
                             int iters, cudaEvent_t *ev, float *ms, kiln_err *e) {
    for (int i = 0; i < warmup; i++) KILN_TRY(fn(ctx, s, e));
    KILN_CUDA_CHECK(e, cudaEventRecord(ev[0], s));
    for (int i = 0; i < iters; i++) {
        KILN_TRY(fn(ctx, s, e));
        KILN_CUDA_CHECK(e, cudaEventRecord(ev[i + 1], s));
    }
    KILN_CUDA_CHECK(e, cudaEventSynchronize(ev[iters]));
    for (int i = 0; i < iters; i++) KILN_CUDA_CHECK(e, cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]));
    return KILN_OK;
}

kiln_status kiln_cuda_time(kiln_cuda_work_fn fn, void *ctx, cudaStream_t s, int warmup, int iters,
                           float *median_ms, kiln_err *e) {
    *median_ms = 0;
    if (iters < 1 || iters > MAX_ITERS || warmup < 0)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "kiln_cuda_time: iters %d (1..%d), warmup %d",
                            iters, MAX_ITERS, warmup);
    cudaEvent_t ev[MAX_ITERS + 1];
    float ms[MAX_ITERS];
    int made = 0;
    kiln_status st = KILN_OK;
    for (; made <= iters; made++) {
        cudaError_t r = cudaEventCreate(&ev[made]);
        if (r != cudaSuccess) {
            st = kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaEventCreate(&ev[made])", __FILE__,
                                 __LINE__);
            break;
        }
    }
    if (st == KILN_OK) st = run_timed(fn, ctx, s, warmup, iters, ev, ms, e);
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    if (st != KILN_OK) return st;
    qsort(ms, (size_t)iters, sizeof ms[0], cmp_float);
    *median_ms = ms[iters / 2];
    return KILN_OK;
}
