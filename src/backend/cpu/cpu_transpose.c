/* Transpose of any rank (up to KILN_MAX_DIMS) and element type.
 *
 * Dimensions of size 1 are dropped and output-adjacent dimensions that are also input-adjacent
 * are merged first, so channel shuffles ([N,g,C/g,H,W] -> [N,C/g,g,H,W]) become copies of
 * contiguous H*W runs. When the input's innermost dimension moves, the kernel walks 2-D tiles
 * (input-contiguous x output-contiguous) so both sides stay in cache. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

#define TILE 32

typedef struct {
    int k;                       /* collapsed rank */
    int64_t od[KILN_MAX_DIMS];   /* output dims */
    int64_t ist[KILN_MAX_DIMS];  /* input stride of each output dim */
    int64_t ost[KILN_MAX_DIMS];  /* output stride of each output dim */
    int jb;                      /* output position of the input's innermost dim */
    size_t esz;
    const char *in;
    char *out;
    int64_t ntiles;              /* tiled case: tiles along od[jb] */
} tr_plan;

/* Offsets of outer item m, where outer dims are all but `skip_a` and `skip_b`. */
static void outer_offsets(const tr_plan *p, int64_t m, int skip_a, int skip_b, int64_t *io,
                          int64_t *oo) {
    int64_t a = 0, b = 0;
    for (int j = p->k - 1; j >= 0; j--) {
        if (j == skip_a || j == skip_b) continue;
        int64_t idx = m % p->od[j];
        m /= p->od[j];
        a += idx * p->ist[j];
        b += idx * p->ost[j];
    }
    *io = a;
    *oo = b;
}

/* The innermost dim stays innermost: each item is a contiguous run. */
static void runs_range(void *arg, int64_t b, int64_t e) {
    const tr_plan *p = arg;
    size_t run = (size_t)p->od[p->k - 1] * p->esz;
    for (int64_t m = b; m < e; m++) {
        int64_t io, oo;
        outer_offsets(p, m, p->k - 1, p->k - 1, &io, &oo);
        memcpy(p->out + (size_t)oo * p->esz, p->in + (size_t)io * p->esz, run);
    }
}

#define TILE_FN(T)                                                                               \
    static void tile_##T(const T *in, T *out, int64_t ni, int64_t nj, int64_t is_j,              \
                         int64_t os_i) {                                                         \
        for (int64_t j0 = 0; j0 < nj; j0 += TILE) {                                              \
            int64_t j1 = j0 + TILE < nj ? j0 + TILE : nj;                                        \
            for (int64_t i = 0; i < ni; i++) {                                                   \
                const T *src = in + i;                                                           \
                T *dst = out + i * os_i;                                                         \
                for (int64_t j = j0; j < j1; j++) dst[j] = src[j * is_j];                        \
            }                                                                                    \
        }                                                                                        \
    }
TILE_FN(uint8_t)
TILE_FN(uint16_t)
TILE_FN(uint64_t)

#if defined(__GNUC__) && !defined(__clang__)
/* 4-byte elements: 4x4 blocks transposed in registers (GCC vector extensions: SSE on x86, NEON
   on Arm), 2-3x the scalar tile loop. */
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4u load4(const uint32_t *p) {
    v4u v;
    memcpy(&v, p, 16);
    return v;
}

static inline void store4(uint32_t *p, v4u v) { memcpy(p, &v, 16); }

static void tile_u32x4(const uint32_t *in, uint32_t *out, int64_t ni, int64_t nj, int64_t is_j,
                       int64_t os_i) {
    int64_t i4 = ni & ~(int64_t)3, j4 = nj & ~(int64_t)3;
    for (int64_t j0 = 0; j0 < j4; j0 += TILE) {
        int64_t j1 = j0 + TILE < j4 ? j0 + TILE : j4;
        for (int64_t i = 0; i < i4; i += 4)
            for (int64_t j = j0; j < j1; j += 4) {
                /* rows j..j+3 of four elements i..i+3 each become rows i..i+3 */
                v4u r0 = load4(in + i + j * is_j), r1 = load4(in + i + (j + 1) * is_j);
                v4u r2 = load4(in + i + (j + 2) * is_j), r3 = load4(in + i + (j + 3) * is_j);
                v4u t0 = __builtin_shuffle(r0, r1, (v4i){0, 4, 1, 5});
                v4u t1 = __builtin_shuffle(r2, r3, (v4i){0, 4, 1, 5});
                v4u t2 = __builtin_shuffle(r0, r1, (v4i){2, 6, 3, 7});
                v4u t3 = __builtin_shuffle(r2, r3, (v4i){2, 6, 3, 7});
                store4(out + i * os_i + j, __builtin_shuffle(t0, t1, (v4i){0, 1, 4, 5}));
                store4(out + (i + 1) * os_i + j, __builtin_shuffle(t0, t1, (v4i){2, 3, 6, 7}));
                store4(out + (i + 2) * os_i + j, __builtin_shuffle(t2, t3, (v4i){0, 1, 4, 5}));
                store4(out + (i + 3) * os_i + j, __builtin_shuffle(t2, t3, (v4i){2, 3, 6, 7}));
            }
    }
    /* The ragged edges. */
    for (int64_t i = 0; i < ni; i++)
        for (int64_t j = i < i4 ? j4 : 0; j < nj; j++) out[i * os_i + j] = in[i + j * is_j];
}
#define TILE_U32 tile_u32x4
#else
TILE_FN(uint32_t)
#define TILE_U32 tile_uint32_t
#endif

