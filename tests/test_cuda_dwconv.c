/* test_cuda_dwconv.c — the own depthwise convolution (3x3, 5x5 unrolled, other sizes generic;
 * stride 1/2; dilation; fused bias + activation; vector and scalar paths; output slices) against a
 * double reference, f32/f16/bf16, fresh random data, poisoned outputs. */
#include "backend/cuda/cuda_conv.h"
#include "backend/cuda/cuda_dwconv.h"
#include "cuda_test.h"

typedef struct {
    int k, stride, dil, pad, c, h, w, out_pitch, out_off;
    kiln_act act;
    int bias;
} dw_case;

static const dw_case cases[] = {
    {3, 1, 1, 1, 32, 14, 14, 32, 0, {KILN_ACT_CLIP, 0, 6}, 1},   /* MobileNetV2 */
    {3, 2, 1, 1, 96, 15, 15, 96, 0, {KILN_ACT_CLIP, 0, 6}, 1},
    {5, 1, 1, 2, 40, 9, 11, 40, 0, {KILN_ACT_RELU, 0, 0}, 1},    /* EfficientNet-style 5x5 */
    {5, 2, 1, 2, 48, 17, 16, 64, 8, {KILN_ACT_SILU, 0, 0}, 1},   /* into a slice */
    {3, 1, 2, 2, 24, 12, 12, 24, 0, {KILN_ACT_NONE, 0, 0}, 0},   /* dilation, no bias */
    {7, 1, 1, 3, 16, 10, 10, 16, 0, {KILN_ACT_HARD_SWISH, 0, 0}, 1}, /* generic size */
    {3, 2, 1, 1, 13, 11, 9, 13, 0, {KILN_ACT_RELU, 0, 0}, 1},    /* odd channels: scalar path */
};

