/* cuda_gemm.c — cuBLASLt matmul with bias / ReLU epilogues for fully connected layers.
 *
 * cuBLASLt is column-major. A row-major m x n matrix with row pitch ld is the column-major n x m
 * matrix with leading dimension ld, so the layer is computed as
 *     y^T (n x m) = op(W) (n x k) * x^T (k x m)
 * where w[n][k] row-major is column-major k x n (op = T) and w[k][n] is column-major n x k
 * (op = N). The bias runs along y^T's rows, which is what CUBLASLT_EPILOGUE_BIAS adds.
 */
#include "backend/cuda/cuda_gemm.h"

#include <cublasLt.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_timing.h"

#define MAX_CAND 32

struct kiln_cuda_gemm {
    kiln_cuda_gemm_desc d;
    cublasLtMatmulDescOpaque_t op_storage; /* plain data: copied per call (see run) */
    cublasLtMatmulDesc_t op;               /* = &op_storage */
    cublasLtMatrixLayout_t la, lb, lc; /* W, x, y (and residual) */
    cublasLtMatmulAlgo_t cand[MAX_CAND];
    size_t cand_ws[MAX_CAND];
    int ncand;
    cublasLtMatmulAlgo_t algo; /* the selection */
    size_t algo_ws;
    int has_algo;
};

static cudaDataType_t cuda_type(kiln_dtype t) {
    return t == KILN_F16 ? CUDA_R_16F : t == KILN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static kiln_status check_desc(const kiln_cuda_gemm_desc *d, kiln_err *e) {
    if (d->m < 1 || d->n < 1 || d->k < 1)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: %d x %d x %d", d->m, d->n, d->k);
    if ((d->ldx && d->ldx < d->k) || (d->ldy && d->ldy < d->n))
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: row pitch %d/%d below %d/%d", d->ldx,
                            d->ldy, d->k, d->n);
    int ok = (d->dtype == KILN_F32 &&
              (d->precision == KILN_PREC_FP32 || d->precision == KILN_PREC_TF32)) ||
             (d->dtype == KILN_F16 && d->precision == KILN_PREC_FP16) ||
             (d->dtype == KILN_BF16 && d->precision == KILN_PREC_BF16);
    if (!ok)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "gemm: storage %s with precision %s",
                            kiln_dtype_name(d->dtype), kiln_cuda_precision_name(d->precision));
    return KILN_OK;
}

static kiln_status build(kiln_cuda_gemm *g, kiln_err *e) {
    const kiln_cuda_gemm_desc *d = &g->d;
    cublasComputeType_t ct = d->precision == KILN_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                            : CUBLAS_COMPUTE_32F;
    g->op = &g->op_storage;
    KILN_CUBLAS_CHECK(e, cublasLtMatmulDescInit(g->op, ct, CUDA_R_32F));
    cublasOperation_t ta = d->trans_w ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    KILN_CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    KILN_CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t epi = d->has_bias ? (d->relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                         : (d->relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    KILN_CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (d->has_bias) {
        cudaDataType_t bt = cuda_type(d->dtype);
        KILN_CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
    }
    cudaDataType_t t = cuda_type(d->dtype);
    int64_t ldx = d->ldx ? d->ldx : d->k, ldy = d->ldy ? d->ldy : d->n;
    if (d->trans_w) KILN_CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->la, t, d->k, d->n, d->k));
    else KILN_CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->la, t, d->n, d->k, d->n));
    KILN_CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->lb, t, d->k, d->m, ldx));
    KILN_CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->lc, t, d->n, d->m, ldy));
    return KILN_OK;
}

void kiln_cuda_gemm_destroy(kiln_cuda_gemm *g) {
    if (!g) return;
    if (g->la) cublasLtMatrixLayoutDestroy(g->la);
    if (g->lb) cublasLtMatrixLayoutDestroy(g->lb);
    if (g->lc) cublasLtMatrixLayoutDestroy(g->lc);
    free(g);
}

