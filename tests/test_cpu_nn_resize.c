/* Resize against a double-precision port of ONNX's reference implementation (neighbors chosen
 * by sorting on distance, edge padding, the reference's coefficient functions incl. antialias)
 * over random shapes, scales and sizes, every mode / coordinate transform / nearest mode,
 * exclude_outside, tf_crop_and_resize extrapolation, opset 18 axes and keep_aspect_ratio_policy,
 * the opset-10 (X, scales) form and Upsample-7's scales attribute; plus fixed outputs from ONNX's
 * backend tests and PyTorch. 1 and 3 threads. */
#include "cpu_nn_testutil.h"

static kiln_rng rng;

/* ---- the reference, one axis at a time ------------------------------------------------------- */

typedef struct ref_taps {
    int n;           /* 0: extrapolate */
    int64_t idx[64]; /* clamped input indices */
    double w[64];
} ref_taps;

static double cubic_k(double x, double A) {
    x = fabs(x);
    if (x <= 1) return (A + 2) * x * x * x - (A + 3) * x * x + 1;
    if (x < 2) return A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0;
}

/* coefficient functions of onnx/reference/ops/op_resize.py */
static int ref_coeffs(const kiln_resize_attr *a, double ratio, double scale, double *c) {
    if (a->mode == KILN_RESIZE_NEAREST) {
        int right;
        if (ratio == 1.0) right = 1;
        else if (a->nearest_mode == KILN_NEAREST_ROUND_PREFER_FLOOR) right = ratio > 0.5;
        else if (a->nearest_mode == KILN_NEAREST_ROUND_PREFER_CEIL) right = ratio >= 0.5;
        else if (a->nearest_mode == KILN_NEAREST_FLOOR) right = 0;
        else right = 1;
        c[0] = !right, c[1] = right;
        return 2;
    }
    double A = a->cubic_coeff_a;
    if (!a->antialias) {
        if (a->mode == KILN_RESIZE_LINEAR) {
            c[0] = 1 - ratio, c[1] = ratio;
            return 2;
        }
        c[0] = ((A * (ratio + 1) - 5 * A) * (ratio + 1) + 8 * A) * (ratio + 1) - 4 * A;
        c[1] = ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1;
        c[2] = ((A + 2) * (1 - ratio) - (A + 3)) * (1 - ratio) * (1 - ratio) + 1;
        c[3] = ((A * ((1 - ratio) + 1) - 5 * A) * ((1 - ratio) + 1) + 8 * A) * ((1 - ratio) + 1) - 4 * A;
        return 4;
    }
    double s = scale < 1 ? scale : 1, sum = 0;
    int n;
    if (a->mode == KILN_RESIZE_LINEAR) {
        int start = (int)floor(-1 / s) + 1;
        n = 2 - 2 * start;
        for (int i = 0; i < n; i++) {
            double u = fabs((start + i - ratio) * s);
            c[i] = u < 1 ? 1 - u : 0;
        }
    } else {
        int start = (int)floor(-2 / s) + 1;
        n = 2 - 2 * start;
        for (int i = 0; i < n; i++) c[i] = cubic_k(s * (start + i - ratio), A);
    }
    for (int i = 0; i < n; i++) sum += c[i];
    for (int i = 0; i < n; i++) c[i] /= sum;
    return n;
}

