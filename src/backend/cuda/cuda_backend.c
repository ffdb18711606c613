/* cuda_backend.c — the CUDA backend's kiln_backend_i table: device probe and signature, what
 * runs where, building an engine (device graph -> memory plan -> steps per batch bucket ->
 * weights upload -> tactics), plan-file sections, and the tactic names `kiln inspect` shows.
 *
 * Precisions: fp32 (FP32 storage, TF32 off), tf32 (FP32 storage, TF32 tensor cores), fp16 and
 * bf16 (that storage, FP32 accumulation), and best, which in this version means FP16 storage
 * with every layer's fastest FP16 tactic (cuDNN engines and the own depthwise kernel timed
 * against each other); INT8 comes with calibration in a later issue (the storage-type switch in
 * cu_engine.dt is where it plugs in).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_engine.h"

#define PLAN_HEADER "KILN-CUDA-PLAN 1"

static int cuda_available(void) {
    int n = 0;
    kiln_err e = {0};
    return kiln_cuda_device_count(&n, &e) == KILN_OK && n > 0;
}

static void cuda_describe(char *sig, size_t n) {
    kiln_cuda_device_info info;
    kiln_err e = {0};
    if (kiln_cuda_device_query(0, &info, &e) != KILN_OK) {
        snprintf(sig, n, "cuda (no device)");
        return;
    }
    kiln_cuda_device_signature(&info, sig, n);
}

static int cuda_supports(const kiln_graph *g, const kiln_node *n, kiln_precision p, char *why,
                         size_t nwhy) {
    if (p == KILN_PREC_INT8) {
        snprintf(why, nwhy, "int8 is not implemented in the CUDA backend yet (fp32, tf32, fp16, "
                            "bf16, best are)");
        return 0;
    }
    if (cu_node_gpu_capable(g, n, why, nwhy)) return 1;
    /* The node runs on the CPU reference kernels inside the CUDA engine; why says so. */
    if (kiln_cpu_lookup((kiln_op)n->op)) return 1;
    snprintf(why, nwhy, "no CUDA and no CPU kernel for %s", kiln_op_name((kiln_op)n->op));
    return 0;
}

/* ---- engine -------------------------------------------------------------------------------- */

void cu_engine_free(cu_engine *s) {
    if (!s) return;
    if (s->magic == CU_ENGINE_MAGIC) {
        cu_layers_free(s);
        kiln_cuda_handles_release(&s->owner);
        if (s->wdev) cudaFree(s->wdev);
        for (int i = 0; i < s->nb; i++) cu_bucket_free(&s->bk[i]);
        kiln_memplan_free(&s->plan);
        cu_dgraph_free(&s->dg);
        cu_records_free(&s->chosen);
        free(s->whost);
        free(s->w_krsc);
        free(s->w_dw);
        free(s->w_bias);
        free(s->w_gemm);
        free(s->w_const);
        free(s->node_why);
    }
    cu_records_free(s->preload);
    free(s->preload);
    free(s);
}

static kiln_status set_precision(cu_engine *s, kiln_precision p, kiln_err *e) {
    switch (p) {
    case KILN_PREC_FP32: s->dt = KILN_F32, s->prec = KILN_PREC_FP32; return KILN_OK;
    case KILN_PREC_TF32: s->dt = KILN_F32, s->prec = KILN_PREC_TF32; return KILN_OK;
    case KILN_PREC_FP16:
    case KILN_PREC_BEST: s->dt = KILN_F16, s->prec = KILN_PREC_FP16; return KILN_OK;
    case KILN_PREC_BF16: s->dt = KILN_BF16, s->prec = KILN_PREC_BF16; return KILN_OK;
    default:
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "cuda: precision %s is not implemented yet",
                            kiln_precision_name(p));
    }
}

static kiln_status upload_weights(cu_engine *s, kiln_err *e) {
    KILN_CUDA_CHECK(e, cudaMalloc(&s->wdev, s->wbytes ? s->wbytes : 256));
    if (s->wbytes) KILN_CUDA_CHECK(e, cudaMemcpy(s->wdev, s->whost, s->wbytes, cudaMemcpyHostToDevice));
    free(s->whost);
    s->whost = NULL;
    s->wcap = 0;
    return KILN_OK;
}

