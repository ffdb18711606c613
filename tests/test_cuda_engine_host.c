/* test_cuda_engine_host.c — the CUDA engine's host side, without a GPU.
 *
 * Lowering (device graph, memory plan, phys views, steps per bucket, packed weights) is plain
 * computation, so it is checked here by an emulator: every step kind re-implemented on the host
 * in FP32 over byte arrays standing in for the device spaces, run on the FP32 lowering of zoo
 * models (small inputs) and, where present, torchvision ONNX exports, and compared with the CPU
 * reference backend at batches 1, 2 (padded into the bucket of 3) and 3. This proves the views,
 * slices, in-place planning, weight packing (KRSC, depthwise, stem padding, Gemm columns after
 * an NHWC Flatten) and I/O reformatting before any device time is spent. Also: the record
 * encoding shared by plan sections and timing caches, including malformed input.
 *
 * Environment: KILN_CUDA_HOST_ONNX_DIR=<dir with MODEL/opset17.onnx> adds ONNX models.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#ifndef KILN_HAVE_CUDA
int main(void) { return test_skip("the CUDA backend is not compiled in"); }
#else

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_eltwise.h"
#include "backend/cuda/cuda_engine.h"
#include "runtime/engine.h"

/* ---- the emulator -------------------------------------------------------------------------- */

typedef struct emu {
    char *base[CU_SP_COUNT];
    const cu_engine *s;
    kiln_cpu *cpu;
    int bad;
} emu;

static float *at(const emu *m, const cu_view *v, int n, int h, int w, int c) {
    float *p = (float *)(m->base[v->space] + v->off);
    return p + (((size_t)n * v->h + h) * v->w + w) * v->pitch + v->coff + c;
}

/* Broadcast read: dims of extent 1 repeat. */
static float bat(const emu *m, const cu_view *v, int n, int h, int w, int c) {
    return *at(m, v, v->n == 1 ? 0 : n, v->h == 1 ? 0 : h, v->w == 1 ? 0 : w, v->c == 1 ? 0 : c);
}

#define FOR4(v)                                                                                  \
    for (int n = 0; n < (v)->n; n++)                                                            \
        for (int h = 0; h < (v)->h; h++)                                                        \
            for (int w = 0; w < (v)->w; w++)                                                    \
                for (int c = 0; c < (v)->c; c++)

static void emu_conv_core(const emu *m, const kiln_cuda_conv_desc *d, const float *x, int xp,
                          const float *wt, const float *bias, const float *res, float *y, int yp,
                          int dw, const kiln_act *act) {
    int oh, ow;
    kiln_cuda_conv_out_dims(d, &oh, &ow);
    int cg = d->c / d->groups, kg = d->k / d->groups;
    (void)m;
    for (int n = 0; n < d->n; n++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int k = 0; k < d->k; k++) {
                    int g = k / kg;
                    double acc = 0;
                    for (int r = 0; r < d->r; r++) {
                        int ih = i * d->stride[0] - d->pad_begin[0] + r * d->dilation[0];
                        if (ih < 0 || ih >= d->h) continue;
                        for (int q = 0; q < d->s; q++) {
                            int iw = j * d->stride[1] - d->pad_begin[1] + q * d->dilation[1];
                            if (iw < 0 || iw >= d->w) continue;
                            const float *xp0 = x + (((size_t)n * d->h + ih) * d->w + iw) * xp + g * cg;
                            if (dw) {
                                acc += (double)xp0[0] * wt[((size_t)r * d->s + q) * d->k + k];
                            } else {
                                const float *wp = wt + (((size_t)k * d->r + r) * d->s + q) * cg;
                                for (int c = 0; c < cg; c++) acc += (double)xp0[c] * wp[c];
                            }
                        }
                    }
                    size_t yo = (((size_t)n * oh + i) * ow + j) * yp + k;
                    float v = (float)acc;
                    if (bias) v += bias[k];
                    if (res) v += res[yo];
                    y[yo] = act ? kiln_act_apply(act, v) : v;
                }
}

