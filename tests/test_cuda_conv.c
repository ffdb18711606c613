/* test_cuda_conv.c — fused convolution layers through cuDNN's graph API (conv + bias [+ residual]
 * + activation) for FP32 (no TF32), TF32, FP16 and BF16 at the shapes CNNs use: 1x1, 3x3 stride 2,
 * the 7x7 stem on channel-padded input, grouped, depthwise, channel slices in and out (concat
 * without copies), asymmetric padding. Each against a double-precision CPU reference on the same
 * (rounded) inputs: relative L2 <= 1e-4 (FP32), 5e-3 (TF32), 2e-2 (FP16/BF16).
 *
 * When cuDNN offers no engine for the fused graph, the test runs the layer the way the builder
 * would then (convolution alone + kiln_cuda_bias_act) and says so; the summary line counts both. */
#include <stdio.h>

#include "backend/cuda/cuda_conv.h"
#include "backend/cuda/cuda_eltwise.h"
#include "cuda_test.h"

typedef struct {
    const char *name;
    int n, h, w, c, c_real, k, r, s, stride, dil, groups;
    int pad_begin[2], pad_end[2];
    int bias, residual;
    kiln_act act;
    int x_pitch, x_off, y_pitch, y_off; /* 0 pitch: dense */
} conv_case;

static const conv_case cases[] = {
    {"1x1", 2, 14, 14, 64, 64, 32, 1, 1, 1, 1, 1, {0, 0}, {0, 0}, 1, 0, {KILN_ACT_RELU, 0, 0}, 0, 0, 0, 0},
    {"3x3s2+res", 2, 15, 15, 32, 32, 64, 3, 3, 2, 1, 1, {1, 1}, {1, 1}, 1, 1, {KILN_ACT_RELU, 0, 0}, 0, 0, 0, 0},
    {"stem7x7", 2, 32, 32, 0, 3, 64, 7, 7, 2, 1, 1, {3, 3}, {3, 3}, 1, 0, {KILN_ACT_RELU, 0, 0}, 0, 0, 0, 0},
    {"grouped", 2, 10, 10, 32, 32, 64, 3, 3, 1, 1, 4, {1, 1}, {1, 1}, 1, 1, {KILN_ACT_LEAKY_RELU, 0.1f, 0}, 0, 0, 0, 0},
    {"depthwise", 2, 12, 12, 32, 32, 32, 3, 3, 1, 1, 32, {1, 1}, {1, 1}, 1, 0, {KILN_ACT_CLIP, 0, 6}, 0, 0, 0, 0},
    {"slices", 2, 9, 9, 48, 48, 32, 1, 1, 1, 1, 1, {0, 0}, {0, 0}, 1, 0, {KILN_ACT_SILU, 0, 0}, 64, 16, 64, 16},
    {"5x5-asym", 1, 11, 13, 16, 16, 24, 5, 5, 1, 1, 1, {2, 1}, {1, 2}, 1, 0, {KILN_ACT_TANH, 0, 0}, 0, 0, 0, 0},
    {"3x3-dil2", 2, 12, 12, 16, 16, 16, 3, 3, 1, 2, 1, {2, 2}, {2, 2}, 0, 1, {KILN_ACT_SIGMOID, 0, 0}, 0, 0, 0, 0},
};

static int fused_ok, fallback_used, dense_used, total_runs;

static double act_ref(const kiln_act *a, double x) {
    switch (a->type) {
    case KILN_ACT_RELU: return x > 0 ? x : 0;
    case KILN_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case KILN_ACT_LEAKY_RELU: return x < 0 ? a->alpha * x : x;
    case KILN_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KILN_ACT_SILU: return x / (1 + exp(-x));
    case KILN_ACT_TANH: return tanh(x);
    default: return x;
    }
}

static double tol_of(kiln_precision p) {
    return p == KILN_PREC_FP32 ? 1e-4 : p == KILN_PREC_TF32 ? 5e-3 : 2e-2;
}

