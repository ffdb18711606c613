/* Conv as an engine runs it: with the state kiln_cpu_prepare_node makes once (filters packed for
 * the GEMM, Winograd-transformed filters), against a naive double reference and against the
 * same node run without it. Winograd F(2x2, 3x3) over odd and even maps, every padding, K over
 * one block, few tiles (half-width panels), many tiles (each thread its own) and a batch whose
 * tiles cross images; the GEMM path with the batch side by side in N (1x1, strided, 7x7 stem,
 * groups); state made for other weights is ignored. 1, 2 and 3 threads. */
#include "cpu_nn_testutil.h"

static kiln_rng rng;

typedef struct cconv {
    int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    int bias, res;
} cconv;

static void reference(const cconv *p, const float *x, const float *wt, const float *b, const float *r,
                      const kiln_act *act, int64_t oh, int64_t ow, double *y) {
    int64_t cg = p->c / p->group, mg = p->m / p->group;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t oc = 0; oc < p->m; oc++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double s = p->bias ? b[oc] : 0;
                    for (int64_t ic = 0; ic < cg; ic++)
                        for (int64_t ky = 0; ky < p->kh; ky++)
                            for (int64_t kx = 0; kx < p->kw; kx++) {
                                int64_t iy = oy * p->sh - p->pt + ky * p->dh, ix = ox * p->sw - p->pl + kx * p->dw;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                                s += (double)x[((n * p->c + oc / mg * cg + ic) * p->h + iy) * p->w + ix] *
                                     wt[((oc * cg + ic) * p->kh + ky) * p->kw + kx];
                            }
                    int64_t o = ((n * p->m + oc) * oh + oy) * ow + ox;
                    if (p->res) s += r[o];
                    y[o] = nn_act_ref(act, s);
                }
}

static void check(kiln_cpu *cpu, int threads, cconv p) {
    int64_t oh = (p.h + p.pt + p.pb - (p.kh - 1) * p.dh - 1) / p.sh + 1;
    int64_t ow = (p.w + p.pl + p.pr - (p.kw - 1) * p.dw - 1) / p.sw + 1;
    if (oh <= 0 || ow <= 0) return;
    nn_node t;
    nn_node_init(&t, KILN_OP_CONV, 13, p.res ? 4 : 3, 1);
    kiln_conv_attr *a = &t.n.a.conv;
    a->nspatial = 2, a->group = p.group;
    a->kernel[0] = p.kh, a->kernel[1] = p.kw;
    a->stride[0] = p.sh, a->stride[1] = p.sw;
    a->dilation[0] = p.dh, a->dilation[1] = p.dw;
    a->pad_begin[0] = p.pt, a->pad_begin[1] = p.pl, a->pad_end[0] = p.pb, a->pad_end[1] = p.pr;
    a->act = nn_rand_act(&rng);
    a->has_residual = p.res;
    kiln_view in[4];
    in[0] = nn_rand_view(&rng, NN_SHAPE(p.n, p.c, p.h, p.w), -1, 1);
    in[1] = nn_rand_view(&rng, NN_SHAPE(p.m, p.c / p.group, p.kh, p.kw), -1, 1);
    in[2] = p.bias ? nn_rand_view(&rng, NN_SHAPE(p.m), -1, 1) : nn_absent();
    if (p.res) in[3] = nn_rand_view(&rng, NN_SHAPE(p.n, p.m, oh, ow), -1, 1);
    int64_t total = p.n * p.m * oh * ow;
    double *ref = malloc(sizeof(double) * (size_t)total);
    reference(&p, in[0].data, in[1].data, in[2].data, p.res ? in[3].data : NULL, &a->act, oh, ow, ref);
    char what[160];
    snprintf(what, sizeof what, "conv x=%lldx%lldx%lldx%lld m=%lld k=%lldx%lld s=%lld,%lld pads %lld,%lld,%lld,%lld g=%lld %d thr",
             (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w, (long long)p.m, (long long)p.kh,
             (long long)p.kw, (long long)p.sh, (long long)p.sw, (long long)p.pt, (long long)p.pl, (long long)p.pb,
             (long long)p.pr, (long long)p.group, threads);

    /* Prepared once, as an engine does (at this batch), then run twice: runs must not change it. */
    kiln_cpu_prepared *pp = NULL;
    kiln_err e;
    CHECK(kiln_cpu_prepare_node(&t.n, in, threads, &pp, &e) == KILN_OK, "%s: prepare: %s", what, e.msg);
    int depthwise = p.c / p.group == 1;
    CHECK(depthwise ? !pp : pp && kiln_cpu_prepared_bytes(pp) > 0, "%s: prepared state", what);
    kiln_view out[1];
    for (int rep = 0; rep < 2; rep++) {
        CHECK(nn_run(cpu, &t, in, out, &e) == KILN_OK, "%s: %s", what, e.msg); /* shapes, NaN poison */
        for (int64_t i = 0; i < total; i++) ((float *)out[0].data)[i] = NAN;
        CHECK(kiln_cpu_run_prepared(cpu, &t.n, pp, in, out, &e) == KILN_OK, "%s: run prepared: %s", what, e.msg);
        double l2 = nn_rel_l2(out[0].data, ref, total);
        CHECK(l2 <= 1e-5, "%s: prepared run %d, rel L2 %g", what, rep, l2);
        free(out[0].data);
    }
    /* Without the state (kiln_cpu_run_node) and with state made for other weights. */
    CHECK(nn_run(cpu, &t, in, out, &e) == KILN_OK, "%s: %s", what, e.msg);
    CHECK(nn_rel_l2(out[0].data, ref, total) <= 1e-5, "%s: unprepared run", what);
    free(out[0].data);
    kiln_view other = nn_rand_view(&rng, in[1].shape, -1, 1);
    kiln_view in2[4] = {in[0], other, in[2], p.res ? in[3] : nn_absent()};
    kiln_cpu_prepared *pp2 = NULL;
    CHECK(kiln_cpu_prepare_node(&t.n, in2, threads, &pp2, &e) == KILN_OK, "%s: prepare: %s", what, e.msg);
    CHECK(nn_run(cpu, &t, in, out, &e) == KILN_OK, "%s", what);
    CHECK(kiln_cpu_run_prepared(cpu, &t.n, pp2, in, out, &e) == KILN_OK, "%s: run: %s", what, e.msg);
    CHECK(nn_rel_l2(out[0].data, ref, total) <= 1e-5, "%s: state of other weights was used", what);
    free(out[0].data);
    kiln_cpu_prepared_free(pp);
    kiln_cpu_prepared_free(pp2);
    free(other.data);
    for (int i = 0; i < t.n.n_in; i++) free(in[i].data);
    free(ref);
}

static cconv make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t m, int64_t k, int64_t s, int64_t pad) {
    cconv p = {n, c, h, w, m, k, k, s, s, 1, 1, pad, pad, pad, pad, 1, 1, 0};
    p.res = kiln_rng_uniform(&rng) < 0.4;
    p.bias = kiln_rng_uniform(&rng) < 0.8;
    return p;
}

