/* test_onnx_import.c — the importer's graph for valid models: ops, attributes per opset, inputs,
 * outputs. Models come from scripts/make_onnx_cases.py (fixture onnx_cases). */
#include <math.h>
#include <stdint.h>

#include "onnx_cases.h"

static void check_i64s(const int64_t *got, const int64_t *want, int n, const char *what) {
    for (int i = 0; i < n; i++)
        CHECK(got[i] == want[i], "%s[%d] = %lld, expected %lld", what, i, (long long)got[i],
              (long long)want[i]);
}

static void test_conv_relu_pool(int opset) {
    char name[64];
    snprintf(name, sizeof name, "conv_relu_pool_op%d.onnx", opset);
    kiln_graph *g = onnx_case_ok(name);
    if (!g) return;
    CHECK(g->opset == opset, "graph opset %d", g->opset);
    CHECK(g->name && !strcmp(g->name, "g"), "graph name");
    CHECK(g->n_n == 3, "%s: %d nodes", name, g->n_n);
    /* W and B are listed as inputs at IR 3 but are initializers: constants, not inputs. */
    CHECK(g->n_inputs == 1 && !strcmp(g->t[g->inputs[0]].name, "x"), "inputs: only x");
    CHECK(g->n_outputs == 1 && !strcmp(g->t[g->outputs[0]].name, "y"), "outputs: y");
    kiln_tensor *W = onnx_tensor(g, "W"), *x = onnx_tensor(g, "x");
    if (W) CHECK(W->kind == KILN_TENSOR_CONST && W->dtype == KILN_F32, "W constant float32");
    if (x) {
        int64_t d[4] = {-1, 3, 8, 8};
        CHECK(x->kind == KILN_TENSOR_INPUT && x->dtype == KILN_F32 && x->shape.ndim == 4, "x");
        check_i64s(x->shape.d, d, 4, "x dims");
        CHECK(x->sym[0] && !strcmp(x->sym[0], "batch") && !x->sym[1], "x sym");
    }

    kiln_node *conv = onnx_node(g, "conv1");
    if (conv) {
        const kiln_conv_attr *a = &conv->a.conv;
        int64_t k[2] = {3, 3}, one[2] = {1, 1};
        CHECK(conv->op == KILN_OP_CONV && conv->opset == opset, "conv op/opset");
        CHECK(conv->n_in == 3 && !strcmp(onnx_in_name(g, conv, 0), "x") &&
                  !strcmp(onnx_in_name(g, conv, 1), "W") && !strcmp(onnx_in_name(g, conv, 2), "B"),
              "conv inputs");
        CHECK(a->nspatial == 2, "conv nspatial %d", a->nspatial);
        check_i64s(a->kernel, k, 2, "conv kernel"); /* from kernel_shape (7) or from W (13) */
        check_i64s(a->stride, one, 2, "conv stride");
        check_i64s(a->dilation, one, 2, "conv dilation");
        check_i64s(a->pad_begin, one, 2, "conv pad_begin");
        check_i64s(a->pad_end, one, 2, "conv pad_end");
        CHECK(a->group == 1 && a->auto_pad == KILN_AUTOPAD_NOTSET, "conv group/auto_pad");
    }
    kiln_node *relu = onnx_node(g, "relu1");
    if (relu) CHECK(relu->op == KILN_OP_RELU && relu->n_in == 1, "relu");
    kiln_node *pool = onnx_node(g, "pool1");
    if (pool) {
        const kiln_pool_attr *a = &pool->a.pool;
        int64_t two[2] = {2, 2}, zero[2] = {0, 0};
        CHECK(pool->op == KILN_OP_MAXPOOL, "pool op");
        CHECK(pool->n_out == 1, "pool outputs %d (unused indices dropped)", pool->n_out);
        CHECK(a->nspatial == 2, "pool nspatial");
        check_i64s(a->kernel, two, 2, "pool kernel");
        check_i64s(a->stride, two, 2, "pool stride");
        check_i64s(a->pad_begin, zero, 2, "pool pads");
        CHECK(a->ceil_mode == (opset >= 13), "pool ceil_mode %d", a->ceil_mode);
    }
    kiln_graph_destroy(g);
}

