/* Each optimizer pass on small hand-built graphs: the pass makes the rewrite it is for (checked
 * on the graph), leaves alone what it must not touch, and the optimized engine's outputs agree
 * with the unoptimized one (relative L2 <= 1e-5) at batches 1 and 3 of one profile. */
#include <float.h>

#include "opt/opt.h"
#include "opt_test.h"

/* ---- a tiny graph builder ----------------------------------------------------------------- */

typedef struct gb {
    kiln_graph *g;
    kiln_rng r;
    int n;
} gb;

static gb gb_new(void) {
    gb b = {kiln_graph_create(), {{0}}, 0};
    b.g->name = strdup("test");
    kiln_rng_seed(&b.r, test_seed());
    return b;
}

/* A graph input with a symbolic batch: dims[0] is ignored. */
static int gb_input(gb *b, const char *name, int nd, const int64_t *dims) {
    kiln_shape s = kiln_shape_make(nd, dims);
    s.d[0] = -1;
    int t = kiln_graph_add_tensor(b->g, name, KILN_TENSOR_INPUT, KILN_F32, &s);
    b->g->t[t].sym[0] = strdup("batch");
    kiln_graph_mark_input(b->g, t);
    return t;
}

static int gb_const(gb *b, int nd, const int64_t *dims, float lo, float hi) {
    kiln_shape s = kiln_shape_make(nd, dims);
    int64_t n = kiln_shape_numel(&s);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    test_fill_uniform(&b->r, d, n, lo, hi);
    return kiln_graph_add_const(b->g, NULL, KILN_F32, &s, d, 1);
}

static int gb_const_i64(gb *b, int n, const int64_t *v) {
    int64_t len = n;
    kiln_shape s = kiln_shape_make(1, &len);
    int64_t *d = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n) memcpy(d, v, sizeof(int64_t) * (size_t)n);
    return kiln_graph_add_const(b->g, NULL, KILN_I64, &s, d, 1);
}

static int gb_scalar(gb *b, float v) {
    float *d = malloc(sizeof(float));
    *d = v;
    kiln_shape s = kiln_shape_make(0, NULL);
    return kiln_graph_add_const(b->g, NULL, KILN_F32, &s, d, 1);
}

/* A node with one output; returns the node index through *k when asked. */
static int gb_node(gb *b, kiln_op op, int nin, const int *in, int *k) {
    char name[32];
    snprintf(name, sizeof name, "n%d", b->n++);
    int y = kiln_graph_add_tensor(b->g, NULL, KILN_TENSOR_ACT, KILN_DTYPE_UNDEFINED, NULL);
    int idx = kiln_graph_add_node(b->g, op, name, nin, in, 1, &y);
    if (k) *k = idx;
    return y;
}

static kiln_node *gb_last(gb *b) { return &b->g->n[b->g->n_n - 1]; }

/* Conv with random weights: cout x cin/group x k x k, pads k/2, optional bias. */
static int gb_conv(gb *b, int x, int64_t cin, int64_t cout, int64_t k, int64_t group, int bias) {
    int w = gb_const(b, 4, (int64_t[]){cout, cin / group, k, k}, -0.3f, 0.3f);
    int in[3] = {x, w, bias ? gb_const(b, 1, &cout, -0.5f, 0.5f) : -1};
    int y = gb_node(b, KILN_OP_CONV, bias ? 3 : 2, in, NULL);
    kiln_conv_attr *a = &gb_last(b)->a.conv;
    a->nspatial = 2;
    a->group = group;
    for (int i = 0; i < 2; i++) {
        a->kernel[i] = k;
        a->pad_begin[i] = a->pad_end[i] = k / 2;
    }
    return y;
}

static int gb_bn(gb *b, int x, int64_t c) {
    int in[5] = {x, gb_const(b, 1, &c, 0.5f, 1.5f), gb_const(b, 1, &c, -0.5f, 0.5f),
                 gb_const(b, 1, &c, -0.5f, 0.5f), gb_const(b, 1, &c, 0.5f, 2.0f)};
    int y = gb_node(b, KILN_OP_BATCHNORM, 5, in, NULL);
    gb_last(b)->a.bn.epsilon = 1e-5f;
    return y;
}

