/* Winograd F(2x2, 3x3) convolution (Lavin & Gray, 2015) for 3x3 stride-1 convolutions.
 *
 * Each 2x2 block of outputs (a tile) comes from a 4x4 input patch d: Y = A^T [ U ⊙ V ] A with
 * V = B^T d B and U = G g G^T, so per tile and channel pair 16 multiplications replace 36. Over
 * channels the 16 elementwise products are 16 independent matrix products
 *     M_xi[co][tile] = sum_ci U_xi[co][ci] V_xi[ci][tile],   xi = 0..15,
 * run on the GEMM's micro-kernels: U_xi (the filters, transformed and packed once per engine) is
 * the A operand, V_xi (the input transform) is written straight in the packed-B panel layout, so
 * nothing is packed at run time. The transforms use only additions (and halves in G), which
 * keeps the error within about twice that of the direct product in FP32.
 *
 * Work goes in chunks of tiles (every image of the batch side by side) small enough that their
 * transformed input stays in L2. With many tiles each thread takes its own share of them, whole.
 * With few (a 14x14 map), per chunk the threads transform the input together (split by input
 * channel) into a shared, double-buffered V and meet at a barrier; then each takes its own
 * slivers of output channels. Either way, for each sliver and panel of tiles: the 16 products
 * into a small buffer M (in L1) and at once the output transform, bias, residual and activation
 * into y.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_gemm_ukr.h"
#include "backend/cpu/cpu_nn_ops.h"

#define MAX_SPLIT 64
#define VEC 16                    /* lanes of the transform code */
#define V_CHUNK_BYTES (512 << 10) /* transformed input per chunk */

struct kiln__wino {
    int64_t cout, cin;
    const kiln_gemm_kernel *kr;
    kiln__sliv_plan sp; /* slivers of output channels */
    float *u;           /* sliver s: 16 K x h blocks from u + 16*cin*prow, xi-th at + xi*cin*h,
                           K block at pc at + pc*h (kc x h, as the micro-kernel reads A) */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

int kiln__wino_applies(const kiln_window *w, int64_t groups) {
    return groups == 1 && w->in[0] == 1 && w->k[0] == 1 && w->out[0] == 1 && w->k[1] == 3 && w->k[2] == 3 &&
           w->s[1] == 1 && w->s[2] == 1 && w->d[1] == 1 && w->d[2] == 1 && w->pb[1] >= 0 && w->pb[2] >= 0 &&
           w->pe[1] >= 0 && w->pe[2] >= 0;
}

/* ---- filters ------------------------------------------------------------------------------------ */

/* U = G g G^T in double (one rounding), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static void filter_transform(const float *g, double u[16]) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    double t[4][3];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) t[i][c] = G[i][0] * g[c] + G[i][1] * g[3 + c] + G[i][2] * g[6 + c];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) u[i * 4 + j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

kiln__wino *kiln__wino_prepare(const float *wt, int64_t c_out, int64_t c_in, int threads) {
    kiln__wino *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cout = c_out, p->cin = c_in;
    p->kr = kiln__gemm_default_kernel();
    if (threads <= 0) threads = 1;
    p->sp = kiln__gemm_plan_slivers(p->kr, c_out, threads);
    size_t bytes = ((size_t)(16 * p->sp.mpad * c_in) * sizeof(float) + 63) & ~(size_t)63;
    p->u = aligned_alloc(64, bytes);
    if (!p->u) {
        free(p);
        return NULL;
    }
    memset(p->u, 0, bytes); /* padded rows */
    for (int64_t s = 0; s < p->sp.n_sliv; s++) {
        kiln__sliver v = kiln__gemm_sliver_at(&p->sp, s);
        float *base = p->u + 16 * c_in * v.prow;
        for (int64_t r = 0; r < v.rows; r++)
            for (int64_t ci = 0; ci < c_in; ci++) {
                double u[16];
                filter_transform(wt + ((v.row0 + r) * c_in + ci) * 9, u);
                /* K blocks of kc rows follow each other, so row ci sits at ci*h either way */
                for (int xi = 0; xi < 16; xi++) base[(xi * c_in + ci) * v.h + r] = (float)u[xi];
            }
    }
    return p;
}

