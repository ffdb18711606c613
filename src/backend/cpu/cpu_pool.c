/* MaxPool (with the optional Indices output), AveragePool and the global pools, over 1 to 3
 * spatial dims (normalized to 3 by nn_window). Padding never contributes a value: MaxPool treats
 * it as -inf; AveragePool divides by the taps inside the input, or with count_include_pad by the
 * taps inside the padded extent [-pad_begin, in + pad_end), so that ceil_mode windows that run
 * past the padded border are clipped there, as ONNX Runtime and PyTorch do. Planes (n, c) are
 * spread over the threads. */
#include <float.h>
#include <string.h>

#include "backend/cpu/cpu_nn_ops.h"
#include "core/nn_window.h"

/* Taps t in [0, k) with lo <= start + t*d < hi, as [*t0, *t1). */
static void tap_range(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi, int64_t *t0, int64_t *t1) {
    int64_t a = start >= lo ? 0 : (lo - start + d - 1) / d;
    int64_t b = hi - start > 0 ? (hi - start + d - 1) / d : 0;
    if (b > k) b = k;
    if (a > b) a = b;
    *t0 = a;
    *t1 = b;
}

/* Per axis and output coordinate: the window's start and its valid taps, computed once per
   call so the plane loops do no division. */
typedef struct axis_range {
    int64_t start, t0, t1; /* taps [t0, t1) fall inside the input */
    int64_t count;         /* taps counted by AveragePool's divisor */
} axis_range;

typedef struct pool_job {
    const kiln_window *w;
    const axis_range *ax[KILN_WINDOW_DIMS];
    const float *x;
    float *y;
    int64_t *idx; /* MaxPool Indices, or NULL */
    int storage_order, is_max;
    int64_t planes, chunk;
    float *rows; /* per thread: in[2] floats for the separable path */
    int nth;     /* threads of the pool */
} pool_job;

static void build_ranges(const kiln_window *w, int count_include_pad, axis_range *r[KILN_WINDOW_DIMS]) {
    for (int d = 0; d < KILN_WINDOW_DIMS; d++)
        for (int64_t o = 0; o < w->out[d]; o++) {
            axis_range *a = &r[d][o];
            a->start = o * w->s[d] - w->pb[d];
            tap_range(a->start, w->k[d], w->d[d], 0, w->in[d], &a->t0, &a->t1);
            if (count_include_pad) {
                int64_t p0, p1;
                tap_range(a->start, w->k[d], w->d[d], -w->pb[d], w->in[d] + w->pe[d], &p0, &p1);
                a->count = p1 - p0;
            } else {
                a->count = a->t1 - a->t0;
            }
        }
}

static void pool_plane(const pool_job *j, int64_t p) {
    const kiln_window *w = j->w;
    int64_t in_plane = kiln_window_in_numel(w), out_plane = kiln_window_out_numel(w);
    const float *x = j->x + p * in_plane;
    float *y = j->y + p * out_plane;
    int64_t *idx = j->idx ? j->idx + p * out_plane : NULL;
    const int64_t dz = w->d[0], dy = w->d[1], dx = w->d[2], in1 = w->in[1], in2 = w->in[2];
    int64_t o = 0;
    for (int64_t oz = 0; oz < w->out[0]; oz++) {
        const axis_range *az = &j->ax[0][oz];
        for (int64_t oy = 0; oy < w->out[1]; oy++) {
            const axis_range *ay = &j->ax[1][oy];
            for (int64_t ox = 0; ox < w->out[2]; ox++, o++) {
                const axis_range *ax = &j->ax[2][ox];
                if (j->is_max) {
                    float m = -FLT_MAX;
                    int64_t arg = -1;
                    for (int64_t tz = az->t0; tz < az->t1; tz++) {
                        int64_t iz = az->start + tz * dz;
                        for (int64_t ty = ay->t0; ty < ay->t1; ty++) {
                            int64_t iy = ay->start + ty * dy;
                            const float *row = x + (iz * in1 + iy) * in2 + ax->start;
                            if (!idx) {
                                for (int64_t tx = ax->t0; tx < ax->t1; tx++) m = row[tx * dx] > m ? row[tx * dx] : m;
                                continue;
                            }
                            for (int64_t tx = ax->t0; tx < ax->t1; tx++) {
                                if (row[tx * dx] > m || arg < 0) {
                                    int64_t ix = ax->start + tx * dx;
                                    m = row[tx * dx];
                                    arg = j->storage_order ? iz + (iy + ix * in1) * w->in[0] : (iz * in1 + iy) * in2 + ix;
                                }
                            }
                        }
                    }
                    y[o] = m;
                    if (idx) idx[o] = arg < 0 ? -1 : p * in_plane + arg;
                } else {
                    double s = 0;
                    for (int64_t tz = az->t0; tz < az->t1; tz++) {
                        int64_t iz = az->start + tz * dz;
                        for (int64_t ty = ay->t0; ty < ay->t1; ty++) {
                            const float *row = x + (iz * in1 + ay->start + ty * dy) * in2 + ax->start;
                            for (int64_t tx = ax->t0; tx < ax->t1; tx++) s += row[tx * dx];
                        }
                    }
                    int64_t cnt = az->count * ay->count * ax->count;
                    y[o] = cnt > 0 ? (float)(s / (double)cnt) : 0.0f;
                }
            }
        }
    }
}

