/* test_cuda_engine_kernels.c — the engine's own kernels (cuda_engine_kernels.cu) against
 * double-precision references on fresh random data, outputs poisoned first: per-channel scale +
 * shift + activation on NHWC views (dense and channel slices, every storage type), and the
 * random fill the tuner times on (range, determinism, no zeros). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda/cuda_engine_kernels.h"
#include "cuda_test.h"

static void scale_shift(kiln_rng *r, kiln_dtype t, int n, int h, int w, int c, int pitch, int coff,
                        int act_type) {
    int64_t total = (int64_t)n * h * w * pitch;
    float *x = cuda_test_random(r, t, total, -2, 2);
    float *sc = cuda_test_random(r, t, c, -1, 1), *sf = cuda_test_random(r, t, c, -1, 1);
    void *dx = cuda_test_upload_as(t, x, total), *dsc = cuda_test_upload_as(t, sc, c),
         *dsf = cuda_test_upload_as(t, sf, c);
    void *dy = cuda_test_poisoned((size_t)total * kiln_dtype_size(t));
    kiln_cuda_nhwc xv = kiln_cuda_nhwc_make(dx, t, n, h, w, c), yv = kiln_cuda_nhwc_make(dy, t, n, h, w, c);
    xv.c_pitch = yv.c_pitch = pitch;
    xv.c_offset = yv.c_offset = coff;
    kiln_act act = {act_type, 0.5f, 4.0f};
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_scale_shift(&xv, dsc, dsf, &yv, &act, 0, &e), &e);
    float *y = malloc(sizeof(float) * (size_t)total);
    cuda_test_download_as(t, dy, y, total);
    double num = 0, den = 0;
    int unwritten = 0;
    for (int64_t p = 0; p < (int64_t)n * h * w; p++)
        for (int k = 0; k < pitch; k++) {
            float got = y[p * pitch + k];
            if (k < coff || k >= coff + c) {
                if (!isnan(got)) unwritten++; /* outside the slice stays poisoned */
                continue;
            }
            double want = kiln_act_apply(&act, (float)((double)x[p * pitch + k] * sc[k - coff] + sf[k - coff]));
            num += (got - want) * (got - want);
            den += want * want;
        }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(rel <= cuda_test_tol(t) && unwritten == 0, "scale_shift %s %dx%dx%dx%d pitch %d off %d act %d: rel %.3g, %d writes outside",
          cuda_test_dtype(t), n, h, w, c, pitch, coff, act_type, rel, unwritten);
    free(x), free(sc), free(sf), free(y);
    cudaFree(dx), cudaFree(dsc), cudaFree(dsf), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    static const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};
    for (int i = 0; i < 3; i++) {
        scale_shift(&r, types[i], 2, 7, 5, 64, 64, 0, KILN_ACT_RELU);
        scale_shift(&r, types[i], 3, 4, 4, 24, 96, 32, KILN_ACT_CLIP);
        scale_shift(&r, types[i], 1, 1, 1, 1000, 1000, 0, KILN_ACT_NONE);
    }
    /* Random fill: in [-1, 1), deterministic per seed, nowhere all zeros. */
    int64_t cnt = 1 << 20;
    float *d = cuda_test_poisoned(sizeof(float) * (size_t)cnt);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_fill_random(d, KILN_F32, cnt, 42u, 0, &e), &e);
    float *h = malloc(sizeof(float) * (size_t)cnt), *h2 = malloc(sizeof(float) * (size_t)cnt);
    cuda_test_download(h, d, sizeof(float) * (size_t)cnt);
    CHECK_KILN(kiln_cuda_fill_random(d, KILN_F32, cnt, 42u, 0, &e), &e);
    cuda_test_download(h2, d, sizeof(float) * (size_t)cnt);
    int bad = 0, zeros = 0, same = 1;
    double mean = 0;
    for (int64_t i = 0; i < cnt; i++) {
        if (!(h[i] >= -1 && h[i] < 1)) bad++;
        if (h[i] == 0) zeros++;
        if (h[i] != h2[i]) same = 0;
        mean += h[i];
    }
    mean /= (double)cnt;
    CHECK(bad == 0 && zeros < 16 && same && fabs(mean) < 0.01, "fill: %d out of range, %d zeros, same %d, mean %g",
          bad, zeros, same, mean);
    free(h), free(h2);
    cudaFree(d);
    return test_done();
}
