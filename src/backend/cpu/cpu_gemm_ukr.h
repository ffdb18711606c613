/* cpu_gemm_ukr.h — the GEMM micro-kernels (internal to cpu_gemm.c).
 *
 * A micro-kernel computes one MR x NR tile over kc steps from packed operands:
 *   c[i*ldc + j] (+)= sum_p a[p*MR + i] * b[p*NR + j]
 * a is an MR-row sliver (column after column), b an NR-column panel (row after row), both
 * 64-byte aligned; c is written with unaligned stores, accumulating when `accumulate` is set,
 * through the epilogue when epi is not NULL. */
#ifndef KILN_BACKEND_CPU_GEMM_UKR_H
#define KILN_BACKEND_CPU_GEMM_UKR_H

#include <stdint.h>

/* The epilogue a micro-kernel applies to a full tile before storing it (the last k block):
     c = act(alpha * acc + beta * d[i*d_rs + j*d_cs] + r[i*ldr + j])
   d and r point at the tile's first element (NULL: absent); d_cs is 0 or 1; act is one of
   KILN_ACT_NONE, _RELU, _CLIP (other activations run afterwards over the stored tile). */
typedef struct kiln_gemm_epi {
    float alpha, beta;
    const float *d;
    int64_t d_rs, d_cs;
    const float *r;
    int64_t ldr;
    int act;
    float lo, hi; /* KILN_ACT_CLIP bounds */
} kiln_gemm_epi;

typedef void (*kiln_gemm_ukr_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                                 int accumulate, const kiln_gemm_epi *epi);

/* The same tile with A read in place: rows lda apart (A's column stride must be 1). */
typedef void (*kiln_gemm_ukr_rows_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                                      int64_t ldc, int accumulate, const kiln_gemm_epi *epi);
/* A few columns (w <= 8) for rows i < h <= col_lanes: c[i*ldc + j] (+)= sum_p a[p*h + i] b[p*w + j]. */
typedef void (*kiln_gemm_ukr_col_fn)(int64_t kc, const float *a, int h, const float *b, int w, float *c, int64_t ldc,
                                     int accumulate);
/* y[0..n) = x[0..k) · B, B(p, j) = b[p*b_rs + j*b_cs] with b_cs == 1 or b_rs == 1. */
typedef void (*kiln_gemv_fn)(int64_t k, int64_t n, const float *x, const float *b, int64_t b_rs, int64_t b_cs,
                             float *y);

typedef struct kiln_gemm_kernel {
    const char *name;
    int mr, nr;         /* register tile */
    int kc, mc, nc;     /* cache blocking: mc a multiple of mr, nc of nr */
    kiln_gemm_ukr_fn ukr;
    kiln_gemm_ukr_rows_fn ukr_rows;
    kiln_gemv_fn gemv;
    const char *cpu_feature; /* for __builtin_cpu_supports; NULL: any x86-64 */
    int mr_alt;              /* a shorter tile of the same NR for the last rows (0: none), so */
    kiln_gemm_ukr_fn ukr_alt; /* that M = 12a + 8b is covered without padded rows */
    kiln_gemm_ukr_rows_fn ukr_rows_alt;
    struct {                 /* the same tiles NR/2 wide, for the columns after the last panel */
        kiln_gemm_ukr_fn ukr;
        kiln_gemm_ukr_rows_fn ukr_rows;
        kiln_gemm_ukr_fn ukr_alt;
        kiln_gemm_ukr_rows_fn ukr_rows_alt;
    } half;
    kiln_gemm_ukr_col_fn ukr_col; /* the last few columns, vectorized along the rows */
    int col_lanes;           /* its vector length (>= mr) */
} kiln_gemm_kernel;

#define KILN_GEMM_COL_MAX 8  /* ukr_col's widest */

#define KILN_GEMM_MAX_TILE 512 /* mr * nr of every kernel fits */

/* Every compiled kernel, best first; the first supported one is the default. */
extern const kiln_gemm_kernel kiln__gemm_kernels[];
extern const int kiln__gemm_n_kernels;
int kiln__gemm_kernel_supported(const kiln_gemm_kernel *k);
/* The kernel kiln_gemm_run uses on this CPU. */
const kiln_gemm_kernel *kiln__gemm_default_kernel(void);

/* Row slivers (cpu_gemm.c): M is cut into `parts` row ranges of near-equal size (one per thread
   that splits M), and each range into `a` slivers of MR rows followed by `b` of the kernel's
   shorter MR_ALT rows, chosen to pad as few rows as possible (with 12 and 8, any multiple of 4
   from 8 up needs none). A packed operand holds the slivers back to back, padded rows zero. */
#define KILN_GEMM_MAX_PARTS 8
typedef struct kiln__sliv_part {
    int64_t row0, rows; /* the range of rows */
    int64_t a, b;       /* slivers of mr and of mra rows */
    int64_t s0;         /* index of its first sliver */
    int64_t prow0;      /* its first padded row */
} kiln__sliv_part;

typedef struct kiln__sliv_plan {
    int mr, mra;
    int parts;
    kiln__sliv_part p[KILN_GEMM_MAX_PARTS];
    int64_t n_sliv, mpad; /* slivers, and rows with padding */
} kiln__sliv_plan;

typedef struct kiln__sliver {
    int64_t row0;  /* first row */
    int h;         /* tile height: mr or mra */
    int64_t rows;  /* rows that exist (<= h) */
    int64_t prow;  /* padded row offset in a packed operand */
} kiln__sliver;

kiln__sliv_plan kiln__gemm_plan_slivers(const kiln_gemm_kernel *kr, int64_t m, int parts);
kiln__sliver kiln__gemm_sliver_at(const kiln__sliv_plan *sp, int64_t s);

#endif