static int gb_unary(gb *b, kiln_op op, int x) { return gb_node(b, op, 1, &x, NULL); }
static int gb_binary(gb *b, kiln_op op, int x, int y) {
    return gb_node(b, op, 2, (int[]){x, y}, NULL);
}

static void gb_output(gb *b, int t, const char *name) {
    free(b->g->t[t].name);
    b->g->t[t].name = strdup(name);
    kiln_graph_mark_output(b->g, t);
}

/* ---- checks ------------------------------------------------------------------------------- */

/* Build g with optimize off and on (profile 1..3), compare outputs at batches 1 and 3; returns
   the optimized engine for structural checks (caller destroys), the model is freed. */
static kiln_engine *compare(const char *what, kiln_graph *g) {
    kiln_model *m = ot_model(g);
    kiln_engine *ref = ot_build(m, 0, 1, 3, 3), *opt = ot_build(m, 1, 1, 3, 3);
    kiln_model_destroy(m);
    CHECK(ref && opt, "%s: build", what);
    if (!ref || !opt) {
        kiln_engine_destroy(ref);
        kiln_engine_destroy(opt);
        return NULL;
    }
    for (int64_t b = 1; b <= 3; b += 2) {
        ot_inputs in;
        ot_inputs_make(ref, b, test_seed() + (uint64_t)b, &in);
        for (int o = 0; o < kiln_engine_num_outputs(ref); o++) {
            float *x = NULL, *y = NULL;
            int64_t nx = 0, ny = 0;
            CHECK_OK(ot_run(ref, &in, o, &x, &nx));
            CHECK_OK(ot_run(opt, &in, o, &y, &ny));
            double rel = x && y && nx == ny ? test_rel_l2(y, x, nx) : INFINITY;
            CHECK(rel <= 1e-5, "%s: batch %lld output %d: relative L2 %g", what, (long long)b, o,
                  rel);
            free(x);
            free(y);
        }
        ot_inputs_free(&in);
    }
    kiln_engine_destroy(ref);
    return opt;
}

/* Run one pass on a copy of g and return the copy. */
static kiln_graph *after_pass(const kiln_graph *g, kiln_pass_fn pass, const char *what) {
    kiln_graph *c = kiln_graph_clone(g);
    kiln_err e = {0};
    kiln_status st = pass(c, &e);
    if (st == KILN_OK) st = kiln_graph_validate(c, &e);
    CHECK(st == KILN_OK, "%s: %s", what, e.msg);
    return c;
}

/* ---- the passes --------------------------------------------------------------------------- */

static void test_identity(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 4, 5, 6});
    int t = gb_unary(&b, KILN_OP_IDENTITY, x);
    t = gb_unary(&b, KILN_OP_DROPOUT, t);
    t = gb_node(&b, KILN_OP_RESHAPE, 2, (int[]){t, gb_const_i64(&b, 4, (int64_t[]){0, 4, 5, 6})},
                NULL);
    t = gb_unary(&b, KILN_OP_CAST, t);
    gb_last(&b)->a.cast.to = KILN_F32;
    t = gb_unary(&b, KILN_OP_TRANSPOSE, t);
    gb_last(&b)->a.transpose = (kiln_transpose_attr){4, {0, 2, 3, 1}};
    t = gb_unary(&b, KILN_OP_TRANSPOSE, t);
    gb_last(&b)->a.transpose = (kiln_transpose_attr){4, {0, 3, 1, 2}};
    t = gb_unary(&b, KILN_OP_RELU, t);
    /* An Identity that is a graph output: its name must survive. */
    t = gb_unary(&b, KILN_OP_IDENTITY, t);
    gb_output(&b, t, "y");
    /* A real transpose and a real reshape stay. */
    int u = gb_unary(&b, KILN_OP_TRANSPOSE, x);
    gb_last(&b)->a.transpose = (kiln_transpose_attr){4, {0, 2, 1, 3}};
    u = gb_node(&b, KILN_OP_RESHAPE, 2, (int[]){u, gb_const_i64(&b, 2, (int64_t[]){0, -1})}, NULL);
    gb_output(&b, u, "z");
    kiln_graph *p = after_pass(b.g, kiln_pass_identity, "identity");
    CHECK(p->n_n == 3, "identity: %d nodes left (want Relu, Transpose, Reshape)", p->n_n);
    CHECK(ot_count_op(p, KILN_OP_RELU) == 1 && ot_count_op(p, KILN_OP_TRANSPOSE) == 1 &&
              ot_count_op(p, KILN_OP_RESHAPE) == 1,
          "identity: wrong nodes kept");
    CHECK(!strcmp(p->t[p->outputs[0]].name, "y"), "identity: output renamed to %s",
          p->t[p->outputs[0]].name);
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("identity", b.g));
}

