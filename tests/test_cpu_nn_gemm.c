/* The GEMM engine (every micro-kernel variant this CPU runs, awkward sizes, strided/transposed
 * operands, the fused epilogue, 1 and 3 threads) and the Gemm and MatMul ops, against double
 * references. */
#include "backend/cpu/cpu_gemm.h"
#include "cpu_nn_testutil.h"

static kiln_rng rng;

/* C = act(alpha * A·B + beta * D + R) in double, from the strided description. */
static void gemm_ref(const kiln_gemm *g, double *c) {
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++) {
            double s = 0;
            for (int64_t p = 0; p < g->k; p++)
                s += (double)g->a[i * g->a_rs + p * g->a_cs] * (double)g->b[p * g->b_rs + j * g->b_cs];
            s *= g->alpha;
            if (g->d) s += (double)g->beta * g->d[i * g->d_rs + j * g->d_cs];
            if (g->r) s += g->r[i * g->ldr + j];
            c[i * g->n + j] = nn_act_ref(&g->act, s);
        }
}

static kiln_cpu *cpus[2]; /* 1 and 3 threads */

/* One random product of the given size through every variant this CPU runs, on 1 and 3
   threads (the double reference is computed once: it dominates under the sanitizers). */
static void check_gemm(int64_t m, int64_t n, int64_t k, int full) {
    int ta = full && kiln_rng_uniform(&rng) < 0.5, tb = full && kiln_rng_uniform(&rng) < 0.5;
    int64_t pad = full ? nn_randint(&rng, 0, 3) : 0; /* row strides larger than the rows */
    float *a = nn_rand(&rng, (m + pad) * (k + pad) + 1, -1, 1), *b = nn_rand(&rng, (k + pad) * (n + pad) + 1, -1, 1);
    int64_t ldc = n + pad;
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    kiln_gemm g = {.m = m, .n = n, .k = k, .a = a, .b = b, .c = c, .ldc = ldc, .alpha = 1.0f};
    if (ta) g.a_rs = 1, g.a_cs = m + pad;
    else g.a_rs = k + pad, g.a_cs = 1;
    if (tb) g.b_rs = 1, g.b_cs = k + pad;
    else g.b_rs = n + pad, g.b_cs = 1;
    float *d = NULL, *r = NULL;
    if (full) {
        if (kiln_rng_uniform(&rng) < 0.5) g.alpha = (float)(kiln_rng_uniform(&rng) * 2 - 1);
        int dk = (int)nn_randint(&rng, 0, 4); /* none, per row, per column, full, scalar */
        d = nn_rand(&rng, m * n + 1, -1, 1);
        g.beta = (float)(kiln_rng_uniform(&rng) * 2);
        if (dk == 1) g.d = d, g.d_rs = 1, g.d_cs = 0;
        if (dk == 2) g.d = d, g.d_rs = 0, g.d_cs = 1;
        if (dk == 3) g.d = d, g.d_rs = n, g.d_cs = 1;
        if (dk == 4) g.d = d, g.d_rs = 0, g.d_cs = 0;
        if (kiln_rng_uniform(&rng) < 0.5) {
            r = nn_rand(&rng, m * n + 1, -1, 1);
            g.r = r, g.ldr = n;
        }
        g.act = nn_rand_act(&rng);
    }
    double *ref = malloc(sizeof(double) * (size_t)(m * n + 1));
    gemm_ref(&g, ref);
    float *packed = malloc(sizeof(float) * (size_t)(m * n + 1));
    for (int v = 0; v < kiln_gemm_variant_count(); v++) {
        if (!kiln_gemm_variant_supported(v)) continue;
        for (int ci = 0; ci < 2; ci++) {
            for (int64_t i = 0; i < m * ldc; i++) c[i] = NAN;
            kiln_err e;
            kiln_status st = kiln_gemm_run_variant(cpus[ci], &g, v, &e);
            CHECK(st == KILN_OK, "gemm: %s", e.msg);
            int pad_ok = 1;
            for (int64_t i = 0; i < m; i++) {
                memcpy(packed + i * n, c + i * ldc, sizeof(float) * (size_t)n);
                for (int64_t j = n; j < ldc; j++)
                    if (!isnan(c[i * ldc + j])) pad_ok = 0;
            }
            double l2 = nn_rel_l2(packed, ref, m * n);
            CHECK(l2 <= 1e-5, "gemm %s (%d threads) m=%lld n=%lld k=%lld ta=%d tb=%d act %d: rel L2 %g",
                  kiln_gemm_variant_name(v), ci ? 3 : 1, (long long)m, (long long)n, (long long)k, ta, tb, g.act.type, l2);
            CHECK(pad_ok, "gemm wrote past n into the row padding");
        }
    }
    free(a), free(b), free(c), free(d), free(r), free(ref), free(packed);
}

