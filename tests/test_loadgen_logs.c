/* Load generator logs: accuracy mode sends every library sample exactly once and
 * mlperf_log_accuracy.json decodes to the bytes the SUT gave; mlperf_log_summary.txt has
 * LoadGen's layout and figures; every mlperf_log_detail.txt line is ":::MLLOG " + a JSON object
 * with LoadGen's fields; the --json dump parses and carries the result; bad responses are
 * counted and reported. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "loadgen_sim.h"
#include "test.h"

typedef struct sink_count {
    uint64_t n, bytes;
} sink_count;

static void count_sink(void *user, uint64_t seq, uint64_t idx, const void *data, size_t size) {
    (void)seq;
    (void)idx;
    (void)data;
    sink_count *c = user;
    c->n++;
    c->bytes += size;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static void test_accuracy(kiln_lg_scenario sc) {
    char dir[1024], path[1200];
    char name[64];
    snprintf(name, sizeof name, "loadgen_acc_%s", kiln_lg_scenario_name(sc));
    fresh_dir(name, dir, sizeof dir);
    sim_sut sim;
    sim_init(&sim, 0, 1000000);
    sim.with_data = 1;
    sim_qsl q;
    sim_qsl_init(&q, 300, 128);
    sim.loaded = q.loaded;
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, sc);
    st.mode = KILN_LG_ACCURACY;
    st.server_target_qps = 500;
    sink_count sink = {0};
    kiln_lg_set_accuracy_sink(sim.lg, count_sink, &sink);
    CHECK_OK(kiln_lg_set_log_dir(sim.lg, dir));
    kiln_lg_result r;
    kiln_status s = kiln_lg_run(sim.lg, &sut, &qsl, &st, &r);
    CHECK(s == KILN_OK, "%s accuracy run: %s", kiln_lg_scenario_name(sc), kiln_lg_errmsg(sim.lg));
    CHECK(r.valid && r.sample_count == 300 && r.accuracy_logged == 300 && sink.n == 300,
          "%s: 300 samples answered and logged (%llu, %llu)", kiln_lg_scenario_name(sc),
          (unsigned long long)r.sample_count, (unsigned long long)r.accuracy_logged);
    CHECK(q.loads == 3 && q.unloads == 3 && q.max_loaded <= 128 && q.bad == 0 && q.n_loaded == 0,
          "three loadable sets (loads %llu, max %llu)", (unsigned long long)q.loads,
          (unsigned long long)q.max_loaded);
    CHECK(sim.not_loaded == 0, "every sample loaded when issued");
    size_t expect_queries = sc == KILN_LG_OFFLINE ? 3 : sc == KILN_LG_MULTI_STREAM ? 16 + 16 + 6 : 300;
    CHECK(sim.n_recs == expect_queries, "%s: %zu queries", kiln_lg_scenario_name(sc), sim.n_recs);

    snprintf(path, sizeof path, "%s/mlperf_log_accuracy.json", dir);
    char *text = read_file(path);
    jv doc = {0};
    CHECK(text && jv_parse(text, &doc) && doc.kind == JV_ARR, "accuracy log parses as a JSON array");
    int seen[300] = {0}, bad = 0;
    uint8_t seq_seen[300] = {0};
    for (size_t i = 0; text && doc.kind == JV_ARR && i < doc.n; i++) {
        const jv *e = &doc.items[i], *sid = jv_get(e, "seq_id"), *qi = jv_get(e, "qsl_idx"),
                 *data = jv_get(e, "data");
        if (!sid || !qi || !data || data->kind != JV_STR || qi->num < 0 || qi->num >= 300 ||
            sid->num < 0 || sid->num >= 300 || seq_seen[(int)sid->num]++) {
            bad++;
            continue;
        }
        int idx = (int)qi->num;
        seen[idx]++;
        uint8_t want[8];
        size_t wn = sim_data((uint64_t)idx, want);
        size_t hl = strlen(data->str);
        if (hl != 2 * wn) {
            bad++;
            continue;
        }
        for (size_t k = 0; k < wn; k++)
            if (hexval(data->str[2 * k]) * 16 + hexval(data->str[2 * k + 1]) != want[k]) bad++;
    }
    int missing = 0;
    for (int i = 0; i < 300; i++) missing += seen[i] != 1;
    CHECK(doc.n == 300 && bad == 0 && missing == 0,
          "%s: %zu entries, %d bad, %d samples not exactly once", kiln_lg_scenario_name(sc), doc.n,
          bad, missing);
    jv_free(&doc);
    free(text);

    snprintf(path, sizeof path, "%s/mlperf_log_summary.txt", dir);
    text = read_file(path);
    char v[128];
    CHECK(text && summary_value(text, "Mode", v, sizeof v) && !strcmp(v, "AccuracyOnly"),
          "summary says AccuracyOnly");
    CHECK(text && summary_value(text, "Accuracy log entries", v, sizeof v) && !strcmp(v, "300"),
          "summary counts the entries");
    free(text);
    free(q.loaded);
    sim_free(&sim);
}

/* Every detail line: ":::MLLOG " + {key, value, time_ms, namespace, event_type, metadata}. */
static int parse_detail(const char *text, jv *events, size_t max, size_t *n) {
    int bad = 0;
    *n = 0;
    double last_t = -1;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *l = malloc(len + 1);
        memcpy(l, line, len);
        l[len] = 0;
        jv o;
        if (strncmp(l, ":::MLLOG ", 9) || !jv_parse(l + 9, &o)) {
            bad++;
            fprintf(stderr, "bad detail line: %s\n", l);
        } else {
            const jv *md = jv_get(&o, "metadata"), *k = jv_get(&o, "key"),
                     *ns = jv_get(&o, "namespace"), *et = jv_get(&o, "event_type"),
                     *t = jv_get(&o, "time_ms");
            if (!k || k->kind != JV_STR || !jv_get(&o, "value") || !t || t->kind != JV_NUM ||
                !ns || strcmp(ns->str, "mlperf::logging") || !et || strcmp(et->str, "POINT_IN_TIME") ||
                !md || !jv_get(md, "is_error") || jv_get(md, "is_error")->kind != JV_BOOL ||
                !jv_get(md, "is_warning") || !jv_get(md, "file") || !jv_get(md, "line_no") ||
                !jv_get(md, "pid") || !jv_get(md, "tid") || t->num < last_t) {
                bad++;
                fprintf(stderr, "detail line lacks fields: %s\n", l);
            }
            if (t) last_t = t->num;
            if (*n < max) events[(*n)++] = o;
            else jv_free(&o);
        }
        free(l);
        line = nl ? nl + 1 : NULL;
    }
    return bad;
}

