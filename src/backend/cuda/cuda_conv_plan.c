/* cuda_conv_plan.c — execution plans of fused convolution graphs: finalize (compile), save and
 * restore as JSON, execute, time.
 *
 * Restoring from JSON needs no operation graph: cuDNN's JSON names the engine, its knobs and the
 * graph, so a loaded engine skips both heuristics and runtime compilation. The tensors of a
 * restored plan are bound by the same fixed uids (cuda_conv_impl.h), which is why the desc must
 * be the one the plan was built for.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_conv_impl.h"
#include "backend/cuda/cuda_timing.h"

static kiln_status read_workspace(kiln_cuda_conv_plan *p, kiln_err *e) {
    int64_t ws = 0, n = 0;
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                 CUDNN_TYPE_INT64, 1, &n, &ws));
    p->workspace = ws > 0 ? (size_t)ws : 0;
    return KILN_OK;
}

/* Set the handle and either an engine config or a JSON text, then finalize. */
static kiln_status finalize_plan(kiln_cuda_conv_plan *p, cudnnHandle_t dnn,
                                 cudnnBackendDescriptor_t cfg, const char *json, size_t len,
                                 kiln_err *e) {
    KILN_CUDNN_CHECK(e, cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p->plan));
    if (json)
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                                     CUDNN_TYPE_CHAR, (int64_t)len, json));
    else
        KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                                 CUDNN_TYPE_HANDLE, 1, &dnn));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(p->plan));
    return read_workspace(p, e);
}

kiln_status kiln_cuda_conv_plan_create(kiln_cuda_conv_graph *g, int i, kiln_cuda_conv_plan **out,
                                       kiln_err *e) {
    *out = NULL;
    if (!g || i < 0 || i >= g->ncand)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv plan: no candidate %d", i);
    kiln_cuda_conv_plan *p = calloc(1, sizeof *p);
    if (!p) return kiln_err_set(e, KILN_ERR_NOMEM, "conv plan: out of memory");
    p->d = g->d;
    kiln_status st = finalize_plan(p, g->dnn, g->cand[i], NULL, 0, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "conv plan (%s)", g->cand_name[i]);
        kiln_cuda_conv_plan_destroy(p);
        return st;
    }
    p->graph = g;
    g->refs++;
    *out = p;
    return KILN_OK;
}

kiln_status kiln_cuda_conv_plan_from_json(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d,
                                          const char *json, size_t len,
                                          kiln_cuda_conv_plan **out, kiln_err *e) {
    *out = NULL;
    if (!h || !h->dnn) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv plan: no cuDNN handle");
    if (!json || len == 0) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv plan: empty JSON");
    KILN_TRY(kiln_cuda_conv_check(d, e));
    kiln_cuda_conv_plan *p = calloc(1, sizeof *p);
    if (!p) return kiln_err_set(e, KILN_ERR_NOMEM, "conv plan: out of memory");
    p->d = *d;
    kiln_status st = finalize_plan(p, h->dnn, NULL, json, len, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "conv plan from JSON");
        kiln_cuda_conv_plan_destroy(p);
        return st;
    }
    *out = p;
    return KILN_OK;
}

void kiln_cuda_conv_plan_destroy(kiln_cuda_conv_plan *p) {
    if (!p) return;
    if (p->plan) cudnnBackendDestroyDescriptor(p->plan);
    kiln__conv_graph_unref(p->graph);
    free(p);
}

