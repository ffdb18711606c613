/* cuda_exec.c — execution contexts: memory, streams, CUDA graphs, and running the steps.
 *
 * A context owns a stream, its own cuDNN / cuBLASLt handles, one device allocation holding every
 * per-context space (arena, scratch, workspace, graph inputs, I/O staging, fallback staging) and
 * page-locked host buffers for inputs and outputs. Weights are the engine's, shared.
 *
 * A run: the host input rows go to pinned memory in 4 MiB chunks, each chunk's copy to the
 * device queued as soon as it is there (the CPU copies the next while the DMA runs); rows past
 * the batch up to the bucket's are zero; the bucket's CUDA graph (captured on first use: input
 * reformat, every layer, output conversion) is launched; the output rows come back to pinned
 * memory; one stream synchronization at the end. Buckets with CPU-fallback nodes run their steps
 * directly instead (no capture, host synchronization around each fallback node).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_eltwise.h"
#include "backend/cuda/cuda_debug.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_engine_kernels.h"
#include "backend/cuda/cuda_layout.h"
#include "backend/cuda/cuda_lrn.h"
#include "backend/cuda/cuda_mem.h"
#include "backend/cuda/cuda_shuffle.h"
#include "backend/cuda/cuda_softmax.h"
#include "core/threadpool.h"

#define COPY_CHUNK ((size_t)4 << 20)

static size_t up256(size_t n) { return (n + 255) & ~(size_t)255; }

static kiln_cuda_nhwc nv(const cu_ctx *x, const cu_view *v) {
    kiln_cuda_nhwc r;
    r.data = x->base[v->space] + v->off;
    r.dtype = v->dt;
    r.n = v->n;
    r.h = v->h;
    r.w = v->w;
    r.c = v->c;
    r.c_pitch = v->pitch;
    r.c_offset = v->coff;
    return r;
}

/* Device pointer of the view's first element (cuDNN / cuBLASLt take the slice start). */
static void *vptr(const cu_ctx *x, const cu_view *v) {
    return x->base[v->space] + v->off + (size_t)v->coff * kiln_dtype_size(v->dt);
}

static kiln_status run_conv(const cu_engine *s, cu_ctx *x, const cu_step *st, kiln_err *e) {
    const cu_conv_layer *L = &s->conv[st->layer];
    const char *w = (const char *)s->wdev;
    kiln_cuda_nhwc tv = nv(x, &st->t);
    if (L->tactic == CU_TAC_GEMM) {
        kiln_cuda_gemm_args a = {.x = vptr(x, &st->x), .w = w + st->w_off,
                                 .bias = st->has_bias ? w + st->bias_off : NULL,
                                 .residual = L->d.has_residual ? vptr(x, &st->r) : NULL,
                                 .y = vptr(x, &st->t), .workspace = x->workspace};
        KILN_TRY(kiln_cuda_gemm_execute(&x->h, L->lt, &a, x->s, e));
    } else if (L->tactic == CU_TAC_DW) {
        kiln_cuda_nhwc xv = nv(x, &st->x);
        kiln_cuda_dwconv p = L->dw;
        p.act = L->d.act;
        KILN_TRY(kiln_cuda_dwconv_run(&xv, w + st->w2_off, st->has_bias ? w + st->bias_off : NULL,
                                      &tv, &p, x->s, e));
    } else {
        kiln_cuda_conv_args a = {.x = vptr(x, &st->x), .w = w + st->w_off,
                                 .bias = st->has_bias ? w + st->bias_off : NULL,
                                 .residual = L->d.has_residual ? vptr(x, &st->r) : NULL,
                                 .y = vptr(x, &st->t), .workspace = x->workspace};
        KILN_TRY(kiln_cuda_conv_plan_execute(&x->h, L->plan, &a, x->s, e));
    }
    if (st->post || L->split) { /* the rest of the layer: bias (variant 2), residual, act */
        kiln_cuda_nhwc yv = nv(x, &st->y), rv = nv(x, &st->r);
        int has_r = st->r.space != CU_SP_NONE;
        const void *bias = L->split == 2 && st->has_bias ? w + st->bias_off : NULL;
        if (st->fast)
            KILN_TRY(kiln_cuda_bias_act_vec(&tv, bias, has_r ? &rv : NULL, &yv, &st->act, x->s, e));
        else
            KILN_TRY(kiln_cuda_bias_act(&tv, bias, has_r ? &rv : NULL, &yv, &st->act, x->s, e));
    }
    return KILN_OK;
}

