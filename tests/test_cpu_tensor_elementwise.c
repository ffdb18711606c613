/* CPU elementwise kernels (unary, Clip, binary with broadcasting, PRelu, Equal, Min/Max, Where,
 * Cast) against double-precision references, on random shapes, through their infer functions. */
#include "tensor_test_util.h"

static kiln_rng rng;
static kiln_cpu *cpu2; /* two threads: exercises the parallel paths */

/* ---- unary ---------------------------------------------------------------------------------- */

static double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

static double unary_ref(int op, double x, double alpha, double beta) {
    switch (op) {
    case KILN_OP_RELU: return x > 0 ? x : 0;
    case KILN_OP_LEAKY_RELU: return x < 0 ? alpha * x : x;
    case KILN_OP_SIGMOID: return 1 / (1 + exp(-x));
    case KILN_OP_HARD_SIGMOID: return clamp01(alpha * x + beta);
    case KILN_OP_HARD_SWISH: return x * clamp01(x / 6 + 0.5);
    case KILN_OP_TANH: return tanh(x);
    case KILN_OP_ERF: return erf(x);
    case KILN_OP_EXP: return exp(x);
    case KILN_OP_LOG: return log(x);
    case KILN_OP_NEG: return -x;
    case KILN_OP_ABS: return fabs(x);
    case KILN_OP_SQRT: return sqrt(x);
    case KILN_OP_RECIPROCAL: return 1 / x;
    case KILN_OP_FLOOR: return floor(x);
    case KILN_OP_CEIL: return ceil(x);
    default: return NAN;
    }
}

static const int unary_ops[] = {KILN_OP_RELU, KILN_OP_LEAKY_RELU, KILN_OP_SIGMOID,
                                KILN_OP_HARD_SIGMOID, KILN_OP_HARD_SWISH, KILN_OP_TANH,
                                KILN_OP_ERF, KILN_OP_EXP, KILN_OP_LOG, KILN_OP_NEG, KILN_OP_ABS,
                                KILN_OP_SQRT, KILN_OP_RECIPROCAL, KILN_OP_FLOOR, KILN_OP_CEIL};

static double tol_of(kiln_dtype t) {
    switch (t) {
    case KILN_F16: return 2e-3;
    case KILN_BF16: return 1.6e-2;
    case KILN_F64: return 1e-12;
    default: return 2e-6;
    }
}

static void test_unary(void) {
    const kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_BF16, KILN_F64};
    int fails = 0, runs = 0;
    for (size_t oi = 0; oi < sizeof unary_ops / sizeof unary_ops[0]; oi++) {
        int op = unary_ops[oi];
        for (size_t ti = 0; ti < 4; ti++) {
            for (int rep = 0; rep < 3; rep++) {
                kiln_dtype t = types[ti];
                kiln_shape s = tt_rand_shape(&rng, (int)tt_rand(&rng, 0, 4), 0, 6);
                if (rep == 2 && t == KILN_F32) s = kiln_shape_make(2, (int64_t[]){300, 257});
                kiln_node n = tt_node(op, 17, 1, 1);
                n.a.unary.alpha = (float)(0.05 + kiln_rng_uniform(&rng));
                n.a.unary.beta = (float)(kiln_rng_uniform(&rng) - 0.5);
                kiln_view in = tt_view(t, s.ndim, s.d), out;
                int positive = op == KILN_OP_LOG || op == KILN_OP_SQRT;
                tt_fill(&rng, &in, positive ? 0.01 : -6, 6);
                if (op == KILN_OP_RECIPROCAL)
                    for (int64_t i = 0; i < tt_numel(&in); i++)
                        if (fabs(kiln_elem_get(in.data, t, i)) < 0.1) kiln_elem_set(in.data, t, i, 0.5);
                kiln_err e;
                kiln_status st = tt_infer_run(rep ? cpu2 : NULL, &n, &in, &out, &e);
                CHECK(st == KILN_OK, "%s %s: %s", kiln_op_name(op), kiln_dtype_name(t), e.msg);
                if (st != KILN_OK) {
                    tt_free(&in);
                    continue;
                }
                CHECK(kiln_shape_eq(&out.shape, &in.shape) && out.dtype == t, "%s shape/dtype",
                      kiln_op_name(op));
                for (int64_t i = 0; i < tt_numel(&in); i++) {
                    double x = kiln_elem_get(in.data, t, i);
                    double want = unary_ref(op, x, n.a.unary.alpha, n.a.unary.beta);
                    double got = kiln_elem_get(out.data, t, i);
                    if (!tt_same(got, want, tol_of(t)) && fails++ < 5)
                        CHECK(0, "%s %s x=%.9g: got %.9g want %.9g", kiln_op_name(op),
                              kiln_dtype_name(t), x, got, want);
                }
                runs++;
                tt_free(&in);
                tt_free(&out);
            }
        }
    }
    CHECK(fails == 0, "unary: %d mismatches over %d runs", fails, runs);

    /* Integer forms: Relu (opset 14), Neg, Abs exact, wrapping at the most negative value. */
    const int iops[] = {KILN_OP_RELU, KILN_OP_NEG, KILN_OP_ABS};
    const kiln_dtype itypes[] = {KILN_I32, KILN_I64, KILN_I8};
    for (int oi = 0; oi < 3; oi++)
        for (int ti = 0; ti < 3; ti++) {
            int64_t d = 50;
            kiln_view in = tt_view(itypes[ti], 1, &d), out;
            tt_fill(&rng, &in, -1000, 1000);
            if (itypes[ti] == KILN_I32) ((int32_t *)in.data)[0] = INT32_MIN;
            if (itypes[ti] == KILN_I64) ((int64_t *)in.data)[0] = INT64_MIN;
            kiln_node n = tt_node(iops[oi], 14, 1, 1);
            kiln_err e;
            CHECK_OK(tt_infer_run(NULL, &n, &in, &out, &e));
            int bad = 0;
            for (int64_t i = 0; i < d; i++) {
                int64_t x = kiln_elem_get_i64(in.data, in.dtype, i);
                int64_t got = kiln_elem_get_i64(out.data, out.dtype, i), want;
                if (i == 0 && itypes[ti] != KILN_I8 && iops[oi] != KILN_OP_RELU) want = x;
                else want = iops[oi] == KILN_OP_RELU ? (x > 0 ? x : 0)
                           : iops[oi] == KILN_OP_NEG ? -x : (x < 0 ? -x : x);
                if (itypes[ti] == KILN_I8) want = (int8_t)want;
                if (got != want) bad++;
            }
            CHECK(bad == 0, "%s on %s: %d wrong", kiln_op_name(iops[oi]),
                  kiln_dtype_name(itypes[ti]), bad);
            tt_free(&in);
            tt_free(&out);
        }
    /* Exp on int64 is not an ONNX computation: a clear error. */
    int64_t d = 3;
    kiln_view in = tt_view(KILN_I64, 1, &d), out = tt_view(KILN_I64, 1, &d);
    kiln_node n = tt_node(KILN_OP_EXP, 13, 1, 1);
    kiln_err e;
    CHECK(kiln_cpu_run_node(NULL, &n, &in, &out, &e) == KILN_ERR_UNSUPPORTED &&
              strstr(e.msg, "Exp") && strstr(e.msg, "int64"),
          "Exp int64 error: %s", e.msg);
    tt_free(&in);
    tt_free(&out);
}

