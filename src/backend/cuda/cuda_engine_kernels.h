/* cuda_engine_kernels.h — kernels the engine adds to the building blocks (cuda_engine_kernels.cu):
 * random fill for tactic timing buffers, and per-channel scale + shift + activation. */
#ifndef KILN_BACKEND_CUDA_ENGINE_KERNELS_H
#define KILN_BACKEND_CUDA_ENGINE_KERNELS_H

#include <stdint.h>

#include "backend/cuda/cuda_common.h"
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

#ifdef __cplusplus
}
#endif

#endif
