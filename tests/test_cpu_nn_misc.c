/* BatchNormalization, ScaleShift, Softmax / LogSoftmax (both the pre-13 2-D coercion and the
 * axis form, with inputs large enough to overflow a naive exp) and LRN against double
 * references; 1 and 3 threads. */
#include "cpu_nn_testutil.h"

static kiln_rng rng;

static kiln_shape rand_nc_shape(void) {
    kiln_shape s = {(int)nn_randint(&rng, 2, 5), {0}};
    for (int i = 0; i < s.ndim; i++) s.d[i] = nn_randint(&rng, 1, i < 2 ? 6 : 7);
    return s;
}

static void test_batchnorm_scale_shift(kiln_cpu *cpu) {
    for (int it = 0; it < 20; it++) {
        int is_bn = it & 1;
        kiln_shape s = rand_nc_shape();
        int64_t c = s.d[1], plane = kiln_shape_numel(&s) / (s.d[0] * c);
        nn_node t;
        nn_node_init(&t, is_bn ? KILN_OP_BATCHNORM : KILN_OP_SCALE_SHIFT, 15, is_bn ? 5 : 3, 1);
        if (is_bn) t.n.a.bn.epsilon = (float)(kiln_rng_uniform(&rng) * 1e-3);
        kiln_view in[5];
        in[0] = nn_rand_view(&rng, s, -3, 3);
        for (int i = 1; i < t.n.n_in; i++)
            in[i] = nn_rand_view(&rng, NN_SHAPE(c), is_bn && i == 4 ? 0.1f : -1, is_bn && i == 4 ? 2.0f : 1);
        kiln_view out[1];
        kiln_err e;
        CHECK_OK(nn_run(cpu, &t, in, out, &e));
        int64_t total = kiln_shape_numel(&s);
        double *ref = malloc(sizeof(double) * (size_t)total);
        const float *x = in[0].data, *p1 = in[1].data, *p2 = in[2].data;
        for (int64_t i = 0; i < total; i++) {
            int64_t ch = (i / plane) % c;
            if (is_bn) {
                const float *mean = in[3].data, *var = in[4].data;
                ref[i] = ((double)x[i] - mean[ch]) / sqrt((double)var[ch] + t.n.a.bn.epsilon) * p1[ch] + p2[ch];
            } else {
                ref[i] = (double)x[i] * p1[ch] + p2[ch];
            }
        }
        CHECK(nn_rel_l2(out[0].data, ref, total) <= 1e-5, "%s rel L2 %g", is_bn ? "BatchNorm" : "ScaleShift",
              nn_rel_l2(out[0].data, ref, total));
        for (int i = 0; i < t.n.n_in; i++) free(in[i].data);
        free(out[0].data);
        free(ref);
    }
}

static void check_softmax(kiln_cpu *cpu, kiln_shape s, int64_t axis, int opset, int is_log, float range) {
    nn_node t;
    nn_node_init(&t, is_log ? KILN_OP_LOG_SOFTMAX : KILN_OP_SOFTMAX, opset, 1, 1);
    t.n.a.axis.axis = axis;
    kiln_view in[1] = {nn_rand_view(&rng, s, -range, range)};
    kiln_view out[1];
    kiln_err e;
    CHECK_OK(nn_run(cpu, &t, in, out, &e));
    int r = s.ndim;
    int64_t ax = axis < 0 ? axis + r : axis, outer = 1, len = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= s.d[i];
    if (opset < 13) {
        for (int i = (int)ax; i < r; i++) len *= s.d[i];
    } else {
        len = s.d[ax];
        for (int i = (int)ax + 1; i < r; i++) inner *= s.d[i];
    }
    int64_t total = kiln_shape_numel(&s);
    double *ref = malloc(sizeof(double) * (size_t)total);
    const float *x = in[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double m = -INFINITY, sum = 0;
            for (int64_t l = 0; l < len; l++) m = fmax(m, x[(o * len + l) * inner + i]);
            for (int64_t l = 0; l < len; l++) sum += exp(x[(o * len + l) * inner + i] - m);
            for (int64_t l = 0; l < len; l++) {
                double v = x[(o * len + l) * inner + i] - m;
                ref[(o * len + l) * inner + i] = is_log ? v - log(sum) : exp(v) / sum;
            }
        }
    char b[64];
    double l2 = nn_rel_l2(out[0].data, ref, total);
    CHECK(l2 <= 1e-5, "%s opset %d axis %lld on %s: rel L2 %g", is_log ? "LogSoftmax" : "Softmax", opset,
          (long long)axis, kiln_shape_str(&s, b, sizeof b), l2);
    free(in[0].data);
    free(out[0].data);
    free(ref);
}

