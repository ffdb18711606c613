/* Load generator scenarios on the fake clock with a simulated SUT whose latencies the test
 * chooses, so every figure is checked against what the test computes on its own: query shapes
 * (SingleStream one at a time, MultiStream 8 contiguous samples after the previous completes,
 * Offline one query of all samples, Server Poisson arrivals), latencies (Server's from the
 * scheduled time), throughput, and the validity decisions. No real time passes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lg_internal.h"
#include "loadgen_sim.h"
#include "test.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* A deterministic spread of service times: 2 ms .. 5 ms, by the sample's arrival number. */
static uint64_t svc_spread(sim_sut *s, uint64_t idx, uint64_t n) {
    (void)s;
    (void)idx;
    uint64_t h = (n + 1) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return 2000000 + (h % 3000000);
}

static int has_reason(const kiln_lg_result *r, const char *needle) {
    for (int i = 0; i < r->n_reasons; i++)
        if (strstr(r->reasons[i], needle)) return 1;
    return 0;
}

static void test_single_stream(void) {
    sim_sut sim;
    sim_init(&sim, 0, 0);
    sim.service = svc_spread;
    sim_qsl q;
    sim_qsl_init(&q, 5000, 512);
    sim.loaded = q.loaded;
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SINGLE_STREAM);
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));

    /* The expected run: issue at t, the next at t + latency; stop once issued at >= 1 s with
       >= 100 queries. */
    uint64_t t = 0, k = 0, last_issue = 0;
    for (;;) {
        last_issue = t;
        k++;
        if (k >= 100 && t >= 1000000000ull) break;
        t += svc_spread(NULL, 0, k - 1);
    }
    CHECK(r.query_count == k && r.sample_count == k && sim.n_recs == k,
          "queries %llu, expected %llu", (unsigned long long)r.query_count, (unsigned long long)k);
    int shape = 0;
    for (size_t i = 0; i < sim.n_recs; i++)
        shape += sim.recs[i].n != 1 || sim.recs[i].outstanding_before != 0;
    CHECK(shape == 0, "%d queries were not one sample with none outstanding", shape);
    uint64_t *lat = malloc(k * sizeof *lat);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < k; i++) sum += lat[i] = svc_spread(NULL, 0, i);
    qsort(lat, k, sizeof *lat, cmp_u64);
    CHECK(r.sample_latency.pct_ns[KILN_LG_P90] == (int64_t)lat[(size_t)(k * 0.9)] &&
              r.metric == (double)lat[(size_t)(k * 0.9)],
          "p90 %lld, expected %llu", (long long)r.sample_latency.pct_ns[KILN_LG_P90],
          (unsigned long long)lat[(size_t)(k * 0.9)]);
    int pbad = 0;
    for (int i = 0; i < KILN_LG_NPCT; i++) {
        size_t at = (size_t)((double)k * kiln_lg_percentiles[i]);
        pbad += r.sample_latency.pct_ns[i] != (int64_t)lat[at < k ? at : k - 1];
    }
    CHECK(pbad == 0, "%d percentiles differ", pbad);
    CHECK(r.sample_latency.min_ns == (int64_t)lat[0] && r.sample_latency.max_ns == (int64_t)lat[k - 1] &&
              r.sample_latency.mean_ns == (int64_t)(sum / k),
          "min/max/mean");
    CHECK_CLOSE(r.final_query_issued_s, last_issue / 1e9, 1e-12);
    CHECK_CLOSE(r.qps_with_loadgen_overhead, (double)(k - 1) / (last_issue / 1e9), 1e-9);
    CHECK_CLOSE(r.qps_without_loadgen_overhead, 1e9 / (double)(sum / k), 1e-9);
    CHECK(r.valid && r.min_duration_met && r.min_queries_met && r.early_stopping_met,
          "run is VALID (%s)", r.n_reasons ? r.reasons[0] : "");
    int64_t need, discard;
    int64_t *sl = malloc(k * sizeof *sl);
    for (uint64_t i = 0; i < k; i++) sl[i] = (int64_t)lat[i];
    int64_t est = kiln_lg_es_estimate(sl, k, 0.9, 0, 0.99, &need, &discard);
    CHECK(r.es_target_estimate_ns == est && r.es_discarded == discard && r.es_min_queries == 64,
          "early stopping figures");
    CHECK(strstr(r.es_text, "Processed at least 64 queries") != NULL, "es text: %s", r.es_text);
    CHECK(sim.not_loaded == 0 && q.bad == 0 && q.n_loaded == 0 && q.max_loaded == 512,
          "samples drawn from the loaded set only (not loaded %llu, max loaded %llu)",
          (unsigned long long)sim.not_loaded, (unsigned long long)q.max_loaded);
    CHECK(sim.flushes == 1, "flush once");

    /* Determinism: the same settings give the same samples and the same figures. */
    uint64_t *first = malloc(k * sizeof *first);
    memcpy(first, sim.indices, k * sizeof *first);
    sim_reset_records(&sim);
    kiln_lg_result r2;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r2));
    CHECK(r2.query_count == k && !memcmp(first, sim.indices, k * sizeof *first) &&
              r2.metric == r.metric,
          "a second run repeats the first");
    /* A different sample_index_rng_seed changes the order, not the set. */
    sim_reset_records(&sim);
    st.sample_index_rng_seed = 1;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r2));
    CHECK(memcmp(first, sim.indices, k * sizeof *first) != 0 && sim.not_loaded == 0,
          "another seed, another order");
    free(first);
    free(sl);
    free(lat);
    free(q.loaded);
    sim_free(&sim);
}

