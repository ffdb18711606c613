/* cuda_eltwise.h — unfused elementwise work: binary ops with broadcasting, activations, and the
 * bias + residual + activation epilogue for convolutions run without a fused epilogue.
 *
 * Activations follow kiln_act_apply (src/core/op.h) exactly. Views may be channel slices
 * (cuda_tensor.h), and an input may broadcast along any dimension where its extent is 1.
 */
#ifndef KILN_BACKEND_CUDA_ELTWISE_H
#define KILN_BACKEND_CUDA_ELTWISE_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"
#include "core/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_cuda_binop {
    KILN_CUDA_ADD = 0,
    KILN_CUDA_SUB = 1,
    KILN_CUDA_MUL = 2,
    KILN_CUDA_DIV = 3,
} kiln_cuda_binop;

/* y = act(a op b). a, b and y share one dtype; a and b broadcast to y's extent. act may be NULL
   (none). y may alias a or b when it has the same extent and layout. */
kiln_status kiln_cuda_binary(kiln_cuda_binop op, const kiln_cuda_nhwc *a, const kiln_cuda_nhwc *b,
                             const kiln_cuda_nhwc *y, const kiln_act *act, cudaStream_t s,
                             kiln_err *e);

/* y = act(x); x and y have the same extent and may differ in dtype (so this also converts, and
   copies into a channel slice). act may be NULL. */
kiln_status kiln_cuda_activation(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                 const kiln_act *act, cudaStream_t s, kiln_err *e);

/* y = act(x + bias[c] + residual): bias (device, x's dtype, x->c values) and residual (a view of
   y's extent) may each be NULL. x, residual and y share one dtype. */
kiln_status kiln_cuda_bias_act(const kiln_cuda_nhwc *x, const void *bias,
                               const kiln_cuda_nhwc *residual, const kiln_cuda_nhwc *y,
                               const kiln_act *act, cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
