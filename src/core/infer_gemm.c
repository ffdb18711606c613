/* Shape rules of Gemm (2-D, transA/transB, C broadcast to M x N) and MatMul (numpy semantics:
 * 1-D operands, batched, batch dims broadcast). */
#include "core/infer_nn.h"

kiln_status kiln__infer_gemm(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 2, e));
    const kiln_gemm_attr *a = &io->node->a.gemm;
    const kiln_shape *sa = &io->in_shape[0], *sb = &io->in_shape[1];
    char b1[96], b2[96];
    if (sa->ndim != 2 || sb->ndim != 2)
        return kiln_err_set(e, KILN_ERR_SHAPE, "Gemm needs 2-D A and B, got %s and %s",
                            kiln_shape_str(sa, b1, sizeof b1), kiln_shape_str(sb, b2, sizeof b2));
    int64_t m = a->trans_a ? sa->d[1] : sa->d[0], ka = a->trans_a ? sa->d[0] : sa->d[1];
    int64_t kb = a->trans_b ? sb->d[1] : sb->d[0], n = a->trans_b ? sb->d[0] : sb->d[1];
    if (ka != kb)
        return kiln_err_set(e, KILN_ERR_SHAPE, "Gemm inner dimensions differ: A %s%s and B %s%s",
                            kiln_shape_str(sa, b1, sizeof b1), a->trans_a ? " (transposed)" : "",
                            kiln_shape_str(sb, b2, sizeof b2), a->trans_b ? " (transposed)" : "");
    kiln_shape o = {2, {m, n}};
    if (kiln__nn_has(io, 2)) {
        const kiln_shape *c = &io->in_shape[2];
        int ok = c->ndim <= 2;
        for (int i = 0; ok && i < c->ndim; i++) {
            int64_t want = o.d[2 - c->ndim + i];
            if (c->d[i] != 1 && c->d[i] != want) ok = 0;
        }
        if (!ok)
            return kiln_err_set(e, KILN_ERR_SHAPE, "Gemm C %s does not broadcast to the output %s",
                                kiln_shape_str(c, b1, sizeof b1), kiln_shape_str(&o, b2, sizeof b2));
    }
    KILN_TRY(kiln__nn_check_residual(io, a->has_residual, &o, e));
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}

kiln_status kiln__infer_matmul(const kiln_infer_io *io, kiln_err *e) {
    KILN_TRY(kiln__nn_need(io, 2, e));
    const kiln_shape *sa = &io->in_shape[0], *sb = &io->in_shape[1];
    char b1[96], b2[96];
    if (sa->ndim < 1 || sb->ndim < 1)
        return kiln_err_set(e, KILN_ERR_SHAPE, "MatMul operands must have at least one dimension: %s, %s",
                            kiln_shape_str(sa, b1, sizeof b1), kiln_shape_str(sb, b2, sizeof b2));
    int64_t ka = sa->d[sa->ndim - 1];
    int64_t kb = sb->ndim == 1 ? sb->d[0] : sb->d[sb->ndim - 2];
    if (ka != kb)
        return kiln_err_set(e, KILN_ERR_SHAPE, "MatMul inner dimensions differ: %s x %s",
                            kiln_shape_str(sa, b1, sizeof b1), kiln_shape_str(sb, b2, sizeof b2));
    kiln_shape ba = {sa->ndim > 2 ? sa->ndim - 2 : 0, {0}}, bb = {sb->ndim > 2 ? sb->ndim - 2 : 0, {0}};
    for (int i = 0; i < ba.ndim; i++) ba.d[i] = sa->d[i];
    for (int i = 0; i < bb.ndim; i++) bb.d[i] = sb->d[i];
    kiln_shape o;
    if (!kiln_shape_broadcast(&ba, &bb, &o))
        return kiln_err_set(e, KILN_ERR_SHAPE, "MatMul batch dimensions of %s and %s do not broadcast",
                            kiln_shape_str(sa, b1, sizeof b1), kiln_shape_str(sb, b2, sizeof b2));
    if (sa->ndim >= 2) o.d[o.ndim++] = sa->d[sa->ndim - 2];
    if (sb->ndim >= 2) o.d[o.ndim++] = sb->d[sb->ndim - 1];
    KILN_TRY(kiln__nn_check_residual(io, io->node->a.gemm.has_residual, &o, e));
    io->out_shape[0] = o;
    io->out_dtype[0] = io->in_dtype[0];
    return KILN_OK;
}