static void test_engine(void) {
    static const int64_t sizes[] = {1, 2, 3, 7, 17, 33, 64, 100, 255};
    for (int v = 0; v < kiln_gemm_variant_count(); v++)
        if (!kiln_gemm_variant_supported(v)) printf("variant %s not supported here\n", kiln_gemm_variant_name(v));
    /* Awkward sizes on every dimension, plain first, then with everything random. */
    for (int i = 0; i < 9; i++) {
        int64_t m = sizes[i], n = sizes[(i * 4 + 3) % 9], k = sizes[(i * 7 + 5) % 9];
        check_gemm(m, n, k, 0);
        check_gemm(n, k, m, 1);
    }
    check_gemm(1, 1, 1, 1);
    check_gemm(5, 9, 0, 1); /* K = 0: the epilogue alone */
    /* Larger than one cache block in every direction (K > KC = 256, M > MC <= 256,
       N > NC = 2048). */
    check_gemm(260, 40, 300, 1);
    check_gemm(13, 2100, 9, 0);
    for (int i = 0; i < 8; i++) /* the fused epilogue on full tiles, every activation */
        check_gemm(nn_randint(&rng, 24, 40), nn_randint(&rng, 64, 100), nn_randint(&rng, 1, 40), 1);
}

/* kiln_gemm_serial with caller-provided packing space. */
static void test_serial(void) {
    int64_t m = 29, n = 45, k = 61;
    float *a = nn_rand(&rng, m * k, -1, 1), *b = nn_rand(&rng, k * n, -1, 1), *c = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) c[i] = NAN;
    kiln_gemm g = {.m = m, .n = n, .k = k, .a = a, .a_rs = k, .a_cs = 1, .b = b, .b_rs = n, .b_cs = 1,
                   .c = c, .ldc = n, .alpha = 1.0f};
    float *ws = aligned_alloc(64, (kiln_gemm_serial_floats(&g) * sizeof(float) + 63) & ~(size_t)63);
    kiln_gemm_serial(&g, ws);
    double *ref = malloc(sizeof(double) * (size_t)(m * n));
    gemm_ref(&g, ref);
    CHECK(nn_rel_l2(c, ref, m * n) <= 1e-5, "serial gemm rel L2 %g", nn_rel_l2(c, ref, m * n));
    free(a), free(b), free(c), free(ws), free(ref);
}

/* ---- the Gemm op ---------------------------------------------------------------------------- */