static void emu_bias_act(emu *m, const cu_view *t, const float *bias, const cu_view *r,
                         const cu_view *y, const kiln_act *act) {
    FOR4(y) {
        float v = *at(m, t, n, h, w, c) + (bias ? bias[c] : 0);
        if (r) v += *at(m, r, n, h, w, c);
        *at(m, y, n, h, w, c) = kiln_act_apply(act, v);
    }
}

static void emu_conv(emu *m, const cu_step *st) {
    const cu_conv_layer *L = &m->s->conv[st->layer];
    const kiln_cuda_conv_desc *d = &L->d;
    const char *wb = (const char *)m->s->whost;
    const float *x = at(m, &st->x, 0, 0, 0, 0);
    float *t = at(m, &st->t, 0, 0, 0, 0);
    const float *bias = st->has_bias ? (const float *)(wb + st->bias_off) : NULL;
    const float *res = d->has_residual ? at(m, &st->r, 0, 0, 0, 0) : NULL;
    int xp = d->x_pitch ? d->x_pitch : d->c, yp = d->y_pitch ? d->y_pitch : d->k;
    CHECK(xp == st->x.pitch && yp == st->t.pitch, "conv %s: desc pitches %d/%d vs views %d/%d",
          L->sig, xp, yp, st->x.pitch, st->t.pitch);
    emu_conv_core(m, d, x, xp, (const float *)(wb + st->w_off), bias, res, t, yp, 0, &d->act);
    if (L->dw_ok) { /* the own kernel's weights must give the same layer */
        int oh, ow;
        kiln_cuda_conv_out_dims(d, &oh, &ow);
        size_t cnt = (size_t)d->n * oh * ow * yp;
        float *alt = malloc(sizeof(float) * cnt);
        memcpy(alt, t, sizeof(float) * cnt);
        emu_conv_core(m, d, x, xp, (const float *)(wb + st->w2_off), bias, res, alt, yp, 1, &d->act);
        double worst = 0;
        for (size_t i = 0; i < cnt; i++) worst = fmax(worst, fabs(alt[i] - t[i]));
        CHECK(worst < 1e-4, "conv %s: depthwise weights differ by %g", L->sig, worst);
        free(alt);
    }
    if (st->post || L->split)
        emu_bias_act(m, &st->t, L->split == 2 && st->has_bias ? bias : NULL,
                     st->r.space ? &st->r : NULL, &st->y, &st->act);
}

static void emu_gemm(emu *m, const cu_step *st) {
    const cu_gemm_layer *G = &m->s->gemm[st->layer];
    const kiln_cuda_gemm_desc *d = &G->d;
    const char *wb = (const char *)m->s->whost;
    const float *x = at(m, &st->x, 0, 0, 0, 0), *w = (const float *)(wb + st->w_off);
    const float *bias = st->has_bias ? (const float *)(wb + st->bias_off) : NULL;
    const float *res = d->has_residual ? at(m, &st->r, 0, 0, 0, 0) : NULL;
    float *y = at(m, &st->t, 0, 0, 0, 0);
    int ldx = d->ldx ? d->ldx : d->k, ldy = d->ldy ? d->ldy : d->n;
    for (int i = 0; i < d->m; i++)
        for (int j = 0; j < d->n; j++) {
            double acc = 0;
            for (int k = 0; k < d->k; k++)
                acc += (double)x[(size_t)i * ldx + k] *
                       (d->trans_w ? w[(size_t)j * d->k + k] : w[(size_t)k * d->n + j]);
            float v = d->alpha * (float)acc;
            if (bias) v += bias[j];
            if (res) v += d->beta * res[(size_t)i * ldy + j];
            if (d->relu && v < 0) v = 0;
            y[(size_t)i * ldy + j] = v;
        }
    if (st->post) emu_bias_act(m, &st->t, NULL, st->r.space ? &st->r : NULL, &st->y, &st->act);
}

