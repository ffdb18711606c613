/*
 * loadgen.h — kiln's MLPerf-style load generator: the measurement core of `kiln bench`.
 *
 * It drives a system under test (SUT) with queries the way MLPerf Inference LoadGen does, times
 * every sample, decides whether the run is valid under the MLPerf rules, and writes LoadGen's logs
 * (mlperf_log_summary.txt, mlperf_log_detail.txt, mlperf_log_accuracy.json) plus a JSON dump.
 * Field names, units and log layouts follow mlcommons/inference loadgen (test_settings.h,
 * results.cc, early_stopping.cc, mlperf.conf); the code is kiln's own.
 *
 * Three small interfaces connect it to the world, each a struct of callbacks plus a user pointer:
 *
 *   kiln_lg_sut    the system under test. issue_query() hands it samples {id, index}; it answers,
 *                  from any thread and at any later time (or synchronously inside issue_query),
 *                  with kiln_lg_complete(lg, responses, n), one response per sample id.
 *   kiln_lg_qsl    the query sample library: how many samples exist, how many fit in memory
 *                  (performance_sample_count), and load/unload callbacks for index sets.
 *   kiln_lg_clock  time: now_ns() and sleep_until(). NULL means CLOCK_MONOTONIC. Tests plug in
 *                  the fake clock below, whose time advances only when the load generator waits,
 *                  so runs with simulated latencies are deterministic and take no real time.
 *
 * Scenarios (kiln_lg_settings.scenario), as in the MLPerf Inference rules:
 *   SingleStream  one query of one sample outstanding; the next is issued when it completes.
 *                 Metric: 90th-percentile latency (single_stream_target_latency_percentile).
 *   MultiStream   queries of multi_stream_samples_per_query (8) contiguous samples, the next
 *                 issued when the previous completes. Metric: 99th-percentile query latency.
 *   Server        one-sample queries with Poisson arrivals at server_target_qps (seeded by
 *                 schedule_rng_seed); latency counts from the scheduled time, so queueing in
 *                 the SUT counts. Valid only if the 99th percentile <= server_target_latency_ns.
 *                 Mode KILN_LG_FIND_PEAK searches the highest such QPS (widen, then bisect).
 *   Offline       one query holding every sample; metric samples per second.
 *
 * Modes: performance (the scenario's traffic from the loaded performance set), accuracy (every
 * sample of the library exactly once; response bytes go to mlperf_log_accuracy.json), find-peak.
 *
 * Random numbers: kiln's xoshiro256** (core/rng.h) seeded with splitmix64 from each LoadGen seed,
 * not std::mt19937; runs are reproducible for a given seed, but the sample order differs from
 * LoadGen's. Bounded integers use rejection (no modulo bias); Poisson gaps are -ln(1-u)/qps.
 *
 * Objects and lifetimes: kiln_lg_create/destroy; one kiln_lg_run at a time per object. Every
 * callback the SUT gets runs without the load generator's lock held, so a SUT may call
 * kiln_lg_complete from inside issue_query. A SUT must not call kiln_lg_complete after its run
 * returned (late completions are counted as errors) nor after kiln_lg_destroy.
 *
 * Example usage (a SUT with one worker thread; see tests/test_loadgen_thread.c for all of it)
 *
 *     static void issue(void *user, const kiln_lg_sample *s, size_t n) {
 *         my_sut *m = user;                        // copy s[0..n): valid only during the call
 *         queue_push(&m->q, s, n);                 // the worker runs them, then for each:
 *     }                                            //   kiln_lg_response r = {s.id, out, bytes};
 *                                                  //   kiln_lg_complete(m->lg, &r, 1);
 *     kiln_lg *lg = kiln_lg_create();
 *     m.lg = lg;
 *     kiln_lg_settings st;
 *     kiln_lg_settings_init(&st, "resnet50", KILN_LG_SERVER);  // MLPerf ResNet-50 defaults
 *     st.server_target_qps = 200;
 *     if (kiln_lg_settings_load_conf(&st, "user.conf", kiln_lg_errbuf(lg)) != KILN_OK)
 *         fprintf(stderr, "kiln: %s\n", kiln_lg_errmsg(lg));   // "user.conf:3: ..."
 *     st.duration_ms = 10000;                      // --duration 10: a short, INVALID run
 *     kiln_lg_set_log_dir(lg, "logs");             // summary, detail, accuracy logs go here
 *     kiln_lg_sut sut = {.name = "kiln-cpu", .issue_query = issue, .user = &m};
 *     kiln_lg_qsl qsl = {.name = "imagenet", .total_sample_count = 50000,
 *                        .performance_sample_count = 1024,
 *                        .load_samples = load, .unload_samples = unload, .user = &data};
 *     kiln_lg_result res;
 *     if (kiln_lg_run(lg, &sut, &qsl, &st, &res) != KILN_OK)
 *         fprintf(stderr, "kiln: %s\n", kiln_lg_errmsg(lg));
 *     kiln_lg_write_summary(&res, stdout);         // the mlperf_log_summary.txt text
 *     printf("%s, p99 %lld ns\n", res.valid ? "VALID" : "INVALID",
 *            (long long)res.sample_latency.pct_ns[KILN_LG_P99]);
 *     kiln_lg_destroy(lg);
 */