static void test_gemm_op(kiln_cpu *cpu) {
    for (int it = 0; it < 24; it++) {
        int64_t m = nn_randint(&rng, 1, 40), n = nn_randint(&rng, 1, 40), k = nn_randint(&rng, 1, 40);
        nn_node t;
        int cform = it % 6; /* C: absent, [M,N], [N], [1,N], [M,1], scalar */
        int has_res = it % 4 == 3;
        nn_node_init(&t, KILN_OP_GEMM, 13, has_res ? 4 : 3, 1);
        kiln_gemm_attr *a = &t.n.a.gemm;
        a->trans_a = it & 1;
        a->trans_b = (it >> 1) & 1;
        a->alpha = (float)(kiln_rng_uniform(&rng) * 2 - 0.5);
        a->beta = (float)(kiln_rng_uniform(&rng) * 2 - 0.5);
        a->act = nn_rand_act(&rng);
        a->has_residual = has_res;
        kiln_view in[4];
        in[0] = nn_rand_view(&rng, a->trans_a ? NN_SHAPE(k, m) : NN_SHAPE(m, k), -1, 1);
        in[1] = nn_rand_view(&rng, a->trans_b ? NN_SHAPE(n, k) : NN_SHAPE(k, n), -1, 1);
        kiln_shape cs[6] = {{-1, {0}}, NN_SHAPE(m, n), NN_SHAPE(n), NN_SHAPE(1, n), NN_SHAPE(m, 1), {0, {0}}};
        in[2] = cform == 0 ? nn_absent() : nn_rand_view(&rng, cs[cform], -1, 1);
        if (has_res) in[3] = nn_rand_view(&rng, NN_SHAPE(m, n), -1, 1);
        kiln_view out[1];
        kiln_err e;
        CHECK_OK(nn_run(cpu, &t, in, out, &e));
        CHECK(out[0].shape.ndim == 2 && out[0].shape.d[0] == m && out[0].shape.d[1] == n, "Gemm shape");
        double *ref = malloc(sizeof(double) * (size_t)(m * n));
        const float *A = in[0].data, *B = in[1].data, *C = in[2].data;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += (double)(a->trans_a ? A[p * m + i] : A[i * k + p]) * (a->trans_b ? B[j * k + p] : B[p * n + j]);
                s *= a->alpha;
                if (cform) {
                    const kiln_shape *c = &in[2].shape;
                    int64_t ci = c->ndim == 2 && c->d[0] != 1 ? i : 0;
                    int64_t cj = c->ndim >= 1 && c->d[c->ndim - 1] != 1 ? j : 0;
                    int64_t cols = c->ndim >= 1 ? c->d[c->ndim - 1] : 1;
                    s += (double)a->beta * C[ci * cols + cj];
                }
                if (has_res) s += ((const float *)in[3].data)[i * n + j];
                ref[i * n + j] = nn_act_ref(&a->act, s);
            }
        double l2 = nn_rel_l2(out[0].data, ref, m * n);
        CHECK(l2 <= 1e-5, "Gemm m=%lld n=%lld k=%lld ta=%d tb=%d C form %d: rel L2 %g", (long long)m, (long long)n,
              (long long)k, a->trans_a, a->trans_b, cform, l2);
        for (int i = 0; i < t.n.n_in; i++) free(in[i].data);
        free(out[0].data);
        free(ref);
    }
}

/* ---- the MatMul op -------------------------------------------------------------------------- */