/* ---- Clip, every form --------------------------------------------------------------------- */

static void check_clip(kiln_node *n, kiln_view *in, int nin, double lo, double hi,
                       const char *what) {
    kiln_view out;
    kiln_err e;
    n->n_in = nin;
    kiln_status st = tt_infer_run(cpu2, n, in, &out, &e);
    CHECK(st == KILN_OK, "clip %s: %s", what, e.msg);
    if (st != KILN_OK) return;
    int bad = 0;
    for (int64_t i = 0; i < tt_numel(&in[0]); i++) {
        double x = kiln_elem_get(in[0].data, in[0].dtype, i);
        double want = x < lo ? lo : x;
        want = want > hi ? hi : want; /* numpy.clip: min > max gives max */
        if (kiln_elem_get(out.data, out.dtype, i) != kiln_elem_get(&want, KILN_F64, 0) &&
            !(in[0].dtype == KILN_F16 &&
              fabs(kiln_elem_get(out.data, out.dtype, i) - want) < 1e-2 * (1 + fabs(want))))
            bad++;
    }
    CHECK(bad == 0, "clip %s: %d wrong", what, bad);
    tt_free(&out);
}

static void test_clip(void) {
    int64_t d[3] = {3, 5, 40};
    kiln_view x = tt_view(KILN_F32, 3, d);
    tt_fill(&rng, &x, -10, 10);
    kiln_node n = tt_node(KILN_OP_CLIP, 6, 1, 1);
    kiln_view in[3] = {x, tt_absent(), tt_absent()};
    /* Opset 6: attributes. */
    n.a.unary.has_min = 1, n.a.unary.min = -2;
    n.a.unary.has_max = 1, n.a.unary.max = 6;
    check_clip(&n, in, 1, -2, 6, "attr min/max");
    n.a.unary.has_max = 0;
    check_clip(&n, in, 1, -2, INFINITY, "attr min only");
    n.a.unary.has_min = 0, n.a.unary.has_max = 1;
    check_clip(&n, in, 1, -INFINITY, 6, "attr max only");
    n.a.unary.has_max = 0;
    check_clip(&n, in, 1, -INFINITY, INFINITY, "attr none");
    /* Opset 11+: inputs, each optional. */
    n = tt_node(KILN_OP_CLIP, 13, 3, 1);
    in[1] = tt_scalar(KILN_F32, 0);
    in[2] = tt_scalar(KILN_F32, 6);
    check_clip(&n, in, 3, 0, 6, "relu6 inputs");
    check_clip(&n, in, 2, 0, INFINITY, "min input only");
    kiln_view mx = in[2];
    in[1].shape.ndim = -1; /* absent min, present max */
    void *keep = in[1].data;
    in[1].data = NULL;
    check_clip(&n, in, 3, -INFINITY, 6, "max input only");
    in[1].data = keep;
    in[1].shape.ndim = 0;
    check_clip(&n, in, 1, -INFINITY, INFINITY, "no inputs");
    ((float *)in[1].data)[0] = 5;
    ((float *)mx.data)[0] = 1;
    check_clip(&n, in, 3, 5, 1, "min > max");
    tt_free(&in[1]);
    tt_free(&in[2]);
    /* Integer clip (opset 12) and float16. */
    kiln_view xi = tt_view(KILN_I64, 3, d);
    tt_fill(&rng, &xi, -100, 100);
    kiln_view ii[3] = {xi, tt_scalar(KILN_I64, -7), tt_scalar(KILN_I64, 9)};
    check_clip(&n, ii, 3, -7, 9, "int64");
    for (int i = 0; i < 3; i++) tt_free(&ii[i]);
    kiln_view xh = tt_view(KILN_F16, 3, d);
    tt_fill(&rng, &xh, -10, 10);
    kiln_view ih[3] = {xh, tt_scalar(KILN_F16, -1.5), tt_scalar(KILN_F16, 2.25)};
    check_clip(&n, ih, 3, -1.5, 2.25, "float16");
    for (int i = 0; i < 3; i++) tt_free(&ih[i]);
    /* A non-scalar bound is an error. */
    int64_t two = 2;
    kiln_view bad[3] = {x, tt_view(KILN_F32, 1, &two), tt_absent()};
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, bad, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "min"),
          "clip non-scalar min: %s", e.msg);
    tt_free(&bad[1]);
    tt_free(&x);
}