#ifndef KILN_BENCH_LOADGEN_H
#define KILN_BENCH_LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "kiln.h"

/* ---- scenario, mode ---------------------------------------------------------------------- */

/* Values are stable (written to JSON); append only. */
typedef enum kiln_lg_scenario {
    KILN_LG_SINGLE_STREAM = 0,
    KILN_LG_MULTI_STREAM = 1,
    KILN_LG_SERVER = 2,
    KILN_LG_OFFLINE = 3,
    KILN_LG_SCENARIO_COUNT
} kiln_lg_scenario;

typedef enum kiln_lg_mode {
    KILN_LG_PERFORMANCE = 0, /* LoadGen PerformanceOnly */
    KILN_LG_ACCURACY = 1,    /* LoadGen AccuracyOnly */
    KILN_LG_FIND_PEAK = 2,   /* LoadGen FindPeakPerformance (Server only) */
    KILN_LG_MODE_COUNT
} kiln_lg_mode;

/* LoadGen's names: "SingleStream", ...; "PerformanceOnly", "AccuracyOnly", "FindPeakPerformance". */
const char *kiln_lg_scenario_name(kiln_lg_scenario s);
const char *kiln_lg_mode_name(kiln_lg_mode m);
/* Case-insensitive; '-' and '_' are ignored: "singlestream", "single-stream", "SingleStream";
   modes also take "performance", "accuracy", "find-peak". -1 when unknown. */
int kiln_lg_scenario_parse(const char *name);
int kiln_lg_mode_parse(const char *name);

/* ---- settings ---------------------------------------------------------------------------- */

/* What a run should do: LoadGen's TestSettings, same names and units (ns, ms, fractions).
   Plain data: change fields directly, or through a user.conf file. */
typedef struct kiln_lg_settings {
    char model[64];                        /* model name that user.conf lines match ("resnet50") */
    kiln_lg_scenario scenario;
    kiln_lg_mode mode;

    uint64_t single_stream_expected_latency_ns;    /* hint only (target_qps in the logs) */
    double single_stream_target_latency_percentile; /* 0.90 */

    int multi_stream_samples_per_query;             /* 8 */
    double multi_stream_target_latency_percentile;  /* 0.99 */
    uint64_t multi_stream_expected_latency_ns;      /* hint only */

    double server_target_qps;                        /* Poisson mean arrival rate */
    uint64_t server_target_latency_ns;               /* 15 ms for ResNet-50 */
    double server_target_latency_percentile;         /* 0.99 */
    uint64_t server_max_async_queries;               /* 0: no limit; else end early above it */
    int server_find_peak_qps_decimals_of_precision;  /* find-peak stops at 10^-this QPS */
    double server_find_peak_qps_boundary_step_size;  /* upper bound = lower * (1 + step) */

    double offline_expected_qps;                     /* sizes the Offline query (x1.1 x duration) */

    uint64_t min_duration_ms;                        /* 600000 */
    uint64_t max_duration_ms;                        /* 0: none */
    uint64_t min_query_count;  /* SS 1024, MS/Server 270336, Offline: samples in the one query */
    uint64_t max_query_count;                        /* 0: none */
    /* kiln extension (--duration): stop issuing after this long, whatever min_query_count says.
       The rules' minimums stay in force, so a run shorter than them is INVALID. 0: unset. */
    uint64_t duration_ms;

    uint64_t qsl_rng_seed;          /* which samples form the performance set */
    uint64_t sample_index_rng_seed; /* the order samples are drawn in */
    uint64_t schedule_rng_seed;     /* Server arrival times */
    uint64_t accuracy_log_rng_seed; /* which responses performance mode logs */
    double accuracy_log_probability;           /* fraction of responses logged in performance mode */
    uint64_t accuracy_log_sampling_target;     /* if > 0: log about this many instead */
    uint64_t performance_sample_count_override; /* 0: the QSL's performance_sample_count */
    int print_timestamps;                       /* accepted and logged; no other effect */
} kiln_lg_settings;