static void emu_pool(emu *m, const cu_step *st) {
    const cu_view *x = &st->x, *y = &st->y;
    const kiln_cuda_pool2d *p = &st->pool;
    FOR4(y) {
        if (st->pool_kind == CU_POOL_GAVG || st->pool_kind == CU_POOL_GMAX) {
            double acc = st->pool_kind == CU_POOL_GMAX ? -INFINITY : 0;
            for (int a = 0; a < x->h; a++)
                for (int b = 0; b < x->w; b++) {
                    float v = *at(m, x, n, a, b, c);
                    acc = st->pool_kind == CU_POOL_GMAX ? fmax(acc, v) : acc + v;
                }
            *at(m, y, n, h, w, c) = (float)(st->pool_kind == CU_POOL_GMAX ? acc : acc / (x->h * x->w));
            continue;
        }
        int mx = st->pool_kind == CU_POOL_MAX, count = 0;
        double acc = mx ? -INFINITY : 0;
        for (int a = 0; a < p->kernel[0]; a++) {
            int ih = h * p->stride[0] - p->pad_begin[0] + a * p->dilation[0];
            for (int b = 0; b < p->kernel[1]; b++) {
                int iw = w * p->stride[1] - p->pad_begin[1] + b * p->dilation[1];
                int in = ih >= 0 && ih < x->h && iw >= 0 && iw < x->w;
                int inpad = ih >= -p->pad_begin[0] && ih < x->h + p->pad_end[0] &&
                            iw >= -p->pad_begin[1] && iw < x->w + p->pad_end[1];
                if (in) {
                    float v = *at(m, x, n, ih, iw, c);
                    acc = mx ? fmax(acc, v) : acc + v;
                }
                count += p->count_include_pad ? inpad : in;
            }
        }
        *at(m, y, n, h, w, c) = (float)(mx ? acc : (count ? acc / count : 0));
    }
}

/* Device tensor t <-> host NCHW (of its phys extent), as cuda_fallback.c moves it. */
static void emu_download(const emu *m, const cu_bucket *b, int t, float *host) {
    const cu_view *v = &b->ti[t].v;
    for (int n = 0; n < v->n; n++)
        for (int c = 0; c < v->c; c++)
            for (int h = 0; h < v->h; h++)
                for (int w = 0; w < v->w; w++)
                    host[(((size_t)n * v->c + c) * v->h + h) * v->w + w] = *at(m, v, n, h, w, c);
}

static void emu_upload(const emu *m, const cu_bucket *b, int t, const float *host) {
    const cu_view *v = &b->ti[t].v;
    for (int n = 0; n < v->n; n++)
        for (int c = 0; c < v->c; c++)
            for (int h = 0; h < v->h; h++)
                for (int w = 0; w < v->w; w++)
                    *at(m, v, n, h, w, c) = host[(((size_t)n * v->c + c) * v->h + h) * v->w + w];
}

static void emu_fallback(emu *m, const cu_bucket *b, const cu_step *st) {
    const kiln_graph *g = &m->s->dg.g;
    const kiln_node *nd = &g->n[st->node];
    kiln_view iv[64], ov[64];
    float *tmp[128];
    int nt = 0;
    for (int q = 0; q < 2; q++) {
        int cnt = q ? nd->n_out : nd->n_in;
        for (int j = 0; j < cnt; j++) {
            int t = q ? nd->out[j] : nd->in[j];
            kiln_view *v = q ? &ov[j] : &iv[j];
            if (t < 0) {
                *v = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
            } else if (!q && b->shapes.val[t]) {
                *v = (kiln_view){b->shapes.dt[t], b->shapes.s[t], b->shapes.val[t]};
            } else if (!q && b->ti[t].where != CU_W_DEV) {
                *v = (kiln_view){g->t[t].dtype, b->shapes.s[t], g->t[t].data};
            } else {
                int64_t cnt_e = kiln_shape_numel(&b->shapes.s[t]);
                float *h = malloc(sizeof(float) * (size_t)(cnt_e + 1));
                tmp[nt++] = h;
                *v = (kiln_view){KILN_F32, b->shapes.s[t], h};
                if (!q) emu_download(m, b, t, h);
            }
        }
    }
    kiln_err e = {0};
    kiln_status r = kiln_cpu_run_node(m->cpu, nd, iv, ov, &e);
    CHECK(r == KILN_OK, "fallback %s: %s", nd->name, e.msg);
    for (int j = 0; j < nd->n_out && r == KILN_OK; j++)
        if (nd->out[j] >= 0 && b->ti[nd->out[j]].where == CU_W_DEV) emu_upload(m, b, nd->out[j], ov[j].data);
    for (int i = 0; i < nt; i++) free(tmp[i]);
}

