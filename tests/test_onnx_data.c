/* test_onnx_data.c — constants from ONNX: typed fields and raw_data for every dtype, external
 * data files, Constant nodes of each kind, symbolic input dimensions. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/dtype.h"
#include "onnx_cases.h"

/* A constant with the given dtype and shape; NULL (and a failed check) otherwise. */
static const kiln_tensor *konst(kiln_graph *g, const char *name, kiln_dtype dt, int ndim,
                                const int64_t *dims) {
    const kiln_tensor *t = onnx_tensor(g, name);
    if (!t) return NULL;
    int ok = t->kind == KILN_TENSOR_CONST && t->data && t->dtype == dt && t->shape.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape.d[i] == dims[i];
    CHECK(ok, "%s: kind %d dtype %s rank %d", name, t->kind, kiln_dtype_name(t->dtype),
          t->shape.ndim);
    return ok ? t : NULL;
}

static void check_values(const kiln_tensor *t, const double *want, int n) {
    if (!t) return;
    for (int i = 0; i < n; i++) {
        double v = kiln_elem_get(t->data, t->dtype, i);
        CHECK(v == want[i], "%s[%d] = %.17g, expected %.17g", t->name, i, v, want[i]);
    }
}

static void test_typed_and_raw(void) {
    kiln_graph *g = onnx_case_ok("tensors.onnx");
    if (!g) return;
    int64_t d22[2] = {2, 2}, d3[1] = {3}, d2[1] = {2}, d1[1] = {1}, d03[2] = {0, 3};
    const kiln_tensor *t;

    double f32[4] = {1.5, -2.0, 3.25, 0.0};
    check_values(konst(g, "f32_typed", KILN_F32, 2, d22), f32, 4);
    check_values(konst(g, "f32_raw", KILN_F32, 2, d22), f32, 4);
    /* float16/bfloat16 live in int32_data as bit patterns */
    double f16[3] = {1.0, -0.5, 65504.0};
    if ((t = konst(g, "f16_typed", KILN_F16, 1, d3))) {
        const uint16_t *h = t->data;
        for (int i = 0; i < 3; i++) CHECK(kiln_f16_to_f32(h[i]) == f16[i], "f16_typed[%d]", i);
    }
    check_values(konst(g, "f16_raw", KILN_F16, 1, d3), f16, 3);
    if ((t = konst(g, "bf16_typed", KILN_BF16, 1, d2))) {
        const uint16_t *h = t->data;
        CHECK(kiln_bf16_to_f32(h[0]) == 1.0f && kiln_bf16_to_f32(h[1]) == -3.0f, "bf16_typed");
    }
    /* integers: exact */
    const int64_t i64w[3] = {-1, 2, (int64_t)1 << 40};
    const kiln_tensor *a = konst(g, "i64_typed", KILN_I64, 1, d3);
    const kiln_tensor *b = konst(g, "i64_raw", KILN_I64, 1, d3);
    if (a && b)
        CHECK(!memcmp(a->data, i64w, 24) && !memcmp(b->data, i64w, 24), "int64 typed and raw");
    if ((t = konst(g, "i32_typed", KILN_I32, 1, d2))) {
        const int32_t *v = t->data;
        CHECK(v[0] == -7 && v[1] == 123456, "int32");
    }
    double i8[3] = {-128, 0, 127}, u8[2] = {0, 255}, bl[3] = {1, 0, 1}, f64[2] = {0.1, -2.5};
    check_values(konst(g, "i8_typed", KILN_I8, 1, d3), i8, 3);
    check_values(konst(g, "u8_typed", KILN_U8, 1, d2), u8, 2);
    check_values(konst(g, "bool_typed", KILN_BOOL, 1, d3), bl, 3);
    check_values(konst(g, "f64_typed", KILN_F64, 1, d2), f64, 2);
    if ((t = konst(g, "u64_typed", KILN_U64, 1, d1)))
        CHECK(*(const uint64_t *)t->data == ((uint64_t)1 << 63) + 5, "uint64");
    if ((t = konst(g, "u32_typed", KILN_U32, 1, d2))) {
        const uint32_t *v = t->data;
        CHECK(v[0] == 4000000000u && v[1] == 1, "uint32 from uint64_data");
    }
    konst(g, "empty_typed", KILN_F32, 2, d03);
    double s42[1] = {42};
    check_values(konst(g, "scalar_typed", KILN_I64, 0, NULL), s42, 1);
    CHECK(g->n_inputs == 1, "initializers are not inputs");
    kiln_graph_destroy(g);
}

static void check_ext(kiln_graph *g) {
    int64_t d23[2] = {2, 3}, d3[1] = {3}, d2[1] = {2};
    double a[6] = {0, 1, 2, 3, 4, 5}, b[3] = {10, 20, 30}, c[2] = {0.5, 0.25};
    check_values(konst(g, "ext_a", KILN_F32, 2, d23), a, 6);
    check_values(konst(g, "ext_b", KILN_I64, 1, d3), b, 3);
    check_values(konst(g, "ext_c", KILN_F32, 1, d2), c, 2); /* no length: rest of the file */
}

