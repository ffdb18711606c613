/* Conv and ConvTranspose kernels against naive double references: random 1-D and 2-D shapes,
 * groups, depthwise (with channel multipliers), dilations, asymmetric pads, strides, every
 * auto_pad, ConvTranspose output_padding / output_shape, fused bias + residual + activation;
 * 1 and 3 threads. The reference resolves auto_pad itself (not through nn_window). */
#include "cpu_nn_testutil.h"

static kiln_rng rng;

typedef struct geom {
    int nsp;
    int64_t in[2], k[2], s[2], d[2], pb[2], pe[2], out[2], opad[2], oshape[2];
} geom;

/* ONNX's forward output size and pads, written out independently of src/core/nn_window.c. */
static int forward_geom(geom *g, int auto_pad) {
    for (int i = 0; i < g->nsp; i++) {
        int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
        if (auto_pad == KILN_AUTOPAD_SAME_UPPER || auto_pad == KILN_AUTOPAD_SAME_LOWER) {
            g->out[i] = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (g->out[i] - 1) * g->s[i] + dk - g->in[i];
            if (total < 0) total = 0;
            g->pb[i] = auto_pad == KILN_AUTOPAD_SAME_UPPER ? total / 2 : (total + 1) / 2;
            g->pe[i] = total - g->pb[i];
            continue;
        }
        if (auto_pad == KILN_AUTOPAD_VALID) g->pb[i] = g->pe[i] = 0;
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - dk;
        if (span < 0) return 0;
        g->out[i] = span / g->s[i] + 1;
    }
    return 1;
}

static void random_geom(geom *g, int nsp) {
    memset(g, 0, sizeof *g);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        g->in[i] = nn_randint(&rng, 1, 11);
        g->k[i] = nn_randint(&rng, 1, 4);
        g->s[i] = nn_randint(&rng, 1, 3);
        g->d[i] = kiln_rng_uniform(&rng) < 0.7 ? 1 : nn_randint(&rng, 2, 3);
        g->pb[i] = nn_randint(&rng, 0, 3);
        g->pe[i] = nn_randint(&rng, 0, 3);
    }
}

static void set_conv_attr(kiln_conv_attr *a, const geom *g, int64_t group, int auto_pad, int give_kernel) {
    a->nspatial = give_kernel ? g->nsp : 0;
    a->group = group;
    a->auto_pad = auto_pad;
    for (int i = 0; i < g->nsp; i++) {
        a->kernel[i] = give_kernel ? g->k[i] : 0;
        a->stride[i] = g->s[i];
        a->dilation[i] = g->d[i];
        a->pad_begin[i] = auto_pad == KILN_AUTOPAD_NOTSET ? g->pb[i] : 0;
        a->pad_end[i] = auto_pad == KILN_AUTOPAD_NOTSET ? g->pe[i] : 0;
    }
}

static kiln_shape nchw(int64_t n, int64_t c, int nsp, const int64_t *sp) {
    kiln_shape s = {2 + nsp, {n, c}};
    for (int i = 0; i < nsp; i++) s.d[2 + i] = sp[i];
    return s;
}

/* Spatial dims as 2-D (1-D: H = 1). */
static void dims2(const geom *g, const int64_t *v, int64_t *h, int64_t *w) {
    *h = g->nsp == 2 ? v[0] : 1;
    *w = v[g->nsp - 1];
}

