/* Shape rules of the elementwise and tensor-manipulation ops: the lookup table, and helpers the
 * rule files share. */
#include "core/infer_tensor.h"

kiln_status kiln__infer_need(const kiln_infer_io *io, int k, kiln_err *e) {
    if (io->n_in < k)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "needs %d input%s, has %d", k,
                            k == 1 ? "" : "s", io->n_in);
    for (int i = 0; i < k; i++)
        if (io->in_shape[i].ndim < 0)
            return kiln_err_set(e, KILN_ERR_INVALID_ARG, "input %d is missing", i);
    if (io->n_out < 1) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "has no outputs");
    return KILN_OK;
}

void kiln__infer_same(const kiln_infer_io *io, int j, int i) {
    if (j >= io->n_out) return;
    io->out_shape[j] = io->in_shape[i];
    io->out_dtype[j] = io->in_dtype[i];
}

kiln_infer_fn kiln_infer_tensor_lookup(kiln_op op) {
    switch (op) {
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH:
    case KILN_OP_ERF:
    case KILN_OP_EXP:
    case KILN_OP_LOG:
    case KILN_OP_NEG:
    case KILN_OP_ABS:
    case KILN_OP_SQRT:
    case KILN_OP_RECIPROCAL:
    case KILN_OP_FLOOR:
    case KILN_OP_CEIL: return kiln__infer_unary;
    case KILN_OP_CLIP: return kiln__infer_clip;
    case KILN_OP_PRELU: return kiln__infer_prelu;
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV: return kiln__infer_binary;
    case KILN_OP_POW: return kiln__infer_pow;
    case KILN_OP_EQUAL: return kiln__infer_equal;
    case KILN_OP_MIN:
    case KILN_OP_MAX: return kiln__infer_variadic;
    case KILN_OP_WHERE: return kiln__infer_where;
    case KILN_OP_CAST: return kiln__infer_cast;
    case KILN_OP_RESHAPE: return kiln__infer_reshape;
    case KILN_OP_FLATTEN: return kiln__infer_flatten;
    case KILN_OP_SQUEEZE: return kiln__infer_squeeze;
    case KILN_OP_UNSQUEEZE: return kiln__infer_unsqueeze;
    case KILN_OP_EXPAND: return kiln__infer_expand;
    case KILN_OP_IDENTITY: return kiln__infer_identity;
    case KILN_OP_DROPOUT: return kiln__infer_dropout;
    case KILN_OP_SHAPE: return kiln__infer_shape;
    case KILN_OP_CONSTANT_OF_SHAPE: return kiln__infer_constant_of_shape;
    case KILN_OP_TRANSPOSE: return kiln__infer_transpose;
    case KILN_OP_CONCAT: return kiln__infer_concat;
    case KILN_OP_SPLIT: return kiln__infer_split;
    case KILN_OP_GATHER: return kiln__infer_gather;
    case KILN_OP_SLICE: return kiln__infer_slice;
    case KILN_OP_PAD: return kiln__infer_pad;
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: return kiln__infer_reduce;
    default: return NULL;
    }
}