static void test_clip(void) {
    kiln_graph *g = onnx_case_ok("clip_attr_op9.onnx");
    kiln_node *n;
    if (g && (n = onnx_node(g, "clip"))) {
        CHECK(n->op == KILN_OP_CLIP && n->n_in == 1, "clip-9");
        CHECK(n->a.unary.has_min && n->a.unary.min == 0.0f, "clip-9 min");
        CHECK(n->a.unary.has_max && n->a.unary.max == 6.0f, "clip-9 max");
    }
    kiln_graph_destroy(g);
    g = onnx_case_ok("clip_attr_max_op9.onnx");
    if (g && (n = onnx_node(g, "clip")))
        CHECK(!n->a.unary.has_min && n->a.unary.has_max && n->a.unary.max == 2.5f,
              "clip-9 max only");
    kiln_graph_destroy(g);
    g = onnx_case_ok("clip_input_op13.onnx");
    if (g && (n = onnx_node(g, "clip"))) {
        CHECK(n->n_in == 3 && n->in[1] == -1 && !strcmp(onnx_in_name(g, n, 2), "hi"),
              "clip-13 inputs (x, absent min, hi)");
        CHECK(!n->a.unary.has_min && !n->a.unary.has_max, "clip-13 has no attribute bounds");
    }
    kiln_graph_destroy(g);
}

static void test_squeeze(void) {
    kiln_graph *g = onnx_case_ok("squeeze_attr_op11.onnx");
    kiln_node *n;
    if (g && (n = onnx_node(g, "sq"))) {
        CHECK(n->op == KILN_OP_SQUEEZE && n->n_in == 1, "squeeze-11");
        CHECK(n->a.axes.has_axes && n->a.axes.naxes == 1 && n->a.axes.axes[0] == 1,
              "squeeze-11 axes");
    }
    if (g && (n = onnx_node(g, "unsq"))) {
        int64_t ax[2] = {0, -1};
        CHECK(n->op == KILN_OP_UNSQUEEZE && n->a.axes.has_axes && n->a.axes.naxes == 2,
              "unsqueeze-11");
        check_i64s(n->a.axes.axes, ax, 2, "unsqueeze-11 axes");
    }
    kiln_graph_destroy(g);
    g = onnx_case_ok("squeeze_input_op13.onnx");
    if (g && (n = onnx_node(g, "sq")))
        CHECK(n->n_in == 2 && !n->a.axes.has_axes && !strcmp(onnx_in_name(g, n, 1), "ax"),
              "squeeze-13 axes input");
    if (g && (n = onnx_node(g, "unsq")))
        CHECK(n->n_in == 2 && !n->a.axes.has_axes, "unsqueeze-13 axes input");
    kiln_graph_destroy(g);
}

static void test_softmax(void) {
    for (int opset = 11; opset <= 13; opset += 2) {
        char name[64];
        snprintf(name, sizeof name, "softmax_op%d.onnx", opset);
        kiln_graph *g = onnx_case_ok(name);
        kiln_node *n;
        if (g && (n = onnx_node(g, "sm"))) {
            CHECK(n->op == KILN_OP_SOFTMAX, "softmax op");
            CHECK(n->a.axis.axis == (opset < 13 ? 1 : -1), "softmax-%d default axis %lld", opset,
                  (long long)n->a.axis.axis);
            CHECK(n->a.axis.legacy_2d == (opset < 13), "softmax-%d legacy_2d", opset);
        }
        if (g && (n = onnx_node(g, "lsm"))) {
            CHECK(n->op == KILN_OP_LOG_SOFTMAX && n->a.axis.axis == 0, "logsoftmax axis");
            CHECK(n->a.axis.legacy_2d == (opset < 13), "logsoftmax-%d legacy_2d", opset);
        }
        kiln_graph_destroy(g);
    }
}

static kiln_node *resize_node(kiln_graph **g, const char *file, const char *node) {
    *g = onnx_case_ok(file);
    kiln_node *n = *g ? onnx_node(*g, node) : NULL;
    if (n) CHECK(n->op == KILN_OP_RESIZE, "%s: op %s", file, kiln_op_name(n->op));
    return n;
}

