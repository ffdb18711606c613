/* cpu_nn_ops.h — the CPU kernels of the compute-heavy ops (internal to src/backend/cpu).
 * kiln_cpu_nn_lookup() (cpu_nn.c) maps ops onto them. All are FP32. */
#ifndef KILN_BACKEND_CPU_NN_OPS_H
#define KILN_BACKEND_CPU_NN_OPS_H

#include "backend/cpu/cpu.h"

/* Scratch slots (kiln_cpu_scratch) the nn kernels use; one node runs at a time, so slots are
   only shared within a kernel. */
enum {
    KILN_CPU_SLOT_COL = 0,  /* ConvTranspose's column buffer (Conv unfolds inside GEMM packing) */
    KILN_CPU_SLOT_GEMM = 1, /* GEMM packing, per thread */
    KILN_CPU_SLOT_AUX = 2,  /* small tables (Resize taps, folded BN parameters) */
};

/* Fail with KILN_ERR_DTYPE unless inputs [0, n_in) that are present and output 0 are FP32. */
kiln_status kiln__cpu_need_f32(const kiln_node *n, const kiln_view *in, int n_in, const kiln_view *out,
                               kiln_err *e);
/* Whether input i is present. */
static inline int kiln__cpu_has(const kiln_node *n, const kiln_view *in, int i) {
    return i < n->n_in && in[i].shape.ndim >= 0 && in[i].data;
}
/* y = act(y) over n values. */
void kiln__cpu_act_inplace(const kiln_act *a, float *y, int64_t n);

/* cpu_conv.c, cpu_conv_dw.c, cpu_conv_transpose.c */
kiln_status kiln__cpu_conv(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_conv_transpose(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                     kiln_err *e);
/* cpu_matmul.c */
kiln_status kiln__cpu_gemm_op(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_matmul(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
/* cpu_pool.c */
kiln_status kiln__cpu_maxpool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_avgpool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_global_pool(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                  kiln_err *e);
/* cpu_norm.c */
kiln_status kiln__cpu_batchnorm(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                kiln_err *e);
kiln_status kiln__cpu_scale_shift(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                  kiln_err *e);
kiln_status kiln__cpu_lrn(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
/* cpu_softmax.c: Softmax and LogSoftmax */
kiln_status kiln__cpu_softmax(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);
/* cpu_resize.c */
kiln_status kiln__cpu_resize(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e);

#endif
