/* test_cuda_misc.c — softmax / log-softmax, LRN, channel shuffle against double references on
 * fresh random data with poisoned outputs. */
#include "backend/cuda/cuda_lrn.h"
#include "backend/cuda/cuda_shuffle.h"
#include "backend/cuda/cuda_softmax.h"
#include "cuda_test.h"

static const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};

static void check_softmax(kiln_rng *r, kiln_dtype t, int64_t rows, int cols, int log_out, int in_place) {
    int64_t n = rows * cols;
    float *x = cuda_test_random(r, t, n, -6, 6), *ref = malloc((size_t)n * sizeof *ref),
          *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < rows; i++) {
        const float *xr = x + i * cols;
        double m = -INFINITY, s = 0;
        for (int j = 0; j < cols; j++) m = xr[j] > m ? xr[j] : m;
        for (int j = 0; j < cols; j++) s += exp(xr[j] - m);
        for (int j = 0; j < cols; j++)
            ref[i * cols + j] = (float)(log_out ? xr[j] - m - log(s) : exp(xr[j] - m) / s);
    }
    void *dx = cuda_test_upload_as(t, x, n);
    void *dy = in_place ? dx : cuda_test_poisoned((size_t)n * kiln_dtype_size(t));
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_softmax(dx, dy, t, rows, cols, log_out, 0, &e), &e);
    cuda_test_download_as(t, dy, y, n);
    double err = test_rel_l2(y, ref, n);
    CHECK(err <= cuda_test_tol(t), "%s %s %lld x %d%s: rel L2 %g", log_out ? "log_softmax" : "softmax",
          cuda_test_dtype(t), (long long)rows, cols, in_place ? " in place" : "", err);
    free(x), free(ref), free(y);
    cudaFree(dx);
    if (!in_place) cudaFree(dy);
}

static void check_lrn(kiln_rng *r, kiln_dtype t, int size, float alpha, float beta, float bias) {
    int n = 2, h = 7, w = 9, c = 1 + (int)(kiln_rng_next(r) % 96);
    int64_t cnt = (int64_t)n * h * w * c;
    float *x = cuda_test_random(r, t, cnt, -3, 3), *ref = malloc((size_t)cnt * sizeof *ref),
          *y = malloc((size_t)cnt * sizeof *y);
    int lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t p = 0; p < (int64_t)n * h * w; p++)
        for (int k = 0; k < c; k++) {
            double sq = 0;
            for (int j = k - lo; j <= k + hi; j++)
                if (j >= 0 && j < c) sq += (double)x[p * c + j] * x[p * c + j];
            ref[p * c + k] = (float)(x[p * c + k] / pow(bias + alpha / size * sq, beta));
        }
    void *dx = cuda_test_upload_as(t, x, cnt), *dy = cuda_test_poisoned((size_t)cnt * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, h, w, c);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_lrn(&vx, &vy, size, alpha, beta, bias, 0, &e), &e);
    cuda_test_download_as(t, dy, y, cnt);
    double err = test_rel_l2(y, ref, cnt);
    CHECK(err <= cuda_test_tol(t), "lrn %s size %d alpha %g beta %g bias %g c %d: rel L2 %g", cuda_test_dtype(t),
          size, (double)alpha, (double)beta, (double)bias, c, err);
    free(x), free(ref), free(y);
    cudaFree(dx), cudaFree(dy);
}

static void check_shuffle(kiln_rng *r, kiln_dtype t, int c, int groups, int out_pitch, int out_off) {
    int n = 2, h = 5, w = 6;
    int64_t npix = (int64_t)n * h * w, cnt = npix * c, nbuf = npix * out_pitch;
    float *x = cuda_test_random(r, t, cnt, -3, 3), *ref = malloc((size_t)cnt * sizeof *ref),
          *y = malloc((size_t)nbuf * sizeof *y), *got = malloc((size_t)cnt * sizeof *got);
    /* ONNX: reshape (g, c/g) -> transpose -> reshape. */
    int per = c / groups;
    for (int64_t p = 0; p < npix; p++)
        for (int g = 0; g < groups; g++)
            for (int j = 0; j < per; j++) ref[p * c + j * groups + g] = x[p * c + g * per + j];
    void *dx = cuda_test_upload_as(t, x, cnt), *dy = cuda_test_poisoned((size_t)nbuf * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, h, w, c);
    vy.c_pitch = out_pitch;
    vy.c_offset = out_off;
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_channel_shuffle(&vx, &vy, groups, 0, &e), &e);
    cuda_test_download_as(t, dy, y, nbuf);
    for (int64_t p = 0; p < npix; p++)
        for (int k = 0; k < c; k++) got[p * c + k] = y[p * out_pitch + out_off + k];
    double err = test_rel_l2(got, ref, cnt);
    CHECK(err == 0, "shuffle %s c %d groups %d: rel L2 %g", cuda_test_dtype(t), c, groups, err);
    free(x), free(ref), free(y), free(got);
    cudaFree(dx), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    for (int ti = 0; ti < 3; ti++) {
        kiln_dtype t = types[ti];
        check_softmax(&r, t, 8, 1000, 0, 0);
        check_softmax(&r, t, 256, 1000, 1, 0);
        check_softmax(&r, t, 3, 7, 0, 1);
        check_softmax(&r, t, 5, 4099, 0, 1);
        check_lrn(&r, t, 5, 1e-4f, 0.75f, 1.0f); /* AlexNet / GoogLeNet v1 */
        check_lrn(&r, t, 3, 0.5f, 0.6f, 2.0f);
        check_lrn(&r, t, 4, 0.3f, 0.9f, 1.5f);   /* even size: asymmetric window */
        check_shuffle(&r, t, 116, 2, 116, 0);    /* ShuffleNet v2 */
        check_shuffle(&r, t, 240, 3, 240, 0);
        check_shuffle(&r, t, 48, 4, 96, 48);     /* into the upper half of a concat */
    }
    kiln_err e = {0};
    kiln_cuda_nhwc v = kiln_cuda_nhwc_make(&e, KILN_F32, 1, 1, 1, 10);
    CHECK(kiln_cuda_channel_shuffle(&v, &v, 3, 0, &e) == KILN_ERR_INVALID_ARG, "10 channels in 3 groups");
    CHECK(kiln_cuda_softmax(NULL, NULL, KILN_I32, 1, 1, 0, 0, &e) != KILN_OK, "bad softmax call rejected");
    return test_done();
}
