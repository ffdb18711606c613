/* CPU and shape rules of Reshape, Flatten, Squeeze, Unsqueeze (attribute and input forms),
 * Expand, Identity, Dropout, Shape, ConstantOfShape: output shapes, copied values, int64 shape
 * arithmetic, and the error messages of bad requests. */
#include "tensor_test_util.h"

static kiln_rng rng;
static kiln_cpu *cpu2;

static int same_data(const kiln_view *a, const kiln_view *b) {
    int64_t n = tt_numel(a);
    return n == tt_numel(b) && a->dtype == b->dtype &&
           !memcmp(a->data, b->data, (size_t)n * kiln_dtype_size(a->dtype));
}

/* Run and check the output shape and that the data came through unchanged. */
static void check_copy(kiln_node *n, kiln_view *in, int ndim, const int64_t *want,
                       const char *what) {
    kiln_view out[2];
    kiln_err e;
    kiln_status st = tt_infer_run(cpu2, n, in, out, &e);
    CHECK(st == KILN_OK, "%s: %s", what, e.msg);
    if (st != KILN_OK) return;
    char b[96];
    CHECK(tt_shape_is(&out[0].shape, ndim, want), "%s: shape %s", what,
          kiln_shape_str(&out[0].shape, b, sizeof b));
    CHECK(same_data(&out[0], &in[0]), "%s: data", what);
    for (int j = 0; j < n->n_out; j++) tt_free(&out[j]);
}

static void expect_err(kiln_node *n, kiln_view *in, kiln_status st, const char *needle,
                       const char *what) {
    kiln_shape os[2];
    kiln_dtype od[2];
    kiln_err e;
    kiln_err_clear(&e);
    kiln_status got = tt_infer(n, in, os, od, &e);
    CHECK(got == st && strstr(e.msg, needle), "%s: got '%s' (%s), want '%s'", what, e.msg,
          kiln_status_str(got), needle);
}

static void test_reshape(void) {
    kiln_view x = tt_view(KILN_F32, 3, (int64_t[]){2, 3, 4});
    tt_fill(&rng, &x, -1, 1);
    kiln_node n = tt_node(KILN_OP_RESHAPE, 14, 2, 1);
    kiln_view in[2] = {x, tt_i64(2, (int64_t[]){0, -1})};
    check_copy(&n, in, 2, (int64_t[]){2, 12}, "reshape 0,-1");
    tt_free(&in[1]);
    in[1] = tt_i64(4, (int64_t[]){-1, 2, 1, 2});
    check_copy(&n, in, 4, (int64_t[]){6, 2, 1, 2}, "reshape -1 first");
    tt_free(&in[1]);
    in[1] = tt_i64(3, (int64_t[]){0, 0, 0});
    check_copy(&n, in, 3, (int64_t[]){2, 3, 4}, "reshape all copy");
    tt_free(&in[1]);
    in[1] = tt_i64(0, NULL);
    kiln_view one = tt_view(KILN_F32, 3, (int64_t[]){1, 1, 1});
    kiln_view in1[2] = {one, in[1]};
    check_copy(&n, in1, 0, NULL, "reshape to scalar");
    tt_free(&one);
    tt_free(&in[1]);
    /* allowzero (opset 14): 0 is a real zero. */
    kiln_view empty = tt_view(KILN_F32, 2, (int64_t[]){0, 5});
    n.a.reshape.allowzero = 1;
    kiln_view ez[2] = {empty, tt_i64(3, (int64_t[]){5, 0, 1})};
    check_copy(&n, ez, 3, (int64_t[]){5, 0, 1}, "reshape allowzero");
    tt_free(&ez[1]);
    ez[1] = tt_i64(2, (int64_t[]){0, -1});
    expect_err(&n, ez, KILN_ERR_SHAPE, "both 0 and -1", "allowzero with 0 and -1");
    tt_free(&ez[1]);
    tt_free(&empty);
    n.a.reshape.allowzero = 0;
    /* int32 shape input. */
    in[1] = tt_i32(2, (int64_t[]){4, 6});
    check_copy(&n, in, 2, (int64_t[]){4, 6}, "reshape int32 shape");
    tt_free(&in[1]);
    /* Errors. */
    kiln_view six = tt_view(KILN_F32, 2, (int64_t[]){2, 3});
    kiln_view bad[2] = {six, tt_i64(1, (int64_t[]){4})};
    expect_err(&n, bad, KILN_ERR_SHAPE, "cannot reshape 2x3 (6 elements) to 4", "6 to 4");
    tt_free(&bad[1]);
    bad[1] = tt_i64(2, (int64_t[]){-1, 4});
    expect_err(&n, bad, KILN_ERR_SHAPE, "cannot reshape 2x3", "6 to -1x4");
    tt_free(&bad[1]);
    bad[1] = tt_i64(2, (int64_t[]){-1, -1});
    expect_err(&n, bad, KILN_ERR_SHAPE, "more than one -1", "two -1");
    tt_free(&bad[1]);
    bad[1] = tt_i64(3, (int64_t[]){0, 0, 0});
    expect_err(&n, bad, KILN_ERR_SHAPE, "rank 2", "copy of a missing dim");
    tt_free(&bad[1]);
    bad[1] = tt_view(KILN_I64, 1, (int64_t[]){2});
    free(bad[1].data);
    bad[1].data = NULL; /* present, value unknown */
    expect_err(&n, bad, KILN_ERR_UNSUPPORTED,
               "shape input is not a constant and could not be computed before running",
               "unknown shape value");
    bad[1] = tt_view(KILN_F32, 1, (int64_t[]){2});
    expect_err(&n, bad, KILN_ERR_DTYPE, "int64", "float shape input");
    tt_free(&bad[1]);
    tt_free(&six);
    /* Same buffer in and out: nothing to copy, nothing breaks. */
    kiln_view o = x;
    o.shape = kiln_shape_make(1, (int64_t[]){24});
    kiln_view rin[2] = {x, tt_i64(1, (int64_t[]){24})};
    kiln_err e;
    CHECK_OK(kiln_cpu_run_node(NULL, &n, rin, &o, &e));
    tt_free(&rin[1]);
    tt_free(&x);
}