/* 1 ms + (index % 5) * 0.1 ms: a query's latency is its slowest sample. */
static uint64_t svc_by_index(sim_sut *s, uint64_t idx, uint64_t n) {
    (void)s;
    (void)n;
    return 1000000 + (idx % 5) * 100000;
}

static void test_multi_stream(void) {
    sim_sut sim;
    sim_init(&sim, 0, 0);
    sim.service = svc_by_index;
    sim_qsl q;
    sim_qsl_init(&q, 1000, 100);
    sim.loaded = q.loaded;
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_MULTI_STREAM);
    st.min_duration_ms = 500;
    st.min_query_count = 700;
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));

    /* Every query: 8 samples, contiguous in the loaded set (wrapping: the set is padded), sent
       only when nothing is outstanding. */
    uint64_t *lib;
    kiln__lg_shuffled_library(1000, st.qsl_rng_seed, &lib);
    int64_t pos[1000];
    for (int i = 0; i < 1000; i++) pos[i] = -1;
    for (int i = 0; i < 100; i++) pos[lib[i]] = i;
    int bad_shape = 0, bad_order = 0;
    uint64_t *qlat = malloc(sim.n_recs * sizeof *qlat), issue = 0;
    for (size_t i = 0; i < sim.n_recs; i++) {
        const sim_rec *rc = &sim.recs[i];
        bad_shape += rc->n != 8 || rc->outstanding_before != 0;
        const uint64_t *ix = sim.indices + rc->first_id;
        int64_t p0 = pos[ix[0]];
        uint64_t worst = 0;
        for (int j = 0; j < 8; j++) {
            if (p0 < 0 || ix[j] != lib[(p0 + j) % 100]) bad_order++;
            uint64_t l = svc_by_index(NULL, ix[j], 0);
            worst = l > worst ? l : worst;
        }
        qlat[i] = worst;
        bad_order += rc->t_issue != 1000000000ull + issue; /* issued when the previous was done */
        issue += worst;
    }
    CHECK(bad_shape == 0, "%d queries not 8 samples after the previous completed", bad_shape);
    CHECK(bad_order == 0, "%d samples not contiguous or issued late", bad_order);
    size_t n = sim.n_recs;
    CHECK(r.query_count == n && r.sample_count == 8 * n && n >= 700, "%zu queries", n);
    qsort(qlat, n, sizeof *qlat, cmp_u64);
    CHECK(r.query_latency.pct_ns[KILN_LG_P99] == (int64_t)qlat[(size_t)(n * 0.99)] &&
              r.metric == (double)qlat[(size_t)(n * 0.99)] &&
              r.query_latency.target_pct_ns == r.query_latency.pct_ns[KILN_LG_P99],
          "p99 query latency %lld, expected %llu", (long long)r.query_latency.pct_ns[KILN_LG_P99],
          (unsigned long long)qlat[(size_t)(n * 0.99)]);
    CHECK(r.query_latency.count == n && r.sample_latency.count == 8 * n, "latency counts");
    CHECK(!strcmp(r.metric_name, "99.0th percentile latency (ns)"), "%s", r.metric_name);
    CHECK(r.valid && r.es_min_queries == 662, "VALID with 662+ queries (%s)",
          r.n_reasons ? r.reasons[0] : "");
    CHECK(sim.not_loaded == 0 && q.max_loaded == 100, "loaded set of 100");
    free(lib);
    free(qlat);
    free(q.loaded);
    sim_free(&sim);
}