static void test_fold_constants(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 8, 4, 4});
    /* (c1 + c2) * x: the Add runs at build time. */
    int c = gb_binary(&b, KILN_OP_ADD, gb_const(&b, 4, (int64_t[]){1, 8, 1, 1}, -1, 1),
                      gb_const(&b, 4, (int64_t[]){1, 8, 1, 1}, -1, 1));
    int y = gb_binary(&b, KILN_OP_MUL, x, c);
    y = gb_conv(&b, y, 8, 16, 3, 1, 1);
    /* The exporters' dynamic-batch flatten: Reshape(y, Concat(Unsqueeze(Gather(Shape(y), 0)), -1)).
     */
    int s = gb_unary(&b, KILN_OP_SHAPE, y);
    int n0 = gb_node(&b, KILN_OP_GATHER, 2, (int[]){s, gb_const_i64(&b, 0, NULL)}, NULL);
    /* a 0-D index: make the constant scalar */
    b.g->t[b.g->n[b.g->n_n - 1].in[1]].shape.ndim = 0;
    int64_t zero = 0;
    memcpy(b.g->t[b.g->n[b.g->n_n - 1].in[1]].data =
               realloc(b.g->t[b.g->n[b.g->n_n - 1].in[1]].data, 8),
           &zero, 8);
    int un =
        gb_node(&b, KILN_OP_UNSQUEEZE, 2, (int[]){n0, gb_const_i64(&b, 1, (int64_t[]){0})}, NULL);
    int cat =
        gb_node(&b, KILN_OP_CONCAT, 2, (int[]){un, gb_const_i64(&b, 1, (int64_t[]){-1})}, NULL);
    gb_last(&b)->a.axis.axis = 0;
    int r = gb_node(&b, KILN_OP_RESHAPE, 2, (int[]){y, cat}, NULL);
    /* A big constant sub-graph (beyond what shape inference evaluates): W^T for a MatMul. */
    int wt = gb_unary(&b, KILN_OP_TRANSPOSE, gb_const(&b, 2, (int64_t[]){300, 256}, -0.1f, 0.1f));
    gb_last(&b)->a.transpose = (kiln_transpose_attr){2, {1, 0}};
    int big = gb_const(&b, 2, (int64_t[]){256, 300}, -0.1f, 0.1f);
    int mm = gb_binary(&b, KILN_OP_MATMUL, r, gb_binary(&b, KILN_OP_MUL, wt, big));
    gb_output(&b, mm, "y");
    kiln_graph *p = after_pass(b.g, kiln_pass_fold_constants, "fold-constants");
    CHECK(ot_count_op(p, KILN_OP_SHAPE) == 0 && ot_count_op(p, KILN_OP_GATHER) == 0 &&
              ot_count_op(p, KILN_OP_CONCAT) == 0 && ot_count_op(p, KILN_OP_ADD) == 0 &&
              ot_count_op(p, KILN_OP_TRANSPOSE) == 0,
          "fold-constants: constant or shape nodes left");
    CHECK(ot_count_op(p, KILN_OP_MUL) == 1, "fold-constants: %d Mul (want the one on x)",
          ot_count_op(p, KILN_OP_MUL));
    int ok = 0;
    for (int k = 0; k < p->n_n; k++)
        if (p->n[k].op == KILN_OP_RESHAPE) {
            const kiln_tensor *t = &p->t[p->n[k].in[1]];
            ok = t->kind == KILN_TENSOR_CONST && t->dtype == KILN_I64 &&
                 ((int64_t *)t->data)[0] == 0 && ((int64_t *)t->data)[1] == -1;
        }
    CHECK(ok, "fold-constants: the Reshape target is not the constant [0, -1]");
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("fold-constants", b.g));
}

