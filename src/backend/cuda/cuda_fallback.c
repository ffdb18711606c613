/* cuda_fallback.c — running one node on the CPU reference kernels inside a CUDA engine.
 *
 * Device inputs come down as the model sees them (FP32, its own layout: NHWC views go through
 * kiln_cuda_nhwc_to_nchw, which by the phys invariant yields the logical row-major bytes),
 * constants and build-time values are used in place, the kernel runs on pinned host buffers,
 * and the outputs go back up into their device views (kiln_cuda_nchw_to_nhwc). The stream is
 * synchronized before the kernel (inputs are there) and after the uploads (the pinned buffers
 * are free for the next fallback node). Buckets with such nodes are never graph-captured.
 */
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_layout.h"

static int is_float(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

static kiln_cuda_nhwc nv(const cu_ctx *x, const cu_view *v) {
    kiln_cuda_nhwc r = {x->base[v->space] + v->off, v->dt, v->n, v->h, v->w, v->c, v->pitch, v->coff};
    return r;
}

static size_t host_bytes(const cu_bucket *b, int t) {
    int64_t n = kiln_shape_numel(&b->shapes.s[t]);
    kiln_dtype dt = b->shapes.dt[t];
    return (size_t)(n < 0 ? 0 : n) * (is_float(dt) ? 4 : kiln_dtype_size(dt));
}

static kiln_status download(const cu_bucket *b, cu_ctx *x, int t, void *host, kiln_err *e) {
    const cu_view *v = &b->ti[t].v;
    size_t bytes = host_bytes(b, t);
    if (!is_float(b->shapes.dt[t])) {
        if (v->pitch != v->c) return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda fallback: sliced integer tensor");
        KILN_CUDA_CHECK(e, cudaMemcpyAsync(host, x->base[v->space] + v->off, bytes,
                                           cudaMemcpyDeviceToHost, x->s));
        return KILN_OK;
    }
    kiln_cuda_nhwc in = nv(x, v);
    KILN_TRY(kiln_cuda_nhwc_to_nchw(&in, (float *)x->fb_dev, x->s, e));
    KILN_CUDA_CHECK(e, cudaMemcpyAsync(host, x->fb_dev, bytes, cudaMemcpyDeviceToHost, x->s));
    return KILN_OK;
}

static kiln_status upload(const cu_bucket *b, cu_ctx *x, int t, const void *host, kiln_err *e) {
    const cu_view *v = &b->ti[t].v;
    size_t bytes = host_bytes(b, t);
    if (!is_float(b->shapes.dt[t])) {
        if (v->pitch != v->c) return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda fallback: sliced integer tensor");
        KILN_CUDA_CHECK(e, cudaMemcpyAsync(x->base[v->space] + v->off, host, bytes,
                                           cudaMemcpyHostToDevice, x->s));
        return KILN_OK;
    }
    KILN_CUDA_CHECK(e, cudaMemcpyAsync(x->fb_dev, host, bytes, cudaMemcpyHostToDevice, x->s));
    kiln_cuda_nhwc out = nv(x, v);
    /* Host bytes are NCHW of the phys extent (n, c, h, w). */
    return kiln_cuda_nchw_to_nhwc((const float *)x->fb_dev, v->n, v->c, v->h, v->w, &out, x->s, e);
}

kiln_status cu_fallback_run(const cu_engine *s, const cu_bucket *b, const cu_step *st, cu_ctx *x,
                            kiln_err *e) {
    const kiln_graph *g = &s->dg.g;
    const kiln_node *n = &g->n[st->node];
    kiln_view iv[64], ov[64];
    if (n->n_in > 64 || n->n_out > 64)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "cuda fallback: more than 64 inputs or outputs");
    if (!x->cpu || !x->fb_host) return kiln_err_set(e, KILN_ERR_INTERNAL, "cuda fallback: no CPU context");
    size_t off = 0;
    for (int j = 0; j < n->n_in; j++) {
        int t = n->in[j];
        if (t < 0) {
            iv[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
            continue;
        }
        kiln_dtype dt = b->shapes.dt[t];
        if (b->shapes.val[t]) {
            iv[j] = (kiln_view){dt, b->shapes.s[t], b->shapes.val[t]};
        } else if (b->ti[t].where == CU_W_DEV) {
            void *h = x->fb_host + off;
            off += (host_bytes(b, t) + 63) & ~(size_t)63;
            KILN_TRY(download(b, x, t, h, e));
            iv[j] = (kiln_view){is_float(dt) ? KILN_F32 : dt, b->shapes.s[t], h};
        } else {
            iv[j] = (kiln_view){g->t[t].dtype, b->shapes.s[t], g->t[t].data};
        }
    }
    for (int j = 0; j < n->n_out; j++) {
        int t = n->out[j];
        if (t < 0) {
            ov[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
            continue;
        }
        kiln_dtype dt = b->shapes.dt[t];
        ov[j] = (kiln_view){is_float(dt) ? KILN_F32 : dt, b->shapes.s[t], x->fb_host + off};
        off += (host_bytes(b, t) + 63) & ~(size_t)63;
    }
    KILN_CUDA_CHECK(e, cudaStreamSynchronize(x->s));
    KILN_TRY(kiln_cpu_run_node(x->cpu, n, iv, ov, e));
    for (int j = 0; j < n->n_out; j++) {
        int t = n->out[j];
        if (t >= 0 && b->ti[t].where == CU_W_DEV) KILN_TRY(upload(b, x, t, ov[j].data, e));
    }
    KILN_CUDA_CHECK(e, cudaStreamSynchronize(x->s));
    return KILN_OK;
}
