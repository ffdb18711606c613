/* infer_tensor.h — shape rules of the elementwise and tensor-manipulation ops, internal to
 * src/core. kiln_infer_tensor_lookup() (infer_tensor.c) maps ops onto them; the rules live in
 * infer_elementwise.c, infer_shape_ops.c, infer_layout_ops.c and infer_reduce.c. */
#ifndef KILN_CORE_INFER_TENSOR_H
#define KILN_CORE_INFER_TENSOR_H

#include "core/shape.h"
#include "core/tensor_params.h"

/* Inputs as views, for the resolvers in tensor_params.h (at most max of them). */
static inline int kiln__infer_views(const kiln_infer_io *io, kiln_view *v, int max) {
    int k = io->n_in < max ? io->n_in : max;
    for (int i = 0; i < k; i++)
        v[i] = (kiln_view){io->in_dtype[i], io->in_shape[i], (void *)io->in_val[i]};
    return k;
}

/* Fail unless the first k inputs are present. */
kiln_status kiln__infer_need(const kiln_infer_io *io, int k, kiln_err *e);
/* Output j takes input i's shape and dtype (when the node has that output). */
void kiln__infer_same(const kiln_infer_io *io, int j, int i);

/* infer_elementwise.c */
kiln_status kiln__infer_unary(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_clip(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_prelu(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_binary(const kiln_infer_io *io, kiln_err *e);   /* Add, Sub, ... */
kiln_status kiln__infer_pow(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_equal(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_variadic(const kiln_infer_io *io, kiln_err *e); /* Min, Max */
kiln_status kiln__infer_where(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_cast(const kiln_infer_io *io, kiln_err *e);

/* infer_shape_ops.c */
kiln_status kiln__infer_reshape(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_flatten(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_squeeze(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_unsqueeze(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_expand(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_identity(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_dropout(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_shape(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_constant_of_shape(const kiln_infer_io *io, kiln_err *e);

/* infer_layout_ops.c */
kiln_status kiln__infer_transpose(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_concat(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_split(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_gather(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_slice(const kiln_infer_io *io, kiln_err *e);
kiln_status kiln__infer_pad(const kiln_infer_io *io, kiln_err *e);

/* infer_reduce.c */
kiln_status kiln__infer_reduce(const kiln_infer_io *io, kiln_err *e);

#endif