static void test_fold_batchnorm(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 6, 5, 5});
    int y1 = gb_bn(&b, gb_conv(&b, x, 6, 8, 3, 1, 1), 8);  /* conv with bias */
    int y2 = gb_bn(&b, gb_conv(&b, x, 6, 6, 3, 3, 0), 6);  /* grouped, no bias */
    /* ConvTranspose, two groups: W is Cin x Cout/group x k x k. */
    int wt = gb_const(&b, 4, (int64_t[]){6, 2, 2, 2}, -0.3f, 0.3f);
    int ct = gb_node(&b, KILN_OP_CONV_TRANSPOSE, 2, (int[]){x, wt}, NULL);
    kiln_conv_attr *ca = &gb_last(&b)->a.conv;
    ca->nspatial = 2;
    ca->group = 2;
    ca->kernel[0] = ca->kernel[1] = 2;
    ca->stride[0] = ca->stride[1] = 2;
    int y3 = gb_bn(&b, ct, 4);
    int y4 = gb_bn(&b, x, 6); /* standalone: becomes ScaleShift */
    /* Gemm (transB) + BatchNorm over its features. */
    int f = gb_node(&b, KILN_OP_FLATTEN, 1, &x, NULL);
    gb_last(&b)->a.axis.axis = 1;
    int64_t nf = 10;
    int gm = gb_node(&b, KILN_OP_GEMM, 3,
                     (int[]){f, gb_const(&b, 2, (int64_t[]){10, 150}, -0.1f, 0.1f),
                             gb_const(&b, 1, &nf, -1, 1)},
                     NULL);
    gb_last(&b)->a.gemm.trans_b = 1;
    gb_last(&b)->a.gemm.beta = 0.5f;
    int y5 = gb_bn(&b, gm, 10);
    gb_output(&b, y1, "y1");
    gb_output(&b, y2, "y2");
    gb_output(&b, y3, "y3");
    gb_output(&b, y4, "y4");
    gb_output(&b, y5, "y5");
    kiln_graph *p = after_pass(b.g, kiln_pass_fold_batchnorm, "fold-batchnorm");
    CHECK(ot_count_op(p, KILN_OP_BATCHNORM) == 0, "fold-batchnorm: BatchNormalization left");
    CHECK(ot_count_op(p, KILN_OP_SCALE_SHIFT) == 1, "fold-batchnorm: %d ScaleShift",
          ot_count_op(p, KILN_OP_SCALE_SHIFT));
    CHECK(ot_has_label(p, "conv3x3+bn") && ot_has_label(p, "gconv3x3+bn") &&
              ot_has_label(p, "deconv2x2+bn") && ot_has_label(p, "gemm+bn"),
          "fold-batchnorm: labels");
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("fold-batchnorm", b.g));
}