kiln_status cu_engine_lower_host(const kiln_engine *e, cu_engine *s, kiln_precision p,
                                 kiln_err *err) {
    KILN_TRY(set_precision(s, p, err));
    /* FP32 / TF32 engines are mostly precompiled (cheap to try) and the heuristics' first few
       are often slow for them: look wider. */
    int wide = p == KILN_PREC_FP32 || p == KILN_PREC_TF32;
    s->max_conv_tactics = e->max_tactics > 0 ? e->max_tactics : wide ? 8 : CU_DEFAULT_CONV_TACTICS;
    s->max_gemm_tactics = e->max_tactics > 0 ? e->max_tactics : CU_DEFAULT_GEMM_TACTICS;
    KILN_TRY(cu_dgraph_build(e->g, &s->dg, err));
    int64_t buckets[CU_MAX_BUCKETS];
    int nb;
    if (s->preload) {
        nb = s->preload_nb;
        memcpy(buckets, s->preload_buckets, sizeof(int64_t) * (size_t)nb);
    } else {
        nb = cu_buckets_choose(e->bmin, e->bopt, e->bmax, e->has_batch, buckets);
    }
    if (nb < 1 || (e->has_batch && buckets[nb - 1] != e->bmax))
        return kiln_err_set(err, KILN_ERR_PARSE, "cuda: batch buckets do not cover the profile "
                            "(corrupted plan?)");
    if (e->g->n_inputs > CU_MAX_IO) return kiln_err_set(err, KILN_ERR_UNSUPPORTED, "cuda: too many inputs");
    s->nb = nb;
    for (int i = 0; i < nb; i++) {
        kiln_shape in[CU_MAX_IO];
        kiln_engine_input_shapes(e, buckets[i], in);
        s->bk[i].batch = buckets[i];
        KILN_TRY(kiln_infer(e->g, in, &s->bk[i].shapes, err));
    }
    KILN_TRY(cu_memory_plan(s, err));
    return cu_lower(s, e->g, err);
}

static kiln_status prepare(kiln_engine *e, cu_engine *s, kiln_err *err) {
    KILN_TRY(kiln_cuda_device_query(0, &s->dev, err));
    kiln_cuda_device_signature(&s->dev, s->devsig, sizeof s->devsig);
    KILN_CUDA_CHECK(err, cudaSetDevice(s->dev.device));
    KILN_TRY(cu_engine_lower_host(e, s, e->precision, err));
    KILN_TRY(upload_weights(s, err));
    KILN_TRY(kiln_cuda_handles_init(&s->owner, s->dev.device, err));
    KILN_TRY(cu_tune(s, e, err));
    for (int i = 0; i < s->nconv; i++)
        if (s->conv[i].workspace > s->workspace_bytes) s->workspace_bytes = s->conv[i].workspace;
    for (int i = 0; i < s->ngemm; i++)
        if (s->gemm[i].workspace > s->workspace_bytes) s->workspace_bytes = s->gemm[i].workspace;
    return KILN_OK;
}

static kiln_status cuda_engine_prepare(kiln_engine *e, kiln_err *err) {
    cu_engine *loaded = e->bstate;
    cu_engine *s = calloc(1, sizeof *s);
    if (!s) return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    s->magic = CU_ENGINE_MAGIC;
    if (loaded && loaded->magic == CU_PRELOAD_MAGIC) { /* plan_read ran: restore, never compile */
        s->preload = loaded->preload;
        s->preload_nb = loaded->preload_nb;
        memcpy(s->preload_buckets, loaded->preload_buckets, sizeof s->preload_buckets);
        loaded->preload = NULL;
        cu_engine_free(loaded);
        e->bstate = NULL;
    }
    kiln_status st = prepare(e, s, err);
    if (st != KILN_OK) {
        cu_engine_free(s);
        return st;
    }
    e->bstate = s;
    return KILN_OK;
}

static void cuda_engine_release(kiln_engine *e) {
    cu_engine_free(e->bstate);
    e->bstate = NULL;
}

/* ---- plan files ---------------------------------------------------------------------------- */

