/* ReduceSum / ReduceMean / ReduceMax / ReduceMin over any set of axes.
 *
 * Size-1 dimensions are dropped and neighbours with the same role (kept or reduced) merged.
 * float32 then has two fast layouts: [K] R (each output reduces one contiguous run: global
 * pooling, ReduceMean over H,W) and [K] R I (each output row accumulates R rows of I elements:
 * reducing channels). Everything else, and every other type, goes element by element with
 * double accumulators (int64 for integer types, so shape arithmetic stays exact).
 *
 * Empty reductions give ONNX's identities: 0 for sums, NaN for means of floats (0 for
 * integers), -inf / +inf (the type's limits for integers) for max / min. NaN propagates through
 * max and min, as numpy's does. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_tensor.h"
#include "core/tensor_params.h"

#define MAX_NAN(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define MIN_NAN(x, y) (((x) < (y) || (x) != (x)) ? (x) : (y))

typedef struct {
    int op;
    kiln_dtype dt;
    const void *x;
    void *y;
    /* collapsed layout */
    int ng;
    int64_t gd[KILN_MAX_DIMS];
    int64_t gst[KILN_MAX_DIMS];     /* input strides */
    unsigned char gr[KILN_MAX_DIMS]; /* 1: reduced */
    int64_t count;                   /* elements reduced into each output */
    /* fast layouts */
    int64_t outer, red, inner;
} red_ctx;

static double init_value(int op) {
    switch (op) {
    case KILN_OP_REDUCE_MAX: return -INFINITY;
    case KILN_OP_REDUCE_MIN: return INFINITY;
    default: return 0;
    }
}

/* ---- float32 fast layouts ---- */

static float reduce_run_f32(int op, const float *x, int64_t n) {
    float acc[8];
    int64_t i = 0;
    if (op == KILN_OP_REDUCE_MAX || op == KILN_OP_REDUCE_MIN) {
        int mx = op == KILN_OP_REDUCE_MAX;
        float r = x[0];
        if (n >= 8) {
            for (int j = 0; j < 8; j++) acc[j] = x[j];
            for (i = 8; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                    acc[j] = mx ? MAX_NAN(acc[j], x[i + j]) : MIN_NAN(acc[j], x[i + j]);
            r = acc[0];
            for (int j = 1; j < 8; j++) r = mx ? MAX_NAN(r, acc[j]) : MIN_NAN(r, acc[j]);
        } else
            i = 1;
        for (; i < n; i++) r = mx ? MAX_NAN(r, x[i]) : MIN_NAN(r, x[i]);
        return r;
    }
    /* Eight partial sums: vectorizes, and keeps rounding error lower than one running sum. */
    for (int j = 0; j < 8; j++) acc[j] = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    double s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    for (; i < n; i++) s += x[i];
    return op == KILN_OP_REDUCE_MEAN ? (float)(s / (double)n) : (float)s;
}

static void runs_range(void *arg, int64_t b, int64_t e) {
    const red_ctx *c = arg;
    const float *x = c->x;
    float *y = c->y;
    for (int64_t o = b; o < e; o++) y[o] = reduce_run_f32(c->op, x + o * c->red, c->red);
}

/* Items: (outer index, chunk of 256 inner elements). */
#define INNER_CHUNK 256
static void rows_range(void *arg, int64_t b, int64_t e) {
    const red_ctx *c = arg;
    int64_t nch = (c->inner + INNER_CHUNK - 1) / INNER_CHUNK;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / nch, j0 = (t % nch) * INNER_CHUNK;
        int64_t m = c->inner - j0 < INNER_CHUNK ? c->inner - j0 : INNER_CHUNK;
        const float *x = (const float *)c->x + o * c->red * c->inner + j0;
        float *y = (float *)c->y + o * c->inner + j0;
        memcpy(y, x, sizeof(float) * (size_t)m);
        for (int64_t r = 1; r < c->red; r++) {
            const float *xr = x + r * c->inner;
            switch (c->op) {
            case KILN_OP_REDUCE_MAX:
                for (int64_t j = 0; j < m; j++) y[j] = MAX_NAN(y[j], xr[j]);
                break;
            case KILN_OP_REDUCE_MIN:
                for (int64_t j = 0; j < m; j++) y[j] = MIN_NAN(y[j], xr[j]);
                break;
            default:
                for (int64_t j = 0; j < m; j++) y[j] += xr[j];
            }
        }
        if (c->op == KILN_OP_REDUCE_MEAN) {
            float inv = 1.0f / (float)c->red;
            for (int64_t j = 0; j < m; j++) y[j] *= inv;
        }
    }
}

/* ---- the general path ---- */

/* The highest (or lowest) value of integer type t: what an empty ReduceMin (Max) gives. */
static void store_limit(void *y, kiln_dtype t, int64_t o, int highest) {
    if (t == KILN_I64) kiln__store_int(y, t, o, highest ? INT64_MAX : INT64_MIN);
    else if (t == KILN_U64) kiln__store_int(y, t, o, highest ? -1 : 0);
    else kiln_elem_set(y, t, o, highest ? INFINITY : -INFINITY); /* saturates to the limit */
}