/* Without Indices the window is separable: first combine the window's input rows into one row
   (contiguous, vectorizable), then each output takes its kx taps from that row: outputs whose
   window lies wholly inside the row tap by tap over all of them (vectorizable, strided for
   stride 2), the few at the borders one by one. Output rows [oy0, oy1) only. */
__attribute__((target_clones("avx512f", "avx2", "default"))) /* the row loops are memory-bound: wide vectors help */
static void pool_rows_separable(const pool_job *j, int64_t p, int64_t oy0, int64_t oy1, float *restrict row) {
    const kiln_window *w = j->w;
    int64_t in_plane = kiln_window_in_numel(w), out_plane = kiln_window_out_numel(w);
    const int64_t in1 = w->in[1], in2 = w->in[2], dx = w->d[2], sx = w->s[2], kx = w->k[2], out2 = w->out[2];
    const float *x = j->x + p * in_plane;
    /* Outputs [full0, full1) have every tap inside the row. */
    int64_t full0 = out2, full1 = out2;
    for (int64_t ox = 0; ox < out2; ox++)
        if (j->ax[2][ox].t0 == 0 && j->ax[2][ox].t1 == kx) {
            if (full0 == out2) full0 = ox;
            full1 = ox + 1;
        }
    for (int64_t oz = 0; oz < w->out[0]; oz++) {
        const axis_range *az = &j->ax[0][oz];
        float *y = j->y + p * out_plane + (oz * w->out[1] + oy0) * out2;
        for (int64_t oy = oy0; oy < oy1; oy++, y += out2) {
            const axis_range *ay = &j->ax[1][oy];
            /* The window's input rows, combined into `row` (three at a time: one pass). */
            const float *src[64];
            int nsrc = 0, first = 1;
            for (int64_t tz = az->t0; tz < az->t1; tz++)
                for (int64_t ty = ay->t0; ty < ay->t1; ty++) {
                    src[nsrc++] = x + ((az->start + tz * w->d[0]) * in1 + ay->start + ty * w->d[1]) * in2;
                    if (nsrc < 3 && !(tz == az->t1 - 1 && ty == ay->t1 - 1)) continue;
                    const float *restrict a = src[0], *restrict b = nsrc > 1 ? src[1] : src[0];
                    const float *restrict c = nsrc > 2 ? src[2] : b;
                    if (j->is_max) {
                        if (first) {
                            /* Blocks of a constant 64: GCC unrolls them, so the loads of a
                               block (rows fresh from memory) are in flight together; a plain
                               loop over in2 ran 3x slower on Zen 5. */
                            int64_t i = 0;
                            for (; i + 64 <= in2; i += 64)
                                for (int q = 0; q < 64; q++) {
                                    float m = a[i + q] > b[i + q] ? a[i + q] : b[i + q];
                                    row[i + q] = c[i + q] > m ? c[i + q] : m;
                                }
                            for (; i < in2; i++) {
                                float m = a[i] > b[i] ? a[i] : b[i];
                                row[i] = c[i] > m ? c[i] : m;
                            }
                        } else
                            for (int64_t i = 0; i < in2; i++) {
                                float m = a[i] > b[i] ? a[i] : b[i];
                                m = c[i] > m ? c[i] : m;
                                row[i] = m > row[i] ? m : row[i];
                            }
                    } else {
                        if (first) memset(row, 0, (size_t)in2 * sizeof(float));
                        if (nsrc == 1)
                            for (int64_t i = 0; i < in2; i++) row[i] += a[i];
                        else if (nsrc == 2)
                            for (int64_t i = 0; i < in2; i++) row[i] += a[i] + b[i];
                        else
                            for (int64_t i = 0; i < in2; i++) row[i] += a[i] + b[i] + c[i];
                    }
                    first = 0;
                    nsrc = 0;
                }
            for (int64_t ox = 0; ox < out2; ox++) {
                if (ox == full0 && !first) { /* the interior, tap by tap */
                    const float *restrict r0 = row + j->ax[2][full0].start;
                    float *restrict yo = y + full0;
                    int64_t n = full1 - full0;
                    if (sx == 1)
                        for (int64_t o = 0; o < n; o++) yo[o] = r0[o];
                    else if (sx == 2)
                        for (int64_t o = 0; o < n; o++) yo[o] = r0[2 * o];
                    else
                        for (int64_t o = 0; o < n; o++) yo[o] = r0[o * sx];
                    for (int64_t t = 1; t < kx; t++) {
                        const float *restrict rt = r0 + t * dx;
                        if (j->is_max) {
                            if (sx == 1)
                                for (int64_t o = 0; o < n; o++) yo[o] = rt[o] > yo[o] ? rt[o] : yo[o];
                            else if (sx == 2)
                                for (int64_t o = 0; o < n; o++) yo[o] = rt[2 * o] > yo[o] ? rt[2 * o] : yo[o];
                            else
                                for (int64_t o = 0; o < n; o++) yo[o] = rt[o * sx] > yo[o] ? rt[o * sx] : yo[o];
                        } else {
                            if (sx == 1)
                                for (int64_t o = 0; o < n; o++) yo[o] += rt[o];
                            else if (sx == 2)
                                for (int64_t o = 0; o < n; o++) yo[o] += rt[2 * o];
                            else
                                for (int64_t o = 0; o < n; o++) yo[o] += rt[o * sx];
                        }
                    }
                    if (!j->is_max)
                        for (int64_t o = 0; o < n; o++) {
                            int64_t cnt = az->count * ay->count * j->ax[2][full0 + o].count;
                            yo[o] = cnt > 0 ? yo[o] / (float)cnt : 0.0f;
                        }
                    ox = full1 - 1;
                    continue;
                }
                const axis_range *ax = &j->ax[2][ox];
                const float *r = row + ax->start;
                if (j->is_max) {
                    float m = -FLT_MAX;
                    if (!first)
                        for (int64_t tx = ax->t0; tx < ax->t1; tx++) m = r[tx * dx] > m ? r[tx * dx] : m;
                    y[ox] = m;
                } else {
                    float s = 0;
                    if (!first)
                        for (int64_t tx = ax->t0; tx < ax->t1; tx++) s += r[tx * dx];
                    int64_t cnt = az->count * ay->count * ax->count;
                    y[ox] = cnt > 0 ? s / (float)cnt : 0.0f;
                }
            }
        }
    }
}