/* ---- binary ------------------------------------------------------------------------------- */

static int64_t ref_ipow(int64_t x, int64_t y) {
    int64_t r = 1;
    for (int64_t i = 0; i < y; i++) r *= x;
    return r;
}

/* Two shapes that broadcast: a random output shape, each input dropping leading dims and
   turning random dims into 1. */
static void rand_bcast_pair(kiln_shape *a, kiln_shape *b, int allow_zero) {
    int r = (int)tt_rand(&rng, 0, 5);
    kiln_shape o = tt_rand_shape(&rng, r, allow_zero && tt_rand(&rng, 0, 6) == 0 ? 0 : 1, 5);
    kiln_shape *s[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        int drop = (int)tt_rand(&rng, 0, r);
        if (tt_rand(&rng, 0, 1)) drop = 0;
        *s[k] = kiln_shape_make(r - drop, o.d + drop);
        for (int i = 0; i < s[k]->ndim; i++)
            if (tt_rand(&rng, 0, 3) == 0) s[k]->d[i] = 1;
    }
}

static int binary_ref(int op, kiln_dtype t, double x, double y, double *out) {
    int is_int = !kiln_dtype_is_float(t);
    switch (op) {
    case KILN_OP_ADD: *out = x + y; break;
    case KILN_OP_SUB: *out = x - y; break;
    case KILN_OP_MUL: *out = x * y; break;
    case KILN_OP_DIV:
        if (is_int) *out = y == 0 ? 0 : trunc(x / y);
        else *out = x / y;
        break;
    case KILN_OP_POW: *out = is_int ? (double)ref_ipow((int64_t)x, (int64_t)y) : pow(x, y); break;
    case KILN_OP_MIN: *out = isnan(x) || isnan(y) ? NAN : (x < y ? x : y); break;
    case KILN_OP_MAX: *out = isnan(x) || isnan(y) ? NAN : (x > y ? x : y); break;
    case KILN_OP_PRELU: *out = x < 0 ? x * y : x; break;
    case KILN_OP_EQUAL: *out = x == y; break;
    default: return 0;
    }
    return 1;
}

static void run_binary(int op, kiln_dtype t, const kiln_shape *sa, const kiln_shape *sb,
                       kiln_cpu *cpu, int *fails) {
    kiln_view in[2] = {tt_view(t, sa->ndim, sa->d), tt_view(t, sb->ndim, sb->d)}, out;
    int is_int = !kiln_dtype_is_float(t);
    if (op == KILN_OP_POW) {
        tt_fill(&rng, &in[0], is_int ? -3 : 0.1, is_int ? 4 : 3);
        tt_fill(&rng, &in[1], is_int ? 0 : -2, is_int ? 6 : 2);
    } else if (t == KILN_U8) {
        tt_fill(&rng, &in[0], 0, 16);
        tt_fill(&rng, &in[1], 0, 16);
    } else {
        tt_fill(&rng, &in[0], -20, 20);
        tt_fill(&rng, &in[1], -20, 20);
        /* Some exact ties for Equal/Min/Max, some zeros for Div. */
        for (int64_t i = 0; i < tt_numel(&in[1]) && i < tt_numel(&in[0]); i += 3)
            kiln_elem_set(in[1].data, t, i, kiln_elem_get(in[0].data, t, i));
        /* NaN in either operand must propagate (Min/Max as numpy). */
        if (t == KILN_F32 || t == KILN_F64)
            for (int k = 0; k < 2; k++)
                if (tt_numel(&in[k]) > 2 && tt_rand(&rng, 0, 2) == 0)
                    kiln_elem_set(in[k].data, t, tt_rand(&rng, 0, tt_numel(&in[k]) - 1), NAN);
        if (op == KILN_OP_DIV && !is_int)
            for (int64_t i = 0; i < tt_numel(&in[1]); i++)
                if (fabs(kiln_elem_get(in[1].data, t, i)) < 0.5) /* no overflow in float16 */
                    kiln_elem_set(in[1].data, t, i, 1.5);
    }
    kiln_node n = tt_node(op, 17, 2, 1);
    kiln_err e;
    kiln_status st = tt_infer_run(cpu, &n, in, &out, &e);
    char b1[64], b2[64];
    CHECK(st == KILN_OK, "%s %s %s,%s: %s", kiln_op_name(op), kiln_dtype_name(t),
          kiln_shape_str(sa, b1, 64), kiln_shape_str(sb, b2, 64), e.msg);
    if (st == KILN_OK) {
        kiln_shape os;
        kiln_shape_broadcast(sa, sb, &os);
        CHECK(kiln_shape_eq(&out.shape, &os), "%s output shape", kiln_op_name(op));
        CHECK(out.dtype == (op == KILN_OP_EQUAL ? KILN_BOOL : t), "%s output dtype",
              kiln_op_name(op));
        int64_t idx[KILN_MAX_DIMS];
        double tol = t == KILN_F32 ? (op == KILN_OP_POW ? 1e-5 : 1e-6) : tol_of(t);
        if (is_int) tol = 0;
        for (int64_t i = 0; i < tt_numel(&out); i++) {
            tt_unravel(&os, i, idx);
            double x = kiln_elem_get(in[0].data, t, tt_bcast_index(sa, os.ndim, idx));
            double y = kiln_elem_get(in[1].data, t, tt_bcast_index(sb, os.ndim, idx));
            double want = NAN;
            binary_ref(op, t, x, y, &want);
            if (t == KILN_U8 && op == KILN_OP_SUB) want = (uint8_t)(int64_t)want;
            if (t == KILN_U8 && op == KILN_OP_MUL) want = (uint8_t)(int64_t)want;
            double got = kiln_elem_get(out.data, out.dtype, i);
            if (!tt_same(got, want, tol) && (*fails)++ < 5)
                CHECK(0, "%s %s %s,%s at %lld: %g op %g = %.9g, want %.9g", kiln_op_name(op),
                      kiln_dtype_name(t), kiln_shape_str(sa, b1, 64), kiln_shape_str(sb, b2, 64),
                      (long long)i, x, y, got, want);
        }
        tt_free(&out);
    }
    tt_free(&in[0]);
    tt_free(&in[1]);
}