static kiln_status run_gemm(const cu_engine *s, cu_ctx *x, const cu_step *st, kiln_err *e) {
    const cu_gemm_layer *G = &s->gemm[st->layer];
    const char *w = (const char *)s->wdev;
    kiln_cuda_gemm_args a = {.x = vptr(x, &st->x), .w = w + st->w_off,
                             .bias = st->has_bias ? w + st->bias_off : NULL,
                             .residual = G->d.has_residual ? vptr(x, &st->r) : NULL,
                             .y = vptr(x, &st->t), .workspace = x->workspace};
    KILN_TRY(kiln_cuda_gemm_execute(&x->h, G->g, &a, x->s, e));
    if (st->post) {
        kiln_cuda_nhwc tv = nv(x, &st->t), yv = nv(x, &st->y), rv = nv(x, &st->r);
        int has_r = st->r.space != CU_SP_NONE;
        if (st->fast)
            KILN_TRY(kiln_cuda_bias_act_vec(&tv, NULL, has_r ? &rv : NULL, &yv, &st->act, x->s, e));
        else
            KILN_TRY(kiln_cuda_bias_act(&tv, NULL, has_r ? &rv : NULL, &yv, &st->act, x->s, e));
    }
    return KILN_OK;
}

static kiln_status run_pool(cu_ctx *x, const cu_step *st, kiln_err *e) {
    kiln_cuda_nhwc xv = nv(x, &st->x), yv = nv(x, &st->y);
    if (st->fast && (st->pool_kind == CU_POOL_MAX || st->pool_kind == CU_POOL_AVG))
        return kiln_cuda_pool2d_vec(&xv, &yv, &st->pool, st->pool_kind == CU_POOL_MAX, x->s, e);
    switch (st->pool_kind) {
    case CU_POOL_MAX: return kiln_cuda_maxpool2d(&xv, &yv, &st->pool, x->s, e);
    case CU_POOL_AVG: return kiln_cuda_avgpool2d(&xv, &yv, &st->pool, x->s, e);
    case CU_POOL_GMAX: return kiln_cuda_global_maxpool(&xv, &yv, x->s, e);
    default: return kiln_cuda_global_avgpool(&xv, &yv, x->s, e);
    }
}

/* Library kernels (cuDNN, cuBLASLt) may start before the kernel ahead of them has finished
   (programmatic dependent launch), and two of them in a row then race. Measured on the H100
   with cuDNN 9.19 (tests/test_cuda_engine_repeat.c, docs/perf-notes.md): TF32 engines were off
   by 5e-2 on every run after a context's first; FP16 and BF16 engines now and then (one run in
   ten: 3e-2 where 5e-4 / 4e-3 is their steady error); captured graphs held 2 to 8 programmatic
   edges. So two consecutive library steps are serialized: run directly, by an empty kernel
   between them (about 1 us); in a captured graph, by making every programmatic edge a full
   dependency (serialize_edges: no cost per run; ResNet-50 FP16 b1 0.314 ms, as without).
   KILN_CUDA_BARRIER=none leaves both out (to reproduce), =kernel puts the kernels in graphs. */
static int lib_step(const cu_engine *s, const cu_step *st) {
    if (st->kind == CU_STEP_GEMM) return 1;
    return st->kind == CU_STEP_CONV &&
           (s->conv[st->layer].tactic == CU_TAC_CUDNN || s->conv[st->layer].tactic == CU_TAC_GEMM);
}

/* Whether step i's library kernel directly follows step i - 1's (no own kernel of ours in
   between: a split or post epilogue is one, and ours wait for what runs ahead of them).
   KILN_CUDA_BARRIER=none (debugging switch) leaves the barrier out, to measure or reproduce. */
static int barrier_before(const cu_engine *s, const cu_bucket *b, int i, int off) {
    if (off || i == 0 || !lib_step(s, &b->steps[i])) return 0;
    const cu_step *p = &b->steps[i - 1];
    return lib_step(s, p) && !p->post && !(p->kind == CU_STEP_CONV && s->conv[p->layer].split);
}