/* MLPerf ResNet-50 defaults (mlperf.conf + the rules) for `scenario`: min_duration 600 s,
   min_query_count SS 1024 / MS 270336 / Server 270336 / Offline 24576 samples,
   performance_sample_count 1024, SS p90, MS p99 with 8 samples per query, Server p99 <= 15 ms,
   LoadGen's official seeds. model NULL means "resnet50". Mode: performance. */
void kiln_lg_settings_init(kiln_lg_settings *s, const char *model, kiln_lg_scenario scenario);

/* Apply a user.conf / mlperf.conf file: lines "model.Scenario.key = value", '*' matching any
   model or scenario, '#' starting a comment. As in LoadGen, "model.Scenario" beats
   "*.Scenario" beats "model.*" beats "*.*", a later line beats an earlier one of the same
   rank, general keys are read for s->scenario and scenario keys (target_qps, target_latency,
   samples_per_query, ...) for their own scenario. Units are LoadGen's: durations and latencies
   in ms, percentiles and accuracy_log_probability in percent. LoadGen keys kiln does not
   implement (token latencies, test05 seeds, ...) are ignored; other unknown keys, malformed
   lines and bad values fail with KILN_ERR_PARSE and "PATH:LINE: what" in err; s is then left
   unchanged. */
kiln_status kiln_lg_settings_load_conf(kiln_lg_settings *s, const char *path, kiln_err *err);
/* The same on text in memory; name is used in messages. */
kiln_status kiln_lg_settings_parse_conf(kiln_lg_settings *s, const char *text, const char *name,
                                        kiln_err *err);

/* ---- the three interfaces ---------------------------------------------------------------- */

typedef struct kiln_lg_sample {
    uint64_t id;    /* answer with this id; unique within a run (= the accuracy log's seq_id) */
    uint64_t index; /* the sample's index in the QSL */
} kiln_lg_sample;

typedef struct kiln_lg_response {
    uint64_t id;
    const void *data; /* the output bytes (copied before kiln_lg_complete returns); may be NULL */
    size_t size;
} kiln_lg_response;

typedef struct kiln_lg_sut {
    const char *name; /* "SUT name" in the logs */
    /* Start work on samples[0..n); the array is valid only during the call. Required. */
    void (*issue_query)(void *user, const kiln_lg_sample *samples, size_t n);
    /* No more queries will come this run: run what is queued now. Optional. */
    void (*flush_queries)(void *user);
    void *user;
} kiln_lg_sut;

typedef struct kiln_lg_qsl {
    const char *name;
    uint64_t total_sample_count;       /* indices are 0 .. total-1 */
    uint64_t performance_sample_count; /* how many may be loaded at once */
    /* Make samples indices[0..n) ready (read, preprocess). Optional. */
    kiln_status (*load_samples)(void *user, const uint64_t *indices, size_t n);
    kiln_status (*unload_samples)(void *user, const uint64_t *indices, size_t n);
    void *user;
} kiln_lg_qsl;

typedef struct kiln_lg_clock {
    uint64_t (*now_ns)(void *self);                /* monotonic; called from any thread */
    void (*sleep_until)(void *self, uint64_t t_ns); /* return at or after t_ns */
    /* Optional, for simulated time: the load generator has nothing to do until a completion
       arrives; advance to the next pending event and run it. Return 0 when none is pending
       (the load generator then blocks until kiln_lg_complete or kiln_lg_abort). */
    int (*idle)(void *self);
    void *self;
} kiln_lg_clock;

/* CLOCK_MONOTONIC. */
kiln_lg_clock kiln_lg_clock_real(void);

/* A fake clock for tests and simulations: time moves only in sleep_until()/idle(), jumping to
   the next event scheduled with kiln_lg_fake_clock_at(); events run in time order (ties in the
   order they were scheduled) on the thread that advanced the clock, without its lock held.
   A simulated SUT should answer through such events (or inside issue_query); one answering from
   its own threads gets no time advance while the load generator waits. Give every query some
   latency: in SingleStream and MultiStream a run ends by duration, and zero-latency answers
   would keep simulated time from ever moving. */
typedef struct kiln_lg_fake_clock kiln_lg_fake_clock;
typedef void (*kiln_lg_event_fn)(void *arg, uint64_t t_ns);

