/* Shape rules of the elementwise and tensor ops called directly (their one-line error messages
 * included), and the shape driver kiln_infer() resolving an exporter's dynamic-batch sub-graph
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) through the CPU kernels, for two batches. */
#include "tensor_test_util.h"

#include "core/graph.h"

static const int my_ops[] = {
    KILN_OP_RELU, KILN_OP_LEAKY_RELU, KILN_OP_PRELU, KILN_OP_CLIP, KILN_OP_SIGMOID,
    KILN_OP_HARD_SIGMOID, KILN_OP_HARD_SWISH, KILN_OP_TANH, KILN_OP_ERF, KILN_OP_EXP,
    KILN_OP_LOG, KILN_OP_NEG, KILN_OP_ABS, KILN_OP_SQRT, KILN_OP_POW, KILN_OP_RECIPROCAL,
    KILN_OP_FLOOR, KILN_OP_CEIL, KILN_OP_ADD, KILN_OP_SUB, KILN_OP_MUL, KILN_OP_DIV, KILN_OP_MIN,
    KILN_OP_MAX, KILN_OP_EQUAL, KILN_OP_WHERE, KILN_OP_CONCAT, KILN_OP_SPLIT, KILN_OP_FLATTEN,
    KILN_OP_RESHAPE, KILN_OP_TRANSPOSE, KILN_OP_SQUEEZE, KILN_OP_UNSQUEEZE, KILN_OP_EXPAND,
    KILN_OP_IDENTITY, KILN_OP_DROPOUT, KILN_OP_SHAPE, KILN_OP_GATHER, KILN_OP_SLICE, KILN_OP_PAD,
    KILN_OP_REDUCE_MEAN, KILN_OP_REDUCE_SUM, KILN_OP_REDUCE_MAX, KILN_OP_REDUCE_MIN, KILN_OP_CAST,
    KILN_OP_CONSTANT_OF_SHAPE};

static void test_lookup(void) {
    int n = sizeof my_ops / sizeof my_ops[0], missing = 0;
    for (int i = 0; i < n; i++) {
        if (!kiln_infer_tensor_lookup((kiln_op)my_ops[i]) || !kiln_cpu_tensor_lookup((kiln_op)my_ops[i])) {
            missing++;
            CHECK(0, "no rule or kernel for %s", kiln_op_name(my_ops[i]));
        }
    }
    CHECK(missing == 0, "%d of %d ops without rule or kernel", missing, n);
    CHECK(!kiln_infer_tensor_lookup(KILN_OP_CONV) && !kiln_cpu_tensor_lookup(KILN_OP_CONV),
          "conv is not ours");
}

static void expect(const kiln_node *n, kiln_view *in, kiln_status st, const char *needle) {
    kiln_shape os[4];
    kiln_dtype od[4];
    kiln_err e;
    kiln_err_clear(&e);
    kiln_status got = tt_infer(n, in, os, od, &e);
    CHECK(got == st && strstr(e.msg, needle), "%s: got '%s' (%s), want '%s'",
          kiln_op_name(n->op), e.msg, kiln_status_str(got), needle);
}

/* A view whose value is unknown before running (a computed activation). */
static kiln_view unknown(kiln_dtype t, int ndim, const int64_t *d) {
    kiln_view v = tt_absent();
    v.dtype = t;
    v.shape = kiln_shape_make(ndim, d);
    return v;
}