static void test_flatten(void) {
    kiln_view x = tt_view(KILN_I64, 4, (int64_t[]){2, 3, 4, 5});
    tt_fill(&rng, &x, -100, 100);
    const struct { int64_t axis, a, b; } cases[] = {{0, 1, 120}, {1, 2, 60}, {2, 6, 20},
                                                   {4, 120, 1}, {-1, 24, 5}, {-4, 1, 120}};
    for (int i = 0; i < 6; i++) {
        kiln_node n = tt_node(KILN_OP_FLATTEN, 13, 1, 1);
        n.a.axis.axis = cases[i].axis;
        check_copy(&n, &x, 2, (int64_t[]){cases[i].a, cases[i].b}, "flatten");
    }
    kiln_node n = tt_node(KILN_OP_FLATTEN, 13, 1, 1);
    n.a.axis.axis = 5;
    expect_err(&n, &x, KILN_ERR_SHAPE, "axis 5", "flatten axis 5");
    tt_free(&x);
}

static void test_squeeze_unsqueeze(void) {
    kiln_view x = tt_view(KILN_F32, 5, (int64_t[]){1, 3, 1, 4, 1});
    tt_fill(&rng, &x, -1, 1);
    /* Opset 11: attribute; opset 13: input; no axes: every size-1 dim. */
    kiln_node n = tt_node(KILN_OP_SQUEEZE, 11, 1, 1);
    n.a.axes.has_axes = 1, n.a.axes.naxes = 2, n.a.axes.axes[0] = 0, n.a.axes.axes[1] = -1;
    check_copy(&n, &x, 3, (int64_t[]){3, 1, 4}, "squeeze attr");
    n = tt_node(KILN_OP_SQUEEZE, 11, 1, 1);
    check_copy(&n, &x, 2, (int64_t[]){3, 4}, "squeeze all (opset 11)");
    n = tt_node(KILN_OP_SQUEEZE, 13, 2, 1);
    kiln_view in[2] = {x, tt_i64(1, (int64_t[]){-3})};
    check_copy(&n, in, 4, (int64_t[]){1, 3, 4, 1}, "squeeze input");
    tt_free(&in[1]);
    in[1] = tt_absent();
    check_copy(&n, in, 2, (int64_t[]){3, 4}, "squeeze absent axes input");
    n.n_in = 1;
    check_copy(&n, in, 2, (int64_t[]){3, 4}, "squeeze one input (opset 13)");
    n.n_in = 2;
    in[1] = tt_i64(1, (int64_t[]){1});
    expect_err(&n, in, KILN_ERR_SHAPE, "cannot squeeze axis 1 of size 3", "squeeze size 3");
    tt_free(&in[1]);
    in[1] = tt_i64(1, (int64_t[]){5});
    expect_err(&n, in, KILN_ERR_SHAPE, "out of range", "squeeze axis 5");
    tt_free(&in[1]);

    kiln_view y = tt_view(KILN_F32, 2, (int64_t[]){3, 4});
    tt_fill(&rng, &y, -1, 1);
    n = tt_node(KILN_OP_UNSQUEEZE, 11, 1, 1);
    n.a.axes.has_axes = 1, n.a.axes.naxes = 2, n.a.axes.axes[0] = 0, n.a.axes.axes[1] = -1;
    check_copy(&n, &y, 4, (int64_t[]){1, 3, 4, 1}, "unsqueeze attr, negative axis");
    n = tt_node(KILN_OP_UNSQUEEZE, 13, 2, 1);
    kiln_view u[2] = {y, tt_i64(3, (int64_t[]){4, 1, 0})};
    check_copy(&n, u, 5, (int64_t[]){1, 1, 3, 4, 1}, "unsqueeze input, unordered");
    tt_free(&u[1]);
    u[1] = tt_i64(2, (int64_t[]){1, -3});
    expect_err(&n, u, KILN_ERR_SHAPE, "twice", "unsqueeze duplicate axis");
    tt_free(&u[1]);
    u[1] = tt_i64(1, (int64_t[]){4});
    expect_err(&n, u, KILN_ERR_SHAPE, "out of range", "unsqueeze axis 4 of rank 3");
    tt_free(&u[1]);
    kiln_view sc = tt_scalar(KILN_I64, 7);
    u[0] = sc;
    u[1] = tt_i64(1, (int64_t[]){0});
    check_copy(&n, u, 1, (int64_t[]){1}, "unsqueeze scalar");
    tt_free(&u[1]);
    tt_free(&sc);
    tt_free(&x);
    tt_free(&y);
}

