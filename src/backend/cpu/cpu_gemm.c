/* The GEMM driver: row slivers, blocking, packing, edge tiles, the fused epilogue and the
 * thread split. See cpu_gemm.h for the contract and cpu_gemm_ukr.c for the micro-kernels. */
#include "backend/cpu/cpu_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_gemm_ukr.h"
#include "backend/cpu/cpu_nn_ops.h"

/* Column extents up to which A is read in place rather than packed (measured on Zen 5). */
#define KILN_GEMM_ROWS_IN_PLACE_N 256
#define MAX_SPLIT 64
#define KILN_GEMM_MAX_NR 64 /* the widest micro-kernel's NR */   /* threads that share one product; a larger pool leaves the rest idle */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* ---- row slivers (see cpu_gemm_ukr.h) -------------------------------------------------------- */

static void plan_range(int mr, int mra, int64_t rows, int64_t *a, int64_t *b) {
    *a = ceil_div(rows, mr);
    *b = 0;
    if (!mra) return;
    int64_t best = *a * mr - rows;
    for (int64_t nb = 1; nb * mra < mr + mra && best > 0; nb++) {
        int64_t rem = rows - nb * mra;
        if (rem <= -mra) break; /* a sliver would be empty */
        int64_t na = rem > 0 ? ceil_div(rem, mr) : 0;
        int64_t waste = na * mr + nb * mra - rows;
        if (waste < best) best = waste, *a = na, *b = nb;
    }
}

kiln__sliv_plan kiln__gemm_plan_slivers(const kiln_gemm_kernel *kr, int64_t m, int parts) {
    kiln__sliv_plan sp = {.mr = kr->mr, .mra = kr->mr_alt};
    if (parts < 1) parts = 1;
    if (parts > KILN_GEMM_MAX_PARTS) parts = KILN_GEMM_MAX_PARTS;
    while (parts > 1 && m / parts < 2 * kr->mr) parts--; /* parts of at least two slivers */
    sp.parts = parts;
    int64_t s = 0, prow = 0, q = kr->mr_alt ? 4 : 1;
    for (int i = 0; i < parts; i++) {
        int64_t r0 = i == 0 ? 0 : round_up(m * i / parts, q), r1 = i == parts - 1 ? m : round_up(m * (i + 1) / parts, q);
        if (r1 > m) r1 = m;
        if (r0 > r1) r0 = r1;
        kiln__sliv_part *p = &sp.p[i];
        p->row0 = r0;
        p->rows = r1 - r0;
        plan_range(kr->mr, kr->mr_alt, p->rows, &p->a, &p->b);
        p->s0 = s;
        p->prow0 = prow;
        s += p->a + p->b;
        prow += p->a * kr->mr + p->b * kr->mr_alt;
    }
    sp.n_sliv = s;
    sp.mpad = prow;
    return sp;
}

kiln__sliver kiln__gemm_sliver_at(const kiln__sliv_plan *sp, int64_t s) {
    int i = 0;
    while (i + 1 < sp->parts && s >= sp->p[i + 1].s0) i++;
    const kiln__sliv_part *p = &sp->p[i];
    int64_t l = s - p->s0, off = l < p->a ? l * sp->mr : p->a * sp->mr + (l - p->a) * sp->mra;
    kiln__sliver v = {p->row0 + off, l < p->a ? sp->mr : sp->mra, 0, p->prow0 + off};
    v.rows = min64(v.h, p->row0 + p->rows - v.row0);
    return v;
}

/* ---- prepacked A ---------------------------------------------------------------------------- */

struct kiln_gemm_apack {
    int64_t m, k;
    const kiln_gemm_kernel *kr;
    kiln__sliv_plan sp;
    float *data; /* K block at p0 (kc = min(kr->kc, k - p0)) starts at data + p0 * mpad; in it,
                    sliver s holds kc x h floats at offset kc * prow */
};

/* Rows [row0, row0 + rows) and K range [p0, p0 + kc) of A as one sliver of h rows (rows past
   `rows` zero). */
static void pack_sliver(const float *a, int64_t a_rs, int64_t a_cs, int64_t row0, int64_t rows, int h, int64_t p0,
                        int64_t kc, float *d) {
    const float *src = a + row0 * a_rs + p0 * a_cs;
    if (a_cs == 1) { /* rows are contiguous: read along them */
        for (int64_t r = 0; r < rows; r++) {
            const float *row = src + r * a_rs;
            for (int64_t p = 0; p < kc; p++) d[p * h + r] = row[p];
        }
    } else {
        for (int64_t p = 0; p < kc; p++) {
            const float *col = src + p * a_cs;
            for (int64_t r = 0; r < rows; r++) d[p * h + r] = col[r * a_rs];
        }
    }
    if (rows < h)
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = rows; r < h; r++) d[p * h + r] = 0;
}

const kiln_gemm_kernel *kiln__gemm_default_kernel(void) {
    for (int i = 0; i < kiln__gemm_n_kernels; i++)
        if (kiln__gemm_kernel_supported(&kiln__gemm_kernels[i])) return &kiln__gemm_kernels[i];
    return &kiln__gemm_kernels[kiln__gemm_n_kernels - 1];
}