static void test_resize(void) {
    kiln_graph *g;
    kiln_node *n = resize_node(&g, "upsample_op7.onnx", "up");
    if (n) {
        const kiln_resize_attr *a = &n->a.resize;
        CHECK(n->n_in == 1 && a->mode == KILN_RESIZE_NEAREST, "upsample-7");
        CHECK(a->coord == KILN_CT_ASYMMETRIC && a->nearest_mode == KILN_NEAREST_FLOOR,
              "upsample-7 coord/rounding");
        CHECK(a->nscales == 4 && a->scales[0] == 1 && a->scales[1] == 1 && a->scales[2] == 2 &&
                  a->scales[3] == 2,
              "upsample-7 scales attribute");
    }
    kiln_graph_destroy(g);
    n = resize_node(&g, "upsample_op9.onnx", "up");
    if (n)
        CHECK(n->n_in == 2 && n->a.resize.mode == KILN_RESIZE_LINEAR && n->a.resize.nscales == 0 &&
                  n->a.resize.coord == KILN_CT_ASYMMETRIC,
              "upsample-9");
    kiln_graph_destroy(g);
    n = resize_node(&g, "resize_op10.onnx", "rs");
    if (n)
        CHECK(n->n_in == 2 && n->a.resize.mode == KILN_RESIZE_LINEAR &&
                  n->a.resize.coord == KILN_CT_ASYMMETRIC,
              "resize-10");
    kiln_graph_destroy(g);
    n = resize_node(&g, "resize_op11.onnx", "rs");
    if (n) {
        const kiln_resize_attr *a = &n->a.resize;
        CHECK(n->n_in == 3 && a->mode == KILN_RESIZE_LINEAR && a->coord == KILN_CT_ALIGN_CORNERS,
              "resize-11");
        CHECK(a->nearest_mode == KILN_NEAREST_ROUND_PREFER_FLOOR && a->cubic_coeff_a == -0.75f &&
                  !a->exclude_outside && a->extrapolation_value == 0,
              "resize-11 defaults");
    }
    kiln_graph_destroy(g);
    n = resize_node(&g, "resize_op13.onnx", "rs");
    if (n) {
        const kiln_resize_attr *a = &n->a.resize;
        CHECK(n->n_in == 4 && n->in[1] == -1 && n->in[2] == -1 &&
                  !strcmp(onnx_in_name(g, n, 3), "sz"),
              "resize-13 inputs (x, -, -, sizes)");
        CHECK(a->mode == KILN_RESIZE_CUBIC && a->coord == KILN_CT_PYTORCH_HALF_PIXEL &&
                  a->cubic_coeff_a == -0.5f && a->exclude_outside == 1 &&
                  a->nearest_mode == KILN_NEAREST_CEIL,
              "resize-13 attributes");
    }
    kiln_graph_destroy(g);
    n = resize_node(&g, "resize_op19.onnx", "rs");
    if (n) {
        const kiln_resize_attr *a = &n->a.resize;
        CHECK(a->antialias == 1 && a->naxes == 2 && a->axes[0] == 2 && a->axes[1] == 3 &&
                  a->keep_aspect_ratio_policy == 1 && a->extrapolation_value == 1.5f &&
                  a->coord == KILN_CT_HALF_PIXEL_SYMMETRIC,
              "resize-19 attributes");
    }
    kiln_graph_destroy(g);
}

