/* tensor_params.h — the run-time parameters of tensor-manipulation ops (Slice, Pad, Squeeze,
 * Unsqueeze, Reduce*, Split), resolved from a node's attributes and, from the opsets that moved
 * them there, its inputs' values. Shape inference and every backend's kernels call the same
 * resolver, so the ONNX rules (negative axes, clamping, defaults) are written down once.
 *
 * Inputs are given as views (shape.ndim -1: absent optional input; data NULL: present but its
 * value unknown). A needed value that is unknown fails with a message saying so.
 */
#ifndef KILN_CORE_TENSOR_PARAMS_H
#define KILN_CORE_TENSOR_PARAMS_H

#include "core/shape.h"

/* 1 when input i of n_in is present (not an absent optional input). */
static inline int kiln_input_present(int n_in, const kiln_view *in, int i) {
    return i >= 0 && i < n_in && in[i].shape.ndim >= 0;
}

/* Read a 0-D or 1-D int32/int64 input (axes, pads, starts, ...) into v[0..max). `what` names
   it in messages ("shape", "axes"). */
kiln_status kiln_read_int_input(const kiln_view *in, const char *what, int64_t *v, int max,
                                int *count, kiln_err *e);

/* Slice: the element range of every dimension of the data input. */
typedef struct kiln_slice_plan {
    int64_t start[KILN_MAX_DIMS]; /* first element read */
    int64_t step[KILN_MAX_DIMS];  /* may be negative */
    int64_t count[KILN_MAX_DIMS]; /* elements read (the output's dim) */
} kiln_slice_plan;
kiln_status kiln_slice_resolve(const kiln_node *n, int n_in, const kiln_view *in,
                               kiln_slice_plan *p, kiln_err *e);

/* Pad: begin[i]/end[i] elements added (negative: removed) on each dimension of the data input;
   mode is the node's kiln_pad_mode. */
typedef struct kiln_pad_plan {
    int64_t begin[KILN_MAX_DIMS], end[KILN_MAX_DIMS];
} kiln_pad_plan;
kiln_status kiln_pad_resolve(const kiln_node *n, int n_in, const kiln_view *in, kiln_pad_plan *p,
                             kiln_err *e);

/* The axes of Squeeze/Unsqueeze/Reduce*: from the attribute (older opsets) or input 1, each
   normalized for `rank` (the output's rank for Unsqueeze), duplicates rejected. *given is 0 when
   neither the attribute nor the input is there. */
kiln_status kiln_axes_resolve(const kiln_node *n, int n_in, const kiln_view *in, int rank,
                              int64_t *axes, int *naxes, int *given, kiln_err *e);

/* Reduce*: which axes of the data input reduce (mask[i] = 1). *noop = 1 when the op is an
   identity (no axes with noop_with_empty_axes). */
kiln_status kiln_reduce_resolve(const kiln_node *n, int n_in, const kiln_view *in,
                                unsigned char mask[KILN_MAX_DIMS], int *noop, kiln_err *e);

/* Split: the size of each of n_out parts along the (normalized) axis of the data input. */
kiln_status kiln_split_resolve(const kiln_node *n, int n_in, const kiln_view *in, int n_out,
                               int64_t *axis, int64_t *sizes, kiln_err *e);

#endif
