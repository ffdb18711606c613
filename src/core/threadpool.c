#define _GNU_SOURCE
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct kiln_pool {
    int n;                      /* threads in all, caller included */
    pthread_t *threads;         /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;        /* bumped for each loop; workers wait for a change */
    int stop;
    int busy;                   /* workers still inside the current loop */
    kiln_task_fn fn;
    void *arg;
    int64_t count;
    atomic_llong next;
};

typedef struct {
    kiln_pool *p;
    int id;
} worker_arg;

static void run_loop(kiln_pool *p, int tid) {
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->count) break;
        p->fn(p->arg, i, tid);
    }
}

static void *worker(void *v) {
    worker_arg *wa = v;
    kiln_pool *p = wa->p;
    int tid = wa->id;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_loop(p, tid);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
    pthread_cond_init(&p->done, NULL);
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
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int kiln_pool_size(const kiln_pool *p) { return p ? p->n : 1; }

void kiln_pool_for(kiln_pool *p, int64_t n, kiln_task_fn fn, void *arg) {
    if (n <= 0) return;
    if (!p || p->n == 1 || n == 1) {
        for (int64_t i = 0; i < n; i++) fn(arg, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->count = n;
    atomic_store(&p->next, 0);
    p->busy = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_loop(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
