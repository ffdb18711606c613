/* detail.c — mlperf_log_detail.txt: one ":::MLLOG {json}" line per event, in LoadGen's format
 * (key, value, time_ms, namespace, event_type, metadata{is_error, is_warning, file, line_no, pid,
 * tid}). Events are recorded while the run goes (settings, loaded sets, errors, how it ended)
 * and written at the end, followed by the result_* keys LoadGen's LogDetail emits. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/lg_internal.h"

/* ---- JSON helpers ---- */

char *kiln__lg_jfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static size_t escaped_len(const char *s) {
    size_t n = 2;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        n += (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') ? 2 : c < 0x20 ? 6 : 1;
    }
    return n;
}

static char *escape_into(char *o, const char *s) {
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
        else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (c < 0x20) o += sprintf(o, "\\u%04x", c);
        else *o++ = (char)c;
    }
    *o++ = '"';
    *o = 0;
    return o;
}

char *kiln__lg_json_str(const char *s) {
    if (!s) s = "";
    char *o = malloc(escaped_len(s) + 1);
    if (o) escape_into(o, s);
    return o;
}

void kiln__lg_json_write_str(FILE *f, const char *s) {
    char *e = kiln__lg_json_str(s);
    fputs(e ? e : "\"\"", f);
    free(e);
}

char *kiln__lg_json_u64_array(const uint64_t *a, size_t n) {
    size_t cap = 2 + n * 21 + 1;
    char *s = malloc(cap), *o = s;
    if (!s) return NULL;
    *o++ = '[';
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, i ? ", %llu" : "%llu", (unsigned long long)a[i]);
    *o++ = ']';
    *o = 0;
    return s;
}

/* A JSON number for a double (JSON has no inf or nan). */
static char *jdouble(double v) { return isfinite(v) ? kiln__lg_jfmt("%.10g", v) : kiln__lg_jfmt("null"); }

/* ---- the event list ---- */