static void test_external(void) {
    kiln_graph *g = onnx_case_ok("ext/ext_data.onnx");
    if (g) check_ext(g);
    kiln_graph_destroy(g);

    /* From memory: base_dir says where the data file is. */
    char path[1024], dir[1024];
    onnx_case_path("ext/ext_data.onnx", path, sizeof path);
    onnx_case_path("ext", dir, sizeof dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    kiln_err e;
    g = NULL;
    CHECK_OK(kiln_onnx_import_memory(buf, n, dir, &g, &e));
    if (g) check_ext(g);
    kiln_graph_destroy(g);
    g = NULL;
    kiln_status s = kiln_onnx_import_memory(buf, n, "/nonexistent-kiln-dir", &g, &e);
    CHECK(s == KILN_ERR_IO && !g && strstr(e.msg, "weights.bin") && strstr(e.msg, "ext_a"),
          "wrong base_dir: %s", e.msg);
}

static void test_constants(void) {
    kiln_graph *g = onnx_case_ok("constants.onnx");
    if (!g) return;
    CHECK(g->n_n == 2, "Constant nodes become constants, not nodes (%d nodes)", g->n_n);
    int64_t d22[2] = {2, 2}, d3[1] = {3}, d2[1] = {2};
    double ct[4] = {0, 0.5, 1, 1.5}, cf[1] = {2.5}, cfs[3] = {1, 2, 3}, ci[1] = {-3},
           cis[2] = {4, 5}, c64[2] = {7, -8}, late[1] = {4};
    check_values(konst(g, "c_tensor", KILN_F32, 2, d22), ct, 4);
    check_values(konst(g, "c_float", KILN_F32, 0, NULL), cf, 1);
    check_values(konst(g, "c_floats", KILN_F32, 1, d3), cfs, 3);
    check_values(konst(g, "c_int", KILN_I64, 0, NULL), ci, 1);
    check_values(konst(g, "c_ints", KILN_I64, 1, d2), cis, 2);
    check_values(konst(g, "c_i64", KILN_I64, 1, d2), c64, 2);
    check_values(konst(g, "c_late", KILN_F32, 0, NULL), late, 1);
    kiln_node *mul = onnx_node(g, "mul");
    if (mul) CHECK(!strcmp(onnx_in_name(g, mul, 1), "c_late"), "Constant after its reader");
    CHECK(g->n_outputs == 6 && !strcmp(g->t[g->outputs[0]].name, "z") &&
              !strcmp(g->t[g->outputs[1]].name, "c_float") &&
              !strcmp(g->t[g->outputs[5]].name, "c_i64"),
          "outputs in order, constants among them");
    kiln_err e;
    CHECK_OK(kiln_graph_validate(g, &e));
    kiln_graph_destroy(g);
}

static void test_dim_param(void) {
    kiln_graph *g = onnx_case_ok("dim_param.onnx");
    if (!g) return;
    CHECK(g->n_inputs == 2, "two inputs");
    const kiln_tensor *x = g->n_inputs == 2 ? &g->t[g->inputs[0]] : NULL;
    if (x) {
        CHECK(!strcmp(x->name, "x") && x->dtype == KILN_F32 && x->shape.ndim == 4, "x");
        CHECK(x->shape.d[0] == -1 && x->shape.d[1] == 3 && x->shape.d[2] == -1 &&
                  x->shape.d[3] == -1,
              "x dims: batch, 3, height, missing");
        CHECK(x->sym[0] && !strcmp(x->sym[0], "batch"), "sym batch");
        CHECK(!x->sym[1] && x->sym[2] && !strcmp(x->sym[2], "height") && !x->sym[3],
              "sym height, none for fixed and missing dims");
        const kiln_tensor *m = &g->t[g->inputs[1]];
        CHECK(!strcmp(m->name, "m") && m->dtype == KILN_I64 && m->shape.ndim == 0,
              "scalar int64 input");
    }
    const kiln_tensor *y = onnx_tensor(g, "y");
    if (y)
        CHECK(y->is_output && y->shape.ndim == 4 && y->sym[0] && !strcmp(y->sym[0], "batch"),
              "declared output shape kept");
    /* Cloning keeps the symbols (the runtime clones graphs per engine). */
    kiln_graph *c = kiln_graph_clone(g);
    CHECK(c && c->t[c->inputs[0]].sym[2] && !strcmp(c->t[c->inputs[0]].sym[2], "height"),
          "clone keeps sym");
    kiln_graph_destroy(c);
    kiln_graph_destroy(g);
}

int main(void) {
    test_typed_and_raw();
    test_external();
    test_constants();
    test_dim_param();
    return test_done();
}
