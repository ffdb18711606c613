/* Resize (nearest, linear, cubic; every coordinate_transformation_mode; exclude_outside,
 * tf_crop_and_resize extrapolation, antialias) over any axes, following ONNX's reference
 * implementation: along each axis an output coordinate maps to x_original, and the n input
 * samples nearest to it (edge-clamped) are weighted by the mode's coefficients. Interpolation is
 * separable, so each axis gets a table of taps (index, weight) per output coordinate, built once
 * in double; the output is then a sum over the product of the axes' taps — taps of weight 0 are
 * dropped, so an axis that is not resized costs nothing. Rows (all axes but the last) are spread
 * over the threads. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_nn_ops.h"
#include "core/resize_plan.h"

typedef struct tap {
    int64_t off;  /* input element offset along the axis (index * stride) */
    float w;
} tap;

typedef struct axis_taps {
    int64_t *first; /* [out + 1]: taps of coordinate o are first[o] .. first[o+1]-1 */
    unsigned char *outside; /* [out]: tf_crop_and_resize sample outside the input */
    tap *t;
    int64_t max_n;  /* most taps of any coordinate */
} axis_taps;

static double x_original(const kiln_resize_attr *a, const kiln_resize_plan *p, int d, int64_t o) {
    double in = (double)p->in[d], out = (double)p->out[d], s = p->scale[d], x = (double)o;
    switch (a->coord) {
    case KILN_CT_ASYMMETRIC: return x / s;
    case KILN_CT_PYTORCH_HALF_PIXEL: return p->out[d] > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case KILN_CT_ALIGN_CORNERS: return p->out[d] > 1 ? x * (in - 1) / (out - 1) : 0.0;
    case KILN_CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case KILN_CT_TF_CROP_AND_RESIZE: {
        double rs = p->roi_start[d], re = p->roi_end[d];
        return p->out[d] > 1 ? rs * (in - 1) + x * (re - rs) * (in - 1) / (out - 1) : 0.5 * (rs + re) * (in - 1);
    }
    case KILN_CT_HALF_PIXEL_SYMMETRIC: {
        double adjustment = out / (s * in), offset = in / 2 * (1 - adjustment);
        return offset + (x + 0.5) / s - 0.5;
    }
    default: return (x + 0.5) / s - 0.5; /* half_pixel */
    }
}

static double cubic_w(double x, double A) {
    x = fabs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

/* Coefficients for samples x0 + first .. x0 + first + n - 1; returns n (<= cap). */
static int coeffs(const kiln_resize_attr *a, double ratio, double scale, double *c, int *first, int cap) {
    if (a->mode == KILN_RESIZE_NEAREST) {
        int right;
        if (ratio == 1.0) right = 1;
        else if (a->nearest_mode == KILN_NEAREST_ROUND_PREFER_FLOOR) right = ratio > 0.5;
        else if (a->nearest_mode == KILN_NEAREST_ROUND_PREFER_CEIL) right = ratio >= 0.5;
        else right = a->nearest_mode == KILN_NEAREST_CEIL;
        *first = right;
        c[0] = 1;
        return 1;
    }
    double s = a->antialias && scale < 1 ? scale : 1.0;
    int start = a->mode == KILN_RESIZE_LINEAR ? (int)floor(-1.0 / s) + 1 : (int)floor(-2.0 / s) + 1;
    int n = 2 - 2 * start;
    if (n > cap) n = cap;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double u = s * ((double)(start + i) - ratio);
        c[i] = a->mode == KILN_RESIZE_LINEAR ? (fabs(u) < 1 ? 1 - fabs(u) : 0) : cubic_w(u, a->cubic_coeff_a);
        sum += c[i];
    }
    if (a->antialias && sum != 0)
        for (int i = 0; i < n; i++) c[i] /= sum;
    *first = start;
    return n;
}

