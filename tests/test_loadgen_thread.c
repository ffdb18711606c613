/* The load generator on the real clock with a SUT that answers from its own worker threads
 * (the way kiln's engine SUT does), in every scenario; an SUT that answers inside issue_query;
 * and an SUT that aborts. Short runs (a few hundred ms); checks are on counts and bounds that
 * hold on a busy machine. Build with -fsanitize=thread to check the locking. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/loadgen.h"
#include "loadgen_sim.h"
#include "test.h"

#define NWORKERS 2

typedef struct thr_sut {
    kiln_lg *lg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kiln_lg_sample *q;       /* a FIFO of samples */
    size_t head, tail, cap;
    int stop;
    uint64_t service_ns;
    size_t batch;            /* answer this many samples per kiln_lg_complete */
    uint64_t abort_after;    /* call kiln_lg_abort after this many samples (0: never) */
    uint64_t done;
    pthread_t th[NWORKERS];
} thr_sut;

static void thr_issue(void *user, const kiln_lg_sample *s, size_t n) {
    thr_sut *t = user;
    pthread_mutex_lock(&t->mu);
    if (t->tail + n > t->cap) {
        t->cap = (t->tail + n) * 2;
        t->q = realloc(t->q, t->cap * sizeof *t->q);
    }
    memcpy(t->q + t->tail, s, n * sizeof *s);
    t->tail += n;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

static void *thr_worker(void *arg) {
    thr_sut *t = arg;
    kiln_lg_sample mine[64];
    for (;;) {
        pthread_mutex_lock(&t->mu);
        while (t->head == t->tail && !t->stop) pthread_cond_wait(&t->cv, &t->mu);
        if (t->head == t->tail && t->stop) {
            pthread_mutex_unlock(&t->mu);
            return NULL;
        }
        size_t n = t->tail - t->head;
        if (n > t->batch) n = t->batch;
        memcpy(mine, t->q + t->head, n * sizeof *mine);
        t->head += n;
        pthread_mutex_unlock(&t->mu);
        sleep_ns(t->service_ns);
        kiln_lg_response r[64];
        uint8_t out[64][8];
        for (size_t i = 0; i < n; i++) {
            size_t k = sim_data(mine[i].index, out[i]);
            r[i] = (kiln_lg_response){.id = mine[i].id, .data = out[i], .size = k};
        }
        kiln_lg_complete(t->lg, r, n);
        pthread_mutex_lock(&t->mu);
        t->done += n;
        int abort_now = t->abort_after && t->done >= t->abort_after;
        pthread_mutex_unlock(&t->mu);
        if (abort_now) kiln_lg_abort(t->lg, KILN_ERR_BACKEND, "simulated engine failure");
    }
}

static void thr_start(thr_sut *t, kiln_lg *lg, uint64_t service_ns, size_t batch) {
    memset(t, 0, sizeof *t);
    t->lg = lg;
    t->service_ns = service_ns;
    t->batch = batch;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    for (int i = 0; i < NWORKERS; i++) pthread_create(&t->th[i], NULL, thr_worker, t);
}

static void thr_stop(thr_sut *t) {
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < NWORKERS; i++) pthread_join(t->th[i], NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->q);
}