void kiln__lg_event_locked(kiln_lg *lg, const char *key, const char *value_json, int is_error,
                           int is_warning, const char *file, int line) {
    if (lg->n_events == lg->cap_events) {
        size_t cap = lg->cap_events ? lg->cap_events * 2 : 128;
        kiln__lg_evrec *e = realloc(lg->events, cap * sizeof *e);
        if (!e) return; /* the log loses a line; the run goes on */
        lg->events = e;
        lg->cap_events = cap;
    }
    char *v = strdup(value_json ? value_json : "null");
    if (!v) return;
    kiln__lg_evrec *e = &lg->events[lg->n_events++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->value = v;
    e->time_ms = (double)(lg->clock.now_ns(lg->clock.self) - lg->log_t0) / 1e6;
    e->file = file;
    e->line = line;
    e->is_error = (uint8_t)is_error;
    e->is_warning = (uint8_t)is_warning;
    e->tid = (long)syscall(SYS_gettid);
    if (is_warning) lg->n_warnings++;
}

void kiln__lg_event(kiln_lg *lg, const char *key, const char *value_json, int is_error,
                    int is_warning, const char *file, int line) {
    pthread_mutex_lock(&lg->mu);
    if (is_error) lg->n_errors++;
    kiln__lg_event_locked(lg, key, value_json, is_error, is_warning, file, line);
    pthread_mutex_unlock(&lg->mu);
}

void kiln__lg_event_text(kiln_lg *lg, const char *key, int is_error, const char *file, int line,
                         const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *v = kiln__lg_json_str(buf);
    kiln__lg_event(lg, key, v, is_error, 0, file, line);
    free(v);
}

void kiln__lg_events_clear(kiln_lg *lg) {
    for (size_t i = 0; i < lg->n_events; i++) free(lg->events[i].value);
    lg->n_events = 0;
}

/* Typed events; the macros keep the caller's line for the metadata. */
static void ev_take(kiln_lg *lg, const char *key, char *json, int line) {
    kiln__lg_event(lg, key, json, 0, 0, __FILE__, line);
    free(json);
}
#define EV_U64(lg, key, v) ev_take(lg, key, kiln__lg_jfmt("%llu", (unsigned long long)(v)), __LINE__)
#define EV_I64(lg, key, v) ev_take(lg, key, kiln__lg_jfmt("%lld", (long long)(v)), __LINE__)
#define EV_DBL(lg, key, v) ev_take(lg, key, jdouble(v), __LINE__)
#define EV_BOOL(lg, key, v) ev_take(lg, key, kiln__lg_jfmt("%s", (v) ? "true" : "false"), __LINE__)
#define EV_STR(lg, key, v) ev_take(lg, key, kiln__lg_json_str(v), __LINE__)

/* ---- settings ---- */

void kiln__lg_log_settings(kiln_lg *lg, const kiln_lg_settings *s, const kiln_lg_effective *e) {
    EV_STR(lg, "requested_scenario", kiln_lg_scenario_name(s->scenario));
    EV_STR(lg, "requested_test_mode", kiln_lg_mode_name(s->mode));
    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM:
        EV_U64(lg, "requested_single_stream_expected_latency_ns", s->single_stream_expected_latency_ns);
        EV_DBL(lg, "requested_single_stream_target_latency_percentile",
               s->single_stream_target_latency_percentile);
        break;
    case KILN_LG_MULTI_STREAM:
        EV_U64(lg, "requested_multi_stream_expected_latency_ns", s->multi_stream_expected_latency_ns);
        EV_DBL(lg, "requested_multi_stream_target_latency_percentile",
               s->multi_stream_target_latency_percentile);
        EV_I64(lg, "requested_multi_stream_samples_per_query", s->multi_stream_samples_per_query);
        break;
    case KILN_LG_SERVER:
        EV_DBL(lg, "requested_server_target_qps", s->server_target_qps);
        EV_U64(lg, "requested_server_target_latency_ns", s->server_target_latency_ns);
        EV_DBL(lg, "requested_server_target_latency_percentile", s->server_target_latency_percentile);
        EV_BOOL(lg, "requested_server_coalesce_queries", 0);
        EV_I64(lg, "requested_server_find_peak_qps_decimals_of_precision",
               s->server_find_peak_qps_decimals_of_precision);
        EV_DBL(lg, "requested_server_find_peak_qps_boundary_step_size",
               s->server_find_peak_qps_boundary_step_size);
        EV_U64(lg, "requested_server_max_async_queries", s->server_max_async_queries);
        EV_U64(lg, "requested_server_num_issue_query_threads", 0);
        break;
    default:
        EV_DBL(lg, "requested_offline_expected_qps", s->offline_expected_qps);
        break;
    }
    EV_U64(lg, "requested_min_duration_ms", s->min_duration_ms);
    EV_U64(lg, "requested_max_duration_ms", s->max_duration_ms);
    EV_U64(lg, "requested_min_query_count", s->min_query_count);
    EV_U64(lg, "requested_max_query_count", s->max_query_count);
    EV_U64(lg, "requested_qsl_rng_seed", s->qsl_rng_seed);
    EV_U64(lg, "requested_sample_index_rng_seed", s->sample_index_rng_seed);
    EV_U64(lg, "requested_schedule_rng_seed", s->schedule_rng_seed);
    EV_U64(lg, "requested_accuracy_log_rng_seed", s->accuracy_log_rng_seed);
    EV_DBL(lg, "requested_accuracy_log_probability", s->accuracy_log_probability);
    EV_U64(lg, "requested_accuracy_log_sampling_target", s->accuracy_log_sampling_target);
    EV_BOOL(lg, "requested_print_timestamps", s->print_timestamps);
    EV_BOOL(lg, "requested_performance_issue_unique", 0);
    EV_BOOL(lg, "requested_performance_issue_same", 0);
    EV_U64(lg, "requested_performance_issue_same_index", 0);
    EV_U64(lg, "requested_performance_sample_count_override", s->performance_sample_count_override);
    EV_U64(lg, "requested_kiln_duration_ms", s->duration_ms);

    EV_STR(lg, "effective_scenario", kiln_lg_scenario_name(s->scenario));
    EV_STR(lg, "effective_test_mode", kiln_lg_mode_name(s->mode));
    EV_U64(lg, "effective_samples_per_query", e->samples_per_query);
    EV_DBL(lg, "effective_target_qps", e->target_qps);
    EV_U64(lg, "effective_target_latency_ns", e->target_latency_ns);
    EV_DBL(lg, "effective_target_latency_percentile", e->target_latency_percentile);
    EV_U64(lg, "effective_max_async_queries", e->max_async_queries);
    EV_U64(lg, "effective_target_duration_ms", e->target_duration_ms);
    EV_U64(lg, "effective_min_duration_ms", e->min_duration_ms);
    EV_U64(lg, "effective_max_duration_ms", e->max_duration_ms);
    EV_U64(lg, "effective_min_query_count", e->min_query_count);
    EV_U64(lg, "effective_max_query_count", e->max_query_count);
    EV_U64(lg, "effective_min_sample_count", e->min_sample_count);
    EV_U64(lg, "effective_qsl_rng_seed", s->qsl_rng_seed);
    EV_U64(lg, "effective_sample_index_rng_seed", s->sample_index_rng_seed);
    EV_U64(lg, "effective_schedule_rng_seed", s->schedule_rng_seed);
    EV_U64(lg, "effective_accuracy_log_rng_seed", s->accuracy_log_rng_seed);
    EV_DBL(lg, "effective_accuracy_log_probability", e->accuracy_log_probability);
    EV_U64(lg, "effective_accuracy_log_sampling_target", s->accuracy_log_sampling_target);
    EV_BOOL(lg, "effective_print_timestamps", s->print_timestamps);
    EV_BOOL(lg, "effective_performance_issue_unique", 0);
    EV_BOOL(lg, "effective_performance_issue_same", 0);
    EV_U64(lg, "effective_performance_issue_same_index", 0);
    EV_U64(lg, "effective_performance_sample_count", e->performance_sample_count);
}