static void tile_any(const tr_plan *p, const char *in, char *out, int64_t ni, int64_t nj,
                     int64_t is_j, int64_t os_i) {
    switch (p->esz) {
    case 1: tile_uint8_t((const uint8_t *)in, (uint8_t *)out, ni, nj, is_j, os_i); break;
    case 2: tile_uint16_t((const uint16_t *)in, (uint16_t *)out, ni, nj, is_j, os_i); break;
    case 4: TILE_U32((const uint32_t *)in, (uint32_t *)out, ni, nj, is_j, os_i); break;
    case 8: tile_uint64_t((const uint64_t *)in, (uint64_t *)out, ni, nj, is_j, os_i); break;
    default:
        for (int64_t i = 0; i < ni; i++)
            for (int64_t j = 0; j < nj; j++)
                memcpy(out + (size_t)(i * os_i + j) * p->esz, in + (size_t)(i + j * is_j) * p->esz,
                       p->esz);
    }
}

/* Each item: one outer combination x one band of TILE rows along od[jb]. */
static void tiles_range(void *arg, int64_t b, int64_t e) {
    const tr_plan *p = arg;
    int last = p->k - 1;
    for (int64_t t = b; t < e; t++) {
        int64_t m = t / p->ntiles, i0 = (t % p->ntiles) * TILE;
        int64_t io, oo;
        outer_offsets(p, m, p->jb, last, &io, &oo);
        int64_t ni = p->od[p->jb] - i0 < TILE ? p->od[p->jb] - i0 : TILE;
        /* Input offset of row i0 along jb: the input's innermost dim has stride 1. */
        io += i0;
        oo += i0 * p->ost[p->jb];
        tile_any(p, p->in + (size_t)io * p->esz, p->out + (size_t)oo * p->esz, ni, p->od[last],
                 p->ist[last], p->ost[p->jb]);
    }
}

kiln_status kiln__cpu_transpose(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                kiln_view *out, kiln_err *e) {
    (void)e;
    const kiln_shape *s = &in[0].shape;
    int r = s->ndim;
    int perm[KILN_MAX_DIMS];
    for (int j = 0; j < r; j++)
        perm[j] = n->a.transpose.nperm ? (int)n->a.transpose.perm[j] : r - 1 - j;
    size_t esz = kiln_dtype_size(in[0].dtype);
    int64_t total = kiln_shape_numel(s);
    if (total == 0) return KILN_OK;

    /* Drop size-1 input dims, renumbering the rest. */
    int newid[KILN_MAX_DIMS], nr = 0;
    int64_t d[KILN_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) {
        newid[i] = s->d[i] == 1 ? -1 : nr;
        if (s->d[i] != 1) d[nr++] = s->d[i];
    }
    int p[KILN_MAX_DIMS], np = 0;
    for (int j = 0; j < r; j++)
        if (newid[perm[j]] >= 0) p[np++] = newid[perm[j]];
    /* Merge output neighbours j, j+1 reading input neighbours p[j], p[j] + 1. */
    int64_t md[KILN_MAX_DIMS];   /* merged input dims, indexed by merged id */
    int grp_first[KILN_MAX_DIMS], ng = 0;  /* output groups: first input dim of each */
    int grp_len[KILN_MAX_DIMS];
    for (int j = 0; j < np; j++) {
        if (ng && p[j] == p[j - 1] + 1) grp_len[ng - 1]++;
        else {
            grp_first[ng] = p[j];
            grp_len[ng] = 1;
            ng++;
        }
    }
    /* Merged input order: groups sorted by their first input dim. */
    int rank_of[KILN_MAX_DIMS];
    for (int g = 0; g < ng; g++) {
        int rk = 0;
        for (int h = 0; h < ng; h++) rk += grp_first[h] < grp_first[g];
        rank_of[g] = rk;
        int64_t prod = 1;
        for (int i = 0; i < grp_len[g]; i++) prod *= d[grp_first[g] + i];
        md[rk] = prod;
    }
    if (ng <= 1) {
        kiln__cpu_copy(cpu, out[0].data, in[0].data, (size_t)total * esz);
        return KILN_OK;
    }
    int64_t ist_in[KILN_MAX_DIMS];
    ist_in[ng - 1] = 1;
    for (int i = ng - 2; i >= 0; i--) ist_in[i] = ist_in[i + 1] * md[i + 1];

    tr_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.k = ng;
    pl.esz = esz;
    pl.in = in[0].data;
    pl.out = out[0].data;
    for (int g = 0; g < ng; g++) {
        pl.od[g] = md[rank_of[g]];
        pl.ist[g] = ist_in[rank_of[g]];
        if (rank_of[g] == ng - 1) pl.jb = g;
    }
    pl.ost[ng - 1] = 1;
    for (int g = ng - 2; g >= 0; g--) pl.ost[g] = pl.ost[g + 1] * pl.od[g + 1];

    if (pl.jb == ng - 1) {
        int64_t len = pl.od[ng - 1];
        int64_t grain = KILN__CPU_GRAIN / len > 0 ? KILN__CPU_GRAIN / len : 1;
        kiln__cpu_parallel(cpu, total / len, grain, runs_range, &pl);
        return KILN_OK;
    }
    pl.ntiles = (pl.od[pl.jb] + TILE - 1) / TILE;
    int64_t items = total / (pl.od[pl.jb] * pl.od[ng - 1]) * pl.ntiles;
    int64_t per_item = TILE * pl.od[ng - 1];
    kiln__cpu_parallel(cpu, items, KILN__CPU_GRAIN / per_item > 0 ? KILN__CPU_GRAIN / per_item : 1,
                       tiles_range, &pl);
    return KILN_OK;
}