static void check_conv(kiln_cpu *cpu, int nsp, int64_t batch, int64_t group, int64_t cg, int64_t mg,
                       const geom *given, int auto_pad) {
    geom g = *given;
    if (!forward_geom(&g, auto_pad)) return;
    int64_t c = group * cg, m = group * mg;
    nn_node t;
    int has_bias = kiln_rng_uniform(&rng) < 0.7, has_res = kiln_rng_uniform(&rng) < 0.3;
    nn_node_init(&t, KILN_OP_CONV, 13, has_res ? 4 : 3, 1);
    set_conv_attr(&t.n.a.conv, &g, group, auto_pad, kiln_rng_uniform(&rng) < 0.5);
    t.n.a.conv.act = nn_rand_act(&rng);
    t.n.a.conv.has_residual = has_res;
    int64_t kshape[2] = {g.k[0], g.k[1]};
    kiln_view in[4];
    in[0] = nn_rand_view(&rng, nchw(batch, c, nsp, g.in), -1, 1);
    in[1] = nn_rand_view(&rng, nchw(m, cg, nsp, kshape), -1, 1);
    in[2] = has_bias ? nn_rand_view(&rng, NN_SHAPE(m), -1, 1) : nn_absent();
    if (has_res) in[3] = nn_rand_view(&rng, nchw(batch, m, nsp, g.out), -1, 1);
    kiln_view out[1];
    kiln_err e;
    kiln_status st = nn_run(cpu, &t, in, out, &e);
    CHECK(st == KILN_OK, "conv: %s", e.msg);
    kiln_shape want = nchw(batch, m, nsp, g.out);
    char b1[64], b2[64];
    CHECK(st != KILN_OK || kiln_shape_eq(&out[0].shape, &want), "conv output %s, expected %s",
          kiln_shape_str(&out[0].shape, b1, sizeof b1), kiln_shape_str(&want, b2, sizeof b2));
    if (st == KILN_OK && kiln_shape_eq(&out[0].shape, &want)) {
        int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
        dims2(&g, g.in, &ih, &iw);
        dims2(&g, g.out, &oh, &ow);
        dims2(&g, g.k, &kh, &kw);
        dims2(&g, g.s, &sh, &sw);
        dims2(&g, g.d, &dh, &dw);
        ph = nsp == 2 ? g.pb[0] : 0;
        pw = g.pb[nsp - 1];
        if (nsp == 1) sh = dh = 1;
        int64_t total = batch * m * oh * ow;
        double *ref = malloc(sizeof(double) * (size_t)total);
        const float *x = in[0].data, *w = in[1].data, *b = in[2].data, *r = in[3].data;
        for (int64_t n = 0; n < batch; n++)
            for (int64_t oc = 0; oc < m; oc++) {
                int64_t gi = oc / mg;
                for (int64_t y = 0; y < oh; y++)
                    for (int64_t xo = 0; xo < ow; xo++) {
                        double s = has_bias ? b[oc] : 0;
                        for (int64_t icg = 0; icg < cg; icg++)
                            for (int64_t ky = 0; ky < kh; ky++)
                                for (int64_t kx = 0; kx < kw; kx++) {
                                    int64_t iy = y * sh - ph + ky * dh, ix = xo * sw - pw + kx * dw;
                                    if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
                                    s += (double)x[((n * c + gi * cg + icg) * ih + iy) * iw + ix] *
                                         w[((oc * cg + icg) * kh + ky) * kw + kx];
                                }
                        int64_t o = ((n * m + oc) * oh + y) * ow + xo;
                        if (has_res) s += r[o];
                        ref[o] = nn_act_ref(&t.n.a.conv.act, s);
                    }
            }
        double l2 = nn_rel_l2(out[0].data, ref, total);
        CHECK(l2 <= 1e-5, "conv %dD x=%s w=%s group %lld auto_pad %d stride %lld,%lld dil %lld,%lld: rel L2 %g", nsp,
              kiln_shape_str(&in[0].shape, b1, sizeof b1), kiln_shape_str(&in[1].shape, b2, sizeof b2),
              (long long)group, auto_pad, (long long)g.s[0], (long long)g.s[1], (long long)g.d[0], (long long)g.d[1], l2);
        free(ref);
    }
    for (int i = 0; i < t.n.n_in; i++) free(in[i].data);
    free(out[0].data);
}

static void test_conv_random(kiln_cpu *cpu) {
    for (int it = 0; it < 60; it++) {
        int nsp = 1 + (it & 1);
        geom g;
        random_geom(&g, nsp);
        int auto_pad = it % 5 < 2 ? KILN_AUTOPAD_NOTSET : (int)nn_randint(&rng, 0, 3);
        int64_t group, cg, mg;
        int kind = it % 4;
        if (kind == 0) group = 1, cg = nn_randint(&rng, 1, 6), mg = nn_randint(&rng, 1, 6);
        else if (kind == 1) group = nn_randint(&rng, 2, 3), cg = nn_randint(&rng, 2, 3), mg = nn_randint(&rng, 1, 3);
        else if (kind == 2) group = nn_randint(&rng, 1, 6), cg = 1, mg = 1;            /* depthwise */
        else group = nn_randint(&rng, 2, 4), cg = 1, mg = nn_randint(&rng, 2, 3);       /* with multiplier */
        check_conv(cpu, nsp, nn_randint(&rng, 1, 2), group, cg, mg, &g, auto_pad);
    }
}

