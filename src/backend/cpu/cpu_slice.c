/* Slice (any steps, negative included; parameters from tensor_params.h): the output is walked
 * row by row; a row with step 1 is one memcpy, others a strided typed copy. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"
#include "core/tensor_params.h"

typedef struct {
    int r;
    int64_t od[KILN_MAX_DIMS];     /* output dims */
    int64_t base;                  /* input offset of the first element read */
    int64_t ist[KILN_MAX_DIMS];    /* input stride per output step (step * input stride) */
    size_t esz;
    const char *in;
    char *out;
} slice_ctx;

#define STRIDED(T)                                                                               \
    {                                                                                            \
        const T *s = (const T *)src;                                                             \
        T *d = (T *)dst;                                                                         \
        for (int64_t j = 0; j < n; j++) d[j] = s[j * st];                                        \
    }                                                                                            \
    break;

static void copy_row(const char *src, char *dst, int64_t n, int64_t st, size_t esz) {
    if (st == 1) {
        memcpy(dst, src, (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1: STRIDED(uint8_t)
    case 2: STRIDED(uint16_t)
    case 4: STRIDED(uint32_t)
    case 8: STRIDED(uint64_t)
    default:
        for (int64_t j = 0; j < n; j++) memcpy(dst + (size_t)j * esz, src + j * st * (int64_t)esz, esz);
    }
}

static void slice_range(void *arg, int64_t b, int64_t e) {
    const slice_ctx *c = arg;
    int last = c->r - 1;
    int64_t len = c->od[last];
    /* Output row b's index over the outer dims, then counted up row by row. */
    int64_t idx[KILN_MAX_DIMS] = {0}, rr = b;
    for (int i = last - 1; i >= 0; i--) {
        idx[i] = rr % c->od[i];
        rr /= c->od[i];
    }
    for (int64_t row = b; row < e; row++) {
        int64_t off = c->base;
        for (int i = 0; i < last; i++) off += idx[i] * c->ist[i];
        for (int i = last - 1; i >= 0; i--) {
            if (++idx[i] < c->od[i]) break;
            idx[i] = 0;
        }
        copy_row(c->in + off * (int64_t)c->esz, c->out + (size_t)(row * len) * c->esz, len,
                 c->ist[last], c->esz);
    }
}

kiln_status kiln__cpu_slice(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e) {
    kiln_slice_plan p;
    kiln_status st = kiln_slice_resolve(n, n->n_in, in, &p, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "node '%s' (Slice)", n->name ? n->name : "?");
        return st;
    }
    const kiln_shape *s = &in[0].shape;
    size_t esz = kiln_dtype_size(in[0].dtype);
    int64_t total = kiln_shape_numel(&out[0].shape);
    if (total == 0) return KILN_OK;
    if (s->ndim == 0) {
        memcpy(out[0].data, in[0].data, esz);
        return KILN_OK;
    }
    slice_ctx c;
    memset(&c, 0, sizeof c);
    c.r = s->ndim;
    c.esz = esz;
    c.in = in[0].data;
    c.out = out[0].data;
    int64_t stride = 1;
    for (int i = s->ndim - 1; i >= 0; i--) {
        c.od[i] = p.count[i];
        c.base += p.start[i] * stride;
        c.ist[i] = p.step[i] * stride;
        stride *= s->d[i];
    }
    int64_t len = c.od[c.r - 1];
    int64_t grain = KILN__CPU_GRAIN / len > 0 ? KILN__CPU_GRAIN / len : 1;
    kiln__cpu_parallel(cpu, total / len, grain, slice_range, &c);
    return KILN_OK;
}
