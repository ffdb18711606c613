/* Shape rules of the ops that move elements around: Transpose, Concat, Split, Gather, Slice,
 * Pad. Slice, Pad and Split share their parameter rules with the kernels (tensor_params.h). */
#include "core/dtype.h"
#include "core/infer_tensor.h"

kiln_status kiln__infer_transpose(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    const kiln_shape *in = &io->in_shape[0];
    const kiln_transpose_attr *t = &io->node->a.transpose;
    kiln_shape o = *in;
    if (t->nperm == 0) {
        for (int i = 0; i < in->ndim; i++) o.d[i] = in->d[in->ndim - 1 - i];
    } else {
        if (t->nperm != in->ndim)
            return kiln_err_set(e, KILN_ERR_SHAPE, "perm has %d entries for rank %d", t->nperm,
                                in->ndim);
        unsigned char seen[KILN_MAX_DIMS] = {0};
        for (int i = 0; i < t->nperm; i++) {
            int64_t p = t->perm[i];
            if (p < 0 || p >= in->ndim || seen[p])
                return kiln_err_set(e, KILN_ERR_SHAPE, "perm is not a permutation of 0..%d",
                                    in->ndim - 1);
            seen[p] = 1;
            o.d[i] = in->d[p];
        }
    }
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_concat(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, io->n_in > 0 ? io->n_in : 1, e));
    const kiln_shape *s0 = &io->in_shape[0];
    int64_t axis = kiln_axis_norm(io->node->a.axis.axis, s0->ndim);
    if (axis < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld is out of range for rank %d",
                            (long long)io->node->a.axis.axis, s0->ndim);
    kiln_shape o = *s0;
    for (int i = 1; i < io->n_in; i++) {
        const kiln_shape *s = &io->in_shape[i];
        char a[96], b[96];
        int fits = s->ndim == s0->ndim;
        for (int d = 0; fits && d < s->ndim; d++)
            if (d != axis && s->d[d] != s0->d[d]) fits = 0;
        if (!fits)
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "input %d (%s) does not fit input 0 (%s) on axis %lld", i,
                                kiln_shape_str(s, a, sizeof a), kiln_shape_str(s0, b, sizeof b),
                                (long long)axis);
        if (io->in_dtype[i] != io->in_dtype[0])
            return kiln_err_set(e, KILN_ERR_DTYPE, "input %d is %s but input 0 is %s", i,
                                kiln_dtype_name(io->in_dtype[i]),
                                kiln_dtype_name(io->in_dtype[0]));
        o.d[axis] += s->d[axis];
    }
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_split(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[2];
    int nv = kiln__infer_views(io, v, 2);
    int64_t axis, sizes[128];
    if (io->n_out > 128)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%d outputs, at most 128", io->n_out);
    KILN_TRY(kiln_split_resolve(io->node, nv, v, io->n_out, &axis, sizes, e));
    for (int i = 0; i < io->n_out; i++) {
        io->out_shape[i] = io->in_shape[0];
        io->out_shape[i].d[axis] = sizes[i];
        io->out_dtype[i] = io->in_dtype[0];
    }
    return KILN_OK;
}

kiln_status kiln__infer_gather(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    const kiln_shape *d = &io->in_shape[0], *ix = &io->in_shape[1];
    int64_t axis = kiln_axis_norm(io->node->a.gather.axis, d->ndim);
    if (axis < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld is out of range for rank %d",
                            (long long)io->node->a.gather.axis, d->ndim);
    if (io->in_dtype[1] != KILN_I64 && io->in_dtype[1] != KILN_I32)
        return kiln_err_set(e, KILN_ERR_DTYPE, "indices must be int64 or int32, not %s",
                            kiln_dtype_name(io->in_dtype[1]));
    int r = d->ndim - 1 + ix->ndim;
    if (r > KILN_MAX_DIMS)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "the output would have rank %d, at most %d",
                            r, KILN_MAX_DIMS);
    if (io->in_val[1]) {
        int64_t n = kiln_shape_numel(ix), dim = d->d[axis];
        for (int64_t i = 0; i < n; i++) {
            int64_t k = kiln_elem_get_i64(io->in_val[1], io->in_dtype[1], i);
            if (k < -dim || k >= dim)
                return kiln_err_set(e, KILN_ERR_SHAPE, "index %lld is out of range for axis %lld "
                                    "of size %lld", (long long)k, (long long)axis, (long long)dim);
        }
    }
    kiln_shape o = kiln_shape_make(0, NULL);
    o.ndim = r;
    int k = 0;
    for (int i = 0; i < axis; i++) o.d[k++] = d->d[i];
    for (int i = 0; i < ix->ndim; i++) o.d[k++] = ix->d[i];
    for (int i = (int)axis + 1; i < d->ndim; i++) o.d[k++] = d->d[i];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_slice(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[5];
    int nv = kiln__infer_views(io, v, 5);
    kiln_slice_plan p;
    KILN_TRY(kiln_slice_resolve(io->node, nv, v, &p, e));
    kiln_shape o = io->in_shape[0];
    for (int i = 0; i < o.ndim; i++) o.d[i] = p.count[i];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_pad(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[4];
    int nv = kiln__infer_views(io, v, 4);
    if (kiln_input_present(nv, v, 2)) {
        if (kiln_shape_numel(&v[2].shape) != 1)
            return kiln_err_set(e, KILN_ERR_SHAPE, "constant_value must be a scalar");
        if (v[2].dtype != v[0].dtype)
            return kiln_err_set(e, KILN_ERR_DTYPE, "constant_value is %s but the data is %s",
                                kiln_dtype_name(v[2].dtype), kiln_dtype_name(v[0].dtype));
    }
    kiln_pad_plan p;
    KILN_TRY(kiln_pad_resolve(io->node, nv, v, &p, e));
    kiln_shape o = io->in_shape[0];
    for (int i = 0; i < o.ndim; i++) o.d[i] += p.begin[i] + p.end[i];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}
