/* run.c — kiln_lg_run and the scenario drivers: which samples go into which query, when each
 * query is issued, and when the run ends. Follows LoadGen's issue_query_controller.cc and
 * loadgen.cc, with one difference: queries are made as they are issued rather than all
 * generated up front, so a fast SUT never "runs out of generated queries". The draws and their
 * order are the same either way: one generator per seed, consumed query by query. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/lg_internal.h"

typedef struct driver {
    kiln_lg *lg;
    const kiln_lg_sut *sut;
    const kiln_lg_qsl *qsl;
    uint64_t *library;        /* every QSL index, shuffled with qsl_rng_seed */
    uint64_t *padded;         /* the performance set, then its first spq - 1 again (MultiStream) */
    size_t set_len;           /* the performance set's size (LoadGen's sample_distribution_end) */
    uint64_t *scratch;        /* the indices of the query being made */
    size_t scratch_cap;
} driver;

static kiln_status need_scratch(driver *d, size_t n) {
    if (n <= d->scratch_cap) return KILN_OK;
    uint64_t *p = realloc(d->scratch, n * sizeof *p);
    if (!p) return kiln_err_set(&d->lg->err, KILN_ERR_NOMEM, "loadgen: out of memory (%zu samples)", n);
    d->scratch = p;
    d->scratch_cap = n;
    return KILN_OK;
}

static kiln_status qsl_call(driver *d, int load, const uint64_t *idx, size_t n) {
    kiln_status (*fn)(void *, const uint64_t *, size_t) =
        load ? d->qsl->load_samples : d->qsl->unload_samples;
    if (!fn) return KILN_OK;
    kiln_status st = fn(d->qsl->user, idx, n);
    if (st != KILN_OK)
        return kiln_err_set(&d->lg->err, st, "QSL '%s': %s %zu samples failed (%s)",
                            d->qsl->name ? d->qsl->name : "?", load ? "loading" : "unloading", n,
                            kiln_status_str(st));
    return KILN_OK;
}

static void log_loaded_set(driver *d, const uint64_t *idx, size_t n) {
    char *v = kiln__lg_json_u64_array(idx, n);
    LG_EVENT(d->lg, "loaded_qsl_set", v);
    free(v);
}

static void flush(driver *d) {
    if (d->sut->flush_queries) d->sut->flush_queries(d->sut->user);
}

static void seed(kiln_rng *r, uint64_t s) { kiln_rng_seed(r, s); }

/* ---- when a performance run ends ---- */

typedef enum { GO_ON, END_NATURAL, END_DURATION, END_MAX_QUERIES, END_MAX_DURATION } stop_reason;

/* After the n-th query went out at t_ns (issue time; Server: scheduled time). */
static stop_reason should_stop(const kiln_lg_settings *s, const kiln_lg_effective *e, uint64_t n,
                               int64_t t_ns) {
    if (s->duration_ms) {
        if (t_ns >= kiln__lg_ms_to_ns(s->duration_ms)) return END_DURATION;
    } else if (n >= e->min_query_count && t_ns >= kiln__lg_ms_to_ns(e->target_duration_ms)) {
        return END_NATURAL;
    }
    if (e->max_query_count && n >= e->max_query_count) return END_MAX_QUERIES;
    if (e->max_duration_ms && t_ns > kiln__lg_ms_to_ns(e->max_duration_ms)) return END_MAX_DURATION;
    return GO_ON;
}

static void log_stop(kiln_lg *lg, stop_reason r, uint64_t n, int64_t t, uint64_t duration_ms) {
    switch (r) {
    case END_NATURAL:
        LG_MESSAGE(lg, "Ending naturally: Minimum query count and test duration met.");
        break;
    case END_DURATION:
        LG_MESSAGE(lg, "Ending: the duration override (%llu ms) was reached after %llu queries.",
                   (unsigned long long)duration_ms, (unsigned long long)n);
        break;
    case END_MAX_QUERIES:
        LG_RUNTIME_ERROR(lg, "Ending early: Max query count reached. query_count %llu",
                         (unsigned long long)n);
        break;
    case END_MAX_DURATION:
        LG_RUNTIME_ERROR(lg, "Ending early: Max test duration reached. duration_ns %lld",
                         (long long)t);
        break;
    default: break;
    }
}

/* The accuracy-log sampling of performance mode (LoadGen's accuracy_log_probability, or
   accuracy_log_sampling_target spread over the samples the run is expected to issue). */
