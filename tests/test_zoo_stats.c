/* Stats (src/core/stats.c): MACs of Conv/ConvTranspose/Gemm/MatMul on random shapes against a
 * count taken by walking the naive loops, and the parameter count's rules (batch-norm buffers,
 * Clip bounds and integer constants excluded, shared constants counted once). Shapes are given
 * by hand, so this needs no shape inference. */
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "test.h"

static int64_t rnd(kiln_rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(kiln_rng_uniform(r) * (double)(hi - lo + 1));
}

/* Shapes for every tensor of g: the declared ones, plus out-of-band activation shapes. */
static void shapes_init(kiln_shapes *s, const kiln_graph *g) {
    s->n = g->n_t;
    s->s = calloc((size_t)g->n_t, sizeof(kiln_shape));
    s->dt = calloc((size_t)g->n_t, sizeof(kiln_dtype));
    s->val = calloc((size_t)g->n_t, sizeof(void *));
    s->own = calloc((size_t)g->n_t, 1);
    for (int i = 0; i < g->n_t; i++) {
        s->s[i] = g->t[i].shape;
        s->dt[i] = g->t[i].dtype;
    }
}

/* An activation of the given shape (d NULL: unknown). */
static int tensor(kiln_graph *g, const char *name, int ndim, const int64_t *d) {
    if (!d) return kiln_graph_add_tensor(g, name, KILN_TENSOR_ACT, KILN_F32, NULL);
    kiln_shape s = kiln_shape_make(ndim, d);
    return kiln_graph_add_tensor(g, name, KILN_TENSOR_ACT, KILN_F32, &s);
}

static int weight(kiln_graph *g, const char *name, kiln_dtype dt, int ndim, const int64_t *d) {
    kiln_shape s = kiln_shape_make(ndim, d);
    size_t n = (size_t)kiln_shape_numel(&s);
    return kiln_graph_add_const(g, name, dt, &s, calloc(n ? n : 1, kiln_dtype_size(dt)), 1);
}

/* Multiply-adds of a direct 2-D convolution, counted by walking its loops (padding included,
   as thop and fvcore count it). */
static int64_t naive_conv_macs(int64_t n, int64_t cin, int64_t cout, int64_t g, int64_t ho,
                               int64_t wo, int64_t kh, int64_t kw) {
    int64_t c = 0;
    for (int64_t b = 0; b < n; b++)
        for (int64_t oc = 0; oc < cout; oc++)
            for (int64_t y = 0; y < ho; y++)
                for (int64_t x = 0; x < wo; x++)
                    for (int64_t ic = 0; ic < cin / g; ic++)
                        for (int64_t i = 0; i < kh * kw; i++) c++;
    return c;
}

static void test_conv(kiln_rng *r) {
    for (int iter = 0; iter < 50; iter++) {
        int64_t g = rnd(r, 1, 4), n = rnd(r, 1, 3), cin = g * rnd(r, 1, 4), cout = g * rnd(r, 1, 4);
        int64_t kh = rnd(r, 1, 5), kw = rnd(r, 1, 5), h = rnd(r, kh, 12), w = rnd(r, kw, 12);
        int64_t sh = rnd(r, 1, 3), sw = rnd(r, 1, 3), ph = rnd(r, 0, 2), pw = rnd(r, 0, 2);
        int64_t ho = (h + 2 * ph - kh) / sh + 1, wo = (w + 2 * pw - kw) / sw + 1;
        int bias = (int)rnd(r, 0, 1);
        kiln_graph *gr = kiln_graph_create();
        int x = tensor(gr, "x", 4, (int64_t[]){n, cin, h, w});
        int wt = weight(gr, "w", KILN_F32, 4, (int64_t[]){cout, cin / g, kh, kw});
        int b = weight(gr, "b", KILN_F32, 1, (int64_t[]){cout});
        int y = tensor(gr, "y", 4, (int64_t[]){n, cout, ho, wo});
        int k = kiln_graph_add_node(gr, KILN_OP_CONV, "conv", bias ? 3 : 2, (int[]){x, wt, b}, 1,
                                    &y);
        gr->n[k].a.conv.group = g;
        kiln_shapes s;
        shapes_init(&s, gr);
        int64_t want = naive_conv_macs(n, cin, cout, g, ho, wo, kh, kw);
        CHECK(kiln_node_macs(gr, &s, &gr->n[k]) == want, "conv macs %lld, want %lld",
              (long long)kiln_node_macs(gr, &s, &gr->n[k]), (long long)want);
        CHECK(kiln_graph_macs(gr, &s) == want, "graph macs");
        CHECK(kiln_graph_param_count(gr) == cout * (cin / g) * kh * kw + (bias ? cout : 0),
              "conv params");
        /* Unknown output shape: 0, not a guess. */
        s.s[y].ndim = -1;
        CHECK(kiln_node_macs(gr, &s, &gr->n[k]) == 0, "unknown shape counts 0");
        kiln_shapes_free(&s);
        kiln_graph_destroy(gr);
    }
}