/* Plan a desc: the first candidate that finalizes. Prints the engine and the compile time. */
static kiln_status make_plan(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d, kiln_cuda_conv_plan **plan,
                             char *engine, size_t n, double *compile_s, kiln_err *e) {
    kiln_cuda_conv_graph *g = NULL;
    KILN_TRY(kiln_cuda_conv_graph_create(h, d, &g, e));
    int count = 0;
    kiln_status st = kiln_cuda_conv_graph_candidates(g, 4, &count, e);
    for (int i = 0; st == KILN_OK && i < count; i++) {
        double t0 = cuda_test_now();
        st = kiln_cuda_conv_plan_create(g, i, plan, e);
        *compile_s = cuda_test_now() - t0;
        if (st == KILN_OK) {
            kiln_cuda_conv_graph_candidate_name(g, i, engine, n);
            break;
        }
        printf("    candidate %d refused: %s\n", i, e->msg);
        if (i + 1 < count) st = KILN_OK;
    }
    kiln_cuda_conv_graph_destroy(g); /* the plan keeps what it needs */
    /* No candidate finalized: to the builder that is "cuDNN cannot run this graph". */
    if (st != KILN_OK && count > 0) st = KILN_ERR_UNSUPPORTED;
    return st;
}

/* The fused graph; when cuDNN has no engine for it, the convolution alone (the caller then runs
   kiln_cuda_bias_act: the builder's plan B). */
static kiln_status plan_chain(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d, kiln_cuda_conv_plan **plan,
                              int *unfused, char *engine, size_t n, double *compile_s, kiln_err *e) {
    *unfused = 0;
    kiln_status st = make_plan(h, d, plan, engine, n, compile_s, e);
    if (st != KILN_ERR_UNSUPPORTED || (!d->has_bias && !d->has_residual && d->act.type == KILN_ACT_NONE))
        return st;
    printf("    fused graph unsupported (%s); trying the convolution alone\n", e->msg);
    kiln_cuda_conv_desc d2 = *d;
    d2.has_bias = d2.has_residual = 0;
    d2.act.type = KILN_ACT_NONE;
    *unfused = 1;
    return make_plan(h, &d2, plan, engine, n, compile_s, e);
}

