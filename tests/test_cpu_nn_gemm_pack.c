/* The GEMM engine's engine-level features against double references: A packed beforehand
 * (kiln_gemm_pack_a_variant, planned for 1..3 threads) for every micro-kernel variant this CPU
 * runs, column blocks (a batch of images side by side in N, crossing tiles), the column pieces
 * after the last full panel (half-width tiles and the row-vector strip: N = 1..70, 196, ...),
 * both thread splits (N split, M split) on 1, 2 and 3 threads, with the fused epilogue. */
#include "backend/cpu/cpu_gemm.h"
#include "cpu_nn_testutil.h"

static kiln_rng rng;
static kiln_cpu *cpus[3]; /* 1, 2, 3 threads */

/* Column j of a blocked matrix: offset of block j / cb plus j % cb. */
static int64_t bcol(int64_t j, int64_t cb, int64_t bs) { return cb > 0 ? (j / cb) * bs + j % cb : j; }

/* m x n x k with column blocks of cb (0: none); A packed for `parts` threads (0: not packed). */
static void check(int64_t m, int64_t n, int64_t k, int64_t cb, int parts, int epi) {
    int64_t nblk = cb > 0 ? (n + cb - 1) / cb : 1, w = cb > 0 ? cb : n;
    int64_t ldb = w + 1, ldc = w + 2, b_bs = k * ldb + 3, c_bs = m * ldc + 5; /* gaps: strides matter */
    float *a = nn_rand(&rng, m * k + 1, -1, 1), *b = nn_rand(&rng, nblk * b_bs + 1, -1, 1);
    float *c = malloc(sizeof(float) * (size_t)(nblk * c_bs + 1)), *r = nn_rand(&rng, nblk * c_bs + 1, -1, 1);
    float *d = nn_rand(&rng, m + 1, -1, 1);
    kiln_gemm g = {.m = m, .n = n, .k = k, .a = a, .a_rs = k, .a_cs = 1, .b = b, .b_rs = ldb, .b_cs = 1,
                   .c = c, .ldc = ldc, .alpha = 1.0f, .col_block = cb, .b_bs = b_bs, .c_bs = c_bs, .r_bs = c_bs};
    if (epi) {
        g.d = d, g.d_rs = 1, g.d_cs = 0, g.beta = 1.0f;
        g.r = r, g.ldr = ldc;
        g.act = nn_rand_act(&rng);
    }
    double *ref = malloc(sizeof(double) * (size_t)(m * n + 1));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) s += (double)a[i * k + p] * b[bcol(j, cb, b_bs) + p * ldb];
            if (epi) s = nn_act_ref(&g.act, s + d[i] + r[bcol(j, cb, c_bs) + i * ldc]);
            ref[i * n + j] = s;
        }
    float *got = malloc(sizeof(float) * (size_t)(m * n + 1));
    for (int v = 0; v < kiln_gemm_variant_count(); v++) {
        if (!kiln_gemm_variant_supported(v)) continue;
        kiln_gemm_apack *ap = parts ? kiln_gemm_pack_a_variant(v, a, m, k, k, 1, parts) : NULL;
        CHECK(!parts || ap, "pack_a %s", kiln_gemm_variant_name(v));
        CHECK(!ap || kiln_gemm_apack_bytes(ap) >= (size_t)(m * k) * sizeof(float), "apack bytes");
        g.ap = ap;
        for (int ci = 0; ci < 3; ci++) {
            for (int64_t i = 0; i < nblk * c_bs + 1; i++) c[i] = NAN;
            kiln_err e;
            CHECK(kiln_gemm_run_variant(cpus[ci], &g, v, &e) == KILN_OK, "gemm: %s", e.msg);
            int untouched = 1; /* padding between rows and blocks stays NaN */
            for (int64_t q = 0; q < nblk; q++)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t jj = 0; jj < ldc; jj++) {
                        float x = c[q * c_bs + i * ldc + jj];
                        int64_t j = q * w + jj;
                        if (jj < w && j < n) got[i * n + j] = x;
                        else if (!isnan(x)) untouched = 0;
                    }
            double l2 = nn_rel_l2(got, ref, m * n);
            CHECK(l2 <= 1e-5, "gemm %s (%d threads) m=%lld n=%lld k=%lld blocks of %lld, packed for %d, epi %d: rel L2 %g",
                  kiln_gemm_variant_name(v), ci + 1, (long long)m, (long long)n, (long long)k, (long long)cb, parts,
                  epi, l2);
            CHECK(untouched, "gemm wrote outside C (m=%lld n=%lld blocks of %lld)", (long long)m, (long long)n,
                  (long long)cb);
        }
        kiln_gemm_apack_free(ap);
    }
    free(a), free(b), free(c), free(r), free(d), free(ref), free(got);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    for (int i = 0; i < 3; i++) cpus[i] = kiln_cpu_create(i + 1);
    /* Column pieces: every tail width up to two panels, and the shapes of 7x7 / 14x14 maps. */
    for (int64_t n = 1; n <= 70; n++) check(nn_randint(&rng, 1, 30), n, nn_randint(&rng, 1, 40), 0, 0, n % 3 == 0);
    check(64, 196, 300, 0, 2, 1);
    check(100, 49, 520, 0, 3, 1);
    /* Prepacked A: rows that need the shorter slivers, parts for 1..3 threads, K over blocks. */
    static const int64_t ms[] = {1, 4, 7, 8, 12, 20, 64, 100, 257};
    for (int i = 0; i < 9; i++)
        for (int parts = 1; parts <= 3; parts++)
            check(ms[i], nn_randint(&rng, 1, 90), nn_randint(&rng, 1, 300), 0, parts, parts != 2);
    /* Column blocks: blocks narrower and wider than a panel, tiles across block ends. */
    check(30, 3 * 49, 50, 49, 0, 1);
    check(30, 2 * 49 + 20, 50, 49, 2, 1);
    check(17, 5 * 7, 33, 7, 1, 0);
    check(40, 2 * 100, 20, 100, 3, 1);
    /* M split (few columns, many rows) and N split (many columns), packed and not. */
    check(520, 40, 200, 0, 0, 1);
    check(520, 40, 200, 0, 2, 1);
    check(24, 1500, 40, 0, 2, 1);
    check(260, 2 * 196, 64, 196, 2, 1);
    for (int i = 0; i < 3; i++) kiln_cpu_destroy(cpus[i]);
    return test_done();
}