static void check_matmul(kiln_cpu *cpu, kiln_shape sa, kiln_shape sb, int res) {
    nn_node t;
    nn_node_init(&t, KILN_OP_MATMUL, 13, res ? 4 : 2, 1);
    t.n.a.gemm.has_residual = res;
    if (res) t.n.a.gemm.act = nn_rand_act(&rng);
    kiln_view in[4] = {nn_rand_view(&rng, sa, -1, 1), nn_rand_view(&rng, sb, -1, 1), nn_absent(), nn_absent()};
    kiln_shape so;
    kiln_err e;
    nn_node probe = t;
    probe.n.a.gemm.has_residual = 0;
    CHECK_OK(nn_infer(&probe, in, &so, NULL, &e));
    if (res) in[3] = nn_rand_view(&rng, so, -1, 1);
    kiln_view out[1];
    CHECK_OK(nn_run(cpu, &t, in, out, &e));
    /* Reference: promote 1-D operands, broadcast batch dims. */
    int ra = sa.ndim, rb = sb.ndim;
    int64_t m = ra >= 2 ? sa.d[ra - 2] : 1, k = sa.d[ra - 1], n = rb >= 2 ? sb.d[rb - 1] : 1;
    int nba = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0, nbo = nba > nbb ? nba : nbb;
    int64_t nb = 1, bd[KILN_MAX_DIMS];
    for (int i = 0; i < nbo; i++) {
        int ia = i - (nbo - nba), ib = i - (nbo - nbb);
        int64_t da = ia >= 0 ? sa.d[ia] : 1, db = ib >= 0 ? sb.d[ib] : 1;
        bd[i] = da > db ? da : db;
        nb *= bd[i];
    }
    int64_t total = nb * m * n;
    CHECK(kiln_shape_numel(&out[0].shape) == total, "MatMul output size");
    double *ref = malloc(sizeof(double) * (size_t)(total + 1));
    const float *A = in[0].data, *B = in[1].data;
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t rem = bi, oa = 0, ob = 0, sa_el = m * k, sb_el = k * n;
        for (int i = nbo - 1; i >= 0; i--) {
            int64_t c = rem % bd[i];
            rem /= bd[i];
            int ia = i - (nbo - nba), ib = i - (nbo - nbb);
            if (ia >= 0) oa += (sa.d[ia] == 1 ? 0 : c) * sa_el, sa_el *= sa.d[ia];
            if (ib >= 0) ob += (sb.d[ib] == 1 ? 0 : c) * sb_el, sb_el *= sb.d[ib];
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) s += (double)A[oa + i * k + p] * B[ob + p * n + j];
                int64_t o = (bi * m + i) * n + j;
                if (res) s += ((const float *)in[3].data)[o];
                ref[o] = nn_act_ref(&t.n.a.gemm.act, s);
            }
    }
    char b1[64], b2[64];
    double l2 = nn_rel_l2(out[0].data, ref, total);
    CHECK(l2 <= 1e-5, "MatMul %s x %s: rel L2 %g", kiln_shape_str(&sa, b1, sizeof b1), kiln_shape_str(&sb, b2, sizeof b2), l2);
    for (int i = 0; i < 4; i++) free(in[i].data);
    free(out[0].data);
    free(ref);
}

static void test_matmul(kiln_cpu *cpu) {
    check_matmul(cpu, NN_SHAPE(7), NN_SHAPE(7), 0);             /* dot product -> scalar */
    check_matmul(cpu, NN_SHAPE(9), NN_SHAPE(9, 5), 0);          /* vector x matrix */
    check_matmul(cpu, NN_SHAPE(4, 9), NN_SHAPE(9), 0);          /* matrix x vector */
    check_matmul(cpu, NN_SHAPE(3, 9), NN_SHAPE(2, 9, 4), 0);    /* 2-D A broadcast over B's batch */
    check_matmul(cpu, NN_SHAPE(2, 3, 5, 8), NN_SHAPE(8, 6), 1); /* batches folded into M, residual */
    check_matmul(cpu, NN_SHAPE(2, 1, 5, 8), NN_SHAPE(3, 8, 6), 1);
    check_matmul(cpu, NN_SHAPE(4, 1, 17, 33), NN_SHAPE(1, 5, 33, 20), 0);
    check_matmul(cpu, NN_SHAPE(6, 9), NN_SHAPE(5, 9, 1), 0);
    check_matmul(cpu, NN_SHAPE(5, 7), NN_SHAPE(4, 2, 7, 3), 0);
    check_matmul(cpu, NN_SHAPE(3, 70, 40), NN_SHAPE(3, 40, 50), 1);
    for (int i = 0; i < 6; i++) {
        int64_t b = nn_randint(&rng, 1, 4), m = nn_randint(&rng, 1, 20), k = nn_randint(&rng, 1, 20), n = nn_randint(&rng, 1, 20);
        check_matmul(cpu, NN_SHAPE(b, m, k), NN_SHAPE(b, k, n), i & 1);
    }
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    cpus[0] = kiln_cpu_create(1);
    cpus[1] = kiln_cpu_create(3);
    test_engine();
    for (int ci = 0; ci < 2; ci++) {
        test_gemm_op(cpus[ci]);
        test_matmul(cpus[ci]);
        kiln_cpu_destroy(cpus[ci]);
    }
    test_serial();
    return test_done();
}