static void test_rules(void) {
    kiln_view x = unknown(KILN_F32, 4, (int64_t[]){2, 3, 4, 5});
    kiln_view y = unknown(KILN_F32, 2, (int64_t[]){7, 5});
    kiln_view b = unknown(KILN_BOOL, 1, (int64_t[]){5});
    kiln_view i2 = unknown(KILN_I64, 1, (int64_t[]){2});
    kiln_shape os[4];
    kiln_dtype od[4];
    kiln_err e;

    /* Broadcast failures name every shape. */
    kiln_node n = tt_node(KILN_OP_MUL, 14, 2, 1);
    kiln_view xy[2] = {x, y};
    expect(&n, xy, KILN_ERR_SHAPE, "cannot broadcast shapes 2x3x4x5 and 7x5");
    n = tt_node(KILN_OP_MAX, 13, 3, 1);
    kiln_view three[3] = {x, unknown(KILN_F32, 1, (int64_t[]){5}), y};
    expect(&n, three, KILN_ERR_SHAPE, "2x3x4x5 and 5 and 7x5");
    n = tt_node(KILN_OP_WHERE, 16, 3, 1);
    kiln_view w[3] = {b, x, x};
    CHECK_OK(tt_infer(&n, w, os, od, &e));
    CHECK(tt_shape_is(&os[0], 4, x.shape.d) && od[0] == KILN_F32, "where shape");
    kiln_view w2[3] = {x, x, x};
    expect(&n, w2, KILN_ERR_DTYPE, "condition must be bool");
    n = tt_node(KILN_OP_EQUAL, 11, 2, 1);
    kiln_view eq[2] = {x, unknown(KILN_F32, 0, NULL)};
    CHECK_OK(tt_infer(&n, eq, os, od, &e));
    CHECK(od[0] == KILN_BOOL && tt_shape_is(&os[0], 4, x.shape.d), "equal gives bool");
    /* Missing inputs. */
    n = tt_node(KILN_OP_ADD, 14, 1, 1);
    expect(&n, &x, KILN_ERR_INVALID_ARG, "needs 2 inputs");
    n = tt_node(KILN_OP_ADD, 14, 2, 1);
    kiln_view miss[2] = {x, tt_absent()};
    expect(&n, miss, KILN_ERR_INVALID_ARG, "input 1 is missing");
    /* Values needed before running. */
    n = tt_node(KILN_OP_RESHAPE, 14, 2, 1);
    kiln_view r[2] = {x, i2};
    expect(&n, r, KILN_ERR_UNSUPPORTED, "shape input is not a constant and could not be computed");
    n = tt_node(KILN_OP_EXPAND, 13, 2, 1);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "shape input is not a constant");
    n = tt_node(KILN_OP_CONSTANT_OF_SHAPE, 9, 1, 1);
    expect(&n, &i2, KILN_ERR_UNSUPPORTED, "shape input is not a constant");
    n = tt_node(KILN_OP_UNSQUEEZE, 13, 2, 1);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "axes input is not a constant");
    n = tt_node(KILN_OP_SQUEEZE, 13, 2, 1);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "axes input is not a constant");
    n = tt_node(KILN_OP_REDUCE_SUM, 13, 2, 1);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "axes input is not a constant");
    n = tt_node(KILN_OP_SPLIT, 13, 2, 2);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "split input is not a constant");
    n = tt_node(KILN_OP_PAD, 13, 2, 1);
    expect(&n, r, KILN_ERR_UNSUPPORTED, "pads input is not a constant");
    n = tt_node(KILN_OP_SLICE, 13, 3, 1);
    kiln_view sl[3] = {x, i2, i2};
    expect(&n, sl, KILN_ERR_UNSUPPORTED, "starts input is not a constant");
    n = tt_node(KILN_OP_UNSQUEEZE, 13, 1, 1);
    expect(&n, &x, KILN_ERR_INVALID_ARG, "no axes");
    /* Types. */
    n = tt_node(KILN_OP_GATHER, 13, 2, 1);
    kiln_view g[2] = {x, unknown(KILN_F32, 1, (int64_t[]){3})};
    expect(&n, g, KILN_ERR_DTYPE, "indices must be int64 or int32, not float32");
    n = tt_node(KILN_OP_CAST, 13, 1, 1);
    n.a.cast.to = 8; /* ONNX string */
    expect(&n, &x, KILN_ERR_UNSUPPORTED, "cannot cast");
    n = tt_node(KILN_OP_CONCAT, 13, 2, 1);
    n.a.axis.axis = 1;
    expect(&n, xy, KILN_ERR_SHAPE, "input 1 (7x5) does not fit input 0 (2x3x4x5)");
    n.a.axis.axis = 4;
    expect(&n, xy, KILN_ERR_SHAPE, "axis 4 is out of range for rank 4");
    /* Rank limits. */
    n = tt_node(KILN_OP_UNSQUEEZE, 11, 1, 1);
    n.a.axes.has_axes = 1, n.a.axes.naxes = 5;
    for (int i = 0; i < 5; i++) n.a.axes.axes[i] = i;
    expect(&n, &x, KILN_ERR_UNSUPPORTED, "rank 9");
    /* Every unary rule keeps shape and dtype. */
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        kiln_infer_fn f = kiln_infer_tensor_lookup((kiln_op)op);
        if (f != kiln_infer_tensor_lookup(KILN_OP_RELU)) continue;
        n = tt_node((kiln_op)op, 14, 1, 1);
        CHECK_OK(tt_infer(&n, &x, os, od, &e));
        CHECK(tt_shape_is(&os[0], 4, x.shape.d) && od[0] == KILN_F32, "%s keeps the shape",
              kiln_op_name(op));
    }
}

