/* Pad in the four ONNX modes (constant, reflect, edge, wrap), with negative pads cropping.
 *
 * For every output index along every dimension a small table says which input index it reads
 * (-1: the constant). reflect/wrap follow numpy.pad, which the ONNX reference uses: pads wider
 * than the axis keep reflecting (period 2n - 2) or wrapping (period n). An output row then is
 * its border elements one by one and the interior as one memcpy. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"
#include "core/tensor_params.h"

typedef struct {
    int r;
    int64_t od[KILN_MAX_DIMS], ist[KILN_MAX_DIMS];
    const int64_t *map[KILN_MAX_DIMS];
    int64_t lo, hi, shift;   /* last dim: outputs [lo, hi) read input j - shift */
    size_t esz;
    const char *in;
    char *out;
    unsigned char value[8];  /* the constant, in the data type */
} pad_ctx;

static int64_t source_index(int mode, int64_t i, int64_t n) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case KILN_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case KILN_PAD_WRAP: return ((i % n) + n) % n;
    case KILN_PAD_REFLECT: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1), k = ((i % period) + period) % period;
        return k < n ? k : period - k;
    }
    default: return -1;
    }
}

static void put(const pad_ctx *c, char *dst, int64_t src_off) {
    if (src_off < 0) memcpy(dst, c->value, c->esz);
    else memcpy(dst, c->in + (size_t)src_off * c->esz, c->esz);
}

/* n copies of the constant. */
static void fill(const pad_ctx *c, char *dst, int64_t n) {
    switch (c->esz) {
#define FILL(T)                                                                                  \
    {                                                                                            \
        T v, *d = (T *)dst;                                                                      \
        memcpy(&v, c->value, sizeof v);                                                          \
        for (int64_t j = 0; j < n; j++) d[j] = v;                                                \
    }                                                                                            \
    break;
    case 1: memset(dst, c->value[0], (size_t)n); break;
    case 2: FILL(uint16_t)
    case 4: FILL(uint32_t)
    case 8: FILL(uint64_t)
#undef FILL
    default:
        for (int64_t j = 0; j < n; j++) memcpy(dst + (size_t)j * c->esz, c->value, c->esz);
    }
}

static void pad_range(void *arg, int64_t b, int64_t e) {
    const pad_ctx *c = arg;
    int last = c->r - 1;
    int64_t len = c->od[last];
    /* Output row b's index over the outer dims, then counted up row by row. */
    int64_t idx[KILN_MAX_DIMS] = {0}, rr = b;
    for (int i = last - 1; i >= 0; i--) {
        idx[i] = rr % c->od[i];
        rr /= c->od[i];
    }
    for (int64_t row = b; row < e; row++) {
        char *dst = c->out + (size_t)(row * len) * c->esz;
        int64_t off = 0;
        int constant_row = 0;
        for (int i = 0; i < last; i++) {
            int64_t src = c->map[i][idx[i]];
            if (src < 0) constant_row = 1;
            off += src * c->ist[i];
        }
        for (int i = last - 1; i >= 0; i--) {
            if (++idx[i] < c->od[i]) break;
            idx[i] = 0;
        }
        if (constant_row) {
            fill(c, dst, len);
            continue;
        }
        const int64_t *m = c->map[last];
        for (int64_t j = 0; j < c->lo; j++) put(c, dst + (size_t)j * c->esz, m[j] < 0 ? -1 : off + m[j]);
        if (c->hi > c->lo)
            memcpy(dst + (size_t)c->lo * c->esz, c->in + (size_t)(off + c->lo - c->shift) * c->esz,
                   (size_t)(c->hi - c->lo) * c->esz);
        for (int64_t j = c->hi > c->lo ? c->hi : c->lo; j < len; j++)
            put(c, dst + (size_t)j * c->esz, m[j] < 0 ? -1 : off + m[j]);
    }
}

kiln_status kiln__cpu_pad(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                          kiln_view *out, kiln_err *e) {
    kiln_pad_plan p;
    kiln_status st = kiln_pad_resolve(n, n->n_in, in, &p, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "node '%s' (Pad)", n->name ? n->name : "?");
        return st;
    }
    const kiln_shape *s = &in[0].shape;
    int64_t total = kiln_shape_numel(&out[0].shape);
    if (total == 0) return KILN_OK;
    pad_ctx c;
    memset(&c, 0, sizeof c);
    c.esz = kiln_dtype_size(in[0].dtype);
    c.in = in[0].data;
    c.out = out[0].data;
    if (n->n_in > 2 && in[2].shape.ndim >= 0 && in[2].data)
        memcpy(c.value, in[2].data, c.esz);
    else
        kiln_elem_set(c.value, in[0].dtype, 0, n->a.pad.value);
    if (s->ndim == 0) {
        memcpy(c.out, c.in, c.esz);
        return KILN_OK;
    }
    c.r = s->ndim;
    int64_t nmap = 0;
    for (int i = 0; i < c.r; i++) nmap += out[0].shape.d[i];
    int64_t *maps = kiln_cpu_scratch(cpu, 0, sizeof(int64_t) * (size_t)nmap);
    if (!maps) return kiln_err_set(e, KILN_ERR_NOMEM, "node '%s': out of memory", n->name);
    int64_t stride = 1;
    for (int i = c.r - 1; i >= 0; i--) {
        c.od[i] = out[0].shape.d[i];
        c.ist[i] = stride;
        stride *= s->d[i];
    }
    for (int i = 0; i < c.r; i++) {
        int64_t *m = maps;
        maps += c.od[i];
        for (int64_t o = 0; o < c.od[i]; o++) m[o] = source_index(n->a.pad.mode, o - p.begin[i], s->d[i]);
        c.map[i] = m;
    }
    /* The last dim's interior: outputs whose input index is in range without folding. */
    int last = c.r - 1;
    c.shift = p.begin[last];
    c.lo = p.begin[last] > 0 ? p.begin[last] : 0;
    c.hi = p.begin[last] + s->d[last];
    if (c.hi > c.od[last]) c.hi = c.od[last];
    if (c.hi < c.lo) c.hi = c.lo;
    int64_t len = c.od[last];
    int64_t grain = KILN__CPU_GRAIN / len > 0 ? KILN__CPU_GRAIN / len : 1;
    kiln__cpu_parallel(cpu, total / len, grain, pad_range, &c);
    return KILN_OK;
}