static double perf_log_probability(const kiln_lg_settings *s, const kiln_lg_effective *e) {
    if (s->accuracy_log_sampling_target == 0) return s->accuracy_log_probability;
    double expected = e->target_qps * (double)e->min_duration_ms / 1000.0;
    double minimum = (double)e->min_query_count * (double)e->samples_per_query;
    if (s->scenario != KILN_LG_OFFLINE) expected *= (double)e->samples_per_query;
    else minimum = (double)e->min_sample_count;
    if (expected < minimum) expected = minimum;
    return expected > 0 ? (double)s->accuracy_log_sampling_target / expected : 1.0;
}

/* ---- performance ---- */

/* One performance run on the loaded set; on KILN_OK *out is filled. */
static kiln_status run_performance_once(driver *d, const kiln_lg_settings *s,
                                        const kiln_lg_effective *e, kiln_lg_result *out) {
    kiln_lg *lg = d->lg;
    kiln_rng pick, sched_rng;
    seed(&pick, s->sample_index_rng_seed);
    seed(&sched_rng, s->schedule_rng_seed);
    kiln__lg_acc_pick acc = {.all = 0, .prob = perf_log_probability(s, e)};
    seed(&acc.rng, s->accuracy_log_rng_seed);
    size_t spq = (size_t)e->samples_per_query;
    kiln_status st = need_scratch(d, spq);
    if (st != KILN_OK) return st;

    kiln__lg_records_begin(lg);
    uint64_t n = 0;
    int64_t last = 0;
    stop_reason why = GO_ON;
    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM:
    case KILN_LG_MULTI_STREAM:
        for (;;) { /* the next query only once the previous one is done */
            st = kiln__lg_wait(lg, e->max_async_queries ? e->max_async_queries - 1 : 0);
            if (st != KILN_OK) break;
            if (s->scenario == KILN_LG_SINGLE_STREAM) {
                d->scratch[0] = d->padded[kiln__lg_rng_below(&pick, d->set_len)];
            } else { /* spq contiguous samples from a random start (the set is padded) */
                size_t start = (size_t)kiln__lg_rng_below(&pick, d->set_len);
                memcpy(d->scratch, d->padded + start, spq * sizeof *d->scratch);
            }
            st = kiln__lg_issue(lg, d->sut, d->scratch, spq, -1, &acc, &last);
            if (st != KILN_OK) break;
            if ((why = should_stop(s, e, ++n, last)) != GO_ON) break;
        }
        break;
    case KILN_LG_SERVER: {
        int64_t sched = 0;
        for (;;) { /* Poisson arrivals, whatever the SUT is doing */
            lg->clock.sleep_until(lg->clock.self, lg->t0 + (uint64_t)sched);
            if ((st = kiln__lg_abort_status(lg)) != KILN_OK) break;
            d->scratch[0] = d->padded[kiln__lg_rng_below(&pick, d->set_len)];
            st = kiln__lg_issue(lg, d->sut, d->scratch, 1, sched, &acc, NULL);
            if (st != KILN_OK) break;
            last = sched;
            n++;
            size_t out_q = kiln__lg_outstanding(lg);
            if (e->max_async_queries && out_q > e->max_async_queries) {
                LG_RUNTIME_ERROR(lg, "Ending early: Too many outstanding queries. issued %llu "
                                 "outstanding %zu", (unsigned long long)n, out_q);
                break;
            }
            if ((why = should_stop(s, e, n, sched)) != GO_ON) break;
            uint64_t gap = kiln__lg_poisson_gap_ns(&sched_rng, e->target_qps);
            sched = gap > (uint64_t)(INT64_MAX - sched) ? INT64_MAX : sched + (int64_t)gap;
        }
        break;
    }
    case KILN_LG_OFFLINE:
        /* One query: the loaded set repeated to the query's size, in loaded order. */
        for (size_t i = 0; i < spq; i++) d->scratch[i] = d->padded[i % d->set_len];
        st = kiln__lg_issue(lg, d->sut, d->scratch, spq, 0, &acc, NULL);
        if (st == KILN_OK) n = 1;
        break;
    default: break;
    }
    flush(d);
    if (st == KILN_OK) st = kiln__lg_wait(lg, 0);
    kiln_status end = kiln__lg_records_end(lg);
    if (st == KILN_OK) st = end;
    log_stop(lg, why, n, last, s->duration_ms);
    char *v = kiln__lg_jfmt("%llu", (unsigned long long)n);
    LG_EVENT(lg, "generated_query_count", v);
    free(v);
    v = kiln__lg_jfmt("%llu", (unsigned long long)spq);
    LG_EVENT(lg, "generated_samples_per_query", v);
    free(v);
    v = kiln__lg_jfmt("%lld", (long long)last);
    LG_EVENT(lg, "generated_query_duration", v);
    free(v);
    if (st != KILN_OK) return st;
    kiln__lg_summarize(lg, s, e, d->sut->name, out);
    return KILN_OK;
}