static void emu_step(emu *m, const cu_bucket *b, const cu_step *st) {
    const cu_view *x = &st->x, *y = &st->y;
    const char *wb = (const char *)m->s->whost;
    switch (st->kind) {
    case CU_STEP_INPUT: {
        const float *src = (const float *)(m->base[CU_SP_INSTAGE] + x->off);
        FOR4(y) *at(m, y, n, h, w, c) = c < st->in_c ? src[(((size_t)n * st->in_c + c) * y->h + h) * y->w + w] : 0;
        break;
    }
    case CU_STEP_INPUT_S2D: {
        const float *src = (const float *)(m->base[CU_SP_INSTAGE] + x->off);
        int C = st->in_c, H = 2 * y->h, W = 2 * y->w;
        FOR4(y) {
            float v = 0;
            if (c < 4 * C) {
                int q = c / C, k = c % C;
                v = src[(((size_t)n * C + k) * H + 2 * h + q / 2) * W + 2 * w + q % 2];
            }
            *at(m, y, n, h, w, c) = v;
        }
        break;
    }
    case CU_STEP_OUTPUT: {
        float *dst = (float *)(m->base[CU_SP_OUTSTAGE] + y->off);
        FOR4(x) dst[(((size_t)n * x->c + c) * x->h + h) * x->w + w] = *at(m, x, n, h, w, c);
        break;
    }
    case CU_STEP_CONV: emu_conv(m, st); break;
    case CU_STEP_GEMM: emu_gemm(m, st); break;
    case CU_STEP_POOL: emu_pool(m, st); break;
    case CU_STEP_ACT:
        FOR4(y) *at(m, y, n, h, w, c) = kiln_act_apply(&st->act, *at(m, x, n, h, w, c));
        break;
    case CU_STEP_BINARY:
        FOR4(y) {
            float u = bat(m, x, n, h, w, c), v = bat(m, &st->b, n, h, w, c), r;
            switch (st->binop) {
            case KILN_CUDA_ADD: r = u + v; break;
            case KILN_CUDA_SUB: r = u - v; break;
            case KILN_CUDA_MUL: r = u * v; break;
            default: r = u / v; break;
            }
            *at(m, y, n, h, w, c) = r;
        }
        break;
    case CU_STEP_SCALE_SHIFT: {
        const float *sc = (const float *)(wb + st->w_off), *sf = (const float *)(wb + st->bias_off);
        FOR4(y) *at(m, y, n, h, w, c) = kiln_act_apply(&st->act, *at(m, x, n, h, w, c) * sc[c] + sf[c]);
        break;
    }
    case CU_STEP_SOFTMAX: {
        const float *xp = at(m, x, 0, 0, 0, 0);
        float *yp = at(m, y, 0, 0, 0, 0);
        for (int64_t r = 0; r < st->rows; r++) {
            const float *xr = xp + r * st->cols;
            float *yr = yp + r * st->cols;
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < st->cols; i++) mx = fmax(mx, xr[i]);
            for (int i = 0; i < st->cols; i++) sum += exp(xr[i] - mx);
            for (int i = 0; i < st->cols; i++)
                yr[i] = st->log_softmax ? (float)(xr[i] - mx - log(sum)) : (float)(exp(xr[i] - mx) / sum);
        }
        break;
    }
    case CU_STEP_LRN:
        FOR4(y) {
            int lo = c - (st->lrn_size - 1) / 2, hi = c + st->lrn_size / 2;
            double sq = 0;
            for (int q = lo < 0 ? 0 : lo; q <= hi && q < x->c; q++) {
                float v = *at(m, x, n, h, w, q);
                sq += (double)v * v;
            }
            *at(m, y, n, h, w, c) = (float)(*at(m, x, n, h, w, c) /
                                            pow(st->lrn_bias + st->lrn_alpha / st->lrn_size * sq, st->lrn_beta));
        }
        break;
    case CU_STEP_SHUFFLE: {
        int g = st->groups, cpg = x->c / g;
        FOR4(y) *at(m, y, n, h, w, c) = *at(m, x, n, h, w, (c % g) * cpg + c / g);
        break;
    }
    case CU_STEP_RAW_COPY:
        memcpy(m->base[y->space] + y->off, m->base[x->space] + x->off, st->bytes);
        break;
    case CU_STEP_FALLBACK: emu_fallback(m, b, st); break;
    default: CHECK(0, "unknown step kind %d", st->kind);
    }
}