static void test_conv_fixed(kiln_cpu *cpu) {
    geom g = {2, {9, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {0}, {0}, {0}};
    check_conv(cpu, 2, 1, 1, 300, 40, &g, KILN_AUTOPAD_NOTSET); /* 1x1 direct, K over one block */
    geom g3 = {2, {10, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0}, {0}, {0}};
    check_conv(cpu, 2, 2, 1, 40, 37, &g3, KILN_AUTOPAD_NOTSET); /* im2col, K = 360 */
    geom g2 = {2, {15, 15}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {0}, {0}, {0}};
    check_conv(cpu, 2, 1, 2, 24, 33, &g2, KILN_AUTOPAD_NOTSET); /* strided 1x1, groups */
    geom gd = {2, {12, 12}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0}, {0}, {0}};
    check_conv(cpu, 2, 1, 32, 1, 1, &gd, KILN_AUTOPAD_NOTSET); /* MobileNet-style depthwise */
    geom g1 = {1, {40, 0}, {5, 0}, {1, 0}, {2, 0}, {4, 0}, {3, 0}, {0}, {0}, {0}};
    check_conv(cpu, 1, 2, 1, 7, 9, &g1, KILN_AUTOPAD_NOTSET);   /* 1-D, dilated, asymmetric */
}

/* ---- ConvTranspose ------------------------------------------------------------------------- */

static void check_conv_transpose(kiln_cpu *cpu, int nsp, int64_t batch, int64_t group, int64_t cg, int64_t mg,
                                 geom g, int auto_pad, int use_oshape) {
    for (int i = 0; i < nsp; i++) {
        int64_t dk = (g.k[i] - 1) * g.d[i] + 1, full = g.s[i] * (g.in[i] - 1) + g.opad[i] + dk;
        if (use_oshape || auto_pad == KILN_AUTOPAD_SAME_UPPER || auto_pad == KILN_AUTOPAD_SAME_LOWER) {
            int64_t o = use_oshape ? g.oshape[i] : g.in[i] * g.s[i], total = full - o;
            int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2); /* floor */
            if (auto_pad == KILN_AUTOPAD_SAME_UPPER) g.pb[i] = half, g.pe[i] = total - half;
            else g.pe[i] = half, g.pb[i] = total - half;
            g.out[i] = o;
        } else {
            if (auto_pad == KILN_AUTOPAD_VALID) g.pb[i] = g.pe[i] = 0;
            g.out[i] = full - g.pb[i] - g.pe[i];
        }
        if (g.out[i] <= 0) return;
    }
    int64_t c = group * cg, m = group * mg;
    nn_node t;
    int has_bias = kiln_rng_uniform(&rng) < 0.7, has_res = kiln_rng_uniform(&rng) < 0.3;
    nn_node_init(&t, KILN_OP_CONV_TRANSPOSE, 13, has_res ? 4 : 3, 1);
    kiln_conv_attr *a = &t.n.a.conv;
    set_conv_attr(a, &g, group, auto_pad, 1);
    for (int i = 0; i < nsp; i++) {
        a->output_padding[i] = g.opad[i];
        a->output_shape[i] = g.oshape[i];
    }
    a->has_output_shape = use_oshape;
    a->act = nn_rand_act(&rng);
    a->has_residual = has_res;
    int64_t kshape[2] = {g.k[0], g.k[1]};
    kiln_view in[4];
    in[0] = nn_rand_view(&rng, nchw(batch, c, nsp, g.in), -1, 1);
    in[1] = nn_rand_view(&rng, nchw(c, mg, nsp, kshape), -1, 1);
    in[2] = has_bias ? nn_rand_view(&rng, NN_SHAPE(m), -1, 1) : nn_absent();
    if (has_res) in[3] = nn_rand_view(&rng, nchw(batch, m, nsp, g.out), -1, 1);
    kiln_view out[1];
    kiln_err e;
    kiln_status st = nn_run(cpu, &t, in, out, &e);
    CHECK(st == KILN_OK, "conv transpose: %s", e.msg);
    kiln_shape want = nchw(batch, m, nsp, g.out);
    char b1[64], b2[64];
    CHECK(st != KILN_OK || kiln_shape_eq(&out[0].shape, &want), "conv transpose output %s, expected %s",
          kiln_shape_str(&out[0].shape, b1, sizeof b1), kiln_shape_str(&want, b2, sizeof b2));
    if (st == KILN_OK && kiln_shape_eq(&out[0].shape, &want)) {
        int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw;
        dims2(&g, g.in, &ih, &iw);
        dims2(&g, g.out, &oh, &ow);
        dims2(&g, g.k, &kh, &kw);
        dims2(&g, g.s, &sh, &sw);
        dims2(&g, g.d, &dh, &dw);
        int64_t ph = nsp == 2 ? g.pb[0] : 0, pw = g.pb[nsp - 1];
        if (nsp == 1) sh = dh = 1;
        int64_t total = batch * m * oh * ow;
        double *ref = calloc((size_t)total, sizeof(double));
        const float *x = in[0].data, *w = in[1].data, *b = in[2].data, *r = in[3].data;
        for (int64_t n = 0; n < batch; n++)
            for (int64_t ic = 0; ic < c; ic++) {
                int64_t gi = ic / cg;
                for (int64_t iy = 0; iy < ih; iy++)
                    for (int64_t ix = 0; ix < iw; ix++)
                        for (int64_t ocg = 0; ocg < mg; ocg++)
                            for (int64_t ky = 0; ky < kh; ky++)
                                for (int64_t kx = 0; kx < kw; kx++) {
                                    int64_t oy = iy * sh - ph + ky * dh, ox = ix * sw - pw + kx * dw;
                                    if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                                    ref[((n * m + gi * mg + ocg) * oh + oy) * ow + ox] +=
                                        (double)x[((n * c + ic) * ih + iy) * iw + ix] * w[((ic * mg + ocg) * kh + ky) * kw + kx];
                                }
            }
        for (int64_t o = 0; o < total; o++) {
            double s = ref[o] + (has_bias ? b[(o / (oh * ow)) % m] : 0) + (has_res ? r[o] : 0);
            ref[o] = nn_act_ref(&a->act, s);
        }
        double l2 = nn_rel_l2(out[0].data, ref, total);
        CHECK(l2 <= 1e-5, "conv transpose %dD x=%s w=%s group %lld auto_pad %d oshape %d: rel L2 %g", nsp,
              kiln_shape_str(&in[0].shape, b1, sizeof b1), kiln_shape_str(&in[1].shape, b2, sizeof b2),
              (long long)group, auto_pad, use_oshape, l2);
        free(ref);
    }
    for (int i = 0; i < t.n.n_in; i++) free(in[i].data);
    free(out[0].data);
}

