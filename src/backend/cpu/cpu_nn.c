/* The op -> kernel table of the compute-heavy ops, and the helpers their kernels share. */
#include "backend/cpu/cpu_nn_ops.h"

kiln_status kiln__cpu_need_f32(const kiln_node *n, const kiln_view *in, int n_in, const kiln_view *out,
                               kiln_err *e) {
    for (int i = 0; i < n_in && i < n->n_in; i++)
        if (in[i].shape.ndim >= 0 && in[i].dtype != KILN_F32)
            return kiln_err_set(e, KILN_ERR_DTYPE, "%s: input %d is %s; the CPU kernel takes float32",
                                kiln_op_name(n->op), i, kiln_dtype_name(in[i].dtype));
    if (out[0].dtype != KILN_F32)
        return kiln_err_set(e, KILN_ERR_DTYPE, "%s: output is %s; the CPU kernel writes float32",
                            kiln_op_name(n->op), kiln_dtype_name(out[0].dtype));
    return KILN_OK;
}

void kiln__cpu_act_inplace(const kiln_act *a, float *y, int64_t n) {
    switch (a->type) {
    case KILN_ACT_NONE: return;
    case KILN_ACT_RELU: /* the common case, written so it vectorizes */
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
        return;
    case KILN_ACT_CLIP: {
        float lo = a->alpha, hi = a->beta;
        for (int64_t i = 0; i < n; i++) y[i] = y[i] < lo ? lo : (y[i] > hi ? hi : y[i]);
        return;
    }
    default:
        for (int64_t i = 0; i < n; i++) y[i] = kiln_act_apply(a, y[i]);
        return;
    }
}

kiln_cpu_kernel kiln_cpu_nn_lookup(kiln_op op) {
    switch (op) {
    case KILN_OP_CONV: return kiln__cpu_conv;
    case KILN_OP_CONV_TRANSPOSE: return kiln__cpu_conv_transpose;
    case KILN_OP_BATCHNORM: return kiln__cpu_batchnorm;
    case KILN_OP_SCALE_SHIFT: return kiln__cpu_scale_shift;
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX: return kiln__cpu_softmax;
    case KILN_OP_MAXPOOL: return kiln__cpu_maxpool;
    case KILN_OP_AVGPOOL: return kiln__cpu_avgpool;
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL: return kiln__cpu_global_pool;
    case KILN_OP_LRN: return kiln__cpu_lrn;
    case KILN_OP_GEMM: return kiln__cpu_gemm_op;
    case KILN_OP_MATMUL: return kiln__cpu_matmul;
    case KILN_OP_RESIZE: return kiln__cpu_resize;
    default: return NULL;
    }
}
