/* cuda_engine_kernels.h — kernels the engine adds to the building blocks (cuda_engine_kernels.cu):
 * random fill for tactic timing buffers, and per-channel scale + shift + activation. */
#ifndef KILN_BACKEND_CUDA_ENGINE_KERNELS_H
#define KILN_BACKEND_CUDA_ENGINE_KERNELS_H

#include <stdint.h>

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_pool.h"
#include "backend/cuda/cuda_tensor.h"
#include "core/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill `count` elements of type dt (f32/f16/bf16) with deterministic pseudo-random values in
   [-1, 1) (timing on zeros measures the wrong thing). */
kiln_status kiln_cuda_fill_random(void *p, kiln_dtype dt, int64_t count, uint32_t seed,
                                  cudaStream_t s, kiln_err *e);
/* y = act(x * scale[c] + shift[c]); scale, shift: x->c values of x's dtype; act may be NULL. */
kiln_status kiln_cuda_scale_shift(const kiln_cuda_nhwc *x, const void *scale, const void *shift,
                                  const kiln_cuda_nhwc *y, const kiln_act *act, cudaStream_t s,
                                  kiln_err *e);

/* Max / average pooling (cuda_pool.h semantics) with 16 bytes of channels per thread: for views
   whose channel count, pitch and offset are multiples of a 16-byte vector and whose data is
   16-byte aligned (every NHWC map the engine plans). KILN_ERR_UNSUPPORTED otherwise (use
   kiln_cuda_maxpool2d / kiln_cuda_avgpool2d). */
kiln_status kiln_cuda_pool2d_vec(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                 const kiln_cuda_pool2d *p, int is_max, cudaStream_t s,
                                 kiln_err *e);

/* y = act(x + bias[c] + residual) on views of one extent and storage type, 16 bytes of
   channels per thread: the copies of concats and splits (act none, no bias, no residual), the
   unfused activations and the split conv / gemm epilogues. bias (c values) and residual may be
   NULL, act may be NULL. KILN_ERR_UNSUPPORTED unless every view's channel count, pitch and
   offset are multiples of the 16-byte vector and its data is 16-byte aligned (then use
   kiln_cuda_activation / kiln_cuda_bias_act). kiln_cuda_vec_ok() says which. */
kiln_status kiln_cuda_bias_act_vec(const kiln_cuda_nhwc *x, const void *bias,
                                   const kiln_cuda_nhwc *residual, const kiln_cuda_nhwc *y,
                                   const kiln_act *act, cudaStream_t s, kiln_err *e);
/* 1 when a view (data offset `off` bytes from a 256-byte aligned base) qualifies. */
int kiln_cuda_vec_ok(kiln_dtype t, int c, int pitch, int coff, size_t off);

/* The network input, NCHW FP32 [n][c][h][w] (h, w even), as the space-to-depth map the stem
   convolution runs on: out is n x h/2 x w/2 x out->c with
       out[n, i, j, (qh * 2 + qw) * c + k] = in[n, k, 2i + qh, 2j + qw]
   and zeros in channels 4c .. out->c-1. A 7x7 stride-2 convolution of the image is a 4x4
   stride-1 convolution of this map with rearranged weights (cuda_lower_nn.c), which tensor
   cores run far better than 3 (padded to 8) input channels. */
kiln_status kiln_cuda_nchw_to_s2d(const float *in, int n, int c, int h, int w,
                                  const kiln_cuda_nhwc *out, cudaStream_t s, kiln_err *e);

/* An empty kernel: the next kernel of stream s starts only after every earlier one has fully
   finished, even one that lets its dependents launch early (programmatic dependent launch). */
kiln_status kiln_cuda_barrier(cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