kiln_lg_fake_clock *kiln_lg_fake_clock_create(uint64_t start_ns);
void kiln_lg_fake_clock_destroy(kiln_lg_fake_clock *fc);
kiln_lg_clock kiln_lg_fake_clock_iface(kiln_lg_fake_clock *fc);
uint64_t kiln_lg_fake_clock_now(kiln_lg_fake_clock *fc);
/* Run fn(arg, t) when the clock reaches t (at once on the next advance if t is past). */
kiln_status kiln_lg_fake_clock_at(kiln_lg_fake_clock *fc, uint64_t t_ns, kiln_lg_event_fn fn,
                                  void *arg);
size_t kiln_lg_fake_clock_pending(kiln_lg_fake_clock *fc);

/* ---- results ----------------------------------------------------------------------------- */

enum { KILN_LG_P50, KILN_LG_P90, KILN_LG_P95, KILN_LG_P97, KILN_LG_P99, KILN_LG_P999, KILN_LG_NPCT };
/* 0.50, 0.90, 0.95, 0.97, 0.99, 0.999: the percentiles LoadGen reports. */
extern const double kiln_lg_percentiles[KILN_LG_NPCT];

typedef struct kiln_lg_latency_stats {
    uint64_t count;
    int64_t min_ns, max_ns, mean_ns;   /* mean: integer division, as LoadGen */
    int64_t pct_ns[KILN_LG_NPCT];
    int64_t target_pct_ns;             /* at the scenario's target percentile */
} kiln_lg_latency_stats;

/* The settings a run really used (LoadGen's TestSettingsInternal, "effective_*"). */
typedef struct kiln_lg_effective {
    uint64_t samples_per_query;
    double target_qps;
    uint64_t target_latency_ns;
    double target_latency_percentile;
    uint64_t max_async_queries;
    uint64_t target_duration_ms;
    uint64_t min_duration_ms, max_duration_ms;
    uint64_t min_query_count, max_query_count, min_sample_count;
    uint64_t performance_sample_count;
    double accuracy_log_probability;
} kiln_lg_effective;

#define KILN_LG_MAX_REASONS 6

typedef struct kiln_lg_result {
    char sut_name[64];
    kiln_lg_settings settings;          /* as requested */
    kiln_lg_effective effective;

    uint64_t query_count;               /* queries issued */
    uint64_t sample_count;              /* samples completed */
    double final_query_scheduled_s;     /* seconds from the start of the run */
    double final_query_issued_s;
    double final_query_done_s;          /* when the last issued query's samples were all done */
    double max_latency_s;               /* longest sample latency (Offline's duration) */
    double duration_s;                  /* start to the last completion */

    kiln_lg_latency_stats sample_latency;
    kiln_lg_latency_stats query_latency; /* MultiStream only (count 0 otherwise) */

    /* Throughput figures, those of the scenario are non-zero. */
    double samples_per_second;           /* Offline: samples / max latency */
    double qps_with_loadgen_overhead;    /* SingleStream: (n-1) / last issue time */
    double qps_without_loadgen_overhead; /* SingleStream: 1 / mean latency */
    double scheduled_samples_per_second; /* Server: (n-1) / last scheduled time */
    double completed_samples_per_second; /* Server: (n-1) / last query done time */

    /* The headline: SS/MS a latency in ns at the target percentile, Server the completed
       samples per second, Offline samples per second. */
    double metric;
    char metric_name[48];                /* "90.0th percentile latency (ns)", ... */

    uint64_t overlatency_count;          /* Server: samples over server_target_latency_ns */

    /* Validity, as LoadGen decides it. */
    int valid;
    int min_duration_met, min_queries_met, perf_constraints_met, early_stopping_met;
    int has_perf_constraints;            /* Server */
    int n_reasons;                       /* why INVALID, one line each */
    char reasons[KILN_LG_MAX_REASONS][160];

    /* Early stopping (MLPerf rules; confidence 0.99, tolerance 0). */
    double es_confidence, es_tolerance;
    int64_t es_min_queries;              /* SS/MS: queries needed for any estimate */
    int64_t es_discarded;                /* SS/MS: highest latencies set aside */
    int64_t es_target_estimate_ns;       /* SS/MS: estimate at the target percentile; -1 none */
    int64_t es_p99_estimate_ns;          /* SS: estimate at the 99th (for MultiStream); -1 none */
    int64_t es_queries_needed;           /* Server: total queries the run would have needed */
    char es_text[512];                   /* the summary's "Early Stopping Result" lines */

    double peak_qps;                     /* find-peak: the highest QPS that met the bound */
    int find_peak_runs;

    uint64_t accuracy_logged;            /* responses written to the accuracy log */
    uint64_t errors, warnings;           /* as listed in the detail log */
} kiln_lg_result;

