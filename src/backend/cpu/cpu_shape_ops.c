/* Kernels of ops that re-describe data (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
 * Dropout: copies, which the optimizer aliases away where it can), broadcast it (Expand), or
 * make shape-valued tensors (Shape, ConstantOfShape). */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

kiln_status kiln__cpu_copy_op(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e) {
    (void)n;
    (void)e;
    size_t bytes = (size_t)kiln_shape_numel(&out[0].shape) * kiln_dtype_size(out[0].dtype);
    kiln__cpu_copy(cpu, out[0].data, in[0].data, bytes);
    return KILN_OK;
}

/* Fill n elements of type t with value v. */
static void fill_value(kiln_cpu *cpu, void *data, kiln_dtype t, int64_t n, double v) {
    unsigned char one[8] = {0};
    kiln_elem_set(one, t, 0, v);
    kiln_view src = {t, kiln_shape_make(0, NULL), one};
    kiln_view dst = {t, kiln_shape_make(1, &n), data};
    kiln__bcast_copy(cpu, &src, &dst);
}

kiln_status kiln__cpu_dropout(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e) {
    /* Opset 12: ratio (input 1) and training_mode (input 2). Training with a non-zero ratio
       would drop random elements: not an inference computation. */
    if (n->n_in > 2 && in[2].shape.ndim >= 0 && in[2].data &&
        kiln_elem_get(in[2].data, in[2].dtype, 0) != 0) {
        double ratio = n->n_in > 1 && in[1].shape.ndim >= 0 && in[1].data
                           ? kiln_elem_get(in[1].data, in[1].dtype, 0)
                           : 0.5;
        if (ratio != 0)
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                                "node '%s': Dropout in training mode (ratio %g) is not supported",
                                n->name ? n->name : "?", ratio);
    }
    KILN_TRY(kiln__cpu_copy_op(cpu, n, in, out, e));
    if (n->n_out > 1 && out[1].data)
        fill_value(cpu, out[1].data, out[1].dtype, kiln_shape_numel(&out[1].shape), 1.0);
    return KILN_OK;
}

kiln_status kiln__cpu_expand(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e) {
    (void)n;
    (void)e;
    kiln__bcast_copy(cpu, &in[0], &out[0]);
    return KILN_OK;
}

kiln_status kiln__cpu_shape(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e) {
    (void)cpu;
    (void)e;
    int r = in[0].shape.ndim;
    int64_t s = n->a.shape.start;
    if (s < 0) s += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    int64_t cnt = out[0].shape.d[0];
    for (int64_t i = 0; i < cnt; i++) kiln__store_int(out[0].data, out[0].dtype, i, in[0].shape.d[s + i]);
    return KILN_OK;
}

kiln_status kiln__cpu_constant_of_shape(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                        kiln_view *out, kiln_err *e) {
    (void)in;
    KILN_TRY(kiln__cpu_check_dtype(n, out[0].dtype, 1, e));
    fill_value(cpu, out[0].data, out[0].dtype, kiln_shape_numel(&out[0].shape), n->a.cos.value);
    return KILN_OK;
}