void kiln__wino_free(kiln__wino *p) {
    if (!p) return;
    free(p->u);
    free(p);
}

size_t kiln__wino_bytes(const kiln__wino *p) { return p ? (size_t)(16 * p->sp.mpad * p->cin) * sizeof(float) : 0; }

/* Tiles per panel: NR, or the half-width tiles when all the tiles fit in one (a 7x7 map: 16
   tiles), as long as a panel stays a whole number of the transforms' 16 lanes. */
static int64_t panel_width(const kiln__wino *p, int64_t tiles) {
    int64_t nr = p->kr->nr;
    return tiles <= nr / 2 && (nr / 2) % VEC == 0 && p->kr->half.ukr ? nr / 2 : nr;
}

int kiln__wino_pays(const kiln__wino *p, const kiln_window *w, int64_t batch) {
    int64_t nr = p->kr->nr;
    if (p->cin < 16 || p->cout < 16) return 0; /* the transforms would dominate */
    if (nr % VEC) return 0;                     /* the transforms work in 16 lanes */
    int64_t tiles = batch * ceil_div(w->out[1], 2) * ceil_div(w->out[2], 2);
    /* Multiply-adds of the 16 products against the 9 of the direct GEMM, both with their
       padded columns (the GEMM pads little: see its column pieces), and a margin for the
       transforms. */
    int64_t wino = 16 * round_up(tiles, panel_width(p, tiles)), direct = 9 * round_up(batch * w->out[1] * w->out[2], 8);
    return 5 * wino < 4 * direct;
}

/* ---- the transforms (16 lanes: one zmm, two ymm or four xmm, as the CPU has) ------------------- */

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef int v16i __attribute__((vector_size(64)));

#if defined(__clang__)
#define EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#define ILO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define IHI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#else
#define EVEN(a, b) __builtin_shuffle(a, b, (v16i){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#define ODD(a, b) __builtin_shuffle(a, b, (v16i){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
#define ILO(a, b) __builtin_shuffle(a, b, (v16i){0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23})
#define IHI(a, b) __builtin_shuffle(a, b, (v16i){8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31})
#endif

/* V = B^T d B for the tiles tx = 0..n-1 of one tile row, d from the zero-padded input rows
   rows[0..3] (tile tx reads columns 2tx .. 2tx+3), into out[xi*ld + tx] (n rounded up to 16
   is written). B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void input_row(const float *const rows[4], int64_t n, float *restrict out, int64_t ld) {
    for (int64_t tx = 0; tx < n; tx += VEC) {
        v16 u[4][4];
        for (int r = 0; r < 4; r++) {
            const float *p = rows[r] + 2 * tx;
            v16 a = *(const v16u *)p, b = *(const v16u *)(p + 16);
            v16 c = *(const v16u *)(p + 2), e = *(const v16u *)(p + 18);
            v16 d0 = EVEN(a, b), d1 = ODD(a, b), d2 = EVEN(c, e), d3 = ODD(c, e);
            u[r][0] = d0 - d2, u[r][1] = d1 + d2, u[r][2] = d2 - d1, u[r][3] = d1 - d3;
        }
        for (int j = 0; j < 4; j++) {
            *(v16u *)(out + (0 * 4 + j) * ld + tx) = u[0][j] - u[2][j];
            *(v16u *)(out + (1 * 4 + j) * ld + tx) = u[1][j] + u[2][j];
            *(v16u *)(out + (2 * 4 + j) * ld + tx) = u[2][j] - u[1][j];
            *(v16u *)(out + (3 * 4 + j) * ld + tx) = u[1][j] - u[3][j];
        }
    }
}

/* x = clip(x) as kiln_act_apply: below lo gives lo, above hi gives hi. (A macro: passing
   64-byte vectors to functions changes with the ISA, and the callers are cloned per ISA.) */
