/* Conv: a GEMM per group — Y_g[M/G, batch x HW_out] = W_g[M/G, K] · col[K, batch x HW_out], the
 * batch side by side in N (column blocks, so that a 7x7 map's 49 columns do not each leave a
 * mostly empty edge panel) — with bias, residual and activation fused into the GEMM's epilogue.
 * 1x1 stride-1 unpadded convolutions multiply the NCHW input directly; the others unfold the
 * input (im2col) inside the GEMM's packing of B (conv_pack), so the unfolded matrix never exists
 * in memory. 3x3 stride-1 convolutions go to Winograd F(2x2, 3x3) (cpu_conv_winograd.c) where it
 * pays. Convolutions with one input channel per group (depthwise) go to the direct kernel in
 * cpu_conv_dw.c, where a GEMM with K = kh*kw would be mostly packing.
 *
 * An engine prepares each Conv once (kiln__cpu_conv_prepare): the filters packed in the layout
 * the GEMM's micro-kernel reads, and Winograd's transformed filters; a run without that state
 * (kiln_cpu_run_node) packs the filters as it goes. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_nn_ops.h"

void kiln__cpu_window_range(int64_t off, int64_t s, int64_t limit, int64_t n, int64_t *lo, int64_t *hi) {
    /* o in [lo, hi) <=> 0 <= o*s + off < limit, intersected with [0, n). */
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = limit - off > 0 ? (limit - off + s - 1) / s : 0;
    if (h > n) h = n;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Implicit im2col: the GEMM asks for rows [p0, p0+kc) x columns [j0, j0+nc) of the unfolded
   input — row (c, kz, ky, kx), column (image, output position) — and gets them written straight
   into its packed panels, so no unfolded copy exists and every thread unfolds its own block. */
typedef struct conv_pack_ctx {
    const kiln_window *w;
    const float *x;     /* the group's first input channel, image 0 */
    int64_t img_stride; /* floats between images */
} conv_pack_ctx;

/* d[0 .. n) = x_row[ix] for ix = o*s + off, o in [o0, o0 + n), zero outside [lo, hi). */
static void fill_run(float *d, const float *xrow, int64_t o0, int64_t n, int64_t lo, int64_t hi, int64_t s,
                     int64_t off) {
    int64_t a = o0 > lo ? o0 : lo, b = o0 + n < hi ? o0 + n : hi;
    if (!xrow || a >= b) {
        memset(d, 0, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t o = o0; o < a; o++) d[o - o0] = 0;
    if (s == 1) {
        const float *src = xrow + off;
        for (int64_t o = a; o < b; o++) d[o - o0] = src[o];
    } else
        for (int64_t o = a; o < b; o++) d[o - o0] = xrow[o * s + off];
    for (int64_t o = b; o < o0 + n; o++) d[o - o0] = 0;
}

static void conv_pack(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst) {
    const conv_pack_ctx *cp = ctx;
    const kiln_window *w = cp->w;
    const int64_t in_plane = kiln_window_in_numel(w);
    const int64_t out1 = w->out[1], out2 = w->out[2];
    int64_t tail = (nc + nr - 1) / nr * nr - nc;
    if (tail) {
        float *last = dst + (nc / nr) * nr * kc;
        for (int64_t p = 0; p < kc; p++) memset(last + p * nr + nr - tail, 0, (size_t)tail * sizeof(float));
    }
    /* Row p0 as (c, kz, ky, kx), then stepped along: no division per row (the GEMM asks for
       one micro-panel at a time, so rows are many and short). */
    const int64_t k12 = w->k[1] * w->k[2], kn = kiln_window_k_numel(w);
    int64_t c = p0 / kn, rem = p0 % kn;
    int64_t kz = rem / k12, ky = (rem / w->k[2]) % w->k[1], kx = rem % w->k[2];
    const int64_t rows_img = w->out[0] * out1, hw_out = rows_img * out2;
    const int64_t img_start = j0 / hw_out, row_start = j0 % hw_out / out2, ox_start = j0 % out2;
    for (int64_t p = 0; p < kc; p++) {
        int64_t off = kx * w->d[2] - w->pb[2], lo, hi;
        kiln__cpu_window_range(off, w->s[2], w->in[2], out2, &lo, &hi);
        int64_t img = img_start, row = row_start, ox = ox_start, left = nc, pan = 0, col = 0;
        while (left > 0) {
            const float *xc = cp->x + img * cp->img_stride + c * in_plane;
            int64_t oz = row / out1, oy = row % out1;
            int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0], iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
            const float *xrow = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1]
                                    ? xc + (iz * w->in[1] + iy) * w->in[2] : NULL;
            int64_t end = out2 - ox < left ? out2 : ox + left;
            while (ox < end) { /* runs that stay inside one output row and one panel */
                int64_t n = end - ox < nr - col ? end - ox : nr - col;
                fill_run(dst + pan * nr * kc + p * nr + col, xrow, ox, n, lo, hi, w->s[2], off);
                ox += n, left -= n, col += n;
                if (col == nr) col = 0, pan++;
            }
            if (ox == out2) {
                ox = 0;
                if (++row == rows_img) row = 0, img++;
            }
        }
        if (++kx == w->k[2]) {
            kx = 0;
            if (++ky == w->k[1]) {
                ky = 0;
                if (++kz == w->k[0]) kz = 0, c++;
            }
        }
    }
}

