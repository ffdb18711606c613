/* cuda_lower.c — the device graph of each batch bucket as a list of steps.
 *
 * Per bucket: the graph inputs are reformatted (NCHW FP32 -> NHWC storage type, stem padded),
 * each node becomes zero or more steps (zero: views, concats whose inputs were written in place),
 * and the graph outputs are converted back to FP32 in the model's layout. A node that the GPU
 * cannot run (an op without a kernel here, an unusual layout) becomes a FALLBACK step: the CPU
 * reference kernel with device<->host copies, and the bucket then runs without CUDA-graph
 * capture. Lowering only computes; nothing touches the device (tests run it without a GPU).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_eltwise.h"
#include "backend/cuda/cuda_lower.h"
#include "core/dtype.h"
#include "core/nn_window.h"
#include "core/tensor_params.h"

/* ---- helpers ------------------------------------------------------------------------------- */

kiln_status cu_lw_fallback(cu_lw *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->why, sizeof L->why, fmt, ap);
    va_end(ap);
    return CU_FALLBACK;
}

static int vec_ok(const cu_view *v) {
    return v->space == CU_SP_NONE || kiln_cuda_vec_ok(v->dt, v->c, v->pitch, v->coff, v->off);
}

kiln_status cu_lw_push(cu_lw *L, const cu_step *in) {
    cu_bucket *b = L->b;
    cu_step st_copy = *in, *st = &st_copy;
    /* 16-byte channel vectors for the elementwise passes where every view allows them. */
    if (st->kind == CU_STEP_ACT && st->x.dt == st->y.dt)
        st->fast = vec_ok(&st->x) && vec_ok(&st->y);
    else if (st->kind == CU_STEP_CONV || st->kind == CU_STEP_GEMM)
        st->fast = vec_ok(&st->t) && vec_ok(&st->y) && vec_ok(&st->r);
    if (b->nsteps == b->capsteps) {
        int cap = b->capsteps ? 2 * b->capsteps : 128;
        cu_step *p = realloc(b->steps, sizeof *p * (size_t)cap);
        if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        b->steps = p;
        b->capsteps = cap;
    }
    b->steps[b->nsteps++] = *st;
    return KILN_OK;
}

cu_view cu_lw_scratch(cu_lw *L, kiln_dtype dt, int n, int h, int w, int c) {
    cu_view v = {.space = CU_SP_SCRATCH, .dt = dt, .n = n, .h = h, .w = w, .c = c, .pitch = c};
    L->scratch = (L->scratch + 255) & ~(size_t)255;
    v.off = L->scratch;
    L->scratch += cu_view_bytes(&v);
    return v;
}

int cu_lw_dev(const cu_lw *L, int t) { return t >= 0 && L->b->ti[t].where == CU_W_DEV; }

const cu_view *cu_lw_view(const cu_lw *L, int t) { return &L->b->ti[t].v; }

int cu_lw_const_f32(const cu_lw *L, int t) {
    return t >= 0 && L->g->t[t].kind == KILN_TENSOR_CONST && L->g->t[t].dtype == KILN_F32 &&
           L->g->t[t].data != NULL;
}

int cu_view_aligned(const cu_view *v) {
    return ((size_t)v->coff * kiln_dtype_size(v->dt)) % 16 == 0 && v->off % 16 == 0;
}

int64_t cu_weights_add(cu_engine *s, const void *p, size_t bytes) {
    size_t off = (s->wbytes + 255) & ~(size_t)255;
    if (off + bytes > s->wcap) {
        size_t cap = s->wcap ? s->wcap : ((size_t)1 << 20);
        while (cap < off + bytes) cap *= 2;
        unsigned char *q = realloc(s->whost, cap);
        if (!q) return -1;
        s->whost = q;
        s->wcap = cap;
    }
    if (off > s->wbytes) memset(s->whost + s->wbytes, 0, off - s->wbytes);
    if (bytes) memcpy(s->whost + off, p, bytes);
    s->wbytes = off + bytes;
    return (int64_t)off;
}

int64_t cu_lw_weights_f32(cu_lw *L, const float *p, int64_t count) {
    cu_engine *s = L->s;
    if (s->dt == KILN_F32) return cu_weights_add(s, p, (size_t)count * 4);
    uint16_t *h = malloc(sizeof(uint16_t) * ((size_t)count + 1));
    if (!h) return -1;
    for (int64_t i = 0; i < count; i++)
        h[i] = s->dt == KILN_F16 ? kiln_f32_to_f16(p[i]) : kiln_f32_to_bf16(p[i]);
    int64_t off = cu_weights_add(s, h, (size_t)count * 2);
    free(h);
    return off;
}