#define CLIP16(x, lo, hi)                                                                          \
    do {                                                                                           \
        v16 l_ = (lo) - (v16){0}, h_ = (hi) - (v16){0};                                            \
        v16i below_ = (x) < l_, above_ = (x) > h_;                                                 \
        v16 t_ = (v16)(((v16i)h_ & above_) | ((v16i)(x) & ~above_));                               \
        (x) = (v16)(((v16i)l_ & below_) | ((v16i)t_ & ~below_));                                   \
    } while (0)

/* dst[xi*ds + i] = src[xi*ss + i] for xi < 16, i < n (short rows: no library call). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void copy_lanes(const float *restrict src, int64_t ss, float *restrict dst, int64_t ds, int64_t n) {
    for (int xi = 0; xi < 16; xi++)
        for (int64_t i = 0; i < n; i++) dst[xi * ds + i] = src[xi * ss + i];
}

/* One output run: dst[0..n) = src[0..n) (+ res[0..n)), then the activation if `act` (not done
   in the transform). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void store_run(float *restrict dst, const float *restrict src, const float *restrict res, int64_t n,
                      const kiln_act *act) {
    if (res)
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] + res[i];
    else
        for (int64_t i = 0; i < n; i++) dst[i] = src[i];
    if (act) kiln__cpu_act_inplace(act, dst, n);
}

/* Y = A^T M A (A^T = [1 1 1 0; 0 1 -1 -1]) + bias for `rows` output channels x `lanes` tiles
   (lanes a multiple of 16): m[xi*mld + i*nr + lane], written interleaved as the output rows
   see them: out[(i*2 + dy)*2*nr + 2*lane + dx]. act: 1 relu, 2 clip, else none here. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void output_tiles(const float *m, int64_t mld, int nr, int64_t rows, int64_t lanes, const float *bias,
                         int act, float lo, float hi, float *out) {
    for (int64_t i = 0; i < rows; i++) {
        float b = bias ? bias[i] : 0.0f;
        for (int64_t l = 0; l < lanes; l += VEC) {
            v16 x[16];
            for (int xi = 0; xi < 16; xi++) x[xi] = *(const v16u *)(m + xi * mld + i * nr + l);
            v16 s0[4], s1[4];
            for (int j = 0; j < 4; j++) {
                s0[j] = x[j] + x[4 + j] + x[8 + j];
                s1[j] = x[4 + j] - x[8 + j] - x[12 + j];
            }
            v16 y[2][2];
            y[0][0] = s0[0] + s0[1] + s0[2] + b;
            y[0][1] = s0[1] - s0[2] - s0[3] + b;
            y[1][0] = s1[0] + s1[1] + s1[2] + b;
            y[1][1] = s1[1] - s1[2] - s1[3] + b;
            for (int dy = 0; dy < 2; dy++) {
                v16 e = y[dy][0], o = y[dy][1];
                if (act == 1) { /* keep the lanes above zero (as the GEMM's micro-kernels) */
                    e = (v16)((v16i)e & (v16i)(e > 0));
                    o = (v16)((v16i)o & (v16i)(o > 0));
                } else if (act == 2) {
                    CLIP16(e, lo, hi);
                    CLIP16(o, lo, hi);
                }
                float *d = out + (i * 2 + dy) * 2 * nr + 2 * l;
                *(v16u *)d = ILO(e, o);
                *(v16u *)(d + VEC) = IHI(e, o);
            }
        }
    }
}

/* ---- the run -------------------------------------------------------------------------------------- */

/* Tiles of one tile row inside a chunk: lanes [lane, lane + n) are tiles tx0 .. tx0+n-1 of tile
   row ty of image img. */
typedef struct tile_run {
    int64_t lane, n, img, ty, tx0;
} tile_run;