static void run_case(kiln_cuda_handles *h, kiln_rng *r, const conv_case *cs, kiln_precision prec) {
    kiln_dtype t = prec == KILN_PREC_FP16 ? KILN_F16 : prec == KILN_PREC_BF16 ? KILN_BF16 : KILN_F32;
    int c = cs->c ? cs->c : (t == KILN_F32 ? 4 : 8); /* the stem pads 3 channels to 16 bytes */
    kiln_cuda_conv_desc d = {0};
    d.n = cs->n, d.h = cs->h, d.w = cs->w, d.c = c, d.k = cs->k, d.r = cs->r, d.s = cs->s;
    d.stride[0] = d.stride[1] = cs->stride;
    d.dilation[0] = d.dilation[1] = cs->dil;
    d.pad_begin[0] = cs->pad_begin[0], d.pad_begin[1] = cs->pad_begin[1];
    d.pad_end[0] = cs->pad_end[0], d.pad_end[1] = cs->pad_end[1];
    d.groups = cs->groups, d.dtype = t, d.precision = prec;
    d.has_bias = cs->bias, d.has_residual = cs->residual, d.act = cs->act;
    d.x_pitch = cs->x_pitch, d.y_pitch = cs->y_pitch;
    int oh, ow;
    kiln_cuda_conv_out_dims(&d, &oh, &ow);
    int xp = cs->x_pitch ? cs->x_pitch : c, yp = cs->y_pitch ? cs->y_pitch : cs->k, cg = c / cs->groups,
        kg = cs->k / cs->groups;
    int64_t nxb = (int64_t)cs->n * cs->h * cs->w * xp, nw = (int64_t)cs->k * cs->r * cs->s * cg,
            nyb = (int64_t)cs->n * oh * ow * yp, ny = (int64_t)cs->n * oh * ow * cs->k;

    float *x = cuda_test_random(r, t, nxb, -1, 1), *w = cuda_test_random(r, t, nw, -0.5f, 0.5f),
          *bias = cuda_test_random(r, t, cs->k, -0.5f, 0.5f), *res = cuda_test_random(r, t, nyb, -1, 1);
    /* Padded input channels are zeros, as the reformat kernel writes them. */
    for (int64_t p = 0; p < (int64_t)cs->n * cs->h * cs->w; p++)
        for (int ch = cs->c_real; ch < c; ch++) x[p * xp + cs->x_off + ch] = 0;
    float *ref = malloc((size_t)ny * sizeof *ref), *y = malloc((size_t)nyb * sizeof *y),
          *got = malloc((size_t)ny * sizeof *got);
    for (int b = 0; b < cs->n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int ko = 0; ko < cs->k; ko++) {
                    int g = ko / kg;
                    double acc = 0;
                    for (int a = 0; a < cs->r; a++)
                        for (int bb = 0; bb < cs->s; bb++) {
                            int ih = i * cs->stride - cs->pad_begin[0] + a * cs->dil;
                            int iw = j * cs->stride - cs->pad_begin[1] + bb * cs->dil;
                            if (ih < 0 || ih >= cs->h || iw < 0 || iw >= cs->w) continue;
                            const float *xp0 = x + (((int64_t)b * cs->h + ih) * cs->w + iw) * xp + cs->x_off + g * cg;
                            const float *wp = w + (((int64_t)ko * cs->r + a) * cs->s + bb) * cg;
                            for (int q = 0; q < cg; q++) acc += (double)xp0[q] * wp[q];
                        }
                    int64_t pix = ((int64_t)b * oh + i) * ow + j;
                    if (cs->bias) acc += bias[ko];
                    if (cs->residual) acc += res[pix * yp + cs->y_off + ko];
                    ref[pix * cs->k + ko] = (float)act_ref(&cs->act, acc);
                }

    size_t es = kiln_dtype_size(t);
    char *dx = cuda_test_upload_as(t, x, nxb), *dw = cuda_test_upload_as(t, w, nw),
         *db = cuda_test_upload_as(t, bias, cs->k), *dr = cuda_test_upload_as(t, res, nyb),
         *dy = cuda_test_poisoned((size_t)nyb * es);
    kiln_cuda_conv_args args = {dx + (size_t)cs->x_off * es, dw, db, dr + (size_t)cs->y_off * es,
                                dy + (size_t)cs->y_off * es, NULL};
    kiln_err e = {0};
    kiln_cuda_conv_plan *plan = NULL;
    char engine[96] = "";
    double compile_s = 0;
    int unfused = 0, dense = 0;
    kiln_status st = plan_chain(h, &d, &plan, &unfused, engine, sizeof engine, &compile_s, &e);
    if (st == KILN_ERR_UNSUPPORTED && (d.x_pitch || d.y_pitch)) {
        /* Plan C for channel slices: dense buffers plus copies (what concat costs without it). */
        printf("    %s %s: no engine for channel-slice strides (%s); running dense + copies\n", cs->name,
               kiln_cuda_precision_name(prec), e.msg);
        kiln_cuda_conv_desc dd = d;
        dd.x_pitch = dd.y_pitch = 0;
        st = plan_chain(h, &dd, &plan, &unfused, engine, sizeof engine, &compile_s, &e);
        dense = 1;
    }
    CHECK(st == KILN_OK, "%s %s: no plan: %s", cs->name, kiln_cuda_precision_name(prec), e.msg);
    total_runs++;
    if (st == KILN_OK) {
        void *ws = NULL;
        size_t wsb = kiln_cuda_conv_plan_workspace(plan);
        if (wsb) CUDA_CHECK_RT(cudaMalloc(&ws, wsb));
        args.workspace = ws;
        /* Views of the slices (x, residual, y) and, for plan C, dense copies. */
        kiln_cuda_nhwc vx = kiln_cuda_nhwc_make(dx, t, cs->n, cs->h, cs->w, c);
        vx.c_pitch = xp, vx.c_offset = cs->x_off;
        kiln_cuda_nhwc vy = kiln_cuda_nhwc_make(dy, t, cs->n, oh, ow, cs->k), vr = vy;
        vy.c_pitch = vr.c_pitch = yp;
        vy.c_offset = vr.c_offset = cs->y_off;
        vr.data = dr;
        void *xd = NULL, *rd = NULL, *yd = NULL;
        kiln_cuda_conv_args run = args;
        if (dense) {
            xd = cuda_test_poisoned((size_t)cs->n * cs->h * cs->w * c * es);
            rd = cuda_test_poisoned((size_t)ny * es);
            yd = cuda_test_poisoned((size_t)ny * es);
            kiln_cuda_nhwc vxd = kiln_cuda_nhwc_make(xd, t, cs->n, cs->h, cs->w, c),
                           vrd = kiln_cuda_nhwc_make(rd, t, cs->n, oh, ow, cs->k);
            CHECK_KILN(kiln_cuda_activation(&vx, &vxd, NULL, 0, &e), &e);
            CHECK_KILN(kiln_cuda_activation(&vr, &vrd, NULL, 0, &e), &e);
            run.x = xd, run.residual = rd, run.y = yd;
        }
        CHECK_KILN(kiln_cuda_conv_plan_execute(h, plan, &run, 0, &e), &e);
        kiln_cuda_nhwc vyr = vy, vrr = vr;
        if (dense) {
            vyr = kiln_cuda_nhwc_make(yd, t, cs->n, oh, ow, cs->k);
            vrr = kiln_cuda_nhwc_make(rd, t, cs->n, oh, ow, cs->k);
        }
        if (unfused)
            CHECK_KILN(kiln_cuda_bias_act(&vyr, cs->bias ? db : NULL, cs->residual ? &vrr : NULL, &vyr, &cs->act, 0, &e), &e);
        if (dense) CHECK_KILN(kiln_cuda_activation(&vyr, &vy, NULL, 0, &e), &e);
        cuda_test_download_as(t, dy, y, nyb);
        int64_t outside = 0, m = 0;
        for (int64_t p = 0; p < (int64_t)cs->n * oh * ow; p++)
            for (int ch = 0; ch < yp; ch++) {
                float v = y[p * yp + ch];
                if (ch >= cs->y_off && ch < cs->y_off + cs->k) got[m++] = v;
                else outside += !isnan(v);
            }
        double err = test_rel_l2(got, ref, ny);
        float ms = 0;
        CHECK_KILN(kiln_cuda_conv_plan_time(h, plan, &run, 0, 2, 10, &ms, &e), &e);
        printf("  %-10s %-4s %s%s: %s, compile %.2f s, workspace %zu, %.4f ms, rel L2 %.2e\n", cs->name,
               kiln_cuda_precision_name(prec), unfused ? "UNFUSED" : "fused", dense ? " DENSE+COPIES" : "",
               engine, compile_s, wsb, ms, err);
        CHECK(err <= tol_of(prec), "%s %s: rel L2 %g > %g", cs->name, kiln_cuda_precision_name(prec), err,
              tol_of(prec));
        CHECK(outside == 0, "%s: %lld elements written outside y's slice", cs->name, (long long)outside);
        if (unfused) fallback_used++;
        else fused_ok += err <= tol_of(prec);
        dense_used += dense;
        kiln_cuda_conv_plan_destroy(plan);
        cudaFree(ws), cudaFree(xd), cudaFree(rd), cudaFree(yd);
    }
    free(x), free(w), free(bias), free(res), free(ref), free(y), free(got);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dr), cudaFree(dy);
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
    printf("summary: %d layer runs, %d fused and accurate, %d through the unfused fallback, %d on dense copies "
           "instead of channel slices\n", total_runs, fused_ok, fallback_used, dense_used);

    /* Descriptors cuDNN's graph cannot express are refused before touching the device. */
    kiln_cuda_conv_desc d = {1, 8, 8, 16, 16, 3, 3, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, KILN_F16,
                             KILN_PREC_FP16, 1, 0, {KILN_ACT_HARD_SWISH, 0, 0}, 0, 0};
    CHECK(kiln_cuda_conv_check(&d, &e) == KILN_ERR_UNSUPPORTED, "hard swish is not a cuDNN pointwise mode");
    d.act.type = KILN_ACT_RELU;
    d.precision = KILN_PREC_FP32;
    CHECK(kiln_cuda_conv_check(&d, &e) == KILN_ERR_UNSUPPORTED, "f16 storage with fp32 precision");
    d.precision = KILN_PREC_FP16;
    d.groups = 3;
    CHECK(kiln_cuda_conv_check(&d, &e) == KILN_ERR_INVALID_ARG, "16 channels in 3 groups");
    kiln_cuda_handles_release(&h);
    return test_done();
}