static kiln_gemm_apack *pack_a_with(const kiln_gemm_kernel *kr, const float *a, int64_t m, int64_t k, int64_t a_rs,
                                    int64_t a_cs, int parts) {
    if (m <= 0 || k <= 0) return NULL;
    kiln_gemm_apack *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->m = m, p->k = k, p->kr = kr;
    p->sp = kiln__gemm_plan_slivers(kr, m, parts);
    /* (+ the row-vector kernel's over-read past the last sliver) */
    size_t bytes = ((size_t)(p->sp.mpad * k + kr->col_lanes) * sizeof(float) + 63) & ~(size_t)63;
    p->data = aligned_alloc(64, bytes);
    if (!p->data) {
        free(p);
        return NULL;
    }
    for (int64_t p0 = 0; p0 < k; p0 += kr->kc) {
        int64_t kc = min64(kr->kc, k - p0);
        float *blk = p->data + p0 * p->sp.mpad;
        for (int64_t s = 0; s < p->sp.n_sliv; s++) {
            kiln__sliver v = kiln__gemm_sliver_at(&p->sp, s);
            pack_sliver(a, a_rs, a_cs, v.row0, v.rows, v.h, p0, kc, blk + kc * v.prow);
        }
    }
    return p;
}

kiln_gemm_apack *kiln_gemm_pack_a(const float *a, int64_t m, int64_t k, int64_t a_rs, int64_t a_cs, int parts) {
    return pack_a_with(kiln__gemm_default_kernel(), a, m, k, a_rs, a_cs, parts);
}

kiln_gemm_apack *kiln_gemm_pack_a_variant(int v, const float *a, int64_t m, int64_t k, int64_t a_rs, int64_t a_cs,
                                          int parts) {
    if (!kiln_gemm_variant_supported(v)) return NULL;
    return pack_a_with(v == 0 ? kiln__gemm_default_kernel() : &kiln__gemm_kernels[v - 1], a, m, k, a_rs, a_cs, parts);
}

void kiln_gemm_apack_free(kiln_gemm_apack *p) {
    if (!p) return;
    free(p->data);
    free(p);
}

size_t kiln_gemm_apack_bytes(const kiln_gemm_apack *p) {
    return p ? (size_t)(p->sp.mpad * p->k) * sizeof(float) : 0;
}

/* ---- column blocks --------------------------------------------------------------------------- */

/* Offset of column j in C / R / B (column stride 1 for C and R) with column blocks. */
static inline int64_t col_off(const kiln_gemm *g, int64_t j, int64_t bs, int64_t cs) {
    if (g->col_block <= 0) return j * cs;
    return (j / g->col_block) * bs + (j % g->col_block) * cs;
}

/* Columns [j, j + n) stay inside one block. */
static inline int one_block(const kiln_gemm *g, int64_t j, int64_t n) {
    return g->col_block <= 0 || j / g->col_block == (j + n - 1) / g->col_block;
}

/* Columns from j to the end of j's block (or n, whichever is first). */
static inline int64_t run_len(const kiln_gemm *g, int64_t j, int64_t n) {
    if (g->col_block <= 0) return n;
    return min64(n, g->col_block - j % g->col_block);
}

static inline float *c_at(const kiln_gemm *g, int64_t i, int64_t j) { return g->c + i * g->ldc + col_off(g, j, g->c_bs, 1); }
static inline const float *r_at(const kiln_gemm *g, int64_t i, int64_t j) {
    return g->r + i * g->ldr + col_off(g, j, g->r_bs, 1);
}

/* ---- packing B -------------------------------------------------------------------------------- */

/* kc rows of a full panel: the row length a constant, so that the copies inline. */
static void copy_rows(float *restrict d, const float *restrict src, int64_t rs, int64_t kc, int nr, int64_t ahead) {
    /* B rows are many streams (one per row of K), too many for the hardware prefetcher when
       they come from memory (an early layer's large map): fetch the same rows `ahead` columns
       on, which the next block packs, while this one is used. */
    if (ahead)
        for (int64_t p = 0; p < kc; p++)
            for (int j = 0; j < nr; j += 16) __builtin_prefetch(src + p * rs + ahead + j);
    switch (nr) {
    case 32:
        for (int64_t p = 0; p < kc; p++) memcpy(d + p * 32, src + p * rs, 32 * sizeof(float));
        return;
    case 16:
        for (int64_t p = 0; p < kc; p++) memcpy(d + p * 16, src + p * rs, 16 * sizeof(float));
        return;
    case 8:
        for (int64_t p = 0; p < kc; p++) memcpy(d + p * 8, src + p * rs, 8 * sizeof(float));
        return;
    default:
        for (int64_t p = 0; p < kc; p++) memcpy(d + p * nr, src + p * rs, (size_t)nr * sizeof(float));
    }
}

/* ---- column pieces ---------------------------------------------------------------------------
 * A packed block of nc columns is full panels of NR columns and then, for the nc % NR columns
 * left, a panel NR/2 wide and/or a strip of at most KILN_GEMM_COL_MAX columns for the row-vector
 * kernel, whichever costs the fewest multiply-add instructions per step (49 columns: a panel of
 * 32, one of 16 and a strip of 1, instead of two panels of 32). Pieces are packed back to back,
 * each as kc rows of its packed width. */

enum { PIECE_FULL, PIECE_HALF, PIECE_COL };

typedef struct piece {
    int64_t j;  /* first column, from the block's first */
    int64_t w;  /* columns */
    int wp;     /* packed width */
    int kind;
    int64_t off; /* packed columns before it (it starts at off * kc) */
} piece;

