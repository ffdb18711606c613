/* test_cuda_engine_kernels.c — the engine's own kernels (cuda_engine_kernels.cu) against
 * double-precision references on fresh random data, outputs poisoned first: per-channel scale +
 * shift + activation and the vectorized bias + residual + activation pass on NHWC views (dense
 * and channel slices, every storage type), max / average pooling with 16-byte vectors, the
 * space-to-depth input reformat, a 1x1 convolution run as a cuBLASLt matmul
 * (cu_conv_as_gemm), and the random fill the tuner times on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda/cuda_engine.h"
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

/* y = act(x + bias + r) through kiln_cuda_bias_act_vec; views with pitch and offset. */
static void bias_act_vec(kiln_rng *r, kiln_dtype t, int n, int h, int w, int c, int pitch, int coff,
                         int with_bias, int with_res, int act_type) {
    int64_t total = (int64_t)n * h * w * pitch;
    float *x = cuda_test_random(r, t, total, -2, 2), *res = cuda_test_random(r, t, total, -1, 1);
    float *b = cuda_test_random(r, t, c, -1, 1);
    void *dx = cuda_test_upload_as(t, x, total), *dr = cuda_test_upload_as(t, res, total),
         *db = cuda_test_upload_as(t, b, c);
    void *dy = cuda_test_poisoned((size_t)total * kiln_dtype_size(t));
    kiln_cuda_nhwc xv = kiln_cuda_nhwc_make(dx, t, n, h, w, c), yv = kiln_cuda_nhwc_make(dy, t, n, h, w, c),
                   rv = kiln_cuda_nhwc_make(dr, t, n, h, w, c);
    xv.c_pitch = yv.c_pitch = rv.c_pitch = pitch;
    xv.c_offset = yv.c_offset = rv.c_offset = coff;
    kiln_act act = {act_type, 0.f, 6.f};
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_bias_act_vec(&xv, with_bias ? db : NULL, with_res ? &rv : NULL, &yv, &act, 0, &e), &e);
    float *y = malloc(sizeof(float) * (size_t)total);
    cuda_test_download_as(t, dy, y, total);
    double num = 0, den = 0;
    int outside = 0;
    for (int64_t p = 0; p < (int64_t)n * h * w; p++)
        for (int k = 0; k < pitch; k++) {
            int64_t i = p * pitch + k;
            if (k < coff || k >= coff + c) {
                outside += !isnan(y[i]);
                continue;
            }
            double v = x[i] + (with_bias ? b[k - coff] : 0) + (with_res ? res[i] : 0);
            double want = kiln_act_apply(&act, (float)v);
            num += (y[i] - want) * (y[i] - want);
            den += want * want;
        }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(rel <= cuda_test_tol(t) && outside == 0, "bias_act_vec %s %dx%dx%dx%d pitch %d off %d: rel %.3g, %d writes outside",
          cuda_test_dtype(t), n, h, w, c, pitch, coff, rel, outside);
    /* Views the vector kernel cannot take are refused, not mishandled. */
    kiln_cuda_nhwc odd = xv;
    odd.c = c - 1;
    kiln_cuda_nhwc oddy = yv;
    oddy.c = c - 1;
    CHECK(c < 2 || kiln_cuda_bias_act_vec(&odd, NULL, NULL, &oddy, &act, 0, &e) == KILN_ERR_UNSUPPORTED,
          "bias_act_vec took %d channels", c - 1);
    free(x), free(res), free(b), free(y);
    cudaFree(dx), cudaFree(dr), cudaFree(db), cudaFree(dy);
}

