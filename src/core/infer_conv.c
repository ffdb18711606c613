/* Shape rules of the sliding-window ops: Conv, ConvTranspose, MaxPool, AveragePool and the global
 * pools. The window arithmetic itself is in nn_window.c, shared with the kernels. */
#include "core/infer_nn.h"
#include "core/nn_window.h"

/* N x C x (spatial output of win, its real dims only). */
static kiln_shape window_out_shape(const kiln_shape *x, int64_t channels, const kiln_window *w) {
    kiln_shape o = *x;
    o.d[1] = channels;
    for (int i = 0; i < w->nsp; i++) o.d[2 + i] = w->out[KILN_WINDOW_DIMS - w->nsp + i];
    return o;
}

static kiln_status check_bias(const kiln_infer_io *io, int64_t c_out, kiln_err *e) {
    if (!kiln__nn_has(io, 2)) return KILN_OK;
    const kiln_shape *b = &io->in_shape[2];
    char bb[96];
    if (b->ndim != 1 || b->d[0] != c_out)
        return kiln_err_set(e, KILN_ERR_SHAPE, "bias %s must be a vector of the %lld output channels",
                            kiln_shape_str(b, bb, sizeof bb), (long long)c_out);
    return KILN_OK;
}

kiln_status kiln__infer_conv(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 2, e));
    const kiln_conv_attr *a = &io->node->a.conv;
    kiln_window w;
    KILN_TRY(kiln_window_conv(a, &io->in_shape[0], &io->in_shape[1], &w, e));
    int64_t c_out = io->in_shape[1].d[0];
    KILN_TRY(check_bias(io, c_out, e));
    kiln_shape o = window_out_shape(&io->in_shape[0], c_out, &w);
    KILN_TRY(kiln__nn_check_residual(io, a->has_residual, &o, e));
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_conv_transpose(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 2, e));
    const kiln_conv_attr *a = &io->node->a.conv;
    kiln_window w;
    KILN_TRY(kiln_window_conv_transpose(a, &io->in_shape[0], &io->in_shape[1], &w, e));
    int64_t c_out = io->in_shape[1].d[1] * a->group;
    KILN_TRY(check_bias(io, c_out, e));
    kiln_shape o = window_out_shape(&io->in_shape[0], c_out, &w);
    KILN_TRY(kiln__nn_check_residual(io, a->has_residual, &o, e));
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_pool(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 1, e));
    const kiln_shape *x = &io->in_shape[0];
    kiln_window w;
    KILN_TRY(kiln_window_pool(&io->node->a.pool, x, &w, e));
    kiln_shape o = window_out_shape(x, x->d[1], &w);
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    if (io->node->op == KILN_OP_MAXPOOL) {
        if (io->n_out > 1) { /* Indices */
            io->out_shape[1] = o;
            io->out_dtype[1] = KILN_I64;
        }
    } else {
        KILN_TRY(kiln__nn_only_first_output(io, "AveragePool", e));
    }
    return KILN_OK;
}

kiln_status kiln__infer_global_pool(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 1, e));
    const kiln_shape *x = &io->in_shape[0];
    char bx[96];
    if (x->ndim < 3)
        return kiln_err_set(e, KILN_ERR_SHAPE, "input %s must be N x C x spatial (rank 3 or more)",
                            kiln_shape_str(x, bx, sizeof bx));
    kiln_shape o = *x;
    for (int i = 2; i < o.ndim; i++) o.d[i] = 1;
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}