static void test_binary(void) {
    const int ops[] = {KILN_OP_ADD, KILN_OP_SUB, KILN_OP_MUL, KILN_OP_DIV, KILN_OP_POW,
                       KILN_OP_MIN, KILN_OP_MAX, KILN_OP_EQUAL};
    const kiln_dtype types[] = {KILN_F32, KILN_F64, KILN_I32, KILN_I64, KILN_F16, KILN_U8};
    /* Broadcasting corners by name, then random pairs. */
    static const struct { int ra; int64_t a[5]; int rb; int64_t b[5]; } named[] = {
        {3, {2, 3, 4}, 1, {4}},          {3, {2, 1, 4}, 2, {3, 1}},
        {0, {0}, 2, {2, 3}},             {2, {0, 3}, 2, {1, 3}},
        {3, {2, 0, 4}, 1, {4}},          {1, {1}, 3, {5, 1, 1}},
        {4, {2, 16, 7, 7}, 3, {16, 1, 1}}, {4, {2, 16, 5, 5}, 4, {2, 16, 1, 1}},
        {3, {3, 1, 5}, 3, {1, 4, 1}},    {2, {7, 9}, 2, {7, 9}},
        {1, {5}, 0, {0}},                {0, {0}, 0, {0}},
    };
    int fails = 0, runs = 0;
    for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            if (types[ti] == KILN_U8 && ops[oi] == KILN_OP_POW) continue;
            for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
                kiln_shape a = kiln_shape_make(named[k].ra, named[k].a);
                kiln_shape b = kiln_shape_make(named[k].rb, named[k].b);
                run_binary(ops[oi], types[ti], &a, &b, k & 1 ? cpu2 : NULL, &fails);
                run_binary(ops[oi], types[ti], &b, &a, NULL, &fails);
                runs += 2;
            }
            for (int rep = 0; rep < 12; rep++) {
                kiln_shape a, b;
                rand_bcast_pair(&a, &b, 1);
                run_binary(ops[oi], types[ti], &a, &b, rep & 1 ? cpu2 : NULL, &fails);
                runs++;
            }
        }
    /* Large tensors: the parallel chunking of flat, per-channel and per-(N,C) broadcasts. */
    static const struct { int ra; int64_t a[4]; int rb; int64_t b[4]; } big[] = {
        {4, {4, 64, 28, 28}, 4, {4, 64, 28, 28}},
        {4, {4, 64, 28, 28}, 3, {64, 1, 1}},
        {4, {4, 64, 28, 28}, 4, {4, 64, 1, 1}},
        {2, {1000, 333}, 1, {333}},
        {4, {3, 50, 37, 37}, 3, {50, 1, 1}},  /* rows that parallel chunks cut in the middle */
        {3, {3, 50, 1369}, 3, {3, 50, 1}},
        {3, {3, 1, 70001}, 2, {7, 1}},
    };
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        for (int op = 0; op < 3; op++) {
            kiln_shape a = kiln_shape_make(big[k].ra, big[k].a);
            kiln_shape b = kiln_shape_make(big[k].rb, big[k].b);
            run_binary(ops[op], KILN_F32, &a, &b, cpu2, &fails);
            run_binary(ops[op], KILN_F32, &b, &a, cpu2, &fails);
            runs += 2;
        }
    CHECK(fails == 0, "binary: %d mismatches over %d runs", fails, runs);

    /* Integer division truncates toward zero; x / 0 is 0; INT_MIN / -1 wraps. */
    kiln_view in[2] = {tt_i64(6, (int64_t[]){7, -7, 7, -7, 5, INT64_MIN}),
                       tt_i64(6, (int64_t[]){2, 2, -2, -2, 0, -1})},
              out;
    kiln_node n = tt_node(KILN_OP_DIV, 14, 2, 1);
    kiln_err e;
    CHECK_OK(tt_infer_run(NULL, &n, in, &out, &e));
    const int64_t want[6] = {3, -3, -3, 3, 0, INT64_MIN};
    CHECK(!memcmp(out.data, want, sizeof want), "int64 div semantics");
    tt_free(&out);
    tt_free(&in[0]);
    tt_free(&in[1]);

    /* Pow with float base and an integer exponent tensor (opset 12+), and the reverse. */
    int64_t d3 = 3;
    kiln_view pb = tt_view(KILN_F32, 1, &d3);
    float pbv[3] = {2, 1.5f, -3};
    memcpy(pb.data, pbv, sizeof pbv);
    kiln_view pe = tt_i64(3, (int64_t[]){3, 2, 2});
    kiln_view pin[2] = {pb, pe};
    n = tt_node(KILN_OP_POW, 15, 2, 1);
    CHECK_OK(tt_infer_run(NULL, &n, pin, &out, &e));
    CHECK(out.dtype == KILN_F32 && ((float *)out.data)[0] == 8 && ((float *)out.data)[1] == 2.25f &&
              ((float *)out.data)[2] == 9,
          "pow float^int64");
    tt_free(&out);
    kiln_view pin2[2] = {pe, pb};
    CHECK_OK(tt_infer_run(NULL, &n, pin2, &out, &e));
    CHECK(out.dtype == KILN_I64 && ((int64_t *)out.data)[0] == 9 &&
              ((int64_t *)out.data)[1] == 2 /* 2^1.5 = 2.83 truncated */,
          "pow int64^float");
    tt_free(&out);
    tt_free(&pb);
    tt_free(&pe);

    /* Mismatched shapes and types: messages name both. */
    kiln_shape os;
    kiln_dtype od;
    kiln_view m[2] = {tt_view(KILN_F32, 2, (int64_t[]){2, 3}), tt_view(KILN_F32, 2, (int64_t[]){4, 3})};
    n = tt_node(KILN_OP_ADD, 14, 2, 1);
    CHECK(tt_infer(&n, m, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "2x3") &&
              strstr(e.msg, "4x3"),
          "broadcast mismatch message: %s", e.msg);
    m[1].dtype = KILN_I64;
    m[1].shape = m[0].shape;
    CHECK(tt_infer(&n, m, &os, &od, &e) == KILN_ERR_DTYPE && strstr(e.msg, "float32") &&
              strstr(e.msg, "int64"),
          "dtype mismatch message: %s", e.msg);
    tt_free(&m[0]);
    tt_free(&m[1]);
}

