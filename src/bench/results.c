/* results.c — judging a run: turn the records into LoadGen's figures (results.cc) and decide
 * validity the way LoadGen does: minimum duration, minimum queries, the Server latency bound
 * and early stopping. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lg_internal.h"

static void add_reason(kiln_lg_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(kiln_lg_result *r, const char *fmt, ...) {
    if (r->n_reasons >= KILN_LG_MAX_REASONS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reasons[r->n_reasons++], sizeof r->reasons[0], fmt, ap);
    va_end(ap);
}

static void es_append(kiln_lg_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void es_append(kiln_lg_result *r, const char *fmt, ...) {
    size_t k = strlen(r->es_text);
    if (k + 1 >= sizeof r->es_text) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->es_text + k, sizeof r->es_text - k, fmt, ap);
    va_end(ap);
}

static double ratio(double num, double den) { return den > 0 ? num / den : 0; }

/* SingleStream (on sample latencies) and MultiStream (on query latencies): an estimate of the
   target percentile, and for SingleStream also of the 99th (used to infer MultiStream). */
static void early_stopping_estimates(kiln_lg_result *r, const int64_t *sorted, size_t n,
                                     double p, int with_p99) {
    const double d = r->es_tolerance, c = r->es_confidence;
    int64_t need, discard;
    int64_t est = kiln_lg_es_estimate(sorted, n, p, d, c, &need, &discard);
    r->es_min_queries = need;
    if (est < 0) {
        r->early_stopping_met = 0;
        es_append(r, " * Only processed %zu queries.\n * Need to process at least %lld queries "
                  "for early stopping.", n, (long long)need);
        return;
    }
    r->early_stopping_met = 1;
    r->es_discarded = discard;
    r->es_target_estimate_ns = est;
    es_append(r, " * Processed at least %lld queries (%zu).\n * Would discard %lld highest "
              "latency queries.\n * Early stopping %.1fth percentile estimate: %lld",
              (long long)need, n, (long long)discard, p * 100, (long long)est);
    if (!with_p99) return;
    int64_t need99, discard99;
    int64_t est99 = kiln_lg_es_estimate(sorted, n, 0.99, d, c, &need99, &discard99);
    if (est99 < 0) {
        es_append(r, "\n * Not enough queries processed for 99.0th percentile\n early stopping "
                  "estimate (would need to process at\n least %lld total queries).",
                  (long long)need99);
    } else {
        r->es_p99_estimate_ns = est99;
        es_append(r, "\n * Early stopping 99.0th percentile estimate: %lld", (long long)est99);
    }
}

/* Server: with t queries over the bound, the run must have h(t) + t queries. */
static void early_stopping_server(kiln_lg_result *r, double p) {
    int64_t t = (int64_t)r->overlatency_count;
    int64_t h = kiln_lg_es_min_passing(t, p, r->es_tolerance, r->es_confidence);
    r->es_queries_needed = h + t;
    r->early_stopping_met = (int64_t)r->query_count >= h + t;
    if (r->early_stopping_met) {
        es_append(r, " * Run successful.");
    } else {
        es_append(r, " * Run unsuccessful.\n * Processed %llu queries.\n * Would need to run at "
                  "least %lld more queries,\n with the run being successful if every "
                  "additional\n query were under latency.",
                  (unsigned long long)r->query_count, (long long)(h + t - (int64_t)r->query_count));
    }
}

static void judge_performance(kiln_lg_result *r, const kiln_lg_settings *s,
                              const kiln_lg_effective *e, const int64_t *sorted_samples,
                              const int64_t *sorted_queries) {
    const double min_s = (double)e->min_duration_ms / 1000.0;
    const char *shortened = s->duration_ms ? " (the run was shortened with a duration override)" : "";
    double ran;
    const char *what;
    switch (s->scenario) {
    case KILN_LG_OFFLINE: ran = r->max_latency_s; what = "the query took"; break;
    case KILN_LG_SERVER: ran = r->final_query_scheduled_s; what = "the last query was scheduled at"; break;
    default: ran = r->final_query_issued_s; what = "the last query was issued at"; break;
    }
    r->min_duration_met = ran >= min_s;
    if (!r->min_duration_met)
        add_reason(r, "min duration not met: %s %.3f s, min_duration is %.3f s%s", what, ran,
                   min_s, shortened);

    r->min_queries_met = r->query_count >= e->min_query_count &&
                         r->sample_count >= e->min_sample_count;
    if (!r->min_queries_met) {
        if (s->scenario == KILN_LG_OFFLINE)
            add_reason(r, "min queries not met: %llu samples, the rules need %llu%s",
                       (unsigned long long)r->sample_count,
                       (unsigned long long)e->min_sample_count, shortened);
        else
            add_reason(r, "min queries not met: %llu queries, min_query_count is %llu%s",
                       (unsigned long long)r->query_count, (unsigned long long)e->min_query_count,
                       shortened);
    }

    r->perf_constraints_met = 1;
    r->has_perf_constraints = s->scenario == KILN_LG_SERVER;
    if (r->has_perf_constraints &&
        r->sample_latency.target_pct_ns > (int64_t)e->target_latency_ns) {
        r->perf_constraints_met = 0;
        add_reason(r, "latency bound missed: %.1fth percentile latency %lld ns > %llu ns",
                   e->target_latency_percentile * 100, (long long)r->sample_latency.target_pct_ns,
                   (unsigned long long)e->target_latency_ns);
    }

    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM:
        early_stopping_estimates(r, sorted_samples, r->sample_latency.count,
                                 e->target_latency_percentile, 1);
        break;
    case KILN_LG_MULTI_STREAM:
        early_stopping_estimates(r, sorted_queries, r->query_latency.count,
                                 e->target_latency_percentile, 0);
        break;
    case KILN_LG_SERVER: early_stopping_server(r, e->target_latency_percentile); break;
    default: r->early_stopping_met = 1; break;
    }
    if (!r->early_stopping_met) {
        if (s->scenario == KILN_LG_SERVER)
            add_reason(r, "early stopping not satisfied: %llu of %llu queries over the bound "
                       "need %lld queries in all", (unsigned long long)r->overlatency_count,
                       (unsigned long long)r->query_count, (long long)r->es_queries_needed);
        else
            add_reason(r, "early stopping not satisfied: %llu queries, at least %lld needed",
                       (unsigned long long)r->query_count, (long long)r->es_min_queries);
    }
    r->valid = r->min_duration_met && r->min_queries_met && r->perf_constraints_met &&
               r->early_stopping_met;
}

