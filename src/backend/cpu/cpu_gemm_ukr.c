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
#define KILN_UKR_BODY(MR, NV, VB, AT, PF)                                                        \
    typedef float vf __attribute__((vector_size(VB)));                                           \
    typedef float vfu __attribute__((vector_size(VB), aligned(4)));                              \
    enum { VL = (VB) / 4, NR = VL * (NV) };                                                      \
    vf acc[MR][NV];                                                                              \
    _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++)                                      \
        _Pragma("GCC unroll 8") for (int v = 0; v < (NV); v++) acc[i][v] = (vf){0};              \
    /* The tile's C (and residual) lines, wanted at the end: fetch them now, in the shadow of   \
       the multiply-adds, rather than stall on them there. */                                    \
    _Pragma("GCC unroll 16") for (int i = 0; i < (MR); i++) {                                    \
        __builtin_prefetch(c + i * ldc, 1);                                                      \
        __builtin_prefetch(c + i * ldc + NR - 1, 1);                                             \
        if (epi && epi->r) {                                                                     \
            __builtin_prefetch(epi->r + i * epi->ldr);                                           \
            __builtin_prefetch(epi->r + i * epi->ldr + NR - 1);                                  \
        }                                                                                        \
    }                                                                                            \
    _Pragma("GCC unroll 2") for (int64_t p = 0; p < kc; p++) {                                   \
        vf bv[NV];                                                                               \
        PF;                                                                                      \
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
        /* packed A streams on past this sliver (the next one, the next K block): keep the   \
           memory reads ahead of the multiply-adds (a layer's weights come from DRAM) */     \
        KILN_UKR_BODY(MR, NV, VB, KILN_AT_P##MR, __builtin_prefetch(a + (p + 64) * (MR)))         \
    }                                                                                            \
    ATTR KILN_FP_CONTRACT static void NAME##_ua(                    \
        int64_t kc, const float *restrict a, int64_t lda, const float *restrict b,               \
        float *restrict c, int64_t ldc, int accumulate, const kiln_gemm_epi *epi) {              \
        KILN_UKR_BODY(MR, NV, VB, KILN_AT_ROWS, (void)0)                                         \
    }

#define KILN_AT_P4(i, p) (a[(p) * 4 + (i)])
#define KILN_AT_P6(i, p) (a[(p) * 6 + (i)])
#define KILN_AT_P8(i, p) (a[(p) * 8 + (i)])
#define KILN_AT_P12(i, p) (a[(p) * 12 + (i)])

/* The few columns left after the last panel: c[i*ldc + j] (+)= sum_p a[p*h + i] * b[p*w + j]
   for i < h <= VL, j < w <= 8. Vectors run along the sliver's rows (one load of A per step, a
   broadcast of B per column), so w columns cost w multiply-adds per step where a tile of NR
   columns would cost MR*NV, however few of its columns are real. Reads VL - h floats past the
   end of the sliver (packing leaves room). */
#define KILN_COL_STEP(W)                                                                         \
    case W: {                                                                                    \
        /* U independent sums per column hide the multiply-add latency when W is small */       \
        enum { U = (W) >= 4 ? 1 : (W) >= 2 ? 2 : 4 };                                            \
        vf acc[U][W];                                                                            \
        _Pragma("GCC unroll 4") for (int u = 0; u < U; u++)                                      \
            _Pragma("GCC unroll 8") for (int j = 0; j < (W); j++) acc[u][j] = (vf){0};           \
        int64_t p = 0;                                                                           \
        for (; p + U <= kc; p += U)                                                              \
            _Pragma("GCC unroll 4") for (int u = 0; u < U; u++) {                                \
                vf av = *(const vfu *)(a + (p + u) * h);                                         \
                _Pragma("GCC unroll 8") for (int j = 0; j < (W); j++)                            \
                    acc[u][j] += av * (b[(p + u) * (W) + j] - (vf){0});                          \
            }                                                                                    \
        for (; p < kc; p++) {                                                                    \
            vf av = *(const vfu *)(a + p * h);                                                   \
            _Pragma("GCC unroll 8") for (int j = 0; j < (W); j++) acc[0][j] += av * (b[p * (W) + j] - (vf){0}); \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int j = 0; j < (W); j++) {                                  \
            vf sum = acc[0][j];                                                                  \
            _Pragma("GCC unroll 4") for (int u = 1; u < U; u++) sum += acc[u][j];                \
            *(vfu *)(t + j * VL) = sum;                                                          \
        }                                                                                        \
        break;                                                                                   \
    }