/* ---- results (LoadGen's PerformanceSummary::LogDetail) ---- */

static void pct_key(char *buf, size_t n, const char *pre, double p, const char *post) {
    snprintf(buf, n, "%s%.2f%s", pre, p * 100, post);
}

static void log_result(kiln_lg *lg, const kiln_lg_result *r) {
    const kiln_lg_scenario sc = r->settings.scenario;
    char key[96];
    EV_STR(lg, "result_validity", r->valid ? "VALID" : "INVALID");
    if (r->settings.mode == KILN_LG_ACCURACY) {
        EV_U64(lg, "result_query_count", r->query_count);
        EV_U64(lg, "result_sample_count", r->sample_count);
        EV_U64(lg, "accuracy_log_count", r->accuracy_logged);
        return;
    }
    if (r->has_perf_constraints) EV_BOOL(lg, "result_perf_constraints_met", r->perf_constraints_met);
    EV_BOOL(lg, "result_min_duration_met", r->min_duration_met);
    EV_BOOL(lg, "result_min_queries_met", r->min_queries_met);
    EV_BOOL(lg, "early_stopping_met", r->early_stopping_met);
    if (!r->valid) {
        char why[KILN_LG_MAX_REASONS * 162] = "";
        for (int i = 0; i < r->n_reasons; i++) {
            if (i) strcat(why, "; ");
            strcat(why, r->reasons[i]);
        }
        EV_STR(lg, "result_invalid_reason", why);
    }
    if (sc != KILN_LG_OFFLINE) {
        char text[sizeof r->es_text];
        snprintf(text, sizeof text, "%s", r->es_text);
        for (char *p = text; *p; p++)
            if (*p == '\n') *p = ' ';
        EV_STR(lg, "early_stopping_result", text);
    }
    EV_U64(lg, "result_query_count", r->query_count);
    if (sc == KILN_LG_SERVER) EV_U64(lg, "result_overlatency_query_count", r->overlatency_count);
    switch (sc) {
    case KILN_LG_SINGLE_STREAM:
        EV_DBL(lg, "result_qps_with_loadgen_overhead", r->qps_with_loadgen_overhead);
        EV_DBL(lg, "result_qps_without_loadgen_overhead", r->qps_without_loadgen_overhead);
        EV_I64(lg, "early_stopping_latency_ss", r->es_target_estimate_ns);
        EV_I64(lg, "early_stopping_latency_ms", r->es_p99_estimate_ns);
        break;
    case KILN_LG_MULTI_STREAM:
        EV_I64(lg, "result_min_query_latency_ns", r->query_latency.min_ns);
        EV_I64(lg, "result_max_query_latency_ns", r->query_latency.max_ns);
        EV_I64(lg, "result_mean_query_latency_ns", r->query_latency.mean_ns);
        for (int i = 0; i < KILN_LG_NPCT; i++) {
            pct_key(key, sizeof key, "result_", kiln_lg_percentiles[i], "_percentile_per_query_latency_ns");
            EV_I64(lg, key, r->query_latency.pct_ns[i]);
        }
        EV_I64(lg, "early_stopping_latency_ms", r->es_target_estimate_ns);
        break;
    case KILN_LG_SERVER:
        EV_DBL(lg, "result_scheduled_samples_per_sec", r->scheduled_samples_per_second);
        EV_DBL(lg, "result_completed_samples_per_sec", r->completed_samples_per_second);
        if (r->settings.mode == KILN_LG_FIND_PEAK) EV_DBL(lg, "result_peak_target_qps", r->peak_qps);
        break;
    default:
        EV_DBL(lg, "result_samples_per_second", r->samples_per_second);
        break;
    }
    EV_I64(lg, "result_min_latency_ns", r->sample_latency.min_ns);
    EV_I64(lg, "result_max_latency_ns", r->sample_latency.max_ns);
    EV_I64(lg, "result_mean_latency_ns", r->sample_latency.mean_ns);
    for (int i = 0; i < KILN_LG_NPCT; i++) {
        pct_key(key, sizeof key, "result_", kiln_lg_percentiles[i], "_percentile_latency_ns");
        EV_I64(lg, key, r->sample_latency.pct_ns[i]);
    }
}

