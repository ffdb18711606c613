/* MaxPool (and its Indices output), AveragePool and the global pools against naive double
 * references over 1-D, 2-D and 3-D inputs with every flag combination (ceil_mode,
 * count_include_pad, dilations, asymmetric pads, auto_pad); ceil_mode edge cases against values
 * PyTorch 1.13 gives; 1 and 3 threads. */
#include <float.h>

#include "cpu_nn_testutil.h"

static kiln_rng rng;

typedef struct pgeom {
    int nsp;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} pgeom;

/* Output size and pads as ONNX defines them, independently of src/core/nn_window.c. */
static int pool_geom(pgeom *g, int auto_pad, int ceil_mode) {
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
        if (ceil_mode && auto_pad == KILN_AUTOPAD_NOTSET) {
            g->out[i] = (span + g->s[i] - 1) / g->s[i] + 1;
            if ((g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i]) g->out[i]--;
        } else {
            g->out[i] = span / g->s[i] + 1;
        }
    }
    return 1;
}

static kiln_shape pshape(int64_t n, int64_t c, int nsp, const int64_t *sp) {
    kiln_shape s = {2 + nsp, {n, c}};
    for (int i = 0; i < nsp; i++) s.d[2 + i] = sp[i];
    return s;
}

static void check_pool(kiln_cpu *cpu, int is_max, pgeom g, int auto_pad, int ceil_mode, int cip, int indices,
                       int storage_order) {
    if (!pool_geom(&g, auto_pad, ceil_mode)) return;
    int64_t n = nn_randint(&rng, 1, 2), c = nn_randint(&rng, 1, 5);
    nn_node t;
    nn_node_init(&t, is_max ? KILN_OP_MAXPOOL : KILN_OP_AVGPOOL, 19, 1, is_max && indices ? 2 : 1);
    kiln_pool_attr *a = &t.n.a.pool;
    a->nspatial = g.nsp;
    a->auto_pad = auto_pad;
    a->ceil_mode = ceil_mode;
    a->count_include_pad = cip;
    a->storage_order = storage_order;
    for (int i = 0; i < g.nsp; i++) {
        a->kernel[i] = g.k[i];
        a->stride[i] = g.s[i];
        a->dilation[i] = g.d[i];
        a->pad_begin[i] = auto_pad == KILN_AUTOPAD_NOTSET ? g.pb[i] : 0;
        a->pad_end[i] = auto_pad == KILN_AUTOPAD_NOTSET ? g.pe[i] : 0;
    }
    kiln_view in[1] = {nn_rand_view(&rng, pshape(n, c, g.nsp, g.in), -1, 1)};
    kiln_view out[2];
    kiln_err e;
    kiln_status st = nn_run(cpu, &t, in, out, &e);
    CHECK(st == KILN_OK, "pool: %s", e.msg);
    kiln_shape want = pshape(n, c, g.nsp, g.out);
    char b1[64], b2[64];
    int shape_ok = st == KILN_OK && kiln_shape_eq(&out[0].shape, &want);
    CHECK(shape_ok, "pool output %s, expected %s (in %s, ceil %d, auto_pad %d)",
          kiln_shape_str(&out[0].shape, b1, sizeof b1), kiln_shape_str(&want, b2, sizeof b2),
          kiln_shape_str(&in[0].shape, b1, sizeof b1), ceil_mode, auto_pad);
    if (shape_ok) {
        /* 3-D view with leading unit dims. */
        int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, PB[3] = {0},
                PE[3] = {0};
        for (int i = 0; i < g.nsp; i++) {
            int j = 3 - g.nsp + i;
            I[j] = g.in[i], O[j] = g.out[i], K[j] = g.k[i], S[j] = g.s[i], D[j] = g.d[i], PB[j] = g.pb[i], PE[j] = g.pe[i];
        }
        int64_t in_plane = I[0] * I[1] * I[2], out_plane = O[0] * O[1] * O[2], total = n * c * out_plane;
        double *ref = malloc(sizeof(double) * (size_t)total);
        int64_t *ref_idx = malloc(sizeof(int64_t) * (size_t)total);
        const float *x = in[0].data;
        for (int64_t p = 0; p < n * c; p++)
            for (int64_t o0 = 0; o0 < O[0]; o0++)
                for (int64_t o1 = 0; o1 < O[1]; o1++)
                    for (int64_t o2 = 0; o2 < O[2]; o2++) {
                        double m = -FLT_MAX, s = 0;
                        int64_t cnt = 0, cnt_pad = 0, arg = -1;
                        for (int64_t k0 = 0; k0 < K[0]; k0++)
                            for (int64_t k1 = 0; k1 < K[1]; k1++)
                                for (int64_t k2 = 0; k2 < K[2]; k2++) {
                                    int64_t i0 = o0 * S[0] - PB[0] + k0 * D[0], i1 = o1 * S[1] - PB[1] + k1 * D[1],
                                            i2 = o2 * S[2] - PB[2] + k2 * D[2];
                                    if (i0 >= -PB[0] && i0 < I[0] + PE[0] && i1 >= -PB[1] && i1 < I[1] + PE[1] &&
                                        i2 >= -PB[2] && i2 < I[2] + PE[2])
                                        cnt_pad++;
                                    if (i0 < 0 || i0 >= I[0] || i1 < 0 || i1 >= I[1] || i2 < 0 || i2 >= I[2]) continue;
                                    double v = x[p * in_plane + (i0 * I[1] + i1) * I[2] + i2];
                                    if (v > m) {
                                        m = v;
                                        arg = storage_order ? i0 + (i1 + i2 * I[1]) * I[0] : (i0 * I[1] + i1) * I[2] + i2;
                                    }
                                    s += v;
                                    cnt++;
                                }
                        int64_t o = p * out_plane + (o0 * O[1] + o1) * O[2] + o2;
                        int64_t div = cip ? cnt_pad : cnt;
                        ref[o] = is_max ? m : (div ? s / (double)div : 0);
                        ref_idx[o] = arg < 0 ? -1 : p * in_plane + arg;
                    }
        double l2 = nn_rel_l2(out[0].data, ref, total);
        CHECK(l2 <= 1e-5, "%s %dD in %s k %lld s %lld d %lld ceil %d cip %d auto_pad %d: rel L2 %g",
              is_max ? "MaxPool" : "AveragePool", g.nsp, kiln_shape_str(&in[0].shape, b1, sizeof b1),
              (long long)g.k[g.nsp - 1], (long long)g.s[g.nsp - 1], (long long)g.d[g.nsp - 1], ceil_mode, cip,
              auto_pad, l2);
        if (is_max && indices) {
            int bad = 0;
            for (int64_t o = 0; o < total; o++) bad += ((int64_t *)out[1].data)[o] != ref_idx[o];
            CHECK(bad == 0, "MaxPool Indices (storage_order %d): %d wrong", storage_order, bad);
        }
        free(ref);
        free(ref_idx);
    }
    free(in[0].data);
    for (int j = 0; j < t.n.n_out; j++) free(out[j].data);
}