static kiln_status run_step(const cu_engine *s, const cu_bucket *b, cu_ctx *x, const cu_step *st,
                            kiln_err *e) {
    kiln_cuda_nhwc xv = nv(x, &st->x), yv = nv(x, &st->y);
    if (barrier_before(s, b, (int)(st - b->steps), x->no_barrier || (x->capturing && x->graph_edges)))
        KILN_TRY(kiln_cuda_barrier(x->s, e));
    switch (st->kind) {
    case CU_STEP_INPUT:
        return kiln_cuda_nchw_to_nhwc((const float *)(x->base[CU_SP_INSTAGE] + st->x.off), st->y.n,
                                      st->in_c, st->y.h, st->y.w, &yv, x->s, e);
    case CU_STEP_INPUT_S2D:
        return kiln_cuda_nchw_to_s2d((const float *)(x->base[CU_SP_INSTAGE] + st->x.off), st->y.n,
                                     st->in_c, 2 * st->y.h, 2 * st->y.w, &yv, x->s, e);
    case CU_STEP_OUTPUT:
        return kiln_cuda_nhwc_to_nchw(&xv, (float *)(x->base[CU_SP_OUTSTAGE] + st->y.off), x->s, e);
    case CU_STEP_CONV: return run_conv(s, x, st, e);
    case CU_STEP_GEMM: return run_gemm(s, x, st, e);
    case CU_STEP_POOL: return run_pool(x, st, e);
    case CU_STEP_ACT:
        if (st->fast) return kiln_cuda_bias_act_vec(&xv, NULL, NULL, &yv, &st->act, x->s, e);
        return kiln_cuda_activation(&xv, &yv, &st->act, x->s, e);
    case CU_STEP_BINARY: {
        kiln_cuda_nhwc bv = nv(x, &st->b);
        return kiln_cuda_binary((kiln_cuda_binop)st->binop, &xv, &bv, &yv, NULL, x->s, e);
    }
    case CU_STEP_SCALE_SHIFT:
        return kiln_cuda_scale_shift(&xv, (const char *)s->wdev + st->w_off,
                                     (const char *)s->wdev + st->bias_off, &yv, &st->act, x->s, e);
    case CU_STEP_SOFTMAX:
        return kiln_cuda_softmax(vptr(x, &st->x), vptr(x, &st->y), st->x.dt, st->rows, st->cols,
                                 st->log_softmax, x->s, e);
    case CU_STEP_LRN:
        return kiln_cuda_lrn(&xv, &yv, st->lrn_size, st->lrn_alpha, st->lrn_beta, st->lrn_bias,
                             x->s, e);
    case CU_STEP_SHUFFLE: return kiln_cuda_channel_shuffle(&xv, &yv, st->groups, x->s, e);
    case CU_STEP_RAW_COPY:
        KILN_CUDA_CHECK(e, cudaMemcpyAsync(vptr(x, &st->y), vptr(x, &st->x), st->bytes,
                                           cudaMemcpyDeviceToDevice, x->s));
        return KILN_OK;
    case CU_STEP_FALLBACK: return cu_fallback_run(s, b, st, x, e);
    default: return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda: unknown step kind %d", st->kind);
    }
}

static kiln_status run_steps(const cu_engine *s, const cu_bucket *b, cu_ctx *x, kiln_err *e) {
    if (x->nancheck) cu_nancheck_begin(s, b, x);
    for (int i = 0; i < b->nsteps; i++) {
        const cu_step *st = &b->steps[i];
        kiln_status r = run_step(s, b, x, st, e);
        if (r == KILN_OK && x->nancheck) cu_nancheck_step(s, x, i, st);
        if (r != KILN_OK) {
            if (st->node >= 0) {
                const kiln_node *n = &s->dg.g.n[st->node];
                kiln_err_prefix(e, "node '%s' (%s)", n->name, kiln_op_name((kiln_op)n->op));
            }
            return r;
        }
    }
    return KILN_OK;
}

/* Programmatic edges of a captured graph (a library kernel allowed to start before the one
   ahead of it has finished) made full dependencies: the graph form of the barrier kernels
   (barrier_before), at no cost per run. Returns the number of edges changed, or -1. */
