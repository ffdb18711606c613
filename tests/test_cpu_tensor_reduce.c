/* CPU ReduceSum/Mean/Max/Min against a double-precision reference: random shapes and axis
 * sets, keepdims, every opset form of the axes (attribute, input, absent, empty, with and
 * without noop_with_empty_axes), negative axes, empty tensors, several element types. */
#include "tensor_test_util.h"

static kiln_rng rng;
static kiln_cpu *cpu2;

static const int ops[4] = {KILN_OP_REDUCE_SUM, KILN_OP_REDUCE_MEAN, KILN_OP_REDUCE_MAX,
                           KILN_OP_REDUCE_MIN};

/* Reference over the input: for output element o (indexed over kept dims) reduce every input
   element whose kept coordinates match. */
static void reference(int op, const kiln_view *x, const unsigned char *mask, double *ref,
                      double *absum, int64_t nout) {
    int r = x->shape.ndim;
    int64_t cnt = 1;
    for (int i = 0; i < r; i++)
        if (mask[i]) cnt *= x->shape.d[i];
    for (int64_t o = 0; o < nout; o++) {
        ref[o] = op == KILN_OP_REDUCE_MAX ? -INFINITY : (op == KILN_OP_REDUCE_MIN ? INFINITY : 0);
        absum[o] = 0;
    }
    int ints = !kiln_dtype_is_float(x->dtype);
    int64_t idx[KILN_MAX_DIMS];
    for (int64_t i = 0; i < tt_numel(x); i++) {
        tt_unravel(&x->shape, i, idx);
        int64_t o = 0;
        for (int k = 0; k < r; k++)
            if (!mask[k]) o = o * x->shape.d[k] + idx[k];
        double v = kiln_elem_get(x->data, x->dtype, i);
        absum[o] += fabs(v);
        switch (op) {
        case KILN_OP_REDUCE_MAX: ref[o] = isnan(v) || isnan(ref[o]) ? NAN : (v > ref[o] ? v : ref[o]); break;
        case KILN_OP_REDUCE_MIN: ref[o] = isnan(v) || isnan(ref[o]) ? NAN : (v < ref[o] ? v : ref[o]); break;
        default: ref[o] += v;
        }
    }
    if (op == KILN_OP_REDUCE_MEAN)
        for (int64_t o = 0; o < nout; o++) {
            ref[o] = cnt ? ref[o] / (double)cnt : (ints ? 0 : NAN);
            if (ints) ref[o] = trunc(ref[o]);
        }
    if (ints && cnt == 0 && op == KILN_OP_REDUCE_MAX)
        for (int64_t o = 0; o < nout; o++) ref[o] = x->dtype == KILN_I32 ? INT32_MIN : (double)INT64_MIN;
    if (ints && cnt == 0 && op == KILN_OP_REDUCE_MIN)
        for (int64_t o = 0; o < nout; o++) ref[o] = x->dtype == KILN_I32 ? INT32_MAX : (double)INT64_MAX;
}