static int64_t max_taps(const kiln_resize_attr *a, double scale) {
    if (a->mode == KILN_RESIZE_NEAREST) return 1;
    double s = a->antialias && scale < 1 ? scale : 1.0;
    int start = a->mode == KILN_RESIZE_LINEAR ? (int)floor(-1.0 / s) + 1 : (int)floor(-2.0 / s) + 1;
    return 2 - 2 * (int64_t)start;
}

/* Taps of axis d; t has room for out * max_taps entries, c for max_taps doubles. */
static void build_axis(const kiln_resize_attr *a, const kiln_resize_plan *p, int d, int64_t stride, axis_taps *ax,
                       double *c) {
    int64_t in = p->in[d], nt = 0;
    int cap = (int)ax->max_n;
    for (int64_t o = 0; o < p->out[d]; o++) {
        ax->first[o] = nt;
        double x = x_original(a, p, d, o);
        ax->outside[o] = a->coord == KILN_CT_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1));
        if (ax->outside[o]) continue;
        double fx = floor(x), ratio = x - fx;
        int64_t x0 = (int64_t)fx;
        if (ratio == 0) { /* prefer the sample on the left: ratio in (0, 1] */
            x0 -= 1;
            ratio = 1;
        }
        int first, n = coeffs(a, ratio, p->scale[d], c, &first, cap);
        if (a->exclude_outside && a->mode != KILN_RESIZE_NEAREST) {
            double sum = 0;
            for (int i = 0; i < n; i++) {
                int64_t idx = x0 + first + i;
                if (idx < 0 || idx >= in) c[i] = 0;
                sum += c[i];
            }
            if (sum != 0)
                for (int i = 0; i < n; i++) c[i] /= sum;
        }
        int64_t base = nt;
        for (int i = 0; i < n; i++) {
            if (c[i] == 0) continue;
            int64_t idx = x0 + first + i;
            idx = idx < 0 ? 0 : (idx >= in ? in - 1 : idx);
            int64_t k = base; /* merge samples that clamp to the same index */
            while (k < nt && ax->t[k].off != idx * stride) k++;
            if (k < nt) {
                ax->t[k].w = (float)((double)ax->t[k].w + c[i]);
            } else {
                ax->t[nt].off = idx * stride;
                ax->t[nt].w = (float)c[i];
                nt++;
            }
        }
    }
    ax->first[p->out[d]] = nt;
}

typedef struct resize_job {
    const kiln_resize_plan *p;
    const axis_taps *ax;
    const float *x;
    float *y;
    float extrapolation;
    int64_t rows, chunk, combos_max;
    tap *combos; /* combos_max per thread */
} resize_job;

static void resize_rows(const resize_job *j, int64_t r0, int64_t r1, tap *cb) {
    const kiln_resize_plan *p = j->p;
    int last = p->rank - 1;
    const axis_taps *ax = &j->ax[last];
    int64_t w_out = p->out[last];
    for (int64_t r = r0; r < r1; r++) {
        /* Combine the taps of every axis but the last for this row's coordinates. */
        int64_t nc = 1, rem = r, outside = 0;
        cb[0].off = 0;
        cb[0].w = 1;
        int64_t coord[KILN_MAX_DIMS];
        for (int d = last - 1; d >= 0; d--) {
            coord[d] = rem % p->out[d];
            rem /= p->out[d];
        }
        for (int d = 0; d < last && !outside; d++) {
            const axis_taps *a = &j->ax[d];
            int64_t o = coord[d];
            if (a->outside[o]) {
                outside = 1;
                break;
            }
            int64_t f = a->first[o], n = a->first[o + 1] - f, k = 0;
            for (int64_t c = nc - 1; c >= 0; c--) /* in place, from the back */
                for (int64_t t = n - 1; t >= 0; t--) {
                    k = c * n + t;
                    cb[k].off = cb[c].off + a->t[f + t].off;
                    cb[k].w = cb[c].w * a->t[f + t].w;
                }
            nc *= n;
        }
        float *y = j->y + r * w_out;
        if (outside) {
            for (int64_t o = 0; o < w_out; o++) y[o] = j->extrapolation;
            continue;
        }
        for (int64_t o = 0; o < w_out; o++) {
            if (ax->outside[o]) {
                y[o] = j->extrapolation;
                continue;
            }
            int64_t f = ax->first[o], n = ax->first[o + 1] - f;
            float v = 0;
            for (int64_t c = 0; c < nc; c++) {
                const float *xc = j->x + cb[c].off;
                float s = 0;
                for (int64_t t = 0; t < n; t++) s += ax->t[f + t].w * xc[ax->t[f + t].off];
                v += cb[c].w * s;
            }
            y[o] = v;
        }
    }
}

