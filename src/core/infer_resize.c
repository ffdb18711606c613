/* Shape rule of Resize (and Upsample, imported as Resize): see resize_plan.c. */
#include "core/infer_nn.h"
#include "core/resize_plan.h"

kiln_status kiln__infer_resize(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 1, e));
    kiln_resize_plan p;
    KILN_TRY(kiln_resize_resolve(io->node, io->n_in, io->in_shape, io->in_dtype, io->in_val, &p, e));
    kiln_shape o = io->in_shape[0];
    for (int i = 0; i < p.rank; i++) o.d[i] = p.out[i];
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}