kiln_status kiln_cuda_gemm_create(kiln_cuda_handles *h, const kiln_cuda_gemm_desc *d,
                                  kiln_cuda_gemm **out, kiln_err *e) {
    *out = NULL;
    if (!h || !h->lt) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no cuBLASLt handle");
    if (!d) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no descriptor");
    KILN_TRY(check_desc(d, e));
    kiln_cuda_gemm *g = calloc(1, sizeof *g);
    if (!g) return kiln_err_set(e, KILN_ERR_NOMEM, "gemm: out of memory");
    g->d = *d;
    kiln_status st = build(g, e);
    if (st != KILN_OK) {
        kiln_cuda_gemm_destroy(g);
        return st;
    }
    *out = g;
    return KILN_OK;
}

/* The handle the candidates were found with is only needed for the query itself. */
static kiln_status query(cublasLtHandle_t lt, kiln_cuda_gemm *g, int max_k, size_t max_ws,
                         kiln_err *e) {
    cublasLtMatmulPreference_t pref = NULL;
    KILN_CUBLAS_CHECK(e, cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = max_ws;
    /* The arena aligns to 256 bytes, but a column slice of y (ldy > n) starts anywhere a
       16-byte-aligned channel offset puts it. */
    uint32_t align = 16;
    cublasLtMatmulHeuristicResult_t res[MAX_CAND];
    int got = 0;
    cublasStatus_t r = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (r == CUBLAS_STATUS_SUCCESS)
        r = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align, sizeof align);
    if (r == CUBLAS_STATUS_SUCCESS)
        r = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align, sizeof align);
    if (r == CUBLAS_STATUS_SUCCESS)
        r = cublasLtMatmulAlgoGetHeuristic(lt, g->op, g->la, g->lb, g->lc, g->lc, pref, max_k, res, &got);
    cublasLtMatmulPreferenceDestroy(pref);
    if (r != CUBLAS_STATUS_SUCCESS)
        return kiln__cuda_fail(e, KILN_LIB_CUBLAS, (int)r, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
    g->ncand = 0;
    for (int i = 0; i < got; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        g->cand[g->ncand] = res[i].algo;
        g->cand_ws[g->ncand] = res[i].workspaceSize;
        g->ncand++;
    }
    return KILN_OK;
}

kiln_status kiln_cuda_gemm_candidates(kiln_cuda_handles *h, kiln_cuda_gemm *g, int max_k,
                                      size_t max_workspace, int *count, kiln_err *e) {
    *count = 0;
    if (!h || !h->lt) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no cuBLASLt handle");
    if (max_k < 1) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: max_k %d", max_k);
    if (max_k > MAX_CAND) max_k = MAX_CAND;
    KILN_TRY(query(h->lt, g, max_k, max_workspace, e));
    if (g->ncand == 0)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "gemm: cuBLASLt offers no algorithm for %dx%dx%d %s",
                            g->d.m, g->d.n, g->d.k, kiln_cuda_precision_name(g->d.precision));
    *count = g->ncand;
    return kiln_cuda_gemm_select(g, 0, e);
}

kiln_status kiln_cuda_gemm_select(kiln_cuda_gemm *g, int i, kiln_err *e) {
    if (!g || i < 0 || i >= g->ncand)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no candidate %d", i);
    g->algo = g->cand[i];
    g->algo_ws = g->cand_ws[i];
    g->has_algo = 1;
    return KILN_OK;
}

kiln_status kiln_cuda_gemm_algo_save(const kiln_cuda_gemm *g, uint64_t out[8], kiln_err *e) {
    if (!g->has_algo) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no algorithm selected");
    _Static_assert(sizeof(cublasLtMatmulAlgo_t) == 8 * sizeof(uint64_t), "cublasLtMatmulAlgo_t is 64 bytes");
    memcpy(out, &g->algo, sizeof g->algo);
    return KILN_OK;
}