static void test_winograd(kiln_cpu *cpu, int threads) {
    /* Random maps and pads (Winograd needs 16+ channels each way to pay). */
    for (int it = 0; it < 12; it++) {
        cconv p = make(nn_randint(&rng, 1, 3), nn_randint(&rng, 16, 40), nn_randint(&rng, 1, 19), nn_randint(&rng, 1, 19),
                       nn_randint(&rng, 16, 40), 3, 1, 1);
        p.pt = nn_randint(&rng, 0, 2), p.pl = nn_randint(&rng, 0, 2), p.pb = nn_randint(&rng, 0, 2), p.pr = nn_randint(&rng, 0, 2);
        check(cpu, threads, p);
    }
    check(cpu, threads, make(1, 24, 7, 7, 40, 3, 1, 1));   /* 16 tiles: half-width panels */
    check(cpu, threads, make(2, 32, 14, 14, 28, 3, 1, 1)); /* a batch whose tiles cross images */
    check(cpu, threads, make(1, 16, 56, 56, 16, 3, 1, 1)); /* many tiles: each thread its own */
    check(cpu, threads, make(1, 300, 6, 5, 20, 3, 1, 1));  /* K over one block */
}

static void test_gemm_paths(kiln_cpu *cpu, int threads) {
    check(cpu, threads, make(3, 40, 7, 7, 70, 1, 1, 0));   /* 1x1: the batch side by side, 49 columns each */
    check(cpu, threads, make(2, 30, 9, 9, 50, 1, 2, 0));   /* strided 1x1 */
    check(cpu, threads, make(2, 20, 9, 11, 36, 3, 2, 1));  /* strided 3x3 */
    check(cpu, threads, make(1, 3, 30, 30, 16, 7, 2, 3));  /* a stem */
    check(cpu, threads, make(2, 8, 5, 5, 12, 3, 1, 1));    /* 3x3 too small for Winograd */
    cconv g = make(2, 12, 6, 7, 18, 3, 1, 1);
    g.group = 3;                                           /* groups: one product each */
    check(cpu, threads, g);
    cconv d = make(1, 16, 8, 8, 16, 3, 1, 1);
    d.dh = d.dw = 2;                                       /* dilated: no Winograd */
    check(cpu, threads, d);
    cconv dw = make(1, 8, 6, 6, 8, 3, 1, 1);
    dw.group = 8;                                          /* depthwise: nothing to prepare */
    check(cpu, threads, dw);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    for (int threads = 1; threads <= 3; threads++) {
        kiln_cpu *cpu = kiln_cpu_create(threads);
        test_winograd(cpu, threads);
        test_gemm_paths(cpu, threads);
        kiln_cpu_destroy(cpu);
    }
    return test_done();
}
