/* test_cuda_eltwise.c — binary ops with broadcasting, every activation (against kiln_act_apply in
 * double), dtype conversion through the activation kernel, the bias+residual+activation epilogue,
 * all on channel slices too; fresh random data, poisoned outputs. */
#include "backend/cuda/cuda_eltwise.h"
#include "cuda_test.h"

static const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16};

/* The activation in double, following kiln_act_apply's definitions. */
static double act_ref(const kiln_act *a, double x) {
    if (!a) return x; /* no activation */
    switch (a->type) {
    case KILN_ACT_RELU: return x > 0 ? x : 0;
    case KILN_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case KILN_ACT_LEAKY_RELU: return x < 0 ? a->alpha * x : x;
    case KILN_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KILN_ACT_HARD_SIGMOID: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : (v > 1 ? 1 : v);
    }
    case KILN_ACT_HARD_SWISH: {
        double v = x / 6 + 0.5;
        return x * (v < 0 ? 0 : (v > 1 ? 1 : v));
    }
    case KILN_ACT_SILU: return x / (1 + exp(-x));
    case KILN_ACT_TANH: return tanh(x);
    default: return x;
    }
}

static const kiln_act acts[] = {
    {KILN_ACT_NONE, 0, 0},        {KILN_ACT_RELU, 0, 0},        {KILN_ACT_CLIP, 0, 6},
    {KILN_ACT_CLIP, -1.5f, 0.5f}, {KILN_ACT_LEAKY_RELU, 0.1f, 0}, {KILN_ACT_SIGMOID, 0, 0},
    {KILN_ACT_HARD_SIGMOID, 0.2f, 0.5f}, {KILN_ACT_HARD_SWISH, 0, 0}, {KILN_ACT_SILU, 0, 0},
    {KILN_ACT_TANH, 0, 0},
};
#define NACTS (int)(sizeof acts / sizeof acts[0])

/* A tensor of extent (n,h,w,c) stored in a buffer of `pitch` channels at `off`. */
typedef struct {
    int n, h, w, c, pitch, off;
} shape;

static int64_t buf_len(const shape *s) { return (int64_t)s->n * s->h * s->w * s->pitch; }

static int64_t at(const shape *s, int b, int i, int j, int k) {
    int b2 = s->n == 1 ? 0 : b, i2 = s->h == 1 ? 0 : i, j2 = s->w == 1 ? 0 : j, k2 = s->c == 1 ? 0 : k;
    return (((int64_t)b2 * s->h + i2) * s->w + j2) * s->pitch + s->off + k2;
}

static kiln_cuda_nhwc view_of(void *d, kiln_dtype t, const shape *s) {
    kiln_cuda_nhwc v = kiln_cuda_nhwc_make(d, t, s->n, s->h, s->w, s->c);
    v.c_pitch = s->pitch;
    v.c_offset = s->off;
    return v;
}

/* Compare y's slice with ref (dense over y's extent); poison outside the slice must remain. */
static double compare_slice(const float *ybuf, const shape *ys, const float *ref, int64_t *outside) {
    int64_t n = (int64_t)ys->n * ys->h * ys->w * ys->c, m = 0;
    float *got = malloc((size_t)n * sizeof *got);
    *outside = 0;
    for (int64_t p = 0; p < (int64_t)ys->n * ys->h * ys->w; p++)
        for (int k = 0; k < ys->pitch; k++) {
            float v = ybuf[p * ys->pitch + k];
            if (k >= ys->off && k < ys->off + ys->c) got[m++] = v;
            else *outside += !isnan(v);
        }
    double err = test_rel_l2(got, ref, n);
    free(got);
    return err;
}