kiln_status kiln_cuda_gemm_algo_load(kiln_cuda_handles *h, kiln_cuda_gemm *g, const uint64_t in[8],
                                     kiln_err *e) {
    if (!h || !h->lt) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no cuBLASLt handle");
    cublasLtMatmulAlgo_t algo;
    memcpy(&algo, in, sizeof algo);
    cublasLtMatmulHeuristicResult_t res;
    memset(&res, 0, sizeof res);
    KILN_CUBLAS_CHECK(e, cublasLtMatmulAlgoCheck(h->lt, g->op, g->la, g->lb, g->lc, g->lc, &algo, &res));
    g->algo = algo;
    g->algo_ws = res.workspaceSize;
    g->has_algo = 1;
    return KILN_OK;
}

size_t kiln_cuda_gemm_workspace(const kiln_cuda_gemm *g) { return g->has_algo ? g->algo_ws : 0; }

static kiln_status run(kiln_cuda_handles *h, const kiln_cuda_gemm *g, const cublasLtMatmulAlgo_t *algo,
                       size_t ws, const kiln_cuda_gemm_args *a, cudaStream_t s, kiln_err *e) {
    const kiln_cuda_gemm_desc *d = &g->d;
    if (!a || !a->x || !a->w || !a->y || (d->has_bias && !a->bias) || (d->has_residual && !a->residual))
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: missing x, w, y, bias or residual pointer");
    if (ws && !a->workspace)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: needs %zu bytes of workspace", ws);
    /* The bias pointer is an attribute of the matmul descriptor. The descriptor is plain data
       (semi-opaque), so each call sets it on its own copy: one layer stays usable from several
       threads and with any buffers. */
    cublasLtMatmulDescOpaque_t op = g->op_storage;
    if (d->has_bias) {
        const void *b = a->bias;
        KILN_CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(&op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b));
    }
    float alpha = d->alpha, beta = d->has_residual ? d->beta : 0.f;
    const void *c = d->has_residual ? a->residual : a->y;
    KILN_CUBLAS_CHECK(e, cublasLtMatmul(h->lt, &op, &alpha, a->w, g->la, a->x, g->lb, &beta, c, g->lc,
                                        a->y, g->lc, algo, a->workspace, ws, s));
    return KILN_OK;
}

kiln_status kiln_cuda_gemm_execute(kiln_cuda_handles *h, const kiln_cuda_gemm *g,
                                   const kiln_cuda_gemm_args *a, cudaStream_t s, kiln_err *e) {
    if (!h || !h->lt || !g) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: NULL handle or layer");
    if (!g->has_algo) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no algorithm selected");
    return run(h, g, &g->algo, g->algo_ws, a, s, e);
}

typedef struct {
    kiln_cuda_handles *h;
    const kiln_cuda_gemm *g;
    const cublasLtMatmulAlgo_t *algo;
    size_t ws;
    const kiln_cuda_gemm_args *a;
} gemm_work;

static kiln_status gemm_work_run(void *ctx, cudaStream_t s, kiln_err *e) {
    gemm_work *w = ctx;
    return run(w->h, w->g, w->algo, w->ws, w->a, s, e);
}

kiln_status kiln_cuda_gemm_time(kiln_cuda_handles *h, kiln_cuda_gemm *g, int i,
                                const kiln_cuda_gemm_args *a, cudaStream_t s, int warmup, int iters,
                                float *median_ms, kiln_err *e) {
    *median_ms = 0;
    if (!h || !h->lt || !g) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: NULL handle or layer");
    gemm_work w = {h, g, NULL, 0, a};
    if (i < 0) {
        if (!g->has_algo) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no algorithm selected");
        w.algo = &g->algo;
        w.ws = g->algo_ws;
    } else {
        if (i >= g->ncand) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "gemm: no candidate %d", i);
        w.algo = &g->cand[i];
        w.ws = g->cand_ws[i];
    }
    return kiln_cuda_time(gemm_work_run, &w, s, warmup, iters, median_ms, e);
}
