/* measure.h — the timing loop that bench and compare share: warm up, then run back to back
 * until both a minimum count and a minimum duration are reached; nearest-rank percentiles. */
#ifndef KILN_CLI_MEASURE_H
#define KILN_CLI_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef struct measure_opts {
    double duration;   /* seconds, >= 0 */
    int64_t min_iters;
    int64_t warmup;
    int quiet;         /* no progress bar */
    const char *label; /* progress bar label */
} measure_opts;

typedef struct measure_result {
    int64_t batch;
    size_t runs;
    double seconds;                                /* wall time of the timed part */
    double median, mean, min, p50, p90, p99, max;  /* latency, milliseconds */
    double throughput;                             /* samples per second (batch / median) */
} measure_result;

/* Measure engine e at batch b on random input; dies with a message on failure. */
void measure_engine(kiln_engine *e, int64_t b, const measure_opts *o, measure_result *r);
/* Percentiles of latencies (seconds, sorted in place) into r (milliseconds). */
void measure_summarize(double *lat, size_t n, int64_t batch, measure_result *r);

#endif