/* The reference's 1-D interpolation at output coordinate o of one axis. */
static void ref_axis(const kiln_resize_attr *a, int64_t in, int64_t out, double scale, double rs, double re, int64_t o,
                     ref_taps *t) {
    double x = (double)o, xo;
    switch (a->coord) {
    case KILN_CT_ALIGN_CORNERS: xo = out == 1 ? 0 : x * (in - 1) / (double)(out - 1); break;
    case KILN_CT_ASYMMETRIC: xo = x / scale; break;
    case KILN_CT_TF_HALF_PIXEL_FOR_NN: xo = (x + 0.5) / scale; break;
    case KILN_CT_TF_CROP_AND_RESIZE:
        xo = out == 1 ? (re - rs) * (in - 1) / 2 : x * (re - rs) * (in - 1) / (double)(out - 1);
        xo += rs * (in - 1);
        if (xo < 0 || xo > in - 1) {
            t->n = 0;
            return;
        }
        break;
    case KILN_CT_PYTORCH_HALF_PIXEL: xo = out == 1 ? 0 : (x + 0.5) / scale - 0.5; break; /* spec: 0 */
    case KILN_CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out / (scale * in), center = in / 2.0;
        xo = center * (1 - adj) + (x + 0.5) / scale - 0.5;
        break;
    }
    default: xo = (x + 0.5) / scale - 0.5;
    }
    double ratio = xo == floor(xo) ? 1.0 : xo - floor(xo);
    double c[64];
    int n = ref_coeffs(a, ratio, scale, c);
    /* get_neighbor: the n indices of the edge-padded array nearest to xo, ties to the smaller.
       The Python reference shifts x by the pad width before searching, which can round away
       x's last bits (2.0000000000000004 + 2 == 4.0) and pick the window one sample early; the
       search here runs in unshifted coordinates, as the operator's definition intends. */
    int64_t pad = (n + 1) / 2, limit = in + 2 * pad, chosen[64];
    double xp = xo;
    int nc = 0;
    for (int64_t cand = -pad; cand < limit - pad; cand++) {
        /* insert cand into the sorted-by-(distance, index) list of the best n */
        double dc = fabs(xp - (double)cand);
        int pos = nc;
        while (pos > 0 && fabs(xp - (double)chosen[pos - 1]) > dc) pos--;
        if (pos >= n) continue;
        for (int k = (nc < n ? nc : n - 1); k > pos; k--) chosen[k] = chosen[k - 1];
        chosen[pos] = cand;
        if (nc < n) nc++;
    }
    for (int i = 0; i < nc; i++) /* ascending */
        for (int j = i + 1; j < nc; j++)
            if (chosen[j] < chosen[i]) {
                int64_t tmp = chosen[i];
                chosen[i] = chosen[j], chosen[j] = tmp;
            }
    if (a->exclude_outside) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int64_t idx = chosen[i];
            if (idx < 0 || idx >= in) c[i] = 0;
            sum += c[i];
        }
        for (int i = 0; i < n; i++) c[i] /= sum;
    }
    t->n = n;
    for (int i = 0; i < n; i++) {
        int64_t idx = chosen[i];
        t->idx[i] = idx < 0 ? 0 : (idx >= in ? in - 1 : idx);
        t->w[i] = c[i];
    }
}

/* Full reference over a rank-r tensor: per-axis taps, then the sum over their product. */
static void ref_resize(const kiln_resize_attr *a, int r, const int64_t *in, const int64_t *out, const double *scale,
                       const double *rs, const double *re, const float *x, double *y) {
    ref_taps *taps[KILN_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        taps[d] = malloc(sizeof(ref_taps) * (size_t)out[d]);
        for (int64_t o = 0; o < out[d]; o++) ref_axis(a, in[d], out[d], scale[d], rs[d], re[d], o, &taps[d][o]);
    }
    int64_t total = 1;
    for (int d = 0; d < r; d++) total *= out[d];
    for (int64_t e = 0; e < total; e++) {
        int64_t co[KILN_MAX_DIMS], rem = e;
        for (int d = r - 1; d >= 0; d--) co[d] = rem % out[d], rem /= out[d];
        int outside = 0;
        for (int d = 0; d < r; d++) outside |= taps[d][co[d]].n == 0;
        if (outside) {
            y[e] = a->extrapolation_value;
            continue;
        }
        /* odometer over the taps of every axis */
        int ti[KILN_MAX_DIMS] = {0};
        double s = 0;
        for (;;) {
            double w = 1;
            int64_t off = 0;
            for (int d = 0; d < r; d++) {
                const ref_taps *t = &taps[d][co[d]];
                w *= t->w[ti[d]];
                off = off * in[d] + t->idx[ti[d]];
            }
            s += w * x[off];
            int d = r - 1;
            while (d >= 0 && ++ti[d] == taps[d][co[d]].n) ti[d--] = 0;
            if (d < 0) break;
        }
        y[e] = s;
    }
    for (int d = 0; d < r; d++) free(taps[d]);
}