static int serialize_edges(cudaGraph_t g) {
    size_t n = 0;
    if (cudaGraphGetEdges(g, NULL, NULL, NULL, &n) != cudaSuccess) return -1;
    if (n == 0) return 0;
    cudaGraphNode_t *from = malloc(n * sizeof *from), *to = malloc(n * sizeof *to);
    cudaGraphEdgeData *ed = malloc(n * sizeof *ed);
    int changed = 0;
    if (!from || !to || !ed || cudaGraphGetEdges(g, from, to, ed, &n) != cudaSuccess) changed = -1;
    for (size_t i = 0; i < n && changed >= 0; i++) {
        if (ed[i].type == cudaGraphDependencyTypeDefault && ed[i].from_port == 0) continue;
        cudaGraphEdgeData plain;
        memset(&plain, 0, sizeof plain);
        if (cudaGraphRemoveDependencies(g, &from[i], &to[i], &ed[i], 1) != cudaSuccess ||
            cudaGraphAddDependencies(g, &from[i], &to[i], &plain, 1) != cudaSuccess)
            changed = -1;
        else
            changed++;
    }
    free(from);
    free(to);
    free(ed);
    return changed;
}

/* Record the bucket's steps into a CUDA graph (after the first run at that bucket). Relaxed
   mode: other threads' contexts keep working, and nothing a library does on this thread during
   the capture is refused. */
static kiln_status capture(const cu_engine *s, int bi, cu_ctx *x, kiln_err *e) {
    KILN_CUDA_CHECK(e, cudaStreamBeginCapture(x->s, cudaStreamCaptureModeRelaxed));
    x->capturing = 1;
    kiln_status st = run_steps(s, &s->bk[bi], x, e);
    x->capturing = 0;
    cudaGraph_t graph = NULL;
    cudaError_t r = cudaStreamEndCapture(x->s, &graph);
    if (st != KILN_OK) {
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        return st;
    }
    if (r != cudaSuccess) return kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaStreamEndCapture", __FILE__, __LINE__);
    if (x->graph_edges) {
        int changed = serialize_edges(graph);
        if (getenv("KILN_CUDA_EDGES_VERBOSE")) fprintf(stderr, "kiln: graph bucket %d: %d programmatic edges serialized\n", bi, changed);
        if (changed < 0) {
            cudaGraphDestroy(graph);
            (void)cudaGetLastError();
            return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda: could not rewrite the graph's edges");
        }
    }
    cudaGraphExec_t exec = NULL;
    r = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (r != cudaSuccess) return kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaGraphInstantiate", __FILE__, __LINE__);
    x->gexec[bi] = exec;
    return KILN_OK;
}

/* ---- contexts ------------------------------------------------------------------------------ */

static void ctx_free(cu_ctx *x) {
    if (!x) return;
    for (int i = 0; i < CU_MAX_BUCKETS; i++)
        if (x->gexec[i]) cudaGraphExecDestroy((cudaGraphExec_t)x->gexec[i]);
    if (x->s) {
        cudaStreamSynchronize(x->s);
        cudaStreamDestroy(x->s);
    }
    kiln_cuda_handles_release(&x->h);
    cudaFree(x->dev);
    kiln_cuda_host_free(x->pin_in);
    kiln_cuda_host_free(x->pin_out);
    kiln_cuda_host_free(x->fb_host);
    kiln_cpu_destroy(x->cpu);
    kiln_pool_destroy(x->copy_pool);
    kiln_shapes_free(&x->shapes_b);
    free(x->outv);
    free(x->chk);
    free(x);
}

