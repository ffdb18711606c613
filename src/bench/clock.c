/* clock.c — the load generator's two clocks: CLOCK_MONOTONIC, and a fake one whose time jumps
 * from event to event, so tests simulate a SUT with known latencies exactly and instantly. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "bench/lg_internal.h"

/* ---- real ---- */

static uint64_t real_now(void *self) {
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void real_sleep_until(void *self, uint64_t t) {
    (void)self;
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
    /* Absolute time, so a signal that interrupts the sleep costs no drift: just sleep again. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

kiln_lg_clock kiln_lg_clock_real(void) {
    return (kiln_lg_clock){.now_ns = real_now, .sleep_until = real_sleep_until, .idle = NULL,
                           .self = NULL};
}

/* ---- fake ---- */

typedef struct fake_event {
    uint64_t t, seq; /* seq breaks ties in scheduling order, so runs are deterministic */
    kiln_lg_event_fn fn;
    void *arg;
} fake_event;

struct kiln_lg_fake_clock {
    pthread_mutex_t mu;
    uint64_t now, next_seq;
    fake_event *heap; /* a binary min-heap on (t, seq) */
    size_t n, cap;
};

static int ev_less(const fake_event *a, const fake_event *b) {
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(kiln_lg_fake_clock *fc, fake_event e) {
    size_t i = fc->n++;
    fc->heap[i] = e;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&fc->heap[i], &fc->heap[p])) break;
        fake_event tmp = fc->heap[p];
        fc->heap[p] = fc->heap[i];
        fc->heap[i] = tmp;
        i = p;
    }
}

static fake_event heap_pop(kiln_lg_fake_clock *fc) {
    fake_event top = fc->heap[0];
    fc->heap[0] = fc->heap[--fc->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < fc->n && ev_less(&fc->heap[l], &fc->heap[m])) m = l;
        if (r < fc->n && ev_less(&fc->heap[r], &fc->heap[m])) m = r;
        if (m == i) break;
        fake_event tmp = fc->heap[m];
        fc->heap[m] = fc->heap[i];
        fc->heap[i] = tmp;
        i = m;
    }
    return top;
}

kiln_lg_fake_clock *kiln_lg_fake_clock_create(uint64_t start_ns) {
    kiln_lg_fake_clock *fc = calloc(1, sizeof *fc);
    if (!fc) return NULL;
    pthread_mutex_init(&fc->mu, NULL);
    fc->now = start_ns;
    return fc;
}

void kiln_lg_fake_clock_destroy(kiln_lg_fake_clock *fc) {
    if (!fc) return;
    pthread_mutex_destroy(&fc->mu);
    free(fc->heap);
    free(fc);
}

uint64_t kiln_lg_fake_clock_now(kiln_lg_fake_clock *fc) {
    pthread_mutex_lock(&fc->mu);
    uint64_t t = fc->now;
    pthread_mutex_unlock(&fc->mu);
    return t;
}

size_t kiln_lg_fake_clock_pending(kiln_lg_fake_clock *fc) {
    pthread_mutex_lock(&fc->mu);
    size_t n = fc->n;
    pthread_mutex_unlock(&fc->mu);
    return n;
}

kiln_status kiln_lg_fake_clock_at(kiln_lg_fake_clock *fc, uint64_t t_ns, kiln_lg_event_fn fn,
                                  void *arg) {
    if (!fc || !fn) return KILN_ERR_INVALID_ARG;
    pthread_mutex_lock(&fc->mu);
    if (fc->n == fc->cap) {
        size_t cap = fc->cap ? fc->cap * 2 : 64;
        fake_event *h = realloc(fc->heap, cap * sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&fc->mu);
            return KILN_ERR_NOMEM;
        }
        fc->heap = h;
        fc->cap = cap;
    }
    heap_push(fc, (fake_event){.t = t_ns, .seq = fc->next_seq++, .fn = fn, .arg = arg});
    pthread_mutex_unlock(&fc->mu);
    return KILN_OK;
}

/* Pop and run the earliest event if it is due by `limit`; time moves to the event (never back).
   The lock is dropped before the call: the event usually calls kiln_lg_complete, which reads
   the clock again, and may schedule further events. */
static int fire_one(kiln_lg_fake_clock *fc, uint64_t limit) {
    pthread_mutex_lock(&fc->mu);
    if (fc->n == 0 || fc->heap[0].t > limit) {
        pthread_mutex_unlock(&fc->mu);
        return 0;
    }
    fake_event e = heap_pop(fc);
    if (e.t > fc->now) fc->now = e.t;
    uint64_t t = fc->now;
    pthread_mutex_unlock(&fc->mu);
    e.fn(e.arg, t);
    return 1;
}

static uint64_t fake_now(void *self) { return kiln_lg_fake_clock_now(self); }

static void fake_sleep_until(void *self, uint64_t t) {
    kiln_lg_fake_clock *fc = self;
    while (fire_one(fc, t)) {
    }
    pthread_mutex_lock(&fc->mu);
    if (t > fc->now) fc->now = t;
    pthread_mutex_unlock(&fc->mu);
}

static int fake_idle(void *self) { return fire_one(self, UINT64_MAX); }

kiln_lg_clock kiln_lg_fake_clock_iface(kiln_lg_fake_clock *fc) {
    return (kiln_lg_clock){.now_ns = fake_now, .sleep_until = fake_sleep_until,
                           .idle = fake_idle, .self = fc};
}