/* The performance set: the first performance_sample_count of the shuffled library, loaded,
   padded with its first spq - 1 entries so MultiStream's contiguous queries never run off. */
static kiln_status load_performance_set(driver *d, const kiln_lg_settings *s,
                                       const kiln_lg_effective *e) {
    d->set_len = (size_t)e->performance_sample_count;
    size_t pad = s->scenario == KILN_LG_MULTI_STREAM ? (size_t)e->samples_per_query - 1 : 0;
    size_t len = d->set_len + pad;
    if (d->set_len == 0) return kiln_err_set(&d->lg->err, KILN_ERR_INVALID_ARG, "QSL is empty");
    d->padded = malloc(len * sizeof *d->padded);
    if (!d->padded) return kiln_err_set(&d->lg->err, KILN_ERR_NOMEM, "loadgen: out of memory");
    for (size_t i = 0; i < len; i++) d->padded[i] = d->library[i % d->set_len];
    log_loaded_set(d, d->padded, d->set_len);
    return qsl_call(d, 1, d->padded, d->set_len);
}

static kiln_status run_performance(driver *d, const kiln_lg_settings *s,
                                   const kiln_lg_effective *e, kiln_lg_result *out) {
    LG_MESSAGE(d->lg, "Starting performance mode");
    kiln_status st = load_performance_set(d, s, e);
    if (st != KILN_OK) return st;
    st = run_performance_once(d, s, e, out);
    kiln_status st2 = qsl_call(d, 0, d->padded, d->set_len);
    return st != KILN_OK ? st : st2;
}

/* ---- find peak (Server) ---- */

static kiln_status try_qps(driver *d, const kiln_lg_settings *s, double qps, kiln_lg_result *r,
                           int *runs) {
    kiln_lg_settings t = *s;
    t.server_target_qps = qps;
    kiln_lg_effective e;
    kiln__lg_effective(&t, d->qsl->total_sample_count, d->qsl->performance_sample_count, &e);
    kiln_status st = run_performance_once(d, &t, &e, r);
    (*runs)++;
    if (st == KILN_OK)
        LG_MESSAGE(d->lg, "FindPeakPerformance: target QPS %.6g: %.1fth percentile latency %lld ns, "
                   "bound %llu ns: %s", qps, e.target_latency_percentile * 100,
                   (long long)r->sample_latency.target_pct_ns,
                   (unsigned long long)e.target_latency_ns,
                   r->perf_constraints_met ? "met" : "missed");
    return st;
}

/* LoadGen's FindPeakPerformance: start from server_target_qps (which must meet the latency
   bound), widen the upper bound by (1 + step) until a run misses it, then bisect until the
   bounds are 10^-decimals apart. The result is the run at the highest QPS that met it. */
