/* GEMM micro-kernels: one portable source (GCC vector extensions), compiled once per ISA through
 * target attributes, so the binary stays baseline x86-64 and picks the widest kernel at run time.
 *
 * The accumulators are an MR x NV array of vectors that GCC keeps in registers after unrolling
 * the constant loops: B contributes NV vector loads per step, A one broadcast per row. Tiles
 * are sized to the register file: AVX-512 has 32 zmm (MR x NV accumulators + NV B vectors + a
 * broadcast must fit), AVX2 and SSE 16. fp-contract=fast lets GCC fuse the multiply-add into FMA
 * (ISO C mode would keep them separate); results then differ from the unfused product only in
 * rounding, which the tests' double references bound.
 */
#include "backend/cpu/cpu_gemm_ukr.h"

#include <string.h>

/* GCC in ISO C mode does not fuse a*b + c into an FMA unless told to; clang's default
   (-ffp-contract=on) already fuses within an expression, and it has no optimize attribute. */
#if defined(__clang__)
#define KILN_FP_CONTRACT
#else
#define KILN_FP_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif

/* AT(i, p) addresses A: the packed sliver, or (the _ua variants) A's rows in place. */
#define KILN_UKR_BODY(MR, NV, VB, AT)                                                            \
    typedef float vf __attribute__((vector_size(VB)));                                           \
    typedef float vfu __attribute__((vector_size(VB), aligned(4)));                              \
    enum { VL = (VB) / 4, NR = VL * (NV) };                                                      \
    vf acc[MR][NV];                                                                              \
    _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                                      \
        _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) acc[i][v] = (vf){0};              \
    _Pragma("GCC unroll 2") for (int64_t p = 0; p < kc; p++) {                                   \
        vf bv[NV];                                                                               \
        _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                                   \
            bv[v] = *(const vf *)(b + p * NR + v * VL);                                          \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++) {                                \
            vf av = AT(i, p) - (vf){0}; /* broadcast; x - 0 is exact */                          \
            _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) acc[i][v] += av * bv[v];      \
        }                                                                                        \
    }                                                                                            \
    if (accumulate) {                                                                            \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                                  \
            _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                               \
                acc[i][v] += *(const vfu *)(c + i * ldc + v * VL);                               \
    }                                                                                            \
    if (epi) {                                                                                   \
        typedef int vi __attribute__((vector_size(VB)));                                         \
        if (epi->alpha != 1.0f) {                                                                \
            vf al = epi->alpha - (vf){0};                                                        \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                              \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) acc[i][v] *= al;          \
        }                                                                                        \
        if (epi->d && epi->d_cs == 0) {                                                          \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++) {                            \
                vf dv = epi->beta * epi->d[i * epi->d_rs] - (vf){0};                             \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) acc[i][v] += dv;          \
            }                                                                                    \
        } else if (epi->d) {                                                                     \
            vf be = epi->beta - (vf){0};                                                         \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                              \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                           \
                    acc[i][v] += be * *(const vfu *)(epi->d + i * epi->d_rs + v * VL);           \
        }                                                                                        \
        if (epi->r) {                                                                            \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                              \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                           \
                    acc[i][v] += *(const vfu *)(epi->r + i * epi->ldr + v * VL);                 \
        }                                                                                        \
        if (epi->act == 1) { /* relu: keep the lanes above zero */                               \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                              \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                           \
                    acc[i][v] = (vf)((vi)acc[i][v] & (vi)(acc[i][v] > (vf){0}));                 \
        } else if (epi->act == 2) {                                                              \
            vf lo = epi->lo - (vf){0}, hi = epi->hi - (vf){0};                                   \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                              \
                _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) {                         \
                    vi below = acc[i][v] < lo, above = acc[i][v] > hi; /* as kiln_act_apply */   \
                    vf t = (vf)(((vi)hi & above) | ((vi)acc[i][v] & ~above));                    \
                    acc[i][v] = (vf)(((vi)lo & below) | ((vi)t & ~below));                       \
                }                                                                                \
        }                                                                                        \
    }                                                                                            \
    _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                                      \
        _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++)                                   \
            *(vfu *)(c + i * ldc + v * VL) = acc[i][v];

#define KILN_AT_ROWS(i, p) (a[(i) * lda + (p)])

/* A micro-kernel on packed A, one on A's rows (lda apart), and the matrix-vector kernels. */
#define KILN_UKR_DEFINE(NAME, ATTR, VB, MR, NV)                                                  \
    ATTR KILN_FP_CONTRACT static void NAME(                         \
        int64_t kc, const float *restrict a, const float *restrict b, float *restrict c,         \
        int64_t ldc, int accumulate, const kiln_gemm_epi *epi) {                                 \
        KILN_UKR_BODY(MR, NV, VB, KILN_AT_P##MR)                                                 \
    }                                                                                            \
    ATTR KILN_FP_CONTRACT static void NAME##_ua(                    \
        int64_t kc, const float *restrict a, int64_t lda, const float *restrict b,               \
        float *restrict c, int64_t ldc, int accumulate, const kiln_gemm_epi *epi) {              \
        KILN_UKR_BODY(MR, NV, VB, KILN_AT_ROWS)                                                  \
    }