static void test_expand(void) {
    int fails = 0;
    for (int rep = 0; rep < 80; rep++) {
        /* Bidirectional: the shape may have 1s where the input is larger, and more dims. */
        int r = (int)tt_rand(&rng, 0, 4);
        kiln_shape o = tt_rand_shape(&rng, r, rep % 11 == 0 ? 0 : 1, 5);
        if (rep == 0) r = 4, o = kiln_shape_make(4, (int64_t[]){8, 64, 32, 32});
        kiln_shape xs = o, ts = o;
        int drop = (int)tt_rand(&rng, 0, r);
        xs = kiln_shape_make(r - drop, o.d + drop);
        for (int i = 0; i < xs.ndim; i++)
            if (tt_rand(&rng, 0, 1)) xs.d[i] = 1;
        for (int i = 0; i < r; i++) {
            int xi = i - (r - xs.ndim);
            if (xi >= 0 && xs.d[xi] == o.d[i] && tt_rand(&rng, 0, 2) == 0) ts.d[i] = 1;
        }
        kiln_dtype t = rep % 3 == 0 ? KILN_I64 : (rep % 3 == 1 ? KILN_F32 : KILN_U8);
        kiln_view in[2] = {tt_view(t, xs.ndim, xs.d), tt_i64(ts.ndim, ts.d)}, out;
        tt_fill(&rng, &in[0], 0, 100);
        kiln_node n = tt_node(KILN_OP_EXPAND, 13, 2, 1);
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "expand: %s", e.msg);
        if (st == KILN_OK) {
            CHECK(kiln_shape_eq(&out.shape, &o), "expand shape");
            int64_t idx[KILN_MAX_DIMS];
            for (int64_t i = 0; i < tt_numel(&out); i++) {
                tt_unravel(&o, i, idx);
                if (kiln_elem_get(out.data, t, i) !=
                    kiln_elem_get(in[0].data, t, tt_bcast_index(&xs, o.ndim, idx))) {
                    fails++;
                    break;
                }
            }
            tt_free(&out);
        }
        tt_free(&in[0]);
        tt_free(&in[1]);
    }
    CHECK(fails == 0, "expand: %d wrong", fails);
    kiln_view in[2] = {tt_view(KILN_F32, 2, (int64_t[]){3, 4}), tt_i64(2, (int64_t[]){2, 4})};
    kiln_node n = tt_node(KILN_OP_EXPAND, 13, 2, 1);
    expect_err(&n, in, KILN_ERR_SHAPE, "cannot expand 3x4 to 2x4", "expand mismatch");
    tt_free(&in[0]);
    tt_free(&in[1]);
}

