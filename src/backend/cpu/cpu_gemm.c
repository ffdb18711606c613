/* The GEMM driver: blocking, packing, edge tiles, the fused epilogue and the thread split.
 * See cpu_gemm.h for the contract and cpu_gemm_ukr.c for the micro-kernels. */
#include "backend/cpu/cpu_gemm.h"

#include <string.h>

#include "backend/cpu/cpu_gemm_ukr.h"
#include "backend/cpu/cpu_nn_ops.h"

/* Column extents up to which A is read in place rather than packed (measured on Zen 5). */
#define KILN_GEMM_ROWS_IN_PLACE_N 256

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* A(i0.., p0..) as mc/mr slivers, each kc columns of mr rows; rows past mc are zero. */
static void pack_a(const kiln_gemm *g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, float *dst) {
    for (int64_t s = 0; s < mc; s += mr) {
        int64_t rows = min64(mr, mc - s);
        float *d = dst + s * kc;
        const float *src = g->a + (i0 + s) * g->a_rs + p0 * g->a_cs;
        if (g->a_cs == 1) { /* rows are contiguous: read along them */
            for (int64_t r = 0; r < rows; r++) {
                const float *row = src + r * g->a_rs;
                for (int64_t p = 0; p < kc; p++) d[p * mr + r] = row[p];
            }
        } else {
            for (int64_t p = 0; p < kc; p++) {
                const float *col = src + p * g->a_cs;
                for (int64_t r = 0; r < rows; r++) d[p * mr + r] = col[r * g->a_rs];
            }
        }
        if (rows < mr)
            for (int64_t p = 0; p < kc; p++)
                for (int64_t r = rows; r < mr; r++) d[p * mr + r] = 0;
    }
}

/* B(p0.., j0..) as nc/nr panels, each kc rows of nr columns; columns past nc are zero. */
static void pack_b(const kiln_gemm *g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst) {
    if (g->b_pack) {
        g->b_pack(g->b_ctx, p0, kc, j0, nc, nr, dst);
        return;
    }
    for (int64_t s = 0; s < nc; s += nr) {
        int64_t cols = min64(nr, nc - s);
        float *d = dst + s * kc;
        const float *src = g->b + p0 * g->b_rs + (j0 + s) * g->b_cs;
        if (g->b_cs == 1) {
            for (int64_t p = 0; p < kc; p++) {
                memcpy(d + p * nr, src + p * g->b_rs, (size_t)cols * sizeof(float));
                for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0;
            }
        } else {
            for (int64_t j = 0; j < cols; j++) {
                const float *col = src + j * g->b_cs;
                for (int64_t p = 0; p < kc; p++) d[p * nr + j] = col[p * g->b_rs];
            }
            if (cols < nr)
                for (int64_t p = 0; p < kc; p++)
                    for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0;
        }
    }
}

/* alpha, D, R and the activation over the finished tile C(i0.., j0..), while it is in L1. */
static void epilogue(const kiln_gemm *g, int64_t i0, int64_t mr, int64_t j0, int64_t nr) {
    for (int64_t i = i0; i < i0 + mr; i++) {
        float *restrict c = g->c + i * g->ldc + j0;
        if (g->alpha != 1.0f)
            for (int64_t j = 0; j < nr; j++) c[j] *= g->alpha;
        if (g->d) {
            const float *d = g->d + i * g->d_rs + j0 * g->d_cs;
            if (g->d_cs == 0) {
                float v = g->beta * d[0];
                for (int64_t j = 0; j < nr; j++) c[j] += v;
            } else if (g->d_cs == 1) {
                for (int64_t j = 0; j < nr; j++) c[j] += g->beta * d[j];
            } else {
                for (int64_t j = 0; j < nr; j++) c[j] += g->beta * d[j * g->d_cs];
            }
        }
        if (g->r) {
            const float *restrict r = g->r + i * g->ldr + j0;
            for (int64_t j = 0; j < nr; j++) c[j] += r[j];
        }
        kiln__cpu_act_inplace(&g->act, c, nr);
    }
}

static int has_epilogue(const kiln_gemm *g) {
    return g->alpha != 1.0f || g->d || g->r || g->act.type != KILN_ACT_NONE;
}

/* Activations the micro-kernels apply themselves; the others run over the stored tile. */
static int act_in_kernel(int type) { return type == KILN_ACT_NONE || type == KILN_ACT_RELU || type == KILN_ACT_CLIP; }