/* ---- prepared state -------------------------------------------------------------------------- */

void kiln__cpu_conv_prep_free(kiln__conv_prep *p) {
    if (!p) return;
    if (p->ap)
        for (int64_t g = 0; g < p->groups; g++) kiln_gemm_apack_free(p->ap[g]);
    free(p->ap);
    kiln__wino_free(p->wino);
    free(p);
}

size_t kiln__cpu_conv_prep_bytes(const kiln__conv_prep *p) {
    if (!p) return 0;
    size_t b = kiln__wino_bytes(p->wino);
    if (p->ap)
        for (int64_t g = 0; g < p->groups; g++) b += kiln_gemm_apack_bytes(p->ap[g]);
    return b;
}

kiln_status kiln__cpu_conv_prepare(const kiln_node *n, const kiln_view *in, int threads, kiln__conv_prep **out,
                                   kiln_err *e) {
    *out = NULL;
    const kiln_conv_attr *a = &n->a.conv;
    if (n->n_in < 2 || !in[1].data || in[1].dtype != KILN_F32 || in[0].dtype != KILN_F32) return KILN_OK;
    kiln_window w;
    KILN_TRY(kiln_window_conv(a, &in[0].shape, &in[1].shape, &w, e));
    int64_t c_in = in[0].shape.d[1], c_out = in[1].shape.d[0], g_n = a->group;
    int64_t cg = c_in / g_n, mg = c_out / g_n, kdim = cg * kiln_window_k_numel(&w);
    if (cg == 1 && w.k[2] <= KILN_DW_MAX_KW) return KILN_OK; /* depthwise: the direct kernel */
    if (mg <= 0 || kdim <= 0) return KILN_OK;
    kiln__conv_prep *p = calloc(1, sizeof *p);
    if (!p) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    p->w_data = in[1].data;
    p->w_shape = in[1].shape;
    p->groups = g_n;
    p->ap = calloc((size_t)g_n, sizeof *p->ap);
    int ok = p->ap != NULL;
    const float *wt = in[1].data;
    for (int64_t g = 0; ok && g < g_n; g++) ok = (p->ap[g] = kiln_gemm_pack_a(wt + g * mg * kdim, mg, kdim, kdim, 1, threads)) != NULL;
    if (ok && kiln__wino_applies(&w, g_n)) ok = (p->wino = kiln__wino_prepare(wt, c_out, c_in, threads)) != NULL;
    if (!ok) {
        kiln__cpu_conv_prep_free(p);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory packing the filters");
    }
    *out = p;
    return KILN_OK;
}

/* ---- the kernel --------------------------------------------------------------------------------- */