static void test_offline(void) {
    sim_sut sim;
    sim_init(&sim, 4, 1000000); /* 4 workers, 1 ms per sample */
    sim_qsl q;
    sim_qsl_init(&q, 3000, 1024);
    sim.loaded = q.loaded;
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_OFFLINE);
    st.min_query_count = 5000; /* samples in the one query */
    st.offline_expected_qps = 1000;
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(sim.n_recs == 1 && sim.recs[0].n == 5000, "one query of 5000 samples (%zu queries)",
          sim.n_recs);
    uint64_t *lib;
    kiln__lg_shuffled_library(3000, st.qsl_rng_seed, &lib);
    int order = 0;
    for (int i = 0; i < 5000; i++) order += sim.indices[i] != lib[i % 1024];
    CHECK(order == 0, "the loaded set repeated in loaded order");
    /* 4 workers: sample j done at (j / 4 + 1) ms; the last at 1250 ms. */
    CHECK(r.sample_latency.max_ns == 1250000000 && r.sample_latency.min_ns == 1000000,
          "latencies %lld..%lld", (long long)r.sample_latency.min_ns,
          (long long)r.sample_latency.max_ns);
    CHECK_CLOSE(r.samples_per_second, 4000.0, 1e-9);
    CHECK(r.metric == r.samples_per_second, "metric");
    CHECK(r.valid, "VALID (%s)", r.n_reasons ? r.reasons[0] : "");

    /* Larger expected QPS: 1.1 x 1 s x 8000 = 8800 samples beat the minimum. */
    sim_reset_records(&sim);
    st.offline_expected_qps = 8000;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(sim.n_recs == 1 && sim.recs[0].n == 8800, "8800 samples, got %u", sim.recs[0].n);

    /* --duration 0.5 s: 1.1 x 0.5 x 1000 = 550 samples, INVALID on both counts. */
    sim_reset_records(&sim);
    st.offline_expected_qps = 1000;
    st.duration_ms = 500;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(sim.recs[0].n == 550, "550 samples with the duration override, got %u", sim.recs[0].n);
    CHECK(!r.valid && !r.min_duration_met && !r.min_queries_met &&
              has_reason(&r, "duration override"),
          "shortened Offline run is INVALID");
    free(lib);
    free(q.loaded);
    sim_free(&sim);
}

/* Regenerate the Server schedule independently: gaps from the documented generator. */
static uint64_t *expected_schedule(uint64_t seed, double qps, size_t n) {
    kiln_rng r;
    kiln_rng_seed(&r, seed);
    uint64_t *t = malloc(n * sizeof *t);
    t[0] = 0;
    for (size_t i = 1; i < n; i++) {
        double u = kiln_rng_uniform(&r);
        t[i] = t[i - 1] + (uint64_t)(-log1p(-u) / qps * 1e9);
    }
    return t;
}