/* ---- checks -------------------------------------------------------------------------------- */

static size_t space_size(const cu_engine *s, int sp) {
    switch (sp) {
    case CU_SP_ARENA: return s->arena_bytes;
    case CU_SP_WEIGHTS: return s->wbytes;
    case CU_SP_INPUTS: return s->inputs_bytes;
    case CU_SP_SCRATCH: return s->scratch_bytes;
    case CU_SP_INSTAGE: return s->instage_bytes;
    case CU_SP_OUTSTAGE: return s->outstage_bytes;
    default: return 0;
    }
}

static void check_view_bounds(const cu_engine *s, const cu_view *v, const char *what, int step) {
    if (v->space == CU_SP_NONE) return;
    size_t es = kiln_dtype_size(v->dt);
    size_t last = v->off + ((((size_t)v->n - 1) * v->h + (v->h - 1)) * v->w + (v->w - 1)) * v->pitch * es +
                  ((size_t)v->coff + v->c) * es;
    CHECK(v->n >= 1 && v->c >= 1 && v->coff + v->c <= v->pitch && last <= space_size(s, v->space),
          "step %d %s: view %dx%dx%dx%d pitch %d coff %d at %zu in space %d of %zu bytes", step,
          what, v->n, v->h, v->w, v->c, v->pitch, v->coff, v->off, v->space,
          space_size(s, v->space));
}

static const int64_t SIZE_DEFAULT = 0;

