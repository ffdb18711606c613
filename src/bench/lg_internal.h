/* lg_internal.h — what the load generator's source files share: the object, its run records,
 * the detail-log event list and the helpers between files. Not for use outside src/bench/. */
#ifndef KILN_BENCH_LG_INTERNAL_H
#define KILN_BENCH_LG_INTERNAL_H

#include <pthread.h>

#include "bench/loadgen.h"
#include "core/rng.h"

/* One issued sample. Times are ns from the start of issuing (kiln_lg.t0). */
typedef struct kiln__lg_sample {
    uint64_t qsl_index;
    int64_t done_ns;   /* -1 until answered */
    uint32_t query;    /* index into kiln_lg.queries */
    uint8_t log_acc;   /* its response goes to the accuracy log */
} kiln__lg_sample;

typedef struct kiln__lg_query {
    int64_t sched_ns;  /* latency counts from here (Server: the Poisson time; else issue time) */
    int64_t issued_ns;
    int64_t done_ns;   /* when its last sample was answered; -1 until then */
    uint64_t first;    /* its samples are samples[first .. first + n) */
    uint32_t n, remaining;
} kiln__lg_query;

/* One ":::MLLOG" line of the detail log, recorded as it happens, written at the end. */
typedef struct kiln__lg_event {
    char key[64];
    char *value;       /* already JSON (a quoted string, a number, true/false, an array) */
    double time_ms;    /* since kiln_lg_run began */
    const char *file;
    int line;
    long tid;
    uint8_t is_error, is_warning;
} kiln__lg_evrec;

struct kiln_lg {
    kiln_err err;
    kiln_lg_clock clock;
    char *log_dir;
    kiln_lg_accuracy_fn acc_fn;
    void *acc_user;

    pthread_mutex_t mu;          /* guards everything below */
    pthread_cond_t cv;           /* signalled when a query completes or the run is aborted */
    int running;                 /* completions are accepted */
    kiln_lg_mode run_mode;
    uint64_t log_t0;             /* clock at kiln_lg_run's start: the detail log's time origin */
    uint64_t t0;                 /* clock at the start of issuing */
    kiln__lg_sample *samples;
    size_t n_samples, cap_samples;
    kiln__lg_query *queries;
    size_t n_queries, cap_queries;
    size_t outstanding;          /* queries issued and not fully answered */
    uint64_t completed;          /* samples answered this run */
    int aborted;
    kiln_status abort_status;
    char abort_msg[256];
    FILE *acc_file;              /* mlperf_log_accuracy.json while a run writes it */
    uint64_t acc_logged;

    kiln__lg_evrec *events;
    size_t n_events, cap_events;
    uint64_t n_errors, n_warnings;

    kiln_lg_sample *issue_buf;   /* the array handed to issue_query (not guarded: issuer only) */
    size_t issue_cap;
};

/* ---- loadgen.c: issuing and waiting (the drivers in run.c use these) ---- */
/* How an issued sample is picked for the accuracy log. */
typedef struct kiln__lg_acc_pick {
    int all;           /* accuracy mode: every response */
    double prob;       /* performance mode: each with this probability */
    kiln_rng rng;      /* seeded with accuracy_log_rng_seed */
} kiln__lg_acc_pick;
/* Start recording a run: clears the records, t0 = now, completions accepted. */
void kiln__lg_records_begin(kiln_lg *lg);
/* Stop accepting completions; returns the abort status (KILN_OK when not aborted). */
kiln_status kiln__lg_records_end(kiln_lg *lg);
/* Record a query of samples idx[0..n), scheduled at sched_ns (< 0: now), and hand it to the
   SUT. *issued_ns (may be NULL) gets its issue time. */
kiln_status kiln__lg_issue(kiln_lg *lg, const kiln_lg_sut *sut, const uint64_t *idx, size_t n,
                           int64_t sched_ns, kiln__lg_acc_pick *acc, int64_t *issued_ns);
/* Block until at most max_outstanding queries are unanswered; the abort status if aborted. */
kiln_status kiln__lg_wait(kiln_lg *lg, size_t max_outstanding);
size_t kiln__lg_outstanding(kiln_lg *lg);
kiln_status kiln__lg_abort_status(kiln_lg *lg);
/* Clock reading relative to t0. */
int64_t kiln__lg_now_rel(const kiln_lg *lg);
/* Milliseconds to nanoseconds, saturating. */
static inline int64_t kiln__lg_ms_to_ns(uint64_t ms) {
    return ms >= (uint64_t)INT64_MAX / 1000000 ? INT64_MAX : (int64_t)(ms * 1000000);
}

