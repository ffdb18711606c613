/* Shape inference of the nn ops (kiln_infer_nn_lookup): output shapes for every padding /
 * opset variant, and one-line errors that name the offending shapes; plus a small graph through
 * the kiln_infer driver (constants feeding Resize's scales). */
#include "core/graph.h"
#include "cpu_nn_testutil.h"

static kiln_view sv(kiln_shape s) { return (kiln_view){KILN_F32, s, NULL}; }

/* Infer t on inputs; expect success with shape want (ndim -1: expect failure whose message
   contains `msg`). */
static void expect_shape(const nn_node *t, const kiln_view *in, kiln_shape want, const char *what) {
    kiln_shape out[NN_MAX_IO];
    kiln_dtype dt[NN_MAX_IO];
    kiln_err e = {0};
    kiln_status st = nn_infer(t, in, out, dt, &e);
    char b1[64], b2[64];
    CHECK(st == KILN_OK, "%s: %s", what, e.msg);
    if (st == KILN_OK)
        CHECK(kiln_shape_eq(&out[0], &want) && dt[0] == KILN_F32, "%s: got %s, expected %s", what,
              kiln_shape_str(&out[0], b1, sizeof b1), kiln_shape_str(&want, b2, sizeof b2));
}

static void expect_error(const nn_node *t, const kiln_view *in, const char *msg, const char *what) {
    kiln_shape out[NN_MAX_IO];
    kiln_err e = {0};
    kiln_status st = nn_infer(t, in, out, NULL, &e);
    CHECK(st != KILN_OK, "%s: expected an error", what);
    if (st != KILN_OK) {
        CHECK(strstr(e.msg, msg) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, msg);
        CHECK(strchr(e.msg, '\n') == NULL && e.msg[0], "%s: message must be one non-empty line", what);
    }
}

static void conv_node(nn_node *t, kiln_op op, int64_t kh, int64_t kw, int64_t s, int64_t p, int64_t group) {
    nn_node_init(t, op, 13, 3, 1);
    kiln_conv_attr *a = &t->n.a.conv;
    a->group = group;
    a->kernel[0] = kh, a->kernel[1] = kw;
    a->nspatial = kh ? 2 : 0;
    a->stride[0] = a->stride[1] = s;
    a->pad_begin[0] = a->pad_begin[1] = a->pad_end[0] = a->pad_end[1] = p;
}