typedef struct wino_job {
    const kiln__wino *p;
    const kiln_window *w;
    kiln_pool *pool;
    int nth;
    int64_t th, tw, t_img, t_all; /* tiles per row, per column, per image, in all */
    int64_t pw;                   /* tiles per panel: the kernel's NR, or NR/2 for few tiles */
    int64_t np, chunks;           /* panels per chunk, chunks */
    int private_chunks;           /* each thread takes its own panels, whole (no shared V) */
    size_t vfloats;               /* one V buffer */
    int64_t pad_len, tw_pad;      /* a padded input row; tiles per row rounded to 16 */
    const float *x, *bias, *res;
    const kiln_act *act;
    float *y;
    int64_t s_lo[MAX_SPLIT + 1];  /* thread t: slivers [s_lo[t], s_lo[t+1]) */
    float *v[2];                  /* transformed input of a chunk: [xi][panel][cin][nr] */
    float *ws;                    /* per thread, ws_stride floats */
    size_t ws_stride;
} wino_job;

/* Per-thread scratch, in floats. */
typedef struct wino_scratch {
    float *m;        /* 16 x mr x nr products */
    float *o;        /* mr x 2 x 2nr interleaved outputs */
    float *rowbuf;   /* 16 x tw_pad input transforms of a tile row */
    float *plane;    /* the input rows a chunk needs, zero-padded: pl_rows x pad_len */
    tile_run *runs;  /* the chunk's runs */
} wino_scratch;

static size_t scratch_floats(const wino_job *j, wino_scratch *s, float *base) {
    const kiln_gemm_kernel *kr = j->p->kr;
    size_t at = 0;
#define TAKE(field, n)                                                                              \
    do {                                                                                            \
        if (s) s->field = base + at;                                                                \
        at += ((size_t)(n) + 15) & ~(size_t)15;                                                     \
    } while (0)
    TAKE(m, 16 * kr->mr * j->pw);
    TAKE(o, kr->mr * 4 * j->pw);
    TAKE(rowbuf, 16 * j->tw_pad);
    TAKE(plane, (2 * j->th + 2) * j->pad_len);
#undef TAKE
    size_t run_floats = ((size_t)(j->np * j->pw + 1) * sizeof(tile_run) + sizeof(float) - 1) / sizeof(float);
    if (s) s->runs = (tile_run *)(void *)(base + at);
    at += (run_floats + 15) & ~(size_t)15;
    return at;
}

/* Split tiles [t0, t1) of the chunk starting at tile c0 into runs along tile rows. */
static int64_t make_runs(const wino_job *j, int64_t c0, int64_t t0, int64_t t1, tile_run *runs) {
    int64_t n = 0;
    for (int64_t t = t0; t < t1;) {
        int64_t img = t / j->t_img, r = t % j->t_img, ty = r / j->tw, tx = r % j->tw;
        int64_t len = min64(j->tw - tx, t1 - t);
        runs[n++] = (tile_run){t - c0, len, img, ty, tx};
        t += len;
    }
    return n;
}

/* Input transform of the chunk's tiles [c0, c1) for input channels [ci0, ci1) into vb. Per
   image and channel, the input rows the chunk's tile rows read are copied once into a
   zero-padded plane; each tile row is then transformed straight into its panel when the vector
   stores' overshoot stays inside the panel row (later tiles or the zeroed tail overwrite it),
   else through rowbuf. */