kiln_status kiln_cuda_conv_plan_json(const kiln_cuda_conv_plan *p, char **json, size_t *len,
                                     kiln_err *e) {
    *json = NULL;
    *len = 0;
    int64_t n = 0;
    KILN_CUDNN_CHECK(e, cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                                 CUDNN_TYPE_CHAR, 0, &n, NULL));
    if (n <= 0) return kiln_err_set(e, KILN_ERR_BACKEND, "conv plan: cuDNN gave an empty JSON");
    char *buf = malloc((size_t)n + 1);
    if (!buf) return kiln_err_set(e, KILN_ERR_NOMEM, "conv plan: out of memory");
    int64_t got = 0;
    cudnnStatus_t r = cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                               CUDNN_TYPE_CHAR, n, &got, buf);
    if (r != CUDNN_STATUS_SUCCESS) {
        free(buf);
        return kiln__cuda_fail(e, KILN_LIB_CUDNN, (int)r, "cudnnBackendGetAttribute(JSON)", __FILE__,
                               __LINE__);
    }
    if (got > n) got = n;
    buf[got] = 0;
    *len = strlen(buf); /* cuDNN may count a terminating NUL */
    *json = buf;
    return KILN_OK;
}

size_t kiln_cuda_conv_plan_workspace(const kiln_cuda_conv_plan *p) { return p->workspace; }

const kiln_cuda_conv_desc *kiln_cuda_conv_plan_desc(const kiln_cuda_conv_plan *p) { return &p->d; }

static kiln_status run_pack(cudnnHandle_t dnn, const kiln_cuda_conv_plan *p,
                            cudnnBackendDescriptor_t vp, const kiln_cuda_conv_args *a,
                            kiln_err *e) {
    void *ptrs[5];
    int64_t uids[5];
    int n = 0;
    ptrs[n] = (void *)a->x, uids[n++] = KILN__UID_X;
    ptrs[n] = (void *)a->w, uids[n++] = KILN__UID_W;
    ptrs[n] = a->y, uids[n++] = KILN__UID_Y;
    if (p->d.has_bias) ptrs[n] = (void *)a->bias, uids[n++] = KILN__UID_B;
    if (p->d.has_residual) ptrs[n] = (void *)a->residual, uids[n++] = KILN__UID_R;
    for (int i = 0; i < n; i++)
        if (!ptrs[i])
            return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: tensor uid %lld has no pointer",
                                (long long)uids[i]);
    if (p->workspace && !a->workspace)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: needs %zu bytes of workspace", p->workspace);
    void *ws = a->workspace;
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                                 CUDNN_TYPE_VOID_PTR, n, ptrs));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                                 CUDNN_TYPE_INT64, n, uids));
    KILN_CUDNN_CHECK(e, cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                                 CUDNN_TYPE_VOID_PTR, 1, &ws));
    KILN_CUDNN_CHECK(e, cudnnBackendFinalize(vp));
    KILN_CUDNN_CHECK(e, cudnnBackendExecute(dnn, p->plan, vp));
    return KILN_OK;
}

kiln_status kiln_cuda_conv_plan_execute(kiln_cuda_handles *h, const kiln_cuda_conv_plan *p,
                                        const kiln_cuda_conv_args *a, cudaStream_t s, kiln_err *e) {
    if (!h || !h->dnn || !p || !a)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "conv: NULL handle, plan or arguments");
    KILN_CUDNN_CHECK(e, cudnnSetStream(h->dnn, s));
    cudnnBackendDescriptor_t vp = NULL;
    KILN_CUDNN_CHECK(e, cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp));
    kiln_status st = run_pack(h->dnn, p, vp, a, e);
    cudnnBackendDestroyDescriptor(vp);
    return st;
}

typedef struct {
    kiln_cuda_handles *h;
    const kiln_cuda_conv_plan *p;
    const kiln_cuda_conv_args *a;
} conv_work;

static kiln_status conv_work_run(void *ctx, cudaStream_t s, kiln_err *e) {
    conv_work *w = ctx;
    return kiln_cuda_conv_plan_execute(w->h, w->p, w->a, s, e);
}

kiln_status kiln_cuda_conv_plan_time(kiln_cuda_handles *h, const kiln_cuda_conv_plan *p,
                                     const kiln_cuda_conv_args *a, cudaStream_t s, int warmup,
                                     int iters, float *median_ms, kiln_err *e) {
    conv_work w = {h, p, a};
    return kiln_cuda_time(conv_work_run, &w, s, warmup, iters, median_ms, e);
}