static void test_pool_random(kiln_cpu *cpu) {
    for (int it = 0; it < 120; it++) {
        pgeom g;
        memset(&g, 0, sizeof g);
        g.nsp = 1 + it % 3;
        for (int i = 0; i < g.nsp; i++) {
            g.in[i] = nn_randint(&rng, 1, g.nsp == 3 ? 6 : 10);
            g.k[i] = nn_randint(&rng, 1, 4);
            g.s[i] = nn_randint(&rng, 1, 3);
            g.d[i] = kiln_rng_uniform(&rng) < 0.7 ? 1 : 2;
            /* Pads within half the window, as PyTorch and most exporters keep them. */
            int64_t half = ((g.k[i] - 1) * g.d[i] + 1) / 2;
            g.pb[i] = nn_randint(&rng, 0, half);
            g.pe[i] = nn_randint(&rng, 0, half);
        }
        int auto_pad = it % 6 < 3 ? KILN_AUTOPAD_NOTSET : (int)nn_randint(&rng, 0, 3);
        int is_max = it & 1, ceil_mode = (it >> 1) & 1, cip = (it >> 2) & 1;
        check_pool(cpu, is_max, g, auto_pad, ceil_mode, cip, is_max && (it % 5 == 1), (it >> 3) & 1);
    }
}

