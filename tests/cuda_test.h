/* cuda_test.h — helpers shared by the GPU tests (tests/test_cuda_*.c): device buffers, storage
 * type conversion, poisoning. Header-only (static functions), so each test stays one file.
 *
 * Every test starts with CUDA_TEST_REQUIRE_DEVICE(), which returns test_skip("no CUDA device")
 * (exit 77, shown as skipped by CTest) when kiln's device probe finds none.
 */
#ifndef KILN_TESTS_CUDA_TEST_H
#define KILN_TESTS_CUDA_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/cuda_common.h"
#include "core/dtype.h"
#include "test.h"

#define CUDA_TEST_REQUIRE_DEVICE()                                                               \
    do {                                                                                         \
        int n__ = 0;                                                                             \
        setvbuf(stdout, NULL, _IOLBF, 0); /* keep printed lines if a library call crashes */     \
        kiln_err e__ = {0};                                                                      \
        if (kiln_cuda_device_count(&n__, &e__) != KILN_OK) {                                     \
            printf("%s\n", e__.msg);                                                             \
            return test_skip("no CUDA device");                                                  \
        }                                                                                        \
    } while (0)

/* CHECK a CUDA runtime call. */
#define CUDA_CHECK_RT(stmt)                                                                      \
    do {                                                                                         \
        cudaError_t r__ = (stmt);                                                                \
        CHECK(r__ == cudaSuccess, "%s: %s", #stmt, cudaGetErrorString(r__));                     \
    } while (0)

/* CHECK a kiln call; print the recorded message on failure. */
#define CHECK_KILN(expr, err)                                                                    \
    do {                                                                                         \
        kiln_status s__ = (expr);                                                                \
        CHECK(s__ == KILN_OK, "%s -> %s: %s", #expr, kiln_status_str(s__), (err)->msg);          \
    } while (0)

static inline double cuda_test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Device buffer filled with 0xFF bytes: NaN in f32, f16 and bf16, so unwritten outputs fail. */
static inline void *cuda_test_poisoned(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK_RT(cudaMalloc(&p, bytes ? bytes : 1));
    if (p) CUDA_CHECK_RT(cudaMemset(p, 0xFF, bytes));
    return p;
}

static inline void *cuda_test_upload(const void *host, size_t bytes) {
    void *p = NULL;
    CUDA_CHECK_RT(cudaMalloc(&p, bytes ? bytes : 1));
    if (p && bytes) CUDA_CHECK_RT(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    return p;
}

static inline void cuda_test_download(void *host, const void *dev, size_t bytes) {
    CUDA_CHECK_RT(cudaDeviceSynchronize());
    CUDA_CHECK_RT(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}

/* Round a float to what storage type t keeps (the reference computes on these values). */
static inline float cuda_test_round(kiln_dtype t, float v) {
    if (t == KILN_F16) return kiln_f16_to_f32(kiln_f32_to_f16(v));
    if (t == KILN_BF16) return kiln_bf16_to_f32(kiln_f32_to_bf16(v));
    return v;
}

/* Host floats -> a malloc'd buffer of storage type t. */
static inline void *cuda_test_pack(kiln_dtype t, const float *x, int64_t n) {
    size_t es = kiln_dtype_size(t);
    char *out = malloc((size_t)(n > 0 ? n : 1) * es);
    for (int64_t i = 0; i < n; i++) {
        if (t == KILN_F16) ((uint16_t *)out)[i] = kiln_f32_to_f16(x[i]);
        else if (t == KILN_BF16) ((uint16_t *)out)[i] = kiln_f32_to_bf16(x[i]);
        else ((float *)out)[i] = x[i];
    }
    return out;
}

/* A buffer of storage type t -> floats (NaN stays NaN). */
static inline void cuda_test_unpack(kiln_dtype t, const void *in, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (t == KILN_F16) x[i] = kiln_f16_to_f32(((const uint16_t *)in)[i]);
        else if (t == KILN_BF16) x[i] = kiln_bf16_to_f32(((const uint16_t *)in)[i]);
        else x[i] = ((const float *)in)[i];
    }
}

/* Upload floats as storage type t. */
static inline void *cuda_test_upload_as(kiln_dtype t, const float *x, int64_t n) {
    void *h = cuda_test_pack(t, x, n);
    void *d = cuda_test_upload(h, (size_t)n * kiln_dtype_size(t));
    free(h);
    return d;
}

/* Download n elements of storage type t as floats. */
static inline void cuda_test_download_as(kiln_dtype t, const void *dev, float *x, int64_t n) {
    void *h = malloc((size_t)(n > 0 ? n : 1) * kiln_dtype_size(t));
    cuda_test_download(h, dev, (size_t)n * kiln_dtype_size(t));
    cuda_test_unpack(t, h, x, n);
    free(h);
}

/* Random floats in [lo, hi) already rounded to storage type t. */
static inline float *cuda_test_random(kiln_rng *r, kiln_dtype t, int64_t n, float lo, float hi) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    test_fill_uniform(r, x, n, lo, hi);
    for (int64_t i = 0; i < n; i++) x[i] = cuda_test_round(t, x[i]);
    return x;
}

/* The acceptance bound on relative L2 error for a kernel computing in FP32 and storing t. */
static inline double cuda_test_tol(kiln_dtype t) { return t == KILN_F32 ? 1e-5 : 2e-2; }

static inline const char *cuda_test_dtype(kiln_dtype t) {
    return t == KILN_F16 ? "f16" : t == KILN_BF16 ? "bf16" : "f32";
}

#endif