static void test_conv(void) {
    nn_node t;
    kiln_view in[4] = {sv(NN_SHAPE(1, 3, 224, 224)), sv(NN_SHAPE(64, 3, 7, 7)), sv(NN_SHAPE(64)), nn_absent()};
    conv_node(&t, KILN_OP_CONV, 7, 7, 2, 3, 1);
    expect_shape(&t, in, NN_SHAPE(1, 64, 112, 112), "ResNet stem");
    conv_node(&t, KILN_OP_CONV, 0, 0, 2, 3, 1); /* kernel taken from W */
    expect_shape(&t, in, NN_SHAPE(1, 64, 112, 112), "kernel from W");
    t.n.a.conv.auto_pad = KILN_AUTOPAD_SAME_UPPER;
    in[0].shape = NN_SHAPE(2, 3, 15, 16);
    expect_shape(&t, in, NN_SHAPE(2, 64, 8, 8), "SAME_UPPER");
    t.n.a.conv.auto_pad = KILN_AUTOPAD_SAME_LOWER;
    expect_shape(&t, in, NN_SHAPE(2, 64, 8, 8), "SAME_LOWER");
    t.n.a.conv.auto_pad = KILN_AUTOPAD_VALID;
    expect_shape(&t, in, NN_SHAPE(2, 64, 5, 5), "VALID");
    conv_node(&t, KILN_OP_CONV, 3, 3, 1, 0, 1);
    t.n.a.conv.dilation[0] = 2, t.n.a.conv.dilation[1] = 3;
    in[0].shape = NN_SHAPE(1, 3, 10, 10), in[1].shape = NN_SHAPE(5, 3, 3, 3), in[2] = nn_absent();
    expect_shape(&t, in, NN_SHAPE(1, 5, 6, 4), "dilations");
    t.n.a.conv.pad_begin[1] = 2, t.n.a.conv.pad_end[1] = 0;
    expect_shape(&t, in, NN_SHAPE(1, 5, 6, 6), "asymmetric pads");
    /* 1-D */
    conv_node(&t, KILN_OP_CONV, 0, 0, 2, 1, 2);
    in[0].shape = NN_SHAPE(4, 6, 11), in[1].shape = NN_SHAPE(8, 3, 3);
    expect_shape(&t, in, NN_SHAPE(4, 8, 6), "1-D grouped");
    /* errors */
    in[1].shape = NN_SHAPE(8, 2, 3);
    expect_error(&t, in, "4x6x11 has 6 channels but weights 8x2x3 with group 2 expect 4", "group mismatch");
    t.n.a.conv.group = 3;
    in[1].shape = NN_SHAPE(8, 2, 3);
    expect_error(&t, in, "not divisible by group 3", "C_out % group");
    conv_node(&t, KILN_OP_CONV, 5, 5, 1, 0, 1);
    in[0].shape = NN_SHAPE(1, 3, 8, 8), in[1].shape = NN_SHAPE(4, 3, 3, 3);
    expect_error(&t, in, "disagrees with weights 4x3x3x3", "kernel_shape vs W");
    conv_node(&t, KILN_OP_CONV, 0, 0, 1, 0, 1);
    in[1].shape = NN_SHAPE(4, 3, 3);
    expect_error(&t, in, "rank", "W rank");
    in[0].shape = NN_SHAPE(1, 3, 4, 4, 4), in[1].shape = NN_SHAPE(4, 3, 3, 3, 3);
    expect_error(&t, in, "1-D and 2-D", "3-D conv");
    in[0].shape = NN_SHAPE(1, 3, 2, 8), in[1].shape = NN_SHAPE(4, 3, 3, 3);
    expect_error(&t, in, "smaller than the dilated kernel", "too small");
    in[0].shape = NN_SHAPE(1, 3, 8, 8);
    in[2] = sv(NN_SHAPE(5));
    expect_error(&t, in, "bias 5", "bias size");
    in[2] = sv(NN_SHAPE(4));
    t.n.a.conv.has_residual = 1;
    t.n.n_in = 4;
    in[3] = sv(NN_SHAPE(1, 4, 6, 5));
    expect_error(&t, in, "residual 1x4x6x5 does not match the output 1x4x6x6", "residual");
    in[3] = sv(NN_SHAPE(1, 4, 6, 6));
    expect_shape(&t, in, NN_SHAPE(1, 4, 6, 6), "residual ok");
    in[1].shape.d[0] = 0; /* guard: an empty kernel dimension */
    t.n.a.conv.has_residual = 0;
    in[1].shape = NN_SHAPE(4, 3, 0, 3);
    expect_error(&t, in, "empty kernel", "empty kernel");
}

static void test_conv_transpose(void) {
    nn_node t;
    kiln_view in[3] = {sv(NN_SHAPE(1, 8, 5, 6)), sv(NN_SHAPE(8, 3, 3, 3)), nn_absent()};
    conv_node(&t, KILN_OP_CONV_TRANSPOSE, 0, 0, 2, 1, 1);
    expect_shape(&t, in, NN_SHAPE(1, 3, 9, 11), "convT");
    t.n.a.conv.output_padding[0] = t.n.a.conv.output_padding[1] = 1;
    expect_shape(&t, in, NN_SHAPE(1, 3, 10, 12), "convT output_padding");
    t.n.a.conv.group = 2;
    expect_shape(&t, in, NN_SHAPE(1, 6, 10, 12), "convT groups: C_out = W.shape[1] * group");
    t.n.a.conv.has_output_shape = 1;
    t.n.a.conv.output_shape[0] = 10, t.n.a.conv.output_shape[1] = 13;
    expect_shape(&t, in, NN_SHAPE(1, 6, 10, 13), "convT output_shape");
    t.n.a.conv.has_output_shape = 0;
    t.n.a.conv.auto_pad = KILN_AUTOPAD_SAME_UPPER;
    expect_shape(&t, in, NN_SHAPE(1, 6, 10, 12), "convT SAME_UPPER: in * stride");
    t.n.a.conv.auto_pad = KILN_AUTOPAD_VALID;
    t.n.a.conv.output_padding[0] = t.n.a.conv.output_padding[1] = 0;
    expect_shape(&t, in, NN_SHAPE(1, 6, 11, 13), "convT VALID");
    in[1].shape = NN_SHAPE(6, 3, 3, 3);
    expect_error(&t, in, "has 8 channels but ConvTranspose weights 6x3x3x3 expect 6", "convT channels");
}