static kiln_status run_find_peak(driver *d, const kiln_lg_settings *s, const kiln_lg_effective *e,
                                 kiln_lg_result *out) {
    kiln_lg *lg = d->lg;
    LG_MESSAGE(lg, "Starting FindPeakPerformance mode");
    kiln_status st = load_performance_set(d, s, e);
    if (st != KILN_OK) return st;
    kiln_lg_result *lo_r = malloc(sizeof *lo_r), *cur = malloc(sizeof *cur);
    int runs = 0;
    double lo = s->server_target_qps, hi;
    const double prec = pow(10.0, -s->server_find_peak_qps_decimals_of_precision);
    if (!lo_r || !cur) {
        st = kiln_err_set(&lg->err, KILN_ERR_NOMEM, "loadgen: out of memory");
        goto done;
    }
    if ((st = try_qps(d, s, lo, lo_r, &runs)) != KILN_OK) goto done;
    if (!lo_r->perf_constraints_met) {
        *out = *lo_r;
        st = kiln_err_set(&lg->err, KILN_ERR_RANGE,
                          "find-peak: the starting target QPS %g already misses the latency "
                          "bound; start lower", lo);
        goto done;
    }
    for (int widen = 0;; widen++) {
        hi = lo * (1 + s->server_find_peak_qps_boundary_step_size);
        if (widen == 60) break; /* a SUT that never saturates: stop at an absurd QPS */
        if ((st = try_qps(d, s, hi, cur, &runs)) != KILN_OK) goto done;
        if (!cur->perf_constraints_met) break;
        lo = hi;
        *lo_r = *cur;
    }
    while (hi - lo > prec) {
        double mid = (lo + hi) / 2;
        if ((st = try_qps(d, s, mid, cur, &runs)) != KILN_OK) goto done;
        if (cur->perf_constraints_met) {
            lo = mid;
            *lo_r = *cur;
        } else {
            hi = mid;
        }
    }
    *out = *lo_r;
    out->settings.mode = KILN_LG_FIND_PEAK;
    out->peak_qps = lo;
    out->find_peak_runs = runs;
    LG_MESSAGE(lg, "FindPeakPerformance: peak target QPS %.6g after %d runs", lo, runs);
done:
    free(lo_r);
    free(cur);
    kiln_status st2 = qsl_call(d, 0, d->padded, d->set_len);
    return st != KILN_OK ? st : st2;
}

/* ---- accuracy ---- */

/* Every library sample exactly once: the loadable sets in turn (performance_sample_count each),
   each loaded, issued in a shuffled order with the scenario's query shape and pacing, drained
   and unloaded. (LoadGen's MultiStream may repeat a few samples to keep queries full; kiln sends
   a shorter last query instead.) */
static kiln_status run_accuracy(driver *d, const kiln_lg_settings *s, const kiln_lg_effective *e,
                                kiln_lg_result *out) {
    kiln_lg *lg = d->lg;
    LG_MESSAGE(lg, "Starting accuracy mode");
    uint64_t total = d->qsl->total_sample_count, per = e->performance_sample_count;
    size_t spq = (size_t)e->samples_per_query;
    kiln_rng pick, sched_rng;
    seed(&pick, s->sample_index_rng_seed);
    seed(&sched_rng, s->schedule_rng_seed);
    kiln__lg_acc_pick acc = {.all = 1};
    kiln_status st = need_scratch(d, (size_t)per), st2;
    if (st != KILN_OK) return st;
    kiln__lg_records_begin(lg);
    for (uint64_t base = 0; base < total && st == KILN_OK; base += per) {
        size_t len = (size_t)(total - base < per ? total - base : per);
        const uint64_t *set = d->library + base;
        log_loaded_set(d, set, len);
        if ((st = qsl_call(d, 1, set, len)) != KILN_OK) break;
        memcpy(d->scratch, set, len * sizeof *set);
        kiln__lg_shuffle(d->scratch, len, &pick);
        switch (s->scenario) {
        case KILN_LG_SINGLE_STREAM:
        case KILN_LG_MULTI_STREAM:
            for (size_t i = 0; i < len && st == KILN_OK; i += spq) {
                if ((st = kiln__lg_wait(lg, 0)) != KILN_OK) break;
                st = kiln__lg_issue(lg, d->sut, d->scratch + i, len - i < spq ? len - i : spq, -1,
                                    &acc, NULL);
            }
            break;
        case KILN_LG_SERVER: {
            int64_t set_start = kiln__lg_now_rel(lg), sched = 0;
            for (size_t i = 0; i < len && st == KILN_OK; i++) {
                lg->clock.sleep_until(lg->clock.self, lg->t0 + (uint64_t)(set_start + sched));
                if ((st = kiln__lg_abort_status(lg)) != KILN_OK) break;
                st = kiln__lg_issue(lg, d->sut, d->scratch + i, 1, set_start + sched, &acc, NULL);
                sched += (int64_t)kiln__lg_poisson_gap_ns(&sched_rng, e->target_qps);
            }
            break;
        }
        default:
            st = kiln__lg_issue(lg, d->sut, d->scratch, len, -1, &acc, NULL);
            break;
        }
        flush(d);
        if (st == KILN_OK) st = kiln__lg_wait(lg, 0);
        st2 = qsl_call(d, 0, set, len);
        if (st == KILN_OK) st = st2;
    }
    st2 = kiln__lg_records_end(lg);
    if (st == KILN_OK) st = st2;
    if (st != KILN_OK) return st;
    kiln__lg_summarize(lg, s, e, d->sut->name, out);
    return KILN_OK;
}