/* The micro-kernel epilogue of the full tile at (i0, j0); NULL when there is nothing to do. */
static const kiln_gemm_epi *tile_epi(const kiln_gemm *g, kiln_gemm_epi *ep, int64_t i0, int64_t j0) {
    if (!has_epilogue(g)) return NULL;
    ep->d = g->d ? g->d + i0 * g->d_rs + j0 * g->d_cs : NULL;
    ep->r = g->r ? g->r + i0 * g->ldr + j0 : NULL;
    return ep;
}

/* Packing space (floats) of one thread for a block of at most rows x cols. */
static size_t block_floats(const kiln_gemm_kernel *kr, int64_t rows, int64_t cols, int64_t k) {
    int64_t kc = min64(kr->kc, k > 0 ? k : 1);
    int64_t mc = min64(kr->mc, round_up(rows, kr->mr));
    int64_t nc = min64(kr->nc, round_up(cols, kr->nr));
    /* Both areas start 64-byte aligned (the micro-kernels use aligned loads). */
    return (size_t)(round_up(mc * kc, 16) + round_up(nc * kc, 16));
}

/* C rows [m0, m1) x columns [n0, n1), single-threaded; ws holds block_floats() floats. */
static void gemm_block(const kiln_gemm *g, const kiln_gemm_kernel *kr, int64_t m0, int64_t m1, int64_t n0,
                       int64_t n1, float *ws) {
    const int mr = kr->mr, nr = kr->nr;
    const int epi = has_epilogue(g);
    if (g->k <= 0) { /* an empty sum: the epilogue alone */
        for (int64_t i = m0; i < m1; i++) memset(g->c + i * g->ldc + n0, 0, (size_t)(n1 - n0) * sizeof(float));
        if (epi) epilogue(g, m0, m1 - m0, n0, n1 - n0);
        return;
    }
    int64_t kcap = min64(kr->kc, g->k), mcap = min64(kr->mc, round_up(m1 - m0, mr));
    float *pa = ws, *pb = ws + round_up(mcap * kcap, 16);
    /* With few columns each element of A is used only a few times, so packing it would cost as
       much as the multiply: read A's rows in place instead (full slivers only). */
    const int rows_in_place = g->a_cs == 1 && n1 - n0 <= KILN_GEMM_ROWS_IN_PLACE_N;
    /* Epilogues: fused into the micro-kernel for full tiles when D's columns are unit-strided or
       broadcast; edge tiles (and D with other column strides) use epilogue() after the store. */
    const int epi_fused = epi && (g->d_cs == 0 || g->d_cs == 1 || !g->d);
    const int act_after = epi && !act_in_kernel(g->act.type);
    kiln_gemm_epi ep = {g->alpha, g->beta, NULL, g->d_rs, g->d_cs, NULL, g->ldr,
                        act_in_kernel(g->act.type) ? g->act.type : KILN_ACT_NONE, g->act.alpha, g->act.beta};
    float tile[KILN_GEMM_MAX_TILE] __attribute__((aligned(64)));
    for (int64_t jc = n0; jc < n1; jc += kr->nc) {
        int64_t nc = min64(kr->nc, n1 - jc);
        for (int64_t pc = 0; pc < g->k; pc += kr->kc) {
            int64_t kc = min64(kr->kc, g->k - pc);
            int acc = pc > 0, last = pc + kc == g->k;
            pack_b(g, pc, kc, jc, nc, nr, pb);
            for (int64_t ic = m0; ic < m1; ic += kr->mc) {
                int64_t mc = min64(kr->mc, m1 - ic);
                if (!rows_in_place) pack_a(g, ic, mc, pc, kc, mr, pa);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int64_t nw = min64(nr, nc - jr);
                    const float *bp = pb + jr * kc;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        int64_t mw = min64(mr, mc - ir);
                        float *c = g->c + (ic + ir) * g->ldc + jc + jr;
                        const float *ap = pa + ir * kc;
                        int full = mw == mr && nw == nr;
                        const kiln_gemm_epi *te = last && full && epi_fused ? tile_epi(g, &ep, ic + ir, jc + jr) : NULL;
                        if (rows_in_place && mw == mr) {
                            const float *arow = g->a + (ic + ir) * g->a_rs + pc;
                            if (full) {
                                kr->ukr_rows(kc, arow, g->a_rs, bp, c, g->ldc, acc, te);
                            } else {
                                if (acc)
                                    for (int64_t i = 0; i < mw; i++)
                                        memcpy(tile + i * nr, c + i * g->ldc, (size_t)nw * sizeof(float));
                                kr->ukr_rows(kc, arow, g->a_rs, bp, tile, nr, acc, NULL);
                                for (int64_t i = 0; i < mw; i++)
                                    memcpy(c + i * g->ldc, tile + i * nr, (size_t)nw * sizeof(float));
                            }
                        } else {
                            if (rows_in_place) { /* a partial sliver: pack just it */
                                pack_a(g, ic + ir, mw, pc, kc, mr, pa);
                                ap = pa;
                            }
                            if (full) {
                                kr->ukr(kc, ap, bp, c, g->ldc, acc, te);
                            } else { /* edge tile: compute in full, keep the valid part */
                                if (acc)
                                    for (int64_t i = 0; i < mw; i++)
                                        memcpy(tile + i * nr, c + i * g->ldc, (size_t)nw * sizeof(float));
                                kr->ukr(kc, ap, bp, tile, nr, acc, NULL);
                                for (int64_t i = 0; i < mw; i++)
                                    memcpy(c + i * g->ldc, tile + i * nr, (size_t)nw * sizeof(float));
                            }
                        }
                        if (last && epi) {
                            if (te) {
                                if (act_after)
                                    for (int64_t i = 0; i < mw; i++)
                                        kiln__cpu_act_inplace(&g->act, c + i * g->ldc, nw);
                            } else {
                                epilogue(g, ic + ir, mw, jc + jr, nw);
                            }
                        }
                    }
                }
            }
        }
    }
}

