/* cuda_layout.h — moving data between the host's layout and the device's.
 *
 * The network's input arrives as NCHW FP32 (copied as is to the device); the engine keeps NHWC
 * in its storage type. kiln_cuda_nchw_to_nhwc() does both the transpose and the conversion in one
 * kernel, and pads channels with zeros: a 3-channel image becomes 4 (FP32) or 8 (FP16/BF16)
 * channels so that the stem convolution's pixels are 16 bytes and tensor-core kernels apply.
 * kiln_cuda_nhwc_to_nchw() brings an output back as NCHW FP32 (dropping padding).
 */
#ifndef KILN_BACKEND_CUDA_LAYOUT_H
#define KILN_BACKEND_CUDA_LAYOUT_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* in: device NCHW float [n][c][h][w]. out: a view with the same n, h, w and out->c >= c; channels
   c .. out->c-1 of each pixel are written as 0. */
kiln_status kiln_cuda_nchw_to_nhwc(const float *in, int n, int c, int h, int w,
                                   const kiln_cuda_nhwc *out, cudaStream_t s, kiln_err *e);

/* in: a view; out: device NCHW float [in->n][in->c][in->h][in->w]. */
kiln_status kiln_cuda_nhwc_to_nchw(const kiln_cuda_nhwc *in, float *out, cudaStream_t s,
                                   kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
