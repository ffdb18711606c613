/* Broadcast iteration (see cpu_tensor.h): collapse dimensions, then walk the output in rows. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

void kiln__bcast_init(kiln__bcast *b, const kiln_shape *out, int nin, const kiln_shape *in) {
    memset(b, 0, sizeof *b);
    b->nin = nin;
    int r = out->ndim;
    /* Strides of each input aligned to the output's rank; 0 where it broadcasts. */
    int64_t st[KILN__BC_MAX_IN][KILN_MAX_DIMS];
    for (int k = 0; k < nin; k++) {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            int j = i - (r - in[k].ndim);
            int64_t d = j >= 0 ? in[k].d[j] : 1;
            st[k][i] = (d == 1) ? 0 : s;
            s *= d;
        }
    }
    /* Drop size-1 output dims and merge neighbours whose strides continue each other. */
    int nd = 0;
    b->numel = 1;
    for (int i = 0; i < r; i++) {
        int64_t d = out->d[i];
        b->numel *= d;
        if (d == 1) continue;
        int merge = nd > 0;
        for (int k = 0; k < nin && merge; k++)
            if (b->st[k][nd - 1] != st[k][i] * d) merge = 0;
        if (merge) {
            b->d[nd - 1] *= d;
            for (int k = 0; k < nin; k++) b->st[k][nd - 1] = st[k][i];
        } else {
            b->d[nd] = d;
            for (int k = 0; k < nin; k++) b->st[k][nd] = st[k][i];
            nd++;
        }
    }
    if (nd == 0) {
        /* A single element (or none): one row of length 1 reading element 0 of each input. */
        b->d[0] = b->numel ? 1 : 0;
        nd = 1;
    }
    b->ndim = nd;
}

typedef struct {
    const kiln__bcast *b;
    kiln__row_fn row;
    const void *ctx;
    const void *const *in;
    const size_t *esz;
    char *out;
    size_t oesz;
} run_ctx;

static void run_range(void *arg, int64_t begin, int64_t end) {
    const run_ctx *c = arg;
    const kiln__bcast *b = c->b;
    int nd = b->ndim, nin = b->nin;
    int64_t len = b->d[nd - 1];
    int64_t row = begin / len, col = begin % len;
    int s[KILN__BC_MAX_IN];
    for (int k = 0; k < nin; k++) s[k] = b->st[k][nd - 1] != 0;
    /* The first row's index over the outer dimensions; then an odometer keeps each input's
       row offset up to date without divisions. */
    int64_t idx[KILN_MAX_DIMS] = {0}, off[KILN__BC_MAX_IN] = {0}, r = row;
    for (int i = nd - 2; i >= 0; i--) {
        idx[i] = r % b->d[i];
        r /= b->d[i];
        for (int k = 0; k < nin; k++) off[k] += idx[i] * b->st[k][i];
    }
    while (begin < end) {
        int64_t n = len - col;
        if (n > end - begin) n = end - begin;
        const void *p[KILN__BC_MAX_IN];
        for (int k = 0; k < nin; k++)
            p[k] = (const char *)c->in[k] + (size_t)(off[k] + col * s[k]) * c->esz[k];
        c->row(c->ctx, p, s, c->out + (size_t)begin * c->oesz, n);
        begin += n;
        col = 0;
        for (int i = nd - 2; i >= 0; i--) {
            for (int k = 0; k < nin; k++) off[k] += b->st[k][i];
            if (++idx[i] < b->d[i]) break;
            for (int k = 0; k < nin; k++) off[k] -= idx[i] * b->st[k][i];
            idx[i] = 0;
        }
    }
}

void kiln__bcast_run(kiln_cpu *cpu, const kiln__bcast *b, kiln__row_fn row, const void *ctx,
                     const void *const *in, const size_t *esz, void *out, size_t oesz) {
    run_ctx c = {b, row, ctx, in, esz, out, oesz};
    kiln__cpu_parallel(cpu, b->numel, KILN__CPU_GRAIN, run_range, &c);
}

/* Broadcast copy: a run of a vector is a memcpy; a repeated value is a typed fill. */
static void copy_row(const void *ctx, const void *const *in, const int *s, void *out,
                     int64_t n) {
    size_t esz = *(const size_t *)ctx;
    if (s[0]) {
        memcpy(out, in[0], (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1: memset(out, *(const unsigned char *)in[0], (size_t)n); break;
#define FILL(T)                                                                                  \
    {                                                                                            \
        T v, *o = out;                                                                           \
        memcpy(&v, in[0], sizeof v);                                                             \
        for (int64_t i = 0; i < n; i++) o[i] = v;                                                \
    }                                                                                            \
    break;
    case 2: FILL(uint16_t)
    case 4: FILL(uint32_t)
    case 8: FILL(uint64_t)
#undef FILL
    default:
        for (int64_t i = 0; i < n; i++) memcpy((char *)out + (size_t)i * esz, in[0], esz);
    }
}

void kiln__bcast_copy(kiln_cpu *cpu, const kiln_view *in, kiln_view *out) {
    size_t esz = kiln_dtype_size(out->dtype);
    int64_t n = kiln_shape_numel(&out->shape);
    if (kiln_shape_numel(&in->shape) == n) {
        kiln__cpu_copy(cpu, out->data, in->data, (size_t)n * esz);
        return;
    }
    kiln__bcast b;
    kiln__bcast_init(&b, &out->shape, 1, &in->shape);
    const void *p[1] = {in->data};
    kiln__bcast_run(cpu, &b, copy_row, &esz, p, &esz, out->data, esz);
}
