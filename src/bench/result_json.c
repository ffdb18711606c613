/* result_json.c — every figure of a run as one JSON object (`kiln bench --json`). Keys use
 * LoadGen's names where it has one; latencies are integer nanoseconds. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/lg_internal.h"

typedef struct jw {
    FILE *f;
    int first; /* no comma before the next member */
} jw;

static void key(jw *w, const char *k) {
    fputs(w->first ? "" : ",", w->f);
    fputs("\n  ", w->f);
    kiln__lg_json_write_str(w->f, k);
    fputs(": ", w->f);
    w->first = 0;
}

static void num(jw *w, const char *k, double v) {
    key(w, k);
    if (isfinite(v)) fprintf(w->f, "%.10g", v);
    else fputs("null", w->f);
}
static void i64(jw *w, const char *k, int64_t v) { key(w, k); fprintf(w->f, "%lld", (long long)v); }
static void u64(jw *w, const char *k, uint64_t v) { key(w, k); fprintf(w->f, "%llu", (unsigned long long)v); }
static void boolean(jw *w, const char *k, int v) { key(w, k); fputs(v ? "true" : "false", w->f); }
static void str(jw *w, const char *k, const char *v) { key(w, k); kiln__lg_json_write_str(w->f, v); }

static void latency(jw *w, const char *k, const kiln_lg_latency_stats *st) {
    static const char *const names[KILN_LG_NPCT] = {"p50", "p90", "p95", "p97", "p99", "p99.9"};
    key(w, k);
    fprintf(w->f, "{\"count\": %llu, \"min\": %lld, \"max\": %lld, \"mean\": %lld",
            (unsigned long long)st->count, (long long)st->min_ns, (long long)st->max_ns,
            (long long)st->mean_ns);
    for (int i = 0; i < KILN_LG_NPCT; i++)
        fprintf(w->f, ", \"%s\": %lld", names[i], (long long)st->pct_ns[i]);
    fprintf(w->f, ", \"target_percentile\": %lld}", (long long)st->target_pct_ns);
}

kiln_status kiln_lg_write_json(const kiln_lg_result *r, FILE *f) {
    if (!r || !f) return KILN_ERR_INVALID_ARG;
    const kiln_lg_settings *s = &r->settings;
    const kiln_lg_effective *e = &r->effective;
    jw w = {f, 1};
    fputc('{', f);
    str(&w, "sut_name", r->sut_name);
    str(&w, "model", s->model);
    str(&w, "scenario", kiln_lg_scenario_name(s->scenario));
    str(&w, "mode", kiln_lg_mode_name(s->mode));
    str(&w, "result_validity", r->valid ? "VALID" : "INVALID");
    boolean(&w, "valid", r->valid);
    str(&w, "metric_name", r->metric_name);
    num(&w, "metric", r->metric);
    boolean(&w, "min_duration_met", r->min_duration_met);
    boolean(&w, "min_queries_met", r->min_queries_met);
    boolean(&w, "perf_constraints_met", r->perf_constraints_met);
    boolean(&w, "early_stopping_met", r->early_stopping_met);
    key(&w, "invalid_reasons");
    fputc('[', f);
    for (int i = 0; i < r->n_reasons; i++) {
        if (i) fputs(", ", f);
        kiln__lg_json_write_str(f, r->reasons[i]);
    }
    fputc(']', f);

    u64(&w, "query_count", r->query_count);
    u64(&w, "sample_count", r->sample_count);
    num(&w, "duration_s", r->duration_s);
    num(&w, "final_query_scheduled_s", r->final_query_scheduled_s);
    num(&w, "final_query_issued_s", r->final_query_issued_s);
    num(&w, "final_query_done_s", r->final_query_done_s);
    num(&w, "max_latency_s", r->max_latency_s);
    num(&w, "samples_per_second", r->samples_per_second);
    num(&w, "qps_with_loadgen_overhead", r->qps_with_loadgen_overhead);
    num(&w, "qps_without_loadgen_overhead", r->qps_without_loadgen_overhead);
    num(&w, "scheduled_samples_per_second", r->scheduled_samples_per_second);
    num(&w, "completed_samples_per_second", r->completed_samples_per_second);
    latency(&w, "latency_ns", &r->sample_latency);
    if (s->scenario == KILN_LG_MULTI_STREAM) latency(&w, "query_latency_ns", &r->query_latency);
    u64(&w, "overlatency_count", r->overlatency_count);

    key(&w, "early_stopping");
    fprintf(f, "{\"met\": %s, \"confidence\": %g, \"tolerance\": %g, \"min_queries\": %lld, "
               "\"discarded\": %lld, \"target_estimate_ns\": %lld, \"p99_estimate_ns\": %lld, "
               "\"queries_needed\": %lld, \"text\": ",
            r->early_stopping_met ? "true" : "false", r->es_confidence, r->es_tolerance,
            (long long)r->es_min_queries, (long long)r->es_discarded,
            (long long)r->es_target_estimate_ns, (long long)r->es_p99_estimate_ns,
            (long long)r->es_queries_needed);
    kiln__lg_json_write_str(f, r->es_text);
    fputc('}', f);
    num(&w, "peak_qps", r->peak_qps);
    i64(&w, "find_peak_runs", r->find_peak_runs);
    u64(&w, "accuracy_logged", r->accuracy_logged);
    u64(&w, "errors", r->errors);
    u64(&w, "warnings", r->warnings);

    key(&w, "effective");
    fprintf(f, "{\"samples_per_query\": %llu, \"target_qps\": %.10g, \"target_latency_ns\": %llu, "
               "\"target_latency_percentile\": %g, \"max_async_queries\": %llu, "
               "\"target_duration_ms\": %llu, \"min_duration_ms\": %llu, \"max_duration_ms\": %llu, "
               "\"min_query_count\": %llu, \"max_query_count\": %llu, \"min_sample_count\": %llu, "
               "\"performance_sample_count\": %llu, \"duration_override_ms\": %llu, "
               "\"qsl_rng_seed\": %llu, \"sample_index_rng_seed\": %llu, "
               "\"schedule_rng_seed\": %llu}",
            (unsigned long long)e->samples_per_query, e->target_qps,
            (unsigned long long)e->target_latency_ns, e->target_latency_percentile,
            (unsigned long long)e->max_async_queries, (unsigned long long)e->target_duration_ms,
            (unsigned long long)e->min_duration_ms, (unsigned long long)e->max_duration_ms,
            (unsigned long long)e->min_query_count, (unsigned long long)e->max_query_count,
            (unsigned long long)e->min_sample_count,
            (unsigned long long)e->performance_sample_count, (unsigned long long)s->duration_ms,
            (unsigned long long)s->qsl_rng_seed, (unsigned long long)s->sample_index_rng_seed,
            (unsigned long long)s->schedule_rng_seed);
    fputs("\n}\n", f);
    return ferror(f) ? KILN_ERR_IO : KILN_OK;
}

kiln_status kiln_lg_write_json_file(const kiln_lg_result *r, const char *path, kiln_err *err) {
    if (!r || !path) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "json: NULL argument");
    FILE *f = fopen(path, "w");
    if (!f) return kiln_err_set(err, KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    kiln_status st = kiln_lg_write_json(r, f);
    if (fclose(f) != 0) st = KILN_ERR_IO;
    if (st != KILN_OK) return kiln_err_set(err, st, "%s: write failed", path);
    return KILN_OK;
}