void kiln__lg_summarize(kiln_lg *lg, const kiln_lg_settings *s, const kiln_lg_effective *e,
                        const char *sut_name, kiln_lg_result *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->sut_name, sizeof r->sut_name, "%s", sut_name ? sut_name : "");
    r->settings = *s;
    r->effective = *e;
    r->es_confidence = 0.99;
    r->es_tolerance = 0.0;
    r->es_target_estimate_ns = r->es_p99_estimate_ns = -1;

    pthread_mutex_lock(&lg->mu); /* late completions may still arrive */
    size_t ns = lg->n_samples, nq = lg->n_queries;
    int64_t *lat = malloc((ns ? ns : 1) * sizeof *lat);
    int64_t *qlat = s->scenario == KILN_LG_MULTI_STREAM ? malloc((nq ? nq : 1) * sizeof *qlat) : NULL;
    size_t k = 0, kq = 0;
    int64_t last_done = 0;
    if (lat) {
        for (size_t i = 0; i < ns; i++) {
            const kiln__lg_sample *sm = &lg->samples[i];
            if (sm->done_ns < 0) continue;
            lat[k++] = sm->done_ns - lg->queries[sm->query].sched_ns;
            if (sm->done_ns > last_done) last_done = sm->done_ns;
        }
    }
    if (qlat)
        for (size_t i = 0; i < nq; i++)
            if (lg->queries[i].done_ns >= 0)
                qlat[kq++] = lg->queries[i].done_ns - lg->queries[i].sched_ns;
    r->query_count = nq;
    r->sample_count = k;
    if (nq) {
        const kiln__lg_query *f = &lg->queries[nq - 1];
        r->final_query_scheduled_s = (double)f->sched_ns / 1e9;
        r->final_query_issued_s = (double)f->issued_ns / 1e9;
        r->final_query_done_s = (double)(f->done_ns >= 0 ? f->done_ns : last_done) / 1e9;
    }
    r->duration_s = (double)last_done / 1e9;
    r->errors = lg->n_errors;
    r->warnings = lg->n_warnings;
    size_t issued = ns;
    pthread_mutex_unlock(&lg->mu);

    kiln_lg_latency_stats_compute(lat, lat ? k : 0, e->target_latency_percentile, &r->sample_latency);
    if (qlat) kiln_lg_latency_stats_compute(qlat, kq, e->target_latency_percentile, &r->query_latency);
    r->max_latency_s = (double)r->sample_latency.max_ns / 1e9;

    double n1 = k > 0 ? (double)(k - 1) : 0; /* [first, last) spans n - 1 intervals */
    char pct[16];
    snprintf(pct, sizeof pct, "%.1fth", e->target_latency_percentile * 100);
    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM:
        r->qps_with_loadgen_overhead = ratio(n1, r->final_query_issued_s);
        r->qps_without_loadgen_overhead = ratio(1e9, (double)r->sample_latency.mean_ns);
        r->metric = (double)r->sample_latency.target_pct_ns;
        snprintf(r->metric_name, sizeof r->metric_name, "%s percentile latency (ns)", pct);
        break;
    case KILN_LG_MULTI_STREAM:
        r->metric = (double)r->query_latency.target_pct_ns;
        snprintf(r->metric_name, sizeof r->metric_name, "%s percentile latency (ns)", pct);
        break;
    case KILN_LG_SERVER:
        r->scheduled_samples_per_second = ratio(n1, r->final_query_scheduled_s);
        r->completed_samples_per_second = ratio(n1, r->final_query_done_s);
        r->metric = r->completed_samples_per_second;
        snprintf(r->metric_name, sizeof r->metric_name, "Completed samples per second");
        for (size_t i = 0; lat && i < k; i++)
            if (lat[i] > (int64_t)e->target_latency_ns) r->overlatency_count++;
        break;
    default:
        r->samples_per_second = ratio((double)k, r->max_latency_s);
        r->metric = r->samples_per_second;
        snprintf(r->metric_name, sizeof r->metric_name, "Samples per second");
        break;
    }

    if (s->mode == KILN_LG_ACCURACY) {
        /* Accuracy runs are not judged on time; they are whole if every sample came back once. */
        r->min_duration_met = r->min_queries_met = r->perf_constraints_met = 1;
        r->early_stopping_met = 1;
        r->valid = k == issued && r->errors == 0;
        if (k != issued)
            add_reason(r, "%zu of %zu samples were answered", k, issued);
        if (r->errors)
            add_reason(r, "%llu errors (see the detail log)", (unsigned long long)r->errors);
    } else {
        judge_performance(r, s, e, lat, qlat);
    }
    free(lat);
    free(qlat);
}