static void test_fuse_activation(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 4, 6, 6});
    /* conv + Add(per-channel constant) + Relu */
    int a = gb_binary(&b, KILN_OP_ADD, gb_conv(&b, x, 4, 8, 3, 1, 1),
                      gb_const(&b, 4, (int64_t[]){1, 8, 1, 1}, -1, 1));
    a = gb_unary(&b, KILN_OP_RELU, a);
    /* conv + Clip(0, 6) with bounds as inputs */
    int c = gb_node(&b, KILN_OP_CLIP, 3, (int[]){gb_conv(&b, x, 4, 8, 1, 1, 1), gb_scalar(&b, 0),
                                                  gb_scalar(&b, 6)}, NULL);
    /* conv + LeakyRelu, conv + HardSigmoid, conv + HardSwish, conv + Tanh */
    int l = gb_unary(&b, KILN_OP_LEAKY_RELU, gb_conv(&b, x, 4, 8, 3, 1, 0));
    gb_last(&b)->a.unary.alpha = 0.1f;
    int h = gb_unary(&b, KILN_OP_HARD_SIGMOID, gb_conv(&b, x, 4, 4, 3, 4, 1));
    gb_last(&b)->a.unary.alpha = 0.2f;
    gb_last(&b)->a.unary.beta = 0.5f;
    int hs = gb_unary(&b, KILN_OP_HARD_SWISH, gb_conv(&b, x, 4, 8, 3, 1, 1));
    int th = gb_unary(&b, KILN_OP_TANH, gb_conv(&b, x, 4, 8, 3, 1, 1));
    /* SiLU: y * sigmoid(y) */
    int s0 = gb_conv(&b, x, 4, 8, 1, 1, 1);
    int silu = gb_binary(&b, KILN_OP_MUL, gb_unary(&b, KILN_OP_SIGMOID, s0), s0);
    /* MatMul with constant weights + bias + Sigmoid becomes a Gemm. */
    int f = gb_node(&b, KILN_OP_FLATTEN, 1, &x, NULL);
    gb_last(&b)->a.axis.axis = 1;
    int64_t n = 12;
    int mm = gb_binary(&b, KILN_OP_MATMUL, f, gb_const(&b, 2, (int64_t[]){144, 12}, -0.1f, 0.1f));
    mm = gb_unary(&b, KILN_OP_SIGMOID, gb_binary(&b, KILN_OP_ADD, mm, gb_const(&b, 1, &n, -1, 1)));
    /* Not fusable: the conv's output is also read elsewhere. */
    int keep = gb_conv(&b, x, 4, 8, 3, 1, 1);
    int kr = gb_binary(&b, KILN_OP_ADD, gb_unary(&b, KILN_OP_RELU, keep), keep);
    int outs[] = {a, c, l, h, hs, th, silu, mm, kr};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char name[8];
        snprintf(name, sizeof name, "y%zu", i);
        gb_output(&b, outs[i], name);
    }
    kiln_graph *p = after_pass(b.g, kiln_pass_fuse_activation, "fuse-activation");
    CHECK(ot_has_label(p, "conv3x3+bias+relu"), "fuse-activation: conv3x3+bias+relu");
    CHECK(ot_has_label(p, "conv1x1+relu6"), "fuse-activation: conv1x1+relu6");
    CHECK(ot_has_label(p, "conv3x3+leakyrelu") && ot_has_label(p, "gconv3x3+hardsigmoid") &&
              ot_has_label(p, "conv3x3+hardswish") && ot_has_label(p, "conv3x3+tanh"),
          "fuse-activation: leakyrelu/hardsigmoid/hardswish/tanh labels");
    CHECK(ot_has_label(p, "conv1x1+silu"), "fuse-activation: conv1x1+silu");
    CHECK(ot_has_label(p, "matmul+bias+sigmoid") && ot_count_op(p, KILN_OP_MATMUL) == 0,
          "fuse-activation: matmul+bias+sigmoid as a Gemm");
    CHECK(ot_count_op(p, KILN_OP_RELU) == 1 && ot_count_op(p, KILN_OP_ADD) == 1,
          "fuse-activation: the shared conv output must stay unfused (%d Relu, %d Add)",
          ot_count_op(p, KILN_OP_RELU), ot_count_op(p, KILN_OP_ADD));
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("fuse-activation", b.g));
}