static const jv *detail_value(const jv *ev, size_t n, const char *key) {
    const jv *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(jv_get(&ev[i], "key")->str, key)) found = jv_get(&ev[i], "value");
    return found;
}

static void test_performance_logs(void) {
    char dir[1024], sub[1100], path[1200];
    fresh_dir("loadgen_logs", dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/nested/run1", dir); /* created as needed */
    sim_sut sim;
    sim_init(&sim, 0, 5000000);
    sim_qsl q;
    sim_qsl_init(&q, 1000, 1000);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SINGLE_STREAM);
    CHECK_OK(kiln_lg_set_log_dir(sim.lg, sub));
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));

    snprintf(path, sizeof path, "%s/mlperf_log_summary.txt", sub);
    char *text = read_file(path);
    CHECK(text != NULL, "summary written to a nested log dir");
    if (!text) return;
    char head[1024];
    snprintf(head, sizeof head,
             "================================================\n"
             "MLPerf Results Summary\n"
             "================================================\n"
             "SUT name : sim\n"
             "Scenario : SingleStream\n"
             "Mode     : PerformanceOnly\n"
             "90.0th percentile latency (ns) : %lld\n"
             "Result is : VALID\n"
             "  Min duration satisfied : Yes\n"
             "  Min queries satisfied : Yes\n"
             "  Early stopping satisfied: Yes\n"
             "Early Stopping Result:\n"
             " * Processed at least 64 queries (201).\n"
             " * Would discard 9 highest latency queries.\n"
             " * Early stopping 90.0th percentile estimate: 5000000\n"
             " * Not enough queries processed for 99.0th percentile\n"
             " early stopping estimate (would need to process at\n"
             " least 662 total queries).\n"
             "\n"
             "================================================\n"
             "Additional Stats\n"
             "================================================\n"
             "QPS w/ loadgen overhead         : 200.00\n"
             "QPS w/o loadgen overhead        : 200.00\n"
             "\n"
             "Min latency (ns)                : 5000000\n",
             (long long)r.metric);
    CHECK(!strncmp(text, head, strlen(head)), "summary head:\n%s\n--- expected ---\n%s", text, head);
    char v[128];
    static const char *labels[KILN_LG_NPCT] = {
        "50.00 percentile latency (ns)", "90.00 percentile latency (ns)",
        "95.00 percentile latency (ns)", "97.00 percentile latency (ns)",
        "99.00 percentile latency (ns)", "99.90 percentile latency (ns)"};
    for (int i = 0; i < KILN_LG_NPCT; i++)
        CHECK(summary_value(text, labels[i], v, sizeof v) &&
                  atoll(v) == r.sample_latency.pct_ns[i],
              "%s", labels[i]);
    static const struct { const char *label, *value; } params[] = {
        {"samples_per_query", "1"},         {"target_qps", "100"},
        {"target_latency (ns)", "0"},       {"max_async_queries", "1"},
        {"min_duration (ms)", "1000"},      {"max_duration (ms)", "0"},
        {"min_query_count", "100"},         {"max_query_count", "0"},
        {"qsl_rng_seed", "1780908523862526354"},
        {"sample_index_rng_seed", "14771362308971278857"},
        {"schedule_rng_seed", "18209322760996052031"},
        {"accuracy_log_probability", "0"},  {"performance_sample_count", "1000"}};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        CHECK(summary_value(text, params[i].label, v, sizeof v) && !strcmp(v, params[i].value),
              "Test Parameters: %s = '%s'", params[i].label, summary_value(text, params[i].label, v, sizeof v) ? v : "(missing)");
    CHECK(strstr(text, "\nTest Parameters Used\n") && strstr(text, "\nNo warnings encountered during test.\n") &&
              strstr(text, "\nNo errors encountered during test.\n"),
          "summary tail");
    /* The writer gives the same text on any stream. */
    char *mem = NULL;
    size_t memlen = 0;
    FILE *mf = open_memstream(&mem, &memlen);
    kiln_lg_write_summary(&r, mf);
    fclose(mf);
    CHECK(!strcmp(mem, text), "kiln_lg_write_summary == the file");
    free(mem);
    free(text);

    snprintf(path, sizeof path, "%s/mlperf_log_detail.txt", sub);
    text = read_file(path);
    jv ev[400];
    size_t n = 0;
    CHECK(text && parse_detail(text, ev, 400, &n) == 0 && n > 60, "detail log parses (%zu lines)", n);
    const jv *x;
    CHECK((x = detail_value(ev, n, "result_validity")) && !strcmp(x->str, "VALID"), "result_validity");
    CHECK((x = detail_value(ev, n, "result_90.00_percentile_latency_ns")) &&
              x->num == (double)r.sample_latency.pct_ns[KILN_LG_P90],
          "result_90.00_percentile_latency_ns");
    CHECK((x = detail_value(ev, n, "result_min_duration_met")) && x->kind == JV_BOOL && x->b,
          "result_min_duration_met");
    CHECK((x = detail_value(ev, n, "early_stopping_latency_ss")) && x->num == 5000000.0,
          "early_stopping_latency_ss");
    CHECK((x = detail_value(ev, n, "effective_scenario")) && !strcmp(x->str, "SingleStream"),
          "effective_scenario");
    CHECK((x = detail_value(ev, n, "requested_min_duration_ms")) && x->num == 1000, "requested_min_duration_ms");
    CHECK((x = detail_value(ev, n, "generated_query_count")) && x->num == 201, "generated_query_count");
    CHECK((x = detail_value(ev, n, "loaded_qsl_set")) && x->kind == JV_ARR && x->n == 1000,
          "loaded_qsl_set");
    CHECK((x = detail_value(ev, n, "result_qps_with_loadgen_overhead")) && fabs(x->num - 200) < 1e-6,
          "result_qps_with_loadgen_overhead");
    CHECK((x = detail_value(ev, n, "sut_name")) && !strcmp(x->str, "sim"), "sut_name");
    for (size_t i = 0; i < n; i++) jv_free(&ev[i]);
    free(text);

    /* The JSON dump. */
    snprintf(path, sizeof path, "%s/result.json", dir);
    kiln_err err = {0};
    CHECK_OK(kiln_lg_write_json_file(&r, path, &err));
    text = read_file(path);
    jv doc = {0};
    CHECK(text && jv_parse(text, &doc) && doc.kind == JV_OBJ, "JSON dump parses");
    const jv *lat = jv_get(&doc, "latency_ns"), *es = jv_get(&doc, "early_stopping"),
             *eff = jv_get(&doc, "effective");
    CHECK(jv_get(&doc, "valid") && jv_get(&doc, "valid")->b && jv_get(&doc, "query_count")->num == 201 &&
              !strcmp(jv_get(&doc, "scenario")->str, "SingleStream"),
          "JSON: valid, 201 queries");
    CHECK(lat && jv_get(lat, "p90")->num == (double)r.sample_latency.pct_ns[KILN_LG_P90] &&
              jv_get(lat, "p99.9") && jv_get(lat, "mean")->num == (double)r.sample_latency.mean_ns,
          "JSON latencies");
    CHECK(es && jv_get(es, "min_queries")->num == 64 && jv_get(es, "discarded")->num == 9,
          "JSON early stopping");
    CHECK(eff && jv_get(eff, "min_duration_ms")->num == 1000, "JSON effective settings");
    CHECK(fabs(jv_get(&doc, "qps_with_loadgen_overhead")->num - 200) < 1e-6, "JSON QPS");
    jv_free(&doc);
    free(text);
    free(q.loaded);
    sim_free(&sim);
}