static const kiln_gemm_kernel *default_kernel(void) {
    for (int i = 0; i < kiln__gemm_n_kernels; i++)
        if (kiln__gemm_kernel_supported(&kiln__gemm_kernels[i])) return &kiln__gemm_kernels[i];
    return &kiln__gemm_kernels[kiln__gemm_n_kernels - 1];
}

/* ---- threading ----------------------------------------------------------------------------- */

typedef struct split {
    int64_t rows, cols; /* per task, multiples of mr / nr */
    int64_t tm, tn;     /* tasks along M and N */
} split;

/* Choose tiles that minimize the estimated time: rounds of parallel tasks, each costing its
   multiply-adds, the packing it does (every task packs its own rows of A, unless it reads them
   in place, and its own columns of B; a packed element costs about as much as a dozen
   vectorized multiply-adds, one unfolded by a convolution's packer about twice that) and a
   fixed hand-out cost. */
static split plan_split(const kiln_gemm *g, const kiln_gemm_kernel *kr, int nth) {
    split best = {round_up(g->m, kr->mr), round_up(g->n, kr->nr), 1, 1};
    int64_t mt = ceil_div(g->m, kr->mr), nt = ceil_div(g->n, kr->nr), k = g->k > 0 ? g->k : 1;
    if (nth <= 1 || g->m * g->n * k < 32 * 32 * 32) return best;
    const double wa = 12.0, wb = g->b_pack ? 24.0 : 12.0;
    double best_cost = -1;
    int64_t lim = 4 * (int64_t)nth;
    for (int64_t tm = 1; tm <= min64(mt, lim); tm++) {
        for (int64_t tn = 1; tn <= min64(nt, lim) && tm * tn <= lim; tn++) {
            int64_t rows = ceil_div(mt, tm) * kr->mr, cols = ceil_div(nt, tn) * kr->nr;
            int64_t tasks = ceil_div(g->m, rows) * ceil_div(g->n, cols);
            int64_t rounds = ceil_div(tasks, nth);
            int a_in_place = g->a_cs == 1 && cols <= KILN_GEMM_ROWS_IN_PLACE_N;
            double pack = ((a_in_place ? 0.0 : wa * (double)rows) + wb * (double)cols) * (double)k;
            double cost = (double)rounds * ((double)rows * (double)cols * (double)k + pack + 20000.0);
            if (best_cost < 0 || cost < best_cost) {
                best_cost = cost;
                best = (split){rows, cols, ceil_div(g->m, rows), ceil_div(g->n, cols)};
            }
        }
    }
    return best;
}

typedef struct gemm_job {
    const kiln_gemm *g;
    const kiln_gemm_kernel *kr;
    split sp;
    float *ws;
    size_t ws_stride; /* floats per thread */
} gemm_job;

