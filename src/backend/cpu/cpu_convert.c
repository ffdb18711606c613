/* float32 <-> float16 / bfloat16 over arrays without branches, so the loops vectorize (dtype.h's
 * scalar converters branch per element, ~10 ns each when the rounding direction is random).
 *
 * Each block first does the float arithmetic for every element (a select-free pass), then picks
 * the case with integer selects: GCC does not vectorize a float operation that feeds only one
 * arm of a select, because under -ftrapping-math it may not evaluate it unconditionally. Checked
 * bit for bit against dtype.h on all 2^32 floats and 2^16 halves. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

#define BLOCK 256

/* Multiversioned: AVX2/AVX-512 halve the time of the float32 -> float16 pass (measured on a
   16-core Xeon); the selects are integer-only, so every version gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

MULTIVERSION
void kiln__f32_to_f16_n(const float *x, uint16_t *y, int64_t n) {
    uint32_t sub[BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        /* Below 2^-14 the half is subnormal: adding 0.5f puts the half's ulp (2^-24) at the
           float's ulp, so the FPU rounds to nearest even for us. */
        for (int64_t j = 0; j < m; j++) {
            float v = fabsf(x[i0 + j]) + 0.5f;
            memcpy(&sub[j], &v, 4);
        }
        for (int64_t j = 0; j < m; j++) {
            uint32_t f;
            memcpy(&f, &x[i0 + j], 4);
            uint32_t sign = (f >> 16) & 0x8000u, a = f & 0x7fffffffu;
            uint32_t norm = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13; /* rebias, round */
            uint32_t nan = 0x7e00u | ((a & 0x7fffffu) >> 13);
            uint32_t r = a < 0x38800000u ? sub[j] - 0x3f000000u : norm;
            r = a >= 0x477ff000u ? 0x7c00u : r; /* 65520 and up round to inf */
            r = a > 0x7f800000u ? nan : r;
            y[i0 + j] = (uint16_t)(r | sign);
        }
    }
}

MULTIVERSION
void kiln__f16_to_f32_n(const uint16_t *x, float *y, int64_t n) {
    float sub[BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < m; j++) /* subnormal halves: mantissa * 2^-24, exact */
            sub[j] = (float)(x[i0 + j] & 0x3ff) * 5.9604644775390625e-8f;
        for (int64_t j = 0; j < m; j++) {
            uint32_t h = x[i0 + j], a = h & 0x7fffu, s;
            memcpy(&s, &sub[j], 4);
            uint32_t r = a < 0x0400u ? s : (a << 13) + 0x38000000u;  /* rebias 15 -> 127 */
            r = a >= 0x7c00u ? (a << 13) | 0x7f800000u : r;        /* inf, NaN */
            r |= (h & 0x8000u) << 16;
            memcpy(&y[i0 + j], &r, 4);
        }
    }
}

void kiln__f32_to_bf16_n(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t f;
        memcpy(&f, &x[i], 4);
        uint32_t rounded = (f + 0x7fffu + ((f >> 16) & 1u)) >> 16, nan = (f >> 16) | 0x40u;
        y[i] = (uint16_t)((f & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
    }
}

void kiln__bf16_to_f32_n(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(&y[i], &u, 4);
    }
}