static void general_range(void *arg, int64_t b, int64_t e) {
    const red_ctx *c = arg;
    int kept[KILN_MAX_DIMS], red[KILN_MAX_DIMS], nk = 0, nr = 0;
    for (int g = 0; g < c->ng; g++) {
        if (c->gr[g]) red[nr++] = g;
        else kept[nk++] = g;
    }
    int ints = !kiln_dtype_is_float(c->dt);
    for (int64_t o = b; o < e; o++) {
        int64_t base = 0, rem = o;
        for (int k = nk - 1; k >= 0; k--) {
            base += (rem % c->gd[kept[k]]) * c->gst[kept[k]];
            rem /= c->gd[kept[k]];
        }
        double acc = init_value(c->op);
        int64_t iacc = c->op == KILN_OP_REDUCE_MAX ? INT64_MIN
                       : c->op == KILN_OP_REDUCE_MIN ? INT64_MAX : 0;
        int64_t idx[KILN_MAX_DIMS] = {0}, off = base;
        for (int64_t t = 0; t < c->count; t++) {
            if (ints) {
                int64_t v = kiln_elem_get_i64(c->x, c->dt, off);
                switch (c->op) {
                case KILN_OP_REDUCE_MAX: iacc = v > iacc ? v : iacc; break;
                case KILN_OP_REDUCE_MIN: iacc = v < iacc ? v : iacc; break;
                default: iacc = (int64_t)((uint64_t)iacc + (uint64_t)v);
                }
            } else {
                double v = kiln_elem_get(c->x, c->dt, off);
                switch (c->op) {
                case KILN_OP_REDUCE_MAX: acc = MAX_NAN(v, acc); break;
                case KILN_OP_REDUCE_MIN: acc = MIN_NAN(v, acc); break;
                default: acc += v;
                }
            }
            /* Next reduced index (odometer, last reduced dim fastest). */
            for (int k = nr - 1; k >= 0; k--) {
                int g = red[k];
                off += c->gst[g];
                if (++idx[k] < c->gd[g]) break;
                off -= idx[k] * c->gst[g];
                idx[k] = 0;
            }
        }
        if (ints) {
            if (c->op == KILN_OP_REDUCE_MEAN)
                kiln_elem_set(c->y, c->dt, o, c->count ? (double)iacc / (double)c->count : 0);
            else if (c->count == 0 && c->op != KILN_OP_REDUCE_SUM)
                store_limit(c->y, c->dt, o, c->op == KILN_OP_REDUCE_MIN);
            else
                kiln__store_int(c->y, c->dt, o, iacc);
        } else {
            if (c->op == KILN_OP_REDUCE_MEAN) acc /= (double)c->count;
            kiln_elem_set(c->y, c->dt, o, acc);
        }
    }
}

kiln_status kiln__cpu_reduce(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_check_dtype(n, in[0].dtype, 1, e));
    if (in[0].dtype == KILN_BOOL) return kiln__cpu_check_dtype(n, in[0].dtype, 0, e);
    unsigned char mask[KILN_MAX_DIMS];
    int noop;
    kiln_status st = kiln_reduce_resolve(n, n->n_in, in, mask, &noop, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "node '%s' (%s)", n->name ? n->name : "?", kiln_op_name(n->op));
        return st;
    }
    const kiln_shape *s = &in[0].shape;
    int64_t nout = kiln_shape_numel(&out[0].shape);
    size_t esz = kiln_dtype_size(in[0].dtype);
    if (noop) {
        kiln__cpu_copy(cpu, out[0].data, in[0].data, (size_t)nout * esz);
        return KILN_OK;
    }
    red_ctx c;
    memset(&c, 0, sizeof c);
    c.op = n->op;
    c.dt = in[0].dtype;
    c.x = in[0].data;
    c.y = out[0].data;
    c.count = 1;
    int64_t stride = 1, st_of[KILN_MAX_DIMS];
    for (int i = s->ndim - 1; i >= 0; i--) {
        st_of[i] = stride;
        stride *= s->d[i];
    }
    for (int i = 0; i < s->ndim; i++) {
        if (mask[i]) c.count *= s->d[i];
        if (s->d[i] == 1) continue;
        if (c.ng && c.gr[c.ng - 1] == mask[i]) {
            c.gd[c.ng - 1] *= s->d[i];
            c.gst[c.ng - 1] = st_of[i];
        } else {
            c.gd[c.ng] = s->d[i];
            c.gst[c.ng] = st_of[i];
            c.gr[c.ng] = mask[i];
            c.ng++;
        }
    }
    if (nout == 0) return KILN_OK;
    int nred = 0;
    for (int g = 0; g < c.ng; g++) nred += c.gr[g];
    if (nred == 0) {
        /* Only size-1 axes reduce: every output is its one input element. */
        kiln__cpu_copy(cpu, out[0].data, in[0].data, (size_t)nout * esz);
        return KILN_OK;
    }
    if (c.dt == KILN_F32 && c.count > 0 && nred == 1) {
        int g = 0;
        while (!c.gr[g]) g++;
        c.outer = g > 0 ? c.gd[0] : 1;
        c.red = c.gd[g];
        c.inner = g + 1 < c.ng ? c.gd[g + 1] : 1;
        if (g <= 1 && c.ng - g <= 2) {
            if (c.inner == 1) {
                int64_t grain = KILN__CPU_GRAIN / c.red > 0 ? KILN__CPU_GRAIN / c.red : 1;
                kiln__cpu_parallel(cpu, c.outer, grain, runs_range, &c);
            } else {
                int64_t nch = (c.inner + INNER_CHUNK - 1) / INNER_CHUNK;
                int64_t per = c.red * INNER_CHUNK;
                kiln__cpu_parallel(cpu, c.outer * nch, KILN__CPU_GRAIN / per > 0 ? KILN__CPU_GRAIN / per : 1,
                                   rows_range, &c);
            }
            return KILN_OK;
        }
    }
    int64_t grain = c.count > 0 && KILN__CPU_GRAIN / c.count > 0 ? KILN__CPU_GRAIN / c.count : 1;
    kiln__cpu_parallel(cpu, nout, grain, general_range, &c);
    return KILN_OK;
}