/* ---- cases --------------------------------------------------------------------------------- */

typedef struct rcase {
    int opset;
    kiln_resize_attr a;     /* mode etc.; nscales/scales for Upsample-7 */
    kiln_shape x;
    int use_sizes, naxes;
    int64_t axes[KILN_MAX_DIMS];
    float scales[KILN_MAX_DIMS];
    int64_t sizes[KILN_MAX_DIMS];
    float roi[2 * KILN_MAX_DIMS];
    const float *xdata;     /* NULL: random */
} rcase;

static void init_case(rcase *c, int opset) {
    memset(c, 0, sizeof *c);
    c->opset = opset;
    kiln_attr a;
    kiln_attr_default(KILN_OP_RESIZE, opset, &a);
    c->a = a.resize;
}

/* Run one case; y gets the kernel's output (caller frees). Returns the output shape. */
static kiln_shape run_case(kiln_cpu *cpu, const rcase *c, float **xs, float **y, kiln_err *e, kiln_status *st) {
    int n_given = c->naxes ? c->naxes : c->x.ndim;
    nn_node t;
    int form10 = c->opset < 11;
    nn_node_init(&t, KILN_OP_RESIZE, c->opset, c->a.nscales ? 1 : form10 ? 2 : 4, 1);
    kiln_attr_default(KILN_OP_RESIZE, c->opset, &t.n.a);
    t.n.a.resize = c->a;
    t.n.a.resize.naxes = c->naxes;
    for (int i = 0; i < c->naxes; i++) t.n.a.resize.axes[i] = c->axes[i];
    kiln_view in[4] = {{KILN_F32, c->x, NULL}, nn_absent(), nn_absent(), nn_absent()};
    int64_t nx = kiln_shape_numel(&c->x);
    *xs = malloc(sizeof(float) * (size_t)nx);
    if (c->xdata) memcpy(*xs, c->xdata, sizeof(float) * (size_t)nx);
    else test_fill_uniform(&rng, *xs, nx, -1, 1);
    in[0].data = *xs;
    kiln_view sc = {KILN_F32, NN_SHAPE(n_given), (void *)c->scales};
    kiln_view sz = {KILN_I64, NN_SHAPE(n_given), (void *)c->sizes};
    kiln_view roi = {KILN_F32, NN_SHAPE(2 * n_given), (void *)c->roi};
    if (!c->a.nscales) {
        if (form10) in[1] = sc;
        else {
            if (c->a.coord == KILN_CT_TF_CROP_AND_RESIZE) in[1] = roi;
            if (c->use_sizes) in[3] = sz;
            else in[2] = sc;
        }
    }
    kiln_view out[1];
    *st = nn_run(cpu, &t, in, out, e);
    *y = out[0].data;
    return out[0].shape;
}

