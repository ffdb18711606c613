/* loadgen.c — the load generator object and the two sides of a query's life: issuing (the
 * driver's thread) and completion (any SUT thread). One mutex guards the run records; SUT
 * callbacks always run without it, so a SUT may answer from inside issue_query. */
#include <stdlib.h>
#include <string.h>

#include "bench/lg_internal.h"

kiln_lg *kiln_lg_create(void) {
    kiln_lg *lg = calloc(1, sizeof *lg);
    if (!lg) return NULL;
    if (pthread_mutex_init(&lg->mu, NULL)) {
        free(lg);
        return NULL;
    }
    if (pthread_cond_init(&lg->cv, NULL)) {
        pthread_mutex_destroy(&lg->mu);
        free(lg);
        return NULL;
    }
    lg->clock = kiln_lg_clock_real();
    return lg;
}

void kiln_lg_destroy(kiln_lg *lg) {
    if (!lg) return;
    if (lg->acc_file) fclose(lg->acc_file);
    kiln__lg_events_clear(lg);
    free(lg->events);
    free(lg->samples);
    free(lg->queries);
    free(lg->issue_buf);
    free(lg->log_dir);
    pthread_cond_destroy(&lg->cv);
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

void kiln_lg_set_clock(kiln_lg *lg, const kiln_lg_clock *clock) {
    if (!lg) return;
    lg->clock = clock && clock->now_ns && clock->sleep_until ? *clock : kiln_lg_clock_real();
}

kiln_status kiln_lg_set_log_dir(kiln_lg *lg, const char *dir) {
    if (!lg) return KILN_ERR_INVALID_ARG;
    free(lg->log_dir);
    lg->log_dir = NULL;
    if (dir && *dir) {
        lg->log_dir = strdup(dir);
        if (!lg->log_dir) return kiln_err_set(&lg->err, KILN_ERR_NOMEM, "log dir: out of memory");
    }
    return KILN_OK;
}

void kiln_lg_set_accuracy_sink(kiln_lg *lg, kiln_lg_accuracy_fn fn, void *user) {
    if (!lg) return;
    lg->acc_fn = fn;
    lg->acc_user = user;
}

const char *kiln_lg_errmsg(const kiln_lg *lg) { return lg ? lg->err.msg : "no load generator"; }

kiln_err *kiln_lg_errbuf(kiln_lg *lg) { return lg ? &lg->err : NULL; }

int64_t kiln__lg_now_rel(const kiln_lg *lg) {
    return (int64_t)(lg->clock.now_ns(lg->clock.self) - lg->t0);
}

/* ---- records ---- */

void kiln__lg_records_begin(kiln_lg *lg) {
    pthread_mutex_lock(&lg->mu);
    lg->n_samples = lg->n_queries = 0;
    lg->outstanding = 0;
    lg->completed = 0;
    lg->t0 = lg->clock.now_ns(lg->clock.self);
    lg->running = 1;
    pthread_mutex_unlock(&lg->mu);
}

kiln_status kiln__lg_records_end(kiln_lg *lg) {
    pthread_mutex_lock(&lg->mu);
    lg->running = 0;
    kiln_status st = lg->aborted ? lg->abort_status : KILN_OK;
    pthread_mutex_unlock(&lg->mu);
    return st;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / elem) return 0;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

kiln_status kiln__lg_issue(kiln_lg *lg, const kiln_lg_sut *sut, const uint64_t *idx, size_t n,
                           int64_t sched_ns, kiln__lg_acc_pick *acc, int64_t *issued_ns) {
    if (n == 0) return KILN_OK;
    if (!grow((void **)&lg->issue_buf, &lg->issue_cap, n, sizeof *lg->issue_buf))
        return kiln_err_set(&lg->err, KILN_ERR_NOMEM, "loadgen: out of memory for a query of %zu",
                            n);
    pthread_mutex_lock(&lg->mu);
    if (lg->n_queries >= UINT32_MAX ||
        !grow((void **)&lg->samples, &lg->cap_samples, lg->n_samples + n, sizeof *lg->samples) ||
        !grow((void **)&lg->queries, &lg->cap_queries, lg->n_queries + 1, sizeof *lg->queries)) {
        pthread_mutex_unlock(&lg->mu);
        return kiln_err_set(&lg->err, KILN_ERR_NOMEM, "loadgen: out of memory after %zu samples",
                            lg->n_samples);
    }
    int64_t now = kiln__lg_now_rel(lg);
    size_t qi = lg->n_queries, first = lg->n_samples;
    kiln__lg_query *q = &lg->queries[qi];
    q->sched_ns = sched_ns < 0 ? now : sched_ns;
    q->issued_ns = now;
    q->done_ns = -1;
    q->first = first;
    q->n = q->remaining = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        kiln__lg_sample *s = &lg->samples[first + i];
        s->qsl_index = idx[i];
        s->done_ns = -1;
        s->query = (uint32_t)qi;
        s->log_acc = acc && (acc->all || (acc->prob > 0 && kiln_rng_uniform(&acc->rng) < acc->prob));
        lg->issue_buf[i] = (kiln_lg_sample){.id = first + i, .index = idx[i]};
    }
    lg->n_samples += n;
    lg->n_queries++;
    lg->outstanding++;
    pthread_mutex_unlock(&lg->mu);
    if (issued_ns) *issued_ns = now;
    sut->issue_query(sut->user, lg->issue_buf, n);
    return KILN_OK;
}

