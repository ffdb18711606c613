/* samples.c — the load generator's randomness: which library samples form the loaded sets, the
 * order queries draw them in, and the Server's Poisson arrival times. Every draw comes from a
 * generator seeded with one of LoadGen's seeds, so a run is reproducible from its settings. */
#include <math.h>
#include <stdlib.h>

#include "bench/lg_internal.h"

uint64_t kiln__lg_rng_below(kiln_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* Reject the top sliver of the 64-bit range that n does not divide evenly. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = kiln_rng_next(r);
    while (x >= limit);
    return x % n;
}

void kiln__lg_shuffle(uint64_t *a, size_t n, kiln_rng *r) {
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates, as std::shuffle */
        size_t j = (size_t)kiln__lg_rng_below(r, i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

kiln_status kiln__lg_shuffled_library(uint64_t total, uint64_t seed, uint64_t **out) {
    *out = NULL;
    if (total > SIZE_MAX / sizeof(uint64_t)) return KILN_ERR_NOMEM;
    uint64_t *a = malloc((size_t)(total ? total : 1) * sizeof *a);
    if (!a) return KILN_ERR_NOMEM;
    for (uint64_t i = 0; i < total; i++) a[i] = i;
    kiln_rng r;
    kiln_rng_seed(&r, seed);
    kiln__lg_shuffle(a, (size_t)total, &r);
    *out = a;
    return KILN_OK;
}

uint64_t kiln__lg_poisson_gap_ns(kiln_rng *r, double qps) {
    /* Exponential inter-arrival times make a Poisson process; u in [0, 1) keeps log1p finite. */
    double u = kiln_rng_uniform(r);
    double gap = -log1p(-u) / qps * 1e9;
    return gap >= 1.8e19 ? UINT64_MAX / 4 : (uint64_t)gap;
}