/* ---- PRelu --------------------------------------------------------------------------------- */

static void test_prelu(void) {
    int fails = 0;
    for (int rep = 0; rep < 40; rep++) {
        int r = (int)tt_rand(&rng, 1, 4);
        kiln_shape x = tt_rand_shape(&rng, r, 1, 6);
        if (rep == 0) x = kiln_shape_make(4, (int64_t[]){2, 32, 33, 33});
        /* Slope: a suffix of X's shape with random 1s, or the [C,1,1] channel form. */
        int drop = (int)tt_rand(&rng, 0, r);
        kiln_shape s = kiln_shape_make(r - drop, x.d + drop);
        for (int i = 0; i < s.ndim; i++)
            if (tt_rand(&rng, 0, 2) == 0) s.d[i] = 1;
        if (rep == 0) s = kiln_shape_make(3, (int64_t[]){32, 1, 1});
        kiln_dtype t = rep % 3 == 2 ? KILN_F64 : KILN_F32;
        kiln_view in[2] = {tt_view(t, x.ndim, x.d), tt_view(t, s.ndim, s.d)}, out;
        tt_fill(&rng, &in[0], -5, 5);
        tt_fill(&rng, &in[1], -1, 1);
        kiln_node n = tt_node(KILN_OP_PRELU, 16, 2, 1);
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "prelu: %s", e.msg);
        if (st == KILN_OK) {
            int64_t idx[KILN_MAX_DIMS];
            for (int64_t i = 0; i < tt_numel(&out); i++) {
                tt_unravel(&x, i, idx);
                double xv = kiln_elem_get(in[0].data, t, i);
                double sv = kiln_elem_get(in[1].data, t, tt_bcast_index(&s, x.ndim, idx));
                double want = xv < 0 ? xv * sv : xv, got = kiln_elem_get(out.data, t, i);
                if (!tt_same(got, want, 1e-6)) fails++;
            }
            tt_free(&out);
        }
        tt_free(&in[0]);
        tt_free(&in[1]);
    }
    CHECK(fails == 0, "prelu: %d mismatches", fails);
    /* A slope that would grow X is refused. */
    kiln_view in[2] = {tt_view(KILN_F32, 2, (int64_t[]){1, 3}), tt_view(KILN_F32, 2, (int64_t[]){2, 3})};
    kiln_node n = tt_node(KILN_OP_PRELU, 16, 2, 1);
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "2x3"),
          "prelu slope error: %s", e.msg);
    tt_free(&in[0]);
    tt_free(&in[1]);
}

/* ---- Equal on bool, Min/Max variadic, Where ----------------------------------------------- */