kiln_status cu_context_create(kiln_context *c, kiln_err *err) {
    const cu_engine *s = c->e->bstate;
    if (!s || s->magic != CU_ENGINE_MAGIC)
        return kiln_err_set(err, KILN_ERR_INTERNAL, "CUDA engine not prepared");
    cu_ctx *x = calloc(1, sizeof *x);
    if (!x) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    x->batch = -1;
    x->shapes_batch = -1;
    /* A debugging switch, like CUDA_LAUNCH_BLOCKING: run every step directly, never from a
       captured CUDA graph (to tell a capture problem from a kernel problem). */
    const char *graphs = getenv("KILN_CUDA_GRAPHS");
    x->no_graphs = graphs && !strcmp(graphs, "0");
    /* Another: fill the arena, scratch and workspace with NaNs before every run, so a step that
       reads memory no earlier step of this run wrote poisons the output (run 1 would otherwise
       see the zeros the context starts with, and later runs stale values). */
    const char *poison = getenv("KILN_CUDA_POISON");
    x->poison = poison && !strcmp(poison, "1");
    const char *bar = getenv("KILN_CUDA_BARRIER");
    x->no_barrier = bar && !strcmp(bar, "none");
    x->graph_edges = !bar || !strcmp(bar, "edges"); /* =kernel: barrier kernels in graphs too */
    const char *nanc = getenv("KILN_CUDA_NANCHECK");
    x->nancheck = nanc && !strcmp(nanc, "1");
    if (x->nancheck) x->no_graphs = 1;
    kiln_status st = kiln_cuda_handles_init(&x->h, s->dev.device, err);
    if (st == KILN_OK) {
        cudaError_t r = cudaStreamCreateWithFlags(&x->s, cudaStreamNonBlocking);
        if (r != cudaSuccess) {
            x->s = NULL;
            st = kiln__cuda_fail(err, KILN_LIB_CUDA, (int)r, "cudaStreamCreate", __FILE__, __LINE__);
        }
    }
    /* One allocation: arena (with the graph inputs and their staging inside, cu_io_in_arena) |
       scratch | workspace | outstage | fallback staging. */
    size_t sizes[7] = {s->arena_bytes, s->scratch_bytes, s->workspace_bytes, 0, 0,
                       s->outstage_bytes, s->fb_dev_bytes};
    size_t offs[7], total = 0;
    for (int i = 0; i < 7; i++) {
        offs[i] = total;
        total += up256(sizes[i]);
    }
    if (st == KILN_OK) {
        cudaError_t r = cudaMalloc(&x->dev, total ? total : 256);
        if (r != cudaSuccess) {
            x->dev = NULL;
            st = kiln__cuda_fail(err, KILN_LIB_CUDA, (int)r, "cudaMalloc(context)", __FILE__, __LINE__);
            if (st == KILN_ERR_NOMEM)
                kiln_err_prefix(err, "cuda: %zu bytes of activations, staging and workspace", total);
        }
    }
    if (st == KILN_OK) {
        char *d = x->dev;
        x->base[CU_SP_ARENA] = d + offs[0];
        x->base[CU_SP_SCRATCH] = d + offs[1];
        x->workspace = d + offs[2];
        x->workspace_bytes = s->workspace_bytes;
        x->poison_bytes = offs[3];
        x->base[CU_SP_INPUTS] = d + offs[0] + s->inputs_at;
        x->base[CU_SP_INSTAGE] = d + offs[0] + s->instage_at;
        x->base[CU_SP_OUTSTAGE] = d + offs[5];
        x->fb_dev = d + offs[6];
        x->base[CU_SP_WEIGHTS] = s->wdev;
        /* Rows past a batch must hold finite values: start from zeros everywhere. */
        cudaError_t r = cudaMemsetAsync(d, 0, total, x->s);
        if (r == cudaSuccess) r = cudaStreamSynchronize(x->s);
        if (r != cudaSuccess) st = kiln__cuda_fail(err, KILN_LIB_CUDA, (int)r, "cudaMemset", __FILE__, __LINE__);
    }
    if (st == KILN_OK) st = kiln_cuda_host_alloc((void **)&x->pin_in, s->instage_bytes, err);
    if (st == KILN_OK) st = kiln_cuda_host_alloc((void **)&x->pin_out, s->outstage_bytes, err);
    if (st == KILN_OK && s->fb_host_bytes) st = kiln_cuda_host_alloc((void **)&x->fb_host, s->fb_host_bytes, err);
    if (st == KILN_OK && s->instage_bytes >= 4 * COPY_CHUNK) {
        int nt = c->e->threads > 0 ? c->e->threads : kiln_num_cores() / 2;
        if (nt > 8) nt = 8;
        if (nt > 1 && !(x->copy_pool = kiln_pool_create(nt)))
            st = kiln_err_set(err, KILN_ERR_NOMEM, "out of memory (copy threads)");
    }
    if (st == KILN_OK && s->fb_host_bytes && !(x->cpu = kiln_cpu_create(c->e->threads)))
        st = kiln_err_set(err, KILN_ERR_NOMEM, "out of memory (CPU fallback context)");
    if (st == KILN_OK && !(x->outv = calloc((size_t)s->dg.g.n_outputs + 1, sizeof(kiln_view))))
        st = kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    if (st != KILN_OK) {
        ctx_free(x);
        return st;
    }
    c->bstate = x;
    return KILN_OK;
}

void cu_context_destroy(kiln_context *c) {
    ctx_free(c->bstate);
    c->bstate = NULL;
}

typedef struct copy_job {
    unsigned char *pin;
    const char *src;
    size_t first, bytes; /* this wave: [first, first + bytes) */
} copy_job;