/* The tail of c < nr columns: at most two pieces, from column 0 of the tail. */
static int tail_pieces(const kiln_gemm_kernel *kr, int64_t c, piece t[2]) {
    if (c <= 0) return 0;
    const int nr = kr->nr, half = nr / 2, nv = nr / kr->col_lanes;
    const int64_t cost_full = (int64_t)kr->mr * nv, cost_half = (int64_t)kr->mr * (nv / 2 > 0 ? nv / 2 : 1);
    int64_t col_c = c > 2 ? c : 2, best = cost_full;
    int pick = 0; /* 0 full, 1 col, 2 half, 3 half + col */
    if (c <= KILN_GEMM_COL_MAX && col_c < best) best = col_c, pick = 1;
    if (nv % 2 == 0 && c <= half && cost_half < best) best = cost_half, pick = 2;
    if (nv % 2 == 0 && c > half && c - half <= KILN_GEMM_COL_MAX && cost_half + (c - half > 2 ? c - half : 2) < best)
        best = cost_half + (c - half > 2 ? c - half : 2), pick = 3;
    switch (pick) {
    case 1: t[0] = (piece){0, c, (int)c, PIECE_COL, 0}; return 1;
    case 2: t[0] = (piece){0, c, half, PIECE_HALF, 0}; return 1;
    case 3:
        t[0] = (piece){0, half, half, PIECE_HALF, 0};
        t[1] = (piece){half, c - half, (int)(c - half), PIECE_COL, half};
        return 2;
    default: t[0] = (piece){0, c, nr, PIECE_FULL, 0}; return 1;
    }
}

/* The piece of a block of nc columns that starts at column jr. */
static piece piece_at(const kiln_gemm_kernel *kr, int64_t nc, int64_t jr) {
    int64_t nfull = nc / kr->nr * kr->nr;
    if (jr < nfull) return (piece){jr, kr->nr, kr->nr, PIECE_FULL, jr};
    piece t[2];
    int n = tail_pieces(kr, nc - nfull, t);
    for (int i = n - 1; i >= 0; i--)
        if (jr - nfull >= t[i].j) {
            t[i].j += nfull, t[i].off += nfull;
            return t[i];
        }
    return (piece){jr, 0, kr->nr, PIECE_FULL, jr};
}

/* B(p0.., j0..) as nc/nr panels, each kc rows of nr columns; columns past nc are zero. */
static void pack_panels(const kiln_gemm *g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst,
                        int64_t ahead) {
    if (g->b_pack) {
        g->b_pack(g->b_ctx, p0, kc, j0, nc, nr, dst);
        return;
    }
    if (g->b_cs == 1 && nc % nr == 0 && one_block(g, j0, nc) && nc / nr > 1) {
        /* Whole panels from one block: walk B row by row, each row one contiguous read of all
           the panels' columns (a single memory stream at a time, not one per row of K). */
        const float *src = g->b + p0 * g->b_rs + col_off(g, j0, g->b_bs, 1);
        int64_t np = nc / nr;
        for (int64_t p = 0; p < kc; p++) {
            const float *row = src + p * g->b_rs;
            if (ahead)
                for (int64_t j = 0; j < nc; j += 16) __builtin_prefetch(row + 4 * g->b_rs + j);
            for (int64_t q = 0; q < np; q++) memcpy(dst + q * nr * kc + p * nr, row + q * nr, (size_t)nr * sizeof(float));
        }
        return;
    }
    for (int64_t s = 0; s < nc; s += nr) {
        int64_t cols = min64(nr, nc - s);
        float *d = dst + s * kc;
        if (g->b_cs == 1) {
            /* Rows of the panel are runs of contiguous columns, broken where a column block
               ends. */
            int64_t run_at[KILN_GEMM_MAX_NR], run_src[KILN_GEMM_MAX_NR], run_n[KILN_GEMM_MAX_NR], runs = 0;
            for (int64_t j = 0; j < cols; runs++) {
                run_at[runs] = j;
                run_src[runs] = p0 * g->b_rs + col_off(g, j0 + s + j, g->b_bs, 1);
                run_n[runs] = run_len(g, j0 + s + j, cols - j);
                j += run_n[runs];
            }
            if (runs == 1 && cols == nr) {
                copy_rows(d, g->b + run_src[0], g->b_rs, kc, nr, ahead);
                continue;
            }
            for (int64_t p = 0; p < kc; p++) {
                float *row = d + p * nr;
                for (int64_t r = 0; r < runs; r++)
                    memcpy(row + run_at[r], g->b + run_src[r] + p * g->b_rs, (size_t)run_n[r] * sizeof(float));
                for (int64_t j = cols; j < nr; j++) row[j] = 0;
            }
        } else {
            for (int64_t j = 0; j < cols; j++) {
                const float *col = g->b + p0 * g->b_rs + col_off(g, j0 + s + j, g->b_bs, g->b_cs);
                for (int64_t p = 0; p < kc; p++) d[p * nr + j] = col[p * g->b_rs];
            }
            if (cols < nr)
                for (int64_t p = 0; p < kc; p++)
                    for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0;
        }
    }
}

/* B(p0.., j0..), nc columns, as the block's pieces; prefetching the next nc columns' sources. */
static void pack_b(const kiln_gemm *g, const kiln_gemm_kernel *kr, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                   float *dst) {
    int64_t nfull = nc / kr->nr * kr->nr;
    if (nfull) pack_panels(g, p0, kc, j0, nfull, kr->nr, dst, nc);
    piece t[2];
    int n = tail_pieces(kr, nc - nfull, t);
    for (int i = 0; i < n; i++) pack_panels(g, p0, kc, j0 + nfull + t[i].j, t[i].w, t[i].wp, dst + (nfull + t[i].off) * kc, 0);
}