static void test_variadic_where(void) {
    int fails = 0;
    for (int rep = 0; rep < 60; rep++) {
        int op = rep & 1 ? KILN_OP_MAX : KILN_OP_MIN;
        int k = (int)tt_rand(&rng, 1, 4);
        kiln_dtype t = rep % 3 == 0 ? KILN_I64 : (rep % 3 == 1 ? KILN_F32 : KILN_F16);
        kiln_shape s[4];
        rand_bcast_pair(&s[0], &s[1], 1);
        rand_bcast_pair(&s[2], &s[3], 0);
        kiln_shape o = s[0];
        /* Keep inputs 2, 3 broadcast-compatible with the rest: reuse shapes 0/1 (suffixes). */
        s[2] = s[1];
        s[3] = kiln_shape_make(0, NULL);
        for (int i = 1; i < k; i++) kiln_shape_broadcast(&o, &s[i], &o);
        kiln_view in[4], out;
        for (int i = 0; i < k; i++) {
            in[i] = tt_view(t, s[i].ndim, s[i].d);
            tt_fill(&rng, &in[i], -50, 50);
        }
        if (t == KILN_F32)
            for (int j = 0; j < k; j++)
                if (tt_numel(&in[j]) > 0 && tt_rand(&rng, 0, 1))
                    ((float *)in[j].data)[tt_rand(&rng, 0, tt_numel(&in[j]) - 1)] = NAN;
        kiln_node n = tt_node(op, 13, k, 1);
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 2 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "%s x%d: %s", kiln_op_name(op), k, e.msg);
        if (st == KILN_OK) {
            CHECK(kiln_shape_eq(&out.shape, &o), "%s shape", kiln_op_name(op));
            int64_t idx[KILN_MAX_DIMS];
            for (int64_t i = 0; i < tt_numel(&out); i++) {
                tt_unravel(&o, i, idx);
                double want = kiln_elem_get(in[0].data, t, tt_bcast_index(&s[0], o.ndim, idx));
                for (int j = 1; j < k; j++) {
                    double v = kiln_elem_get(in[j].data, t, tt_bcast_index(&s[j], o.ndim, idx));
                    binary_ref(op, t, want, v, &want);
                }
                if (!tt_same(kiln_elem_get(out.data, t, i), want, 0)) fails++;
            }
            tt_free(&out);
        }
        for (int i = 0; i < k; i++) tt_free(&in[i]);
    }
    CHECK(fails == 0, "min/max: %d mismatches", fails);

    /* Equal on bool and on int64. */
    kiln_view b[2] = {tt_view(KILN_BOOL, 1, (int64_t[]){4}), tt_view(KILN_BOOL, 0, NULL)}, out;
    memcpy(b[0].data, (uint8_t[]){0, 1, 1, 0}, 4);
    ((uint8_t *)b[1].data)[0] = 1;
    kiln_node n = tt_node(KILN_OP_EQUAL, 11, 2, 1);
    kiln_err e;
    CHECK_OK(tt_infer_run(NULL, &n, b, &out, &e));
    CHECK(out.dtype == KILN_BOOL && !memcmp(out.data, (uint8_t[]){0, 1, 1, 0}, 4), "equal bool");
    tt_free(&out);
    tt_free(&b[0]);
    tt_free(&b[1]);

    /* Where over three broadcast inputs, several element sizes. */
    const kiln_dtype wt[] = {KILN_F32, KILN_I64, KILN_U8, KILN_F16};
    fails = 0;
    for (int rep = 0; rep < 40; rep++) {
        kiln_dtype t = wt[rep % 4];
        kiln_shape sc, sx, sy, o;
        rand_bcast_pair(&sc, &sx, 1);
        sy = rep % 5 == 0 ? kiln_shape_make(0, NULL) : sx;
        if (rep % 3 == 0 && sy.ndim > 0) sy.d[sy.ndim - 1] = 1;
        kiln_shape_broadcast(&sc, &sx, &o);
        kiln_shape_broadcast(&o, &sy, &o);
        kiln_view in[3] = {tt_view(KILN_BOOL, sc.ndim, sc.d), tt_view(t, sx.ndim, sx.d),
                           tt_view(t, sy.ndim, sy.d)};
        tt_fill(&rng, &in[0], 0, 2);
        tt_fill(&rng, &in[1], 0, 100);
        tt_fill(&rng, &in[2], -100, 0);
        n = tt_node(KILN_OP_WHERE, 16, 3, 1);
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "where: %s", e.msg);
        if (st == KILN_OK) {
            CHECK(kiln_shape_eq(&out.shape, &o) && out.dtype == t, "where shape");
            int64_t idx[KILN_MAX_DIMS];
            for (int64_t i = 0; i < tt_numel(&out); i++) {
                tt_unravel(&o, i, idx);
                int c = ((uint8_t *)in[0].data)[tt_bcast_index(&sc, o.ndim, idx)] != 0;
                double want = c ? kiln_elem_get(in[1].data, t, tt_bcast_index(&sx, o.ndim, idx))
                                : kiln_elem_get(in[2].data, t, tt_bcast_index(&sy, o.ndim, idx));
                if (kiln_elem_get(out.data, t, i) != want) fails++;
            }
            tt_free(&out);
        }
        for (int i = 0; i < 3; i++) tt_free(&in[i]);
    }
    CHECK(fails == 0, "where: %d mismatches", fails);
}

/* ---- Cast ------------------------------------------------------------------------------- */

static int is_signed_int(kiln_dtype t) {
    return t == KILN_I8 || t == KILN_I16 || t == KILN_I32 || t == KILN_I64;
}

/* What Cast must produce for source value v (read from a `from` buffer) as type `to`, read back
   as double (or exactly as int64 bits in *iv for integer targets). */
static double cast_ref(kiln_dtype from, kiln_dtype to, double v, int64_t vi, int64_t *iv) {
    if (to == KILN_BOOL) return *iv = (v != 0 || isnan(v)), (double)*iv;
    if (!kiln_dtype_is_float(to)) {
        int bits = (int)kiln_dtype_size(to) * 8;
        int64_t x;
        if (!kiln_dtype_is_float(from)) {
            x = vi; /* wrap */
        } else {
            /* truncate toward zero, saturate to the type, NaN -> 0 */
            double lo = is_signed_int(to) ? -ldexp(1, bits - 1) : 0;
            double hi = is_signed_int(to) ? ldexp(1, bits - 1) - 1 : ldexp(1, bits) - 1;
            if (isnan(v)) x = 0;
            else if (trunc(v) <= lo) x = (int64_t)lo;
            else if (trunc(v) >= hi) x = bits == 64 ? (is_signed_int(to) ? INT64_MAX : -1) : (int64_t)hi;
            else x = (int64_t)trunc(v);
            if (bits == 64 && !is_signed_int(to) && trunc(v) >= hi) x = (int64_t)UINT64_MAX;
        }
        if (bits < 64) {
            uint64_t m = ((uint64_t)1 << bits) - 1, u = (uint64_t)x & m;
            if (is_signed_int(to) && (u >> (bits - 1))) u |= ~m;
            x = (int64_t)u;
        }
        *iv = x;
        return (double)x;
    }
    switch (to) {
    case KILN_F16: return kiln_f16_to_f32(kiln_f32_to_f16((float)v));
    case KILN_BF16: return kiln_bf16_to_f32(kiln_f32_to_bf16((float)v));
    case KILN_F32: return (float)v;
    default: return v;
    }
}

static int64_t read_int_bits(const void *d, kiln_dtype t, int64_t i) {
    switch (t) {
    case KILN_I8: return ((const int8_t *)d)[i];
    case KILN_U8: return ((const uint8_t *)d)[i];
    case KILN_I16: return ((const int16_t *)d)[i];
    case KILN_U16: return ((const uint16_t *)d)[i];
    case KILN_I32: return ((const int32_t *)d)[i];
    case KILN_U32: return ((const uint32_t *)d)[i];
    case KILN_I64: return ((const int64_t *)d)[i];
    case KILN_U64: return (int64_t)((const uint64_t *)d)[i];
    case KILN_BOOL: return ((const uint8_t *)d)[i];
    default: return 0;
    }
}