static void test_conv_transpose(kiln_rng *r) {
    for (int iter = 0; iter < 20; iter++) {
        int64_t g = rnd(r, 1, 3), n = rnd(r, 1, 2), cin = g * rnd(r, 1, 4), cout = g * rnd(r, 1, 4);
        int64_t k = rnd(r, 1, 4), h = rnd(r, 1, 8), w = rnd(r, 1, 8), st = rnd(r, 1, 3);
        int64_t ho = (h - 1) * st + k, wo = (w - 1) * st + k;
        kiln_graph *gr = kiln_graph_create();
        int x = tensor(gr, "x", 4, (int64_t[]){n, cin, h, w});
        int wt = weight(gr, "w", KILN_F32, 4, (int64_t[]){cin, cout / g, k, k});
        int y = tensor(gr, "y", 4, (int64_t[]){n, cout, ho, wo});
        int nd =
            kiln_graph_add_node(gr, KILN_OP_CONV_TRANSPOSE, "deconv", 2, (int[]){x, wt}, 1, &y);
        gr->n[nd].a.conv.group = g;
        kiln_shapes s;
        shapes_init(&s, gr);
        /* Each input element scatters into (cout / g) * k * k outputs. */
        int64_t want = 0;
        for (int64_t i = 0; i < n * cin * h * w; i++) want += cout / g * k * k;
        CHECK(kiln_node_macs(gr, &s, &gr->n[nd]) == want, "conv transpose macs");
        kiln_shapes_free(&s);
        kiln_graph_destroy(gr);
    }
}

static void test_gemm_matmul(kiln_rng *r) {
    for (int iter = 0; iter < 30; iter++) {
        int64_t m = rnd(r, 1, 9), nn = rnd(r, 1, 9), kk = rnd(r, 1, 9), bt = rnd(r, 1, 4);
        int ta = (int)rnd(r, 0, 1), tb = (int)rnd(r, 0, 1);
        kiln_graph *gr = kiln_graph_create();
        int a = tensor(gr, "a", 2, ta ? (int64_t[]){kk, m} : (int64_t[]){m, kk});
        int b = weight(gr, "b", KILN_F32, 2, tb ? (int64_t[]){nn, kk} : (int64_t[]){kk, nn});
        int c = weight(gr, "c", KILN_F32, 1, (int64_t[]){nn});
        int y = tensor(gr, "y", 2, (int64_t[]){m, nn});
        int k = kiln_graph_add_node(gr, KILN_OP_GEMM, "gemm", 3, (int[]){a, b, c}, 1, &y);
        gr->n[k].a.gemm.trans_a = ta;
        gr->n[k].a.gemm.trans_b = tb;
        /* Batched MatMul: [bt, m, kk] x [kk, nn]. */
        int a3 = tensor(gr, "a3", 3, (int64_t[]){bt, m, kk});
        int b3 = weight(gr, "b3", KILN_F32, 2, (int64_t[]){kk, nn});
        int y3 = tensor(gr, "y3", 3, (int64_t[]){bt, m, nn});
        int k3 = kiln_graph_add_node(gr, KILN_OP_MATMUL, "mm", 2, (int[]){a3, b3}, 1, &y3);
        int yr = tensor(gr, "yr", 3, (int64_t[]){bt, m, nn});
        kiln_graph_add_node(gr, KILN_OP_RELU, "relu", 1, &y3, 1, &yr);
        kiln_shapes s;
        shapes_init(&s, gr);
        int64_t want = 0, want3 = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++)
                for (int64_t p = 0; p < kk; p++) want++;
        for (int64_t q = 0; q < bt; q++) want3 += want;
        CHECK(kiln_node_macs(gr, &s, &gr->n[k]) == want, "gemm macs (ta %d tb %d)", ta, tb);
        CHECK(kiln_node_macs(gr, &s, &gr->n[k3]) == want3, "matmul macs");
        CHECK(kiln_node_macs(gr, &s, &gr->n[2]) == 0, "relu has no macs");
        CHECK(kiln_graph_macs(gr, &s) == want + want3, "graph macs");
        CHECK(kiln_graph_param_count(gr) == nn * kk + nn + kk * nn, "gemm/matmul params");
        kiln_shapes_free(&s);
        kiln_graph_destroy(gr);
    }
}