static void test_softmax(kiln_cpu *cpu) {
    for (int it = 0; it < 40; it++) {
        kiln_shape s = {(int)nn_randint(&rng, 1, 4), {0}};
        for (int i = 0; i < s.ndim; i++) s.d[i] = nn_randint(&rng, 1, 9);
        int64_t axis = nn_randint(&rng, -s.ndim, s.ndim - 1);
        check_softmax(cpu, s, axis, it % 3 == 0 ? 11 : 13, (it >> 1) & 1, it % 4 == 3 ? 80.0f : 4.0f);
    }
    check_softmax(cpu, NN_SHAPE(2, 1000), -1, 13, 0, 30);   /* a classifier's output */
    check_softmax(cpu, NN_SHAPE(2, 1000), 1, 11, 1, 30);
    check_softmax(cpu, NN_SHAPE(2, 3, 100, 5), 2, 13, 0, 10); /* strided rows */
    check_softmax(cpu, NN_SHAPE(2, 3, 4, 5), 1, 9, 0, 10);    /* legacy: 60 values per row */
}

static void test_lrn(kiln_cpu *cpu) {
    for (int it = 0; it < 12; it++) {
        kiln_shape s = rand_nc_shape();
        s.d[1] = nn_randint(&rng, 1, 9);
        nn_node t;
        nn_node_init(&t, KILN_OP_LRN, 13, 1, 1);
        kiln_lrn_attr *a = &t.n.a.lrn;
        a->size = nn_randint(&rng, 1, 6);
        a->alpha = (float)(kiln_rng_uniform(&rng) * 1e-2 + 1e-4);
        a->beta = (float)(kiln_rng_uniform(&rng) + 0.25);
        a->bias = (float)(kiln_rng_uniform(&rng) * 2 + 0.5);
        kiln_view in[1] = {nn_rand_view(&rng, s, -3, 3)};
        kiln_view out[1];
        kiln_err e;
        CHECK_OK(nn_run(cpu, &t, in, out, &e));
        int64_t c = s.d[1], plane = kiln_shape_numel(&s) / (s.d[0] * c), total = kiln_shape_numel(&s);
        double *ref = malloc(sizeof(double) * (size_t)total);
        const float *x = in[0].data;
        for (int64_t i = 0; i < total; i++) {
            int64_t ch = (i / plane) % c, base = i - ch * plane;
            int64_t lo = ch - (a->size - 1) / 2, hi = ch + a->size / 2; /* floor / ceil of (size-1)/2 */
            double sq = 0;
            for (int64_t cc = lo < 0 ? 0 : lo; cc <= (hi >= c ? c - 1 : hi); cc++)
                sq += (double)x[base + cc * plane] * x[base + cc * plane];
            ref[i] = x[i] / pow(a->bias + a->alpha / (double)a->size * sq, a->beta);
        }
        CHECK(nn_rel_l2(out[0].data, ref, total) <= 1e-5, "LRN size %lld: rel L2 %g", (long long)a->size,
              nn_rel_l2(out[0].data, ref, total));
        free(in[0].data);
        free(out[0].data);
        free(ref);
    }
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    int threads[] = {1, 3};
    for (int ti = 0; ti < 2; ti++) {
        kiln_cpu *cpu = kiln_cpu_create(threads[ti]);
        test_batchnorm_scale_shift(cpu);
        test_softmax(cpu);
        test_lrn(cpu);
        kiln_cpu_destroy(cpu);
    }
    return test_done();
}
