/* resize_plan.h — Resize's output size and per-axis scales from its inputs and attributes.
 *
 * Shared by shape inference (which needs the output shape) and the kernels (which need the
 * scales the coordinate transform uses: the given scale, not out/in, when scales are given).
 * Input layouts: Upsample-7 keeps scales in the attribute (a.resize.nscales > 0); Resize-10 and
 * Upsample-9 take (X, scales); Resize-11+ take (X, roi, scales, sizes), the optional ones absent
 * or empty. Opset 18's axes and keep_aspect_ratio_policy are applied here.
 */
#ifndef KILN_CORE_RESIZE_PLAN_H
#define KILN_CORE_RESIZE_PLAN_H

#include "core/err.h"
#include "core/graph.h"

typedef struct kiln_resize_plan {
    int rank;
    int64_t in[KILN_MAX_DIMS];
    int64_t out[KILN_MAX_DIMS];
    double scale[KILN_MAX_DIMS];     /* used by the coordinate transform */
    double roi_start[KILN_MAX_DIMS]; /* tf_crop_and_resize; 0 elsewhere */
    double roi_end[KILN_MAX_DIMS];   /* 1 elsewhere */
} kiln_resize_plan;

/* shapes/dtypes/vals describe the node's n_in inputs (vals[i] NULL when not known; ndim -1 for
   an absent input). Fails with a one-line message when scales/sizes are missing, unknown, or
   inconsistent with X's rank. */
kiln_status kiln_resize_resolve(const kiln_node *n, int n_in, const kiln_shape *shapes,
                                const kiln_dtype *dtypes, const void *const *vals,
                                kiln_resize_plan *p, kiln_err *e);

#endif
