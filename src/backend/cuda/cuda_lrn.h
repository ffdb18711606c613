/* cuda_lrn.h — local response normalization across channels (ONNX LRN), NHWC views.
 *
 *   y[c] = x[c] / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ^ beta
 *   window(c) = [max(0, c - floor((size-1)/2)), min(C-1, c + ceil((size-1)/2))]
 */
#ifndef KILN_BACKEND_CUDA_LRN_H
#define KILN_BACKEND_CUDA_LRN_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x and y: same extent and dtype. */
kiln_status kiln_cuda_lrn(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, int size, float alpha,
                          float beta, float bias, cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