static void test_fuse_residual(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 8, 6, 6});
    /* Basic block: relu(conv2(relu(conv1(x))) + x) */
    int t = gb_unary(&b, KILN_OP_RELU, gb_conv(&b, x, 8, 8, 3, 1, 1));
    int y =
        gb_unary(&b, KILN_OP_RELU, gb_binary(&b, KILN_OP_ADD, gb_conv(&b, t, 8, 8, 3, 1, 1), x));
    /* Both inputs from convolutions (downsample branch): one conv takes the other as residual. */
    int d =
        gb_binary(&b, KILN_OP_ADD, gb_conv(&b, y, 8, 16, 1, 1, 1), gb_conv(&b, y, 8, 16, 3, 1, 0));
    /* Broadcasting Add: must stay. */
    int bc = gb_binary(&b, KILN_OP_ADD, gb_conv(&b, y, 8, 8, 1, 1, 1),
                       gb_unary(&b, KILN_OP_GLOBAL_AVGPOOL, y));
    /* Gemm + residual */
    int f = gb_node(&b, KILN_OP_FLATTEN, 1, &d, NULL);
    gb_last(&b)->a.axis.axis = 1;
    int64_t nf = 576;
    int g1 = gb_node(&b, KILN_OP_GEMM, 3,
                     (int[]){f, gb_const(&b, 2, (int64_t[]){576, 576}, -0.05f, 0.05f),
                             gb_const(&b, 1, &nf, -1, 1)},
                     NULL);
    int gr = gb_binary(&b, KILN_OP_ADD, f, g1);
    /* MatMul + residual */
    int mm =
        gb_binary(&b, KILN_OP_MATMUL, gr, gb_const(&b, 2, (int64_t[]){576, 576}, -0.05f, 0.05f));
    int mr = gb_unary(&b, KILN_OP_RELU, gb_binary(&b, KILN_OP_ADD, gr, mm));
    gb_output(&b, mr, "y");
    gb_output(&b, bc, "z");
    kiln_graph *p = after_pass(b.g, kiln_pass_fuse_residual, "fuse-residual");
    CHECK(ot_has_label(p, "conv3x3+add+relu"), "fuse-residual: conv3x3+add+relu");
    CHECK(ot_count_op(p, KILN_OP_ADD) == 1, "fuse-residual: %d Add left (want the broadcast one)",
          ot_count_op(p, KILN_OP_ADD));
    CHECK(ot_has_label(p, "gemm+add"), "fuse-residual: gemm+add");
    CHECK(ot_has_label(p, "matmul+add+relu"), "fuse-residual: matmul+add+relu");
    kiln_graph_destroy(p);
    kiln_engine *e = compare("fuse-residual", b.g);
    if (e)
        CHECK(ot_count_op(e->g, KILN_OP_RELU) == 0, "fuse-residual: Relu left after the pipeline");
    kiln_engine_destroy(e);
}

static void test_fold_pad(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 4, (int64_t[]){0, 4, 7, 7});
    /* Asymmetric "same" padding as TensorFlow exports it, attribute form, into a Conv. */
    int p1 = gb_unary(&b, KILN_OP_PAD, x);
    gb_last(&b)->a.pad = (kiln_pad_attr){KILN_PAD_CONSTANT, 8, {0, 0, 0, 1, 0, 0, 1, 2}, 0.0f};
    int c1 = gb_conv(&b, p1, 4, 6, 3, 1, 1);
    /* Input form, into an AveragePool (the padded zeros count). */
    int p2 = gb_node(&b, KILN_OP_PAD, 2,
                     (int[]){x, gb_const_i64(&b, 8, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1})}, NULL);
    int ap = gb_unary(&b, KILN_OP_AVGPOOL, p2);
    kiln_pool_attr *pa = &gb_last(&b)->a.pool;
    pa->nspatial = 2;
    pa->kernel[0] = pa->kernel[1] = 3;
    pa->stride[0] = pa->stride[1] = 2;
    /* -inf padding into a MaxPool. */
    int p3 = gb_node(&b, KILN_OP_PAD, 3,
                     (int[]){x, gb_const_i64(&b, 8, (int64_t[]){0, 0, 1, 0, 0, 0, 0, 1}),
                             gb_scalar(&b, -INFINITY)},
                     NULL);
    int mp = gb_unary(&b, KILN_OP_MAXPOOL, p3);
    pa = &gb_last(&b)->a.pool;
    pa->nspatial = 2;
    pa->kernel[0] = pa->kernel[1] = 2;
    pa->stride[0] = pa->stride[1] = 2;
    /* Padding with 1.0 cannot fold into a Conv. */
    int p4 = gb_unary(&b, KILN_OP_PAD, x);
    gb_last(&b)->a.pad = (kiln_pad_attr){KILN_PAD_CONSTANT, 8, {0, 0, 1, 1, 0, 0, 1, 1}, 1.0f};
    int c4 = gb_conv(&b, p4, 4, 6, 3, 1, 1);
    gb_output(&b, c1, "y1");
    gb_output(&b, ap, "y2");
    gb_output(&b, mp, "y3");
    gb_output(&b, c4, "y4");
    kiln_graph *p = after_pass(b.g, kiln_pass_fold_pad, "fold-pad");
    CHECK(ot_count_op(p, KILN_OP_PAD) == 1, "fold-pad: %d Pad left (want the 1.0 one)",
          ot_count_op(p, KILN_OP_PAD));
    CHECK(ot_has_label(p, "pad+conv3x3") && ot_has_label(p, "pad+avgpool3x3") &&
              ot_has_label(p, "pad+maxpool2x2"),
          "fold-pad: labels");
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("fold-pad", b.g));
}

