#define _GNU_SOURCE
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long an idle worker keeps polling for the next loop before it sleeps on the condition
   variable. Layers follow each other within microseconds, but a worker that finished its share
   of a long layer early waits for the rest of it (an uneven split, a slower core) before the
   next one starts; if it fell asleep, the next layer would start without it and wait ~50 us for
   its futex wake-up, and it would then finish late in turn. So it polls through an inference
   (yielding the core now and then, in case other threads need it) and sleeps after this long
   idle. */
#define SPIN_NS 5000000
#define SPIN_YIELD_NS 100000 /* polling only, then polling with sched_yield */

struct kiln_pool {
    int n;                        /* threads in all, caller included */
    pthread_t *threads;           /* n - 1 workers */
    pthread_mutex_t mu;           /* only for sleeping: the hot path is lock-free */
    pthread_cond_t wake;
    atomic_uint_fast64_t generation; /* bumped for each loop; workers wait for a change */
    atomic_int sleepers;          /* workers inside (or about to enter) pthread_cond_wait */
    atomic_int stop;
    atomic_int pending;           /* workers still inside the current loop */
    kiln_task_fn fn;              /* the current loop, published by the generation bump */
    void *arg;
    int64_t count;
    int spmd;                     /* kiln_pool_run: thread t runs index t */
    atomic_llong next;
    atomic_int bar_count;         /* kiln_pool_barrier: arrivals, and the round */
    atomic_uint bar_round;
};

typedef struct {
    kiln_pool *p;
    int id;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_loop(kiln_pool *p, int tid) {
    if (p->spmd) {
        p->fn(p->arg, tid, tid);
        return;
    }
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->count) break;
        p->fn(p->arg, i, tid);
    }
}

/* Wait until the generation differs from `seen` (or the pool stops): poll for SPIN_NS, then
   sleep. Returns the new generation. */
static uint64_t wait_for_loop(kiln_pool *p, uint64_t seen) {
    int64_t t0 = 0;
    for (unsigned spins = 0;; spins++) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return g;
        cpu_relax();
        if ((spins & 255) == 255) {
            int64_t t = now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > SPIN_NS) break;
            else if (t - t0 > SPIN_YIELD_NS) sched_yield();
        }
    }
    /* Sleep. The caller bumps the generation and then reads `sleepers`; we raise `sleepers` and
       then read the generation (both sequentially consistent), so at least one of us sees the
       other: either we see the new loop, or the caller sees us and broadcasts under the mutex. */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker(void *v) {
    worker_arg *wa = v;
    kiln_pool *p = wa->p;
    int tid = wa->id;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_loop(p, seen);
        if (atomic_load(&p->stop)) break;
        run_loop(p, tid);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

int kiln_num_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

kiln_pool *kiln_pool_create(int n) {
    if (n <= 0) n = kiln_num_cores();
    kiln_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->generation, 0);
    p->threads = calloc((size_t)n, sizeof(pthread_t));
    if (!p->threads) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i - 1], NULL, worker, wa)) {
            free(wa);
            p->n = i; /* keep the threads that started */
            break;
        }
    }
    return p;
}

void kiln_pool_destroy(kiln_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int kiln_pool_size(const kiln_pool *p) { return p ? p->n : 1; }

/* Publish a loop, take part in it as thread 0, and wait for the workers. */
static void dispatch(kiln_pool *p, int64_t n, int spmd, kiln_task_fn fn, void *arg) {
    p->fn = fn;
    p->arg = arg;
    p->count = n;
    p->spmd = spmd;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1); /* releases the fields above */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_loop(p, 0);
    /* The workers' share is short (they started when we did): poll, yielding the core now and
       then in case a worker waits for it (more threads than cores). */
    for (unsigned spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        cpu_relax();
        if ((spins & 1023) == 1023) sched_yield();
    }
}

void kiln_pool_for(kiln_pool *p, int64_t n, kiln_task_fn fn, void *arg) {
    if (n <= 0) return;
    if (!p || p->n == 1 || n == 1) {
        for (int64_t i = 0; i < n; i++) fn(arg, i, 0);
        return;
    }
    dispatch(p, n, 0, fn, arg);
}

void kiln_pool_run(kiln_pool *p, kiln_task_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 0);
        return;
    }
    dispatch(p, p->n, 1, fn, arg);
}

void kiln_pool_barrier(kiln_pool *p) {
    if (!p || p->n == 1) return;
    unsigned round = atomic_load_explicit(&p->bar_round, memory_order_acquire);
    if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_round, 1, memory_order_release);
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&p->bar_round, memory_order_acquire) == round; spins++) {
        cpu_relax();
        if ((spins & 1023) == 1023) sched_yield();
    }
}