static void check_model(const char *source, int64_t size, int *fallbacks, int s2d) {
    kiln_model *m = kiln_model_create();
    if (kiln_model_load(m, source) != KILN_OK) {
        CHECK(0, "%s: %s", source, kiln_model_errmsg(m));
        kiln_model_destroy(m);
        return;
    }
    kiln_io_info io;
    kiln_model_io(m, 1, 0, &io);
    if (size) { /* zoo inputs are declared 224x224 like exports; the graphs run at any size */
        kiln_tensor *t = &m->g->t[m->g->inputs[0]];
        t->shape.d[2] = t->shape.d[3] = size;
    }
    kiln_builder_config *cfg = kiln_builder_config_create();
    kiln_builder_config_set_batch_range(cfg, 1, 1, 3);
    kiln_engine *ref = kiln_engine_create();
    if (kiln_engine_build(ref, m, cfg) != KILN_OK) {
        CHECK(0, "%s: CPU build: %s", source, kiln_engine_errmsg(ref));
        goto out;
    }
    cu_engine *s = calloc(1, sizeof *s);
    s->magic = CU_ENGINE_MAGIC;
    s->fp32_like_16bit = s2d;
    kiln_err err = {0};
    kiln_status st = cu_engine_lower_host(ref, s, KILN_PREC_FP32, &err);
    CHECK(st == KILN_OK, "%s: lowering: %s", source, err.msg);
    if (st != KILN_OK) {
        cu_engine_free(s);
        goto out;
    }
    int fb = 0, steps = 0;
    for (int bi = 0; bi < s->nb; bi++) {
        const cu_bucket *b = &s->bk[bi];
        for (int i = 0; i < b->nsteps; i++) {
            const cu_step *p = &b->steps[i];
            check_view_bounds(s, &p->x, "x", i);
            check_view_bounds(s, &p->b, "b", i);
            check_view_bounds(s, &p->y, "y", i);
            check_view_bounds(s, &p->r, "r", i);
            check_view_bounds(s, &p->t, "t", i);
            if (bi == s->nb - 1) {
                steps++;
                if (p->kind == CU_STEP_FALLBACK) {
                    fb++;
                    printf("  %s: CPU fallback for '%s': %s\n", source, s->dg.g.n[p->node].name,
                           s->node_why[p->node]);
                }
            }
        }
    }
    *fallbacks += fb;
    printf("%-44s %3d steps (bucket %lld), %2d conv / %d gemm layers, %d fallbacks, arena %.1f MB, "
           "weights %.1f MB\n",
           source, steps, (long long)s->bk[s->nb - 1].batch, s->nconv, s->ngemm, fb,
           s->arena_bytes / 1e6, s->wbytes / 1e6);

    /* The 16-bit lowerings: every view inside its space, the same (absence of) fallbacks. */
    for (int q = 0; q < 2; q++) {
        cu_engine *h = calloc(1, sizeof *h);
        h->magic = CU_ENGINE_MAGIC;
        kiln_err he = {0};
        kiln_precision hp = q ? KILN_PREC_BF16 : KILN_PREC_FP16;
        CHECK(cu_engine_lower_host(ref, h, hp, &he) == KILN_OK, "%s %s lowering: %s", source,
              kiln_precision_name(hp), he.msg);
        int hfb = 0;
        for (int bi = 0; bi < h->nb; bi++)
            for (int i = 0; i < h->bk[bi].nsteps; i++) {
                const cu_step *p = &h->bk[bi].steps[i];
                const cu_view *vs[5] = {&p->x, &p->b, &p->y, &p->r, &p->t};
                for (int v = 0; v < 5; v++) {
                    CHECK(vs[v]->space == CU_SP_NONE || vs[v]->space == CU_SP_INSTAGE ||
                              vs[v]->space == CU_SP_OUTSTAGE || vs[v]->dt == h->dt,
                          "%s %s: step %d view %d has type %d", source, kiln_precision_name(hp), i, v,
                          vs[v]->dt);
                    check_view_bounds(h, vs[v], "16-bit", i);
                }
                hfb += p->kind == CU_STEP_FALLBACK;
            }
        CHECK(hfb == fb * 2 || s->nb != 2, "%s %s: %d fallback steps (fp32: %d per bucket)", source,
              kiln_precision_name(hp), hfb, fb);
        cu_engine_free(h);
    }

    int in_s2d = 0;
    for (int i = 0; i < s->dg.g.n_inputs; i++) in_s2d |= s->in_s2d[i];
    CHECK(!s2d || in_s2d, "%s: no space-to-depth stem", source);
    emu em = {.s = s, .cpu = kiln_cpu_create(2)};
    for (int sp = 1; sp < CU_SP_COUNT; sp++)
        if (sp != CU_SP_WEIGHTS && sp != CU_SP_INPUTS && sp != CU_SP_INSTAGE)
            em.base[sp] = calloc(space_size(s, sp) + 64, 1);
    /* As in a context: the inputs and their staging inside the arena (cu_io_in_arena). */
    CHECK(s->inputs_at + s->inputs_bytes <= s->arena_bytes &&
              s->instage_at + s->instage_bytes <= s->arena_bytes &&
              (s->inputs_at + s->inputs_bytes <= s->instage_at ||
               s->instage_at + s->instage_bytes <= s->inputs_at),
          "%s: inputs at %zu+%zu, staging at %zu+%zu, arena %zu", source, s->inputs_at,
          s->inputs_bytes, s->instage_at, s->instage_bytes, s->arena_bytes);
    em.base[CU_SP_INPUTS] = em.base[CU_SP_ARENA] + s->inputs_at;
    em.base[CU_SP_INSTAGE] = em.base[CU_SP_ARENA] + s->instage_at;
    em.base[CU_SP_WEIGHTS] = (char *)s->whost;
    kiln_context *c = NULL;
    CHECK_OK(kiln_context_create(ref, &c));
    kiln_rng rng;
    kiln_rng_seed(&rng, test_seed() ^ (uint64_t)size);
    for (int64_t batch = 1; batch <= 3 && c; batch++) {
        int bi = 0;
        while (bi < s->nb - 1 && s->bk[bi].batch < batch) bi++;
        const cu_bucket *b = &s->bk[bi];
        kiln_buffer in = {.name = NULL, .dtype = KILN_F32, .ndim = io.ndim};
        int64_t numel = 1;
        for (int d = 0; d < io.ndim; d++) {
            in.dims[d] = d == 0 ? batch : (d >= 2 && size ? size : io.dims[d]);
            numel *= in.dims[d];
        }
        float *x = malloc(sizeof(float) * (size_t)numel);
        test_fill_uniform(&rng, x, numel, -1, 1);
        in.data = x;
        if (kiln_context_run(c, 1, &in) != KILN_OK) {
            CHECK(0, "%s: CPU run: %s", source, kiln_context_errmsg(c));
            free(x);
            break;
        }
        kiln_buffer out;
        CHECK_OK(kiln_context_output(c, 0, &out));
        /* Poison what the steps must write; the bucket's padding rows are zeros. */
        for (int sp = 1; sp < CU_SP_COUNT; sp++) {
            if (sp == CU_SP_WEIGHTS || sp == CU_SP_INSTAGE || sp == CU_SP_INPUTS) continue;
            float *p = (float *)em.base[sp];
            for (size_t i = 0; i < space_size(s, sp) / 4; i++) p[i] = NAN;
        }
        memset(em.base[CU_SP_INSTAGE], 0, space_size(s, CU_SP_INSTAGE));
        memcpy(em.base[CU_SP_INSTAGE] + b->in_off[0], x, sizeof(float) * (size_t)numel);
        for (int i = 0; i < b->nsteps; i++) emu_step(&em, b, &b->steps[i]);
        int64_t on = 1;
        for (int d = 0; d < out.ndim; d++) on *= out.dims[d];
        const float *got = (const float *)(em.base[CU_SP_OUTSTAGE] + b->out_off[0]);
        double err2 = test_rel_l2(got, out.data, on);
        CHECK(err2 <= 1e-4, "%s batch %lld (bucket %lld): emulated steps vs CPU: rel L2 %.3g",
              source, (long long)batch, (long long)b->batch, err2);
        free(x);
    }
    kiln_context_destroy(c);
    for (int sp = 1; sp < CU_SP_COUNT; sp++)
        if (sp != CU_SP_WEIGHTS && sp != CU_SP_INPUTS && sp != CU_SP_INSTAGE) free(em.base[sp]);
    kiln_cpu_destroy(em.cpu);
    cu_engine_free(s);
out:
    kiln_engine_destroy(ref);
    kiln_builder_config_destroy(cfg);
    kiln_model_destroy(m);
}

