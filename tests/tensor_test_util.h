/* tensor_test_util.h — helpers shared by tests/test_cpu_tensor*.c: nodes built by hand, views
 * with owned data, and "infer then run" (shapes from the op's infer function, outputs poisoned
 * with 0xFF bytes — NaN for floats, -1 for integers — before the CPU kernel runs). */
#ifndef KILN_TENSOR_TEST_UTIL_H
#define KILN_TENSOR_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "test.h"

static int tt_ids[128] = {0}; /* node in/out ids: kernels and infer functions never read them */

static inline kiln_node tt_node(kiln_op op, int opset, int n_in, int n_out) {
    kiln_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.name = (char *)kiln_op_name(op);
    n.opset = opset;
    n.n_in = n_in;
    n.n_out = n_out;
    n.in = tt_ids;
    n.out = tt_ids;
    kiln_attr_default(op, opset ? opset : 21, &n.a);
    return n;
}

static inline kiln_view tt_view(kiln_dtype t, int ndim, const int64_t *d) {
    kiln_view v;
    memset(&v, 0, sizeof v);
    v.dtype = t;
    v.shape = kiln_shape_make(ndim, d);
    int64_t n = kiln_shape_numel(&v.shape);
    size_t bytes = (size_t)n * kiln_dtype_size(t);
    v.data = malloc(bytes ? bytes : 1);
    memset(v.data, 0xff, bytes);
    return v;
}

static inline kiln_view tt_absent(void) {
    kiln_view v;
    memset(&v, 0, sizeof v);
    v.shape.ndim = -1;
    return v;
}

/* A 1-D int64 view of the given values (k may be 0). */
static inline kiln_view tt_i64(int k, const int64_t *vals) {
    int64_t d = k;
    kiln_view v = tt_view(KILN_I64, 1, &d);
    if (k) memcpy(v.data, vals, sizeof(int64_t) * (size_t)k);
    return v;
}

static inline kiln_view tt_i32(int k, const int64_t *vals) {
    int64_t d = k;
    kiln_view v = tt_view(KILN_I32, 1, &d);
    for (int i = 0; i < k; i++) ((int32_t *)v.data)[i] = (int32_t)vals[i];
    return v;
}

static inline kiln_view tt_scalar(kiln_dtype t, double x) {
    kiln_view v = tt_view(t, 0, NULL);
    kiln_elem_set(v.data, t, 0, x);
    return v;
}

static inline void tt_free(kiln_view *v) {
    free(v->data);
    v->data = NULL;
}

static inline int64_t tt_numel(const kiln_view *v) { return kiln_shape_numel(&v->shape); }

/* Random values: floats uniform in [lo, hi); integer types take integers in [lo, hi). */
static inline void tt_fill(kiln_rng *r, kiln_view *v, double lo, double hi) {
    int64_t n = tt_numel(v);
    for (int64_t i = 0; i < n; i++) {
        double x = lo + (hi - lo) * kiln_rng_uniform(r);
        if (!kiln_dtype_is_float(v->dtype)) x = floor(x);
        if (v->dtype == KILN_BOOL) x = kiln_rng_uniform(r) < 0.5;
        kiln_elem_set(v->data, v->dtype, i, x);
    }
}

static inline int64_t tt_rand(kiln_rng *r, int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)(kiln_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Infer the outputs with the op's shape rule, allocate them poisoned, run the CPU kernel.
   Returns the first failing status (message in e); outputs are allocated only on success of
   inference (free them with tt_free). in_val of the infer call: the inputs' data. */
static inline kiln_status tt_infer_run(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                       kiln_view *out, kiln_err *e) {
    kiln_shape ish[16], osh[16];
    kiln_dtype idt[16], odt[16];
    const void *ival[16];
    for (int i = 0; i < n->n_in; i++) {
        ish[i] = in[i].shape;
        idt[i] = in[i].dtype;
        ival[i] = in[i].data;
    }
    for (int j = 0; j < n->n_out; j++) {
        memset(&osh[j], 0, sizeof osh[j]);
        osh[j].ndim = -1;
        odt[j] = KILN_DTYPE_UNDEFINED;
        out[j].data = NULL;
    }
    kiln_infer_fn f = kiln_infer_lookup((kiln_op)n->op);
    if (!f) return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "no infer function");
    kiln_infer_io io = {n, n->n_in, ish, idt, ival, n->n_out, osh, odt};
    KILN_TRY(f(&io, e));
    for (int j = 0; j < n->n_out; j++) out[j] = tt_view(odt[j], osh[j].ndim, osh[j].d);
    kiln_status s = kiln_cpu_run_node(cpu, n, in, out, e);
    if (s != KILN_OK)
        for (int j = 0; j < n->n_out; j++) tt_free(&out[j]);
    return s;
}

/* Only the infer function: fills out shapes/dtypes. */
static inline kiln_status tt_infer(const kiln_node *n, const kiln_view *in, kiln_shape *osh,
                                   kiln_dtype *odt, kiln_err *e) {
    kiln_shape ish[16];
    kiln_dtype idt[16];
    const void *ival[16];
    for (int i = 0; i < n->n_in; i++) {
        ish[i] = in[i].shape;
        idt[i] = in[i].dtype;
        ival[i] = in[i].data;
    }
    for (int j = 0; j < n->n_out; j++) {
        memset(&osh[j], 0, sizeof osh[j]);
        osh[j].ndim = -1;
        odt[j] = KILN_DTYPE_UNDEFINED;
    }
    kiln_infer_fn f = kiln_infer_lookup((kiln_op)n->op);
    if (!f) return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "no infer function");
    kiln_infer_io io = {n, n->n_in, ish, idt, ival, n->n_out, osh, odt};
    return f(&io, e);
}

/* Shape equality against a literal list. */
static inline int tt_shape_is(const kiln_shape *s, int ndim, const int64_t *d) {
    if (s->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (s->d[i] != d[i]) return 0;
    return 1;
}

/* Row-major multi-index of flat index i in shape s. */
static inline void tt_unravel(const kiln_shape *s, int64_t i, int64_t *idx) {
    for (int k = s->ndim - 1; k >= 0; k--) {
        idx[k] = s->d[k] ? i % s->d[k] : 0;
        if (s->d[k]) i /= s->d[k];
    }
}

/* Flat index into shape s (right-aligned to an index of rank r) with numpy broadcasting. */
static inline int64_t tt_bcast_index(const kiln_shape *s, int r, const int64_t *idx) {
    int64_t off = 0;
    for (int k = 0; k < s->ndim; k++) {
        int64_t d = s->d[k], j = idx[k + r - s->ndim];
        off = off * d + (d == 1 ? 0 : j);
    }
    return off;
}

/* A random shape of rank r with dims in [lo, hi]. */
static inline kiln_shape tt_rand_shape(kiln_rng *rng, int r, int64_t lo, int64_t hi) {
    kiln_shape s = kiln_shape_make(0, NULL);
    s.ndim = r;
    for (int i = 0; i < r; i++) s.d[i] = tt_rand(rng, lo, hi);
    return s;
}

/* Compare two doubles as equal, treating NaN == NaN. */
static inline int tt_same(double a, double b, double tol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= tol * (1 + fabs(b));
}

#endif
