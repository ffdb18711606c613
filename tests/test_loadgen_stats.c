/* Load generator statistics: LoadGen's percentile rule, latency summaries, the binomial CDF and
 * MLPerf early stopping, each checked against an independent computation written here (plain
 * term-by-term binomial sums, LoadGen's own loop run literally) and against figures taken from
 * real LoadGen summaries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "test.h"

/* ---- independent reference: the binomial CDF as a plain sum of every term ---- */

static double ref_cdf(int64_t n, int64_t k, double q) {
    if (k >= n) return 1;
    double lf = lgamma((double)n + 1), lq = log(q), lp = log(1 - q);
    /* log-sum-exp over x = 0..k */
    double mx = -INFINITY;
    for (int64_t x = 0; x <= k; x++) {
        double t = lf - lgamma((double)x + 1) - lgamma((double)(n - x) + 1) + x * lq + (n - x) * lp;
        if (t > mx) mx = t;
    }
    double s = 0;
    for (int64_t x = 0; x <= k; x++) {
        double t = lf - lgamma((double)x + 1) - lgamma((double)(n - x) + 1) + x * lq + (n - x) * lp;
        s += exp(t - mx);
    }
    return exp(mx) * s;
}

/* LoadGen's early_stopping.cc semantics by brute force: the least h with
   P[Binomial(h + t, 1 - p) <= t] < 1 - c, searched upward from `from`. */
static int64_t ref_min_passing(int64_t t, double p, double c, int64_t from) {
    for (int64_t h = from > 1 ? from : 1;; h++)
        if (ref_cdf(h + t, t, 1 - p) < 1 - c) return h;
}

/* LoadGen's SingleStream loop, literally: for i = 2.. until n < h(i) + i. Returns t. */
static int64_t ref_es_t(int64_t n, double p, double c, int64_t *hmin) {
    int64_t h = ref_min_passing(1, p, c, 1);
    *hmin = h;
    if (n < h + 1) return -1;
    for (int64_t i = 2; i < n + 1; i++) {
        h = ref_min_passing(i, p, c, h); /* h(i) grows with i */
        if (n < h + i) return i - 1;
    }
    return 1;
}

static void test_percentiles(void) {
    int64_t a[10] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    CHECK(kiln_lg_percentile(a, 10, 0.50) == 60, "p50 of 10 values is the 6th");
    CHECK(kiln_lg_percentile(a, 10, 0.90) == 100, "p90 of 10 values is index 9");
    CHECK(kiln_lg_percentile(a, 10, 0.999) == 100, "p99.9 of 10 values");
    CHECK(kiln_lg_percentile(a, 10, 0.0) == 10, "p0");
    CHECK(kiln_lg_percentile(a, 1, 0.99) == 10, "one value");
    int64_t *b = malloc(1000 * sizeof *b);
    for (int i = 0; i < 1000; i++) b[i] = i + 1;
    CHECK(kiln_lg_percentile(b, 1000, 0.90) == 901, "p90 of 1..1000 = %lld",
          (long long)kiln_lg_percentile(b, 1000, 0.90));
    CHECK(kiln_lg_percentile(b, 1000, 0.999) == 1000, "p99.9 of 1..1000");
    CHECK(kiln_lg_percentile(b, 1000, 0.5) == 501, "p50 of 1..1000");
    free(b);

    /* Random sets: the value at index floor(n p) of the sorted set is the v with
       #(x < v) <= floor(n p) < #(x <= v); count that without sorting. */
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(kiln_rng_uniform(&r) * 3000);
        int64_t *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        for (size_t i = 0; i < n; i++) x[i] = y[i] = (int64_t)(kiln_rng_uniform(&r) * 500); /* ties */
        kiln_lg_latency_stats st;
        kiln_lg_latency_stats_compute(y, n, 0.9, &st);
        for (int k = 0; k < KILN_LG_NPCT; k++) {
            double p = kiln_lg_percentiles[k];
            size_t rank = (size_t)((double)n * p);
            if (rank >= n) rank = n - 1;
            int64_t v = st.pct_ns[k];
            size_t below = 0, at_or_below = 0;
            for (size_t i = 0; i < n; i++) {
                below += x[i] < v;
                at_or_below += x[i] <= v;
            }
            if (!(below <= rank && rank < at_or_below)) bad++;
        }
        int64_t mn = x[0], mx = x[0], sum = 0;
        for (size_t i = 0; i < n; i++) {
            mn = x[i] < mn ? x[i] : mn;
            mx = x[i] > mx ? x[i] : mx;
            sum += x[i];
        }
        if (st.min_ns != mn || st.max_ns != mx || st.mean_ns != sum / (int64_t)n || st.count != n)
            bad++;
        free(x);
        free(y);
    }
    CHECK(bad == 0, "%d percentile/summary mismatches on random sets", bad);
    kiln_lg_latency_stats st;
    kiln_lg_latency_stats_compute(NULL, 0, 0.9, &st);
    CHECK(st.count == 0 && st.max_ns == 0, "empty set gives zeros");
}

