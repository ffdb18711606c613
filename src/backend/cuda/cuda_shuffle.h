/* cuda_shuffle.h — ShuffleNet's channel shuffle on NHWC views.
 *
 * ONNX spells it Reshape [N, g, C/g, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W]:
 *   y[..., j * g + i] = x[..., i * (C/g) + j]   for i < g, j < C/g.
 * In NHWC this is a permutation inside each pixel, so one pass with coalesced writes does it.
 */
#ifndef KILN_BACKEND_CUDA_SHUFFLE_H
#define KILN_BACKEND_CUDA_SHUFFLE_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x and y: same extent and dtype, x->c divisible by groups; y must not overlap x. */
kiln_status kiln_cuda_channel_shuffle(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, int groups,
                                      cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
