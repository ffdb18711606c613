/* Conv: a GEMM per (image, group) — Y_g[M/G, HW_out] = W_g[M/G, K] · col[K, HW_out] — with bias,
 * residual and activation fused into the GEMM's epilogue. 1x1 stride-1 unpadded convolutions
 * multiply the NCHW input directly; the others first unfold the input (im2col) into scratch.
 * Convolutions with one input channel per group (depthwise) go to the direct kernel in
 * cpu_conv_dw.c, where a GEMM with K = kh*kw would be mostly packing. */
#include <string.h>

#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_gemm.h"
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

/* Rows [r0, r1) of the unfolded input: row (c, kz, ky, kx), column (oz, oy, ox). */
static void im2col_rows(const kiln_window *w, const float *x, float *col, int64_t r0, int64_t r1) {
    int64_t kn = kiln_window_k_numel(w), in_plane = kiln_window_in_numel(w);
    int64_t out_plane = kiln_window_out_numel(w);
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r / kn, rem = r % kn;
        int64_t kz = rem / (w->k[1] * w->k[2]), ky = (rem / w->k[2]) % w->k[1], kx = rem % w->k[2];
        const float *xc = x + c * in_plane;
        float *dst = col + r * out_plane;
        int64_t off = kx * w->d[2] - w->pb[2], lo, hi;
        kiln__cpu_window_range(off, w->s[2], w->in[2], w->out[2], &lo, &hi);
        for (int64_t oz = 0; oz < w->out[0]; oz++) {
            int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
            for (int64_t oy = 0; oy < w->out[1]; oy++) {
                int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                float *drow = dst + (oz * w->out[1] + oy) * w->out[2];
                if (iz < 0 || iz >= w->in[0] || iy < 0 || iy >= w->in[1]) {
                    memset(drow, 0, (size_t)w->out[2] * sizeof(float));
                    continue;
                }
                const float *xrow = xc + (iz * w->in[1] + iy) * w->in[2];
                for (int64_t ox = 0; ox < lo; ox++) drow[ox] = 0;
                if (w->s[2] == 1) {
                    memcpy(drow + lo, xrow + lo + off, (size_t)(hi - lo) * sizeof(float));
                } else {
                    int64_t s = w->s[2];
                    for (int64_t ox = lo; ox < hi; ox++) drow[ox] = xrow[ox * s + off];
                }
                for (int64_t ox = hi; ox < w->out[2]; ox++) drow[ox] = 0;
            }
        }
    }
}

typedef struct im2col_job {
    const kiln_window *w;
    const float *x;
    float *col;
    int64_t rows, chunk;
} im2col_job;

static void im2col_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const im2col_job *j = arg;
    int64_t r0 = t * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
    im2col_rows(j->w, j->x, j->col, r0, r1);
}

void kiln__cpu_im2col(kiln_cpu *cpu, const kiln_window *w, const float *x, int64_t channels, float *col) {
    kiln_pool *pool = kiln_cpu_pool(cpu);
    int64_t rows = channels * kiln_window_k_numel(w);
    int64_t tasks = 4 * (int64_t)kiln_pool_size(pool);
    if (rows * kiln_window_out_numel(w) < 16384) tasks = 1; /* not worth waking threads */
    if (tasks > rows) tasks = rows;
    if (tasks < 1) return;
    im2col_job j = {w, x, col, rows, (rows + tasks - 1) / tasks};
    kiln_pool_for(pool, (rows + j.chunk - 1) / j.chunk, im2col_task, &j);
}

kiln_status kiln__cpu_conv(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
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

    if (cg == 1) return kiln__cpu_conv_depthwise(cpu, &w, batch, c_out, mg, x, wt, bias, res, &a->act, y);

    int pointwise = kiln_window_k_numel(&w) == 1;
    for (int i = 0; i < KILN_WINDOW_DIMS; i++)
        if (w.s[i] != 1 || w.pb[i] || w.pe[i]) pointwise = 0;
    float *col = NULL;
    if (!pointwise) {
        col = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_COL, (size_t)(kdim * hw_out) * sizeof(float));
        if (!col) return kiln_err_set(e, KILN_ERR_NOMEM, "Conv: out of memory for the im2col buffer");
    }
    for (int64_t img = 0; img < batch; img++) {
        for (int64_t g = 0; g < g_n; g++) {
            const float *xg = x + (img * c_in + g * cg) * hw_in;
            if (!pointwise) kiln__cpu_im2col(cpu, &w, xg, cg, col);
            int64_t yoff = (img * c_out + g * mg) * hw_out;
            kiln_gemm gm = {
                .m = mg, .n = hw_out, .k = kdim,
                .a = wt + g * mg * kdim, .a_rs = kdim, .a_cs = 1,
                .b = pointwise ? xg : col, .b_rs = hw_out, .b_cs = 1,
                .c = y + yoff, .ldc = hw_out, .alpha = 1.0f,
                .d = bias ? bias + g * mg : NULL, .d_rs = 1, .d_cs = 0, .beta = 1.0f,
                .r = res ? res + yoff : NULL, .ldr = hw_out,
                .act = a->act,
            };
            KILN_TRY(kiln_gemm_run(cpu, &gm, e));
        }
    }
    return KILN_OK;
}