#define KILN_AT_P4(i, p) (a[(p) * 4 + (i)])
#define KILN_AT_P6(i, p) (a[(p) * 6 + (i)])
#define KILN_AT_P8(i, p) (a[(p) * 8 + (i)])
#define KILN_AT_P12(i, p) (a[(p) * 12 + (i)])

/* y[j] (+)= sum_p x[p] * B(p, j) for j < n: B's rows contiguous (b_cs == 1) or its columns
   (b_rs == 1). Sixteen independent partial sums let GCC vectorize without reassociating. */
#define KILN_GEMV_DEFINE(NAME, ATTR)                                                             \
    ATTR KILN_FP_CONTRACT static void NAME(                         \
        int64_t k, int64_t n, const float *restrict x, const float *restrict b, int64_t b_rs,    \
        int64_t b_cs, float *restrict y) {                                                       \
        if (b_cs == 1) {                                                                         \
            for (int64_t j = 0; j < n; j++) y[j] = 0;                                            \
            for (int64_t p = 0; p < k; p++) {                                                    \
                const float *restrict row = b + p * b_rs;                                        \
                float xv = x[p];                                                                 \
                for (int64_t j = 0; j < n; j++) y[j] += xv * row[j];                             \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        for (int64_t j = 0; j < n; j++) {                                                        \
            const float *restrict col = b + j * b_cs;                                            \
            float acc[16] = {0};                                                                 \
            int64_t p = 0;                                                                       \
            for (; p + 16 <= k; p += 16)                                                         \
                for (int l = 0; l < 16; l++) acc[l] += x[p + l] * col[p + l];                    \
            float s = 0;                                                                         \
            for (int l = 0; l < 16; l++) s += acc[l];                                            \
            for (; p < k; p++) s += x[p] * col[p];                                               \
            y[j] = s;                                                                            \
        }                                                                                        \
    }

#if defined(__x86_64__) || defined(__i386__)
#define KILN_ATTR_AVX512 __attribute__((target("avx512f")))
#define KILN_ATTR_AVX2 __attribute__((target("avx2,fma")))
KILN_UKR_DEFINE(ukr_avx512_12x32, KILN_ATTR_AVX512, 64, 12, 2)
KILN_UKR_DEFINE(ukr_avx512_8x32, KILN_ATTR_AVX512, 64, 8, 2)
KILN_UKR_DEFINE(ukr_avx512_6x64, KILN_ATTR_AVX512, 64, 6, 4)
KILN_UKR_DEFINE(ukr_avx2_6x16, KILN_ATTR_AVX2, 32, 6, 2)
KILN_UKR_DEFINE(ukr_avx2_4x16, KILN_ATTR_AVX2, 32, 4, 2)
KILN_GEMV_DEFINE(gemv_avx512, KILN_ATTR_AVX512)
KILN_GEMV_DEFINE(gemv_avx2, KILN_ATTR_AVX2)
#endif
KILN_UKR_DEFINE(ukr_base_4x8, , 16, 4, 2)
KILN_GEMV_DEFINE(gemv_base, )

const kiln_gemm_kernel kiln__gemm_kernels[] = {
#if defined(__x86_64__) || defined(__i386__)
    {"avx512-12x32", 12, 32, 256, 192, 2048, ukr_avx512_12x32, ukr_avx512_12x32_ua, gemv_avx512, "avx512f",
     8, ukr_avx512_8x32, ukr_avx512_8x32_ua},
    {"avx512-8x32", 8, 32, 256, 256, 2048, ukr_avx512_8x32, ukr_avx512_8x32_ua, gemv_avx512, "avx512f", 0, NULL, NULL},
    {"avx512-6x64", 6, 64, 256, 192, 2048, ukr_avx512_6x64, ukr_avx512_6x64_ua, gemv_avx512, "avx512f", 0, NULL, NULL},
    {"avx2-6x16", 6, 16, 256, 192, 2048, ukr_avx2_6x16, ukr_avx2_6x16_ua, gemv_avx2, "avx2",
     4, ukr_avx2_4x16, ukr_avx2_4x16_ua},
#endif
    {"base-4x8", 4, 8, 256, 128, 2048, ukr_base_4x8, ukr_base_4x8_ua, gemv_base, NULL, 0, NULL, NULL},
};
const int kiln__gemm_n_kernels = (int)(sizeof kiln__gemm_kernels / sizeof kiln__gemm_kernels[0]);

int kiln__gemm_kernel_supported(const kiln_gemm_kernel *k) {
    if (!k->cpu_feature) return 1;
#if defined(__x86_64__) || defined(__i386__)
    /* __builtin_cpu_supports needs literal names; it also checks that the OS saves the wide
       registers. libgcc fills its CPU model at start-up, so no __builtin_cpu_init here (it
       would be a needless write from every thread that asks). */
    if (!strcmp(k->cpu_feature, "avx512f")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(k->cpu_feature, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 0;
}