static void transform_input(const wino_job *j, const wino_scratch *s, int64_t c0, int64_t c1, int64_t ci0,
                            int64_t ci1, float *vb) {
    const kiln_window *w = j->w;
    const int64_t cin = j->p->cin, nr = j->pw, np = j->np, xs = np * cin * nr, pw = j->pad_len;
    const int64_t H = w->in[1], W = w->in[2], pt = w->pb[1], pl = w->pb[2];
    const int64_t lanes = round_up(c1 - c0, nr);
    int64_t nruns = make_runs(j, c0, c0, c1, s->runs);
    for (int64_t k0 = 0, k1; k0 < nruns; k0 = k1) {
        for (k1 = k0 + 1; k1 < nruns && s->runs[k1].img == s->runs[k0].img;) k1++;
        const int64_t img = s->runs[k0].img, iy_lo = 2 * s->runs[k0].ty - pt;
        const int64_t nrows = 2 * (s->runs[k1 - 1].ty - s->runs[k0].ty) + 4;
        for (int64_t i = 0; i < nrows; i++) /* rows outside the input: zeros */
            if (iy_lo + i < 0 || iy_lo + i >= H) memset(s->plane + i * pw, 0, (size_t)pw * sizeof(float));
        for (int64_t ci = ci0; ci < ci1; ci++) {
            const float *src = j->x + (img * cin + ci) * H * W;
            for (int64_t i = 0; i < nrows; i++)
                if (iy_lo + i >= 0 && iy_lo + i < H) memcpy(s->plane + i * pw + pl, src + (iy_lo + i) * W, (size_t)W * sizeof(float));
            for (int64_t k = k0; k < k1; k++) {
                const tile_run *rn = &s->runs[k];
                const float *rows[4];
                for (int r = 0; r < 4; r++) rows[r] = s->plane + (2 * rn->ty - pt + r - iy_lo) * pw + 2 * rn->tx0;
                /* Into the panels: lane L is panel L / nr, column L % nr. */
                for (int64_t done = 0; done < rn->n;) {
                    int64_t lane = rn->lane + done, q = lane / nr, col = lane % nr, len = min64(nr - col, rn->n - done);
                    const float *at[4] = {rows[0] + 2 * done, rows[1] + 2 * done, rows[2] + 2 * done, rows[3] + 2 * done};
                    float *dst = vb + (q * cin + ci) * nr + col;
                    if (col + round_up(len, VEC) <= nr) {
                        input_row(at, len, dst, xs);
                    } else {
                        input_row(at, len, s->rowbuf, j->tw_pad);
                        copy_lanes(s->rowbuf, j->tw_pad, dst, xs, len);
                    }
                    done += len;
                }
            }
            /* Lanes past the last tile: zeros, so the products there stay finite. */
            if (k1 == nruns)
                for (int64_t lane = c1 - c0; lane < lanes;) {
                    int64_t q = lane / nr, col = lane % nr, len = nr - col;
                    for (int xi = 0; xi < 16; xi++) memset(vb + xi * xs + (q * cin + ci) * nr + col, 0, (size_t)len * sizeof(float));
                    lane += len;
                }
        }
    }
}

