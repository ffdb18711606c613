/* threadpool.h — a small fixed pool for parallel loops (one per execution context).
 *
 * kiln_pool_for(p, n, fn, arg) runs fn(arg, i, thread) for every i in [0, n) on the pool's
 * threads and the caller, and returns when all are done. Work is handed out one index at a time
 * from an atomic counter, so make each index a chunk worth a few microseconds at least. A pool is
 * used by one caller at a time (contexts own theirs); a NULL pool runs the loop serially.
 *
 * kiln_pool_run(p, fn, arg) runs fn(arg, t, t) once on every thread t in [0, kiln_pool_size(p))
 * (the caller is thread 0): every thread takes part, so fn may split its work by t itself and
 * wait for the others with kiln_pool_barrier(p) between phases.
 *
 * Workers spin briefly for the next loop before they sleep, so back-to-back loops (a network's
 * layers) start in well under a microsecond instead of a futex wake-up (~20 us each).
 */
#ifndef KILN_CORE_THREADPOOL_H
#define KILN_CORE_THREADPOOL_H

#include <stdint.h>

typedef struct kiln_pool kiln_pool;
typedef void (*kiln_task_fn)(void *arg, int64_t i, int thread);

/* n threads in all, the caller included; n <= 0 means one per online core. NULL on failure. */
kiln_pool *kiln_pool_create(int n);
void kiln_pool_destroy(kiln_pool *p);
/* Threads that run loops (>= 1; 1 for NULL). */
int kiln_pool_size(const kiln_pool *p);
void kiln_pool_for(kiln_pool *p, int64_t n, kiln_task_fn fn, void *arg);
/* fn(arg, t, t) on each of the pool's threads t, all at once; serial fn(arg, 0, 0) for NULL. */
void kiln_pool_run(kiln_pool *p, kiln_task_fn fn, void *arg);
/* Inside kiln_pool_run only: wait until every thread of the pool has reached this barrier. */
void kiln_pool_barrier(kiln_pool *p);
/* Online cores of this machine (>= 1). */
int kiln_num_cores(void);

#endif
