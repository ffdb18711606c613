/* cpu_nn_testutil.h — helpers shared by the tests of the nn kernels (tests/test_cpu_nn*.c):
 * build a node by hand, infer its output shape with the op's rule, run its CPU kernel on
 * NaN-poisoned outputs, and compare with a double-precision reference. Header-only (each test
 * is its own executable). */
#ifndef KILN_TESTS_CPU_NN_TESTUTIL_H
#define KILN_TESTS_CPU_NN_TESTUTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/shape.h"
#include "test.h"

#define NN_MAX_IO 6

/* A node with its own id arrays: inputs 0..n_in-1 (absent ones -1), outputs n_in.. */
typedef struct nn_node {
    kiln_node n;
    int ids_in[NN_MAX_IO], ids_out[NN_MAX_IO];
} nn_node;

static inline void nn_node_init(nn_node *t, kiln_op op, int opset, int n_in, int n_out) {
    memset(t, 0, sizeof *t);
    t->n.op = op;
    t->n.name = (char *)"test";
    t->n.opset = opset;
    kiln_attr_default(op, opset, &t->n.a);
    t->n.n_in = n_in;
    t->n.n_out = n_out;
    for (int i = 0; i < NN_MAX_IO; i++) {
        t->ids_in[i] = i;
        t->ids_out[i] = NN_MAX_IO + i;
    }
    t->n.in = t->ids_in;
    t->n.out = t->ids_out;
}

static inline kiln_shape nn_shape(int ndim, const int64_t *d) {
    kiln_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s.d[i] = d[i];
    return s;
}
#define NN_SHAPE(...) nn_shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static inline kiln_view nn_absent(void) {
    kiln_view v;
    memset(&v, 0, sizeof v);
    v.shape.ndim = -1;
    return v;
}

static inline float *nn_rand(kiln_rng *r, int64_t n, float lo, float hi) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    test_fill_uniform(r, p, n, lo, hi);
    return p;
}

/* A random float32 view of shape s (data owned by the caller: free(v.data)). */
static inline kiln_view nn_rand_view(kiln_rng *r, kiln_shape s, float lo, float hi) {
    kiln_view v = {KILN_F32, s, nn_rand(r, kiln_shape_numel(&s), lo, hi)};
    return v;
}

/* Infer the outputs of t->n from its inputs' views (values known where data is set). */
static inline kiln_status nn_infer(const nn_node *t, const kiln_view *in, kiln_shape *out, kiln_dtype *odt,
                                   kiln_err *e) {
    kiln_shape ish[NN_MAX_IO];
    kiln_dtype idt[NN_MAX_IO];
    const void *ival[NN_MAX_IO];
    for (int i = 0; i < t->n.n_in; i++) {
        ish[i] = in[i].shape;
        idt[i] = in[i].shape.ndim < 0 ? KILN_DTYPE_UNDEFINED : in[i].dtype;
        ival[i] = in[i].data;
    }
    kiln_dtype dts[NN_MAX_IO];
    if (!odt) odt = dts;
    for (int j = 0; j < t->n.n_out; j++) {
        memset(&out[j], 0, sizeof out[j]);
        out[j].ndim = -1;
        odt[j] = KILN_DTYPE_UNDEFINED;
    }
    kiln_infer_fn f = kiln_infer_nn_lookup((kiln_op)t->n.op);
    if (!f) return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "no infer rule");
    kiln_infer_io io = {&t->n, t->n.n_in, ish, idt, ival, t->n.n_out, out, odt};
    return f(&io, e);
}

/* Infer, allocate NaN-poisoned outputs, run the kernel. out[j].data must be freed by the
   caller (also on failure: it is NULL then). */
static inline kiln_status nn_run(kiln_cpu *cpu, const nn_node *t, const kiln_view *in, kiln_view *out,
                                 kiln_err *e) {
    kiln_shape os[NN_MAX_IO];
    kiln_dtype odt[NN_MAX_IO];
    for (int j = 0; j < t->n.n_out; j++) out[j] = nn_absent();
    kiln_status st = nn_infer(t, in, os, odt, e);
    if (st != KILN_OK) return st;
    for (int j = 0; j < t->n.n_out; j++) {
        int64_t n = kiln_shape_numel(&os[j]);
        size_t es = odt[j] == KILN_I64 ? 8 : 4;
        out[j] = (kiln_view){odt[j], os[j], malloc((size_t)(n > 0 ? n : 1) * es)};
        if (odt[j] == KILN_F32)
            for (int64_t i = 0; i < n; i++) ((float *)out[j].data)[i] = NAN;
        else
            memset(out[j].data, 0xa5, (size_t)(n > 0 ? n : 1) * es);
    }
    kiln_cpu_kernel k = kiln_cpu_nn_lookup((kiln_op)t->n.op);
    if (!k) return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "no kernel");
    return k(cpu, &t->n, in, out, e);
}

/* Relative L2 of a float result against a double reference. */
static inline double nn_rel_l2(const float *got, const double *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && !(isinf(ref[i]) && got[i] == ref[i])) return INFINITY;
        double d = (double)got[i] - ref[i];
        if (isinf(ref[i])) d = 0;
        num += d * d;
        den += isinf(ref[i]) ? 0 : ref[i] * ref[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

static inline double nn_act_ref(const kiln_act *a, double x) {
    switch (a->type) {
    case KILN_ACT_RELU: return x > 0 ? x : 0;
    case KILN_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case KILN_ACT_LEAKY_RELU: return x < 0 ? a->alpha * x : x;
    case KILN_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KILN_ACT_HARD_SIGMOID: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : (v > 1 ? 1 : v);
    }
    case KILN_ACT_HARD_SWISH: {
        double v = x / 6 + 0.5;
        return x * (v < 0 ? 0 : (v > 1 ? 1 : v));
    }
    case KILN_ACT_SILU: return x / (1 + exp(-x));
    case KILN_ACT_TANH: return tanh(x);
    default: return x;
    }
}

/* A random fused activation (none half of the time). */
static inline kiln_act nn_rand_act(kiln_rng *r) {
    kiln_act a = {0, 0, 0};
    if (kiln_rng_uniform(r) < 0.5) return a;
    a.type = 1 + (int)(kiln_rng_next(r) % 8);
    if (a.type == KILN_ACT_CLIP) a.alpha = -0.5f, a.beta = 0.7f;
    if (a.type == KILN_ACT_LEAKY_RELU) a.alpha = 0.1f;
    if (a.type == KILN_ACT_HARD_SIGMOID) a.alpha = 0.2f, a.beta = 0.5f;
    return a;
}

static inline int64_t nn_randint(kiln_rng *r, int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(kiln_rng_next(r) % (uint64_t)(hi - lo + 1));
}

#endif