static void pool_node(nn_node *t, kiln_op op, int64_t k, int64_t s, int64_t p, int ceil_mode) {
    nn_node_init(t, op, 19, 1, 1);
    kiln_pool_attr *a = &t->n.a.pool;
    a->nspatial = 2;
    a->kernel[0] = a->kernel[1] = k;
    a->stride[0] = a->stride[1] = s;
    a->pad_begin[0] = a->pad_begin[1] = a->pad_end[0] = a->pad_end[1] = p;
    a->ceil_mode = ceil_mode;
}

static void test_pool(void) {
    nn_node t;
    kiln_view in[1] = {sv(NN_SHAPE(1, 64, 112, 112))};
    pool_node(&t, KILN_OP_MAXPOOL, 3, 2, 1, 0);
    expect_shape(&t, in, NN_SHAPE(1, 64, 56, 56), "ResNet max pool");
    in[0].shape = NN_SHAPE(1, 96, 55, 55); /* AlexNet / SqueezeNet */
    pool_node(&t, KILN_OP_MAXPOOL, 3, 2, 0, 1);
    expect_shape(&t, in, NN_SHAPE(1, 96, 27, 27), "ceil_mode exact");
    in[0].shape = NN_SHAPE(1, 96, 56, 56);
    expect_shape(&t, in, NN_SHAPE(1, 96, 28, 28), "ceil_mode rounds up");
    in[0].shape = NN_SHAPE(1, 1, 4, 4);
    pool_node(&t, KILN_OP_AVGPOOL, 2, 3, 1, 1);
    expect_shape(&t, in, NN_SHAPE(1, 1, 2, 2), "ceil_mode: last window must start inside input or left pad");
    t.n.a.pool.auto_pad = KILN_AUTOPAD_SAME_LOWER;
    in[0].shape = NN_SHAPE(1, 1, 7, 5);
    expect_shape(&t, in, NN_SHAPE(1, 1, 3, 2), "pool SAME_LOWER");
    t.n.a.pool.auto_pad = KILN_AUTOPAD_VALID;
    expect_shape(&t, in, NN_SHAPE(1, 1, 2, 2), "pool VALID ignores ceil_mode");
    /* Indices output */
    pool_node(&t, KILN_OP_MAXPOOL, 2, 2, 0, 0);
    t.n.n_out = 2;
    kiln_shape out[2];
    kiln_dtype dt[2];
    kiln_err e;
    CHECK_OK(nn_infer(&t, in, out, dt, &e));
    CHECK(dt[1] == KILN_I64 && kiln_shape_eq(&out[0], &out[1]), "MaxPool Indices: int64, Y's shape");
    pool_node(&t, KILN_OP_MAXPOOL, 0, 1, 0, 0);
    expect_error(&t, in, "kernel_shape", "missing kernel");
    pool_node(&t, KILN_OP_AVGPOOL, 9, 1, 0, 0);
    expect_error(&t, in, "1x1x7x5", "window larger than input");
    /* global */
    nn_node_init(&t, KILN_OP_GLOBAL_AVGPOOL, 13, 1, 1);
    in[0].shape = NN_SHAPE(2, 2048, 7, 7);
    expect_shape(&t, in, NN_SHAPE(2, 2048, 1, 1), "global average pool");
    nn_node_init(&t, KILN_OP_GLOBAL_MAXPOOL, 13, 1, 1);
    in[0].shape = NN_SHAPE(2, 5, 3, 4, 6);
    expect_shape(&t, in, NN_SHAPE(2, 5, 1, 1, 1), "global max pool 3-D");
    in[0].shape = NN_SHAPE(2, 5);
    expect_error(&t, in, "2x5", "global pool rank");
}