/* ---- the epilogue ----------------------------------------------------------------------------- */

static int has_epilogue(const kiln_gemm *g) {
    return g->alpha != 1.0f || g->d || g->r || g->act.type != KILN_ACT_NONE;
}

/* alpha, D, R and the activation over rows [i0, i0+mr) x columns [j0, j0+nr) of the product,
   held at t (row stride ldt; columns contiguous), while it is in L1. */
static void epilogue_at(const kiln_gemm *g, int64_t i0, int64_t mr, int64_t j0, int64_t nr, float *t, int64_t ldt) {
    for (int64_t i = 0; i < mr; i++) {
        float *restrict c = t + i * ldt;
        if (g->alpha != 1.0f)
            for (int64_t j = 0; j < nr; j++) c[j] *= g->alpha;
        if (g->d) {
            const float *d = g->d + (i0 + i) * g->d_rs + j0 * g->d_cs;
            if (g->d_cs == 0) {
                float v = g->beta * d[0];
                for (int64_t j = 0; j < nr; j++) c[j] += v;
            } else if (g->d_cs == 1) {
                for (int64_t j = 0; j < nr; j++) c[j] += g->beta * d[j];
            } else {
                for (int64_t j = 0; j < nr; j++) c[j] += g->beta * d[j * g->d_cs];
            }
        }
        if (g->r)
            for (int64_t j = 0; j < nr;) {
                int64_t n = run_len(g, j0 + j, nr - j);
                const float *restrict r = r_at(g, i0 + i, j0 + j);
                for (int64_t q = 0; q < n; q++) c[j + q] += r[q];
                j += n;
            }
        kiln__cpu_act_inplace(&g->act, c, nr);
    }
}

/* Activations the micro-kernels apply themselves; the others run over the stored tile. */
static int act_in_kernel(int type) { return type == KILN_ACT_NONE || type == KILN_ACT_RELU || type == KILN_ACT_CLIP; }

/* Copy rows x n of C (columns from j0, across column blocks) to / from a tile of row stride ldt. */
static void tile_io(const kiln_gemm *g, int64_t i0, int64_t rows, int64_t j0, int64_t n, float *t, int64_t ldt,
                    int to_c) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n;) {
            int64_t len = run_len(g, j0 + j, n - j);
            float *c = c_at(g, i0 + i, j0 + j);
            if (to_c) memcpy(c, t + i * ldt + j, (size_t)len * sizeof(float));
            else memcpy(t + i * ldt + j, c, (size_t)len * sizeof(float));
            j += len;
        }
}

/* ---- one thread's block ------------------------------------------------------------------------ */

/* What every tile of one product shares. */
typedef struct gemm_ctx {
    const kiln_gemm *g;
    const kiln_gemm_kernel *kr;
    const kiln__sliv_plan *sp;
    int epi, epi_fused, act_after;
    kiln_gemm_epi ep; /* d and r are set per tile */
} gemm_ctx;

static gemm_ctx make_ctx(const kiln_gemm *g, const kiln_gemm_kernel *kr, const kiln__sliv_plan *sp) {
    gemm_ctx x = {.g = g, .kr = kr, .sp = sp, .epi = has_epilogue(g)};
    /* Fused into the micro-kernel for full tiles when D's columns are unit-strided or broadcast;
       edge tiles (and D with other column strides) run epilogue_at() on the tile buffer. */
    x.epi_fused = x.epi && (g->d_cs == 0 || g->d_cs == 1 || !g->d);
    x.act_after = x.epi && !act_in_kernel(g->act.type);
    x.ep = (kiln_gemm_epi){g->alpha, g->beta, NULL, g->d_rs, g->d_cs, NULL, g->ldr,
                           act_in_kernel(g->act.type) ? g->act.type : KILN_ACT_NONE, g->act.alpha, g->act.beta};
    return x;
}

/* One tile: sliver v against the B piece pc_ at bp (columns j .. j + w), K block [pc, pc+kc).
   ap: the sliver packed (kc x h), or NULL to read A's rows in place. */