static void copy_task(void *arg, int64_t i, int thread) {
    (void)thread;
    const copy_job *j = arg;
    size_t off = j->first + (size_t)i * COPY_CHUNK;
    size_t end = j->first + j->bytes, n = end - off < COPY_CHUNK ? end - off : COPY_CHUNK;
    memcpy(j->pin + off, j->src + off, n);
}

/* Host rows -> pinned -> device. Large inputs go in waves of one chunk per copy thread: the
   threads fill the next wave while the DMA engine moves the last one (a single memcpy thread
   would be the bottleneck: ~10 GB/s against PCIe's ~50). */
static kiln_status copy_in(cu_ctx *x, unsigned char *pin, const void *src, size_t bytes, char *dst,
                           kiln_err *e) {
    int threads = x->copy_pool ? kiln_pool_size(x->copy_pool) : 1;
    size_t wave = (size_t)threads * COPY_CHUNK;
    for (size_t off = 0; off < bytes; off += wave) {
        size_t n = bytes - off < wave ? bytes - off : wave;
        copy_job j = {pin, (const char *)src, off, n};
        int64_t chunks = (int64_t)((n + COPY_CHUNK - 1) / COPY_CHUNK);
        if (chunks > 1) kiln_pool_for(x->copy_pool, chunks, copy_task, &j);
        else memcpy(pin + off, (const char *)src + off, n);
        KILN_CUDA_CHECK(e, cudaMemcpyAsync(dst + off, pin + off, n, cudaMemcpyHostToDevice, x->s));
    }
    return KILN_OK;
}

static size_t io_bytes(const kiln_shapes *sh, int t) {
    int64_t n = kiln_shape_numel(&sh->s[t]);
    kiln_dtype dt = sh->dt[t];
    size_t es = dt == KILN_F32 || dt == KILN_F16 || dt == KILN_BF16 ? 4 : kiln_dtype_size(dt);
    return (size_t)(n < 0 ? 0 : n) * es;
}

/* Run the bucket's steps directly, an event after each, and charge each step's time to the
   e->g node it comes from (layer profiles: where the time goes). */
static kiln_status run_profiled(const cu_engine *s, const cu_bucket *b, cu_ctx *x, double *node_ms,
                                int n_nodes, kiln_err *e) {
    cudaEvent_t *ev = calloc((size_t)b->nsteps + 1, sizeof *ev);
    if (!ev) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    kiln_status st = KILN_OK;
    int made = 0;
    for (; made <= b->nsteps && st == KILN_OK; made++) {
        cudaError_t r = cudaEventCreate(&ev[made]);
        if (r != cudaSuccess) st = kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaEventCreate", __FILE__, __LINE__);
    }
    if (st == KILN_OK) {
        cudaError_t r = cudaEventRecord(ev[0], x->s);
        if (r != cudaSuccess) st = kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaEventRecord", __FILE__, __LINE__);
    }
    for (int i = 0; i < b->nsteps && st == KILN_OK; i++) {
        st = run_step(s, b, x, &b->steps[i], e);
        cudaError_t r = cudaEventRecord(ev[i + 1], x->s);
        if (st == KILN_OK && r != cudaSuccess)
            st = kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaEventRecord", __FILE__, __LINE__);
    }
    if (st == KILN_OK) {
        cudaError_t r = cudaEventSynchronize(ev[b->nsteps]);
        if (r != cudaSuccess) st = kiln__cuda_fail(e, KILN_LIB_CUDA, (int)r, "cudaEventSynchronize", __FILE__, __LINE__);
    }
    for (int i = 0; i < n_nodes; i++) node_ms[i] = 0;
    for (int i = 0; i < b->nsteps && st == KILN_OK; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, ev[i], ev[i + 1]);
        int k = b->steps[i].node;
        if (k >= 0 && s->dg.orig[k] < n_nodes) node_ms[s->dg.orig[k]] += ms;
    }
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    free(ev);
    return st;
}