static void check_case(kiln_cpu *cpu, const rcase *c, const float *want, int n_want) {
    float *x, *y;
    kiln_err e;
    kiln_status st;
    kiln_shape os = run_case(cpu, c, &x, &y, &e, &st);
    CHECK(st == KILN_OK, "resize: %s", e.msg);
    if (st != KILN_OK) {
        free(x), free(y);
        return;
    }
    /* Expected sizes and scales, as the reference derives them. */
    int r = c->x.ndim, n_given = c->naxes ? c->naxes : r;
    int64_t in[KILN_MAX_DIMS], out[KILN_MAX_DIMS];
    double scale[KILN_MAX_DIMS], rs[KILN_MAX_DIMS], re[KILN_MAX_DIMS];
    for (int d = 0; d < r; d++) in[d] = out[d] = c->x.d[d], scale[d] = 1, rs[d] = 0, re[d] = 1;
    int ax[KILN_MAX_DIMS];
    for (int i = 0; i < n_given; i++) ax[i] = c->naxes ? (int)(c->axes[i] < 0 ? c->axes[i] + r : c->axes[i]) : i;
    for (int i = 0; i < n_given; i++) {
        rs[ax[i]] = c->roi[i], re[ax[i]] = c->roi[n_given + i];
        if (c->use_sizes) out[ax[i]] = c->sizes[i], scale[ax[i]] = (double)c->sizes[i] / (double)in[ax[i]];
        else {
            double s = c->a.nscales ? c->a.scales[i] : c->scales[i];
            scale[ax[i]] = s, out[ax[i]] = (int64_t)floor(s * (double)in[ax[i]]);
        }
    }
    if (c->use_sizes && c->a.keep_aspect_ratio_policy) {
        double s = scale[ax[0]];
        for (int i = 1; i < n_given; i++)
            s = c->a.keep_aspect_ratio_policy == 1 ? fmin(s, scale[ax[i]]) : fmax(s, scale[ax[i]]);
        for (int i = 0; i < n_given; i++) scale[ax[i]] = s, out[ax[i]] = (int64_t)(s * (double)in[ax[i]] + 0.5);
    }
    kiln_shape want_s = nn_shape(r, out);
    char b1[64], b2[64];
    CHECK(kiln_shape_eq(&os, &want_s), "resize output %s, expected %s", kiln_shape_str(&os, b1, sizeof b1),
          kiln_shape_str(&want_s, b2, sizeof b2));
    if (kiln_shape_eq(&os, &want_s)) {
        int64_t total = kiln_shape_numel(&os);
        double *ref = malloc(sizeof(double) * (size_t)(total + 1));
        ref_resize(&c->a, r, in, out, scale, rs, re, x, ref);
        double l2 = nn_rel_l2(y, ref, total);
        CHECK(l2 <= 1e-5, "resize mode %d coord %d nearest %d aa %d excl %d %s -> %s: rel L2 %g", c->a.mode, c->a.coord,
              c->a.nearest_mode, c->a.antialias, c->a.exclude_outside, kiln_shape_str(&c->x, b1, sizeof b1),
              kiln_shape_str(&os, b2, sizeof b2), l2);
        if (want) {
            CHECK(total >= n_want, "resize anchor: %lld values, expected %d", (long long)total, n_want);
            double worst = 0;
            for (int i = 0; i < n_want && i < total; i++) worst = fmax(worst, fabs((double)y[i] - want[i]));
            CHECK(worst <= 2e-5 * (1 + fabs(want[0])), "resize anchor (mode %d coord %d): max error %g", c->a.mode,
                  c->a.coord, worst);
        }
        free(ref);
    }
    free(x), free(y);
}

