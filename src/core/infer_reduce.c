/* Shape rule of ReduceMean/Sum/Max/Min: reduced axes become 1 (keepdims) or go away. */
#include "core/infer_tensor.h"

kiln_status kiln__infer_reduce(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_view v[2];
    int nv = kiln__infer_views(io, v, 2);
    unsigned char mask[KILN_MAX_DIMS];
    int noop;
    KILN_TRY(kiln_reduce_resolve(io->node, nv, v, mask, &noop, e));
    const kiln_shape *in = &io->in_shape[0];
    kiln_shape o = kiln_shape_make(0, NULL);
    for (int i = 0; i < in->ndim; i++) {
        if (noop || !mask[i]) o.d[o.ndim++] = in->d[i];
        else if (io->node->a.axes.keepdims) o.d[o.ndim++] = 1;
    }
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}