static void check_binary(kiln_rng *r, kiln_dtype t, kiln_cuda_binop op, shape as, shape bs, shape ys,
                         const kiln_act *act) {
    float *a = cuda_test_random(r, t, buf_len(&as), -2, 2);
    float *b = cuda_test_random(r, t, buf_len(&bs), 0.5f, 2); /* away from 0 for Div */
    for (int64_t i = 0; i < buf_len(&bs); i += 2) b[i] = -b[i];
    int64_t ny = (int64_t)ys.n * ys.h * ys.w * ys.c;
    float *ref = malloc((size_t)ny * sizeof *ref), *y = malloc((size_t)buf_len(&ys) * sizeof *y);
    int64_t m = 0;
    for (int i0 = 0; i0 < ys.n; i0++)
        for (int i1 = 0; i1 < ys.h; i1++)
            for (int i2 = 0; i2 < ys.w; i2++)
                for (int i3 = 0; i3 < ys.c; i3++) {
                    double u = a[at(&as, i0, i1, i2, i3)], v = b[at(&bs, i0, i1, i2, i3)];
                    double z = op == KILN_CUDA_ADD ? u + v : op == KILN_CUDA_SUB ? u - v
                             : op == KILN_CUDA_MUL ? u * v : u / v;
                    ref[m++] = (float)act_ref(act, z);
                }
    void *da = cuda_test_upload_as(t, a, buf_len(&as)), *db = cuda_test_upload_as(t, b, buf_len(&bs));
    void *dy = cuda_test_poisoned((size_t)buf_len(&ys) * kiln_dtype_size(t));
    kiln_cuda_nhwc va = view_of(da, t, &as), vb = view_of(db, t, &bs), vy = view_of(dy, t, &ys);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_binary(op, &va, &vb, &vy, act, 0, &e), &e);
    cuda_test_download_as(t, dy, y, buf_len(&ys));
    int64_t outside;
    double err = compare_slice(y, &ys, ref, &outside);
    CHECK(err <= cuda_test_tol(t), "binary op %d %s a %dx%dx%dx%d b %dx%dx%dx%d act %d: rel L2 %g", op,
          cuda_test_dtype(t), as.n, as.h, as.w, as.c, bs.n, bs.h, bs.w, bs.c, act ? act->type : 0, err);
    CHECK(outside == 0, "binary wrote %lld elements outside y's slice", (long long)outside);
    free(a), free(b), free(ref), free(y);
    cudaFree(da), cudaFree(db), cudaFree(dy);
}

static void check_activation(kiln_rng *r, kiln_dtype ti, kiln_dtype to, const kiln_act *act) {
    shape xs = {2, 5, 7, 19, 19, 0}, ys = {2, 5, 7, 19, 32, 8};
    float *x = cuda_test_random(r, ti, buf_len(&xs), -8, 8);
    int64_t ny = (int64_t)ys.n * ys.h * ys.w * ys.c;
    float *ref = malloc((size_t)ny * sizeof *ref), *y = malloc((size_t)buf_len(&ys) * sizeof *y);
    for (int64_t i = 0; i < ny; i++) ref[i] = (float)act_ref(act, x[i]);
    void *dx = cuda_test_upload_as(ti, x, buf_len(&xs));
    void *dy = cuda_test_poisoned((size_t)buf_len(&ys) * kiln_dtype_size(to));
    kiln_cuda_nhwc vx = view_of(dx, ti, &xs), vy = view_of(dy, to, &ys);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_activation(&vx, &vy, act, 0, &e), &e);
    cuda_test_download_as(to, dy, y, buf_len(&ys));
    int64_t outside;
    double err = compare_slice(y, &ys, ref, &outside);
    double tol = (ti == KILN_F32 && to == KILN_F32) ? 1e-5 : 2e-2;
    CHECK(err <= tol, "activation %d (%g, %g) %s -> %s: rel L2 %g", act->type, (double)act->alpha,
          (double)act->beta, cuda_test_dtype(ti), cuda_test_dtype(to), err);
    CHECK(outside == 0, "activation wrote outside its slice");
    free(x), free(ref), free(y);
    cudaFree(dx), cudaFree(dy);
}