static void pool_task(void *arg, int64_t t, int thread) {
    const pool_job *j = arg;
    for (int64_t p = t * j->chunk; p < (t + 1) * j->chunk && p < j->planes; p++) {
        if (j->idx) pool_plane(j, p);
        else {
            float local[1024 + 16];
            float *row = j->w->in[2] <= 1024 ? local + 16 : j->rows + (size_t)thread * (size_t)j->w->in[2];
            pool_rows_separable(j, p, 0, j->w->out[1], row);
        }
    }
}

/* Without Indices: thread t takes output rows [t, t+1) * out[1] / threads of every plane, the
   same part of the image the neighbouring convolutions give it (they split output positions),
   so it mostly reads what its own core wrote. */
static void pool_rows_task(void *arg, int64_t t, int thread) {
    const pool_job *j = arg;
    int nth = j->nth;
    int64_t h = j->w->out[1], oy0 = h * t / nth, oy1 = h * (t + 1) / nth;
    if (oy0 >= oy1) return;
    float local[1024 + 16];
    float *row = j->w->in[2] <= 1024 ? local + 16 : j->rows + (size_t)thread * (size_t)j->w->in[2];
    for (int64_t p = 0; p < j->planes; p++) pool_rows_separable(j, p, oy0, oy1, row);
}