static void test_invalid_server_logs(void) {
    char dir[1024], path[1200];
    fresh_dir("loadgen_logs_server", dir, sizeof dir);
    sim_sut sim;
    sim_init(&sim, 0, 20000000); /* 20 ms > the 15 ms bound */
    sim_qsl q;
    sim_qsl_init(&q, 100, 100);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SERVER);
    st.server_target_qps = 100;
    st.duration_ms = 2000;
    st.min_duration_ms = 5000;
    CHECK_OK(kiln_lg_set_log_dir(sim.lg, dir));
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    snprintf(path, sizeof path, "%s/mlperf_log_summary.txt", dir);
    char *text = read_file(path), v[128];
    CHECK(text && strstr(text, "\nScenario : Server\n") && strstr(text, "\nResult is : INVALID\n") &&
              strstr(text, "\n  Performance constraints satisfied : NO\n") &&
              strstr(text, "\n  Min duration satisfied : NO\n") &&
              strstr(text, "\nRecommendations:\n * Reduce target QPS to improve latency.\n") &&
              strstr(text, "duration override ended the run") &&
              strstr(text, "\nEarly Stopping Result:\n * Run unsuccessful.\n"),
          "INVALID Server summary:\n%s", text ? text : "");
    CHECK(text && summary_value(text, "Completed samples per second", v, sizeof v) &&
              fabs(atof(v) - r.completed_samples_per_second) < 0.01,
          "completed samples per second");
    CHECK(text && summary_value(text, "Scheduled samples per second", v, sizeof v) &&
              fabs(atof(v) - r.scheduled_samples_per_second) < 0.01,
          "scheduled samples per second");
    CHECK(text && summary_value(text, "target_latency (ns)", v, sizeof v) && !strcmp(v, "15000000"),
          "target latency parameter");
    CHECK(text && summary_value(text, "duration override (ms)", v, sizeof v) && !strcmp(v, "2000"),
          "duration override noted");
    free(text);
    snprintf(path, sizeof path, "%s/mlperf_log_detail.txt", dir);
    text = read_file(path);
    jv ev[400];
    size_t n = 0;
    CHECK(text && parse_detail(text, ev, 400, &n) == 0, "detail parses");
    const jv *x = detail_value(ev, n, "result_invalid_reason");
    CHECK(x && x->kind == JV_STR && strstr(x->str, "latency bound"), "result_invalid_reason");
    x = detail_value(ev, n, "result_perf_constraints_met");
    CHECK(x && x->kind == JV_BOOL && !x->b, "result_perf_constraints_met false");
    x = detail_value(ev, n, "result_overlatency_query_count");
    CHECK(x && x->num == (double)r.query_count, "all over latency");
    for (size_t i = 0; i < n; i++) jv_free(&ev[i]);
    free(text);
    free(q.loaded);
    sim_free(&sim);
}