/* ---- the load generator ------------------------------------------------------------------ */

typedef struct kiln_lg kiln_lg;

kiln_lg *kiln_lg_create(void);
void kiln_lg_destroy(kiln_lg *lg);
/* The clock for the next runs; NULL restores the real one. The struct is copied. */
void kiln_lg_set_clock(kiln_lg *lg, const kiln_lg_clock *clock);
/* Where kiln_lg_run writes mlperf_log_{summary,detail}.txt and mlperf_log_accuracy.json
   (created if missing). NULL (the default) writes no files. */
kiln_status kiln_lg_set_log_dir(kiln_lg *lg, const char *dir);
/* Called for every response that goes to the accuracy log (all of them in accuracy mode), in
   completion order, one at a time, with the data valid only during the call. Must not call
   back into lg. NULL turns it off. */
typedef void (*kiln_lg_accuracy_fn)(void *user, uint64_t seq_id, uint64_t qsl_index,
                                    const void *data, size_t size);
void kiln_lg_set_accuracy_sink(kiln_lg *lg, kiln_lg_accuracy_fn fn, void *user);

/* Run the test s describes (load the samples, issue, wait for every completion, unload, judge,
   write the logs) and fill *out. Blocks. Returns KILN_OK when the run completed, valid or not
   (see out->valid); an error when it could not: bad settings, a QSL callback failed, the SUT
   called kiln_lg_abort, a log file could not be written. */
kiln_status kiln_lg_run(kiln_lg *lg, const kiln_lg_sut *sut, const kiln_lg_qsl *qsl,
                        const kiln_lg_settings *s, kiln_lg_result *out);

/* The SUT's answer for n samples; thread-safe; the completion time is read on entry. Ids that
   are unknown or already answered are counted as errors in the detail log, not trusted. */
void kiln_lg_complete(kiln_lg *lg, const kiln_lg_response *r, size_t n);
/* The SUT cannot go on: the run stops issuing, stops waiting, and returns status with msg. */
void kiln_lg_abort(kiln_lg *lg, kiln_status status, const char *msg);

const char *kiln_lg_errmsg(const kiln_lg *lg);
/* The object's error record, for calls that take a kiln_err * (settings parsing). */
kiln_err *kiln_lg_errbuf(kiln_lg *lg);

/* ---- writers ----------------------------------------------------------------------------- */

/* mlperf_log_summary.txt's text, in LoadGen's layout. */
kiln_status kiln_lg_write_summary(const kiln_lg_result *r, FILE *f);
/* Every figure of r as one JSON object (the --json output). */
kiln_status kiln_lg_write_json(const kiln_lg_result *r, FILE *f);
kiln_status kiln_lg_write_json_file(const kiln_lg_result *r, const char *path, kiln_err *err);

/* ---- statistics (used by the run, exposed for tests and other tools) --------------------- */

/* LoadGen's percentile: sorted[(size_t)(n * p)] (clamped to n-1); sorted ascending, n > 0. */
int64_t kiln_lg_percentile(const int64_t *sorted, size_t n, double p);
/* Sort lat[0..n) in place and fill st (all zero when n == 0). */
void kiln_lg_latency_stats_compute(int64_t *lat, size_t n, double target_p,
                                   kiln_lg_latency_stats *st);
/* P(X <= k) for X ~ Binomial(n, q). */
double kiln_lg_binomial_cdf(int64_t n, int64_t k, double q);
/* Early stopping's core (MLPerf rules): the fewest passing queries h such that, with t
   queries over the bound, the chance of seeing at most t of h + t over the bound when the
   true percentile is just p - d is below 1 - c: BinomialCDF(h + t, t, 1 - (p - d)) < 1 - c. */
int64_t kiln_lg_es_min_passing(int64_t t, double p, double d, double c);
/* SS/MS early-stopping estimate from n latencies sorted ascending at percentile p: *discard
   gets t - 1 where t is the largest t with h(t) + t <= n; returns sorted[n - t], or -1 (and
   *min_queries = h(1) + 1) when n < h(1) + 1. */
int64_t kiln_lg_es_estimate(const int64_t *sorted, size_t n, double p, double d, double c,
                            int64_t *min_queries, int64_t *discard);

#endif