static int same_dims(const cu_view *a, const cu_view *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

static int bcast_dims(const cu_view *a, const cu_view *y) {
    return (a->n == y->n || a->n == 1) && (a->h == y->h || a->h == 1) &&
           (a->w == y->w || a->w == 1) && (a->c == y->c || a->c == 1);
}

static int is_float(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

/* ---- elementwise --------------------------------------------------------------------------- */

static kiln_status lower_act(cu_lw *L, const kiln_node *n) {
    kiln_act act;
    int x = n->in[0], y = n->out[0];
    if (!cu_act_of_node(L->g, n, &act)) return cu_lw_fallback(L, "activation parameters are not constants");
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands are not device activations");
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    if (!same_dims(xv, yv)) return cu_lw_fallback(L, "input and output layouts differ");
    cu_step st = {.kind = CU_STEP_ACT, .node = L->k, .x = *xv, .y = *yv, .act = act};
    return cu_lw_push(L, &st);
}

/* A constant operand of an elementwise op as a broadcast view of y (uploaded once). */
static kiln_status const_operand(cu_lw *L, int t, int y, cu_view *out) {
    cu_engine *s = L->s;
    const kiln_tensor *ct = &L->g->t[t];
    const kiln_shape *cs = &ct->shape, *ys = &L->b->shapes.s[y];
    const cu_tinfo *yt = &L->b->ti[y];
    int r = ys->ndim;
    int64_t cn = kiln_shape_numel(cs);
    int64_t d[4] = {1, 1, 1, 1};
    if (cs->ndim > r || cn < 1) return cu_lw_fallback(L, "constant operand shape");
    memset(out, 0, sizeof *out);
    out->space = CU_SP_WEIGHTS;
    out->dt = s->dt;
    int perm4 = 0;
    if (cn == 1) {
        out->n = out->h = out->w = out->c = 1;
    } else if (yt->natural && (r == 4 || r <= 2)) {
        int rr = r <= 2 ? 2 : 4;
        for (int i = 0; i < cs->ndim; i++) d[rr - cs->ndim + i] = cs->d[i];
        for (int i = 0; i < rr; i++) {
            int64_t yd = ys->ndim == rr ? ys->d[i] : (i < rr - r ? 1 : ys->d[i - (rr - r)]);
            if (d[i] != 1 && d[i] != yd) return cu_lw_fallback(L, "constant does not broadcast");
        }
        if (rr == 4) {
            out->n = (int)d[0], out->c = (int)d[1], out->h = (int)d[2], out->w = (int)d[3];
            perm4 = 1;
        } else {
            out->n = (int)d[0], out->h = out->w = 1, out->c = (int)d[1];
        }
    } else {
        return cu_lw_fallback(L, "constant operand of a non-NHWC output");
    }
    out->pitch = out->c;
    if (!s->w_const) {
        s->w_const = malloc(sizeof(int64_t) * ((size_t)L->g->n_t + 1));
        if (!s->w_const) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        for (int i = 0; i <= L->g->n_t; i++) s->w_const[i] = -1;
    }
    if (s->w_const[t] < 0) {
        const float *src = ct->data;
        float *p = malloc(sizeof(float) * (size_t)cn);
        if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
        if (perm4) { /* NCHW -> NHWC */
            for (int a = 0; a < out->n; a++)
                for (int c = 0; c < out->c; c++)
                    for (int h = 0; h < out->h; h++)
                        for (int w = 0; w < out->w; w++)
                            p[(((size_t)a * out->h + h) * out->w + w) * out->c + c] =
                                src[(((size_t)a * out->c + c) * out->h + h) * out->w + w];
        } else {
            memcpy(p, src, sizeof(float) * (size_t)cn);
        }
        s->w_const[t] = cu_lw_weights_f32(L, p, cn);
        free(p);
        if (s->w_const[t] < 0) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    out->off = (size_t)s->w_const[t];
    return KILN_OK;
}

static kiln_status lower_binary(cu_lw *L, const kiln_node *n) {
    int y = n->out[0];
    if (n->n_in != 2 || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    const cu_view *yv = cu_lw_view(L, y);
    const cu_tinfo *yt = &L->b->ti[y];
    cu_view op[2];
    int nconst = 0;
    for (int j = 0; j < 2; j++) {
        int t = n->in[j];
        if (cu_lw_dev(L, t)) {
            const cu_tinfo *ti = &L->b->ti[t];
            if (ti->v.dt != yv->dt) return cu_lw_fallback(L, "operand types differ");
            if (same_dims(&ti->v, yv) ||
                (yt->natural && ti->natural &&
                 L->b->shapes.s[t].ndim == L->b->shapes.s[y].ndim && bcast_dims(&ti->v, yv)))
                op[j] = ti->v;
            else
                return cu_lw_fallback(L, "operand layouts do not broadcast in NHWC");
        } else if (cu_lw_const_f32(L, t)) {
            kiln_status st = const_operand(L, t, y, &op[j]);
            if (st != KILN_OK) return st;
            nconst++;
        } else {
            return cu_lw_fallback(L, "an operand is neither a device activation nor a constant");
        }
    }
    if (nconst == 2) return cu_lw_fallback(L, "two constant operands");
    static const int ops[] = {[KILN_OP_ADD] = KILN_CUDA_ADD, [KILN_OP_SUB] = KILN_CUDA_SUB,
                              [KILN_OP_MUL] = KILN_CUDA_MUL, [KILN_OP_DIV] = KILN_CUDA_DIV};
    cu_step st = {.kind = CU_STEP_BINARY, .node = L->k, .x = op[0], .b = op[1], .y = *yv,
                  .binop = ops[n->op]};
    return cu_lw_push(L, &st);
}

static kiln_status lower_scale_shift(cu_lw *L, const kiln_node *n) {
    cu_engine *s = L->s;
    int x = n->in[0], sc = n->n_in > 1 ? n->in[1] : -1, sf = n->n_in > 2 ? n->in[2] : -1;
    int y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y) || !cu_lw_const_f32(L, sc) || !cu_lw_const_f32(L, sf))
        return cu_lw_fallback(L, "operands");
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    const kiln_shape *xs = &L->b->shapes.s[x];
    int64_t C = xs->ndim >= 2 ? xs->d[1] : -1;
    if (!L->b->ti[x].natural || !same_dims(xv, yv) || xv->c != C ||
        kiln_shape_numel(&L->g->t[sc].shape) != C || kiln_shape_numel(&L->g->t[sf].shape) != C)
        return cu_lw_fallback(L, "channels are not innermost");
    int k = L->k;
    if (!s->w_gemm || !s->w_bias) {
        int64_t **tabs[2] = {&s->w_gemm, &s->w_bias};
        for (int i = 0; i < 2; i++)
            if (!*tabs[i]) {
                *tabs[i] = malloc(sizeof(int64_t) * ((size_t)L->g->n_n + 1));
                if (!*tabs[i]) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
                for (int q = 0; q <= L->g->n_n; q++) (*tabs[i])[q] = -1;
            }
    }
    if (s->w_gemm[k] < 0) s->w_gemm[k] = cu_lw_weights_f32(L, L->g->t[sc].data, C);
    if (s->w_bias[k] < 0) s->w_bias[k] = cu_lw_weights_f32(L, L->g->t[sf].data, C);
    if (s->w_gemm[k] < 0 || s->w_bias[k] < 0)
        return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    cu_step st = {.kind = CU_STEP_SCALE_SHIFT, .node = k, .x = *xv, .y = *yv,
                  .act = s->dg.fused_act[k], .w_off = (size_t)s->w_gemm[k],
                  .bias_off = (size_t)s->w_bias[k]};
    return cu_lw_push(L, &st);
}

/* ---- windows and reductions ---------------------------------------------------------------- */

static kiln_status lower_pool(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (n->n_out > 1 && n->out[1] >= 0) return cu_lw_fallback(L, "MaxPool indices output");
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    const kiln_shape *xs = &L->b->shapes.s[x];
    if (xs->ndim != 4 || !L->b->ti[x].natural || !L->b->ti[y].natural)
        return cu_lw_fallback(L, "not a 2-D NHWC map");
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    cu_step st = {.kind = CU_STEP_POOL, .node = L->k, .x = *xv, .y = *yv};
    if (n->op == KILN_OP_GLOBAL_AVGPOOL || n->op == KILN_OP_GLOBAL_MAXPOOL) {
        st.pool_kind = n->op == KILN_OP_GLOBAL_AVGPOOL ? CU_POOL_GAVG : CU_POOL_GMAX;
        return cu_lw_push(L, &st);
    }
    const kiln_pool_attr *a = &n->a.pool;
    if (a->nspatial != 2) return cu_lw_fallback(L, "%d-D pooling", a->nspatial);
    kiln_window win;
    kiln_err ce = {0};
    if (kiln_window_pool(a, xs, &win, &ce) != KILN_OK) return cu_lw_fallback(L, "%s", ce.msg);
    if (win.out[1] != yv->h || win.out[2] != yv->w) return cu_lw_fallback(L, "output extent");
    st.pool_kind = n->op == KILN_OP_MAXPOOL ? CU_POOL_MAX : CU_POOL_AVG;
    for (int q = 0; q < 2; q++) {
        st.pool.kernel[q] = (int)win.k[1 + q];
        st.pool.stride[q] = (int)win.s[1 + q];
        st.pool.dilation[q] = (int)win.d[1 + q];
        st.pool.pad_begin[q] = (int)win.pb[1 + q];
        st.pool.pad_end[q] = (int)win.pe[1 + q];
    }
    st.pool.count_include_pad = a->count_include_pad;
    int vec = 16 / (int)kiln_dtype_size(xv->dt);
    st.fast = xv->c % vec == 0 && xv->pitch % vec == 0 && xv->coff % vec == 0 &&
              yv->pitch % vec == 0 && yv->coff % vec == 0 && xv->off % 16 == 0 && yv->off % 16 == 0;
    return cu_lw_push(L, &st);
}

static kiln_status lower_softmax(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    const kiln_shape *xs = &L->b->shapes.s[x];
    if (!same_dims(xv, yv) || xv->pitch != xv->c || yv->pitch != yv->c || xv->coff || yv->coff)
        return cu_lw_fallback(L, "not dense");
    int r = xs->ndim, legacy = n->a.axis.legacy_2d;
    int64_t axis = kiln_axis_norm(n->a.axis.axis, r), numel = kiln_shape_numel(xs), cols = -1;
    if (axis < 0) return cu_lw_fallback(L, "axis");
    int64_t after = 1;
    for (int i = (int)axis + 1; i < r; i++) after *= xs->d[i];
    if (xv->h == 1 && xv->w == 1) { /* row-major: the reduced dims must be a suffix */
        if (legacy) cols = xs->d[axis] * after;
        else if (after == 1) cols = xs->d[axis];
    } else if (L->b->ti[x].natural && r == 4) {
        if (!legacy && axis == 1) cols = xv->c;
        else if (legacy && axis == 1) cols = (int64_t)xv->h * xv->w * xv->c;
        else if (legacy && axis == 0) cols = numel;
    } else if (r == 2 && xv->n == xs->d[0] && axis == 1) { /* a flattened NHWC map */
        cols = (int64_t)xv->h * xv->w * xv->c;
    }
    if (cols <= 0 || cols > (1 << 30)) return cu_lw_fallback(L, "softmax axis in NHWC");
    cu_step st = {.kind = CU_STEP_SOFTMAX, .node = L->k, .x = *xv, .y = *yv,
                  .rows = numel / cols, .cols = (int)cols,
                  .log_softmax = n->op == KILN_OP_LOG_SOFTMAX};
    return cu_lw_push(L, &st);
}

static kiln_status lower_lrn(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    if (L->b->shapes.s[x].ndim != 4 || !L->b->ti[x].natural || !L->b->ti[y].natural)
        return cu_lw_fallback(L, "not a 2-D NHWC map");
    const kiln_lrn_attr *a = &n->a.lrn;
    cu_step st = {.kind = CU_STEP_LRN, .node = L->k, .x = *cu_lw_view(L, x), .y = *cu_lw_view(L, y),
                  .lrn_size = (int)a->size, .lrn_alpha = a->alpha, .lrn_beta = a->beta,
                  .lrn_bias = a->bias};
    return cu_lw_push(L, &st);
}

/* ---- data movement ------------------------------------------------------------------------- */

/* Phys channels per logical channel (dim 1) of a natural tensor of rank r. */
static int64_t inner_of(const kiln_shape *s) {
    int64_t inner = 1;
    if (s->ndim != 4)
        for (int i = 2; i < s->ndim; i++) inner *= s->d[i];
    return inner;
}

static kiln_status lower_concat(cu_lw *L, const kiln_node *n) {
    const kiln_memplan *p = &L->s->plan;
    int o = n->out[0];
    if (!cu_lw_dev(L, o)) return cu_lw_fallback(L, "output");
    const kiln_shape *os = &L->b->shapes.s[o];
    int r = os->ndim;
    if (r < 2 || kiln_axis_norm(n->a.axis.axis, r) != 1 || !L->b->ti[o].natural)
        return cu_lw_fallback(L, "concat along axis %lld", (long long)n->a.axis.axis);
    const cu_view *ov = cu_lw_view(L, o);
    if (r != 4 && (ov->h != 1 || ov->w != 1)) return cu_lw_fallback(L, "layout");
    int64_t inner = inner_of(os), c0 = 0;
    int first = L->b->nsteps;
    for (int j = 0; j < n->n_in; j++) {
        int t = n->in[j];
        if (t < 0) continue;
        int64_t ch = L->b->shapes.s[t].d[1];
        int placed = p->slice[t] && L->g->t[t].alias == o && p->root[t] == p->root[o];
        if (!placed) {
            if (!cu_lw_dev(L, t)) {
                L->b->nsteps = first;
                return cu_lw_fallback(L, "input %d is not a device activation", j);
            }
            cu_view dst = *ov;
            dst.coff = ov->coff + (int)(c0 * inner);
            dst.c = (int)(ch * inner);
            const cu_view *tv = cu_lw_view(L, t);
            if (!same_dims(tv, &dst)) {
                L->b->nsteps = first;
                return cu_lw_fallback(L, "input %d layout", j);
            }
            cu_step st = {.kind = CU_STEP_ACT, .node = L->k, .x = *tv, .y = dst};
            KILN_TRY(cu_lw_push(L, &st));
        }
        c0 += ch;
    }
    return KILN_OK;
}

/* A node's inputs as the tensor-parameter resolvers read them (values where known). */
static int param_views(const cu_lw *L, const kiln_node *n, kiln_view *in, int max) {
    int nin = n->n_in < max ? n->n_in : max;
    for (int j = 0; j < nin; j++) {
        int id = n->in[j];
        in[j] = id < 0 ? (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL}
                       : (kiln_view){L->b->shapes.dt[id], L->b->shapes.s[id],
                                     L->b->shapes.val[id] ? L->b->shapes.val[id] : L->g->t[id].data};
    }
    return nin;
}

/* Slice along the channels only (ShuffleNet's chunk as exported): a channel-slice copy. */
static kiln_status lower_slice(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    kiln_view in[5];
    int nin = param_views(L, n, in, 5);
    kiln_slice_plan sp;
    kiln_err ce = {0};
    if (kiln_slice_resolve(n, nin, in, &sp, &ce) != KILN_OK) return cu_lw_fallback(L, "%s", ce.msg);
    const kiln_shape *xs = &L->b->shapes.s[x];
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    if (xs->ndim < 2 || !L->b->ti[x].natural || (xs->ndim != 4 && (xv->h != 1 || xv->w != 1)))
        return cu_lw_fallback(L, "layout");
    for (int d = 0; d < xs->ndim; d++)
        if (d != 1 && (sp.start[d] != 0 || sp.step[d] != 1 || sp.count[d] != xs->d[d]))
            return cu_lw_fallback(L, "a slice other than along the channels");
    if (sp.step[1] != 1) return cu_lw_fallback(L, "strided channel slice");
    int64_t inner = inner_of(xs);
    cu_view src = *xv;
    src.coff = xv->coff + (int)(sp.start[1] * inner);
    src.c = (int)(sp.count[1] * inner);
    if (!same_dims(&src, yv)) return cu_lw_fallback(L, "layout");
    cu_step st = {.kind = CU_STEP_ACT, .node = L->k, .x = src, .y = *yv};
    return cu_lw_push(L, &st);
}

/* ReduceMean / ReduceMax over H and W of an NHWC map: global pooling. */
static kiln_status lower_reduce(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "operands");
    kiln_view in[2];
    int nin = param_views(L, n, in, 2);
    unsigned char mask[KILN_MAX_DIMS];
    int noop = 0;
    kiln_err ce = {0};
    if (kiln_reduce_resolve(n, nin, in, mask, &noop, &ce) != KILN_OK) return cu_lw_fallback(L, "%s", ce.msg);
    const kiln_shape *xs = &L->b->shapes.s[x];
    const cu_view *yv = cu_lw_view(L, y);
    if (noop || xs->ndim != 4 || !L->b->ti[x].natural || mask[0] || mask[1] || !mask[2] || !mask[3])
        return cu_lw_fallback(L, "a reduction other than over H and W");
    const cu_view *xv = cu_lw_view(L, x);
    if (yv->n != xv->n || yv->h != 1 || yv->w != 1 || yv->c != xv->c) return cu_lw_fallback(L, "layout");
    cu_step st = {.kind = CU_STEP_POOL, .node = L->k, .x = *xv, .y = *yv,
                  .pool_kind = n->op == KILN_OP_REDUCE_MEAN ? CU_POOL_GAVG : CU_POOL_GMAX};
    return cu_lw_push(L, &st);
}

static kiln_status lower_split(cu_lw *L, const kiln_node *n) {
    int x = n->in[0];
    if (!cu_lw_dev(L, x)) return cu_lw_fallback(L, "input");
    kiln_view in[2];
    int nin = param_views(L, n, in, 2);
    int64_t axis, sizes[KILN_MAX_SPLIT + 1];
    kiln_err ce = {0};
    if (n->n_out > KILN_MAX_SPLIT ||
        kiln_split_resolve(n, nin, in, n->n_out, &axis, sizes, &ce) != KILN_OK)
        return cu_lw_fallback(L, "split sizes: %s", ce.msg);
    const kiln_shape *xs = &L->b->shapes.s[x];
    const cu_view *xv = cu_lw_view(L, x);
    if (axis != 1 || !L->b->ti[x].natural || (xs->ndim != 4 && (xv->h != 1 || xv->w != 1)))
        return cu_lw_fallback(L, "split along axis %lld", (long long)axis);
    int64_t inner = inner_of(xs), c0 = 0;
    int first = L->b->nsteps;
    for (int j = 0; j < n->n_out; j++) {
        int t = n->out[j];
        if (t >= 0 && cu_lw_dev(L, t)) {
            cu_view src = *xv;
            src.coff = xv->coff + (int)(c0 * inner);
            src.c = (int)(sizes[j] * inner);
            const cu_view *tv = cu_lw_view(L, t);
            if (!same_dims(tv, &src)) {
                L->b->nsteps = first;
                return cu_lw_fallback(L, "output %d layout", j);
            }
            cu_step st = {.kind = CU_STEP_ACT, .node = L->k, .x = src, .y = *tv};
            KILN_TRY(cu_lw_push(L, &st));
        }
        c0 += sizes[j];
    }
    return KILN_OK;
}

/* A Reshape-like node that could not share its input's bytes (the input is a slice): copy. */
static kiln_status lower_view_copy(cu_lw *L, const kiln_node *n) {
    int x = n->in[0], y = n->out[0];
    if (!cu_lw_dev(L, x) || !cu_lw_dev(L, y)) return cu_lw_fallback(L, "input is not a device activation");
    const cu_view *xv = cu_lw_view(L, x), *yv = cu_lw_view(L, y);
    if (!same_dims(xv, yv) || xv->dt != yv->dt) return cu_lw_fallback(L, "layout");
    if (!is_float(xv->dt)) {
        if (xv->pitch != xv->c || yv->pitch != yv->c) return cu_lw_fallback(L, "layout");
        cu_step st = {.kind = CU_STEP_RAW_COPY, .node = L->k, .x = *xv, .y = *yv,
                      .bytes = cu_view_bytes(xv)};
        return cu_lw_push(L, &st);
    }
    cu_step st = {.kind = CU_STEP_ACT, .node = L->k, .x = *xv, .y = *yv};
    return cu_lw_push(L, &st);
}

static kiln_status lower_transpose(cu_lw *L, const kiln_node *n) {
    int groups;
    if (!cu_is_shuffle(n, &L->b->shapes, L->b->ti, &groups) || !cu_lw_dev(L, n->out[0]))
        return cu_lw_fallback(L, "a transpose other than a channel shuffle");
    const cu_view *xv = cu_lw_view(L, n->in[0]), *yv = cu_lw_view(L, n->out[0]);
    if (!same_dims(xv, yv)) return cu_lw_fallback(L, "layout");
    cu_step st = {.kind = CU_STEP_SHUFFLE, .node = L->k, .x = *xv, .y = *yv, .groups = groups};
    return cu_lw_push(L, &st);
}

/* ---- nodes --------------------------------------------------------------------------------- */

static int is_view_op(int op) {
    return op == KILN_OP_RESHAPE || op == KILN_OP_FLATTEN || op == KILN_OP_SQUEEZE ||
           op == KILN_OP_UNSQUEEZE || op == KILN_OP_IDENTITY || op == KILN_OP_DROPOUT;
}

static kiln_status lower_op(cu_lw *L, const kiln_node *n, int mode) {
    const kiln_shapes *sh = &L->b->shapes;
    for (int j = 0; j < n->n_in; j++) {
        int t = n->in[j];
        /* Float data the GPU kernels read must be in the storage type; shape inputs are values. */
        if (t >= 0 && cu_lw_dev(L, t) && !is_float(sh->dt[t]))
            return cu_lw_fallback(L, "input of type %s", kiln_dtype_name(sh->dt[t]));
    }
    if (mode == KILN_MEMPLAN_SKIP && (is_view_op(n->op) || n->op == KILN_OP_CONCAT ||
                                      n->op == KILN_OP_SPLIT))
        return KILN_OK;
    switch (n->op) {
    case KILN_OP_CONV: return cu_lower_conv(L, n);
    case KILN_OP_GEMM:
    case KILN_OP_MATMUL: return cu_lower_gemm(L, n);
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL:
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL: return lower_pool(L, n);
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH: return lower_act(L, n);
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV: return lower_binary(L, n);
    case KILN_OP_SCALE_SHIFT: return lower_scale_shift(L, n);
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX: return lower_softmax(L, n);
    case KILN_OP_LRN: return lower_lrn(L, n);
    case KILN_OP_CONCAT: return lower_concat(L, n);
    case KILN_OP_SPLIT: return lower_split(L, n);
    case KILN_OP_TRANSPOSE: return lower_transpose(L, n);
    case KILN_OP_SLICE: return lower_slice(L, n);
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_MAX: return lower_reduce(L, n);
    default:
        if (is_view_op(n->op)) return lower_view_copy(L, n);
        return cu_lw_fallback(L, "no CUDA kernel for %s", kiln_op_name((kiln_op)n->op));
    }
}

static size_t host_bytes_of(const cu_bucket *b, int t) {
    int64_t n = kiln_shape_numel(&b->shapes.s[t]);
    kiln_dtype dt = b->shapes.dt[t];
    return (size_t)(n < 0 ? 0 : n) * (is_float(dt) ? 4 : kiln_dtype_size(dt));
}

static kiln_status add_fallback(cu_lw *L, const kiln_node *n) {
    cu_bucket *b = L->b;
    if (!kiln_cpu_lookup((kiln_op)n->op))
        return kiln_err_set(L->e, KILN_ERR_UNSUPPORTED,
                            "node '%s' (%s): no GPU kernel (%s) and no CPU kernel", n->name,
                            kiln_op_name((kiln_op)n->op), L->why);
    cu_fallback f = {.node = L->k};
    for (int q = 0; q < 2; q++) {
        int cnt = q ? n->n_out : n->n_in;
        for (int j = 0; j < cnt; j++) {
            int t = q ? n->out[j] : n->in[j];
            /* Device inputs are downloaded; every output gets host room (kernels write all). */
            if (t < 0 || (!q && b->ti[t].where != CU_W_DEV)) continue;
            size_t bytes = host_bytes_of(b, t);
            f.host_bytes += (bytes + 63) & ~(size_t)63;
            if (bytes > f.dev_bytes) f.dev_bytes = bytes;
        }
    }
    cu_fallback *p = realloc(b->fb, sizeof *p * ((size_t)b->nfb + 1));
    if (!p) return kiln_err_set(L->e, KILN_ERR_NOMEM, "cuda: out of memory");
    b->fb = p;
    b->fb[b->nfb] = f;
    cu_step st = {.kind = CU_STEP_FALLBACK, .node = L->k, .fb = b->nfb++};
    b->capturable = 0;
    return cu_lw_push(L, &st);
}

static kiln_status lower_node(cu_lw *L) {
    const kiln_node *n = &L->g->n[L->k];
    int any = 0;
    for (int j = 0; j < n->n_out; j++)
        if (cu_lw_dev(L, n->out[j])) any = 1;
    if (!any) return KILN_OK; /* every output known at build time */
    int first = L->b->nsteps;
    L->scratch = 0;
    L->why[0] = 0;
    kiln_status st = lower_op(L, n, L->s->plan.mode[L->k]);
    if (st == CU_FALLBACK) {
        L->b->nsteps = first;
        L->scratch = 0;
        st = add_fallback(L, n);
        if (st == KILN_OK && L->bi == L->s->nb - 1)
            snprintf(L->s->node_why[L->k], sizeof L->s->node_why[0], "%s", L->why);
    }
    if (L->scratch > L->b->scratch_bytes) L->b->scratch_bytes = L->scratch;
    if (st != KILN_OK && st != CU_FALLBACK)
        kiln_err_prefix(L->e, "node '%s' (%s)", n->name, kiln_op_name((kiln_op)n->op));
    return st;
}

/* ---- graph inputs and outputs ------------------------------------------------------------ */

static kiln_status io_steps(cu_lw *L, int outputs) {
    const kiln_graph *g = L->g;
    cu_bucket *b = L->b;
    int cnt = outputs ? g->n_outputs : g->n_inputs;
    for (int i = 0; i < cnt; i++) {
        int t = outputs ? g->outputs[i] : g->inputs[i];
        size_t bytes = host_bytes_of(b, t);
        if (outputs) b->out_bytes[i] = bytes;
        else b->in_bytes[i] = bytes;
        if (b->ti[t].where != CU_W_DEV) continue;
        const cu_view *v = &b->ti[t].v;
        kiln_dtype dt = b->shapes.dt[t];
        if (is_float(dt) && dt != KILN_F32)
            return kiln_err_set(L->e, KILN_ERR_UNSUPPORTED,
                                "cuda: graph %s '%s' is %s; the CUDA backend takes float32 I/O",
                                outputs ? "output" : "input", g->t[t].name, kiln_dtype_name(dt));
        cu_view host = {.space = outputs ? CU_SP_OUTSTAGE : CU_SP_INSTAGE,
                        .dt = is_float(dt) ? KILN_F32 : dt,
                        .off = outputs ? b->out_off[i] : b->in_off[i],
                        .n = v->n, .h = 1, .w = 1, .c = (int)(v->h * v->w * v->c)};
        host.pitch = host.c;
        cu_step st = {.node = -1, .io = i};
        if (!is_float(dt)) {
            if (v->pitch != v->c) return kiln_err_set(L->e, KILN_ERR_UNSUPPORTED, "cuda: '%s' layout", g->t[t].name);
            st.kind = CU_STEP_RAW_COPY;
            st.x = outputs ? *v : host;
            st.y = outputs ? host : *v;
            st.bytes = bytes;
        } else if (!outputs && L->s->in_s2d[i]) {
            st.kind = CU_STEP_INPUT_S2D;
            st.x = host;
            st.y = *v;
            st.y.c = v->pitch;
            st.in_c = (int)b->shapes.s[t].d[1];
        } else if (!outputs && b->shapes.s[t].ndim == 4) {
            st.kind = CU_STEP_INPUT;
            st.x = host;
            st.y = *v;
            st.y.c = v->pitch; /* write the padding channels too (zeros) */
            st.in_c = v->c;
        } else if (!outputs) {
            st.kind = CU_STEP_ACT; /* row-major: convert only */
            st.x = host;
            st.y = *v;
        } else {
            st.kind = CU_STEP_OUTPUT;
            st.x = *v;
            st.y = host;
        }
        KILN_TRY(cu_lw_push(L, &st));
    }
    return KILN_OK;
}

void cu_bucket_free(cu_bucket *b) {
    kiln_shapes_free(&b->shapes);
    free(b->ti);
    free(b->steps);
    free(b->fb);
    memset(b, 0, sizeof *b);
}

kiln_status cu_lower(cu_engine *s, const kiln_graph *orig, kiln_err *e) {
    (void)orig;
    const kiln_graph *g = &s->dg.g;
    if (g->n_inputs > CU_MAX_IO || g->n_outputs > CU_MAX_IO)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "cuda: more than %d inputs or outputs",
                            CU_MAX_IO);
    s->node_why = calloc((size_t)g->n_n + 1, sizeof *s->node_why);
    if (!s->node_why) return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    /* I/O staging offsets: by the largest bucket, the same for all. */
    const cu_bucket *big = &s->bk[s->nb - 1];
    size_t in_off = 0, out_off = 0;
    size_t ioff[CU_MAX_IO], ooff[CU_MAX_IO];
    for (int i = 0; i < g->n_inputs; i++) {
        ioff[i] = in_off;
        in_off += (host_bytes_of(big, g->inputs[i]) + 255) & ~(size_t)255;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        ooff[i] = out_off;
        out_off += (host_bytes_of(big, g->outputs[i]) + 255) & ~(size_t)255;
    }
    s->instage_bytes = in_off;
    s->outstage_bytes = out_off;
    for (int bi = 0; bi < s->nb; bi++) {
        cu_bucket *b = &s->bk[bi];
        memcpy(b->in_off, ioff, sizeof(size_t) * (size_t)g->n_inputs);
        memcpy(b->out_off, ooff, sizeof(size_t) * (size_t)g->n_outputs);
        b->capturable = 1;
        cu_lw L = {.s = s, .b = b, .bi = bi, .g = g, .k = -1, .e = e};
        KILN_TRY(io_steps(&L, 0));
        for (int k = 0; k < g->n_n; k++) {
            L.k = k;
            KILN_TRY(lower_node(&L));
        }
        L.k = -1;
        KILN_TRY(io_steps(&L, 1));
        if (b->scratch_bytes > s->scratch_bytes) s->scratch_bytes = b->scratch_bytes;
        for (int f = 0; f < b->nfb; f++) {
            if (b->fb[f].host_bytes > s->fb_host_bytes) s->fb_host_bytes = b->fb[f].host_bytes;
            if (b->fb[f].dev_bytes > s->fb_dev_bytes) s->fb_dev_bytes = b->fb[f].dev_bytes;
        }
    }
    return cu_io_in_arena(s, e);
}

