/* cuda_pool.h — max / average pooling and global pooling over NHWC views.
 *
 * Semantics are ONNX's MaxPool / AveragePool (2-D) with every attribute:
 *   window of output (oh, ow): input rows oh*stride - pad_begin + i*dilation, i < kernel (same for
 *   columns); positions outside the input are skipped by max and contribute 0 to the average.
 *   Average divisor: count_include_pad = 0: the number of positions inside the input;
 *   count_include_pad = 1: the number of positions inside the padded input
 *   [-pad_begin, in + pad_end), so a window that ceil_mode lets run past the end padding is not
 *   charged for the overhang (PyTorch's and ONNX Runtime's rule).
 *   ceil_mode only changes the output extent: kiln_cuda_pool_out_dim() computes it.
 * Global pooling reduces all of H x W to 1 x 1.
 */
#ifndef KILN_BACKEND_CUDA_POOL_H
#define KILN_BACKEND_CUDA_POOL_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_pool2d {
    int kernel[2];    /* h, w */
    int stride[2];
    int dilation[2];
    int pad_begin[2]; /* top, left */
    int pad_end[2];   /* bottom, right */
    int count_include_pad;
} kiln_cuda_pool2d;

/* Output extent along one axis, as ONNX defines it (floor, or ceil with ceil_mode; with ceil_mode
   a last window that would start in the end padding is dropped). */
int kiln_cuda_pool_out_dim(int in, int kernel, int stride, int dilation, int pad_begin,
                           int pad_end, int ceil_mode);

/* y's extent is the output's (n and c equal x's); x and y have the same dtype. */
kiln_status kiln_cuda_maxpool2d(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                const kiln_cuda_pool2d *p, cudaStream_t s, kiln_err *e);
kiln_status kiln_cuda_avgpool2d(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                const kiln_cuda_pool2d *p, cudaStream_t s, kiln_err *e);
/* y: n x 1 x 1 x c. */
kiln_status kiln_cuda_global_avgpool(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                     cudaStream_t s, kiln_err *e);
kiln_status kiln_cuda_global_maxpool(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                     cudaStream_t s, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
