/* test_onnx_errors.c — malformed and unsupported models fail with the right status and a
 * one-line message that names what failed (node, op, opset, attribute, tensor, path). */
#include "onnx_cases.h"

typedef struct bad_case {
    const char *file;
    kiln_status status;
    const char *words[4]; /* each must appear in the message */
} bad_case;

static const bad_case cases[] = {
    {"bad_unknown_op.onnx", KILN_ERR_UNSUPPORTED,
     {"node 'foo1' (op Foo, opset 13): operator not supported by kiln"}},
    {"bad_missing_init.onnx", KILN_ERR_PARSE, {"conv1", "W_missing", "never produced"}},
    {"bad_opset22.onnx", KILN_ERR_UNSUPPORTED, {"opset 22", "7..21"}},
    {"bad_opset6.onnx", KILN_ERR_UNSUPPORTED, {"opset 6", "7..21"}},
    {"bad_no_opset.onnx", KILN_ERR_PARSE, {"no default-domain"}},
    {"bad_ir2.onnx", KILN_ERR_UNSUPPORTED, {"IR version 2"}},
    {"bad_domain.onnx", KILN_ERR_UNSUPPORTED, {"'fc'", "FusedConv", "com.microsoft"}},
    {"bad_conv3d.onnx", KILN_ERR_UNSUPPORTED, {"'conv3d'", "op Conv", "opset 13", "3 spatial"}},
    {"bad_maxpool_indices.onnx", KILN_ERR_UNSUPPORTED, {"'pool'", "MaxPool", "'idx'"}},
    {"bad_bn_training.onnx", KILN_ERR_UNSUPPORTED, {"'bn'", "opset 15", "training_mode"}},
    {"bad_bn_spatial.onnx", KILN_ERR_UNSUPPORTED, {"'bn'", "opset 7", "spatial"}},
    {"bad_resize_cubic_aa.onnx", KILN_ERR_UNSUPPORTED, {"'rs'", "Resize", "antialias", "cubic"}},
    {"bad_cast_string.onnx", KILN_ERR_UNSUPPORTED, {"'cast'", "'to'", "string"}},
    {"bad_attr_type.onnx", KILN_ERR_PARSE, {"'cat'", "'axis'", "should be an int"}},
    {"bad_dup_output.onnx", KILN_ERR_PARSE, {"'r2'", "'y'", "already defined"}},
    {"bad_raw_size.onnx", KILN_ERR_PARSE, {"initializer 'w_bad'", "raw_data has 20 bytes", "24"}},
    {"bad_typed_count.onnx", KILN_ERR_PARSE, {"initializer 'w_few'", "float_data"}},
    {"bad_neg_dim.onnx", KILN_ERR_PARSE, {"initializer 'w_neg'", "negative"}},
    {"bad_absurd.onnx", KILN_ERR_PARSE, {"initializer 'w_huge'", "absurd"}},
    {"bad_string_init.onnx", KILN_ERR_UNSUPPORTED, {"initializer 'w_str'", "string"}},
    {"bad_sparse_const.onnx", KILN_ERR_UNSUPPORTED, {"'k_sparse'", "sparse_value"}},
    {"bad_unused_missing_out.onnx", KILN_ERR_PARSE, {"graph output 'nothing'"}},
    {"bad_upsample_op10.onnx", KILN_ERR_UNSUPPORTED, {"'up'", "Upsample", "opset 10"}},
    {"bad_hardswish_op13.onnx", KILN_ERR_PARSE, {"'hsw'", "HardSwish", "opset 14"}},
    {"bad_gemm_inputs.onnx", KILN_ERR_PARSE, {"'gemm'", "inputs"}},
    {"bad_input_type.onnx", KILN_ERR_UNSUPPORTED, {"graph input 'x'", "not a dense tensor"}},
    {"bad_cycle.onnx", KILN_ERR_PARSE, {"never produced"}},
    {"bad_conv_pads.onnx", KILN_ERR_PARSE, {"'c'", "'pads' has 3 values", "expected 4"}},
    {"bad_conv_kernel.onnx", KILN_ERR_PARSE, {"'c'", "kernel_shape", "weight 'W'"}},
    {"bad_conv_stride.onnx", KILN_ERR_PARSE, {"'c'", "'strides'", "at least 1"}},
    {"bad_conv_autopad.onnx", KILN_ERR_PARSE, {"'c'", "'auto_pad'", "'SAME'"}},
    {"bad_perm.onnx", KILN_ERR_PARSE, {"'t'", "Transpose", "'perm'"}},
    {"bad_pool_kernel.onnx", KILN_ERR_PARSE, {"'p'", "'kernel_shape' is required"}},
    {"bad_split_count.onnx", KILN_ERR_PARSE, {"'s'", "opset 11", "'split'"}},
    {"bad_concat_axis.onnx", KILN_ERR_PARSE, {"'cat'", "'axis' is required"}},
    {"bad_unsqueeze_axes.onnx", KILN_ERR_PARSE, {"'u'", "opset 11", "'axes' is required"}},
    {"bad_slice_attrs.onnx", KILN_ERR_PARSE, {"'sl'", "opset 9", "'starts'", "'ends'"}},
    {"bad_lrn_size.onnx", KILN_ERR_PARSE, {"'lrn'", "'size' is required"}},
    {"bad_pad_odd.onnx", KILN_ERR_PARSE, {"'pad'", "opset 10", "'pads'"}},
    {"bad_resize_mode.onnx", KILN_ERR_PARSE, {"'rs'", "'mode'", "'bicubic'"}},
    {"bad_dropout_training.onnx", KILN_ERR_UNSUPPORTED, {"'drop'", "Dropout", "training_mode"}},
    {"bad_cast_saturate.onnx", KILN_ERR_UNSUPPORTED, {"'cast'", "opset 19", "'saturate'"}},
    {"bad_cos_value.onnx", KILN_ERR_PARSE, {"'cos'", "ConstantOfShape", "one element"}},
    {"bad_const_two.onnx", KILN_ERR_PARSE, {"'k'", "'value_float'", "'value_int'"}},
    {"bad_const_string.onnx", KILN_ERR_UNSUPPORTED, {"'k'", "value_string"}},
    {"bad_dup_init.onnx", KILN_ERR_PARSE, {"'w'", "defined twice"}},
    {"bad_i32_count.onnx", KILN_ERR_PARSE, {"initializer 'w_i32'", "int32_data", "expected 3"}},
    {"bad_conv_group.onnx", KILN_ERR_PARSE, {"'c'", "'group'"}},
    {"bad_upsample_scales.onnx", KILN_ERR_PARSE, {"'up'", "opset 7", "'scales'"}},
    {"bad_squeeze_axes.onnx", KILN_ERR_PARSE, {"'sq'", "'axes' repeats"}},
    {"bad_input_negdim.onnx", KILN_ERR_PARSE, {"graph input 'x'", "negative"}},
    {"bad_input_rank9.onnx", KILN_ERR_UNSUPPORTED, {"graph input 'x'", "rank 9"}},
    {"bad_dup_input.onnx", KILN_ERR_PARSE, {"graph input 'x'", "twice"}},
    {"bad_sparse_init.onnx", KILN_ERR_UNSUPPORTED, {"sparse initializer"}},
    {"bad_empty.onnx", KILN_ERR_PARSE, {"not an ONNX model", "empty"}},
    {"bad_truncated.onnx", KILN_ERR_PARSE, {"not an ONNX model"}},
    {"bad_random.onnx", KILN_ERR_PARSE, {"not an ONNX model"}},
    {"bad_deep.onnx", KILN_ERR_PARSE, {"not an ONNX model", "nested"}},
    {"ext/bad_ext_dotdot.onnx", KILN_ERR_PARSE, {"'ext_w'", "../tensors.onnx", "refused"}},
    {"ext/bad_ext_dotdot2.onnx", KILN_ERR_PARSE, {"'ext_w'", "refused"}},
    {"ext/bad_ext_abs.onnx", KILN_ERR_PARSE, {"'ext_w'", "/etc/passwd", "refused"}},
    {"ext/bad_ext_missing.onnx", KILN_ERR_IO, {"'ext_w'", "nope.bin"}},
    {"ext/bad_ext_short.onnx", KILN_ERR_PARSE, {"'ext_w'", "weights.bin", "offset 48"}},
    {"ext/bad_ext_length.onnx", KILN_ERR_PARSE, {"'ext_w'", "20 bytes", "expected 24"}},
    {"ext/bad_ext_offset.onnx", KILN_ERR_PARSE, {"'ext_w'", "offset '-4'"}},
    {"ext/bad_ext_fifo.onnx", KILN_ERR_IO, {"'ext_w'", "fifo.bin", "not a regular file"}},
};

