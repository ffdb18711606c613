/* nn_window.h — the resolved sliding-window geometry of Conv, ConvTranspose and the pools.
 *
 * Shape inference and the kernels both need the output size and the *resolved* padding (auto_pad
 * decides the pads from the input size), so both call these functions: one rule, one place.
 * Results are normalized to KILN_WINDOW_DIMS spatial dimensions with the real ones last (a 1-D
 * convolution becomes 1 x W with a 1 x k kernel), so kernels loop over a fixed rank.
 */
#ifndef KILN_CORE_NN_WINDOW_H
#define KILN_CORE_NN_WINDOW_H

#include "core/err.h"
#include "core/graph.h"

#define KILN_WINDOW_DIMS 3

typedef struct kiln_window {
    int nsp;                         /* real spatial dimensions (1..3) */
    int64_t in[KILN_WINDOW_DIMS];    /* input extent; leading unused dims are 1 */
    int64_t out[KILN_WINDOW_DIMS];   /* output extent */
    int64_t k[KILN_WINDOW_DIMS];     /* kernel */
    int64_t s[KILN_WINDOW_DIMS];     /* stride */
    int64_t d[KILN_WINDOW_DIMS];     /* dilation */
    int64_t pb[KILN_WINDOW_DIMS];    /* padding before (may be negative for ConvTranspose) */
    int64_t pe[KILN_WINDOW_DIMS];    /* padding after */
} kiln_window;

/* Conv: x is N x C x spatial, w is C_out x C_in/group x kernel. Checks ranks, channels against
   group, kernel/attribute agreement, strides, dilations and a non-empty output. */
kiln_status kiln_window_conv(const kiln_conv_attr *a, const kiln_shape *x, const kiln_shape *w,
                             kiln_window *win, kiln_err *e);
/* ConvTranspose: w is C_in x C_out/group x kernel; output_shape / output_padding / auto_pad as
   ONNX defines them. */
kiln_status kiln_window_conv_transpose(const kiln_conv_attr *a, const kiln_shape *x,
                                       const kiln_shape *w, kiln_window *win, kiln_err *e);
/* MaxPool / AveragePool, including ceil_mode (the last window must start inside the input or
   its left padding, as PyTorch and ONNX's reference implementation require). */
kiln_status kiln_window_pool(const kiln_pool_attr *a, const kiln_shape *x, kiln_window *win,
                             kiln_err *e);

/* Product of the leading (batch, channel) dims and of the spatial output. */
int64_t kiln_window_out_numel(const kiln_window *w);
int64_t kiln_window_in_numel(const kiln_window *w);
int64_t kiln_window_k_numel(const kiln_window *w);

#endif
