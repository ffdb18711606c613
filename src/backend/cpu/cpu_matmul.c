/* Gemm and MatMul on the GEMM engine. Gemm's transposes become strides and its C a broadcast
 * D operand of the epilogue. MatMul folds batches into M when B has no batch dimensions (a
 * Linear layer over a sequence is one big product), and otherwise runs one product per batch,
 * in parallel over batches when each product is too small to split. */
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_nn_ops.h"

kiln_status kiln__cpu_gemm_op(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 4, out, e));
    const kiln_gemm_attr *a = &n->a.gemm;
    const kiln_shape *sa = &in[0].shape, *sb = &in[1].shape;
    int64_t m = a->trans_a ? sa->d[1] : sa->d[0], k = a->trans_a ? sa->d[0] : sa->d[1];
    int64_t nn = a->trans_b ? sb->d[0] : sb->d[1];
    kiln_gemm g = {
        .m = m, .n = nn, .k = k,
        .a = in[0].data, .a_rs = a->trans_a ? 1 : k, .a_cs = a->trans_a ? m : 1,
        .b = in[1].data, .b_rs = a->trans_b ? 1 : nn, .b_cs = a->trans_b ? k : 1,
        .c = out[0].data, .ldc = nn, .alpha = a->alpha, .beta = a->beta, .act = a->act,
    };
    if (kiln__cpu_has(n, in, 2) && a->beta != 0.0f) {
        const kiln_shape *sc = &in[2].shape;
        int64_t rows = sc->ndim == 2 ? sc->d[0] : 1, cols = sc->ndim >= 1 ? sc->d[sc->ndim - 1] : 1;
        g.d = in[2].data;
        g.d_rs = rows == 1 ? 0 : cols;
        g.d_cs = cols == 1 ? 0 : 1;
    }
    if (a->has_residual) {
        if (!kiln__cpu_has(n, in, 3)) return kiln_err_set(e, KILN_ERR_SHAPE, "Gemm: the residual input is missing");
        g.r = in[3].data;
        g.ldr = nn;
    }
    return kiln_gemm_run(cpu, &g, e);
}

typedef struct batch_job {
    kiln_gemm proto;
    int64_t n_batch;
    const int64_t *a_off, *b_off; /* per batch, in elements */
    float *ws;
    size_t ws_stride;
} batch_job;

static void batch_task(void *arg, int64_t bi, int thread) {
    const batch_job *j = arg;
    kiln_gemm g = j->proto;
    g.a += j->a_off[bi];
    g.b += j->b_off[bi];
    g.c += bi * g.m * g.n;
    if (g.r) g.r += bi * g.m * g.n;
    kiln_gemm_serial(&g, j->ws + (size_t)thread * j->ws_stride);
}

kiln_status kiln__cpu_matmul(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 4, out, e));
    const kiln_shape *sa = &in[0].shape, *sb = &in[1].shape, *so = &out[0].shape;
    int ra = sa->ndim, rb = sb->ndim;
    int64_t m = ra >= 2 ? sa->d[ra - 2] : 1, k = sa->d[ra - 1], nn = rb >= 2 ? sb->d[rb - 1] : 1;
    int nba = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0;
    int nbo = nba > nbb ? nba : nbb;
    int64_t n_batch = 1, na = 1;
    for (int i = 0; i < nbo; i++) n_batch *= so->d[i];
    for (int i = 0; i < nba; i++) na *= sa->d[i];
    const kiln_gemm_attr *at = &n->a.gemm;
    kiln_gemm g = {
        .m = m, .n = nn, .k = k, .a = in[0].data, .a_rs = k, .a_cs = 1,
        .b = in[1].data, .b_rs = nn, .b_cs = 1, .c = out[0].data, .ldc = nn, .alpha = 1.0f, .act = at->act,
    };
    if (at->has_residual) {
        if (!kiln__cpu_has(n, in, 3)) return kiln_err_set(e, KILN_ERR_SHAPE, "MatMul: the residual input is missing");
        g.r = in[3].data;
        g.ldr = nn;
    }
    if (n_batch == 0 || m == 0 || nn == 0) return KILN_OK;
    if (nbb == 0) { /* B is shared by every batch: one product with the batches stacked in M */
        g.m = m * na;
        return kiln_gemm_run(cpu, &g, e);
    }
    /* Per-batch offsets, with broadcast (size-1) batch dims read with stride 0. */
    int64_t *offs = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_AUX, (size_t)(2 * n_batch) * sizeof(int64_t));
    if (!offs) return kiln_err_set(e, KILN_ERR_NOMEM, "MatMul: out of memory");
    for (int64_t bi = 0; bi < n_batch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0, sa_el = m * k, sb_el = k * nn;
        for (int i = nbo - 1; i >= 0; i--) {
            int64_t c = rem % so->d[i];
            rem /= so->d[i];
            int ia = i - (nbo - nba), ib = i - (nbo - nbb);
            if (ia >= 0) {
                if (sa->d[ia] != 1) oa += c * sa_el;
                sa_el *= sa->d[ia];
            }
            if (ib >= 0) {
                if (sb->d[ib] != 1) ob += c * sb_el;
                sb_el *= sb->d[ib];
            }
        }
        offs[bi] = oa;
        offs[n_batch + bi] = ob;
    }
    kiln_pool *pool = kiln_cpu_pool(cpu);
    int nth = kiln_pool_size(pool);
    if (nth > 1 && n_batch >= nth && m * nn * k < 256 * 256 * 64) {
        batch_job j = {g, n_batch, offs, offs + n_batch, NULL, (kiln_gemm_serial_floats(&g) + 15) & ~(size_t)15};
        j.ws = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_GEMM, (size_t)nth * j.ws_stride * sizeof(float));
        if (!j.ws) return kiln_err_set(e, KILN_ERR_NOMEM, "MatMul: out of memory for packing buffers");
        kiln_pool_for(pool, n_batch, batch_task, &j);
        return KILN_OK;
    }
    for (int64_t bi = 0; bi < n_batch; bi++) {
        kiln_gemm gb = g;
        gb.a += offs[bi];
        gb.b += offs[n_batch + bi];
        gb.c += bi * m * nn;
        if (gb.r) gb.r += bi * m * nn;
        KILN_TRY(kiln_gemm_run(cpu, &gb, e));
    }
    return KILN_OK;
}