static kiln_status cuda_plan_write(kiln_engine *e, void **bytes, size_t *n, kiln_err *err) {
    const cu_engine *s = e->bstate;
    if (!s || s->magic != CU_ENGINE_MAGIC)
        return kiln_err_set(err, KILN_ERR_INTERNAL, "cuda: engine not prepared");
    int64_t b[CU_MAX_BUCKETS];
    for (int i = 0; i < s->nb; i++) b[i] = s->bk[i].batch;
    return cu_records_encode(&s->chosen, PLAN_HEADER, b, s->nb, bytes, n, err);
}

static kiln_status cuda_plan_read(kiln_engine *e, const void *bytes, size_t n, kiln_err *err) {
    cu_engine *loaded = calloc(1, sizeof *loaded);
    cu_records *r = calloc(1, sizeof *r);
    if (!loaded || !r) {
        free(loaded);
        free(r);
        return kiln_err_set(err, KILN_ERR_NOMEM, "out of memory");
    }
    loaded->magic = CU_PRELOAD_MAGIC;
    loaded->preload = r;
    kiln_status st = cu_records_decode(bytes, n, PLAN_HEADER, r, loaded->preload_buckets,
                                       &loaded->preload_nb, err);
    if (st != KILN_OK) {
        kiln_err_prefix(err, "section BKND");
        cu_engine_free(loaded);
        return st;
    }
    if (e->bstate) cu_engine_free(e->bstate);
    e->bstate = loaded;
    return KILN_OK;
}

static int cuda_node_tactic(const kiln_engine *e, int node, char *name, size_t nname) {
    const cu_engine *s = e->bstate;
    if (!s || s->magic != CU_ENGINE_MAGIC || node < 0 || node >= e->g->n_n) {
        snprintf(name, nname, "default");
        return 0;
    }
    int k = s->dg.node_of_orig[node];
    const cu_bucket *b = &s->bk[s->nb - 1];
    if (k >= 0 && s->dg.orig[k] != node) {
        snprintf(name, nname, "fused into %s", s->dg.g.n[k].name);
        return 0;
    }
    for (int i = 0; k >= 0 && i < b->nsteps; i++) {
        const cu_step *st = &b->steps[i];
        if (st->node != k) continue;
        switch (st->kind) {
        case CU_STEP_CONV: {
            const cu_conv_layer *L = &s->conv[st->layer];
            snprintf(name, nname, "%s%s", L->name, L->split || st->post ? " + epilogue" : "");
            return L->tactic == CU_TAC_DW ? 2 : 1;
        }
        case CU_STEP_GEMM: snprintf(name, nname, "cuBLASLt%s", st->post ? " + epilogue" : ""); return 3;
        case CU_STEP_FALLBACK: snprintf(name, nname, "CPU fallback: %s", s->node_why[k]); return 9;
        case CU_STEP_ACT: continue; /* a copy before a conv: look for the conv */
        default: snprintf(name, nname, "CUDA kernel"); return 4;
        }
    }
    snprintf(name, nname, k >= 0 ? "no work (a view or in-place concat)" : "folded");
    return 0;
}

static size_t cuda_device_bytes(const kiln_engine *e, int contexts) {
    const cu_engine *s = e->bstate;
    if (!s || s->magic != CU_ENGINE_MAGIC) return 0;
    size_t per = s->arena_bytes + s->scratch_bytes + s->workspace_bytes + s->outstage_bytes +
                 s->fb_dev_bytes; /* the inputs and their staging live inside the arena */
    return s->wbytes + (size_t)(contexts > 0 ? contexts : 1) * per;
}

const kiln_backend_i kiln_backend_cuda = {
    .version = KILN_BACKEND_IFACE_VERSION,
    .name = "cuda",
    .available = cuda_available,
    .describe = cuda_describe,
    .supports = cuda_supports,
    .engine_prepare = cuda_engine_prepare,
    .engine_release = cuda_engine_release,
    .context_create = cu_context_create,
    .context_destroy = cu_context_destroy,
    .context_run = cu_context_run,
    .context_output = cu_context_output,
    .plan_write = cuda_plan_write,
    .plan_read = cuda_plan_read,
    .node_tactic = cuda_node_tactic,
    .device_bytes = cuda_device_bytes,
    .context_profile = cu_context_profile,
};