/* A SUT that answers every sample twice and once with an id it never got. */
static sim_sut *bad_sim;
static void bad_issue(void *user, const kiln_lg_sample *s, size_t n) {
    sim_issue(user, s, n);
    kiln_lg_response dup[2] = {{.id = s[0].id}, {.id = 999999}};
    kiln_lg_complete(bad_sim->lg, dup, 2);
}

static void test_bad_responses(void) {
    char dir[1024], path[1200];
    fresh_dir("loadgen_logs_bad", dir, sizeof dir);
    sim_sut sim;
    sim_init(&sim, 0, 1000000);
    sim.sync_complete = 1;
    bad_sim = &sim;
    sim_qsl q;
    sim_qsl_init(&q, 100, 100);
    kiln_lg_sut sut = sim_iface(&sim);
    sut.issue_query = bad_issue;
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SINGLE_STREAM);
    st.min_duration_ms = 0;
    st.min_query_count = 30;
    sim.issue_cost_ns = 1000000;
    CHECK_OK(kiln_lg_set_log_dir(sim.lg, dir));
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count == 30 && r.sample_count == 30 && r.errors == 60,
          "30 queries answered once each, 60 bad responses counted (%llu)",
          (unsigned long long)r.errors);
    snprintf(path, sizeof path, "%s/mlperf_log_summary.txt", dir);
    char *text = read_file(path);
    CHECK(text && strstr(text, "\n60 ERRORS encountered. See detailed log.\n"), "errors in summary");
    free(text);
    snprintf(path, sizeof path, "%s/mlperf_log_detail.txt", dir);
    text = read_file(path);
    jv ev[400];
    size_t n = 0, errs = 0;
    CHECK(text && parse_detail(text, ev, 400, &n) == 0, "detail parses");
    for (size_t i = 0; i < n; i++) {
        const jv *md = jv_get(&ev[i], "metadata");
        if (jv_get(md, "is_error")->b) {
            errs++;
            CHECK(!strcmp(jv_get(&ev[i], "key")->str, "error_runtime"), "error key");
        }
        jv_free(&ev[i]);
    }
    CHECK(errs == 20, "the first 20 bad responses get a line (%zu)", errs);
    free(text);
    free(q.loaded);
    sim_free(&sim);
}