static void test_conv_transpose(kiln_cpu *cpu) {
    for (int it = 0; it < 40; it++) {
        int nsp = 1 + (it & 1);
        geom g;
        random_geom(&g, nsp);
        for (int i = 0; i < nsp; i++) {
            g.in[i] = nn_randint(&rng, 1, 7);
            g.opad[i] = nn_randint(&rng, 0, g.s[i] - 1);
            g.pb[i] = nn_randint(&rng, 0, g.k[i] - 1);
            g.pe[i] = nn_randint(&rng, 0, g.k[i] - 1);
            g.oshape[i] = g.s[i] * (g.in[i] - 1) + g.opad[i] + (g.k[i] - 1) * g.d[i] + 1 - nn_randint(&rng, 0, 2);
        }
        int auto_pad = it % 4 < 2 ? KILN_AUTOPAD_NOTSET : (int)nn_randint(&rng, 0, 3);
        int64_t group = it % 3 == 0 ? nn_randint(&rng, 2, 3) : 1;
        check_conv_transpose(cpu, nsp, nn_randint(&rng, 1, 2), group, nn_randint(&rng, 1, 4), nn_randint(&rng, 1, 4),
                             g, auto_pad, it % 5 == 4);
    }
    /* A U-Net style 2x upsampler with more channels than one GEMM block. */
    geom g = {2, {6, 5}, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {0}, {0}, {0}};
    check_conv_transpose(cpu, 2, 1, 1, 70, 20, g, KILN_AUTOPAD_NOTSET, 0);
    geom g2 = {2, {4, 4}, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0}, {0}};
    check_conv_transpose(cpu, 2, 2, 2, 3, 2, g2, KILN_AUTOPAD_NOTSET, 0);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    int threads[] = {1, 3};
    for (int ti = 0; ti < 2; ti++) {
        kiln_cpu *cpu = kiln_cpu_create(threads[ti]);
        test_conv_random(cpu);
        test_conv_fixed(cpu);
        test_conv_transpose(cpu);
        kiln_cpu_destroy(cpu);
    }
    return test_done();
}