/* A 1x1 convolution as the matmul cu_conv_as_gemm describes, against a double reference. */
static void conv_as_gemm(kiln_rng *r, kiln_dtype t, kiln_precision prec, int n, int h, int w, int c,
                         int k, int xpitch, int ypitch, int act_type) {
    kiln_cuda_conv_desc d;
    memset(&d, 0, sizeof d);
    d.n = n, d.h = h, d.w = w, d.c = c, d.k = k, d.r = d.s = 1;
    d.stride[0] = d.stride[1] = d.dilation[0] = d.dilation[1] = 1;
    d.groups = 1;
    d.dtype = t;
    d.precision = prec;
    d.has_bias = d.has_residual = 1;
    d.act.type = act_type;
    d.x_pitch = xpitch == c ? 0 : xpitch;
    d.y_pitch = ypitch == k ? 0 : ypitch;
    kiln_cuda_gemm_desc gd;
    CHECK(cu_conv_as_gemm(&d, &gd), "1x1 conv not mapped");
    kiln_cuda_conv_desc d3 = d;
    d3.r = 3;
    CHECK(!cu_conv_as_gemm(&d3, &gd) || 0, "3x3 conv mapped");
    CHECK(cu_conv_as_gemm(&d, &gd), "1x1 conv not mapped");
    int64_t px = (int64_t)n * h * w;
    float *x = cuda_test_random(r, t, px * xpitch, -1, 1), *wt = cuda_test_random(r, t, (int64_t)k * c, -1, 1);
    float *b = cuda_test_random(r, t, k, -1, 1), *res = cuda_test_random(r, t, px * ypitch, -1, 1);
    void *dx = cuda_test_upload_as(t, x, px * xpitch), *dw = cuda_test_upload_as(t, wt, (int64_t)k * c),
         *db = cuda_test_upload_as(t, b, k), *dr = cuda_test_upload_as(t, res, px * ypitch);
    void *dy = cuda_test_poisoned((size_t)(px * ypitch) * kiln_dtype_size(t)), *ws = NULL;
    kiln_cuda_handles hd;
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_handles_init(&hd, 0, &e), &e);
    kiln_cuda_gemm *g = NULL;
    int cnt = 0;
    CHECK_KILN(kiln_cuda_gemm_create(&hd, &gd, &g, &e), &e);
    if (g) CHECK_KILN(kiln_cuda_gemm_candidates(&hd, g, 4, 32 << 20, &cnt, &e), &e);
    CUDA_CHECK_RT(cudaMalloc(&ws, 32 << 20));
    kiln_cuda_gemm_args a = {.x = dx, .w = dw, .bias = db, .residual = dr, .y = dy, .workspace = ws};
    if (g && cnt) CHECK_KILN(kiln_cuda_gemm_execute(&hd, g, &a, 0, &e), &e);
    float *y = malloc(sizeof(float) * (size_t)(px * ypitch));
    cuda_test_download_as(t, dy, y, px * ypitch);
    double num = 0, den = 0;
    int outside = 0;
    for (int64_t p = 0; p < px; p++)
        for (int o = 0; o < ypitch; o++) {
            float got = y[p * ypitch + o];
            if (o >= k) {
                outside += !isnan(got);
                continue;
            }
            double v = b[o] + res[p * ypitch + o];
            for (int q = 0; q < c; q++) v += (double)x[p * xpitch + q] * wt[(int64_t)o * c + q];
            if (act_type == KILN_ACT_RELU && v < 0) v = 0;
            num += (got - v) * (got - v);
            den += v * v;
        }
    double rel = sqrt(num / den), tol = prec == KILN_PREC_FP32 ? 1e-5 : prec == KILN_PREC_TF32 ? 5e-3 : 2e-2;
    CHECK(rel <= tol && outside == 0, "conv-as-gemm %s %dx%dx%dx%d -> %d (pitches %d/%d): rel %.3g, %d writes outside",
          kiln_cuda_precision_name(prec), n, h, w, c, k, xpitch, ypitch, rel, outside);
    kiln_cuda_gemm_destroy(g);
    kiln_cuda_handles_release(&hd);
    free(x), free(wt), free(b), free(res), free(y);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dr), cudaFree(dy), cudaFree(ws);
}

