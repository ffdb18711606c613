/* cuda_timing.h — time a piece of device work with CUDA events (the builder's tactic timer).
 *
 * The work is given as a callback that enqueues it on a stream. kiln_cuda_time() runs it `warmup`
 * times untimed (module loading, lazy initialization and cold caches stay out), then `iters`
 * times with an event recorded between consecutive runs, and returns the median of the per-run
 * times: robust to the odd slow run, as the builder needs when it picks the fastest candidate.
 */
#ifndef KILN_BACKEND_CUDA_TIMING_H
#define KILN_BACKEND_CUDA_TIMING_H

#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Enqueue one run of the work on stream s. */
typedef kiln_status (*kiln_cuda_work_fn)(void *ctx, cudaStream_t s, kiln_err *e);

/* Median milliseconds per run over `iters` (>= 1, at most 1000) runs after `warmup` runs. */
kiln_status kiln_cuda_time(kiln_cuda_work_fn fn, void *ctx, cudaStream_t s, int warmup, int iters,
                           float *median_ms, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