static void test_pad_slice(void) {
    kiln_graph *g = onnx_case_ok("pad_op2.onnx");
    kiln_node *n;
    if (g && (n = onnx_node(g, "pad"))) {
        int64_t p[8] = {0, 0, 1, 2, 0, 0, 3, 4};
        CHECK(n->op == KILN_OP_PAD && n->n_in == 1 && n->a.pad.mode == KILN_PAD_REFLECT &&
                  n->a.pad.npads == 8 && n->a.pad.value == 0,
              "pad-2");
        check_i64s(n->a.pad.pads, p, 8, "pad-2 pads");
    }
    kiln_graph_destroy(g);
    g = onnx_case_ok("pad_value_op2.onnx");
    if (g && (n = onnx_node(g, "pad")))
        CHECK(n->a.pad.mode == KILN_PAD_CONSTANT && n->a.pad.npads == 8 &&
                  n->a.pad.value == -1.5f,
              "pad-2 value");
    kiln_graph_destroy(g);
    g = onnx_case_ok("pad_op13.onnx");
    if (g && (n = onnx_node(g, "pad")))
        CHECK(n->n_in == 3 && n->a.pad.mode == KILN_PAD_EDGE && n->a.pad.npads == 0, "pad-13");
    kiln_graph_destroy(g);
    g = onnx_case_ok("pad_wrap_op19.onnx");
    if (g && (n = onnx_node(g, "pad")))
        CHECK(n->n_in == 4 && n->in[2] == -1 && n->a.pad.mode == KILN_PAD_WRAP &&
                  n->a.pad.npads == 0,
              "pad-19 wrap");
    kiln_graph_destroy(g);

    g = onnx_case_ok("slice_op1.onnx");
    if (g && (n = onnx_node(g, "sl"))) {
        int64_t st[2] = {1, 0}, en[2] = {3, 100}, ax[2] = {2, 3};
        CHECK(n->op == KILN_OP_SLICE && n->n_in == 1 && n->a.slice.n == 2 && n->a.slice.has_axes,
              "slice-1");
        check_i64s(n->a.slice.starts, st, 2, "slice-1 starts");
        check_i64s(n->a.slice.ends, en, 2, "slice-1 ends");
        check_i64s(n->a.slice.axes, ax, 2, "slice-1 axes");
    }
    kiln_graph_destroy(g);
    g = onnx_case_ok("slice_op13.onnx");
    if (g && (n = onnx_node(g, "sl"))) CHECK(n->n_in == 5 && n->a.slice.n == 0, "slice-13");
    kiln_graph_destroy(g);
}

static void test_attrs_op11(void) {
    kiln_graph *g = onnx_case_ok("attrs_op11.onnx");
    if (!g) return;
    kiln_node *n;
    if ((n = onnx_node(g, "gemm")))
        CHECK(n->op == KILN_OP_GEMM && n->a.gemm.alpha == 0.5f && n->a.gemm.beta == 2.0f &&
                  !n->a.gemm.trans_a && n->a.gemm.trans_b,
              "gemm");
    if ((n = onnx_node(g, "leaky")))
        CHECK(n->op == KILN_OP_LEAKY_RELU && n->a.unary.alpha == 0.2f, "leaky alpha");
    if ((n = onnx_node(g, "hsig")))
        CHECK(n->a.unary.alpha == 0.25f && n->a.unary.beta == 0.4f, "hardsigmoid");
    if ((n = onnx_node(g, "split")))
        CHECK(n->op == KILN_OP_SPLIT && n->n_out == 2 && n->a.split.axis == 1 &&
                  n->a.split.nsplit == 2 && n->a.split.split[0] == 2 && n->a.split.split[1] == 4,
              "split-11");
    if ((n = onnx_node(g, "concat"))) CHECK(n->a.axis.axis == -1 && n->n_in == 2, "concat");
    if ((n = onnx_node(g, "rsum")))
        CHECK(n->n_in == 1 && n->a.axes.has_axes && n->a.axes.naxes == 1 &&
                  n->a.axes.axes[0] == 1 && n->a.axes.keepdims == 0,
              "reducesum-11 axes attribute");
    if ((n = onnx_node(g, "rmean")))
        CHECK(n->a.axes.naxes == 2 && n->a.axes.keepdims == 1, "reducemean-11");
    if ((n = onnx_node(g, "transpose")))
        CHECK(n->a.transpose.nperm == 2 && n->a.transpose.perm[0] == 1 &&
                  n->a.transpose.perm[1] == 0,
              "transpose perm");
    if ((n = onnx_node(g, "flatten"))) CHECK(n->a.axis.axis == 0, "flatten axis");
    if ((n = onnx_node(g, "gather"))) CHECK(n->a.gather.axis == 1, "gather axis");
    if ((n = onnx_node(g, "cast"))) CHECK(n->a.cast.to == KILN_F16, "cast to");
    if ((n = onnx_node(g, "bn")))
        CHECK(n->op == KILN_OP_BATCHNORM && fabsf(n->a.bn.epsilon - 1e-3f) < 1e-9f &&
                  n->n_in == 5,
              "batchnorm epsilon");
    if ((n = onnx_node(g, "lrn")))
        CHECK(n->a.lrn.size == 3 && n->a.lrn.alpha == 2e-4f && n->a.lrn.beta == 0.5f &&
                  n->a.lrn.bias == 2.0f,
              "lrn");
    if ((n = onnx_node(g, "avgpool"))) {
        const kiln_pool_attr *a = &n->a.pool;
        CHECK(n->op == KILN_OP_AVGPOOL && a->kernel[0] == 3 && a->stride[1] == 2 &&
                  a->pad_begin[0] == 1 && a->pad_end[1] == 1 && a->count_include_pad &&
                  a->ceil_mode,
              "averagepool");
    }
    if ((n = onnx_node(g, "convt"))) {
        const kiln_conv_attr *a = &n->a.conv;
        CHECK(n->op == KILN_OP_CONV_TRANSPOSE && a->nspatial == 2, "convtranspose");
        CHECK(a->kernel[0] == 2 && a->kernel[1] == 2, "convtranspose kernel from W");
        CHECK(a->stride[0] == 2 && a->output_padding[0] == 1 && a->output_padding[1] == 1 &&
                  a->group == 2 && a->auto_pad == KILN_AUTOPAD_SAME_UPPER &&
                  !a->has_output_shape,
              "convtranspose attributes");
    }
    if ((n = onnx_node(g, "gap"))) CHECK(n->op == KILN_OP_GLOBAL_AVGPOOL, "global avg pool");
    if ((n = onnx_node(g, "drop")))
        CHECK(n->op == KILN_OP_DROPOUT && n->n_in == 1 && n->n_out == 1,
              "dropout: unused mask dropped");
    if ((n = onnx_node(g, "shape")))
        CHECK(n->a.shape.start == 0 && n->a.shape.end == INT64_MAX, "shape-1 whole");
    if ((n = onnx_node(g, "cos")))
        CHECK(n->a.cos.dtype == KILN_I64 && n->a.cos.value == 7, "constantofshape value");
    kiln_graph_destroy(g);
}