static kiln_status run(kiln_context *c, const kiln_view *inputs, double *node_ms, kiln_err *err) {
    const kiln_engine *e = c->e;
    const cu_engine *s = e->bstate;
    cu_ctx *x = c->bstate;
    const kiln_graph *g = &s->dg.g;
    int64_t batch = e->has_batch ? inputs[0].shape.d[0] : 0;
    int bi = 0;
    while (bi < s->nb - 1 && s->bk[bi].batch < batch) bi++;
    const cu_bucket *b = &s->bk[bi];
    KILN_CUDA_CHECK(err, cudaSetDevice(s->dev.device));
    /* Shapes at this batch (output views); inferred once per batch size. */
    if (x->shapes_batch != batch) {
        kiln_shapes_free(&x->shapes_b);
        x->shapes_batch = -1;
        kiln_shape in[CU_MAX_IO];
        for (int i = 0; i < g->n_inputs; i++) in[i] = inputs[i].shape;
        KILN_TRY(kiln_infer(e->g, in, &x->shapes_b, err));
        x->shapes_batch = batch;
    }
    if (x->poison) KILN_CUDA_CHECK(err, cudaMemsetAsync(x->dev, 0xff, x->poison_bytes, x->s));
    for (int i = 0; i < g->n_inputs; i++) {
        if (b->ti[g->inputs[i]].where != CU_W_DEV) continue;
        size_t bytes = io_bytes(&x->shapes_b, g->inputs[i]), full = b->in_bytes[i];
        char *dst = x->base[CU_SP_INSTAGE] + b->in_off[i];
        if (bytes > full) return kiln_err_set(err, KILN_ERR_INTERNAL, "cuda: input larger than its bucket");
        /* Rows past the batch (up to the bucket's) are zeros; INSTAGE shares the arena, so
           they are written every time. */
        if (bytes < full) KILN_CUDA_CHECK(err, cudaMemsetAsync(dst + bytes, 0, full - bytes, x->s));
        KILN_TRY(copy_in(x, x->pin_in + b->in_off[i], inputs[i].data, bytes, dst, err));
    }
    if (node_ms) {
        KILN_TRY(run_profiled(s, b, x, node_ms, e->g->n_n, err));
    } else if (b->capturable && !x->no_graphs && x->gexec[bi]) {
        KILN_CUDA_CHECK(err, cudaGraphLaunch((cudaGraphExec_t)x->gexec[bi], x->s));
    } else if (b->capturable && !x->no_graphs) {
        /* First run at this bucket: run the steps directly (libraries finish their lazy set-up
           outside any capture), then record them for the runs that follow. */
        KILN_TRY(run_steps(s, b, x, err));
        KILN_TRY(capture(s, bi, x, err));
    } else {
        KILN_TRY(run_steps(s, b, x, err));
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        if (b->ti[t].where != CU_W_DEV) continue;
        size_t bytes = io_bytes(&x->shapes_b, t);
        KILN_CUDA_CHECK(err, cudaMemcpyAsync(x->pin_out + b->out_off[i],
                                             x->base[CU_SP_OUTSTAGE] + b->out_off[i], bytes,
                                             cudaMemcpyDeviceToHost, x->s));
    }
    KILN_CUDA_CHECK(err, cudaStreamSynchronize(x->s));
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        kiln_view *v = &x->outv[i];
        v->shape = x->shapes_b.s[t];
        v->dtype = x->shapes_b.dt[t];
        if (b->ti[t].where == CU_W_DEV) v->data = x->pin_out + b->out_off[i];
        else if (x->shapes_b.val[t]) v->data = x->shapes_b.val[t];
        else v->data = g->t[t].data;
    }
    x->batch = batch;
    x->bucket = bi;
    return KILN_OK;
}

static kiln_status run_checked(kiln_context *c, const kiln_view *inputs, double *node_ms,
                               kiln_err *err) {
    cu_ctx *x = c->bstate;
    kiln_status st = run(c, inputs, node_ms, err);
    if (st != KILN_OK) {
        /* Leave the stream idle and the context usable (the error is reported). */
        (void)cudaStreamSynchronize(x->s);
        (void)cudaGetLastError();
        x->batch = -1;
    }
    return st;
}

kiln_status cu_context_run(kiln_context *c, const kiln_view *inputs, kiln_err *err) {
    return run_checked(c, inputs, NULL, err);
}

kiln_status cu_context_profile(kiln_context *c, const kiln_view *inputs, double *node_ms,
                               kiln_err *err) {
    return run_checked(c, inputs, node_ms, err);
}

kiln_status cu_context_output(kiln_context *c, int i, kiln_view *out, kiln_err *err) {
    cu_ctx *x = c->bstate;
    if (x->batch < 0) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "no run yet");
    *out = x->outv[i];
    return KILN_OK;
}
