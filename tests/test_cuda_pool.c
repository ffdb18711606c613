/* test_cuda_pool.c — max / average / global pooling (NHWC, every ONNX attribute) against a
 * double-precision reference on fresh random data, with poisoned outputs. */
#include "backend/cuda/cuda_pool.h"
#include "cuda_test.h"

typedef struct {
    int k[2], s[2], d[2], pb[2], pe[2], ceil, include_pad;
} pool_case;

static const pool_case cases[] = {
    {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 0, 0}, /* ResNet stem max pool */
    {{2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, 0, 0},
    {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0, 1}, /* GoogLeNet / Inception branch */
    {{3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, 1, 0}, /* ceil_mode (GoogLeNet max pools) */
    {{3, 2}, {2, 3}, {2, 1}, {1, 0}, {2, 1}, 1, 1}, /* asymmetric pads, dilation, ceil */
    {{5, 5}, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, 0},
};

/* Reference pooling of x (n,h,w,c dense floats) into ref (n,oh,ow,c). */
static void reference(const float *x, int n, int h, int w, int c, const pool_case *p, int oh, int ow,
                      int is_max, float *ref) {
    for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int ch = 0; ch < c; ch++) {
                    double acc = is_max ? -INFINITY : 0;
                    int count = 0;
                    for (int a = 0; a < p->k[0]; a++)
                        for (int bb = 0; bb < p->k[1]; bb++) {
                            int ih = i * p->s[0] - p->pb[0] + a * p->d[0];
                            int iw = j * p->s[1] - p->pb[1] + bb * p->d[1];
                            int inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
                            int in_pad = ih >= -p->pb[0] && ih < h + p->pe[0] && iw >= -p->pb[1] &&
                                         iw < w + p->pe[1];
                            if (inside) {
                                double v = x[(((int64_t)b * h + ih) * w + iw) * c + ch];
                                acc = is_max ? (v > acc ? v : acc) : acc + v;
                            }
                            count += p->include_pad ? in_pad : inside;
                        }
                    if (!is_max) acc = count ? acc / count : 0;
                    ref[(((int64_t)b * oh + i) * ow + j) * c + ch] = (float)acc;
                }
}

static void run_case(kiln_rng *r, kiln_dtype t, const pool_case *p, int is_max) {
    int n = 1 + (int)(kiln_rng_next(r) % 3), h = 6 + (int)(kiln_rng_next(r) % 30),
        w = 6 + (int)(kiln_rng_next(r) % 30), c = 1 + (int)(kiln_rng_next(r) % 70);
    int oh = kiln_cuda_pool_out_dim(h, p->k[0], p->s[0], p->d[0], p->pb[0], p->pe[0], p->ceil);
    int ow = kiln_cuda_pool_out_dim(w, p->k[1], p->s[1], p->d[1], p->pb[1], p->pe[1], p->ceil);
    int64_t nx = (int64_t)n * h * w * c, ny = (int64_t)n * oh * ow * c;
    float *x = cuda_test_random(r, t, nx, -3, 3), *ref = malloc((size_t)ny * sizeof *ref),
          *y = malloc((size_t)ny * sizeof *y);
    reference(x, n, h, w, c, p, oh, ow, is_max, ref);
    void *dx = cuda_test_upload_as(t, x, nx), *dy = cuda_test_poisoned((size_t)ny * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, oh, ow, c);
    kiln_cuda_pool2d pp = {{p->k[0], p->k[1]}, {p->s[0], p->s[1]}, {p->d[0], p->d[1]},
                           {p->pb[0], p->pb[1]}, {p->pe[0], p->pe[1]}, p->include_pad};
    kiln_err e = {0};
    if (is_max) CHECK_KILN(kiln_cuda_maxpool2d(&vx, &vy, &pp, 0, &e), &e);
    else CHECK_KILN(kiln_cuda_avgpool2d(&vx, &vy, &pp, 0, &e), &e);
    cuda_test_download_as(t, dy, y, ny);
    double err = test_rel_l2(y, ref, ny), tol = cuda_test_tol(t);
    CHECK(err <= tol, "%s %s k%dx%d s%d,%d d%d,%d pads %d,%d/%d,%d ceil %d incl %d on %dx%dx%dx%d: rel L2 %g",
          is_max ? "maxpool" : "avgpool", cuda_test_dtype(t), p->k[0], p->k[1], p->s[0], p->s[1], p->d[0],
          p->d[1], p->pb[0], p->pb[1], p->pe[0], p->pe[1], p->ceil, p->include_pad, n, h, w, c, err);
    free(x), free(ref), free(y);
    cudaFree(dx), cudaFree(dy);
}

static void run_global(kiln_rng *r, kiln_dtype t, int is_max, int n, int h, int w, int c) {
    int64_t nx = (int64_t)n * h * w * c, ny = (int64_t)n * c;
    float *x = cuda_test_random(r, t, nx, -3, 3), *ref = malloc((size_t)ny * sizeof *ref),
          *y = malloc((size_t)ny * sizeof *y);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            double acc = is_max ? -INFINITY : 0;
            for (int q = 0; q < h * w; q++) {
                double v = x[((int64_t)b * h * w + q) * c + ch];
                acc = is_max ? (v > acc ? v : acc) : acc + v;
            }
            ref[(int64_t)b * c + ch] = (float)(is_max ? acc : acc / (h * w));
        }
    void *dx = cuda_test_upload_as(t, x, nx), *dy = cuda_test_poisoned((size_t)ny * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, 1, 1, c);
    kiln_err e = {0};
    if (is_max) CHECK_KILN(kiln_cuda_global_maxpool(&vx, &vy, 0, &e), &e);
    else CHECK_KILN(kiln_cuda_global_avgpool(&vx, &vy, 0, &e), &e);
    cuda_test_download_as(t, dy, y, ny);
    double err = test_rel_l2(y, ref, ny);
    CHECK(err <= cuda_test_tol(t), "global %s %s %dx%dx%dx%d: rel L2 %g", is_max ? "max" : "avg",
          cuda_test_dtype(t), n, h, w, c, err);
    free(x), free(ref), free(y);
    cudaFree(dx), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};
    for (int ti = 0; ti < 3; ti++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            run_case(&r, types[ti], &cases[i], 1);
            run_case(&r, types[ti], &cases[i], 0);
        }
        run_global(&r, types[ti], 0, 3, 7, 7, 2048); /* ResNet-50 head */
        run_global(&r, types[ti], 1, 2, 13, 11, 45);
        run_global(&r, types[ti], 0, 1, 56, 56, 64);
    }
    /* ceil_mode output sizes as ONNX gives them. */
    CHECK(kiln_cuda_pool_out_dim(112, 3, 2, 1, 1, 1, 0) == 56, "resnet maxpool 56");
    CHECK(kiln_cuda_pool_out_dim(112, 3, 2, 1, 0, 0, 1) == 56, "googlenet ceil 56");
    CHECK(kiln_cuda_pool_out_dim(5, 2, 2, 1, 1, 1, 1) == 3, "last window in the end padding dropped");
    CHECK(kiln_cuda_pool_out_dim(6, 3, 2, 1, 1, 1, 1) == 4, "last window starting inside kept");
    CHECK(kiln_cuda_pool_out_dim(5, 2, 2, 1, 0, 0, 1) == 3, "ceil 5/2");
    return test_done();
}