/* ---- the entry point ---- */

static void log_header(kiln_lg *lg, const kiln_lg_sut *sut, const kiln_lg_qsl *qsl) {
    char *v = kiln__lg_jfmt("\"kiln %s (MLPerf LoadGen-compatible logs)\"", kiln_version());
    LG_EVENT(lg, "loadgen_version", v);
    free(v);
    time_t now = time(NULL);
    struct tm tm;
    char date[32] = "unknown";
    if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    v = kiln__lg_json_str(date);
    LG_EVENT(lg, "test_datetime", v);
    free(v);
    v = kiln__lg_json_str(sut->name ? sut->name : "");
    LG_EVENT(lg, "sut_name", v);
    free(v);
    v = kiln__lg_json_str(qsl->name ? qsl->name : "");
    LG_EVENT(lg, "qsl_name", v);
    free(v);
    v = kiln__lg_jfmt("%llu", (unsigned long long)qsl->total_sample_count);
    LG_EVENT(lg, "qsl_reported_total_count", v);
    free(v);
    v = kiln__lg_jfmt("%llu", (unsigned long long)qsl->performance_sample_count);
    LG_EVENT(lg, "qsl_reported_performance_count", v);
    free(v);
}

kiln_status kiln_lg_run(kiln_lg *lg, const kiln_lg_sut *sut, const kiln_lg_qsl *qsl,
                        const kiln_lg_settings *s, kiln_lg_result *out) {
    if (!lg) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&lg->err);
    if (!sut || !sut->issue_query || !qsl || !s || !out)
        return kiln_err_set(&lg->err, KILN_ERR_INVALID_ARG,
                            "loadgen: NULL SUT, issue_query, QSL, settings or result");
    if (qsl->total_sample_count == 0)
        return kiln_err_set(&lg->err, KILN_ERR_INVALID_ARG, "loadgen: QSL '%s' has no samples",
                            qsl->name ? qsl->name : "?");
    KILN_TRY(kiln__lg_settings_check(s, &lg->err));
    memset(out, 0, sizeof *out);

    pthread_mutex_lock(&lg->mu);
    kiln__lg_events_clear(lg);
    lg->n_errors = lg->n_warnings = 0;
    lg->aborted = 0;
    lg->abort_status = KILN_OK;
    lg->acc_logged = 0;
    lg->run_mode = s->mode;
    lg->log_t0 = lg->clock.now_ns(lg->clock.self);
    lg->t0 = lg->log_t0;
    pthread_mutex_unlock(&lg->mu);

    kiln_lg_effective e;
    kiln__lg_effective(s, qsl->total_sample_count, qsl->performance_sample_count, &e);
    log_header(lg, sut, qsl);
    kiln__lg_log_settings(lg, s, &e);

    driver d = {.lg = lg, .sut = sut, .qsl = qsl};
    kiln_status st = kiln__lg_shuffled_library(qsl->total_sample_count, s->qsl_rng_seed, &d.library);
    if (st != KILN_OK) return kiln_err_set(&lg->err, st, "loadgen: out of memory for the QSL");
    if (lg->log_dir) st = kiln__lg_accuracy_open(lg);
    if (st == KILN_OK) {
        switch (s->mode) {
        case KILN_LG_ACCURACY: st = run_accuracy(&d, s, &e, out); break;
        case KILN_LG_FIND_PEAK: st = run_find_peak(&d, s, &e, out); break;
        default: st = run_performance(&d, s, &e, out); break;
        }
        pthread_mutex_lock(&lg->mu);
        int aborted = lg->aborted;
        char msg[sizeof lg->abort_msg];
        memcpy(msg, lg->abort_msg, sizeof msg);
        pthread_mutex_unlock(&lg->mu);
        if (aborted && st != KILN_OK) kiln_err_set(&lg->err, st, "the SUT aborted the run: %s", msg);
        kiln_status st2 = kiln__lg_accuracy_close(lg);
        if (st == KILN_OK) st = st2;
    }
    out->accuracy_logged = lg->acc_logged;
    if (lg->log_dir && (st == KILN_OK || st == KILN_ERR_RANGE)) {
        kiln_status st2 = kiln__lg_write_logs(lg, out);
        if (st == KILN_OK) st = st2;
    }
    free(d.library);
    free(d.padded);
    free(d.scratch);
    return st;
}