static kiln_graph *inception(gb *b) {
    int x = gb_input(b, "x", 4, (int64_t[]){0, 16, 8, 8});
    int a = gb_unary(b, KILN_OP_RELU, gb_conv(b, x, 16, 8, 1, 1, 1));
    int r2 = gb_unary(b, KILN_OP_RELU, gb_conv(b, x, 16, 12, 1, 1, 1));
    int c2 = gb_unary(b, KILN_OP_RELU, gb_conv(b, r2, 12, 16, 3, 1, 1));
    int r3 = gb_unary(b, KILN_OP_RELU, gb_conv(b, x, 16, 4, 1, 1, 1));
    int c3 = gb_unary(b, KILN_OP_RELU, gb_conv(b, r3, 4, 8, 3, 1, 1));
    int mp = gb_unary(b, KILN_OP_MAXPOOL, x);
    kiln_pool_attr *pa = &gb_last(b)->a.pool;
    pa->nspatial = 2;
    pa->kernel[0] = pa->kernel[1] = 3;
    pa->pad_begin[0] = pa->pad_begin[1] = pa->pad_end[0] = pa->pad_end[1] = 1;
    int c4 = gb_unary(b, KILN_OP_RELU, gb_conv(b, mp, 16, 8, 1, 1, 1));
    /* A sibling 1x1 without activation: must not merge with the ReLU ones. */
    int lone = gb_conv(b, x, 16, 4, 1, 1, 1);
    int cat = gb_node(b, KILN_OP_CONCAT, 5, (int[]){a, c2, c3, c4, lone}, NULL);
    gb_last(b)->a.axis.axis = 1;
    /* A nested concat with the graph input (which cannot be placed) and the first concat. */
    int cat2 = gb_node(b, KILN_OP_CONCAT, 2, (int[]){x, cat}, NULL);
    gb_last(b)->a.axis.axis = -3;
    gb_output(b, gb_unary(b, KILN_OP_SIGMOID, cat2), "y");
    return b->g;
}