/* ---- settings.c ---- */
/* LoadGen's TestSettingsInternal: what the run will really do, from the request and the QSL. */
void kiln__lg_effective(const kiln_lg_settings *s, uint64_t qsl_total, uint64_t qsl_perf_count,
                        kiln_lg_effective *e);
/* Checks a request before a run; the message names the bad field. */
kiln_status kiln__lg_settings_check(const kiln_lg_settings *s, kiln_err *err);
/* The target percentile of the scenario (0.90, 0.99, ...). */
double kiln__lg_target_percentile(const kiln_lg_settings *s);

/* ---- samples.c: which samples, in what order, when ---- */
/* LoadGen's loadable sets: all indices shuffled with qsl_rng_seed, cut in sets of set_size.
   *sets gets the shuffled indices (total of them); set k is [k*set_size, ...). */
kiln_status kiln__lg_shuffled_library(uint64_t total, uint64_t seed, uint64_t **out);
/* Uniform integer in [0, n) without modulo bias. */
uint64_t kiln__lg_rng_below(kiln_rng *r, uint64_t n);
void kiln__lg_shuffle(uint64_t *a, size_t n, kiln_rng *r);
/* The next Server inter-arrival gap in ns for rate qps (exponential, truncated to ns). */
uint64_t kiln__lg_poisson_gap_ns(kiln_rng *r, double qps);

/* ---- results.c ---- */
/* Turn the run records into *out: statistics, metric, validity, early stopping. */
void kiln__lg_summarize(kiln_lg *lg, const kiln_lg_settings *s, const kiln_lg_effective *e,
                        const char *sut_name, kiln_lg_result *out);

/* ---- detail.c: the event list and mlperf_log_detail.txt ---- */
/* Record one event; value_json is copied. The lock must be held (the _locked form) or not. */
void kiln__lg_event_locked(kiln_lg *lg, const char *key, const char *value_json, int is_error,
                           int is_warning, const char *file, int line);
void kiln__lg_event(kiln_lg *lg, const char *key, const char *value_json, int is_error,
                    int is_warning, const char *file, int line);
void kiln__lg_events_clear(kiln_lg *lg);
/* printf into a JSON string literal (quoted and escaped). Returns a malloc'd string. */
char *kiln__lg_json_str(const char *s);
/* Append s to f as a JSON string literal. */
void kiln__lg_json_write_str(FILE *f, const char *s);
/* A JSON array of integers (malloc'd). */
char *kiln__lg_json_u64_array(const uint64_t *a, size_t n);
/* Record the requested_* and effective_* settings. */
void kiln__lg_log_settings(kiln_lg *lg, const kiln_lg_settings *s, const kiln_lg_effective *e);
/* Write the whole detail log: recorded events, then the result_* keys from r. */
kiln_status kiln__lg_write_detail(kiln_lg *lg, const kiln_lg_result *r, FILE *f);

#define LG_EVENT(lg, key, json) kiln__lg_event(lg, key, json, 0, 0, __FILE__, __LINE__)
#define LG_ERROR(lg, key, json) kiln__lg_event(lg, key, json, 1, 0, __FILE__, __LINE__)

/* Format helpers that return a malloc'd JSON value (NULL-safe for kiln__lg_event). */
char *kiln__lg_jfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record key = "text" (text printf-formatted, then JSON-quoted). */
void kiln__lg_event_text(kiln_lg *lg, const char *key, int is_error, const char *file, int line,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define LG_MESSAGE(lg, ...) kiln__lg_event_text(lg, "generic_message", 0, __FILE__, __LINE__, __VA_ARGS__)
#define LG_RUNTIME_ERROR(lg, ...) kiln__lg_event_text(lg, "error_runtime", 1, __FILE__, __LINE__, __VA_ARGS__)

/* ---- logs.c ---- */
kiln_status kiln__lg_write_logs(kiln_lg *lg, const kiln_lg_result *r);
/* Accuracy log: open (writes "["), one entry (lock held), close (writes "]"). */
kiln_status kiln__lg_accuracy_open(kiln_lg *lg);
void kiln__lg_accuracy_entry(kiln_lg *lg, uint64_t seq_id, uint64_t qsl_index, const void *data,
                             size_t size);
kiln_status kiln__lg_accuracy_close(kiln_lg *lg);
/* "dir/name" into buf. */
void kiln__lg_path(const kiln_lg *lg, const char *name, char *buf, size_t n);

#endif