kiln_status kiln__cpu_conv_run(kiln_cpu *cpu, const kiln_node *n, const kiln__conv_prep *p, const kiln_view *in,
                               kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 4, out, e));
    const kiln_conv_attr *a = &n->a.conv;
    kiln_window w;
    KILN_TRY(kiln_window_conv(a, &in[0].shape, &in[1].shape, &w, e));
    const kiln_shape *xs = &in[0].shape;
    int64_t batch = xs->d[0], c_in = xs->d[1], c_out = in[1].shape.d[0], g_n = a->group;
    int64_t cg = c_in / g_n, mg = c_out / g_n;
    int64_t hw_in = kiln_window_in_numel(&w), hw_out = kiln_window_out_numel(&w);
    int64_t kdim = cg * kiln_window_k_numel(&w);
    const float *x = in[0].data, *wt = in[1].data;
    const float *bias = kiln__cpu_has(n, in, 2) ? in[2].data : NULL;
    const float *res = a->has_residual && kiln__cpu_has(n, in, 3) ? in[3].data : NULL;
    if (a->has_residual && !res) return kiln_err_set(e, KILN_ERR_SHAPE, "Conv: the residual input is missing");
    float *y = out[0].data;
    if (batch == 0 || c_out == 0 || hw_out == 0) return KILN_OK;

    if (cg == 1 && w.k[2] <= KILN_DW_MAX_KW)
        return kiln__cpu_conv_depthwise(cpu, &w, batch, c_out, mg, x, wt, bias, res, &a->act, y);

    /* State prepared for other weights (a graph edited since) is not used. */
    if (p && (p->w_data != in[1].data || !kiln_shape_eq(&p->w_shape, &in[1].shape) || p->groups != g_n)) p = NULL;
    if (p && p->wino && kiln__wino_applies(&w, g_n) && kiln__wino_pays(p->wino, &w, batch))
        return kiln__wino_run(cpu, p->wino, &w, batch, x, bias, res, &a->act, y, e);

    int pointwise = kiln_window_k_numel(&w) == 1;
    for (int i = 0; i < KILN_WINDOW_DIMS; i++)
        if (w.s[i] != 1 || w.pb[i] || w.pe[i]) pointwise = 0;
    /* Unfold from zero-padded (phase) planes of the input: plain copies (cpu_conv_phase.c). */
    kiln__phase_plan plan;
    const float *ph = NULL;
    if (!pointwise && kiln__conv_phase_plan(&w, &plan)) {
        float *buf = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_COL, kiln__conv_phase_floats(&plan, batch * c_in) * sizeof(float));
        if (!buf) return kiln_err_set(e, KILN_ERR_NOMEM, "Conv: out of memory for the padded input");
        kiln__conv_phase_split(cpu, &plan, x, batch * c_in, w.in[1], w.in[2], buf);
        ph = buf;
    }
    const int64_t ph_chan = ph ? plan.nslot * plan.hp * plan.wp : 0;
    /* A strided 1x1 convolution reads one phase, as it is: a plain product. */
    const int ph_direct = ph && plan.kn == 1 && plan.nslot == 1 && plan.hp == w.out[1] && plan.wp == w.out[2] &&
                          plan.mt == 0 && plan.ml == 0 && plan.tap_ay[0] == 0 && plan.tap_ax[0] == 0;
    for (int64_t g = 0; g < g_n; g++) {
        /* One product over the whole batch: image i is column block i. */
        const float *xg = x + g * cg * hw_in;
        conv_pack_ctx pc = {&w, xg, c_in * hw_in};
        kiln__phase_ctx phc = {&plan, ph ? ph + g * cg * ph_chan : NULL, c_in * ph_chan};
        int64_t yoff = g * mg * hw_out;
        kiln_gemm gm = {
            .m = mg, .n = batch * hw_out, .k = kdim,
            .a = wt + g * mg * kdim, .a_rs = kdim, .a_cs = 1,
            .ap = p ? p->ap[g] : NULL,
            .b = xg, .b_rs = hw_out, .b_cs = 1,
            .b_pack = pointwise ? NULL : conv_pack, .b_ctx = &pc,
            .c = y + yoff, .ldc = hw_out, .alpha = 1.0f,
            .d = bias ? bias + g * mg : NULL, .d_rs = 1, .d_cs = 0, .beta = 1.0f,
            .r = res ? res + yoff : NULL, .ldr = hw_out,
            .act = a->act,
            .col_block = hw_out, .b_bs = c_in * hw_in, .c_bs = c_out * hw_out, .r_bs = c_out * hw_out,
        };
        if (ph_direct) {
            gm.b = phc.ph, gm.b_rs = ph_chan, gm.b_bs = c_in * ph_chan, gm.b_pack = NULL;
        } else if (ph) {
            gm.b_pack = kiln__conv_pack_phased, gm.b_ctx = &phc;
        }
        KILN_TRY(kiln_gemm_run(cpu, &gm, e));
    }
    return KILN_OK;
}

kiln_status kiln__cpu_conv(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    return kiln__cpu_conv_run(cpu, n, NULL, in, out, e);
}