/* ---- supports() ---------------------------------------------------------------------------- */

int cu_node_gpu_capable(const kiln_graph *g, const kiln_node *n, char *why, size_t nwhy) {
    switch (n->op) {
    case KILN_OP_CONV:
        if (n->a.conv.nspatial != 2) {
            snprintf(why, nwhy, "%d-D convolution runs on the CPU", n->a.conv.nspatial);
            return 0;
        }
        return 1;
    case KILN_OP_GEMM:
        if (n->a.gemm.trans_a) {
            snprintf(why, nwhy, "Gemm with transA runs on the CPU");
            return 0;
        }
        return 1;
    case KILN_OP_MATMUL:
        if (n->n_in < 2 || n->in[1] < 0 || g->t[n->in[1]].kind != KILN_TENSOR_CONST) {
            snprintf(why, nwhy, "MatMul of two activations runs on the CPU");
            return 0;
        }
        return 1;
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL:
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL:
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_SCALE_SHIFT:
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX:
    case KILN_OP_LRN:
    case KILN_OP_CONCAT:
    case KILN_OP_SPLIT:
    case KILN_OP_RESHAPE:
    case KILN_OP_FLATTEN:
    case KILN_OP_SQUEEZE:
    case KILN_OP_UNSQUEEZE:
    case KILN_OP_IDENTITY:
    case KILN_OP_DROPOUT:
    case KILN_OP_TRANSPOSE:
    case KILN_OP_SLICE:
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_MAX: return 1;
    default:
        snprintf(why, nwhy, "no CUDA kernel for %s: runs on the CPU", kiln_op_name((kiln_op)n->op));
        return 0;
    }
}