static void test_attrs_op15(void) {
    kiln_graph *g = onnx_case_ok("attrs_op15.onnx");
    if (!g) return;
    kiln_node *n;
    if ((n = onnx_node(g, "shape")))
        CHECK(n->a.shape.start == 1 && n->a.shape.end == -1, "shape-15 start/end");
    if ((n = onnx_node(g, "reshape"))) CHECK(n->a.reshape.allowzero == 1, "reshape allowzero");
    if ((n = onnx_node(g, "rsum")))
        CHECK(n->n_in == 2 && !n->a.axes.has_axes && n->a.axes.keepdims == 1 &&
                  n->a.axes.noop_with_empty_axes == 1,
              "reducesum-13 axes input, noop_with_empty_axes");
    if ((n = onnx_node(g, "rmax")))
        CHECK(n->n_in == 1 && n->a.axes.has_axes && n->a.axes.axes[0] == -1,
              "reducemax-13 axes attribute");
    if ((n = onnx_node(g, "split")))
        CHECK(n->n_in == 2 && n->a.split.axis == 2 && n->a.split.nsplit == 0, "split-13");
    if ((n = onnx_node(g, "bn"))) CHECK(n->a.bn.epsilon == 1e-5f, "batchnorm default epsilon");
    if ((n = onnx_node(g, "drop")))
        CHECK(n->n_in == 2 && n->n_out == 2, "dropout-13: used mask kept");
    if ((n = onnx_node(g, "conv"))) {
        const kiln_conv_attr *a = &n->a.conv;
        CHECK(a->auto_pad == KILN_AUTOPAD_SAME_LOWER && a->group == 2 && a->nspatial == 2 &&
                  a->kernel[0] == 3 && a->kernel[1] == 3,
              "conv auto_pad, kernel from W");
    }
    if ((n = onnx_node(g, "convt")))
        CHECK(n->a.conv.has_output_shape && n->a.conv.output_shape[0] == 10 &&
                  n->a.conv.output_shape[1] == 10 && n->a.conv.kernel[0] == 3,
              "convtranspose output_shape");
    if ((n = onnx_node(g, "hswish"))) CHECK(n->op == KILN_OP_HARD_SWISH, "hardswish");
    kiln_graph_destroy(g);
}