/* ceil_mode edge cases: 1-D input 1..7, values from PyTorch's avg_pool1d / max_pool1d. */
static void test_ceil_edges(kiln_cpu *cpu) {
    static const struct {
        int64_t k, s, p;
        int n_out;
        float avg_incl[4], avg_excl[4], max_neg[4];
    } cases[] = {
        {2, 3, 1, 3, {0.5f, 3.5f, 6.5f}, {1.0f, 3.5f, 6.5f}, {-1, -3, -6}},
        {3, 2, 1, 4, {1.0f, 3.0f, 5.0f, 13.0f / 3}, {1.5f, 3.0f, 5.0f, 6.5f}, {-1, -2, -4, -6}},
        {2, 2, 1, 4, {0.5f, 2.5f, 4.5f, 6.5f}, {1.0f, 2.5f, 4.5f, 6.5f}, {-1, -2, -4, -6}},
        {3, 3, 1, 3, {1.0f, 4.0f, 13.0f / 3}, {1.5f, 4.0f, 6.5f}, {-1, -3, -6}},
    };
    float xs[7], xneg[7];
    for (int i = 0; i < 7; i++) xs[i] = (float)(i + 1), xneg[i] = -(float)(i + 1);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        for (int mode = 0; mode < 3; mode++) { /* avg incl, avg excl, max */
            nn_node t;
            nn_node_init(&t, mode == 2 ? KILN_OP_MAXPOOL : KILN_OP_AVGPOOL, 19, 1, 1);
            kiln_pool_attr *a = &t.n.a.pool;
            a->nspatial = 1;
            a->kernel[0] = cases[ci].k;
            a->stride[0] = cases[ci].s;
            a->pad_begin[0] = a->pad_end[0] = cases[ci].p;
            a->ceil_mode = 1;
            a->count_include_pad = mode == 0;
            kiln_view in[1] = {{KILN_F32, NN_SHAPE(1, 1, 7), mode == 2 ? xneg : xs}};
            kiln_view out[1];
            kiln_err e;
            CHECK_OK(nn_run(cpu, &t, in, out, &e));
            CHECK(out[0].shape.d[2] == cases[ci].n_out, "ceil_mode k%lld s%lld p%lld: %lld outputs, PyTorch has %d",
                  (long long)cases[ci].k, (long long)cases[ci].s, (long long)cases[ci].p, (long long)out[0].shape.d[2],
                  cases[ci].n_out);
            const float *want = mode == 0 ? cases[ci].avg_incl : mode == 1 ? cases[ci].avg_excl : cases[ci].max_neg;
            for (int i = 0; i < cases[ci].n_out && out[0].shape.d[2] == cases[ci].n_out; i++)
                CHECK_CLOSE(((float *)out[0].data)[i], want[i], 1e-6);
            free(out[0].data);
        }
    }
}

static void test_global(kiln_cpu *cpu) {
    kiln_shape shapes[] = {NN_SHAPE(2, 3, 5, 7), NN_SHAPE(1, 4, 9), NN_SHAPE(2, 2, 3, 4, 5), NN_SHAPE(1, 64, 7, 7)};
    for (int si = 0; si < 4; si++)
        for (int is_max = 0; is_max < 2; is_max++) {
            nn_node t;
            nn_node_init(&t, is_max ? KILN_OP_GLOBAL_MAXPOOL : KILN_OP_GLOBAL_AVGPOOL, 13, 1, 1);
            kiln_view in[1] = {nn_rand_view(&rng, shapes[si], -1, 1)};
            kiln_view out[1];
            kiln_err e;
            CHECK_OK(nn_run(cpu, &t, in, out, &e));
            int64_t planes = shapes[si].d[0] * shapes[si].d[1], plane = kiln_shape_numel(&shapes[si]) / planes;
            CHECK(out[0].shape.ndim == shapes[si].ndim && kiln_shape_numel(&out[0].shape) == planes, "global pool shape");
            double *ref = malloc(sizeof(double) * (size_t)planes);
            const float *x = in[0].data;
            for (int64_t p = 0; p < planes; p++) {
                double m = -INFINITY, s = 0;
                for (int64_t i = 0; i < plane; i++) {
                    m = x[p * plane + i] > m ? x[p * plane + i] : m;
                    s += x[p * plane + i];
                }
                ref[p] = is_max ? m : s / (double)plane;
            }
            CHECK(nn_rel_l2(out[0].data, ref, planes) <= 1e-6, "global %s pool", is_max ? "max" : "average");
            free(ref);
            free(in[0].data);
            free(out[0].data);
        }
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    int threads[] = {1, 3};
    for (int ti = 0; ti < 2; ti++) {
        kiln_cpu *cpu = kiln_cpu_create(threads[ti]);
        test_pool_random(cpu);
        test_ceil_edges(cpu);
        test_global(cpu);
        kiln_cpu_destroy(cpu);
    }
    return test_done();
}
