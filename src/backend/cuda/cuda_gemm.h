/* cuda_gemm.h — fully connected layers (Gemm / MatMul) through cuBLASLt with fused epilogues.
 *
 *     y[m][n] = act( alpha * sum_k x[m][k] * W(k, n) + bias[n] + beta * residual[m][n] )
 *
 * W(k, n) is w[n][k] when trans_w (ONNX Gemm transB = 1, the usual FC layout) or w[k][n]. The
 * bias and ReLU run in cuBLASLt's epilogue (CUBLASLT_EPILOGUE_BIAS / RELU_BIAS), after beta*C, so
 * the residual goes in as C. Row-major matrices are handed to column-major cuBLASLt as their
 * transposes: y^T = W^T-ish * x^T, with the bias along y^T's rows.
 *
 *     kiln_cuda_gemm *g;
 *     kiln_cuda_gemm_create(&h, &desc, &g, e);
 *     int n;
 *     kiln_cuda_gemm_candidates(&h, g, 8, 32 << 20, &n, e);  // heuristic top 8 algorithms
 *     for (i < n) kiln_cuda_gemm_time(&h, g, i, &args, s, 3, 20, &ms, e);   // pick the fastest
 *     kiln_cuda_gemm_select(g, best, e);
 *     uint64_t saved[8]; kiln_cuda_gemm_algo_save(g, saved);             // into the plan file
 *     ... later: kiln_cuda_gemm_algo_load(&h, g, saved, e);               // validated, no search
 *     kiln_cuda_gemm_execute(&h, g, &args, s, e);
 *
 * Precisions: FP32 (CUBLAS_COMPUTE_32F, no TF32), TF32 (COMPUTE_32F_FAST_TF32), FP16 and BF16
 * storage with FP32 accumulation. Bias and residual have the storage type.
 */
#ifndef KILN_BACKEND_CUDA_GEMM_H
#define KILN_BACKEND_CUDA_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_gemm_desc {
    int m, n, k;              /* y is m x n (m: batch rows), inner dimension k */
    int trans_w;              /* 1: w is [n][k]; 0: w is [k][n] */
    kiln_dtype dtype;         /* x, w, bias, residual, y: KILN_F32, KILN_F16, KILN_BF16 */
    kiln_precision precision; /* KILN_PREC_FP32, _TF32 (f32 data), _FP16, _BF16 */
    int has_bias;
    int has_residual;
    int relu;                 /* ReLU in the epilogue */
    float alpha;              /* scale of x.W (ONNX Gemm alpha; 1 for MatMul) */
    float beta;               /* scale of the residual */
    int ldx;                  /* row pitch of x in elements; 0: k */
    int ldy;                  /* row pitch of y and residual; 0: n (larger: a column slice) */
} kiln_cuda_gemm_desc;

typedef struct kiln_cuda_gemm_args {
    const void *x, *w, *bias, *residual;
    void *y;
    void *workspace; /* kiln_cuda_gemm_workspace() bytes */
} kiln_cuda_gemm_args;

typedef struct kiln_cuda_gemm kiln_cuda_gemm;

/* Validate d and build the matmul descriptor and layouts (no device work). */
kiln_status kiln_cuda_gemm_create(kiln_cuda_handles *h, const kiln_cuda_gemm_desc *d,
                                  kiln_cuda_gemm **out, kiln_err *e);
void kiln_cuda_gemm_destroy(kiln_cuda_gemm *g);
/* Heuristic candidates (best first), at most max_k, each needing <= max_workspace bytes.
   Candidate 0 becomes the selection. */
kiln_status kiln_cuda_gemm_candidates(kiln_cuda_handles *h, kiln_cuda_gemm *g, int max_k,
                                      size_t max_workspace, int *count, kiln_err *e);
kiln_status kiln_cuda_gemm_select(kiln_cuda_gemm *g, int i, kiln_err *e);
/* The selected algorithm as 8 words (cublasLtMatmulAlgo_t is plain data). */
kiln_status kiln_cuda_gemm_algo_save(const kiln_cuda_gemm *g, uint64_t out[8], kiln_err *e);
/* Select a saved algorithm after checking with cuBLASLt that it still runs this problem. */
kiln_status kiln_cuda_gemm_algo_load(kiln_cuda_handles *h, kiln_cuda_gemm *g, const uint64_t in[8],
                                     kiln_err *e);
/* Workspace bytes of the selection. */
size_t kiln_cuda_gemm_workspace(const kiln_cuda_gemm *g);

kiln_status kiln_cuda_gemm_execute(kiln_cuda_handles *h, const kiln_cuda_gemm *g,
                                   const kiln_cuda_gemm_args *a, cudaStream_t s, kiln_err *e);
/* Median milliseconds of candidate i (-1: the selection). */
kiln_status kiln_cuda_gemm_time(kiln_cuda_handles *h, kiln_cuda_gemm *g, int i,
                                const kiln_cuda_gemm_args *a, cudaStream_t s, int warmup, int iters,
                                float *median_ms, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