static void test_random(kiln_cpu *cpu) {
    static const float scale_choices[] = {0.5f, 0.6f, 0.75f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 0.34f};
    for (int it = 0; it < 150; it++) {
        rcase c;
        init_case(&c, it % 10 == 0 ? 10 : (it % 3 ? 18 : 13));
        int r = (int)nn_randint(&rng, 3, 4);
        c.x.ndim = r;
        c.x.d[0] = nn_randint(&rng, 1, 2);
        c.x.d[1] = nn_randint(&rng, 1, 2);
        for (int d = 2; d < r; d++) c.x.d[d] = nn_randint(&rng, 1, 6);
        c.a.mode = (int)(it % 3);
        if (c.opset >= 11) {
            c.a.coord = (int)nn_randint(&rng, 0, 6);
            if (c.a.coord == KILN_CT_TF_HALF_PIXEL_FOR_NN && c.a.mode != KILN_RESIZE_NEAREST) c.a.coord = 0;
            c.a.nearest_mode = (int)nn_randint(&rng, 0, 3);
            c.a.cubic_coeff_a = kiln_rng_uniform(&rng) < 0.5 ? -0.75f : -0.5f;
            c.a.exclude_outside = c.a.mode != KILN_RESIZE_NEAREST && kiln_rng_uniform(&rng) < 0.3;
            c.a.extrapolation_value = (float)(kiln_rng_uniform(&rng) * 4 - 2);
            c.use_sizes = kiln_rng_uniform(&rng) < 0.4;
        }
        if (c.opset >= 18) {
            c.a.antialias = c.a.mode != KILN_RESIZE_NEAREST && kiln_rng_uniform(&rng) < 0.4;
            if (kiln_rng_uniform(&rng) < 0.5) { /* the spatial axes only, in some order */
                c.naxes = r - 2;
                for (int i = 0; i < c.naxes; i++) c.axes[i] = i + 2 - (kiln_rng_uniform(&rng) < 0.5 ? r : 0);
                if (c.naxes == 2 && kiln_rng_uniform(&rng) < 0.5) {
                    int64_t t = c.axes[0];
                    c.axes[0] = c.axes[1], c.axes[1] = t;
                }
            }
            if (c.use_sizes && c.naxes >= 1) c.a.keep_aspect_ratio_policy = (int)nn_randint(&rng, 0, 2);
        }
        int n_given = c.naxes ? c.naxes : r;
        for (int i = 0; i < n_given; i++) {
            int d = c.naxes ? (int)(c.axes[i] < 0 ? c.axes[i] + r : c.axes[i]) : i;
            int spatial = d >= 2;
            c.scales[i] = spatial ? scale_choices[nn_randint(&rng, 0, 8)] : 1.0f;
            c.sizes[i] = spatial ? nn_randint(&rng, 1, 9) : c.x.d[d];
            c.roi[i] = spatial ? (float)(kiln_rng_uniform(&rng) * 0.6 - 0.2) : 0.0f;
            c.roi[n_given + i] = spatial ? (float)(kiln_rng_uniform(&rng) * 0.6 + 0.6) : 1.0f;
        }
        check_case(cpu, &c, NULL, 0);
    }
    /* Upsample-7: scales as an attribute (nearest and linear, asymmetric). */
    for (int mode = 0; mode < 2; mode++) {
        rcase c;
        init_case(&c, 7);
        c.a.mode = mode;
        c.x = NN_SHAPE(1, 2, 3, 4);
        c.a.nscales = 4;
        c.a.scales[0] = c.a.scales[1] = 1, c.a.scales[2] = 2, c.a.scales[3] = 3;
        c.roi[4] = c.roi[5] = c.roi[6] = c.roi[7] = 1;
        check_case(cpu, &c, NULL, 0);
    }
}