static void test_server_poisson(void) {
    sim_sut sim;
    sim_init(&sim, 0, 1000000);
    sim_qsl q;
    sim_qsl_init(&q, 2000, 1024);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 1000;
    st.min_duration_ms = 20000;
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    size_t n = sim.n_recs;
    CHECK(n > 19000 && n < 21000 && r.query_count == n, "%zu arrivals in 20 s at 1000 QPS", n);
    /* Inter-arrival gaps of a Poisson process: exponential, mean = sd = 1/qps. */
    double sum = 0, sum2 = 0, above = 0;
    for (size_t i = 1; i < n; i++) {
        double g = (double)(sim.recs[i].t_issue - sim.recs[i - 1].t_issue) / 1e9;
        sum += g;
        sum2 += g * g;
        above += g > 1e-3;
    }
    double m = sum / (double)(n - 1), var = sum2 / (double)(n - 1) - m * m;
    CHECK(fabs(m / 1e-3 - 1) < 0.03, "mean gap %g s", m);
    CHECK(fabs(var / 1e-6 - 1) < 0.08, "gap variance %g s^2 (1e-6 expected)", var);
    CHECK(fabs(above / (double)(n - 1) - exp(-1.0)) < 0.02, "P(gap > mean) %g",
          above / (double)(n - 1));
    /* The exact schedule is the seeded one. */
    uint64_t *sched = expected_schedule(st.schedule_rng_seed, 1000, n);
    int off = 0;
    for (size_t i = 0; i < n; i++) off += sim.recs[i].t_issue - sim.recs[0].t_issue != sched[i];
    CHECK(off == 0, "%d arrivals off the seeded schedule", off);
    CHECK(sched[n - 1] >= 20000000000ull && sched[n - 2] < 20000000000ull,
          "the last query is the first scheduled at or after min_duration");
    CHECK_CLOSE(r.scheduled_samples_per_second, (double)(n - 1) / (sched[n - 1] / 1e9), 1e-6);
    CHECK_CLOSE(r.completed_samples_per_second, (double)(n - 1) / ((sched[n - 1] + 1000000) / 1e9), 1e-6);
    CHECK(r.sample_latency.max_ns == 1000000 && r.overlatency_count == 0, "1 ms each");
    CHECK(r.valid && r.perf_constraints_met && r.early_stopping_met, "VALID (%s)",
          r.n_reasons ? r.reasons[0] : "");
    CHECK(!strcmp(r.es_text, " * Run successful."), "es: %s", r.es_text);
    free(sched);

    /* Another schedule seed: other times, same rate. */
    sim_reset_records(&sim);
    st.schedule_rng_seed = 42;
    st.min_duration_ms = 2000;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    sched = expected_schedule(42, 1000, sim.n_recs);
    off = 0;
    for (size_t i = 0; i < sim.n_recs; i++) off += sim.recs[i].t_issue - sim.recs[0].t_issue != sched[i];
    CHECK(off == 0, "seed 42 schedule");
    free(sched);
    free(q.loaded);
    sim_free(&sim);
}

/* An SUT whose issue_query blocks 1.5 ms and answers at its end, fed 1000 QPS: queries queue
   in the load generator, and their latency must count from the scheduled time. */
static void test_server_latency_from_schedule(void) {
    sim_sut sim;
    sim_init(&sim, 0, 0);
    sim.issue_cost_ns = 1500000;
    sim.sync_complete = 1;
    sim_qsl q;
    sim_qsl_init(&q, 500, 500);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 1000;
    st.min_duration_ms = 300;
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    size_t n = sim.n_recs;
    uint64_t *sched = expected_schedule(st.schedule_rng_seed, 1000, n);
    int64_t *lat = malloc(n * sizeof *lat);
    uint64_t free_at = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t issue = sched[i] > free_at ? sched[i] : free_at;
        free_at = issue + 1500000;
        lat[i] = (int64_t)(free_at - sched[i]);
    }
    kiln_lg_latency_stats ref;
    kiln_lg_latency_stats_compute(lat, n, 0.99, &ref);
    CHECK(r.sample_latency.mean_ns == ref.mean_ns && r.sample_latency.max_ns == ref.max_ns &&
              r.sample_latency.pct_ns[KILN_LG_P99] == ref.pct_ns[KILN_LG_P99],
          "latency from schedule: mean %lld vs %lld, max %lld vs %lld",
          (long long)r.sample_latency.mean_ns, (long long)ref.mean_ns,
          (long long)r.sample_latency.max_ns, (long long)ref.max_ns);
    CHECK(ref.max_ns > 100000000, "the backlog grows (max %lld ns)", (long long)ref.max_ns);
    CHECK(!r.perf_constraints_met && !r.valid && has_reason(&r, "latency bound"),
          "over 15 ms at p99: INVALID");
    free(sched);
    free(lat);
    free(q.loaded);
    sim_free(&sim);
}