static void test_identity_dropout_shape(void) {
    kiln_view x = tt_view(KILN_F32, 3, (int64_t[]){2, 50, 300});
    tt_fill(&rng, &x, -1, 1);
    kiln_node n = tt_node(KILN_OP_IDENTITY, 16, 1, 1);
    check_copy(&n, &x, 3, x.shape.d, "identity");
    /* Dropout with its mask: bool from opset 10 (all true), X's type before. */
    for (int opset = 7; opset <= 13; opset += 6) {
        n = tt_node(KILN_OP_DROPOUT, opset, 1, 2);
        kiln_view out[2];
        kiln_err e;
        CHECK_OK(tt_infer_run(cpu2, &n, &x, out, &e));
        CHECK(same_data(&out[0], &x), "dropout-%d data", opset);
        kiln_dtype mt = opset >= 10 ? KILN_BOOL : KILN_F32;
        int ok = out[1].dtype == mt && kiln_shape_eq(&out[1].shape, &x.shape);
        for (int64_t i = 0; ok && i < tt_numel(&x); i++) ok = kiln_elem_get(out[1].data, mt, i) == 1;
        CHECK(ok, "dropout-%d mask", opset);
        tt_free(&out[0]);
        tt_free(&out[1]);
    }
    /* Opset 12 ratio/training_mode inputs: inference mode copies; training mode refuses. */
    n = tt_node(KILN_OP_DROPOUT, 13, 3, 1);
    kiln_view din[3] = {x, tt_scalar(KILN_F32, 0.3), tt_scalar(KILN_BOOL, 0)};
    check_copy(&n, din, 3, x.shape.d, "dropout training_mode false");
    ((uint8_t *)din[2].data)[0] = 1;
    kiln_view out[1];
    kiln_err e;
    CHECK(tt_infer_run(NULL, &n, din, out, &e) == KILN_ERR_UNSUPPORTED && strstr(e.msg, "training"),
          "dropout training: %s", e.msg);
    tt_free(&din[1]);
    tt_free(&din[2]);

    /* Shape with start/end (opset 15), negative and out-of-range ones clamp. */
    kiln_view s4 = tt_view(KILN_F32, 4, (int64_t[]){8, 3, 224, 225});
    const struct { int64_t s, e; int n; int64_t v[4]; } cs[] = {
        {0, INT64_MAX, 4, {8, 3, 224, 225}}, {1, INT64_MAX, 3, {3, 224, 225}},
        {-2, INT64_MAX, 2, {224, 225}},      {0, -1, 3, {8, 3, 224}},
        {-10, 10, 4, {8, 3, 224, 225}},      {3, 1, 0, {0}},
        {2, 3, 1, {224}},
    };
    for (int i = 0; i < 7; i++) {
        n = tt_node(KILN_OP_SHAPE, 15, 1, 1);
        n.a.shape.start = cs[i].s;
        n.a.shape.end = cs[i].e;
        CHECK_OK(tt_infer_run(NULL, &n, &s4, out, &e));
        CHECK(out[0].dtype == KILN_I64 && out[0].shape.ndim == 1 && out[0].shape.d[0] == cs[i].n &&
                  !memcmp(out[0].data, cs[i].v, sizeof(int64_t) * (size_t)cs[i].n),
              "shape start %lld end %lld", (long long)cs[i].s, (long long)cs[i].e);
        tt_free(&out[0]);
    }
    tt_free(&s4);

    /* ConstantOfShape: value type and shape from the input; an empty shape gives a scalar. */
    const kiln_dtype ct[] = {KILN_F32, KILN_I64, KILN_I32, KILN_F16, KILN_BOOL, KILN_U8};
    for (int i = 0; i < 6; i++) {
        n = tt_node(KILN_OP_CONSTANT_OF_SHAPE, 20, 1, 1);
        n.a.cos.dtype = ct[i];
        n.a.cos.value = ct[i] == KILN_BOOL ? 1 : 3;
        kiln_view shp = tt_i64(3, (int64_t[]){2, 1, 300});
        CHECK_OK(tt_infer_run(cpu2, &n, &shp, out, &e));
        int ok = out[0].dtype == ct[i] && tt_shape_is(&out[0].shape, 3, (int64_t[]){2, 1, 300});
        for (int64_t j = 0; ok && j < 600; j++) ok = kiln_elem_get(out[0].data, ct[i], j) == n.a.cos.value;
        CHECK(ok, "constant of shape %s", kiln_dtype_name(ct[i]));
        tt_free(&out[0]);
        tt_free(&shp);
    }
    n = tt_node(KILN_OP_CONSTANT_OF_SHAPE, 9, 1, 1);
    kiln_view shp = tt_i64(0, NULL);
    CHECK_OK(tt_infer_run(NULL, &n, &shp, out, &e));
    CHECK(out[0].shape.ndim == 0 && out[0].dtype == KILN_F32 && ((float *)out[0].data)[0] == 0,
          "constant of empty shape");
    tt_free(&out[0]);
    tt_free(&shp);
    shp = tt_i64(2, (int64_t[]){2, -1});
    expect_err(&n, &shp, KILN_ERR_SHAPE, "negative", "constant of shape -1");
    tt_free(&shp);
    tt_free(&x);
}