static void run_tile(const gemm_ctx *x, const kiln__sliver *v, const float *ap, const float *bp, int64_t j,
                     const piece *pz, int64_t pc, int64_t kc, float *pa_scratch) {
    const kiln_gemm *g = x->g;
    const kiln_gemm_kernel *kr = x->kr;
    const int nr = kr->nr, alt = v->h != kr->mr;
    const int acc = pc > 0, last = pc + kc == g->k;
    const int64_t nw = pz->w;
    if (!ap && (v->rows < v->h || pz->kind == PIECE_COL)) { /* rows in place: pack this sliver alone */
        pack_sliver(g->a, g->a_rs, g->a_cs, v->row0, v->rows, v->h, pc, kc, pa_scratch);
        ap = pa_scratch;
    }
    const float *arow = ap ? NULL : g->a + v->row0 * g->a_rs + pc;
    kiln_gemm_ukr_fn ukr = NULL;
    kiln_gemm_ukr_rows_fn ukr_rows = NULL;
    if (pz->kind == PIECE_FULL) {
        ukr = alt ? kr->ukr_alt : kr->ukr;
        ukr_rows = alt ? kr->ukr_rows_alt : kr->ukr_rows;
    } else if (pz->kind == PIECE_HALF) {
        ukr = alt ? kr->half.ukr_alt : kr->half.ukr;
        ukr_rows = alt ? kr->half.ukr_rows_alt : kr->half.ukr_rows;
    }
    int full = pz->kind != PIECE_COL && v->rows == v->h && nw == pz->wp && one_block(g, j, nw);
    if (full) {
        float *c = c_at(g, v->row0, j);
        const kiln_gemm_epi *te = NULL;
        kiln_gemm_epi ep;
        if (last && x->epi_fused) {
            ep = x->ep;
            ep.d = g->d ? g->d + v->row0 * g->d_rs + j * g->d_cs : NULL;
            ep.r = g->r ? r_at(g, v->row0, j) : NULL;
            te = &ep;
        }
        if (ap) ukr(kc, ap, bp, c, g->ldc, acc, te);
        else ukr_rows(kc, arow, g->a_rs, bp, c, g->ldc, acc, te);
        if (last && x->epi) {
            if (!te) epilogue_at(g, v->row0, v->rows, j, nw, c, g->ldc);
            else if (x->act_after)
                for (int64_t i = 0; i < v->rows; i++) kiln__cpu_act_inplace(&g->act, c + i * g->ldc, nw);
        }
        return;
    }
    /* Edge tile (or one across column blocks, or a strip): compute in full into a buffer, keep
       the valid part. */
    float tile[KILN_GEMM_MAX_TILE] __attribute__((aligned(64)));
    if (acc) tile_io(g, v->row0, v->rows, j, nw, tile, nr, 0);
    if (pz->kind == PIECE_COL) kr->ukr_col(kc, ap, v->h, bp, (int)nw, tile, nr, acc);
    else if (ap) ukr(kc, ap, bp, tile, nr, acc, NULL);
    else ukr_rows(kc, arow, g->a_rs, bp, tile, nr, acc, NULL);
    if (last && x->epi) epilogue_at(g, v->row0, v->rows, j, nw, tile, nr);
    tile_io(g, v->row0, v->rows, j, nw, tile, nr, 1);
}

/* Slivers [s0, s1) against the packed B block pb (columns [jc, jc+nc), K block [pc, pc+kc)).
   pa: room for the A block (kernel mc rows + one sliver) unless A is prepacked. */
static void compute_block(const gemm_ctx *x, int64_t s0, int64_t s1, int64_t jc, int64_t nc, int64_t pc,
                          int64_t kc, const float *pb, float *pa, int rows_in_place) {
    const kiln_gemm *g = x->g;
    const kiln_gemm_kernel *kr = x->kr;
    for (int64_t sg = s0, se; sg < s1; sg = se) {
        /* A group of slivers of at most mc rows: its packed block stays in L2 while the B
           micro-panel of each jr step stays in L1. */
        int64_t rows = 0;
        kiln__sliver first = kiln__gemm_sliver_at(x->sp, sg);
        for (se = sg; se < s1; se++) {
            int h = kiln__gemm_sliver_at(x->sp, se).h;
            if (se > sg && rows + h > kr->mc) break;
            rows += h;
        }
        const float *ablk = NULL;
        if (g->ap) {
            ablk = g->ap->data + pc * x->sp->mpad + kc * first.prow;
        } else if (!rows_in_place) {
            for (int64_t s = sg; s < se; s++) {
                kiln__sliver v = kiln__gemm_sliver_at(x->sp, s);
                pack_sliver(g->a, g->a_rs, g->a_cs, v.row0, v.rows, v.h, pc, kc, pa + kc * (v.prow - first.prow));
            }
            ablk = pa;
        }
        for (int64_t jr = 0; jr < nc;) {
            piece pz = piece_at(kr, nc, jr);
            const float *bp = pb + pz.off * kc;
            for (int64_t s = sg; s < se; s++) {
                kiln__sliver v = kiln__gemm_sliver_at(x->sp, s);
                const float *ap = ablk ? ablk + kc * (v.prow - first.prow) : NULL;
                run_tile(x, &v, ap, bp, jc + jr, &pz, pc, kc, pa + kc * rows);
            }
            jr += pz.w;
        }
    }
}

/* Floats of A packing space one thread needs: an mc block plus one sliver. */
static size_t a_floats(const kiln_gemm_kernel *kr, int64_t k) {
    int64_t kc = min64(kr->kc, k > 0 ? k : 1);
    return (size_t)round_up((kr->mc + 2 * kr->mr) * kc + kr->col_lanes, 16); /* + ukr_col's over-read */
}

static size_t b_floats(const kiln_gemm_kernel *kr, int64_t cols, int64_t k) {
    int64_t kc = min64(kr->kc, k > 0 ? k : 1);
    return (size_t)round_up(min64(kr->nc, round_up(cols, kr->nr)) * kc, 16);
}

/* An empty sum (K = 0): C is the epilogue alone. */
static void empty_sum(const gemm_ctx *x, int64_t s0, int64_t s1, int64_t n0, int64_t n1) {
    const kiln_gemm *g = x->g;
    for (int64_t s = s0; s < s1; s++) {
        kiln__sliver v = kiln__gemm_sliver_at(x->sp, s);
        for (int64_t i = v.row0; i < v.row0 + v.rows; i++)
            for (int64_t j = n0; j < n1;) {
                int64_t len = run_len(g, j, n1 - j);
                float *c = c_at(g, i, j);
                memset(c, 0, (size_t)len * sizeof(float));
                if (x->epi) epilogue_at(g, i, 1, j, len, c, g->ldc);
                j += len;
            }
    }
}