static void test_attrs_op18(void) {
    kiln_graph *g = onnx_case_ok("attrs_op18.onnx");
    if (!g) return;
    kiln_node *n;
    CHECK(g->opset == 18, "opset 18");
    if ((n = onnx_node(g, "split")))
        CHECK(n->n_out == 3 && n->a.split.num_outputs == 3 && n->a.split.nsplit == 0,
              "split-18 num_outputs");
    if ((n = onnx_node(g, "rmean")))
        CHECK(n->n_in == 2 && !n->a.axes.has_axes && n->a.axes.keepdims == 0,
              "reducemean-18 axes input");
    if ((n = onnx_node(g, "rmin")))
        CHECK(n->n_in == 1 && n->a.axes.noop_with_empty_axes == 1, "reducemin-18");
    if ((n = onnx_node(g, "maxpool"))) {
        const kiln_pool_attr *a = &n->a.pool;
        CHECK(a->nspatial == 1 && a->kernel[0] == 3 && a->dilation[0] == 2 &&
                  a->storage_order == 1 && a->auto_pad == KILN_AUTOPAD_VALID,
              "maxpool 1-D");
    }
    if ((n = onnx_node(g, "conv1d")))
        CHECK(n->a.conv.nspatial == 1 && n->a.conv.kernel[0] == 5, "conv 1-D kernel from W");
    if ((n = onnx_node(g, "cast8"))) CHECK(n->a.cast.to == KILN_F8E4M3, "cast to float8");
    kiln_graph_destroy(g);
}

/* Unnamed nodes get "<op>_<index>", empty output names fresh tensors, and nodes listed out of
   order are sorted. */
static void test_order(void) {
    kiln_graph *g = onnx_case_ok("unsorted.onnx");
    if (!g) return;
    CHECK(g->n_n == 3, "3 nodes");
    if (g->n_n == 3) {
        CHECK(g->n[0].op == KILN_OP_RELU && !strcmp(g->n[0].name, "Relu_2"), "first: Relu_2");
        CHECK(g->n[1].op == KILN_OP_SPLIT && !strcmp(g->n[1].name, "Split_1"), "then Split_1");
        CHECK(g->n[2].op == KILN_OP_IDENTITY && !strcmp(g->n[2].name, "Identity_0"),
              "last: Identity_0");
        const kiln_node *sp = &g->n[1];
        CHECK(sp->n_out == 2 && sp->out[1] >= 0 && sp->out[1] != sp->out[0] &&
                  g->t[sp->out[1]].kind == KILN_TENSOR_ACT,
              "empty output name: a fresh tensor");
    }
    kiln_err e;
    CHECK_OK(kiln_graph_validate(g, &e));
    kiln_graph_destroy(g);
}

static void test_chain(void) {
    kiln_graph *g = onnx_case_ok("chain.onnx");
    if (!g) return;
    CHECK(g->n_n == 600 && g->n_t == 300 + 1 + 600, "chain: %d nodes, %d tensors", g->n_n,
          g->n_t);
    kiln_node *n = onnx_node(g, "add250");
    if (n) {
        const kiln_tensor *b = &g->t[n->in[1]];
        CHECK(!strcmp(onnx_in_name(g, n, 0), "r249") && !strcmp(b->name, "b250") &&
                  b->kind == KILN_TENSOR_CONST && ((const float *)b->data)[3] == 250.0f,
              "add250 reads r249 and b250");
    }
    CHECK(g->n_outputs == 1 && !strcmp(g->t[g->outputs[0]].name, "r299"), "chain output");
    kiln_graph_destroy(g);
}

int main(void) {
    test_order();
    test_chain();
    test_conv_relu_pool(7);
    test_conv_relu_pool(13);
    test_clip();
    test_squeeze();
    test_softmax();
    test_resize();
    test_pad_slice();
    test_attrs_op11();
    test_attrs_op15();
    test_attrs_op18();
    return test_done();
}
