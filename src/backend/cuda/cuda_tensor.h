/* cuda_tensor.h — how the CUDA kernels see an activation: an NHWC view with a channel pitch.
 *
 * Activations live on the device as NHWC (channels innermost, what cuDNN's tensor-core kernels
 * want). A view names a channel slice of such a buffer:
 *
 *     element (n, h, w, c) of the view is at
 *         data + (((n * H + h) * W + w) * c_pitch + c_offset + c) * sizeof(element)
 *
 * Concat without copies: when the graph concatenates along channels, the memory planner gives the
 * concat output one buffer of C_total channels, and each producer writes its slice directly:
 * producer i gets a view with c_pitch = C_total and c_offset = sum of the channels before it.
 * Every own kernel takes views for inputs and outputs; cuDNN convolutions take the same pitch
 * through their tensor strides (kiln_cuda_conv_desc.y_pitch) with the offset applied to the
 * pointer (the offset times the element size must keep 16-byte alignment there); cuBLASLt takes
 * it as the leading dimension. Consumers read a slice the same way (Split, ShuffleNet's channel
 * split), so neither Concat nor Split moves bytes.
 *
 * Broadcasting (elementwise kernels): an input view whose n, h, w or c is 1 while the output's is
 * larger is read with stride 0 along that dimension: a per-channel vector is a 1x1x1xC view, an
 * SE-block scale is Nx1x1xC.
 */
#ifndef KILN_BACKEND_CUDA_TENSOR_H
#define KILN_BACKEND_CUDA_TENSOR_H

#include <stdint.h>

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_nhwc {
    void *data;       /* device buffer holding c_pitch channels per pixel */
    kiln_dtype dtype; /* KILN_F32, KILN_F16 or KILN_BF16 */
    int n, h, w, c;   /* extent of the view */
    int c_pitch;      /* channels per pixel in the buffer; 0 means c (dense) */
    int c_offset;     /* first channel of the view within a pixel */
} kiln_cuda_nhwc;

/* A dense view of a whole buffer. */
static inline kiln_cuda_nhwc kiln_cuda_nhwc_make(void *data, kiln_dtype t, int n, int h, int w,
                                                 int c) {
    kiln_cuda_nhwc v;
    v.data = data;
    v.dtype = t;
    v.n = n;
    v.h = h;
    v.w = w;
    v.c = c;
    v.c_pitch = c;
    v.c_offset = 0;
    return v;
}

static inline int kiln_cuda_nhwc_pitch(const kiln_cuda_nhwc *v) {
    return v->c_pitch > 0 ? v->c_pitch : v->c;
}

static inline int64_t kiln_cuda_nhwc_count(const kiln_cuda_nhwc *v) {
    return (int64_t)v->n * v->h * v->w * v->c;
}

#ifdef __cplusplus
}
#endif

#endif