static void run_scenario(kiln_lg_scenario sc) {
    kiln_lg *lg = kiln_lg_create();
    thr_sut t;
    thr_start(&t, lg, 100000, sc == KILN_LG_OFFLINE ? 64 : 1);
    kiln_lg_sut sut = {.name = "threads", .issue_query = thr_issue, .user = &t};
    kiln_lg_qsl qsl = {.name = "q", .total_sample_count = 2000, .performance_sample_count = 512};
    kiln_lg_settings st;
    kiln_lg_settings_init(&st, NULL, sc);
    st.min_duration_ms = 150;
    st.min_query_count = sc == KILN_LG_OFFLINE ? 1000 : 20;
    st.server_target_qps = 2000;
    st.offline_expected_qps = 1000;
    kiln_lg_result r;
    kiln_status s = kiln_lg_run(lg, &sut, &qsl, &st, &r);
    CHECK(s == KILN_OK, "%s: %s", kiln_lg_scenario_name(sc), kiln_lg_errmsg(lg));
    uint64_t spq = sc == KILN_LG_MULTI_STREAM ? 8 : sc == KILN_LG_OFFLINE ? 1000 : 1;
    CHECK(r.errors == 0 && r.sample_count == r.query_count * spq && r.query_count >= (sc == KILN_LG_OFFLINE ? 1 : 20),
          "%s: %llu queries, %llu samples, %llu errors", kiln_lg_scenario_name(sc),
          (unsigned long long)r.query_count, (unsigned long long)r.sample_count,
          (unsigned long long)r.errors);
    CHECK(r.sample_latency.min_ns >= 100000, "%s: latency %lld ns includes the 100 us service",
          kiln_lg_scenario_name(sc), (long long)r.sample_latency.min_ns);
    if (sc != KILN_LG_OFFLINE) /* Offline's 1000 samples take ~1 ms here: too short, rightly */
        CHECK(r.min_duration_met, "%s: ran at least 150 ms", kiln_lg_scenario_name(sc));
    else
        CHECK(!r.min_duration_met && !r.valid, "Offline: 1000 samples in ~1 ms is INVALID");
    if (sc == KILN_LG_SERVER)
        CHECK(r.scheduled_samples_per_second > 1400 && r.scheduled_samples_per_second < 2800,
              "Server: %.0f scheduled QPS for a 2000 QPS target", r.scheduled_samples_per_second);
    if (sc == KILN_LG_SINGLE_STREAM) CHECK(r.valid, "SingleStream: VALID (%s)", r.n_reasons ? r.reasons[0] : "");
    thr_stop(&t);
    kiln_lg_destroy(lg);
}

/* Answers before issue_query returns, on the caller's thread. */
static kiln_lg *sync_lg;
static void sync_issue(void *user, const kiln_lg_sample *s, size_t n) {
    (void)user;
    for (size_t i = 0; i < n; i++) {
        kiln_lg_response r = {.id = s[i].id};
        kiln_lg_complete(sync_lg, &r, 1);
    }
}

static void test_sync(void) {
    sync_lg = kiln_lg_create();
    kiln_lg_sut sut = {.name = "sync", .issue_query = sync_issue};
    kiln_lg_qsl qsl = {.name = "q", .total_sample_count = 100, .performance_sample_count = 100};
    kiln_lg_settings st;
    kiln_lg_settings_init(&st, NULL, KILN_LG_SINGLE_STREAM);
    st.min_duration_ms = 20;
    st.min_query_count = 100;
    kiln_lg_result r;
    CHECK_OK(kiln_lg_run(sync_lg, &sut, &qsl, &st, &r));
    CHECK(r.query_count >= 100 && r.errors == 0 && r.sample_count == r.query_count,
          "synchronous SUT: %llu queries", (unsigned long long)r.query_count);
    /* A late answer after the run is an error, not a crash. */
    kiln_lg_response late = {.id = 0};
    kiln_lg_complete(sync_lg, &late, 1);
    kiln_lg_destroy(sync_lg);
}

static void test_abort(void) {
    kiln_lg *lg = kiln_lg_create();
    thr_sut t;
    thr_start(&t, lg, 200000, 1);
    t.abort_after = 30;
    kiln_lg_sut sut = {.name = "aborts", .issue_query = thr_issue, .user = &t};
    kiln_lg_qsl qsl = {.name = "q", .total_sample_count = 100, .performance_sample_count = 100};
    kiln_lg_settings st;
    kiln_lg_settings_init(&st, NULL, KILN_LG_SERVER);
    st.server_target_qps = 1000;
    st.min_duration_ms = 60000; /* would take a minute */
    kiln_lg_result r;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kiln_status s = kiln_lg_run(lg, &sut, &qsl, &st, &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CHECK(s == KILN_ERR_BACKEND && strstr(kiln_lg_errmsg(lg), "simulated engine failure"),
          "abort: %s (%s)", kiln_status_str(s), kiln_lg_errmsg(lg));
    CHECK(secs < 10, "the run stopped soon after the abort (%.2f s)", secs);
    thr_stop(&t); /* workers may still answer: late answers are counted, not trusted */
    kiln_lg_destroy(lg);
}

int main(void) {
    for (int sc = 0; sc < KILN_LG_SCENARIO_COUNT; sc++) run_scenario((kiln_lg_scenario)sc);
    test_sync();
    test_abort();
    return test_done();
}
