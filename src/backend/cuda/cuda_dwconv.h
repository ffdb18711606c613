/* cuda_dwconv.h — depthwise convolution (group == channels, one filter per channel) on NHWC
 * views with fused bias and activation: the alternative to cuDNN for MobileNet-style layers, which
 * the builder times against cuDNN's grouped convolution and keeps if faster.
 *
 *   y[n,oh,ow,c] = act(bias[c] + sum_{i<kh, j<kw} x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c]
 *                                                   * w[i][j][c])
 *   (input positions outside x count as 0)
 *
 * Weights are [kh][kw][C] (channels innermost, so a warp reads them coalesced) in x's dtype;
 * kiln_cuda_dwconv_pack_weights() reorders ONNX's [C][1][kh][kw] into it. Bias: C values in x's
 * dtype, or NULL. 3x3 and 5x5 filters have unrolled kernels; other sizes run a generic loop.
 */
#ifndef KILN_BACKEND_CUDA_DWCONV_H
#define KILN_BACKEND_CUDA_DWCONV_H

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"
#include "core/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_dwconv {
    int kernel[2];    /* h, w */
    int stride[2];
    int dilation[2];
    int pad_begin[2]; /* top, left (the end padding follows from y's extent) */
    kiln_act act;
} kiln_cuda_dwconv;

/* x: n x h x w x C; y: n x oh x ow x C (same dtype); w, bias on the device. */
kiln_status kiln_cuda_dwconv_run(const kiln_cuda_nhwc *x, const void *w, const void *bias,
                                 const kiln_cuda_nhwc *y, const kiln_cuda_dwconv *p,
                                 cudaStream_t s, kiln_err *e);

/* Host: ONNX weights [c][1][kh][kw] -> [kh][kw][c]. */
void kiln_cuda_dwconv_pack_weights(const float *oihw, int c, int kh, int kw, float *hwc);

#ifdef __cplusplus
}
#endif

#endif
