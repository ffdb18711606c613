/* infer_nn.h — shape rules of the compute-heavy ops (convolutions, pools, normalizations,
 * softmax, Gemm/MatMul, Resize), internal to src/core. kiln_infer_nn_lookup() (infer_nn.c) maps
 * ops onto them; the rules live in infer_nn.c, infer_conv.c, infer_gemm.c and infer_resize.c. */
#ifndef KILN_CORE_INFER_NN_H
#define KILN_CORE_INFER_NN_H

#include "core/shape.h"

/* Fail unless inputs 0..k-1 are present. */
kiln_status kiln__nn_need(const kiln_infer_io *io, int k, kiln_err *e);
/* Input i is present. */
int kiln__nn_has(const kiln_infer_io *io, int i);
/* The fused residual (input 3 when has_residual) must have the output's shape. */
kiln_status kiln__nn_check_residual(const kiln_infer_io *io, int has_residual, const kiln_shape *out,
                                    kiln_err *e);
/* Every output except the first must be absent (training-only outputs). */
kiln_status kiln__nn_only_first_output(const kiln_infer_io *io, const char *what, kiln_err *e);

/* infer_conv.c */
kiln_status kiln__infer_conv(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_conv_transpose(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_pool(const kiln_infer_io *io, kiln_err *e);        /* MaxPool, AveragePool */
kiln_status kiln__infer_global_pool(const kiln_infer_io *io, kiln_err *e);

/* infer_gemm.c */
kiln_status kiln__infer_gemm(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_matmul(const kiln_infer_io *io, kiln_err *e);

/* infer_resize.c */
kiln_status kiln__infer_resize(const kiln_infer_io *io, kiln_err *e);

#endif