static void test_cast(void) {
    const kiln_dtype all[] = {KILN_F32, KILN_F64, KILN_F16, KILN_BF16, KILN_I8,  KILN_U8, KILN_I16,
                              KILN_U16, KILN_I32, KILN_U32, KILN_I64,  KILN_U64, KILN_BOOL};
    const int nt = sizeof all / sizeof all[0];
    int fails = 0, pairs = 0;
    for (int a = 0; a < nt; a++)
        for (int b = 0; b < nt; b++) {
            kiln_dtype from = all[a], to = all[b];
            int64_t d = 64;
            kiln_view in = tt_view(from, 1, &d), out;
            if (kiln_dtype_is_float(from)) {
                tt_fill(&rng, &in, -300, 300);
                kiln_elem_set(in.data, from, 0, NAN);
                kiln_elem_set(in.data, from, 1, -2.75);
                kiln_elem_set(in.data, from, 2, 2.75);
                kiln_elem_set(in.data, from, 3, from == KILN_F16 ? 60000 : 1e10);
                kiln_elem_set(in.data, from, 4, from == KILN_F16 ? -60000 : -1e10);
                kiln_elem_set(in.data, from, 5, 0);
                kiln_elem_set(in.data, from, 6, 0.25);
            } else {
                tt_fill(&rng, &in, is_signed_int(from) ? -300 : 0, 600);
                if (from == KILN_BOOL) tt_fill(&rng, &in, 0, 2);
            }
            kiln_node n = tt_node(KILN_OP_CAST, 19, 1, 1);
            n.a.cast.to = to;
            kiln_err e;
            kiln_status st = tt_infer_run(NULL, &n, &in, &out, &e);
            CHECK(st == KILN_OK, "cast %s->%s: %s", kiln_dtype_name(from), kiln_dtype_name(to),
                  e.msg);
            if (st == KILN_OK) {
                CHECK(out.dtype == to, "cast output dtype");
                for (int64_t i = 0; i < d; i++) {
                    double v = kiln_elem_get(in.data, from, i);
                    int64_t want_i = 0;
                    double want = cast_ref(from, to, v, read_int_bits(in.data, from, i), &want_i);
                    int ok;
                    if (!kiln_dtype_is_float(to)) ok = read_int_bits(out.data, to, i) == want_i;
                    else ok = tt_same(kiln_elem_get(out.data, to, i), want, 0);
                    if (!ok && fails++ < 8)
                        CHECK(0, "cast %s->%s of %.9g: got %.9g want %.9g", kiln_dtype_name(from),
                              kiln_dtype_name(to), v, kiln_elem_get(out.data, to, i), want);
                }
                tt_free(&out);
            }
            tt_free(&in);
            pairs++;
        }
    CHECK(fails == 0, "cast: %d mismatches over %d type pairs", fails, pairs);

    /* Round trips: float32 -> float16/bfloat16 -> float32 equals the converters; int64 ->
       float32 -> int64 is exact below 2^24; large arrays use the threaded path. */
    int64_t d = 100000;
    kiln_view x = tt_view(KILN_F32, 1, &d), h, back;
    tt_fill(&rng, &x, -1000, 1000);
    const kiln_dtype mids[] = {KILN_F16, KILN_BF16};
    for (int m = 0; m < 2; m++) {
        kiln_node n = tt_node(KILN_OP_CAST, 13, 1, 1);
        n.a.cast.to = mids[m];
        kiln_err e;
        CHECK_OK(tt_infer_run(cpu2, &n, &x, &h, &e));
        n.a.cast.to = KILN_F32;
        CHECK_OK(tt_infer_run(cpu2, &n, &h, &back, &e));
        int bad = 0;
        for (int64_t i = 0; i < d; i++) {
            float v = ((float *)x.data)[i];
            float want = m == 0 ? kiln_f16_to_f32(kiln_f32_to_f16(v))
                                : kiln_bf16_to_f32(kiln_f32_to_bf16(v));
            if (((float *)back.data)[i] != want) bad++;
        }
        CHECK(bad == 0, "round trip via %s: %d wrong", kiln_dtype_name(mids[m]), bad);
        tt_free(&h);
        tt_free(&back);
    }
    tt_free(&x);
    kiln_view xi = tt_view(KILN_I64, 1, &d);
    tt_fill(&rng, &xi, -16777216, 16777216);
    kiln_node n = tt_node(KILN_OP_CAST, 13, 1, 1);
    n.a.cast.to = KILN_F32;
    kiln_err e;
    CHECK_OK(tt_infer_run(cpu2, &n, &xi, &h, &e));
    n.a.cast.to = KILN_I64;
    CHECK_OK(tt_infer_run(cpu2, &n, &h, &back, &e));
    CHECK(!memcmp(back.data, xi.data, sizeof(int64_t) * (size_t)d), "int64 round trip");
    tt_free(&h);
    tt_free(&back);
    tt_free(&xi);
}

/* The float32 kernels compute kiln_act_apply's functions (the definition every backend
   shares) bit for bit, Sigmoid and Exp (own vectorizable exp) within 2 ulp, on special values
   too; float16 and bfloat16 conversions match dtype.h's bit for bit. */