kiln_status kiln__lg_wait(kiln_lg *lg, size_t max_outstanding) {
    pthread_mutex_lock(&lg->mu);
    while (lg->outstanding > max_outstanding && !lg->aborted) {
        if (lg->clock.idle) {
            /* Simulated time: let the clock run the next event (usually a completion). */
            pthread_mutex_unlock(&lg->mu);
            int moved = lg->clock.idle(lg->clock.self);
            pthread_mutex_lock(&lg->mu);
            if (moved) continue;
        }
        pthread_cond_wait(&lg->cv, &lg->mu);
    }
    kiln_status st = lg->aborted ? lg->abort_status : KILN_OK;
    pthread_mutex_unlock(&lg->mu);
    return st;
}

size_t kiln__lg_outstanding(kiln_lg *lg) {
    pthread_mutex_lock(&lg->mu);
    size_t n = lg->outstanding;
    pthread_mutex_unlock(&lg->mu);
    return n;
}

kiln_status kiln__lg_abort_status(kiln_lg *lg) {
    pthread_mutex_lock(&lg->mu);
    kiln_status st = lg->aborted ? lg->abort_status : KILN_OK;
    pthread_mutex_unlock(&lg->mu);
    return st;
}

/* ---- the SUT's side ---- */

/* Bad responses are the SUT's bug, so they are recorded, not trusted; the first few get their
   own detail-log line, the rest only count. */
static void bad_response(kiln_lg *lg, const char *what, uint64_t id) {
    lg->n_errors++;
    if (lg->n_errors > 20) return;
    char *v = kiln__lg_jfmt("\"QuerySamplesComplete: %s response id %llu\"", what,
                            (unsigned long long)id);
    kiln__lg_event_locked(lg, "error_runtime", v, 1, 0, __FILE__, __LINE__);
    free(v);
}

void kiln_lg_complete(kiln_lg *lg, const kiln_lg_response *r, size_t n) {
    if (!lg || !r || n == 0) return;
    uint64_t t = lg->clock.now_ns(lg->clock.self);
    pthread_mutex_lock(&lg->mu);
    int signal = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = r[i].id;
        if (!lg->running) {
            bad_response(lg, "late (no run in progress)", id);
            continue;
        }
        if (id >= lg->n_samples) {
            bad_response(lg, "unknown", id);
            continue;
        }
        kiln__lg_sample *s = &lg->samples[id];
        if (s->done_ns >= 0) {
            bad_response(lg, "repeated", id);
            continue;
        }
        int64_t rel = (int64_t)(t - lg->t0);
        s->done_ns = rel;
        lg->completed++;
        if (s->log_acc) {
            kiln__lg_accuracy_entry(lg, id, s->qsl_index, r[i].data, r[i].data ? r[i].size : 0);
            if (lg->acc_fn)
                lg->acc_fn(lg->acc_user, id, s->qsl_index, r[i].data, r[i].data ? r[i].size : 0);
            lg->acc_logged++;
        }
        kiln__lg_query *q = &lg->queries[s->query];
        if (--q->remaining == 0) {
            q->done_ns = rel;
            lg->outstanding--;
            signal = 1;
        }
    }
    if (signal) pthread_cond_broadcast(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
}

void kiln_lg_abort(kiln_lg *lg, kiln_status status, const char *msg) {
    if (!lg) return;
    pthread_mutex_lock(&lg->mu);
    if (!lg->aborted) {
        lg->aborted = 1;
        lg->abort_status = status == KILN_OK ? KILN_ERR_BACKEND : status;
        snprintf(lg->abort_msg, sizeof lg->abort_msg, "%s", msg ? msg : "the SUT aborted the run");
    }
    pthread_cond_broadcast(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
}