static void test_gemm_matmul(void) {
    nn_node t;
    nn_node_init(&t, KILN_OP_GEMM, 13, 3, 1);
    kiln_view in[4] = {sv(NN_SHAPE(4, 7)), sv(NN_SHAPE(9, 7)), sv(NN_SHAPE(9)), nn_absent()};
    t.n.a.gemm.trans_b = 1;
    expect_shape(&t, in, NN_SHAPE(4, 9), "Gemm transB, C [N]");
    t.n.a.gemm.trans_a = 1;
    in[0].shape = NN_SHAPE(7, 4);
    in[2].shape = NN_SHAPE(4, 1);
    expect_shape(&t, in, NN_SHAPE(4, 9), "Gemm transA, C [M,1]");
    in[2].shape = NN_SHAPE(3, 9);
    expect_error(&t, in, "C 3x9 does not broadcast to the output 4x9", "Gemm C");
    in[2] = nn_absent();
    in[1].shape = NN_SHAPE(9, 6);
    expect_error(&t, in, "inner dimensions", "Gemm K");
    nn_node_init(&t, KILN_OP_MATMUL, 13, 2, 1);
    kiln_view m[2] = {sv(NN_SHAPE(5)), sv(NN_SHAPE(5))};
    expect_shape(&t, m, (kiln_shape){0, {0}}, "MatMul 1-D x 1-D -> scalar");
    m[1].shape = NN_SHAPE(5, 3);
    expect_shape(&t, m, NN_SHAPE(3), "MatMul 1-D x 2-D");
    m[0].shape = NN_SHAPE(2, 7, 5);
    m[1].shape = NN_SHAPE(5);
    expect_shape(&t, m, NN_SHAPE(2, 7), "MatMul 3-D x 1-D");
    m[0].shape = NN_SHAPE(2, 1, 3, 4);
    m[1].shape = NN_SHAPE(5, 4, 6);
    expect_shape(&t, m, NN_SHAPE(2, 5, 3, 6), "MatMul broadcast batch");
    m[1].shape = NN_SHAPE(3, 4, 6);
    m[0].shape = NN_SHAPE(2, 2, 3, 4);
    expect_error(&t, m, "batch dimensions of 2x2x3x4 and 3x4x6 do not broadcast", "MatMul batch mismatch");
    m[1].shape = NN_SHAPE(2, 5, 6);
    expect_error(&t, m, "inner dimensions differ: 2x2x3x4 x 2x5x6", "MatMul K");
}

static void test_norm_softmax(void) {
    nn_node t;
    nn_node_init(&t, KILN_OP_BATCHNORM, 15, 5, 1);
    kiln_view in[5] = {sv(NN_SHAPE(2, 4, 3, 3)), sv(NN_SHAPE(4)), sv(NN_SHAPE(4)), sv(NN_SHAPE(4)), sv(NN_SHAPE(4))};
    expect_shape(&t, in, NN_SHAPE(2, 4, 3, 3), "BatchNorm");
    in[3].shape = NN_SHAPE(5);
    expect_error(&t, in, "mean 5 must hold one value per channel of input 2x4x3x3", "BatchNorm mean");
    in[3].shape = NN_SHAPE(4);
    t.n.n_out = 3;
    expect_error(&t, in, "training-mode output 1", "BatchNorm training outputs");
    t.ids_out[1] = t.ids_out[2] = -1; /* declared but absent: fine */
    expect_shape(&t, in, NN_SHAPE(2, 4, 3, 3), "BatchNorm absent optional outputs");
    nn_node_init(&t, KILN_OP_SCALE_SHIFT, 13, 3, 1);
    expect_shape(&t, in, NN_SHAPE(2, 4, 3, 3), "ScaleShift");
    nn_node_init(&t, KILN_OP_SOFTMAX, 11, 1, 1);
    t.n.a.axis.axis = 4;
    expect_error(&t, in, "axis 4 out of range for input 2x4x3x3", "Softmax axis");
    t.n.a.axis.axis = -4;
    expect_shape(&t, in, NN_SHAPE(2, 4, 3, 3), "Softmax negative axis");
    nn_node_init(&t, KILN_OP_LRN, 13, 1, 1);
    t.n.a.lrn.size = 0;
    expect_error(&t, in, "size 0", "LRN size");
}