static void check_bias_act(kiln_rng *r, kiln_dtype t, int with_bias, int with_res, const kiln_act *act) {
    shape s = {3, 6, 5, 24, 24, 0};
    int64_t n = buf_len(&s);
    float *x = cuda_test_random(r, t, n, -3, 3), *res = cuda_test_random(r, t, n, -3, 3),
          *bias = cuda_test_random(r, t, s.c, -1, 1);
    float *ref = malloc((size_t)n * sizeof *ref), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i] + (with_bias ? bias[i % s.c] : 0) + (with_res ? res[i] : 0);
        ref[i] = (float)act_ref(act, v);
    }
    void *dx = cuda_test_upload_as(t, x, n), *dr = cuda_test_upload_as(t, res, n),
         *db = cuda_test_upload_as(t, bias, s.c), *dy = cuda_test_poisoned((size_t)n * kiln_dtype_size(t));
    kiln_cuda_nhwc vx = view_of(dx, t, &s), vr = view_of(dr, t, &s), vy = view_of(dy, t, &s);
    kiln_err e = {0};
    CHECK_KILN(kiln_cuda_bias_act(&vx, with_bias ? db : NULL, with_res ? &vr : NULL, &vy, act, 0, &e), &e);
    cuda_test_download_as(t, dy, y, n);
    double err = test_rel_l2(y, ref, n);
    CHECK(err <= cuda_test_tol(t), "bias_act %s bias %d residual %d act %d: rel L2 %g", cuda_test_dtype(t),
          with_bias, with_res, act->type, err);
    free(x), free(res), free(bias), free(ref), free(y);
    cudaFree(dx), cudaFree(dr), cudaFree(db), cudaFree(dy);
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    for (int ti = 0; ti < 3; ti++) {
        kiln_dtype t = types[ti];
        shape full = {2, 9, 11, 40, 40, 0};
        shape chan = {1, 1, 1, 40, 40, 0};          /* per-channel vector */
        shape se = {2, 1, 1, 40, 40, 0};            /* squeeze-excitation scale */
        shape scalar = {1, 1, 1, 1, 1, 0};
        shape spatial = {2, 9, 11, 1, 1, 0};        /* one value per pixel */
        shape slice_in = {2, 9, 11, 40, 64, 16};    /* a channel slice of a concat buffer */
        shape slice_out = {2, 9, 11, 40, 72, 24};
        for (int op = KILN_CUDA_ADD; op <= KILN_CUDA_DIV; op++) {
            check_binary(&r, t, op, full, full, full, NULL);
            check_binary(&r, t, op, full, chan, full, &acts[1]);
            check_binary(&r, t, op, se, full, full, NULL);
            check_binary(&r, t, op, full, scalar, full, &acts[2]);
            check_binary(&r, t, op, spatial, chan, full, NULL);
            check_binary(&r, t, op, slice_in, full, slice_out, &acts[4]);
        }
        for (int a = 0; a < NACTS; a++) check_activation(&r, t, t, &acts[a]);
        check_activation(&r, KILN_F32, t, &acts[0]); /* conversion into a slice */
        check_activation(&r, t, KILN_F32, &acts[1]);
        for (int wb = 0; wb < 2; wb++)
            for (int wr = 0; wr < 2; wr++) check_bias_act(&r, t, wb, wr, &acts[(2 * wb + wr) % NACTS]);
        check_bias_act(&r, t, 1, 1, &acts[2]); /* ReLU6 */
    }
    kiln_err e = {0};
    kiln_cuda_nhwc a = kiln_cuda_nhwc_make(&e, KILN_F32, 1, 2, 2, 3), b = kiln_cuda_nhwc_make(&e, KILN_F32, 1, 2, 2, 2);
    CHECK(kiln_cuda_binary(KILN_CUDA_ADD, &a, &b, &a, NULL, 0, &e) == KILN_ERR_SHAPE, "2 channels do not broadcast to 3");
    b.dtype = KILN_F16;
    b.c = b.c_pitch = 3;
    CHECK(kiln_cuda_binary(KILN_CUDA_ADD, &a, &b, &a, NULL, 0, &e) == KILN_ERR_DTYPE, "mixed types rejected");
    return test_done();
}