/* Pooling with 16-byte vectors against the building block's kernel (same semantics). */
static void pool_vec(kiln_rng *r, kiln_dtype t, int is_max) {
    int n = 2, h = 13, w = 11, c = 64;
    kiln_cuda_pool2d p = {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 0};
    int oh = kiln_cuda_pool_out_dim(h, 3, 2, 1, 1, 1, 1), ow = kiln_cuda_pool_out_dim(w, 3, 2, 1, 1, 1, 1);
    int64_t in = (int64_t)n * h * w * c, out = (int64_t)n * oh * ow * c;
    float *x = cuda_test_random(r, t, in, -3, 3);
    void *dx = cuda_test_upload_as(t, x, in), *d1 = cuda_test_poisoned((size_t)out * kiln_dtype_size(t)),
         *d2 = cuda_test_poisoned((size_t)out * kiln_dtype_size(t));
    kiln_cuda_nhwc xv = kiln_cuda_nhwc_make(dx, t, n, h, w, c), y1 = kiln_cuda_nhwc_make(d1, t, n, oh, ow, c),
                   y2 = kiln_cuda_nhwc_make(d2, t, n, oh, ow, c);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_pool2d_vec(&xv, &y1, &p, is_max, 0, &e), &e);
    CHECK_KILN(is_max ? kiln_cuda_maxpool2d(&xv, &y2, &p, 0, &e) : kiln_cuda_avgpool2d(&xv, &y2, &p, 0, &e), &e);
    float *a = malloc(sizeof(float) * (size_t)out), *bb = malloc(sizeof(float) * (size_t)out);
    cuda_test_download_as(t, d1, a, out);
    cuda_test_download_as(t, d2, bb, out);
    double rel = test_rel_l2(a, bb, out);
    CHECK(rel <= 1e-6, "pool_vec %s %s: rel %.3g vs the scalar kernel", cuda_test_dtype(t), is_max ? "max" : "avg", rel);
    free(x), free(a), free(bb);
    cudaFree(dx), cudaFree(d1), cudaFree(d2);
}

/* Space-to-depth input reformat against its definition. */
static void s2d(kiln_rng *r, kiln_dtype t) {
    int n = 2, c = 3, h = 10, w = 14, oc = 16;
    int64_t in = (int64_t)n * c * h * w, out = (int64_t)n * (h / 2) * (w / 2) * oc;
    float *x = cuda_test_random(r, KILN_F32, in, -1, 1);
    void *dx = cuda_test_upload(x, sizeof(float) * (size_t)in), *dy = cuda_test_poisoned((size_t)out * kiln_dtype_size(t));
    kiln_cuda_nhwc yv = kiln_cuda_nhwc_make(dy, t, n, h / 2, w / 2, oc);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_nchw_to_s2d(dx, n, c, h, w, &yv, 0, &e), &e);
    float *y = malloc(sizeof(float) * (size_t)out);
    cuda_test_download_as(t, dy, y, out);
    int bad = 0;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < h / 2; i++)
            for (int j = 0; j < w / 2; j++)
                for (int k = 0; k < oc; k++) {
                    float want = 0;
                    if (k < 4 * c) {
                        int q = k / c, ch = k % c;
                        want = cuda_test_round(t, x[(((int64_t)b * c + ch) * h + 2 * i + q / 2) * w + 2 * j + q % 2]);
                    }
                    if (y[(((int64_t)b * (h / 2) + i) * (w / 2) + j) * oc + k] != want) bad++;
                }
    CHECK(bad == 0, "s2d %s: %d wrong elements", cuda_test_dtype(t), bad);
    free(x), free(y);
    cudaFree(dx), cudaFree(dy);
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
    for (int i = 0; i < 3; i++) {
        bias_act_vec(&r, types[i], 2, 5, 7, 64, 64, 0, 1, 1, KILN_ACT_RELU);
        bias_act_vec(&r, types[i], 3, 4, 3, 32, 96, 32, 0, 1, KILN_ACT_CLIP);
        bias_act_vec(&r, types[i], 1, 3, 3, 16, 48, 16, 0, 0, KILN_ACT_NONE);
        pool_vec(&r, types[i], 1);
        pool_vec(&r, types[i], 0);
        s2d(&r, types[i]);
    }
    conv_as_gemm(&r, KILN_F32, KILN_PREC_FP32, 2, 7, 5, 64, 96, 64, 96, KILN_ACT_RELU);
    conv_as_gemm(&r, KILN_F32, KILN_PREC_TF32, 3, 4, 4, 32, 48, 64, 64, KILN_ACT_NONE);
    conv_as_gemm(&r, KILN_F16, KILN_PREC_FP16, 4, 9, 9, 64, 256, 64, 512, KILN_ACT_RELU);
    conv_as_gemm(&r, KILN_BF16, KILN_PREC_BF16, 2, 8, 8, 128, 64, 256, 64, KILN_ACT_RELU);
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
