/* Server find-peak on the fake clock: a single FIFO worker taking 1 ms per sample can serve
 * under 1000 QPS; the load generator must find the highest target QPS whose p99 latency (from
 * the scheduled time) stays within 15 ms. The test re-simulates that queue on its own to
 * confirm the answer passes, and that a clearly higher rate fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "loadgen_sim.h"
#include "test.h"

/* Independent M/D/1 replay of one run: arrivals from the documented generator until one is
   scheduled at or after `dur_ns`; returns the p99 latency (LoadGen's percentile rule). */
static int64_t replay_p99(uint64_t seed, double qps, uint64_t dur_ns, size_t *count) {
    kiln_rng r;
    kiln_rng_seed(&r, seed);
    size_t cap = 1024, n = 0;
    int64_t *lat = malloc(cap * sizeof *lat);
    uint64_t t = 0, busy = 0;
    for (;;) {
        uint64_t start = t > busy ? t : busy;
        busy = start + 1000000;
        if (n == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
        lat[n++] = (int64_t)(busy - t);
        if (t >= dur_ns) break;
        double u = kiln_rng_uniform(&r);
        t += (uint64_t)(-log1p(-u) / qps * 1e9);
    }
    kiln_lg_latency_stats st;
    kiln_lg_latency_stats_compute(lat, n, 0.99, &st);
    free(lat);
    *count = n;
    return st.target_pct_ns;
}

int main(void) {
    sim_sut sim;
    sim_init(&sim, 1, 1000000);
    sim_qsl q;
    sim_qsl_init(&q, 1024, 1024);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SERVER);
    st.mode = KILN_LG_FIND_PEAK;
    st.server_target_qps = 100;
    st.duration_ms = 3000;
    char dir[1024], path[1200];
    fresh_dir("loadgen_peak", dir, sizeof dir);
    CHECK_OK(kiln_lg_set_log_dir(sim.lg, dir));
    kiln_lg_result r;
    kiln_status s = kiln_lg_run(sim.lg, &sut, &qsl, &st, &r);
    CHECK(s == KILN_OK, "find peak: %s", kiln_lg_errmsg(sim.lg));
    printf("peak %.3f QPS after %d runs, p99 %lld ns\n", r.peak_qps, r.find_peak_runs,
           (long long)r.sample_latency.target_pct_ns);
    CHECK(r.settings.mode == KILN_LG_FIND_PEAK && r.peak_qps > 600 && r.peak_qps < 1000,
          "peak %g QPS is below the 1000 QPS capacity and well above the start", r.peak_qps);
    CHECK(r.perf_constraints_met && r.sample_latency.target_pct_ns <= 15000000, "peak run meets the bound");
    CHECK(r.find_peak_runs >= 10, "widened then bisected (%d runs)", r.find_peak_runs);
    CHECK(r.effective.target_qps == r.peak_qps, "the result is the run at the peak");

    size_t n;
    int64_t p99 = replay_p99(st.schedule_rng_seed, r.peak_qps, 3000000000ull, &n);
    CHECK(p99 == r.sample_latency.target_pct_ns && n == r.query_count,
          "independent replay at the peak: p99 %lld (%zu queries) vs %lld (%llu)", (long long)p99, n,
          (long long)r.sample_latency.target_pct_ns, (unsigned long long)r.query_count);
    CHECK(replay_p99(st.schedule_rng_seed, r.peak_qps * 1.2, 3000000000ull, &n) > 15000000,
          "20%% above the peak misses the bound");

    snprintf(path, sizeof path, "%s/mlperf_log_summary.txt", dir);
    char *text = read_file(path), v[64];
    CHECK(text && summary_value(text, "Mode", v, sizeof v) && !strcmp(v, "FindPeakPerformance"),
          "summary mode");
    CHECK(text && summary_value(text, "Peak target QPS (find peak)", v, sizeof v) &&
              fabs(atof(v) - r.peak_qps) < 0.06,
          "summary peak line '%s'", text ? v : "");
    free(text);

    /* A start that already misses the bound is refused, with that run reported. */
    sim_reset_records(&sim);
    st.server_target_qps = 2000;
    st.duration_ms = 500;
    s = kiln_lg_run(sim.lg, &sut, &qsl, &st, &r);
    CHECK(s == KILN_ERR_RANGE && strstr(kiln_lg_errmsg(sim.lg), "start lower") &&
              !r.perf_constraints_met,
          "start above capacity: %s", kiln_lg_errmsg(sim.lg));
    free(q.loaded);
    sim_free(&sim);
    return test_done();
}
