#include "core/resize_plan.h"

#include <math.h>
#include <string.h>

#include "core/dtype.h"
#include "core/shape.h"

/* Input i if present and non-empty (opsets 11-12 pass an empty tensor for "not given"). */
static int present(int n_in, const kiln_shape *shapes, int i) {
    if (i >= n_in || shapes[i].ndim < 0) return 0;
    return kiln_shape_numel(&shapes[i]) != 0;
}

kiln_status kiln_resize_resolve(const kiln_node *n, int n_in, const kiln_shape *shapes,
                                const kiln_dtype *dtypes, const void *const *vals,
                                kiln_resize_plan *p, kiln_err *e) {
    const kiln_resize_attr *a = &n->a.resize;
    const kiln_shape *x = &shapes[0];
    int r = x->ndim;
    memset(p, 0, sizeof *p);
    p->rank = r;
    for (int i = 0; i < r; i++) {
        p->in[i] = p->out[i] = x->d[i];
        p->scale[i] = 1.0;
        p->roi_end[i] = 1.0;
    }
    if (a->mode < KILN_RESIZE_NEAREST || a->mode > KILN_RESIZE_CUBIC)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown Resize mode %d", a->mode);
    if (a->coord < KILN_CT_HALF_PIXEL || a->coord > KILN_CT_HALF_PIXEL_SYMMETRIC)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown coordinate_transformation_mode %d", a->coord);
    if (a->nearest_mode < KILN_NEAREST_ROUND_PREFER_FLOOR || a->nearest_mode > KILN_NEAREST_CEIL)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown nearest_mode %d", a->nearest_mode);
    if (a->keep_aspect_ratio_policy < 0 || a->keep_aspect_ratio_policy > 2)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown keep_aspect_ratio_policy %d",
                            a->keep_aspect_ratio_policy);

    /* Which axes the scales / sizes / roi entries describe. */
    int naxes = a->naxes ? a->naxes : r, axes[KILN_MAX_DIMS];
    if (naxes > r)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%d axes given for a rank-%d input", naxes, r);
    for (int i = 0; i < naxes; i++) {
        int64_t ax = a->naxes ? kiln_axis_norm(a->axes[i], r) : i;
        if (ax < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld out of range for a rank-%d input",
                                (long long)a->axes[i], r);
        for (int j = 0; j < i; j++)
            if (axes[j] == ax) return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld repeated", (long long)ax);
        axes[i] = (int)ax;
    }

    int i_roi = -1, i_scales = -1, i_sizes = -1;
    if (a->nscales == 0) {
        /* Opset unknown (0, hand-built nodes): two inputs can only be (X, scales). */
        if ((n->opset > 0 && n->opset < 11) || (n->opset == 0 && n_in == 2)) i_scales = present(n_in, shapes, 1) ? 1 : -1;
        else {
            i_roi = present(n_in, shapes, 1) ? 1 : -1;
            i_scales = present(n_in, shapes, 2) ? 2 : -1;
            i_sizes = present(n_in, shapes, 3) ? 3 : -1;
        }
    }
    if (a->nscales == 0 && i_scales < 0 && i_sizes < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "Resize needs scales or sizes; neither is given");
    if (i_scales >= 0 && i_sizes >= 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "Resize takes scales or sizes, not both");
    int given = a->nscales ? a->nscales : i_scales >= 0 ? (int)kiln_shape_numel(&shapes[i_scales])
                                                         : (int)kiln_shape_numel(&shapes[i_sizes]);
    if (given != naxes)
        return kiln_err_set(e, KILN_ERR_SHAPE, "Resize got %d %s for %d axes of input of rank %d", given,
                            i_sizes >= 0 ? "sizes" : "scales", naxes, r);
    int which = i_scales >= 0 ? i_scales : i_sizes;
    if (which >= 0 && !vals[which])
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "Resize %s are not known when building (they must be constants or "
                            "computed from shapes)",
                            which == i_sizes ? "sizes" : "scales");

    if (a->coord == KILN_CT_TF_CROP_AND_RESIZE) {
        if (i_roi < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "tf_crop_and_resize needs the roi input");
        if (!vals[i_roi])
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "Resize roi is not known when building");
        if (kiln_shape_numel(&shapes[i_roi]) != 2 * naxes)
            return kiln_err_set(e, KILN_ERR_SHAPE, "roi has %lld values, expected %d",
                                (long long)kiln_shape_numel(&shapes[i_roi]), 2 * naxes);
        for (int i = 0; i < naxes; i++) {
            p->roi_start[axes[i]] = kiln_elem_get(vals[i_roi], dtypes[i_roi], i);
            p->roi_end[axes[i]] = kiln_elem_get(vals[i_roi], dtypes[i_roi], naxes + i);
        }
    }

    if (i_sizes < 0) {
        for (int i = 0; i < naxes; i++) {
            double s = a->nscales ? a->scales[i] : kiln_elem_get(vals[i_scales], dtypes[i_scales], i);
            if (!(s > 0))
                return kiln_err_set(e, KILN_ERR_SHAPE, "Resize scale %g (axis %d) must be positive", s, axes[i]);
            p->scale[axes[i]] = s;
            /* ONNX's shape inference, reference runtime and ONNX Runtime all take floor(in * scale),
               without the roi extent. */
            p->out[axes[i]] = (int64_t)floor((double)x->d[axes[i]] * s);
        }
        return KILN_OK;
    }
    for (int i = 0; i < naxes; i++) {
        int64_t sz = kiln_elem_get_i64(vals[i_sizes], dtypes[i_sizes], i);
        if (sz < 0) return kiln_err_set(e, KILN_ERR_SHAPE, "Resize size %lld is negative", (long long)sz);
        if (x->d[axes[i]] <= 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "cannot resize the empty axis %d", axes[i]);
        p->out[axes[i]] = sz;
        p->scale[axes[i]] = (double)sz / (double)x->d[axes[i]];
    }
    if (a->keep_aspect_ratio_policy) {
        double s = p->scale[axes[0]];
        for (int i = 1; i < naxes; i++) {
            double v = p->scale[axes[i]];
            if (a->keep_aspect_ratio_policy == 1 ? v < s : v > s) s = v;
        }
        for (int i = 0; i < naxes; i++) {
            p->scale[axes[i]] = s;
            p->out[axes[i]] = (int64_t)(s * (double)x->d[axes[i]] + 0.5); /* round half up */
        }
    }
    return KILN_OK;
}
