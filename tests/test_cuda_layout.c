/* test_cuda_layout.c — NCHW FP32 -> NHWC (f32/f16/bf16, padded channels, channel slices) and
 * back, against a host reference: values must match exactly (the conversion rounds like
 * kiln_f32_to_f16 / bf16), padding must be zero, and channels outside the slice untouched. */
#include "backend/cuda/cuda_layout.h"
#include "cuda_test.h"

static const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};

/* in: NCHW c channels; out buffer: pitch channels per pixel, view at [off, off + cout). */
static void check_to_nhwc(kiln_rng *r, kiln_dtype t, int n, int c, int h, int w, int cout, int pitch,
                          int off) {
    int64_t nin = (int64_t)n * c * h * w, npix = (int64_t)n * h * w, nout = npix * pitch;
    float *x = cuda_test_random(r, KILN_F32, nin, -4, 4);
    float *dx = cuda_test_upload(x, (size_t)nin * sizeof(float));
    size_t es = kiln_dtype_size(t);
    void *dy = cuda_test_poisoned((size_t)nout * es);
    kiln_cuda_nhwc v = kiln_cuda_nhwc_make(dy, t, n, h, w, cout);
    v.c_pitch = pitch;
    v.c_offset = off;
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_nchw_to_nhwc(dx, n, c, h, w, &v, 0, &e), &e);
    uint16_t *raw = malloc((size_t)nout * es);
    float *y = malloc((size_t)nout * sizeof *y), *ref = malloc((size_t)npix * cout * sizeof *ref),
          *got = malloc((size_t)npix * cout * sizeof *got);
    cuda_test_download(raw, dy, (size_t)nout * es);
    cuda_test_unpack(t, raw, y, nout);
    int64_t bad_outside = 0;
    for (int64_t p = 0; p < npix; p++) {
        int64_t b = p / ((int64_t)h * w), q = p % ((int64_t)h * w);
        for (int k = 0; k < pitch; k++) {
            float v2 = y[p * pitch + k];
            if (k < off || k >= off + cout) {
                bad_outside += !isnan(v2); /* poison must survive outside the slice */
                continue;
            }
            int ch = k - off;
            ref[p * cout + ch] = ch < c ? cuda_test_round(t, x[(b * c + ch) * h * w + q]) : 0.f;
            got[p * cout + ch] = v2;
        }
    }
    double err = test_rel_l2(got, ref, npix * cout);
    CHECK(err == 0, "to_nhwc %s n%d c%d %dx%d -> %d (pitch %d, offset %d): rel L2 %g", cuda_test_dtype(t),
          n, c, h, w, cout, pitch, off, err);
    CHECK(bad_outside == 0, "to_nhwc wrote %lld elements outside its slice", (long long)bad_outside);
    free(x), free(raw), free(y), free(ref), free(got);
    cudaFree(dx), cudaFree(dy);
}

static void check_to_nchw(kiln_rng *r, kiln_dtype t, int n, int c, int h, int w, int pitch, int off) {
    int64_t npix = (int64_t)n * h * w, nbuf = npix * pitch, nout = npix * c;
    float *x = cuda_test_random(r, t, nbuf, -4, 4);
    void *dx = cuda_test_upload_as(t, x, nbuf);
    float *dy = cuda_test_poisoned((size_t)nout * sizeof(float));
    kiln_cuda_nhwc v = kiln_cuda_nhwc_make(dx, t, n, h, w, c);
    v.c_pitch = pitch;
    v.c_offset = off;
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_nhwc_to_nchw(&v, dy, 0, &e), &e);
    float *y = malloc((size_t)nout * sizeof *y), *ref = malloc((size_t)nout * sizeof *ref);
    cuda_test_download(y, dy, (size_t)nout * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int q = 0; q < h * w; q++)
                ref[((int64_t)b * c + ch) * h * w + q] = x[((int64_t)b * h * w + q) * pitch + off + ch];
    double err = test_rel_l2(y, ref, nout);
    CHECK(err == 0, "to_nchw %s n%d c%d %dx%d (pitch %d, offset %d): rel L2 %g", cuda_test_dtype(t), n, c,
          h, w, pitch, off, err);
    free(x), free(y), free(ref);
    cudaFree(dx), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    for (int i = 0; i < 3; i++) {
        kiln_dtype t = types[i];
        int pad = t == KILN_F32 ? 4 : 8; /* 16-byte pixels for the stem */
        int n = 1 + (int)(kiln_rng_next(&r) % 3), h = 5 + (int)(kiln_rng_next(&r) % 40),
            w = 5 + (int)(kiln_rng_next(&r) % 40);
        check_to_nhwc(&r, t, n, 3, h, w, pad, pad, 0);              /* the network input */
        check_to_nhwc(&r, t, 2, 3, 224, 224, pad, pad, 0);          /* full size */
        check_to_nhwc(&r, t, n, 37, h, w, 40, 48, 8);               /* tiled path, slice */
        check_to_nhwc(&r, t, n, 16, 3, 3, 16, 16, 0);               /* small path, no padding */
        check_to_nchw(&r, t, n, 1000, 1, 1, 1000, 0);               /* classifier output */
        check_to_nchw(&r, t, n, 37, h, w, 64, 16);                  /* a slice */
        check_to_nchw(&r, t, n, 64, 7, 7, 64, 0);
    }
    /* The network input at batch 256, FP16 padded to 8 channels: bytes read + written once. */
    {
        int n = 256, h = 224, w = 224;
        size_t in_bytes = (size_t)n * 3 * h * w * 4, out_bytes = (size_t)n * 8 * h * w * 2;
        float *dx = cuda_test_poisoned(in_bytes);
        void *dy = cuda_test_poisoned(out_bytes);
        CUDA_CHECK_RT(cudaMemset(dx, 0x3f, in_bytes)); /* ~0.75, not zeros */
        kiln_cuda_nhwc v = kiln_cuda_nhwc_make(dy, KILN_F16, n, h, w, 8);
        kiln_err e = {0};
        cudaEvent_t a, b;
        cudaEventCreate(&a), cudaEventCreate(&b);
        CHECK_KILN(kiln_cuda_nchw_to_nhwc(dx, n, 3, h, w, &v, 0, &e), &e);
        cudaEventRecord(a, 0);
        for (int i = 0; i < 10; i++) kiln_cuda_nchw_to_nhwc(dx, n, 3, h, w, &v, 0, &e);
        cudaEventRecord(b, 0);
        cudaEventSynchronize(b);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        ms /= 10;
        printf("input reformat 256x3x224x224 f32 -> NHWC8 f16: %.3f ms, %.0f GB/s\n", ms,
               (double)(in_bytes + out_bytes) / (ms * 1e6));
        cudaEventDestroy(a), cudaEventDestroy(b);
        cudaFree(dx), cudaFree(dy);
    }

    /* Bad arguments give errors, not crashes. */
    kiln_err e = {0};
    kiln_cuda_nhwc v = kiln_cuda_nhwc_make(NULL, KILN_I8, 1, 2, 2, 4);
    CHECK(kiln_cuda_nchw_to_nhwc(NULL, 1, 3, 2, 2, &v, 0, &e) == KILN_ERR_DTYPE, "int8 view rejected");
    v.dtype = KILN_F16;
    v.data = &e; /* never dereferenced: the shape check fails first */
    CHECK(kiln_cuda_nchw_to_nhwc(NULL, 1, 5, 2, 2, &v, 0, &e) == KILN_ERR_SHAPE, "5 channels into 4");
    return test_done();
}