static void test_shared_definitions(void) {
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 3.0f, -3.0f, 6.0f, -6.0f, 0.5f,
                                    1e-40f, -1e-40f, 1e-30f, 87.0f, 88.5f, 88.8f, 89.0f, 100.0f,
                                    -87.0f, -100.0f, -104.0f, -110.0f, 3.4e38f, -3.4e38f,
                                    INFINITY, -INFINITY, NAN};
    const int ns = sizeof special / sizeof special[0];
    int64_t d = ns + 1000;
    kiln_view x = tt_view(KILN_F32, 1, &d), y;
    memcpy(x.data, special, sizeof special);
    tt_fill(&rng, &x, -20, 20);
    memcpy(x.data, special, sizeof special);
    const struct { int op, act; } acts[] = {
        {KILN_OP_RELU, KILN_ACT_RELU}, {KILN_OP_LEAKY_RELU, KILN_ACT_LEAKY_RELU},
        {KILN_OP_CLIP, KILN_ACT_CLIP}, {KILN_OP_HARD_SIGMOID, KILN_ACT_HARD_SIGMOID},
        {KILN_OP_HARD_SWISH, KILN_ACT_HARD_SWISH}, {KILN_OP_TANH, KILN_ACT_TANH},
        {KILN_OP_SIGMOID, KILN_ACT_SIGMOID}, {KILN_OP_EXP, -1}};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        kiln_node n = tt_node(acts[k].op, 6, 1, 1);
        n.a.unary.alpha = 0.1f;
        n.a.unary.beta = 0.6f;
        n.a.unary.has_min = n.a.unary.has_max = 1;
        n.a.unary.min = -1.5f;
        n.a.unary.max = 6.0f;
        kiln_err e;
        CHECK_OK(tt_infer_run(NULL, &n, &x, &y, &e));
        kiln_act a = {acts[k].act, n.a.unary.alpha, n.a.unary.beta};
        if (acts[k].op == KILN_OP_CLIP) a.alpha = -1.5f, a.beta = 6.0f;
        int bad = 0;
        for (int64_t i = 0; i < d; i++) {
            float v = ((float *)x.data)[i], got = ((float *)y.data)[i];
            float want = acts[k].act >= 0 ? kiln_act_apply(&a, v) : expf(v);
            int ok;
            if (isnan(want) || isnan(got)) ok = isnan(want) && isnan(got);
            else if (acts[k].op == KILN_OP_SIGMOID || acts[k].op == KILN_OP_EXP)
                ok = got == want || fabsf(got - want) <= 2.5e-7f * fabsf(want) ||
                     (fabsf(want) < 1e-37f && fabsf(got - want) < 1e-44f);
            else ok = memcmp(&got, &want, 4) == 0;
            if (!ok && bad++ < 3)
                CHECK(0, "%s(%g) = %.9g, kiln_act_apply gives %.9g", kiln_op_name(acts[k].op),
                      v, got, want);
        }
        CHECK(bad == 0, "%s: %d differ from the shared definition", kiln_op_name(acts[k].op), bad);
        tt_free(&y);
    }
    tt_free(&x);

    /* Cast float32 -> float16/bfloat16 at the rounding and range boundaries, and every half
       back to float32, against dtype.h. */
    static const float edges[] = {65504.0f, 65519.99f, 65520.0f, -65520.0f, 65536.0f,
                                  6.1035156e-5f, 6.0975552e-5f, 5.9604645e-8f, 2.9802322e-8f,
                                  2.9802326e-8f, 1e-45f, 0.0f, -0.0f, 1.0009765625f,
                                  1.00048828125f, 1.00146484375f, INFINITY, -INFINITY, NAN,
                                  3.3895314e38f, -3.3961776e38f};
    int64_t ne = sizeof edges / sizeof edges[0];
    kiln_view ev = tt_view(KILN_F32, 1, &ne), h;
    memcpy(ev.data, edges, sizeof edges);
    ((uint32_t *)ev.data)[ne - 3] = 0x7fc12345u; /* a NaN with a payload */
    const kiln_dtype to[2] = {KILN_F16, KILN_BF16};
    for (int k = 0; k < 2; k++) {
        kiln_node n = tt_node(KILN_OP_CAST, 13, 1, 1);
        n.a.cast.to = to[k];
        kiln_err e;
        CHECK_OK(tt_infer_run(NULL, &n, &ev, &h, &e));
        int bad = 0;
        for (int64_t i = 0; i < ne; i++) {
            float v = ((float *)ev.data)[i];
            uint16_t want = k ? kiln_f32_to_bf16(v) : kiln_f32_to_f16(v);
            if (((uint16_t *)h.data)[i] != want && bad++ < 3)
                CHECK(0, "cast %g to %s: %04x, want %04x", v, kiln_dtype_name(to[k]),
                      ((uint16_t *)h.data)[i], want);
        }
        CHECK(bad == 0, "cast edges to %s", kiln_dtype_name(to[k]));
        tt_free(&h);
    }
    tt_free(&ev);
    int64_t all = 65536;
    kiln_view hv = tt_view(KILN_F16, 1, &all), f;
    for (int64_t i = 0; i < all; i++) ((uint16_t *)hv.data)[i] = (uint16_t)i;
    for (int k = 0; k < 2; k++) {
        hv.dtype = to[k];
        kiln_node n = tt_node(KILN_OP_CAST, 13, 1, 1);
        kiln_err e;
        CHECK_OK(tt_infer_run(cpu2, &n, &hv, &f, &e));
        int bad = 0;
        for (int64_t i = 0; i < all; i++) {
            float want = k ? kiln_bf16_to_f32((uint16_t)i) : kiln_f16_to_f32((uint16_t)i);
            if (memcmp(&((float *)f.data)[i], &want, 4)) bad++;
        }
        CHECK(bad == 0, "every %s to float32: %d differ", kiln_dtype_name(to[k]), bad);
        tt_free(&f);
    }
    tt_free(&hv);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    cpu2 = kiln_cpu_create(2);
    test_unary();
    test_clip();
    test_binary();
    test_prelu();
    test_variadic_where();
    test_cast();
    test_shared_definitions();
    kiln_cpu_destroy(cpu2);
    return test_done();
}
