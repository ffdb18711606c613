/* cpu_gemm.h — the CPU backend's FP32 matrix multiply, with the epilogue fused into the write.
 *
 *   C = act(alpha * A·B + beta * D + R)
 *
 * A is M x K, B is K x N, each addressed through a row and a column stride (so transposed
 * operands cost nothing extra: packing reads them either way); C is M x N with row stride ldc
 * and unit column stride. D (optional) is read as D[i*d_rs + j*d_cs], so a per-row bias (conv)
 * is d_cs = 0 and a broadcast Gemm C is any mix of zero strides. R (optional) is a residual with
 * C's shape. C must not overlap A, B, D or R. Instead of a matrix, B may be produced by a packing
 * callback (b_pack): convolutions unfold their input straight into the packed panels
 * (implicit im2col), with no unfolded copy in memory.
 *
 * How it works (Goto/BLIS style): B is packed into KC x NR panels, A into MR x KC slivers, a
 * register-blocked micro-kernel computes MR x NR tiles, and cache blocking (MC/KC/NC) keeps the
 * B micro-panel in L1 and the packed A block in L2. Micro-kernels are compiled per ISA (AVX-512,
 * AVX2+FMA, baseline SSE2) from one GCC-vector-extension source and picked at run time with
 * __builtin_cpu_supports, so one binary runs on any x86-64. Threads split N (each packs its own
 * columns of B) or, when N is too small to share out evenly, M (the threads pack B together
 * into one shared buffer, then each multiplies its own rows), whichever the cost model prefers.
 *
 *   kiln_gemm g = {.m = M, .n = N, .k = K, .a = A, .a_rs = K, .a_cs = 1,
 *                  .b = B, .b_rs = N, .b_cs = 1, .c = C, .ldc = N, .alpha = 1};
 *   kiln_status st = kiln_gemm_run(cpu, &g, &err);
 */
#ifndef KILN_BACKEND_CPU_GEMM_H
#define KILN_BACKEND_CPU_GEMM_H

#include <stddef.h>

#include "backend/cpu/cpu.h"

/* Write B(p0 .. p0+kc, j0 .. j0+nc) as packed panels: column j (0-based from j0) of row p goes to
   dst[(j / nr) * nr * kc + p * nr + j % nr]; the last panel's columns past nc must be zero. */
typedef void (*kiln_gemm_pack_fn)(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                  float *dst);

/* A packed once for many products (a layer's weights), in the layout the micro-kernels read:
   row slivers of the kernel's MR rows (or its shorter alternative, so that M needs no padded
   rows), K in the kernel's KC blocks. `parts` > 1 plans the slivers of that many row ranges of
   near-equal size separately, so that as many threads get equal shares. */
typedef struct kiln_gemm_apack kiln_gemm_apack;
kiln_gemm_apack *kiln_gemm_pack_a(const float *a, int64_t m, int64_t k, int64_t a_rs, int64_t a_cs, int parts);
/* The same for micro-kernel variant v (see kiln_gemm_variant_name); NULL if unsupported. */
kiln_gemm_apack *kiln_gemm_pack_a_variant(int v, const float *a, int64_t m, int64_t k, int64_t a_rs,
                                          int64_t a_cs, int parts);
void kiln_gemm_apack_free(kiln_gemm_apack *p);
size_t kiln_gemm_apack_bytes(const kiln_gemm_apack *p);

typedef struct kiln_gemm {
    int64_t m, n, k;
    const float *a;
    int64_t a_rs, a_cs; /* A(i,p) = a[i*a_rs + p*a_cs] */
    const kiln_gemm_apack *ap; /* optional: A packed beforehand (a, a_rs, a_cs unused; m, k must
                                  match); the product then runs on the kernel it was packed for */
    const float *b;
    int64_t b_rs, b_cs; /* B(p,j) = b[p*b_rs + j*b_cs] */
    kiln_gemm_pack_fn b_pack; /* optional: B comes from this callback instead (b unused) */
    const void *b_ctx;
    float *c;
    int64_t ldc;        /* C(i,j) = c[i*ldc + j] */
    float alpha;        /* 0 is taken as 0: set 1 for a plain product */
    const float *d;     /* optional: + beta * d[i*d_rs + j*d_cs] */
    int64_t d_rs, d_cs;
    float beta;
    const float *r;     /* optional residual: + r[i*ldr + j] */
    int64_t ldr;
    kiln_act act;       /* applied last */
    /* Optional column blocks (a batch of images side by side in N): with col_block > 0, column
       j is column j % col_block of block j / col_block, and block q of B, C and R starts
       q*b_bs, q*c_bs, q*r_bs floats further on: B(p,j) = b[q*b_bs + p*b_rs + (j%col_block)*b_cs],
       C(i,j) = c[q*c_bs + i*ldc + j%col_block], R likewise. D is not blocked (d_cs must be 0). */
    int64_t col_block, b_bs, c_bs, r_bs;
} kiln_gemm;

/* Multi-threaded over cpu's pool; packing space comes from scratch slot KILN_CPU_SLOT_GEMM. */
kiln_status kiln_gemm_run(kiln_cpu *cpu, const kiln_gemm *g, kiln_err *e);

/* Single-threaded, with caller-provided packing space of kiln_gemm_serial_floats(g) floats
   (64-byte aligned): for callers that parallelize over many small products themselves. */
size_t kiln_gemm_serial_floats(const kiln_gemm *g);
void kiln_gemm_serial(const kiln_gemm *g, float *ws);

/* The micro-kernel variants, for tests and benchmarks: index 0 is the one kiln_gemm_run picks on
   this CPU, then every compiled variant. */
int kiln_gemm_variant_count(void);
const char *kiln_gemm_variant_name(int v);
int kiln_gemm_variant_supported(int v);
kiln_status kiln_gemm_run_variant(kiln_cpu *cpu, const kiln_gemm *g, int v, kiln_err *e);

#endif