/* Output channels of sliver v x panel q of the chunk: the 16 products, then Y into y. */
static void sliver_panel(const wino_job *j, const wino_scratch *s, const kiln__sliver *v, int64_t q, int64_t c0,
                         int64_t c1, const float *vb) {
    const kiln__wino *p = j->p;
    const kiln_gemm_kernel *kr = p->kr;
    const kiln_window *w = j->w;
    const int64_t cin = p->cin, nr = j->pw, np = j->np, kc = kr->kc;
    const int64_t Ho = w->out[1], Wo = w->out[2], hw = Ho * Wo;
    kiln_gemm_ukr_fn ukr = nr == kr->nr ? (v->h == kr->mr ? kr->ukr : kr->ukr_alt)
                                        : (v->h == kr->mr ? kr->half.ukr : kr->half.ukr_alt);
    const float *ub = p->u + 16 * cin * v->prow;
    for (int xi = 0; xi < 16; xi++) {
        const float *ux = ub + xi * cin * v->h, *vx = vb + (xi * np + q) * cin * nr;
        float *mx = s->m + xi * v->h * nr;
        for (int64_t pc = 0; pc < cin; pc += kc)
            ukr(min64(kc, cin - pc), ux + pc * v->h, vx + pc * nr, mx, nr, pc > 0, NULL);
    }
    int64_t l0 = q * nr, l1 = min64(l0 + nr, c1 - c0); /* this panel's tiles, as chunk lanes */
    const kiln_act *act = j->act;
    int in_vec = !j->res && (act->type == KILN_ACT_RELU || act->type == KILN_ACT_CLIP);
    int vact = in_vec ? (act->type == KILN_ACT_RELU ? 1 : 2) : 0;
    output_tiles(s->m, v->h * nr, (int)nr, v->rows, round_up(l1 - l0, VEC), j->bias ? j->bias + v->row0 : NULL,
                 vact, act->alpha, act->beta, s->o);
    tile_run runs[64 + 1];
    for (int64_t t = c0 + l0; t < c0 + l1;) { /* runs of this panel, a few at a time */
        int64_t n = 0;
        for (; t < c0 + l1 && n < 64; n++) {
            int64_t img = t / j->t_img, r = t % j->t_img, ty = r / j->tw, tx = r % j->tw;
            int64_t len = min64(j->tw - tx, c0 + l1 - t);
            runs[n] = (tile_run){t - c0 - l0, len, img, ty, tx};
            t += len;
        }
        for (int64_t i = 0; i < v->rows; i++) {
            int64_t co = v->row0 + i;
            for (int64_t k = 0; k < n; k++) {
                const tile_run *rn = &runs[k];
                int64_t ox = 2 * rn->tx0, cols = min64(2 * rn->n, Wo - ox);
                for (int dy = 0; dy < 2; dy++) {
                    int64_t oy = 2 * rn->ty + dy;
                    if (oy >= Ho) break;
                    int64_t off = (rn->img * p->cout + co) * hw + oy * Wo + ox;
                    store_run(j->y + off, s->o + (i * 2 + dy) * 2 * nr + 2 * rn->lane, j->res ? j->res + off : NULL,
                              cols, in_vec ? NULL : act);
                }
            }
        }
    }
}

static void wino_task(void *arg, int64_t t, int thread) {
    const wino_job *j = arg;
    wino_scratch s;
    scratch_floats(j, &s, j->ws + (size_t)thread * j->ws_stride);
    memset(s.plane, 0, (size_t)((2 * j->th + 2) * j->pad_len) * sizeof(float));
    const int64_t nr = j->pw, cin = j->p->cin;
    int64_t ci0 = t < j->nth ? cin * t / j->nth : cin, ci1 = t < j->nth ? cin * (t + 1) / j->nth : cin;
    int64_t s0 = t < j->nth ? j->s_lo[t] : 0, s1 = t < j->nth ? j->s_lo[t + 1] : 0;
    if (j->private_chunks) { /* tiles [t0, t1), all output channels, alone */
        if (t >= j->nth) return;
        /* Equal numbers of tiles (not of panels: 25 panels would split 13 to 12), each range
           in its own panels; one part of the image each, as the neighbouring layers split it. */
        int64_t t0 = j->t_all * t / j->nth, t1 = j->t_all * (t + 1) / j->nth;
        float *vb = j->v[0] + (size_t)t * j->vfloats;
        for (int64_t c0 = t0; c0 < t1; c0 += j->np * nr) {
            int64_t c1 = min64(c0 + j->np * nr, t1);
            transform_input(j, &s, c0, c1, 0, cin, vb);
            for (int64_t sv = 0; sv < j->p->sp.n_sliv; sv++) {
                kiln__sliver v = kiln__gemm_sliver_at(&j->p->sp, sv);
                for (int64_t qq = 0; qq < ceil_div(c1 - c0, nr); qq++) sliver_panel(j, &s, &v, qq, c0, c1, vb);
            }
        }
        return;
    }
    for (int64_t c = 0; c < j->chunks; c++) {
        int64_t c0 = c * j->np * nr, c1 = min64(c0 + j->np * nr, j->t_all);
        float *vb = j->v[c & 1];
        transform_input(j, &s, c0, c1, ci0, ci1, vb);
        /* V of this chunk is whole; and everyone is done with the other buffer (the next chunk
           overwrites it), having transformed this chunk after using it. */
        kiln_pool_barrier(j->pool);
        int64_t panels = ceil_div(c1 - c0, nr);
        for (int64_t sv = s0; sv < s1; sv++) {
            kiln__sliver v = kiln__gemm_sliver_at(&j->p->sp, sv);
            for (int64_t q = 0; q < panels; q++) sliver_panel(j, &s, &v, q, c0, c1, vb);
        }
    }
}