/* ---- the driver on the exporters' dynamic-batch reshape ----------------------------------- */

static int add_i64_const(kiln_graph *g, const char *name, int ndim, const int64_t *vals, int k) {
    int64_t *d = malloc(sizeof(int64_t) * (size_t)(k ? k : 1));
    memcpy(d, vals, sizeof(int64_t) * (size_t)k);
    kiln_shape s = kiln_shape_make(ndim, (int64_t[]){k});
    return kiln_graph_add_const(g, name, KILN_I64, &s, d, 1);
}

/* x[N,3,4,5] -> Shape -> Gather(0) -> Unsqueeze(0) -> Concat(., [-1]) -> Reshape(x) = [N, 60],
   and Shape -> Slice[2:] -> Concat(N, [3], .) -> Reshape = x's own shape. Unsqueeze takes its
   axes as an input (opset 13) or attribute (opset 11). */
static kiln_graph *build(int opset) {
    kiln_graph *g = kiln_graph_create();
    g->opset = opset;
    kiln_shape xs = kiln_shape_make(4, (int64_t[]){-1, 3, 4, 5});
    int x = kiln_graph_add_tensor(g, "x", KILN_TENSOR_INPUT, KILN_F32, &xs);
    g->t[x].sym[0] = strdup("batch");
    kiln_graph_mark_input(g, x);
    int s = kiln_graph_add_tensor(g, "s", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int zero = add_i64_const(g, "zero", 0, (int64_t[]){0}, 1);
    int bsz = kiln_graph_add_tensor(g, "bsz", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int bsz1 = kiln_graph_add_tensor(g, "bsz1", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int minus1 = add_i64_const(g, "minus1", 1, (int64_t[]){-1}, 1);
    int target = kiln_graph_add_tensor(g, "target", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int y = kiln_graph_add_tensor(g, "y", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    kiln_graph_add_node(g, KILN_OP_SHAPE, "shape", 1, (int[]){x}, 1, (int[]){s});
    kiln_graph_add_node(g, KILN_OP_GATHER, "gather", 2, (int[]){s, zero}, 1, (int[]){bsz});
    if (opset >= 13) {
        int axes = add_i64_const(g, "axes", 1, (int64_t[]){0}, 1);
        kiln_graph_add_node(g, KILN_OP_UNSQUEEZE, "unsqueeze", 2, (int[]){bsz, axes}, 1,
                            (int[]){bsz1});
    } else {
        int k = kiln_graph_add_node(g, KILN_OP_UNSQUEEZE, "unsqueeze", 1, (int[]){bsz}, 1,
                                    (int[]){bsz1});
        g->n[k].a.axes.has_axes = 1;
        g->n[k].a.axes.naxes = 1;
        g->n[k].a.axes.axes[0] = 0;
    }
    int k = kiln_graph_add_node(g, KILN_OP_CONCAT, "concat", 2, (int[]){bsz1, minus1}, 1,
                                (int[]){target});
    g->n[k].a.axis.axis = 0;
    kiln_graph_add_node(g, KILN_OP_RESHAPE, "reshape", 2, (int[]){x, target}, 1, (int[]){y});
    kiln_graph_mark_output(g, y);

    /* Second branch through Slice (inputs from opset 10). */
    int tail = kiln_graph_add_tensor(g, "tail", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int st = add_i64_const(g, "starts", 1, (int64_t[]){2}, 1);
    int en = add_i64_const(g, "ends", 1, (int64_t[]){INT64_MAX}, 1);
    kiln_graph_add_node(g, KILN_OP_SLICE, "slice", 3, (int[]){s, st, en}, 1, (int[]){tail});
    int three = add_i64_const(g, "three", 1, (int64_t[]){3}, 1);
    int t2 = kiln_graph_add_tensor(g, "target2", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    k = kiln_graph_add_node(g, KILN_OP_CONCAT, "concat2", 3, (int[]){bsz1, three, tail}, 1,
                            (int[]){t2});
    g->n[k].a.axis.axis = 0;
    int y2 = kiln_graph_add_tensor(g, "y2", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    kiln_graph_add_node(g, KILN_OP_RESHAPE, "reshape2", 2, (int[]){x, t2}, 1, (int[]){y2});
    kiln_graph_mark_output(g, y2);
    return g;
}

static void test_driver(void) {
    for (int opset = 11; opset <= 13; opset += 2) {
        kiln_graph *g = build(opset);
        kiln_err e;
        CHECK_OK(kiln_graph_validate(g, &e));
        for (int64_t batch = 2; batch <= 7; batch += 5) {
            kiln_shape in = kiln_shape_make(4, (int64_t[]){batch, 3, 4, 5});
            kiln_shapes sh;
            kiln_status st = kiln_infer(g, &in, &sh, &e);
            CHECK(st == KILN_OK, "opset %d batch %lld: %s", opset, (long long)batch, e.msg);
            if (st != KILN_OK) continue;
            int y = kiln_graph_find(g, "y"), y2 = kiln_graph_find(g, "y2");
            int target = kiln_graph_find(g, "target"), bsz = kiln_graph_find(g, "bsz");
            CHECK(tt_shape_is(&sh.s[y], 2, (int64_t[]){batch, 60}) && sh.dt[y] == KILN_F32,
                  "opset %d batch %lld: y is %lldx%lld", opset, (long long)batch,
                  (long long)sh.s[y].d[0], (long long)sh.s[y].d[1]);
            CHECK(tt_shape_is(&sh.s[y2], 4, (int64_t[]){batch, 3, 4, 5}), "y2 shape");
            CHECK(sh.s[bsz].ndim == 0 && sh.val[bsz] && ((int64_t *)sh.val[bsz])[0] == batch,
                  "batch size value");
            CHECK(sh.val[target] && ((int64_t *)sh.val[target])[0] == batch &&
                      ((int64_t *)sh.val[target])[1] == -1 && sh.dt[target] == KILN_I64,
                  "reshape target value");
            CHECK(!sh.val[y], "the activation itself is not computed");
            kiln_shapes_free(&sh);
        }
        kiln_graph_destroy(g);
    }

    /* A shape that depends on the input's values cannot be known: the error names the node. */
    kiln_graph *g = kiln_graph_create();
    g->opset = 14;
    kiln_shape xs = kiln_shape_make(1, (int64_t[]){2});
    int x = kiln_graph_add_tensor(g, "xs", KILN_TENSOR_INPUT, KILN_I64, &xs);
    kiln_graph_mark_input(g, x);
    kiln_shape ds = kiln_shape_make(1, (int64_t[]){6});
    float *dv = calloc(6, sizeof(float));
    int data = kiln_graph_add_const(g, "data", KILN_F32, &ds, dv, 1);
    int a = kiln_graph_add_tensor(g, "abs", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int y = kiln_graph_add_tensor(g, "y", KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    kiln_graph_add_node(g, KILN_OP_ABS, "abs", 1, (int[]){x}, 1, (int[]){a});
    kiln_graph_add_node(g, KILN_OP_RESHAPE, "the_reshape", 2, (int[]){data, a}, 1, (int[]){y});
    kiln_graph_mark_output(g, y);
    kiln_shapes sh;
    kiln_err e;
    CHECK(kiln_infer(g, NULL, &sh, &e) == KILN_ERR_UNSUPPORTED && strstr(e.msg, "the_reshape") &&
              strstr(e.msg, "not a constant"),
          "runtime-valued shape: %s", e.msg);
    kiln_graph_destroy(g);
}

int main(void) {
    (void)test_seed();
    test_lookup();
    test_rules();
    test_driver();
    return test_done();
}