static void run_case(kiln_rng *r, kiln_dtype t, const dw_case *cs) {
    int n = 2, c = cs->c, h = cs->h, w = cs->w, k = cs->k;
    int oh = (h + 2 * cs->pad - cs->dil * (k - 1) - 1) / cs->stride + 1;
    int ow = (w + 2 * cs->pad - cs->dil * (k - 1) - 1) / cs->stride + 1;
    int64_t nx = (int64_t)n * h * w * c, ny = (int64_t)n * oh * ow * c, nbuf = (int64_t)n * oh * ow * cs->out_pitch;
    float *x = cuda_test_random(r, t, nx, -2, 2);
    float *wt = cuda_test_random(r, t, (int64_t)c * k * k, -1, 1); /* ONNX [c][1][k][k] */
    float *bias = cuda_test_random(r, t, c, -1, 1);
    float *whwc = malloc((size_t)c * k * k * sizeof *whwc);
    kiln_cuda_dwconv_pack_weights(wt, c, k, k, whwc);
    float *ref = malloc((size_t)ny * sizeof *ref), *y = malloc((size_t)nbuf * sizeof *y),
          *got = malloc((size_t)ny * sizeof *got);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int ch = 0; ch < c; ch++) {
                    double acc = cs->bias ? bias[ch] : 0;
                    for (int a = 0; a < k; a++)
                        for (int bb = 0; bb < k; bb++) {
                            int ih = i * cs->stride - cs->pad + a * cs->dil, iw = j * cs->stride - cs->pad + bb * cs->dil;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                            acc += (double)x[(((int64_t)b * h + ih) * w + iw) * c + ch] * wt[((int64_t)ch * k + a) * k + bb];
                        }
                    ref[(((int64_t)b * oh + i) * ow + j) * c + ch] = kiln_act_apply(&cs->act, (float)acc);
                }
    void *dx = cuda_test_upload_as(t, x, nx), *dw = cuda_test_upload_as(t, whwc, (int64_t)c * k * k),
         *db = cuda_test_upload_as(t, bias, c), *dy = cuda_test_poisoned((size_t)nbuf * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, oh, ow, c);
    vy.c_pitch = cs->out_pitch;
    vy.c_offset = cs->out_off;
    kiln_cuda_dwconv p = {{k, k}, {cs->stride, cs->stride}, {cs->dil, cs->dil}, {cs->pad, cs->pad}, cs->act};
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_dwconv_run(&vx, dw, cs->bias ? db : NULL, &vy, &p, 0, &e), &e);
    cuda_test_download_as(t, dy, y, nbuf);
    int64_t outside = 0, m = 0;
    for (int64_t q = 0; q < (int64_t)n * oh * ow; q++)
        for (int ch = 0; ch < cs->out_pitch; ch++) {
            float v = y[q * cs->out_pitch + ch];
            if (ch >= cs->out_off && ch < cs->out_off + c) got[m++] = v;
            else outside += !isnan(v);
        }
    double err = test_rel_l2(got, ref, ny);
    CHECK(err <= cuda_test_tol(t), "dwconv %s k%d s%d d%d c%d %dx%d act %d: rel L2 %g", cuda_test_dtype(t), k,
          cs->stride, cs->dil, c, h, w, cs->act.type, err);
    CHECK(outside == 0, "dwconv wrote outside its slice");
    free(x), free(wt), free(bias), free(whwc), free(ref), free(y), free(got);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};
    for (int ti = 0; ti < 3; ti++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&r, types[ti], &cases[i]);

    /* The builder's choice for a MobileNetV2 depthwise layer (batch 64, 56x56x144, 3x3 s1, bias,
       ReLU6, FP16): this kernel against cuDNN's fused grouped convolution (fastest of its top 4).
       Bytes moved at least once: input + output. */
    kiln_dtype t = KILN_F16;
    int n = 64, h = 56, w = 56, c = 144;
    size_t bytes = (size_t)n * h * w * c * 2;
    void *dx = cuda_test_poisoned(bytes), *dy = cuda_test_poisoned(bytes), *dw = cuda_test_poisoned(9 * c * 2),
         *db = cuda_test_poisoned(c * 2);
    CUDA_CHECK_RT(cudaMemset(dx, 0x3c, bytes)); /* 1.0-ish halves, not zeros */
    CUDA_CHECK_RT(cudaMemset(dw, 0x30, 9 * c * 2));
    CUDA_CHECK_RT(cudaMemset(db, 0x30, c * 2));
    kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, n, h, w, c), vy = kiln_cuda_nhwc_make(dy, t, n, h, w, c);
    kiln_cuda_dwconv p = {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {KILN_ACT_CLIP, 0, 6}};
    kiln_err e = {0};
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int i = 0; i < 3; i++) kiln_cuda_dwconv_run(&vx, dw, db, &vy, &p, 0, &e);
    cudaEventRecord(a, 0);
    for (int i = 0; i < 20; i++) CHECK_KILN(kiln_cuda_dwconv_run(&vx, dw, db, &vy, &p, 0, &e), &e);
    cudaEventRecord(b, 0);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    ms /= 20;
    printf("dwconv f16 64x56x56x144 3x3 (own kernel): %.4f ms, %.0f GB/s (in+out)\n", ms, 2.0 * bytes / (ms * 1e6));
    cudaEventDestroy(a), cudaEventDestroy(b);

    kiln_cuda_handles hd;
    if (kiln_cuda_handles_init(&hd, 0, &e) == KILN_OK) {
        kiln_cuda_conv_desc d = {0};
        d.n = n, d.h = h, d.w = w, d.c = c, d.k = c, d.r = 3, d.s = 3, d.groups = c;
        d.stride[0] = d.stride[1] = d.dilation[0] = d.dilation[1] = 1;
        d.pad_begin[0] = d.pad_begin[1] = d.pad_end[0] = d.pad_end[1] = 1;
        d.dtype = t, d.precision = KILN_PREC_FP16, d.has_bias = 1, d.act = p.act;
        kiln_cuda_conv_graph *g = NULL;
        int count = 0;
        float best = 1e30f;
        char best_name[96] = "none";
        if (kiln_cuda_conv_graph_create(&hd, &d, &g, &e) == KILN_OK &&
            kiln_cuda_conv_graph_candidates(g, 4, &count, &e) == KILN_OK) {
            for (int i = 0; i < count; i++) {
                kiln_cuda_conv_plan *plan = NULL;
                if (kiln_cuda_conv_plan_create(g, i, &plan, &e) != KILN_OK) continue;
                void *ws = NULL;
                size_t wsb = kiln_cuda_conv_plan_workspace(plan);
                if (wsb) cudaMalloc(&ws, wsb);
                kiln_cuda_conv_args args = {dx, dw, db, NULL, dy, ws};
                float cms = 0;
                if (kiln_cuda_conv_plan_time(&hd, plan, &args, 0, 3, 20, &cms, &e) == KILN_OK && cms < best) {
                    best = cms;
                    kiln_cuda_conv_graph_candidate_name(g, i, best_name, sizeof best_name);
                }
                cudaFree(ws);
                kiln_cuda_conv_plan_destroy(plan);
            }
        }
        if (count == 0) printf("cuDNN depthwise: no candidate (%s)\n", e.msg);
        else printf("dwconv f16 64x56x56x144 3x3 (cuDNN, %s): %.4f ms, %.0f GB/s\n", best_name, best,
                    2.0 * bytes / (best * 1e6));
        kiln_cuda_conv_graph_destroy(g);
        kiln_cuda_handles_release(&hd);
    }
    cudaFree(dx), cudaFree(dy), cudaFree(dw), cudaFree(db);
    return test_done();
}