/* ---- records ------------------------------------------------------------------------------- */

static void check_records(void) {
    cu_records r = {0};
    kiln_err e = {0};
    char json[300];
    for (int i = 0; i < (int)sizeof json; i++) json[i] = (char)(i * 7 + 1); /* binary, with '\n' */
    CHECK_OK(cu_records_put(&r, "conv:a", json, sizeof json, &e));
    CHECK_OK(cu_records_put(&r, "gemm:b", "gemm 0.1 1 2 3 4 5 6 7 8", 24, &e));
    CHECK_OK(cu_records_put(&r, "conv:a", "split", 5, &e)); /* replaces */
    CHECK(r.n == 2, "records: %d entries", r.n);
    int64_t bk[3] = {1, 8, 256}, got_bk[CU_MAX_BUCKETS];
    void *p;
    size_t n;
    CHECK_OK(cu_records_encode(&r, "HDR 1", bk, 3, &p, &n, &e));
    cu_records d = {0};
    int nb = 0;
    CHECK_OK(cu_records_decode(p, n, "HDR 1", &d, got_bk, &nb, &e));
    CHECK(nb == 3 && got_bk[2] == 256, "records: buckets %d", nb);
    const cu_record *a = cu_records_find(&d, "conv:a"), *g = cu_records_find(&d, "gemm:b");
    CHECK(a && a->val_len == 5 && !memcmp(a->val, "split", 5), "records: conv:a");
    CHECK(g && g->val_len == 24, "records: gemm:b");
    cu_records_free(&d);
    /* Every truncation and a corrupted length must fail cleanly. */
    int rejected = 0;
    for (size_t cut = 0; cut < n; cut++) {
        cu_records t = {0};
        kiln_err te = {0};
        if (cu_records_decode(p, cut, "HDR 1", &t, got_bk, &nb, &te) != KILN_OK) rejected++;
        cu_records_free(&t);
    }
    CHECK(rejected == (int)n, "records: %d of %zu truncations rejected", rejected, n);
    char *q = malloc(n);
    memcpy(q, p, n);
    char *k = strstr(q, "K 6 ");
    if (k) k[2] = '9';
    cu_records t = {0};
    CHECK(cu_records_decode(q, n, "HDR 1", &t, got_bk, &nb, &e) != KILN_OK, "records: bad length accepted");
    cu_records_free(&t);
    CHECK(cu_records_decode(p, n, "OTHER 1", &t, got_bk, &nb, &e) == KILN_ERR_PARSE, "records: header");
    cu_records_free(&t);
    /* The timing cache file. */
    char path[512];
    test_build_path("cuda_host_test.tcache", path, sizeof path);
    CHECK_OK(cu_tcache_save(path, &r, &e));
    cu_records l = {0};
    CHECK_OK(cu_tcache_load(path, &l, &e));
    CHECK(l.n == 2 && cu_records_find(&l, "gemm:b"), "tcache round trip");
    cu_records_free(&l);
    remove(path);
    CHECK_OK(cu_tcache_load(path, &l, &e)); /* a missing cache is an empty one */
    CHECK(l.n == 0, "missing tcache");
    free(q);
    free(p);
    cu_records_free(&r);
}