/* Bytes of A up to which a thread's whole share of A (every K block) is kept in L2 and B is
   packed one micro-panel at a time, right before its use (see gemm_block). */
#define KILN_GEMM_STREAM_A_BYTES (512 << 10)
/* Bytes of packed B per block otherwise: with the A block, within L2 (1 MB on Zen 5). */
#define KILN_GEMM_B_BLOCK_BYTES (512 << 10)
/* Bytes of B packed at a time when streaming. */
#define KILN_GEMM_STREAM_B_BYTES (128 << 10)

/* Slivers [s0, s1) x columns [n0, n1), single-threaded: ws holds a_floats + b_floats. */
static void gemm_block(const gemm_ctx *x, int64_t s0, int64_t s1, int64_t n0, int64_t n1, float *ws) {
    const kiln_gemm *g = x->g;
    const kiln_gemm_kernel *kr = x->kr;
    const int nr = kr->nr;
    if (g->k <= 0) {
        empty_sum(x, s0, s1, n0, n1);
        return;
    }
    if (s0 >= s1 || n0 >= n1) return;
    float *pa = ws, *pb = ws + a_floats(kr, g->k);
    /* With few columns each element of A is used only a few times, so packing it would cost as
       much as the multiply: read A's rows in place instead (full slivers only). */
    const int rows_in_place = !g->ap && g->a_cs == 1 && n1 - n0 <= KILN_GEMM_ROWS_IN_PLACE_N;
    kiln__sliver first = kiln__gemm_sliver_at(x->sp, s0), end = kiln__gemm_sliver_at(x->sp, s1 - 1);
    int64_t rows = end.prow + end.h - first.prow;
    /* Streaming: when this share of A fits in L2 whole (a short M: the first layers of a CNN),
       walk the columns one micro-panel at a time and pack each B panel right before the
       slivers use it, from L1, instead of packing a large block of B that falls out to L3
       before it is read. */
    int stream = rows <= kr->mc + kr->mr && (size_t)(rows * g->k) * sizeof(float) <= KILN_GEMM_STREAM_A_BYTES &&
                 (g->ap || rows_in_place || (size_t)(rows * g->k) <= a_floats(kr, g->k));
    if (stream) {
        if (!g->ap && !rows_in_place) /* pack this share of A once, every K block */
            for (int64_t pc = 0; pc < g->k; pc += kr->kc) {
                int64_t kc = min64(kr->kc, g->k - pc);
                for (int64_t s = s0; s < s1; s++) {
                    kiln__sliver v = kiln__gemm_sliver_at(x->sp, s);
                    pack_sliver(g->a, g->a_rs, g->a_cs, v.row0, v.rows, v.h, pc, kc,
                                pa + pc * rows + kc * (v.prow - first.prow));
                }
            }
        /* A few panels at a time: packing per call has a fixed cost (a convolution's unfolding
           works out each row's offsets), and a few panels still sit in L2 when used. */
        int64_t group = max64(nr, (int64_t)(KILN_GEMM_STREAM_B_BYTES / sizeof(float)) / min64(kr->kc, g->k) / nr * nr);
        for (int64_t jg = n0; jg < n1; jg += group) {
            int64_t ng = min64(group, n1 - jg);
            for (int64_t pc = 0; pc < g->k; pc += kr->kc) {
                int64_t kc = min64(kr->kc, g->k - pc);
                pack_b(g, kr, pc, kc, jg, ng, pb);
                const float *ablk = g->ap ? g->ap->data + pc * x->sp->mpad + kc * first.prow
                                          : rows_in_place ? NULL : pa + pc * rows;
                for (int64_t jr = 0; jr < ng;) {
                    piece pz = piece_at(kr, ng, jr);
                    for (int64_t s = s0; s < s1; s++) {
                        kiln__sliver v = kiln__gemm_sliver_at(x->sp, s);
                        /* (pa: where rows in place pack a partial sliver alone) */
                        run_tile(x, &v, ablk ? ablk + kc * (v.prow - first.prow) : NULL, pb + pz.off * kc, jg + jr,
                                 &pz, pc, kc, pa);
                    }
                    jr += pz.w;
                }
            }
        }
        return;
    }
    int64_t kcap = min64(kr->kc, g->k);
    int64_t nc_max = max64(nr, (int64_t)(KILN_GEMM_B_BLOCK_BYTES / sizeof(float)) / kcap / nr * nr);
    nc_max = min64(nc_max, kr->nc);
    for (int64_t jc = n0; jc < n1; jc += nc_max) {
        int64_t nc = min64(nc_max, n1 - jc);
        for (int64_t pc = 0; pc < g->k; pc += kr->kc) {
            int64_t kc = min64(kr->kc, g->k - pc);
            pack_b(g, kr, pc, kc, jc, nc, pb);
            compute_block(x, s0, s1, jc, nc, pc, kc, pb, pa, rows_in_place);
        }
    }
}