/* Performance mode logs a sampled fraction of responses (accuracy_log_probability). */
static void test_accuracy_sampling(void) {
    sim_sut sim;
    sim_init(&sim, 0, 1000000);
    sim.with_data = 1;
    sim_qsl q;
    sim_qsl_init(&q, 100, 100);
    kiln_lg_sut sut = sim_iface(&sim);
    kiln_lg_qsl qsl = sim_qsl_iface(&q);
    kiln_lg_settings st;
    sim_settings(&st, KILN_LG_SINGLE_STREAM);
    st.min_duration_ms = 2000; /* 2001 queries */
    st.accuracy_log_probability = 0.1;
    sink_count sink = {0};
    kiln_lg_set_accuracy_sink(sim.lg, count_sink, &sink);
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sim.lg, &sut, &qsl, &st, &r));
    CHECK(r.accuracy_logged == sink.n && sink.n > 150 && sink.n < 250,
          "about 10%% of 2001 responses logged: %llu", (unsigned long long)sink.n);
    free(q.loaded);
    sim_free(&sim);
}

int main(void) {
    for (int sc = 0; sc < KILN_LG_SCENARIO_COUNT; sc++) test_accuracy((kiln_lg_scenario)sc);
    test_performance_logs();
    test_invalid_server_logs();
    test_bad_responses();
    test_accuracy_sampling();
    return test_done();
}