static void test_binomial(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed() + 1);
    double worst = 0;
    for (int trial = 0; trial < 300; trial++) {
        int64_t n = 1 + (int64_t)(kiln_rng_uniform(&r) * (trial < 200 ? 400 : 20000));
        int64_t k = (int64_t)(kiln_rng_uniform(&r) * (double)(n + 1));
        double q = trial % 3 == 0 ? 0.01 : trial % 3 == 1 ? 0.1 : kiln_rng_uniform(&r) * 0.98 + 0.01;
        double a = kiln_lg_binomial_cdf(n, k, q), b = ref_cdf(n, k, q);
        double err = fabs(a - b) / fmax(b, 1e-300);
        if (b < 1e-250) err = fabs(a - b) < 1e-250 ? 0 : 1;
        if (err > worst) worst = err;
    }
    CHECK(worst < 1e-9, "binomial CDF relative error %g", worst);
    CHECK(kiln_lg_binomial_cdf(10, -1, 0.5) == 0 && kiln_lg_binomial_cdf(10, 10, 0.5) == 1,
          "CDF edges");
    CHECK_CLOSE(kiln_lg_binomial_cdf(10, 0, 0.5), 1.0 / 1024, 1e-15);
    CHECK_CLOSE(kiln_lg_binomial_cdf(3, 1, 0.5), 0.5, 1e-15);
}

static void test_min_passing(void) {
    /* Known from LoadGen summaries: p90 needs 64 queries, p99 needs 662; a Server run with no
       query over latency needs 459 (21 processed -> "at least 438 more"). */
    CHECK(kiln_lg_es_min_passing(1, 0.90, 0, 0.99) + 1 == 64, "p90 h(1) + 1 = 64");
    CHECK(kiln_lg_es_min_passing(1, 0.99, 0, 0.99) + 1 == 662, "p99 h(1) + 1 = 662");
    CHECK(kiln_lg_es_min_passing(0, 0.99, 0, 0.99) == 459, "server t=0: 459, got %lld",
          (long long)kiln_lg_es_min_passing(0, 0.99, 0, 0.99));
    int bad = 0;
    int64_t prev = 1;
    for (int64_t t = 0; t <= 60; t++) {
        int64_t h = kiln_lg_es_min_passing(t, 0.9, 0, 0.99);
        int64_t ref = ref_min_passing(t, 0.9, 0.99, prev > 1 ? prev - 1 : 1);
        if (h != ref) {
            bad++;
            fprintf(stderr, "t=%lld: h=%lld ref=%lld\n", (long long)t, (long long)h, (long long)ref);
        }
        prev = ref;
    }
    CHECK(bad == 0, "h(t) for p90, t = 0..60, differs from brute force %d times", bad);
    for (int64_t t = 0; t <= 40; t += 5) {
        int64_t h = kiln_lg_es_min_passing(t, 0.99, 0, 0.99);
        CHECK(h == ref_min_passing(t, 0.99, 0.99, h - 3 > 1 ? h - 3 : 1) &&
                  ref_cdf(h - 1 + t, t, 0.01) >= 0.01,
              "p99 h(%lld) = %lld is the least passing", (long long)t, (long long)h);
    }
}

static void test_estimates(void) {
    /* n -> highest latencies discarded, from real LoadGen summaries. */
    static const struct { int64_t n; double p; int64_t discard; } known[] = {
        {201, 0.90, 9},        {100, 0.90, 2},          {2048, 0.90, 172},
        {2145, 0.90, 181},     {7469, 0.90, 685},       {79944, 0.90, 7796},
        {4776846, 0.90, 476158}, {1179125, 0.99, 11539}, {2091550, 0.99, 20579}};
    int64_t *lat = malloc(4776846 * sizeof *lat);
    for (int64_t i = 0; i < 4776846; i++) lat[i] = i + 1; /* sorted: value = rank + 1 */
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int64_t need, discard;
        int64_t est = kiln_lg_es_estimate(lat, (size_t)known[i].n, known[i].p, 0, 0.99, &need, &discard);
        CHECK(discard == known[i].discard, "n=%lld p=%g: discard %lld, LoadGen %lld",
              (long long)known[i].n, known[i].p, (long long)discard, (long long)known[i].discard);
        /* estimate = sorted[n - t] with t = discard + 1 */
        CHECK(est == known[i].n - known[i].discard, "n=%lld: estimate %lld", (long long)known[i].n,
              (long long)est);
        CHECK(need == (known[i].p < 0.95 ? 64 : 662), "min queries %lld", (long long)need);
    }
    int64_t need, discard;
    CHECK(kiln_lg_es_estimate(lat, 63, 0.9, 0, 0.99, &need, &discard) == -1 && need == 64,
          "63 queries give no p90 estimate");
    CHECK(kiln_lg_es_estimate(lat, 64, 0.9, 0, 0.99, &need, &discard) == 64 && discard == 0,
          "64 queries: the maximum is the estimate");

    /* LoadGen's loop run literally on assorted n. */
    int bad = 0;
    int64_t ns[] = {64, 65, 90, 150, 333, 512, 1000, 1777, 3000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int64_t hmin, t = ref_es_t(ns[i], 0.9, 0.99, &hmin);
        kiln_lg_es_estimate(lat, (size_t)ns[i], 0.9, 0, 0.99, &need, &discard);
        if (t - 1 != discard || need != hmin + 1) {
            bad++;
            fprintf(stderr, "n=%lld: discard %lld, reference %lld\n", (long long)ns[i],
                    (long long)discard, (long long)(t - 1));
        }
    }
    int64_t hmin, t = ref_es_t(1500, 0.99, 0.99, &hmin);
    kiln_lg_es_estimate(lat, 1500, 0.99, 0, 0.99, &need, &discard);
    if (t - 1 != discard || need != hmin + 1) bad++;
    CHECK(bad == 0, "%d estimates differ from LoadGen's loop", bad);
    free(lat);
}

int main(void) {
    test_percentiles();
    test_binomial();
    test_min_passing();
    test_estimates();
    return test_done();
}