static void resize_task(void *arg, int64_t t, int thread) {
    const resize_job *j = arg;
    int64_t r0 = t * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
    resize_rows(j, r0, r1, j->combos + (size_t)thread * (size_t)j->combos_max);
}

kiln_status kiln__cpu_resize(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 1, out, e));
    enum { MAXIN = 8 };
    kiln_shape shapes[MAXIN];
    kiln_dtype dts[MAXIN];
    const void *vals[MAXIN];
    int n_in = n->n_in < MAXIN ? n->n_in : MAXIN;
    for (int i = 0; i < n_in; i++) {
        shapes[i] = in[i].shape;
        dts[i] = in[i].dtype;
        vals[i] = in[i].data;
    }
    kiln_resize_plan p;
    KILN_TRY(kiln_resize_resolve(n, n_in, shapes, dts, vals, &p, e));
    const kiln_resize_attr *a = &n->a.resize;
    int r = p.rank;
    int64_t total_out = 1;
    for (int d = 0; d < r; d++) total_out *= p.out[d];
    if (total_out == 0) return KILN_OK;
    if (r == 0) {
        *(float *)out[0].data = *(const float *)in[0].data;
        return KILN_OK;
    }

    /* Layout of the scratch: per axis first[], outside[], taps; then per-thread combos. */
    int nth = kiln_pool_size(kiln_cpu_pool(cpu));
    int64_t maxn[KILN_MAX_DIMS], combos_max = 1, cmax = 1;
    size_t bytes = 0;
    for (int d = 0; d < r; d++) {
        maxn[d] = max_taps(a, p.scale[d]);
        if (maxn[d] > cmax) cmax = maxn[d];
        if (d < r - 1) combos_max *= maxn[d];
        bytes += (size_t)(p.out[d] + 1) * sizeof(int64_t) + (size_t)p.out[d] * sizeof(tap) * (size_t)maxn[d] +
                 (size_t)(p.out[d] + 15) / 8 * 8;
    }
    bytes += (size_t)cmax * sizeof(double) + (size_t)nth * (size_t)combos_max * sizeof(tap) + 64;
    char *buf = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_AUX, bytes);
    if (!buf) return kiln_err_set(e, KILN_ERR_NOMEM, "Resize: out of memory for interpolation tables");
    axis_taps ax[KILN_MAX_DIMS];
    double *c = (double *)buf;
    tap *combos = (tap *)(buf + (size_t)cmax * sizeof(double));
    char *q = (char *)(combos + (size_t)nth * (size_t)combos_max);
    int64_t stride = 1;
    for (int d = r - 1; d >= 0; d--) {
        ax[d].first = (int64_t *)q;
        q += (size_t)(p.out[d] + 1) * sizeof(int64_t);
        ax[d].t = (tap *)q;
        q += (size_t)p.out[d] * sizeof(tap) * (size_t)maxn[d];
        ax[d].outside = (unsigned char *)q;
        q += (size_t)(p.out[d] + 15) / 8 * 8;
        ax[d].max_n = maxn[d];
        build_axis(a, &p, d, stride, &ax[d], c);
        stride *= p.in[d];
    }
    resize_job j = {&p, ax, in[0].data, out[0].data, a->extrapolation_value, total_out / p.out[r - 1], 1,
                    combos_max, combos};
    j.chunk = 1 + 4096 / (p.out[r - 1] * combos_max + 1);
    kiln_pool_for(kiln_cpu_pool(cpu), (j.rows + j.chunk - 1) / j.chunk, resize_task, &j);
    return KILN_OK;
}