#define KILN_COL_DEFINE(NAME, ATTR, VB)                                                          \
    ATTR KILN_FP_CONTRACT static void NAME(int64_t kc, const float *restrict a, int h,             \
                                           const float *restrict b, int w, float *restrict c,    \
                                           int64_t ldc, int accumulate) {                        \
        typedef float vf __attribute__((vector_size(VB)));                                       \
        typedef float vfu __attribute__((vector_size(VB), aligned(4)));                          \
        enum { VL = (VB) / 4 };                                                                  \
        float t[8 * VL];                                                                         \
        switch (w) {                                                                             \
            KILN_COL_STEP(1) KILN_COL_STEP(2) KILN_COL_STEP(3) KILN_COL_STEP(4)                  \
            KILN_COL_STEP(5) KILN_COL_STEP(6) KILN_COL_STEP(7) KILN_COL_STEP(8)                  \
        default: return;                                                                         \
        }                                                                                        \
        for (int i = 0; i < h; i++)                                                              \
            for (int j = 0; j < w; j++) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + t[j * VL + i]; \
    }

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
KILN_UKR_DEFINE(ukr_avx512_12x16, KILN_ATTR_AVX512, 64, 12, 1)
KILN_UKR_DEFINE(ukr_avx512_8x16, KILN_ATTR_AVX512, 64, 8, 1)
KILN_UKR_DEFINE(ukr_avx512_6x32, KILN_ATTR_AVX512, 64, 6, 2)
KILN_UKR_DEFINE(ukr_avx2_6x16, KILN_ATTR_AVX2, 32, 6, 2)
KILN_UKR_DEFINE(ukr_avx2_4x16, KILN_ATTR_AVX2, 32, 4, 2)
KILN_UKR_DEFINE(ukr_avx2_6x8, KILN_ATTR_AVX2, 32, 6, 1)
KILN_UKR_DEFINE(ukr_avx2_4x8, KILN_ATTR_AVX2, 32, 4, 1)
KILN_COL_DEFINE(col_avx512, KILN_ATTR_AVX512, 64)
KILN_COL_DEFINE(col_avx2, KILN_ATTR_AVX2, 32)
KILN_GEMV_DEFINE(gemv_avx512, KILN_ATTR_AVX512)
KILN_GEMV_DEFINE(gemv_avx2, KILN_ATTR_AVX2)
#endif
KILN_UKR_DEFINE(ukr_base_4x8, , 16, 4, 2)
KILN_UKR_DEFINE(ukr_base_4x4, , 16, 4, 1)
KILN_COL_DEFINE(col_base, , 16)
KILN_GEMV_DEFINE(gemv_base, )

#define HALF(u, ua, alt, alt_ua) {u, ua, alt, alt_ua}
const kiln_gemm_kernel kiln__gemm_kernels[] = {
#if defined(__x86_64__) || defined(__i386__)
    {"avx512-12x32", 12, 32, 256, 192, 2048, ukr_avx512_12x32, ukr_avx512_12x32_ua, gemv_avx512, "avx512f",
     8, ukr_avx512_8x32, ukr_avx512_8x32_ua,
     HALF(ukr_avx512_12x16, ukr_avx512_12x16_ua, ukr_avx512_8x16, ukr_avx512_8x16_ua), col_avx512, 16},
    {"avx512-8x32", 8, 32, 256, 256, 2048, ukr_avx512_8x32, ukr_avx512_8x32_ua, gemv_avx512, "avx512f", 0, NULL, NULL,
     HALF(ukr_avx512_8x16, ukr_avx512_8x16_ua, NULL, NULL), col_avx512, 16},
    {"avx512-6x64", 6, 64, 256, 192, 2048, ukr_avx512_6x64, ukr_avx512_6x64_ua, gemv_avx512, "avx512f", 0, NULL, NULL,
     HALF(ukr_avx512_6x32, ukr_avx512_6x32_ua, NULL, NULL), col_avx512, 16},
    {"avx2-6x16", 6, 16, 256, 192, 2048, ukr_avx2_6x16, ukr_avx2_6x16_ua, gemv_avx2, "avx2",
     4, ukr_avx2_4x16, ukr_avx2_4x16_ua, HALF(ukr_avx2_6x8, ukr_avx2_6x8_ua, ukr_avx2_4x8, ukr_avx2_4x8_ua), col_avx2, 8},
#endif
    {"base-4x8", 4, 8, 256, 128, 2048, ukr_base_4x8, ukr_base_4x8_ua, gemv_base, NULL, 0, NULL, NULL,
     HALF(ukr_base_4x4, ukr_base_4x4_ua, NULL, NULL), col_base, 4},
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