static void gemm_task(void *arg, int64_t t, int thread) {
    const gemm_job *j = arg;
    int64_t mi = t / j->sp.tn, ni = t % j->sp.tn;
    int64_t m0 = mi * j->sp.rows, n0 = ni * j->sp.cols;
    gemm_block(j->g, j->kr, m0, min64(j->g->m, m0 + j->sp.rows), n0, min64(j->g->n, n0 + j->sp.cols),
               j->ws + (size_t)thread * j->ws_stride);
}

/* ---- a single row of A: matrix-vector products over column chunks -------------------------- */

typedef struct gemv_job {
    const kiln_gemm *g;
    const kiln_gemm_kernel *kr;
    int64_t chunk;
} gemv_job;

static int gemv_applies(const kiln_gemm *g) {
    return g->m == 1 && g->k > 0 && g->a_cs == 1 && !g->b_pack && (g->b_cs == 1 || g->b_rs == 1);
}

static void gemv_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const gemv_job *j = arg;
    const kiln_gemm *g = j->g;
    int64_t j0 = t * j->chunk, nw = min64(j->chunk, g->n - j0);
    j->kr->gemv(g->k, nw, g->a, g->b + j0 * g->b_cs, g->b_rs, g->b_cs, g->c + j0);
    if (has_epilogue(g)) epilogue(g, 0, 1, j0, nw);
}

static void run_gemv(kiln_pool *pool, const kiln_gemm *g, const kiln_gemm_kernel *kr) {
    int nth = kiln_pool_size(pool);
    int64_t tasks = g->n * g->k < 65536 ? 1 : 4 * (int64_t)nth;
    gemv_job j = {g, kr, round_up(ceil_div(g->n, tasks), 16)};
    kiln_pool_for(pool, ceil_div(g->n, j.chunk), gemv_task, &j);
}

static kiln_status run_with(kiln_cpu *cpu, const kiln_gemm *g, const kiln_gemm_kernel *kr, kiln_err *e) {
    if (g->m <= 0 || g->n <= 0) return KILN_OK;
    kiln_pool *pool = kiln_cpu_pool(cpu);
    int nth = kiln_pool_size(pool);
    if (gemv_applies(g)) {
        run_gemv(pool, g, kr);
        return KILN_OK;
    }
    gemm_job j = {g, kr, plan_split(g, kr, nth), NULL, 0};
    int64_t tasks = j.sp.tm * j.sp.tn;
    int used = tasks < nth ? (int)tasks : nth;
    j.ws_stride = block_floats(kr, j.sp.rows, j.sp.cols, g->k);
    j.ws = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_GEMM, (size_t)(tasks > 1 ? nth : used) * j.ws_stride * sizeof(float));
    if (!j.ws) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory for GEMM packing buffers");
    if (tasks == 1) gemm_task(&j, 0, 0);
    else kiln_pool_for(pool, tasks, gemm_task, &j);
    return KILN_OK;
}

kiln_status kiln_gemm_run(kiln_cpu *cpu, const kiln_gemm *g, kiln_err *e) {
    return run_with(cpu, g, default_kernel(), e);
}

size_t kiln_gemm_serial_floats(const kiln_gemm *g) { return block_floats(default_kernel(), g->m, g->n, g->k); }

void kiln_gemm_serial(const kiln_gemm *g, float *ws) {
    if (g->m <= 0 || g->n <= 0) return;
    if (gemv_applies(g)) {
        run_gemv(NULL, g, default_kernel());
        return;
    }
    gemm_block(g, default_kernel(), 0, g->m, 0, g->n, ws);
}

int kiln_gemm_variant_count(void) { return kiln__gemm_n_kernels + 1; }

const char *kiln_gemm_variant_name(int v) {
    if (v == 0) return default_kernel()->name;
    return v > 0 && v <= kiln__gemm_n_kernels ? kiln__gemm_kernels[v - 1].name : "?";
}

int kiln_gemm_variant_supported(int v) {
    if (v == 0) return 1;
    return v > 0 && v <= kiln__gemm_n_kernels && kiln__gemm_kernel_supported(&kiln__gemm_kernels[v - 1]);
}

kiln_status kiln_gemm_run_variant(kiln_cpu *cpu, const kiln_gemm *g, int v, kiln_err *e) {
    if (!kiln_gemm_variant_supported(v))
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "GEMM variant %d is not supported on this CPU", v);
    return run_with(cpu, g, v == 0 ? default_kernel() : &kiln__gemm_kernels[v - 1], e);
}
