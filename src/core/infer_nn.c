/* Shape rules of the normalizations and softmax, the helpers the nn rules share, and the op ->
 * rule table. */
#include "core/infer_nn.h"

#include <string.h>

int kiln__nn_has(const kiln_infer_io *io, int i) { return i < io->n_in && io->in_shape[i].ndim >= 0; }

kiln_status kiln__nn_need(const kiln_infer_io *io, int k, kiln_err *e) {
    for (int i = 0; i < k; i++)
        if (!kiln__nn_has(io, i))
            return kiln_err_set(e, KILN_ERR_SHAPE, "input %d is required (the node has %d inputs)", i,
                                io->n_in);
    if (io->n_out < 1) return kiln_err_set(e, KILN_ERR_SHAPE, "the node has no output");
    return KILN_OK;
}

kiln_status kiln__nn_check_residual(const kiln_infer_io *io, int has_residual, const kiln_shape *out,
                                    kiln_err *e) {
    if (!has_residual) return KILN_OK;
    char br[96], bo[96];
    if (!kiln__nn_has(io, 3))
        return kiln_err_set(e, KILN_ERR_SHAPE, "has_residual is set but input 3 (the residual) is absent");
    if (!kiln_shape_eq(&io->in_shape[3], out))
        return kiln_err_set(e, KILN_ERR_SHAPE, "residual %s does not match the output %s",
                            kiln_shape_str(&io->in_shape[3], br, sizeof br), kiln_shape_str(out, bo, sizeof bo));
    return KILN_OK;
}

kiln_status kiln__nn_only_first_output(const kiln_infer_io *io, const char *what, kiln_err *e) {
    for (int j = 1; j < io->n_out; j++)
        if (io->node->out[j] >= 0)
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s output %d is not supported (inference only)",
                                what, j);
    return KILN_OK;
}

static void set_out(const kiln_infer_io *io, const kiln_shape *s) {
    io->out_shape[0] = *s;
    io->out_dtype[0] = io->in_dtype[0];
}

/* Per-channel parameter inputs [from, to) must each hold C values. */
static kiln_status check_channel_params(const kiln_infer_io *io, int from, int to, const char *const *names,
                                        kiln_err *e) {
    const kiln_shape *x = &io->in_shape[0];
    char bx[96], bp[96];
    if (x->ndim < 2)
        return kiln_err_set(e, KILN_ERR_SHAPE, "input %s needs at least 2 dimensions (N x C x ...)",
                            kiln_shape_str(x, bx, sizeof bx));
    for (int i = from; i < to; i++) {
        const kiln_shape *p = &io->in_shape[i];
        if (kiln_shape_numel(p) != x->d[1] || p->ndim > 1)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%s %s must hold one value per channel of input %s (%lld)",
                                names[i - from], kiln_shape_str(p, bp, sizeof bp),
                                kiln_shape_str(x, bx, sizeof bx), (long long)x->d[1]);
    }
    return KILN_OK;
}

static kiln_status infer_batchnorm(const kiln_infer_io *io, kiln_err *e) {
    static const char *const names[] = {"scale", "B", "mean", "var"};
    KILN_TRY(kiln__nn_need(io, 5, e));
    KILN_TRY(kiln__nn_only_first_output(io, "BatchNormalization training-mode", e));
    KILN_TRY(check_channel_params(io, 1, 5, names, e));
    set_out(io, &io->in_shape[0]);
    return KILN_OK;
}

static kiln_status infer_scale_shift(const kiln_infer_io *io, kiln_err *e) {
    static const char *const names[] = {"scale", "shift"};
    KILN_TRY(kiln__nn_need(io, 3, e));
    KILN_TRY(check_channel_params(io, 1, 3, names, e));
    set_out(io, &io->in_shape[0]);
    return KILN_OK;
}

static kiln_status infer_softmax(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 1, e));
    const kiln_shape *x = &io->in_shape[0];
    char bx[96];
    if (x->ndim < 1)
        return kiln_err_set(e, KILN_ERR_SHAPE, "input %s must have at least one dimension",
                            kiln_shape_str(x, bx, sizeof bx));
    if (kiln_axis_norm(io->node->a.axis.axis, x->ndim) < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld out of range for input %s",
                            (long long)io->node->a.axis.axis, kiln_shape_str(x, bx, sizeof bx));
    set_out(io, x);
    return KILN_OK;
}

static kiln_status infer_lrn(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 1, e));
    const kiln_shape *x = &io->in_shape[0];
    char bx[96];
    if (x->ndim < 2)
        return kiln_err_set(e, KILN_ERR_SHAPE, "LRN input %s needs at least 2 dimensions (N x C x ...)",
                            kiln_shape_str(x, bx, sizeof bx));
    if (io->node->a.lrn.size < 1)
        return kiln_err_set(e, KILN_ERR_SHAPE, "LRN size %lld must be positive", (long long)io->node->a.lrn.size);
    set_out(io, x);
    return KILN_OK;
}

kiln_infer_fn kiln_infer_nn_lookup(kiln_op op) {
    switch (op) {
    case KILN_OP_CONV: return kiln__infer_conv;
    case KILN_OP_CONV_TRANSPOSE: return kiln__infer_conv_transpose;
    case KILN_OP_BATCHNORM: return infer_batchnorm;
    case KILN_OP_SCALE_SHIFT: return infer_scale_shift;
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX: return infer_softmax;
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL: return kiln__infer_pool;
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL: return kiln__infer_global_pool;
    case KILN_OP_LRN: return infer_lrn;
    case KILN_OP_GEMM: return kiln__infer_gemm;
    case KILN_OP_MATMUL: return kiln__infer_matmul;
    case KILN_OP_RESIZE: return kiln__infer_resize;
    default: return NULL;
    }
}