static void test_merge_siblings(void) {
    gb b = gb_new();
    kiln_graph *g = inception(&b);
    kiln_graph *f = after_pass(g, kiln_pass_fuse_activation, "fuse-activation");
    kiln_graph *p = after_pass(f, kiln_pass_merge_siblings, "merge-siblings");
    CHECK(ot_count_op(p, KILN_OP_SPLIT) == 1, "merge-siblings: %d Split",
          ot_count_op(p, KILN_OP_SPLIT));
    CHECK(ot_count_op(p, KILN_OP_CONV) == ot_count_op(f, KILN_OP_CONV) - 2,
          "merge-siblings: %d convs from %d", ot_count_op(p, KILN_OP_CONV),
          ot_count_op(f, KILN_OP_CONV));
    CHECK(ot_has_label(p, "conv1x1+relu (3 merged)"), "merge-siblings: label");
    kiln_graph_destroy(p);
    kiln_graph_destroy(f);
    kiln_engine_destroy(compare("merge-siblings", g));
    /* At batch 1 only, the Split's pieces are views of the merged output (no copy). */
    gb b1 = gb_new();
    kiln_model *m = ot_model(inception(&b1));
    kiln_engine *ref = ot_build(m, 0, 1, 1, 1), *opt = ot_build(m, 1, 1, 1, 1);
    kiln_model_destroy(m);
    if (ref && opt) {
        ot_inputs in;
        ot_inputs_make(ref, 1, test_seed(), &in);
        float *x = NULL, *y = NULL;
        int64_t nx = 0, ny = 0;
        CHECK_OK(ot_run(ref, &in, 0, &x, &nx));
        CHECK_OK(ot_run(opt, &in, 0, &y, &ny));
        double rel = x && y && nx == ny ? test_rel_l2(y, x, nx) : INFINITY;
        CHECK(rel <= 1e-5, "merge-siblings at batch 1: relative L2 %g", rel);
        free(x);
        free(y);
        ot_inputs_free(&in);
    }
    kiln_engine_destroy(ref);
    kiln_engine_destroy(opt);
}

static void test_concat_inplace(void) {
    gb b = gb_new();
    kiln_graph *g = inception(&b);
    kiln_graph *p = after_pass(g, kiln_pass_concat_inplace, "concat-inplace");
    int placed = 0, cat = -1, cat2 = -1;
    for (int k = 0; k < p->n_n; k++)
        if (p->n[k].op == KILN_OP_CONCAT) {
            if (cat < 0) cat = p->n[k].out[0];
            else cat2 = p->n[k].out[0];
        }
    for (int t = 0; t < p->n_t; t++)
        if (p->t[t].alias >= 0) {
            placed++;
            CHECK(p->t[t].alias == cat || p->t[t].alias == cat2, "concat-inplace: alias target");
        }
    /* The 5 producers of the inner concat, and the inner concat inside the outer one; the graph
       input x cannot be placed. */
    CHECK(placed == 6, "concat-inplace: %d inputs placed, want 6", placed);
    CHECK(cat >= 0 && p->t[cat].alias == cat2 && p->t[cat].alias_offset == 16 * 64,
          "concat-inplace: the inner concat sits after x's 16 channels");
    CHECK(ot_has_label(p, "concat (1 of 2 in place)") && ot_has_label(p, "concat (in place)"),
          "concat-inplace: labels");
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("concat-inplace", g));
}

static void test_dead_nodes(void) {
    gb b = gb_new();
    int x = gb_input(&b, "x", 2, (int64_t[]){0, 8});
    int y = gb_unary(&b, KILN_OP_RELU, x);
    gb_unary(&b, KILN_OP_SIGMOID, gb_unary(&b, KILN_OP_EXP, x)); /* nobody reads these */
    gb_output(&b, y, "y");
    kiln_graph *p = after_pass(b.g, kiln_pass_dead_nodes, "dead-nodes");
    CHECK(p->n_n == 1 && p->n[0].op == KILN_OP_RELU, "dead-nodes: %d nodes left", p->n_n);
    kiln_graph_destroy(p);
    kiln_engine_destroy(compare("dead-nodes", b.g));
}

static void test_pass_list(void) {
    int n;
    const kiln_pass *p = kiln_passes(&n);
    CHECK(n >= 9, "pass list: %d passes", n);
    for (int i = 0; i < n; i++) CHECK(p[i].name && p[i].summary && p[i].run, "pass %d", i);
    CHECK(kiln_pass_find("fold-batchnorm") != NULL && kiln_pass_find("nope") == NULL, "pass_find");
}

int main(void) {
    test_pass_list();
    test_identity();
    test_fold_constants();
    test_fold_batchnorm();
    test_fuse_activation();
    test_fuse_residual();
    test_fold_pad();
    test_merge_siblings();
    test_concat_inplace();
    test_dead_nodes();
    return test_done();
}
