/* stats.c — latency statistics and MLPerf early stopping.
 *
 * Percentiles are LoadGen's: sort ascending, take element (size_t)(n * p). For n = 10 and
 * p = 0.9 that is the 10th value (the maximum); it is a nearest-rank rule rounded up by one
 * when n * p is whole, and rounded down otherwise.
 *
 * Early stopping (MLPerf Inference rules, "Early stopping"; LoadGen early_stopping.cc):
 * treat each query as a coin flip that lands "over latency" with probability 1 - p when the
 * system's true p-th percentile is exactly at the bound. Having seen t queries over and h under,
 * we may claim the percentile is met with confidence c if seeing at most t over out of h + t
 * would be unlikely for such a system:
 *
 *     odds(h, t) = P[Binomial(h + t, 1 - (p - d)) <= t] < 1 - c      (c = 0.99, d = 0)
 *
 * LoadGen evaluates odds as a regularized incomplete beta, I_{p-d}(h, t + 1), which is the same
 * binomial CDF. h(t) = the fewest under-latency queries that satisfy it for t over-latency ones.
 *   - Server: t = queries over the latency bound; valid only if queries >= h(t) + t.
 *   - SingleStream / MultiStream (no bound, an estimate instead): with n queries, the largest t
 *     with h(t) + t <= n says we can set aside the t - 1 slowest and still claim, with
 *     confidence c, that the p-th percentile is at most the t-th slowest latency,
 *     sorted[n - t]. Fewer than h(1) + 1 queries give no estimate (64 for p90, 662 for p99).
 * Since P[Binomial(m, q) <= t] falls as m grows, "h(t) + t <= n" is the same as
 * "P[Binomial(n, 1 - p) <= t] < 1 - c", which lets the largest t be found by bisection.
 *
 * The binomial CDF is summed exactly from its largest term outward (in relative terms, so
 * nothing underflows), walking down from k when k is below the mean and summing the upper tail
 * from k + 1 otherwise; either way the terms shrink geometrically and a few thousand suffice
 * even for millions of queries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lg_internal.h"

const double kiln_lg_percentiles[KILN_LG_NPCT] = {0.50, 0.90, 0.95, 0.97, 0.99, 0.999};

int64_t kiln_lg_percentile(const int64_t *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)((double)n * p);
    return sorted[i < n ? i : n - 1];
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void kiln_lg_latency_stats_compute(int64_t *lat, size_t n, double target_p,
                                   kiln_lg_latency_stats *st) {
    memset(st, 0, sizeof *st);
    if (n == 0) return;
    qsort(lat, n, sizeof *lat, cmp_i64);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += lat[i];
    st->count = n;
    st->min_ns = lat[0];
    st->max_ns = lat[n - 1];
    st->mean_ns = sum / (int64_t)n;
    for (int i = 0; i < KILN_LG_NPCT; i++)
        st->pct_ns[i] = kiln_lg_percentile(lat, n, kiln_lg_percentiles[i]);
    st->target_pct_ns = kiln_lg_percentile(lat, n, target_p);
}

static double log_pmf(int64_t n, int64_t x, double q) {
    return lgamma((double)n + 1) - lgamma((double)x + 1) - lgamma((double)(n - x) + 1) +
           (double)x * log(q) + (double)(n - x) * log1p(-q);
}

double kiln_lg_binomial_cdf(int64_t n, int64_t k, double q) {
    if (k < 0) return 0;
    if (k >= n) return 1;
    if (q <= 0) return 1;
    if (q >= 1) return 0;
    double odds_down = (1 - q) / q; /* pmf(x-1)/pmf(x) = x/(n-x+1) * (1-q)/q */
    if ((double)k <= (double)n * q) {
        double rel = 1, sum = 1;
        for (int64_t x = k; x > 0; x--) {
            rel *= (double)x / (double)(n - x + 1) * odds_down;
            sum += rel;
            if (rel < sum * 1e-17) break;
        }
        return fmin(1.0, exp(log_pmf(n, k, q)) * sum);
    }
    double rel = 1, sum = 1;
    for (int64_t x = k + 1; x < n; x++) { /* pmf(x+1)/pmf(x) = (n-x)/(x+1) * q/(1-q) */
        rel *= (double)(n - x) / (double)(x + 1) / odds_down;
        sum += rel;
        if (rel < sum * 1e-17) break;
    }
    return fmax(0.0, 1.0 - exp(log_pmf(n, k + 1, q)) * sum);
}

static int es_passes(int64_t h, int64_t t, double p, double d, double c) {
    return kiln_lg_binomial_cdf(h + t, t, 1 - (p - d)) < 1 - c;
}

int64_t kiln_lg_es_min_passing(int64_t t, double p, double d, double c) {
    if (t < 0) t = 0;
    /* odds falls as h grows: double to bracket, then bisect for the first passing h. */
    int64_t lo = 0, hi = 1;
    while (!es_passes(hi, t, p, d, c)) {
        lo = hi;
        if (hi > ((int64_t)1 << 60)) return hi; /* p - d at 1: nothing ever passes */
        hi *= 2;
    }
    while (hi - lo > 1) { /* invariant: lo fails (or is 0), hi passes */
        int64_t m = lo + (hi - lo) / 2;
        if (es_passes(m, t, p, d, c)) hi = m;
        else lo = m;
    }
    return hi;
}

int64_t kiln_lg_es_estimate(const int64_t *sorted, size_t n, double p, double d, double c,
                            int64_t *min_queries, int64_t *discard) {
    int64_t h1 = kiln_lg_es_min_passing(1, p, d, c);
    if (min_queries) *min_queries = h1 + 1;
    if (discard) *discard = 0;
    if ((int64_t)n < h1 + 1) return -1;
    /* Largest t in [1, n - 1] with h(t) + t <= n, i.e. CDF(n, t, 1 - (p - d)) < 1 - c;
       t = 1 holds because n >= h(1) + 1. */
    int64_t lo = 1, hi = (int64_t)n - 1;
    while (lo < hi) {
        int64_t m = lo + (hi - lo + 1) / 2;
        if (kiln_lg_binomial_cdf((int64_t)n, m, 1 - (p - d)) < 1 - c) lo = m;
        else hi = m - 1;
    }
    if (discard) *discard = lo - 1;
    return sorted[(int64_t)n - lo];
}