/* Shape arithmetic on int64 the way exporters write it: Shape -> Gather -> Mul/Div/Sub ->
   Concat, each step through the kernels. */
static void test_shape_arithmetic(void) {
    kiln_view x = tt_view(KILN_F32, 4, (int64_t[]){6, 32, 14, 15});
    kiln_view s, g, out;
    kiln_err e;
    kiln_node n = tt_node(KILN_OP_SHAPE, 13, 1, 1);
    CHECK_OK(tt_infer_run(NULL, &n, &x, &s, &e));
    kiln_view gin[2] = {s, tt_i64(2, (int64_t[]){2, 3})};
    n = tt_node(KILN_OP_GATHER, 13, 2, 1);
    CHECK_OK(tt_infer_run(NULL, &n, gin, &g, &e)); /* [14, 15] */
    kiln_view two = tt_i64(1, (int64_t[]){2});
    kiln_view din[2] = {g, two};
    n = tt_node(KILN_OP_DIV, 14, 2, 1);
    CHECK_OK(tt_infer_run(NULL, &n, din, &out, &e));
    CHECK(((int64_t *)out.data)[0] == 7 && ((int64_t *)out.data)[1] == 7, "int64 floor-free div");
    kiln_view min[2] = {out, two}, m2;
    n = tt_node(KILN_OP_MUL, 14, 2, 1);
    CHECK_OK(tt_infer_run(NULL, &n, min, &m2, &e));
    kiln_view sub[2] = {g, m2}, rem;
    n = tt_node(KILN_OP_SUB, 14, 2, 1);
    CHECK_OK(tt_infer_run(NULL, &n, sub, &rem, &e));
    CHECK(((int64_t *)rem.data)[0] == 0 && ((int64_t *)rem.data)[1] == 1, "int64 remainder");
    kiln_view cin[3] = {tt_i64(1, (int64_t[]){-1}), out, rem}, cat;
    n = tt_node(KILN_OP_CONCAT, 13, 3, 1);
    CHECK_OK(tt_infer_run(NULL, &n, cin, &cat, &e));
    CHECK(tt_numel(&cat) == 5 &&
              !memcmp(cat.data, (int64_t[]){-1, 7, 7, 0, 1}, 5 * sizeof(int64_t)),
          "int64 concat");
    tt_free(&cat);
    tt_free(&cin[0]);
    tt_free(&rem);
    tt_free(&m2);
    tt_free(&out);
    tt_free(&two);
    tt_free(&g);
    tt_free(&gin[1]);
    tt_free(&s);
    tt_free(&x);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    cpu2 = kiln_cpu_create(2);
    test_reshape();
    test_flatten();
    test_squeeze_unsqueeze();
    test_expand();
    test_identity_dropout_shape();
    test_shape_arithmetic();
    kiln_cpu_destroy(cpu2);
    return test_done();
}
