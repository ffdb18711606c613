/* rng.h — a small seeded generator (splitmix64 seeding a xoshiro256**), for deterministic
 * weights (zoo), random inputs and tests. State lives with the caller: no globals. */
#ifndef KILN_CORE_RNG_H
#define KILN_CORE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct kiln_rng {
    uint64_t s[4];
} kiln_rng;

static inline uint64_t kiln__splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void kiln_rng_seed(kiln_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = kiln__splitmix(&seed);
}

static inline uint64_t kiln_rng_next(kiln_rng *r) {
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, res = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* Uniform in [0, 1). */
static inline double kiln_rng_uniform(kiln_rng *r) {
    return (double)(kiln_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller; one value per call, simple over fast). */
static inline double kiln_rng_normal(kiln_rng *r) {
    double u1 = kiln_rng_uniform(r), u2 = kiln_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
