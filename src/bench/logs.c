/* logs.c — the files a run leaves in its log directory, named as LoadGen names them:
 * mlperf_log_summary.txt (the human summary, in LoadGen's layout, line for line),
 * mlperf_log_detail.txt (detail.c) and mlperf_log_accuracy.json (written while responses come
 * in: [{ "seq_id" : N, "qsl_idx" : N, "data" : "HEX" }, ...], upper-case hex as LoadGen). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/lg_internal.h"

#define RULE "================================================"

void kiln__lg_path(const kiln_lg *lg, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", lg->log_dir ? lg->log_dir : ".", name);
}

/* mkdir -p */
static kiln_status make_dirs(kiln_lg *lg, const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return kiln_err_set(&lg->err, KILN_ERR_IO, "log dir: path too long");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return kiln_err_set(&lg->err, KILN_ERR_IO, "log dir %s: cannot create %s: %s",
                                    dir, p, strerror(errno));
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return kiln_err_set(&lg->err, KILN_ERR_IO, "log dir %s: not a directory", dir);
    return KILN_OK;
}

/* ---- accuracy log ---- */

kiln_status kiln__lg_accuracy_open(kiln_lg *lg) {
    KILN_TRY(make_dirs(lg, lg->log_dir));
    char path[4200];
    kiln__lg_path(lg, "mlperf_log_accuracy.json", path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) return kiln_err_set(&lg->err, KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fputc('[', f);
    pthread_mutex_lock(&lg->mu);
    lg->acc_file = f;
    pthread_mutex_unlock(&lg->mu);
    return KILN_OK;
}

void kiln__lg_accuracy_entry(kiln_lg *lg, uint64_t seq_id, uint64_t qsl_index, const void *data,
                             size_t size) {
    if (!lg->acc_file) return;
    static const char hex[] = "0123456789ABCDEF";
    FILE *f = lg->acc_file;
    fprintf(f, "%s{ \"seq_id\" : %llu, \"qsl_idx\" : %llu, \"data\" : \"",
            lg->acc_logged ? ",\n" : "\n", (unsigned long long)seq_id,
            (unsigned long long)qsl_index);
    const unsigned char *b = data;
    for (size_t i = 0; i < size; i++) {
        fputc(hex[b[i] >> 4], f);
        fputc(hex[b[i] & 15], f);
    }
    fputs("\" }", f);
}

kiln_status kiln__lg_accuracy_close(kiln_lg *lg) {
    pthread_mutex_lock(&lg->mu);
    FILE *f = lg->acc_file;
    lg->acc_file = NULL;
    pthread_mutex_unlock(&lg->mu);
    if (!f) return KILN_OK;
    fputs("\n]\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return kiln_err_set(&lg->err, KILN_ERR_IO, "%s/mlperf_log_accuracy.json: write failed",
                            lg->log_dir);
    return KILN_OK;
}

/* ---- summary ---- */

static const char *yes_no(int v) { return v ? "Yes" : "NO"; }

static void latency_block(FILE *f, const kiln_lg_latency_stats *st) {
    fprintf(f, "Min latency (ns)                : %lld\n", (long long)st->min_ns);
    fprintf(f, "Max latency (ns)                : %lld\n", (long long)st->max_ns);
    fprintf(f, "Mean latency (ns)               : %lld\n", (long long)st->mean_ns);
    for (int i = 0; i < KILN_LG_NPCT; i++)
        fprintf(f, "%.2f percentile latency (ns)   : %lld\n", kiln_lg_percentiles[i] * 100,
                (long long)st->pct_ns[i]);
}

static void recommendations(FILE *f, const kiln_lg_result *r) {
    const kiln_lg_settings *s = &r->settings;
    fprintf(f, "Recommendations:\n");
    if (!r->perf_constraints_met) fprintf(f, " * Reduce target QPS to improve latency.\n");
    if (!r->min_duration_met) {
        if (s->duration_ms)
            fprintf(f, " * The duration override ended the run before min_duration.\n");
        else if (s->scenario == KILN_LG_OFFLINE)
            fprintf(f, " * Increase expected QPS so the loadgen pre-generates a larger "
                       "(coalesced) query.\n");
        else if (s->scenario == KILN_LG_SERVER)
            fprintf(f, " * Increase the target QPS so the loadgen pre-generates more queries.\n");
        else
            fprintf(f, " * max_duration or max_query_count ended the run before min_duration.\n");
    }
    if (!r->min_queries_met)
        fprintf(f, " * The test exited early, before enough queries were issued.\n"
                   "   See the detailed log for why this may have occurred.\n");
}

static void accuracy_summary(FILE *f, const kiln_lg_result *r) {
    fprintf(f, "Samples answered : %llu\n", (unsigned long long)r->sample_count);
    fprintf(f, "Accuracy log entries : %llu\n", (unsigned long long)r->accuracy_logged);
    fprintf(f, "Result is : %s\n", r->valid ? "VALID" : "INVALID");
    for (int i = 0; i < r->n_reasons; i++) fprintf(f, " * %s\n", r->reasons[i]);
}

static void test_parameters(FILE *f, const kiln_lg_result *r) {
    const kiln_lg_settings *s = &r->settings;
    const kiln_lg_effective *e = &r->effective;
    fprintf(f, "\n" RULE "\nTest Parameters Used\n" RULE "\n");
    fprintf(f, "samples_per_query : %llu\n", (unsigned long long)e->samples_per_query);
    fprintf(f, "target_qps : %g\n", e->target_qps);
    fprintf(f, "target_latency (ns): %llu\n", (unsigned long long)e->target_latency_ns);
    fprintf(f, "max_async_queries : %llu\n", (unsigned long long)e->max_async_queries);
    fprintf(f, "min_duration (ms): %llu\n", (unsigned long long)e->min_duration_ms);
    fprintf(f, "max_duration (ms): %llu\n", (unsigned long long)e->max_duration_ms);
    fprintf(f, "min_query_count : %llu\n", (unsigned long long)e->min_query_count);
    fprintf(f, "max_query_count : %llu\n", (unsigned long long)e->max_query_count);
    fprintf(f, "qsl_rng_seed : %llu\n", (unsigned long long)s->qsl_rng_seed);
    fprintf(f, "sample_index_rng_seed : %llu\n", (unsigned long long)s->sample_index_rng_seed);
    fprintf(f, "schedule_rng_seed : %llu\n", (unsigned long long)s->schedule_rng_seed);
    fprintf(f, "accuracy_log_rng_seed : %llu\n", (unsigned long long)s->accuracy_log_rng_seed);
    fprintf(f, "accuracy_log_probability : %g\n", e->accuracy_log_probability);
    fprintf(f, "accuracy_log_sampling_target : %llu\n",
            (unsigned long long)s->accuracy_log_sampling_target);
    fprintf(f, "print_timestamps : %d\n", s->print_timestamps ? 1 : 0);
    fprintf(f, "performance_issue_unique : 0\n");
    fprintf(f, "performance_issue_same : 0\n");
    fprintf(f, "performance_issue_same_index : 0\n");
    fprintf(f, "performance_sample_count : %llu\n", (unsigned long long)e->performance_sample_count);
    if (s->duration_ms) /* kiln: say so when --duration shortened the run */
        fprintf(f, "duration override (ms): %llu\n", (unsigned long long)s->duration_ms);
}

kiln_status kiln_lg_write_summary(const kiln_lg_result *r, FILE *f) {
    if (!r || !f) return KILN_ERR_INVALID_ARG;
    const kiln_lg_settings *s = &r->settings;
    const kiln_lg_scenario sc = s->scenario;
    fprintf(f, RULE "\nMLPerf Results Summary\n" RULE "\n");
    fprintf(f, "SUT name : %s\n", r->sut_name);
    fprintf(f, "Scenario : %s\n", kiln_lg_scenario_name(sc));
    fprintf(f, "Mode     : %s\n", kiln_lg_mode_name(s->mode));
    if (s->mode == KILN_LG_ACCURACY) {
        accuracy_summary(f, r);
    } else {
        switch (sc) {
        case KILN_LG_SINGLE_STREAM:
        case KILN_LG_MULTI_STREAM:
            fprintf(f, "%s : %lld\n", r->metric_name, (long long)r->metric);
            break;
        case KILN_LG_SERVER:
            fprintf(f, "Completed samples per second    : %.2f\n", r->completed_samples_per_second);
            break;
        default: fprintf(f, "Samples per second: %g\n", r->samples_per_second); break;
        }
        fprintf(f, "Result is : %s\n", r->valid ? "VALID" : "INVALID");
        if (r->has_perf_constraints)
            fprintf(f, "  Performance constraints satisfied : %s\n", yes_no(r->perf_constraints_met));
        fprintf(f, "  Min duration satisfied : %s\n", yes_no(r->min_duration_met));
        fprintf(f, "  Min queries satisfied : %s\n", yes_no(r->min_queries_met));
        fprintf(f, "  Early stopping satisfied: %s\n", yes_no(r->early_stopping_met));
        if (!r->valid) recommendations(f, r);
        if (sc != KILN_LG_OFFLINE) fprintf(f, "Early Stopping Result:\n%s\n", r->es_text);
    }

    fprintf(f, "\n" RULE "\nAdditional Stats\n" RULE "\n");
    if (s->mode != KILN_LG_ACCURACY && sc == KILN_LG_SINGLE_STREAM) {
        fprintf(f, "QPS w/ loadgen overhead         : %.2f\n", r->qps_with_loadgen_overhead);
        fprintf(f, "QPS w/o loadgen overhead        : %.2f\n\n", r->qps_without_loadgen_overhead);
    } else if (s->mode != KILN_LG_ACCURACY && sc == KILN_LG_SERVER) {
        fprintf(f, "Scheduled samples per second : %.2f\n", r->scheduled_samples_per_second);
        if (s->mode == KILN_LG_FIND_PEAK)
            fprintf(f, "Peak target QPS (find peak)  : %.*f (%d runs)\n",
                    s->server_find_peak_qps_decimals_of_precision, r->peak_qps, r->find_peak_runs);
    }
    if (sc == KILN_LG_MULTI_STREAM && s->mode != KILN_LG_ACCURACY) {
        fprintf(f, "Per-query latency:  \n");
        latency_block(f, &r->query_latency);
    } else {
        latency_block(f, &r->sample_latency);
    }
    test_parameters(f, r);

    if (r->warnings)
        fprintf(f, "\n%llu warning%s encountered. See detailed log.\n",
                (unsigned long long)r->warnings, r->warnings == 1 ? "" : "s");
    else
        fprintf(f, "\nNo warnings encountered during test.\n");
    if (r->errors)
        fprintf(f, "\n%llu ERROR%s encountered. See detailed log.\n",
                (unsigned long long)r->errors, r->errors == 1 ? "" : "S");
    else
        fprintf(f, "\nNo errors encountered during test.\n");
    return ferror(f) ? KILN_ERR_IO : KILN_OK;
}

/* ---- all files of a run ---- */

static kiln_status write_file(kiln_lg *lg, const char *name, const kiln_lg_result *r, int detail) {
    char path[4200];
    kiln__lg_path(lg, name, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) return kiln_err_set(&lg->err, KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    kiln_status st = detail ? kiln__lg_write_detail(lg, r, f) : kiln_lg_write_summary(r, f);
    if (fclose(f) != 0) st = KILN_ERR_IO;
    if (st != KILN_OK) return kiln_err_set(&lg->err, KILN_ERR_IO, "%s: write failed", path);
    return KILN_OK;
}

kiln_status kiln__lg_write_logs(kiln_lg *lg, const kiln_lg_result *r) {
    KILN_TRY(make_dirs(lg, lg->log_dir));
    KILN_TRY(write_file(lg, "mlperf_log_summary.txt", r, 0));
    return write_file(lg, "mlperf_log_detail.txt", r, 1);
}
