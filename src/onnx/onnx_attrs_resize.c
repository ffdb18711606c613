/* onnx_attrs_resize.c — Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9), both imported as
 * KILN_OP_RESIZE.
 *
 * Upsample is Resize with asymmetric coordinates and floor rounding; Upsample-7 carries its
 * scales as an attribute (kept in `scales`), Upsample-9 and Resize as inputs. Resize-10 had only
 * `mode`; 11 added the coordinate transform, rounding and cubic parameters; 18 added antialias,
 * axes and keep_aspect_ratio_policy.
 */
#include <string.h>

#include "onnx/onnx_internal.h"

static const char *const mode_names[] = {"nearest", "linear", "bilinear", "cubic", NULL};
static const int mode_values[] = {KILN_RESIZE_NEAREST, KILN_RESIZE_LINEAR, KILN_RESIZE_LINEAR,
                                  KILN_RESIZE_CUBIC};
static const char *const coord_names[] = {
    "half_pixel", "asymmetric", "pytorch_half_pixel", "align_corners", "tf_half_pixel_for_nn",
    "tf_crop_and_resize", "half_pixel_symmetric", NULL};
static const int coord_values[] = {KILN_CT_HALF_PIXEL, KILN_CT_ASYMMETRIC,
                                   KILN_CT_PYTORCH_HALF_PIXEL, KILN_CT_ALIGN_CORNERS,
                                   KILN_CT_TF_HALF_PIXEL_FOR_NN, KILN_CT_TF_CROP_AND_RESIZE,
                                   KILN_CT_HALF_PIXEL_SYMMETRIC};
static const char *const nearest_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                            "ceil", NULL};
static const int nearest_values[] = {KILN_NEAREST_ROUND_PREFER_FLOOR,
                                     KILN_NEAREST_ROUND_PREFER_CEIL, KILN_NEAREST_FLOOR,
                                     KILN_NEAREST_CEIL};
static const char *const policy_names[] = {"stretch", "not_larger", "not_smaller", NULL};
static const int policy_values[] = {0, 1, 2};

static kiln_status upsample_attrs(const kiln__onnx_node *nd, kiln_resize_attr *a) {
    a->coord = KILN_CT_ASYMMETRIC;
    a->nearest_mode = KILN_NEAREST_FLOOR;
    KILN_TRY(kiln__onnx_attr_enum(nd, "mode", mode_names, mode_values, &a->mode));
    if (a->mode == KILN_RESIZE_CUBIC)
        return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'mode' = 'cubic' is not an "
                                   "Upsample mode");
    if (nd->opset >= 9) return KILN_OK; /* scales is an input */
    int n;
    KILN_TRY(kiln__onnx_attr_floats(nd, "scales", a->scales, KILN_MAX_DIMS, &n));
    if (n <= 0) return kiln__onnx_node_err(nd, KILN_ERR_PARSE, "attribute 'scales' is required");
    for (int i = 0; i < n; i++)
        if (!(a->scales[i] > 0) || a->scales[i] > 1e6f)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "attribute 'scales' has value %g (must be positive)",
                                       (double)a->scales[i]);
    a->nscales = n;
    return KILN_OK;
}

static kiln_status resize18_attrs(const kiln__onnx_node *nd, kiln_resize_attr *a) {
    int64_t x;
    int have;
    KILN_TRY(kiln__onnx_attr_int(nd, "antialias", &x, &have));
    if (have) a->antialias = x != 0;
    KILN_TRY(kiln__onnx_attr_ints(nd, "axes", a->axes, KILN_MAX_DIMS, &a->naxes));
    if (a->naxes < 0) a->naxes = 0;
    for (int i = 0; i < a->naxes; i++)
        for (int j = 0; j < i; j++)
            if (a->axes[i] == a->axes[j])
                return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                           "attribute 'axes' repeats axis %lld",
                                           (long long)a->axes[i]);
    return kiln__onnx_attr_enum(nd, "keep_aspect_ratio_policy", policy_names, policy_values,
                                &a->keep_aspect_ratio_policy);
}

kiln_status kiln__onnx_attrs_resize(const kiln__onnx_node *nd, kiln_attr *attr) {
    if (nd->op != KILN_OP_RESIZE) return KILN_OK;
    kiln_resize_attr *a = &attr->resize;
    if (!strcmp(nd->op_type, "Upsample")) return upsample_attrs(nd, a);
    KILN_TRY(kiln__onnx_attr_enum(nd, "mode", mode_names, mode_values, &a->mode));
    if (nd->opset < 11) { /* Resize-10: nearest or linear only */
        if (a->mode == KILN_RESIZE_CUBIC)
            return kiln__onnx_node_err(nd, KILN_ERR_PARSE,
                                       "attribute 'mode' = 'cubic' needs opset 11");
        return KILN_OK;
    }
    int64_t x;
    int have;
    KILN_TRY(kiln__onnx_attr_enum(nd, "coordinate_transformation_mode", coord_names, coord_values,
                                  &a->coord));
    KILN_TRY(kiln__onnx_attr_enum(nd, "nearest_mode", nearest_names, nearest_values,
                                  &a->nearest_mode));
    KILN_TRY(kiln__onnx_attr_float(nd, "cubic_coeff_a", &a->cubic_coeff_a, NULL));
    KILN_TRY(kiln__onnx_attr_int(nd, "exclude_outside", &x, &have));
    if (have) a->exclude_outside = x != 0;
    KILN_TRY(kiln__onnx_attr_float(nd, "extrapolation_value", &a->extrapolation_value, NULL));
    if (nd->opset >= 18) KILN_TRY(resize18_attrs(nd, a));
    if (a->antialias && a->mode == KILN_RESIZE_CUBIC)
        return kiln__onnx_node_err(nd, KILN_ERR_UNSUPPORTED,
                                   "attribute 'antialias' = 1 with mode 'cubic' is not supported");
    return KILN_OK;
}
