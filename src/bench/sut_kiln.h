/* sut_kiln.h — kiln's own system under test and query sample library for the load generator.
 *
 * The QSL serves samples of a dataset (io/dataset.h) or, without one, deterministic random
 * inputs of the engine's input shape; load_samples() copies them into memory ahead of the run.
 * The SUT runs `streams` execution contexts of one engine, each on its own thread, fed by a
 * dynamic batcher: a worker takes up to max_batch queued samples; when fewer are waiting it waits
 * at most max_delay for more (Server trades latency for throughput this way; Offline's single
 * query fills every batch at once). Each response carries the top-5 classes of its sample as five
 * little-endian int32 (classifiers: outputs of shape N x classes), else the raw output row.
 *
 * Example usage
 *
 *     kiln_bench_qsl *q;  kiln_bench_qsl_create(engine, dataset_or_NULL, 1024, &q, &err);
 *     kiln_sut_kiln *s;   kiln_sut_kiln_create(engine, 2, 8, 2000000, &s, &err);
 *     kiln_sut_kiln_start(s, lg, q);
 *     kiln_lg_run(lg, kiln_sut_kiln_iface(s), kiln_bench_qsl_iface(q), &settings, &res);
 *     kiln_sut_kiln_destroy(s);  kiln_bench_qsl_destroy(q);
 */
#ifndef KILN_BENCH_SUT_KILN_H
#define KILN_BENCH_SUT_KILN_H

#include <stdint.h>

#include "bench/loadgen.h"
#include "io/dataset.h"

typedef struct kiln_bench_qsl kiln_bench_qsl;

/* dataset NULL: random samples, `random_count` of them. */
kiln_status kiln_bench_qsl_create(kiln_engine *e, kiln_dataset *dataset, uint64_t random_count,
                                  kiln_bench_qsl **out, kiln_err *err);
void kiln_bench_qsl_destroy(kiln_bench_qsl *q);
const kiln_lg_qsl *kiln_bench_qsl_iface(kiln_bench_qsl *q);
/* Sample i's memory (NULL unless loaded). */
const float *kiln_bench_qsl_sample(const kiln_bench_qsl *q, uint64_t i);

typedef struct kiln_sut_kiln kiln_sut_kiln;

/* streams >= 1 contexts; max_batch <= the engine's max batch; max_delay_ns: batcher wait. */
kiln_status kiln_sut_kiln_create(kiln_engine *e, int streams, int64_t max_batch,
                                 uint64_t max_delay_ns, kiln_sut_kiln **out, kiln_err *err);
/* Bind to the load generator and sample library of the next run and start the workers. */
kiln_status kiln_sut_kiln_start(kiln_sut_kiln *s, kiln_lg *lg, kiln_bench_qsl *q, kiln_err *err);
const kiln_lg_sut *kiln_sut_kiln_iface(kiln_sut_kiln *s);
/* Stop the workers (joins them) and free everything. */
void kiln_sut_kiln_destroy(kiln_sut_kiln *s);
/* Inference runs done and their mean batch, for reports. */
void kiln_sut_kiln_stats(const kiln_sut_kiln *s, uint64_t *runs, double *mean_batch);

#endif