/* "src/bench/run.c" rather than the build machine's absolute path. */
static const char *short_file(const char *f) {
    const char *p = strstr(f, "src/");
    return p ? p : f;
}

kiln_status kiln__lg_write_detail(kiln_lg *lg, const kiln_lg_result *r, FILE *f) {
    if (r) log_result(lg, r);
    pthread_mutex_lock(&lg->mu);
    int pid = (int)getpid();
    for (size_t i = 0; i < lg->n_events; i++) {
        const kiln__lg_evrec *e = &lg->events[i];
        fputs(":::MLLOG {\"key\": ", f);
        kiln__lg_json_write_str(f, e->key);
        fprintf(f, ", \"value\": %s, \"time_ms\": %.6f, \"namespace\": \"mlperf::logging\", "
                   "\"event_type\": \"POINT_IN_TIME\", \"metadata\": {\"is_error\": %s, "
                   "\"is_warning\": %s, \"file\": ",
                e->value, e->time_ms, e->is_error ? "true" : "false",
                e->is_warning ? "true" : "false");
        kiln__lg_json_write_str(f, short_file(e->file));
        fprintf(f, ", \"line_no\": %d, \"pid\": %d, \"tid\": %ld}}\n", e->line, pid, e->tid);
    }
    pthread_mutex_unlock(&lg->mu);
    return ferror(f) ? KILN_ERR_IO : KILN_OK;
}