static void test_case(const bad_case *c) {
    kiln_graph *g = (kiln_graph *)1;
    kiln_err e;
    kiln_status s = onnx_case_import(c->file, &g, &e);
    CHECK(s == c->status, "%s: status %s, expected %s (%s)", c->file, kiln_status_str(s),
          kiln_status_str(c->status), e.msg);
    CHECK(g == NULL, "%s: graph left set on failure", c->file);
    CHECK(!strchr(e.msg, '\n'), "%s: one line", c->file);
    /* file errors start with the path, so the message says which model */
    CHECK(strstr(e.msg, c->file) != NULL, "%s: message lacks the path: %s", c->file, e.msg);
    for (int i = 0; i < 4 && c->words[i]; i++)
        CHECK(strstr(e.msg, c->words[i]) != NULL, "%s: message lacks \"%s\": %s", c->file,
              c->words[i], e.msg);
}

static void test_api_misuse(void) {
    kiln_graph *g = NULL;
    kiln_err e;
    char path[1024];
    onnx_case_path("no_such_model.onnx", path, sizeof path);
    kiln_status s = kiln_onnx_import_file(path, &g, &e);
    CHECK(s == KILN_ERR_IO && strstr(e.msg, "no_such_model.onnx"), "missing file: %s", e.msg);
    onnx_case_path("ext", path, sizeof path);
    s = kiln_onnx_import_file(path, &g, &e);
    CHECK(s == KILN_ERR_IO && strstr(e.msg, "not a regular file"), "directory: %s", e.msg);
    /* a FIFO as the model: refused at once, not read (which would block) */
    onnx_case_path("ext/fifo.bin", path, sizeof path);
    s = kiln_onnx_import_file(path, &g, &e);
    CHECK(s == KILN_ERR_IO && strstr(e.msg, "not a regular file"), "fifo: %s", e.msg);
    s = kiln_onnx_import_memory("", 0, NULL, &g, &e);
    CHECK(s == KILN_ERR_PARSE && strstr(e.msg, "not an ONNX model"), "empty: %s", e.msg);
    s = kiln_onnx_import_memory(NULL, 10, NULL, &g, &e);
    CHECK(s == KILN_ERR_INVALID_ARG, "NULL data");
    s = kiln_onnx_import_memory("x", 1, NULL, NULL, &e);
    CHECK(s == KILN_ERR_INVALID_ARG, "NULL out");
    /* NULL error object: status still returned, nothing written */
    s = kiln_onnx_import_memory("\x08", 1, NULL, &g, NULL);
    CHECK(s == KILN_ERR_PARSE && g == NULL, "NULL kiln_err");
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
    test_api_misuse();
    return test_done();
}