static void check_buckets(void) {
    int64_t b[CU_MAX_BUCKETS];
    int n = cu_buckets_choose(1, 8, 256, 1, b);
    CHECK(n == 3 && b[0] == 1 && b[1] == 8 && b[2] == 256, "buckets 1/8/256");
    n = cu_buckets_choose(4, 4, 4, 1, b);
    CHECK(n == 1 && b[0] == 4, "buckets 4/4/4");
    n = cu_buckets_choose(0, 0, 0, 0, b);
    CHECK(n == 1 && b[0] == 0, "no batch");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_records();
    check_buckets();
    int fallbacks = 0;
    static const struct {
        const char *name;
        int64_t size;
    } zoo[] = {{"zoo:resnet18", 32},    {"zoo:resnet50", 32},     {"zoo:googlenet", 64},
               {"zoo:densenet121", 32}, {"zoo:mobilenet_v2", 32}, {"zoo:alexnet", SIZE_DEFAULT}};
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) check_model(zoo[i].name, zoo[i].size, &fallbacks, 0);
    /* The space-to-depth stem (16-bit engines use it) through the FP32 emulator. */
    check_model("zoo:resnet18", 32, &fallbacks, 1);
    check_model("zoo:googlenet", 64, &fallbacks, 1);
    check_model("zoo:resnet50", 64, &fallbacks, 1);
    CHECK(fallbacks == 0, "zoo models: %d nodes fall back to the CPU", fallbacks);
    const char *dir = getenv("KILN_CUDA_HOST_ONNX_DIR");
    if (dir) {
        static const char *onnx[] = {"squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v3_large",
                                     "efficientnet_b0", "regnet_y_400mf", "mnasnet1_0",
                                     "googlenet", "inception_v3", "resnext50_32x4d"};
        for (size_t i = 0; i < sizeof onnx / sizeof onnx[0]; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s/opset17.onnx", dir, onnx[i]);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            fclose(f);
            int fb = 0;
            check_model(path, !strcmp(onnx[i], "inception_v3") ? 96 : 64, &fb, 0);
        }
    }
    return test_done();
}

#endif