static void test_reduce_random(void) {
    const kiln_dtype types[] = {KILN_F32, KILN_F32, KILN_F64, KILN_F16, KILN_I64, KILN_I32};
    int fails = 0, runs = 0;
    for (int rep = 0; rep < 400; rep++) {
        int op = ops[rep % 4];
        int r = (int)tt_rand(&rng, 0, 5);
        kiln_shape s = tt_rand_shape(&rng, r, rep % 13 == 0 ? 0 : 1, 6);
        kiln_dtype t = types[(rep / 4) % 6];
        /* CNN layouts on large float32 tensors: global pooling, channel, batch, mixed. */
        static const int64_t big[4][4] = {{4, 64, 28, 28}, {4, 64, 28, 28}, {4, 64, 28, 28}, {2, 3, 300, 301}};
        static const unsigned char bigm[4][4] = {{0, 0, 1, 1}, {0, 1, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 1}};
        int is_big = rep < 16;
        if (is_big) r = 4, s = kiln_shape_make(4, big[(rep / 4) % 4]), t = KILN_F32;
        unsigned char mask[KILN_MAX_DIMS] = {0};
        int64_t axes[KILN_MAX_DIMS];
        int na = 0;
        for (int i = 0; i < r; i++) {
            int on = is_big ? bigm[(rep / 4) % 4][i] : (int)tt_rand(&rng, 0, 1);
            if (on) {
                mask[i] = 1;
                axes[na++] = tt_rand(&rng, 0, 1) ? i - r : i;
            }
        }
        /* Shuffle the axes order. */
        for (int i = na - 1; i > 0; i--) {
            int j = (int)tt_rand(&rng, 0, i);
            int64_t tmp = axes[i];
            axes[i] = axes[j];
            axes[j] = tmp;
        }
        /* Forms: 0 attribute (old opsets), 1 axes input (ReduceSum 13, others 18), 2 no axes,
           3 empty axes input; 2 and 3 take noop_with_empty_axes randomly. */
        int form = (int)tt_rand(&rng, 0, 3);
        if (is_big) form = (int)tt_rand(&rng, 0, 1);
        int noop = 0;
        int opset = form == 0 ? (op == KILN_OP_REDUCE_SUM ? 11 : 13) : (op == KILN_OP_REDUCE_SUM ? 13 : 18);
        kiln_node n = tt_node(op, opset, form == 0 || form == 2 ? 1 : 2, 1);
        n.a.axes.keepdims = (int)tt_rand(&rng, 0, 1);
        kiln_view in[2] = {tt_view(t, s.ndim, s.d), tt_absent()};
        tt_fill(&rng, &in[0], -10, 10);
        if ((t == KILN_F32 || t == KILN_F64) && rep % 7 == 3 && tt_numel(&in[0]) > 0)
            kiln_elem_set(in[0].data, t, tt_rand(&rng, 0, tt_numel(&in[0]) - 1), NAN);
        if (form == 0) {
            n.a.axes.has_axes = na > 0;
            n.a.axes.naxes = na;
            memcpy(n.a.axes.axes, axes, sizeof axes);
            if (na == 0) memset(mask, 1, sizeof mask);
        } else if (form == 1) {
            in[1] = tt_i64(na, axes);
            if (na == 0) memset(mask, 1, sizeof mask);
        } else {
            if (form == 3) in[1] = tt_i64(0, NULL);
            noop = (int)tt_rand(&rng, 0, 1);
            n.a.axes.noop_with_empty_axes = noop;
            memset(mask, noop ? 0 : 1, sizeof mask);
        }
        kiln_view out;
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        char b[96];
        CHECK(st == KILN_OK, "%s form %d on %s: %s", kiln_op_name(op), form,
              kiln_shape_str(&s, b, sizeof b), e.msg);
        if (st == KILN_OK) {
            kiln_shape os = kiln_shape_make(0, NULL);
            for (int i = 0; i < r; i++) {
                if (!mask[i]) os.d[os.ndim++] = s.d[i];
                else if (n.a.axes.keepdims) os.d[os.ndim++] = 1;
            }
            CHECK(kiln_shape_eq(&out.shape, &os) && out.dtype == t, "%s form %d shape",
                  kiln_op_name(op), form);
            int64_t nout = tt_numel(&out);
            double *ref = malloc(sizeof(double) * (size_t)(nout + 1));
            double *abs = malloc(sizeof(double) * (size_t)(nout + 1));
            reference(op, &in[0], mask, ref, abs, nout);
            double rtol = t == KILN_F16 ? 1e-3 : 1e-6;
            for (int64_t o = 0; o < nout; o++) {
                double got = kiln_elem_get(out.data, t, o);
                int ok;
                if (isnan(ref[o]) || isinf(ref[o])) ok = tt_same(got, ref[o], 0);
                else ok = fabs(got - ref[o]) <= rtol * fabs(ref[o]) + 1e-6 * abs[o] + 1e-12;
                if (!ok) {
                    if (fails++ < 6)
                        CHECK(0, "%s %s form %d keepdims %d on %s at %lld: got %.9g want %.9g",
                              kiln_op_name(op), kiln_dtype_name(t), form, n.a.axes.keepdims,
                              kiln_shape_str(&s, b, sizeof b), (long long)o, got, ref[o]);
                    break;
                }
            }
            free(ref);
            free(abs);
            tt_free(&out);
        }
        runs++;
        tt_free(&in[0]);
        tt_free(&in[1]);
    }
    CHECK(fails == 0, "reduce: %d wrong of %d", fails, runs);
}

static void test_reduce_errors(void) {
    kiln_view in[2] = {tt_view(KILN_F32, 2, (int64_t[]){3, 4}), tt_i64(2, (int64_t[]){1, -1})};
    kiln_node n = tt_node(KILN_OP_REDUCE_MEAN, 18, 2, 1);
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "twice"),
          "duplicate reduce axis: %s", e.msg);
    tt_free(&in[1]);
    in[1] = tt_i64(1, (int64_t[]){2});
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "out of range"),
          "reduce axis 2 of rank 2: %s", e.msg);
    tt_free(&in[1]);
    in[1] = tt_view(KILN_I64, 1, (int64_t[]){1});
    free(in[1].data);
    in[1].data = NULL;
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_UNSUPPORTED && strstr(e.msg, "axes input"),
          "unknown axes: %s", e.msg);
    tt_free(&in[0]);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    cpu2 = kiln_cpu_create(2);
    test_reduce_random();
    test_reduce_errors();
    kiln_cpu_destroy(cpu2);
    return test_done();
}