/* Contiguous sliver ranges with near-equal rows (the plan's parts when they match). */
static void split_slivers(const kiln__sliv_plan *sp, int nth, int64_t *s_lo) {
    if (sp->parts == nth) {
        for (int t = 0; t < nth; t++) s_lo[t] = sp->p[t].s0;
        s_lo[nth] = sp->n_sliv;
        return;
    }
    int64_t s = 0, done = 0;
    s_lo[0] = 0;
    for (int t = 0; t < nth; t++) {
        int64_t goal = sp->mpad * (t + 1) / nth;
        while (s < sp->n_sliv && (t == nth - 1 || done + kiln__gemm_sliver_at(sp, s).h / 2 <= goal))
            done += kiln__gemm_sliver_at(sp, s++).h;
        s_lo[t + 1] = s;
    }
}

kiln_status kiln__wino_run(kiln_cpu *cpu, const kiln__wino *p, const kiln_window *w, int64_t batch, const float *x,
                           const float *bias, const float *res, const kiln_act *act, float *y, kiln_err *e) {
    wino_job j = {.p = p, .w = w, .pool = kiln_cpu_pool(cpu), .x = x, .bias = bias, .res = res, .act = act, .y = y};
    int pool_n = kiln_pool_size(j.pool);
    j.nth = pool_n < MAX_SPLIT ? pool_n : MAX_SPLIT;
    j.th = ceil_div(w->out[1], 2), j.tw = ceil_div(w->out[2], 2);
    j.t_img = j.th * j.tw, j.t_all = batch * j.t_img;
    j.pw = panel_width(p, j.t_all);
    const int64_t nr = j.pw;
    j.tw_pad = round_up(j.tw, VEC);
    /* a padded input row: the input at pb[2], zeros around, room for the vector over-reads */
    j.pad_len = round_up((w->pb[2] + w->in[2] > 2 * j.tw ? w->pb[2] + w->in[2] : 2 * j.tw) + 2 * VEC + 4, 16);
    int64_t per_panel = 16 * p->cin * nr * (int64_t)sizeof(float);
    j.np = V_CHUNK_BYTES / per_panel;
    if (j.np < 1) j.np = 1;
    j.np = min64(j.np, ceil_div(j.t_all, nr));
    j.chunks = ceil_div(j.t_all, j.np * nr);
    split_slivers(&p->sp, j.nth, j.s_lo);
    /* With panels enough for every thread to get a near-equal share, each takes its own, whole:
       no barrier, and no thread reads a V the other core wrote (slow, see cpu_gemm.c). */
    j.private_chunks = j.nth > 1 && ceil_div(j.t_all, nr) >= 8 * j.nth;
    size_t vfloats = j.vfloats = (size_t)(16 * p->cin * j.np * nr);
    j.ws_stride = scratch_floats(&j, NULL, NULL);
    size_t nbuf = j.private_chunks ? (size_t)j.nth : 2;
    float *v = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_COL, nbuf * vfloats * sizeof(float));
    float *ws = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_GEMM, (size_t)pool_n * j.ws_stride * sizeof(float));
    if (!v || !ws) return kiln_err_set(e, KILN_ERR_NOMEM, "Conv (Winograd): out of memory for its buffers");
    j.v[0] = v, j.v[1] = v + vfloats;
    j.ws = ws;
    kiln_pool_run(j.pool, wino_task, &j);
    return KILN_OK;
}