static kiln_status run_pool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, int is_max,
                            kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 1, out, e));
    const kiln_pool_attr *a = &n->a.pool;
    kiln_window w;
    KILN_TRY(kiln_window_pool(a, &in[0].shape, &w, e));
    pool_job j = {&w, {NULL}, in[0].data, out[0].data, NULL, a->storage_order, is_max, 0, 1, NULL, 1};
    if (is_max && n->n_out > 1 && out[1].data) {
        if (out[1].dtype != KILN_I64)
            return kiln_err_set(e, KILN_ERR_DTYPE, "MaxPool: Indices output must be int64");
        j.idx = out[1].data;
    }
    int nth = kiln_pool_size(kiln_cpu_pool(cpu));
    size_t nr = (size_t)(w.out[0] + w.out[1] + w.out[2]);
    axis_range *r = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_AUX,
                                     nr * sizeof(axis_range) + (size_t)nth * (size_t)w.in[2] * sizeof(float));
    if (!r) return kiln_err_set(e, KILN_ERR_NOMEM, "%s: out of memory", kiln_op_name(n->op));
    axis_range *ax[KILN_WINDOW_DIMS] = {r, r + w.out[0], r + w.out[0] + w.out[1]};
    build_ranges(&w, a->count_include_pad, ax);
    for (int d = 0; d < KILN_WINDOW_DIMS; d++) j.ax[d] = ax[d];
    j.rows = (float *)(r + nr);
    j.planes = in[0].shape.d[0] * in[0].shape.d[1];
    int64_t work = kiln_window_out_numel(&w) * kiln_window_k_numel(&w) + 1;
    j.chunk = 1 + 16384 / work;
    j.nth = nth;
    if (!j.idx && nth > 1 && w.out[1] >= 2 * nth && j.planes * work >= 65536 * nth)
        kiln_pool_run(kiln_cpu_pool(cpu), pool_rows_task, &j);
    else
        kiln_pool_for(kiln_cpu_pool(cpu), (j.planes + j.chunk - 1) / j.chunk, pool_task, &j);
    return KILN_OK;
}

kiln_status kiln__cpu_maxpool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    return run_pool(cpu, n, in, out, 1, e);
}

kiln_status kiln__cpu_avgpool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    return run_pool(cpu, n, in, out, 0, e);
}

typedef struct gpool_job {
    const float *x;
    float *y;
    int64_t plane, planes, chunk;
    int is_max;
} gpool_job;

static void gpool_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const gpool_job *j = arg;
    for (int64_t p = t * j->chunk; p < (t + 1) * j->chunk && p < j->planes; p++) {
        const float *x = j->x + p * j->plane;
        if (j->is_max) {
            float m = j->plane ? x[0] : -FLT_MAX;
            for (int64_t i = 1; i < j->plane; i++) m = x[i] > m ? x[i] : m;
            j->y[p] = m;
        } else {
            /* Eight partial sums: vectorizable, and more accurate than one running sum. */
            float s8[8] = {0};
            int64_t i = 0;
            for (; i + 8 <= j->plane; i += 8)
                for (int l = 0; l < 8; l++) s8[l] += x[i + l];
            double s = 0;
            for (int l = 0; l < 8; l++) s += s8[l];
            for (; i < j->plane; i++) s += x[i];
            j->y[p] = j->plane ? (float)(s / (double)j->plane) : 0.0f;
        }
    }
}

kiln_status kiln__cpu_global_pool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                  kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 1, out, e));
    const kiln_shape *s = &in[0].shape;
    gpool_job j = {in[0].data, out[0].data, 1, s->d[0] * s->d[1], 1, n->op == KILN_OP_GLOBAL_MAXPOOL};
    for (int i = 2; i < s->ndim; i++) j.plane *= s->d[i];
    j.chunk = 1 + 16384 / (j.plane + 1);
    kiln_pool_for(kiln_cpu_pool(cpu), (j.planes + j.chunk - 1) / j.chunk, gpool_task, &j);
    return KILN_OK;
}