static void test_resize(void) {
    nn_node t;
    float sc[4] = {1, 1, 2, 1.5f}, roi[8] = {0};
    int64_t sz[4] = {1, 3, 5, 7}, sz2[2] = {10, 6};
    kiln_view x = sv(NN_SHAPE(1, 3, 4, 5));
    kiln_view scales = {KILN_F32, NN_SHAPE(4), sc}, sizes = {KILN_I64, NN_SHAPE(4), sz};
    kiln_view empty = {KILN_F32, NN_SHAPE(0), NULL};
    nn_node_init(&t, KILN_OP_RESIZE, 13, 3, 1);
    kiln_view in[4] = {x, nn_absent(), scales, nn_absent()};
    expect_shape(&t, in, NN_SHAPE(1, 3, 8, 7), "Resize scales (floor)");
    nn_node_init(&t, KILN_OP_RESIZE, 11, 4, 1);
    kiln_view in11[4] = {x, empty, empty, sizes};
    expect_shape(&t, in11, NN_SHAPE(1, 3, 5, 7), "Resize-11 sizes with empty roi/scales");
    in11[2] = scales;
    expect_error(&t, in11, "not both", "scales and sizes");
    in11[2] = empty, in11[3] = empty;
    expect_error(&t, in11, "neither", "no scales or sizes");
    in11[3] = (kiln_view){KILN_I64, NN_SHAPE(4), NULL};
    expect_error(&t, in11, "sizes are not known when building", "unknown sizes");
    nn_node_init(&t, KILN_OP_RESIZE, 10, 2, 1);
    kiln_view in10[2] = {x, scales};
    expect_shape(&t, in10, NN_SHAPE(1, 3, 8, 7), "Resize-10 (X, scales)");
    in10[1].shape = NN_SHAPE(3);
    expect_error(&t, in10, "3 scales for 4 axes", "scales count");
    nn_node_init(&t, KILN_OP_RESIZE, 7, 1, 1); /* Upsample-7 */
    t.n.a.resize.nscales = 4;
    t.n.a.resize.scales[0] = t.n.a.resize.scales[1] = 1, t.n.a.resize.scales[2] = 2, t.n.a.resize.scales[3] = 2;
    expect_shape(&t, &x, NN_SHAPE(1, 3, 8, 10), "Upsample-7 attribute scales");
    /* opset 18: axes and keep_aspect_ratio_policy */
    nn_node_init(&t, KILN_OP_RESIZE, 18, 4, 1);
    t.n.a.resize.naxes = 2;
    t.n.a.resize.axes[0] = -2, t.n.a.resize.axes[1] = 3;
    kiln_view in18[4] = {x, nn_absent(), nn_absent(), {KILN_I64, NN_SHAPE(2), sz2}};
    expect_shape(&t, in18, NN_SHAPE(1, 3, 10, 6), "Resize-18 axes stretch");
    t.n.a.resize.keep_aspect_ratio_policy = 1; /* not_larger: scale min(10/4, 6/5) = 1.2 */
    expect_shape(&t, in18, NN_SHAPE(1, 3, 5, 6), "keep_aspect_ratio not_larger");
    t.n.a.resize.keep_aspect_ratio_policy = 2; /* not_smaller: 2.5 */
    expect_shape(&t, in18, NN_SHAPE(1, 3, 10, 13), "keep_aspect_ratio not_smaller");
    t.n.a.resize.axes[1] = -2;
    expect_error(&t, in18, "repeated", "repeated axis");
    nn_node_init(&t, KILN_OP_RESIZE, 13, 3, 1);
    t.n.a.resize.coord = KILN_CT_TF_CROP_AND_RESIZE;
    kiln_view inr[3] = {x, nn_absent(), scales};
    expect_error(&t, inr, "roi", "tf_crop_and_resize without roi");
    inr[1] = (kiln_view){KILN_F32, NN_SHAPE(8), roi};
    expect_shape(&t, inr, NN_SHAPE(1, 3, 8, 7), "tf_crop_and_resize: floor(in * scale)");
}