static void test_param_rules(void) {
    kiln_graph *g = kiln_graph_create();
    int x = tensor(g, "x", 4, (int64_t[]){1, 8, 4, 4});
    int w = weight(g, "w", KILN_F32, 4, (int64_t[]){8, 8, 3, 3});      /* 576, shared */
    int bias = weight(g, "bias", KILN_F16, 1, (int64_t[]){8});          /* 8: half counts */
    int gamma = weight(g, "gamma", KILN_F32, 1, (int64_t[]){8});        /* 8 */
    int beta = weight(g, "beta", KILN_F32, 1, (int64_t[]){8});          /* 8 */
    int mean = weight(g, "mean", KILN_F32, 1, (int64_t[]){8});          /* buffer */
    int var = weight(g, "var", KILN_F32, 1, (int64_t[]){8});            /* buffer */
    int lo = weight(g, "lo", KILN_F32, 0, NULL);                        /* Clip bound */
    int hi = weight(g, "hi", KILN_F32, 0, NULL);
    int shp = weight(g, "shape", KILN_I64, 1, (int64_t[]){2});          /* not a float */
    int a = tensor(g, "a", 4, NULL), b = tensor(g, "b", 4, NULL), c = tensor(g, "c", 4, NULL);
    int d = tensor(g, "d", 4, NULL), e = tensor(g, "e", 2, NULL);
    kiln_graph_add_node(g, KILN_OP_CONV, "c1", 3, (int[]){x, w, bias}, 1, &a);
    kiln_graph_add_node(g, KILN_OP_CONV, "c2", 2, (int[]){a, w}, 1, &b);
    kiln_graph_add_node(g, KILN_OP_BATCHNORM, "bn", 5, (int[]){b, gamma, beta, mean, var}, 1, &c);
    kiln_graph_add_node(g, KILN_OP_CLIP, "clip", 3, (int[]){c, lo, hi}, 1, &d);
    kiln_graph_add_node(g, KILN_OP_RESHAPE, "reshape", 2, (int[]){d, shp}, 1, &e);
    CHECK(kiln_graph_param_count(g) == 576 + 8 + 8 + 8, "params %lld, want 600",
          (long long)kiln_graph_param_count(g));
    /* A running mean that also feeds a Conv bias is a parameter there. */
    int f = tensor(g, "f", 4, NULL);
    kiln_graph_add_node(g, KILN_OP_CONV, "c3", 3, (int[]){a, w, mean}, 1, &f);
    CHECK(kiln_graph_param_count(g) == 608, "shared buffer counted once as a bias");
    /* Constants nobody reads are not parameters of the network. */
    weight(g, "dangling", KILN_F32, 1, (int64_t[]){100});
    CHECK(kiln_graph_param_count(g) == 608, "unused constants are not counted");
    kiln_graph_destroy(g);
}

int main(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    test_conv(&r);
    test_conv_transpose(&r);
    test_gemm_matmul(&r);
    test_param_rules();
    return test_done();
}
