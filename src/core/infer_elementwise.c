/* Shape rules of elementwise ops: unary maps keep the shape; binary and variadic ops broadcast
 * numpy-style (multidirectional); PRelu broadcasts its slope one way onto X. */
#include <stdio.h>

#include "core/dtype.h"
#include "core/infer_tensor.h"

kiln_status kiln__infer_unary(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln__infer_same(io, 0, 0);
    return KILN_OK;
}

static kiln_status same_dtype(const kiln_infer_io *io, int i, int j, kiln_err *e) {
    kiln_dtype a = io->in_dtype[i], b = io->in_dtype[j];
    if (a != b)
        return kiln_err_set(e, KILN_ERR_DTYPE, "inputs %d and %d have different types (%s, %s)",
                            i, j, kiln_dtype_name(a), kiln_dtype_name(b));
    return KILN_OK;
}

kiln_status kiln__infer_clip(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    for (int i = 1; i < io->n_in && i < 3; i++) {
        if (io->in_shape[i].ndim < 0) continue;
        if (kiln_shape_numel(&io->in_shape[i]) != 1) {
            char b[96];
            return kiln_err_set(e, KILN_ERR_SHAPE, "%s must be a scalar, not %s",
                                i == 1 ? "min" : "max",
                                kiln_shape_str(&io->in_shape[i], b, sizeof b));
        }
        KILN_TRY(same_dtype(io, 0, i, e));
    }
    kiln__infer_same(io, 0, 0);
    return KILN_OK;
}

/* out = broadcast of inputs [0, k); the message names every shape when they do not fit. */
static kiln_status broadcast_inputs(const kiln_infer_io *io, int k, kiln_shape *out,
                                    kiln_err *e) {
    *out = io->in_shape[0];
    for (int i = 1; i < k; i++) {
        if (kiln_shape_broadcast(out, &io->in_shape[i], out)) continue;
        char msg[400];
        size_t len = 0;
        for (int j = 0; j < k && len < sizeof msg; j++) {
            char b[96];
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", j ? " and " : "",
                                    kiln_shape_str(&io->in_shape[j], b, sizeof b));
        }
        return kiln_err_set(e, KILN_ERR_SHAPE, "cannot broadcast shapes %s", msg);
    }
    return KILN_OK;
}

kiln_status kiln__infer_prelu(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    KILN_TRY(same_dtype(io, 0, 1, e));
    kiln_shape o;
    char a[96], b[96];
    if (!kiln_shape_broadcast(&io->in_shape[0], &io->in_shape[1], &o) ||
        !kiln_shape_eq(&o, &io->in_shape[0]))
        return kiln_err_set(e, KILN_ERR_SHAPE, "slope %s does not broadcast to X %s",
                            kiln_shape_str(&io->in_shape[1], b, sizeof b),
                            kiln_shape_str(&io->in_shape[0], a, sizeof a));
    kiln__infer_same(io, 0, 0);
    return KILN_OK;
}

kiln_status kiln__infer_binary(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    KILN_TRY(same_dtype(io, 0, 1, e));
    KILN_TRY(broadcast_inputs(io, 2, &io->out_shape[0], e));
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

/* Pow: the exponent may have another numeric type (opset 12); the base's type wins. */
kiln_status kiln__infer_pow(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    KILN_TRY(broadcast_inputs(io, 2, &io->out_shape[0], e));
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_equal(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 2, e));
    KILN_TRY(same_dtype(io, 0, 1, e));
    KILN_TRY(broadcast_inputs(io, 2, &io->out_shape[0], e));
    io->out_dtype[0] = KILN_BOOL;
    return KILN_OK;
}

kiln_status kiln__infer_variadic(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, io->n_in > 0 ? io->n_in : 1, e));
    for (int i = 1; i < io->n_in; i++) KILN_TRY(same_dtype(io, 0, i, e));
    KILN_TRY(broadcast_inputs(io, io->n_in, &io->out_shape[0], e));
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_where(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 3, e));
    if (io->in_dtype[0] != KILN_BOOL)
        return kiln_err_set(e, KILN_ERR_DTYPE, "the condition must be bool, not %s",
                            kiln_dtype_name(io->in_dtype[0]));
    KILN_TRY(same_dtype(io, 1, 2, e));
    KILN_TRY(broadcast_inputs(io, 3, &io->out_shape[0], e));
    io->out_dtype[0] = io->in_dtype[1];
    return KILN_OK;
}

kiln_status kiln__infer_cast(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__infer_need(io, 1, e));
    kiln_dtype to = (kiln_dtype)io->node->a.cast.to;
    if (kiln_dtype_size(to) == 0 || to == KILN_F8E4M3)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "cannot cast to %s (type %d)",
                            kiln_dtype_name(to), (int)to);
    io->out_shape[0] = io->in_shape[0];
    io->out_dtype[0] = to;
    return KILN_OK;
}