/* Outputs published by ONNX's backend tests and PyTorch. */
static void test_anchors(kiln_cpu *cpu) {
    static const float d2[] = {1, 2, 3, 4}, d4[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    float d6[36];
    for (int i = 0; i < 36; i++) d6[i] = (float)(i + 1);
    rcase c;
#define BASE(op, xs, data)                                                                                       \
    init_case(&c, op);                                                                                           \
    c.x = xs;                                                                                                    \
    c.xdata = data;                                                                                              \
    c.roi[4] = c.roi[5] = c.roi[6] = c.roi[7] = 1;
#define SCALES(a, b, cc, d) c.scales[0] = a, c.scales[1] = b, c.scales[2] = cc, c.scales[3] = d;
#define SIZES(a, b, cc, d) c.use_sizes = 1, c.sizes[0] = a, c.sizes[1] = b, c.sizes[2] = cc, c.sizes[3] = d;
    {
        BASE(13, NN_SHAPE(1, 1, 2, 2), d2) SCALES(1, 1, 2, 3)
        static const float w[] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
        check_case(cpu, &c, w, 24);
    }
    {
        BASE(13, NN_SHAPE(1, 1, 2, 4), d4) SCALES(1, 1, 0.6f, 0.6f)
        static const float w[] = {1, 3};
        check_case(cpu, &c, w, 2);
    }
    {
        BASE(13, NN_SHAPE(1, 1, 2, 2), d2) SCALES(1, 1, 2, 2) c.a.mode = KILN_RESIZE_LINEAR;
        static const float w[] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
        check_case(cpu, &c, w, 16);
        c.a.coord = KILN_CT_ALIGN_CORNERS;
        static const float w2[] = {1, 4 / 3.f, 5 / 3.f, 2, 5 / 3.f, 2, 7 / 3.f, 8 / 3.f, 7 / 3.f, 8 / 3.f, 3, 10 / 3.f, 3, 10 / 3.f, 11 / 3.f, 4};
        check_case(cpu, &c, w2, 16);
    }
    {
        BASE(13, NN_SHAPE(1, 1, 4, 4), d4) SCALES(1, 1, 0.8f, 0.8f) c.a.mode = KILN_RESIZE_CUBIC;
        c.a.cubic_coeff_a = -0.5f, c.a.exclude_outside = 1;
        static const float w[] = {1.36812675f, 2.6695013f, 4.01333666f, 6.57362556f, 7.875f,
                                  9.21883487f, 11.94896698f, 13.25034142f, 14.59417629f};
        check_case(cpu, &c, w, 9);
    }
    {
        BASE(13, NN_SHAPE(1, 1, 4, 4), d4) SIZES(1, 1, 8, 8) c.a.nearest_mode = KILN_NEAREST_CEIL;
        check_case(cpu, &c, (const float[]){1, 2, 2, 3, 3, 4, 4, 4}, 8); /* first row */
    }
    {
        BASE(13, NN_SHAPE(1, 1, 4, 4), d4) SIZES(1, 1, 3, 3) c.a.mode = KILN_RESIZE_LINEAR;
        c.a.coord = KILN_CT_TF_CROP_AND_RESIZE;
        float roi[8] = {0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f};
        memcpy(c.roi, roi, sizeof roi);
        static const float w[] = {7.6f, 7.9f, 8.2f, 8.8f, 9.1f, 9.4f, 10, 10.3f, 10.6f};
        check_case(cpu, &c, w, 9);
        float roi2[8] = {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f};
        memcpy(c.roi, roi2, sizeof roi2);
        c.a.extrapolation_value = 10;
        static const float w2[] = {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10};
        check_case(cpu, &c, w2, 9);
    }
    {
        BASE(13, NN_SHAPE(1, 1, 4, 4), d4) SIZES(1, 1, 3, 1) c.a.mode = KILN_RESIZE_LINEAR;
        c.a.coord = KILN_CT_PYTORCH_HALF_PIXEL;
        check_case(cpu, &c, (const float[]){1.6666666f, 7, 12.333333f}, 3);
    }
    {
        /* PyTorch bicubic (A = -0.75, align_corners=False) is ONNX cubic with half_pixel. */
        BASE(13, NN_SHAPE(1, 1, 6, 6), d6) SIZES(1, 1, 4, 3) c.a.mode = KILN_RESIZE_CUBIC;
        static const float w[] = {2.5546875f, 4.6484375f, 6.7421875f, 11.625f, 13.71875f, 15.8125f,
                                  21.1875f, 23.28125f, 25.375f, 30.2578125f, 32.3515625f, 34.4453125f};
        check_case(cpu, &c, w, 12);
    }
    {
        /* ONNX's test_resize_downsample_sizes_linear_antialias (PyTorch's antialias differs). */
        BASE(18, NN_SHAPE(1, 1, 4, 4), d4) SIZES(1, 1, 3, 3) c.a.mode = KILN_RESIZE_LINEAR;
        c.a.antialias = 1;
        static const float w[] = {2.3636363f, 3.590909f, 4.818182f, 7.2727275f, 8.5f,
                                  9.727273f, 12.181818f, 13.409091f, 14.636364f};
        check_case(cpu, &c, w, 9);
    }
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    int threads[] = {1, 3};
    for (int ti = 0; ti < 2; ti++) {
        kiln_cpu *cpu = kiln_cpu_create(threads[ti]);
        test_random(cpu);
        test_anchors(cpu);
        kiln_cpu_destroy(cpu);
    }
    return test_done();
}