/* Conv -> MaxPool -> Resize in a graph, Resize's scales a constant: the driver path. */
static void test_driver(void) {
    kiln_graph *g = kiln_graph_create();
    kiln_shape xs = NN_SHAPE(-1, 3, 16, 16), ws = NN_SHAPE(8, 3, 3, 3), ss = NN_SHAPE(4);
    int x = kiln_graph_add_tensor(g, "x", KILN_TENSOR_INPUT, KILN_F32, &xs);
    kiln_graph_mark_input(g, x);
    float *w = calloc(8 * 3 * 3 * 3, sizeof(float)), *sc = malloc(4 * sizeof(float));
    sc[0] = sc[1] = 1, sc[2] = sc[3] = 2;
    int wt = kiln_graph_add_const(g, "w", KILN_F32, &ws, w, 1);
    int st = kiln_graph_add_const(g, "scales", KILN_F32, &ss, sc, 1);
    int a = kiln_graph_add_tensor(g, "a", KILN_TENSOR_ACT, KILN_F32, NULL);
    int b = kiln_graph_add_tensor(g, "b", KILN_TENSOR_ACT, KILN_F32, NULL);
    int y = kiln_graph_add_tensor(g, "y", KILN_TENSOR_ACT, KILN_F32, NULL);
    int nc = kiln_graph_add_node(g, KILN_OP_CONV, "conv", 2, (int[]){x, wt}, 1, (int[]){a});
    kiln_attr_default(KILN_OP_CONV, 13, &g->n[nc].a);
    g->n[nc].opset = 13;
    int np = kiln_graph_add_node(g, KILN_OP_MAXPOOL, "pool", 1, (int[]){a}, 1, (int[]){b});
    kiln_attr_default(KILN_OP_MAXPOOL, 13, &g->n[np].a);
    g->n[np].a.pool.nspatial = 2;
    g->n[np].a.pool.kernel[0] = g->n[np].a.pool.kernel[1] = 2;
    g->n[np].a.pool.stride[0] = g->n[np].a.pool.stride[1] = 2;
    g->n[np].opset = 13;
    int nr = kiln_graph_add_node(g, KILN_OP_RESIZE, "up", 3, (int[]){b, -1, st}, 1, (int[]){y});
    kiln_attr_default(KILN_OP_RESIZE, 13, &g->n[nr].a);
    g->n[nr].opset = 13;
    kiln_graph_mark_output(g, y);
    kiln_shapes sh;
    kiln_err e;
    kiln_shape in = NN_SHAPE(2, 3, 16, 16);
    CHECK_OK(kiln_infer(g, &in, &sh, &e));
    kiln_shape want = NN_SHAPE(2, 8, 14, 14);
    CHECK(sh.s && kiln_shape_eq(&sh.s[y], &want), "driver: Conv -> MaxPool -> Resize shape");
    kiln_shapes_free(&sh);
    /* A bad input names the node. */
    in = NN_SHAPE(2, 4, 16, 16);
    CHECK(kiln_infer(g, &in, &sh, &e) == KILN_ERR_SHAPE, "driver: channel mismatch fails");
    CHECK(strstr(e.msg, "'conv'") && strstr(e.msg, "2x4x16x16"), "driver message: %s", e.msg);
    kiln_graph_destroy(g);
}

int main(void) {
    test_conv();
    test_conv_transpose();
    test_pool();
    test_gemm_matmul();
    test_norm_softmax();
    test_resize();
    test_driver();
    return test_done();
}
