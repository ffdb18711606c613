/* cuda_softmax.h — softmax / log-softmax over the last dimension of a row-major matrix. */
#ifndef KILN_BACKEND_CUDA_SOFTMAX_H
#define KILN_BACKEND_CUDA_SOFTMAX_H

#include <stdint.h>

#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* For each of `rows` rows of `cols` values (row pitch `cols`): y = softmax(x) or, with
   log_softmax, y = x - max - log(sum(exp(x - max))). x and y share `dtype` (f32/f16/bf16) and
   may be the same buffer. */
kiln_status kiln_cuda_softmax(const void *x, void *y, kiln_dtype dtype, int64_t rows, int cols,
                              int log_softmax, cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
