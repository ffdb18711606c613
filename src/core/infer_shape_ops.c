/* Shape rules of the ops that only re-describe their input (Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout), broadcast it (Expand), or make shape-valued tensors (Shape,
 * ConstantOfShape). Shape-valued inputs must be known before running: constants, or values the
 * driver computed (see shape.h). */
#include "core/dtype.h"
#include "core/infer_tensor.h"

static int opset_at_least(const kiln_node *n, int v) { return n->opset == 0 || n->opset >= v; }

kiln_status kiln__infer_reshape(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    kiln_view v[2];
    kiln__infer_views(io, v, 2);
    const kiln_shape *in = &io->in_shape[0];
    int64_t t[KILN_MAX_DIMS];
    int k;
    KILN_TRY(kiln_read_int_input(&v[1], "shape", t, KILN_MAX_DIMS, &k, e));
    int allowzero = io->node->a.reshape.allowzero;
    kiln_shape o = kiln_shape_make(k, t);
    int infer_at = -1, has_zero = 0;
    int64_t known = 1;
    for (int i = 0; i < k; i++) {
        if (t[i] == -1) {
            if (infer_at >= 0)
                return kiln_err_set(e, KILN_ERR_SHAPE, "the target shape has more than one -1");
            infer_at = i;
            continue;
        }
        if (t[i] < -1)
            return kiln_err_set(e, KILN_ERR_SHAPE, "the target shape has dimension %lld",
                                (long long)t[i]);
        if (t[i] == 0) {
            has_zero = 1;
            if (!allowzero) {
                if (i >= in->ndim)
                    return kiln_err_set(e, KILN_ERR_SHAPE,
                                        "target dimension %d is 0 (copy) but the input has rank %d",
                                        i, in->ndim);
                o.d[i] = in->d[i];
            }
        }
        known *= o.d[i];
    }
    if (allowzero && has_zero && infer_at >= 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "the target shape has both 0 and -1 with allowzero");
    int64_t numel = kiln_shape_numel(in);
    char a[96], b[96];
    if (infer_at >= 0) {
        if (known == 0 || numel % known)
            return kiln_err_set(e, KILN_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s",
                                kiln_shape_str(in, a, sizeof a), (long long)numel,
                                kiln_shape_str(&o, b, sizeof b));
        o.d[infer_at] = numel / known;
        known = numel;
    }
    if (known != numel)
        return kiln_err_set(e, KILN_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s (%lld)",
                            kiln_shape_str(in, a, sizeof a), (long long)numel,
                            kiln_shape_str(&o, b, sizeof b), (long long)known);
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_flatten(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    const kiln_shape *in = &io->in_shape[0];
    int64_t axis = io->node->a.axis.axis;
    if (axis < 0) axis += in->ndim;
    if (axis < 0 || axis > in->ndim)
        return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld is out of range for rank %d",
                            (long long)io->node->a.axis.axis, in->ndim);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < in->ndim; i++) *(i < axis ? &outer : &inner) *= in->d[i];
    io->out_shape[0] = kiln_shape_make(2, (int64_t[]){outer, inner});
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_squeeze(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[2];
    int nv = kiln__infer_views(io, v, 2);
    const kiln_shape *in = &io->in_shape[0];
    int64_t axes[KILN_MAX_DIMS];
    int na, given;
    KILN_TRY(kiln_axes_resolve(io->node, nv, v, in->ndim, axes, &na, &given, e));
    unsigned char drop[KILN_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        if (in->d[axes[i]] != 1) {
            char b[96];
            return kiln_err_set(e, KILN_ERR_SHAPE, "cannot squeeze axis %lld of size %lld (shape %s)",
                                (long long)axes[i], (long long)in->d[axes[i]],
                                kiln_shape_str(in, b, sizeof b));
        }
        drop[axes[i]] = 1;
    }
    if (!given)
        for (int i = 0; i < in->ndim; i++) drop[i] = in->d[i] == 1;
    kiln_shape o = kiln_shape_make(0, NULL);
    for (int i = 0; i < in->ndim; i++)
        if (!drop[i]) o.d[o.ndim++] = in->d[i];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_unsqueeze(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[2];
    int nv = kiln__infer_views(io, v, 2);
    const kiln_shape *in = &io->in_shape[0];
    /* The axes count decides the output rank, which normalizes them: count first. */
    int64_t axes[KILN_MAX_DIMS];
    int na, given;
    if (kiln_input_present(nv, v, 1)) {
        if (!v[1].data && kiln_shape_numel(&v[1].shape) != 0)
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                                "the axes input is not a constant and could not be computed "
                                "before running");
        na = (int)kiln_shape_numel(&v[1].shape);
    } else
        na = io->node->a.axes.has_axes ? io->node->a.axes.naxes : 0;
    if (na == 0) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "no axes given");
    int r = in->ndim + na;
    if (r > KILN_MAX_DIMS)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "the output would have rank %d, at most %d",
                            r, KILN_MAX_DIMS);
    KILN_TRY(kiln_axes_resolve(io->node, nv, v, r, axes, &na, &given, e));
    unsigned char ins[KILN_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) ins[axes[i]] = 1;
    kiln_shape o = kiln_shape_make(0, NULL);
    o.ndim = r;
    for (int i = 0, j = 0; i < r; i++) o.d[i] = ins[i] ? 1 : in->d[j++];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_expand(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    kiln_view v[2];
    kiln__infer_views(io, v, 2);
    int64_t t[KILN_MAX_DIMS];
    int k;
    KILN_TRY(kiln_read_int_input(&v[1], "shape", t, KILN_MAX_DIMS, &k, e));
    kiln_shape s = kiln_shape_make(k, t);
    char a[96], b[96];
    for (int i = 0; i < k; i++)
        if (t[i] < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "the target shape %s has a negative dimension",
                                kiln_shape_str(&s, b, sizeof b));
    if (!kiln_shape_broadcast(&io->in_shape[0], &s, &io->out_shape[0]))
        return kiln_err_set(e, KILN_ERR_SHAPE, "cannot expand %s to %s",
                            kiln_shape_str(&io->in_shape[0], a, sizeof a),
                            kiln_shape_str(&s, b, sizeof b));
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_identity(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln__infer_same(io, 0, 0);
    return KILN_OK;
}

/* Dropout is an identity at inference; its mask is all true (bool from opset 10, X's type
   before). Opset 12 takes ratio and training_mode as inputs. */
kiln_status kiln__infer_dropout(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln__infer_same(io, 0, 0);
    if (io->n_out > 1) {
        io->out_shape[1] = io->in_shape[0];
        io->out_dtype[1] = opset_at_least(io->node, 10) ? KILN_BOOL : io->in_dtype[0];
    }
    return KILN_OK;
}

kiln_status kiln__infer_shape(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    int r = io->in_shape[0].ndim;
    int64_t s = io->node->a.shape.start, en = io->node->a.shape.end;
    if (s < 0) s += r;
    if (en < 0) en += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    en = en < 0 ? 0 : (en > r ? r : en);
    io->out_shape[0] = kiln_shape_make(1, (int64_t[]){en > s ? en - s : 0});
    io->out_dtype[0] = KILN_I64;
    return KILN_OK;
}

kiln_status kiln__infer_constant_of_shape(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[1];
    kiln__infer_views(io, v, 1);
    int64_t t[KILN_MAX_DIMS];
    int k;
    KILN_TRY(kiln_read_int_input(&v[0], "shape", t, KILN_MAX_DIMS, &k, e));
    for (int i = 0; i < k; i++)
        if (t[i] < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "shape value %lld is negative",
                                (long long)t[i]);
    kiln_dtype dt = (kiln_dtype)io->node->a.cos.dtype;
    if (kiln_dtype_size(dt) == 0 || dt == KILN_F8E4M3)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "value of type %s is not supported",
                            kiln_dtype_name(dt));
    io->out_shape[0] = kiln_shape_make(k, t);
    io->out_dtype[0] = dt;
    return KILN_OK;
}