/* ---- threading ----------------------------------------------------------------------------------
 * Two ways to share a product among the pool's threads (each thread runs one task, see
 * kiln_pool_run), chosen by a cost model:
 *   N split: thread t takes a range of B's panels and all of M, and packs its own panels;
 *   M split: thread t takes a range of A's slivers and all of N, and packs all of B itself.
 * The M split suits products with few columns (a 7x7 or 14x14 feature map), where the panels
 * cannot be shared out evenly and every thread of an N split would read all of A (the layer's
 * weights, megabytes from memory). Sharing one packed B between threads was tried too: reading
 * the other core's panels (through L3) cost more than packing them again (see
 * docs/perf-notes-cpu.md). */

typedef struct gemm_job {
    gemm_ctx x;
    kiln_pool *pool;
    int nth, msplit;
    int64_t s_lo[MAX_SPLIT + 1]; /* M split: thread t takes slivers [s_lo[t], s_lo[t+1]) */
    float *ws;
    size_t ws_stride;            /* floats per thread */
} gemm_job;

static void nsplit_task(void *arg, int64_t t, int thread) {
    const gemm_job *j = arg;
    const kiln_gemm *g = j->x.g;
    int64_t nr = j->x.kr->nr, panels = ceil_div(g->n, nr);
    if (t >= j->nth) return;
    int64_t p0 = panels * t / j->nth, p1 = panels * (t + 1) / j->nth;
    if (p0 >= p1) return;
    gemm_block(&j->x, 0, j->x.sp->n_sliv, p0 * nr, min64(g->n, p1 * nr), j->ws + (size_t)thread * j->ws_stride);
}

static void msplit_task(void *arg, int64_t t, int thread) {
    const gemm_job *j = arg;
    if (t >= j->nth) return;
    gemm_block(&j->x, j->s_lo[t], j->s_lo[t + 1], 0, j->x.g->n, j->ws + (size_t)thread * j->ws_stride);
}

/* Estimated time (in multiply-adds) of each split for the slowest thread: its multiply-adds
   (padded tiles included), the B it packs (a packed element costs about a dozen vectorized
   multiply-adds, one unfolded by a convolution's packer about twice that), the A it packs
   (unless prepacked or read in place) and the A it streams in: about 3 from the caches, but
   about 16 for a large A (a layer's weights, in a network read from memory once per run, where
   a thread of the N split reads all of them). Fitted on Zen 5. */
static int prefer_msplit(const kiln_gemm *g, const kiln_gemm_kernel *kr, const kiln__sliv_plan *sp, int nth,
                         int64_t rows_max) {
    int64_t panels = ceil_div(g->n, kr->nr), k = g->k > 0 ? g->k : 1;
    if (sp->n_sliv < 2 * nth) return 0;
    const double wa = 12.0, wb = g->b_pack ? 24.0 : 12.0;
    const double wr = (double)(sp->mpad * k) * sizeof(float) > KILN_GEMM_STREAM_A_BYTES ? 16.0 : 3.0;
    double cols_n = (double)(ceil_div(panels, nth) * kr->nr), rows_n = (double)sp->mpad;
    double a_pack_n = g->ap || (g->a_cs == 1 && cols_n <= KILN_GEMM_ROWS_IN_PLACE_N) ? 0 : wa * rows_n * (double)k;
    double t_n = (cols_n * rows_n + wb * cols_n + wr * rows_n) * (double)k + a_pack_n;
    double cols_m = (double)(panels * kr->nr), rows_m = (double)rows_max;
    double a_pack_m = g->ap || (g->a_cs == 1 && cols_m <= KILN_GEMM_ROWS_IN_PLACE_N) ? 0 : wa * rows_m * (double)k;
    double t_m = (cols_m * rows_m + wb * cols_m + wr * rows_m) * (double)k + a_pack_m;
    return t_m < t_n;
}

/* M split: contiguous sliver ranges with near-equal rows (the plan's parts when they match). */
static int64_t msplit_ranges(const kiln__sliv_plan *sp, int nth, int64_t *s_lo) {
    int64_t worst = 0;
    if (sp->parts == nth) {
        for (int t = 0; t < nth; t++) {
            s_lo[t] = sp->p[t].s0;
            worst = max64(worst, sp->p[t].a * sp->mr + sp->p[t].b * sp->mra);
        }
        s_lo[nth] = sp->n_sliv;
        return worst;
    }
    int64_t s = 0, done = 0;
    s_lo[0] = 0;
    for (int t = 0; t < nth; t++) {
        int64_t goal = sp->mpad * (t + 1) / nth, start = done;
        while (s < sp->n_sliv && (t == nth - 1 || done + kiln__gemm_sliver_at(sp, s).h / 2 <= goal)) done += kiln__gemm_sliver_at(sp, s++).h;
        s_lo[t + 1] = s;
        worst = max64(worst, done - start);
    }
    return worst;
}

static kiln_status run_product(kiln_cpu *cpu, const kiln_gemm *g, const kiln_gemm_kernel *kr, kiln_err *e);

/* ---- a single row of A: matrix-vector products over column chunks -------------------------- */

typedef struct gemv_job {
    const kiln_gemm *g;
    const kiln_gemm_kernel *kr;
    int64_t chunk;
} gemv_job;

static int gemv_applies(const kiln_gemm *g) {
    return g->m == 1 && g->k > 0 && !g->ap && g->col_block <= 0 && g->a_cs == 1 && !g->b_pack &&
           (g->b_cs == 1 || g->b_rs == 1);
}