static void test_validity(void) {
    sim_sut sim;
    sim_init(&sim, 0, 5000000); /* 5 ms per sample */
    sim_qsl q;
    sim_qsl_init(&q, 1000, 1000);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    kiln_lg_result r;

    /* SingleStream, 5 ms each, min 1 s and 100 queries: issued at 0, 5, ..., 1000 ms. */
    sim_settings(&st, KILN_LG_SINGLE_STREAM);
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 201 && r.valid, "201 queries, VALID (got %llu)",
          (unsigned long long)r.query_count);
    CHECK(r.es_discarded == 9, "201 queries discard 9 (as LoadGen)");

    /* --duration 300 ms < min_duration. */
    sim_reset_records(&sim);
    st.duration_ms = 300;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 61 && !r.valid && !r.min_duration_met && r.min_queries_met == 0 &&
              has_reason(&r, "duration override"),
          "duration override: %llu queries, INVALID", (unsigned long long)r.query_count);

    /* Long enough, too few queries. */
    sim_reset_records(&sim);
    st.duration_ms = 2000;
    st.min_query_count = 1000;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 401 && !r.valid && r.min_duration_met && !r.min_queries_met &&
              has_reason(&r, "min queries"),
          "min queries not met");

    /* max_query_count ends the run early, as an error. */
    sim_reset_records(&sim);
    st.duration_ms = 0;
    st.min_query_count = 100;
    st.max_query_count = 50;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 50 && !r.valid && r.errors == 1 && !r.early_stopping_met,
          "max_query_count: %llu queries, %llu errors", (unsigned long long)r.query_count,
          (unsigned long long)r.errors);
    CHECK(strstr(r.es_text, "Only processed 50 queries") != NULL, "%s", r.es_text);

    /* Server: too few queries for early stopping (needs 459 with none over the bound). */
    sim_reset_records(&sim);
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 1000;
    st.min_duration_ms = 200;
    st.min_query_count = 50;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.perf_constraints_met && r.min_duration_met && r.min_queries_met &&
              !r.early_stopping_met && !r.valid && r.es_queries_needed == 459,
          "Server early stopping: %llu queries, needs %lld", (unsigned long long)r.query_count,
          (long long)r.es_queries_needed);
    CHECK(strstr(r.es_text, "Would need to run at least") != NULL, "%s", r.es_text);

    /* Server: every query over a 4 ms bound. */
    sim_reset_records(&sim);
    st.server_target_latency_ns = 4000000;
    st.min_duration_ms = 1000;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(!r.perf_constraints_met && r.overlatency_count == r.query_count && !r.valid &&
              !r.early_stopping_met && has_reason(&r, "latency bound"),
          "latency bound missed");

    /* Server: max_async_queries with a slow single worker ends the run early. */
    sim_free(&sim);
    sim_init(&sim, 1, 10000000);
    sut = sim_iface(&sim);
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 1000;
    st.server_max_async_queries = 5;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 6 && r.errors == 1 && !r.valid, "too many outstanding: %llu queries",
          (unsigned long long)r.query_count);

    /* Bad settings are refused with a message naming the field. */
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 0;
    CHECK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r) == KILN_ERR_INVALID_ARG &&
              strstr(kiln_lg_errmsg(sim.lg), "server_target_qps"),
          "qps 0 refused: %s", kiln_lg_errmsg(sim.lg));
    sim_settings(&st, KILN_LG_OFFLINE);
    st.mode = KILN_LG_FIND_PEAK;
    CHECK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r) == KILN_ERR_INVALID_ARG, "find peak needs Server");
    free(q.loaded);
    sim_free(&sim);
}

int main(void) {
    test_single_stream();
    test_multi_stream();
    test_offline();
    test_server_poisson();
    test_server_latency_from_schedule();
    test_validity();
    return test_done();
}