static void gemv_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const gemv_job *j = arg;
    const kiln_gemm *g = j->g;
    int64_t j0 = t * j->chunk, nw = min64(j->chunk, g->n - j0);
    j->kr->gemv(g->k, nw, g->a, g->b + j0 * g->b_cs, g->b_rs, g->b_cs, g->c + j0);
    if (has_epilogue(g)) epilogue_at(g, 0, 1, j0, nw, g->c + j0, g->ldc);
}

static void run_gemv(kiln_pool *pool, const kiln_gemm *g, const kiln_gemm_kernel *kr) {
    int nth = kiln_pool_size(pool);
    int64_t tasks = g->n * g->k < 65536 ? 1 : 4 * (int64_t)nth;
    gemv_job j = {g, kr, round_up(ceil_div(g->n, tasks), 16)};
    kiln_pool_for(pool, ceil_div(g->n, j.chunk), gemv_task, &j);
}

static kiln_status run_product(kiln_cpu *cpu, const kiln_gemm *g, const kiln_gemm_kernel *kr, kiln_err *e) {
    if (g->m <= 0 || g->n <= 0) return KILN_OK;
    if (g->ap) {
        if (g->ap->m != g->m || g->ap->k != g->k)
            return kiln_err_set(e, KILN_ERR_INTERNAL, "GEMM: packed A is %lldx%lld, the product needs %lldx%lld",
                                (long long)g->ap->m, (long long)g->ap->k, (long long)g->m, (long long)g->k);
        kr = g->ap->kr;
    }
    if (g->col_block > 0 && g->d && g->d_cs != 0)
        return kiln_err_set(e, KILN_ERR_INTERNAL, "GEMM: column blocks with a column-varying D");
    kiln_pool *pool = kiln_cpu_pool(cpu);
    int nth = kiln_pool_size(pool);
    if (nth > MAX_SPLIT) nth = MAX_SPLIT;
    if (gemv_applies(g)) {
        run_gemv(pool, g, kr);
        return KILN_OK;
    }
    int64_t k = g->k > 0 ? g->k : 1;
    if (g->m * g->n * k < 32 * 32 * 32) nth = 1;
    gemm_job j = {.pool = pool, .nth = nth};
    kiln__sliv_plan sp = g->ap ? g->ap->sp : kiln__gemm_plan_slivers(kr, g->m, 1);
    int64_t rows_max = 0;
    if (nth > 1) {
        if (!g->ap) { /* plan the rows per thread, in case the M split wins */
            kiln__sliv_plan spm = kiln__gemm_plan_slivers(kr, g->m, nth);
            if (spm.parts == nth) sp = spm;
        }
        rows_max = msplit_ranges(&sp, nth, j.s_lo);
        j.msplit = prefer_msplit(g, kr, &sp, nth, rows_max);
        if (!j.msplit && !g->ap) sp = kiln__gemm_plan_slivers(kr, g->m, 1);
    }
    j.x = make_ctx(g, kr, &sp);
    j.ws_stride = a_floats(kr, g->k) + b_floats(kr, g->n, g->k);
    float *ws = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_GEMM, (size_t)nth * j.ws_stride * sizeof(float));
    if (!ws) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory for GEMM packing buffers");
    j.ws = ws;
    if (nth == 1) gemm_block(&j.x, 0, sp.n_sliv, 0, g->n, ws);
    else kiln_pool_run(pool, j.msplit ? msplit_task : nsplit_task, &j);
    return KILN_OK;
}

kiln_status kiln_gemm_run(kiln_cpu *cpu, const kiln_gemm *g, kiln_err *e) { return run_product(cpu, g, kiln__gemm_default_kernel(), e); }

size_t kiln_gemm_serial_floats(const kiln_gemm *g) {
    const kiln_gemm_kernel *kr = g->ap ? g->ap->kr : kiln__gemm_default_kernel();
    return a_floats(kr, g->k) + b_floats(kr, g->n, g->k);
}

void kiln_gemm_serial(const kiln_gemm *g, float *ws) {
    if (g->m <= 0 || g->n <= 0) return;
    const kiln_gemm_kernel *kr = g->ap ? g->ap->kr : kiln__gemm_default_kernel();
    if (gemv_applies(g)) {
        run_gemv(NULL, g, kr);
        return;
    }
    kiln__sliv_plan sp = g->ap ? g->ap->sp : kiln__gemm_plan_slivers(kr, g->m, 1);
    gemm_ctx x = make_ctx(g, kr, &sp);
    gemm_block(&x, 0, sp.n_sliv, 0, g->n, ws);
}

int kiln_gemm_variant_count(void) { return kiln__gemm_n_kernels + 1; }

const char *kiln_gemm_variant_name(int v) {
    if (v == 0) return kiln__gemm_default_kernel()->name;
    return v > 0 && v <= kiln__gemm_n_kernels ? kiln__gemm_kernels[v - 1].name : "?";
}

int kiln_gemm_variant_supported(int v) {
    if (v == 0) return 1;
    return v > 0 && v <= kiln__gemm_n_kernels && kiln__gemm_kernel_supported(&kiln__gemm_kernels[v - 1]);
}

kiln_status kiln_gemm_run_variant(kiln_cpu *cpu, const kiln_gemm *g, int v, kiln_err *e) {
    if (!kiln_gemm_variant_supported(v))
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "GEMM variant %d is not supported on this CPU", v);
    return run_product(cpu, g, v == 0 ? kiln__gemm_default_kernel() : &kiln__gemm_kernels[v - 1], e);
}
