/* Unary elementwise kernels: activations (kiln_act_apply's definitions, shared by every
 * backend), math functions, and Clip. float32 runs straight loops the compiler vectorizes;
 * float16/bfloat16 convert blocks to float32 and reuse them; float64 computes in double;
 * integer types take the ops ONNX defines on them (Relu, Neg, Abs, Clip) exactly in int64. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

typedef struct {
    int op;
    kiln_dtype dt;
    float alpha, beta;  /* LeakyRelu, HardSigmoid */
    float lo, hi;       /* Clip on float types; lo <= hi */
    double dlo, dhi;    /* Clip on float64 */
    int64_t ilo, ihi;   /* Clip on integer types */
    const void *x;
    void *y;
} unary_ctx;

static inline float as_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t as_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* e^x for x in [-104, 89] (callers clamp: e^-104 is 0 and e^89 inf in float; NaN passes), in
   straight-line code the compiler vectorizes (libm's expf is a call per element). Cephes'
   reduction x = n ln2 + r and polynomial; checked against exp() on every float: under one ulp,
   inf above 88.72, correct subnormals. 2^n is applied in two halves so that n = 128 (results
   near FLT_MAX) and n < -126 (subnormal results) stay representable. */
static inline float exp_core(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + magic;
    int32_t n = (int32_t)(as_bits(t) - as_bits(magic));
    float fn = t - magic;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t h = n >> 1;
    return p * as_float((uint32_t)(h + 127) << 23) * as_float((uint32_t)(n - h + 127) << 23);
}

/* GCC vectorizes a loop of float selects, or a loop of arithmetic, but not selects feeding
   arithmetic (it cannot if-convert them under the default -ftrapping-math). So Sigmoid, Exp,
   LeakyRelu and HardSwish run in blocks: a select-only pass into a small buffer, then an
   arithmetic pass. */
#define BLOCK 256

static void exp_block(const float *x, float *y, int64_t n, int sigmoid) {
    float t[BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        const float s = sigmoid ? -1.0f : 1.0f;
        for (int64_t j = 0; j < m; j++) {
            float v = s * x[i0 + j];
            t[j] = v < -104.0f ? -104.0f : (v > 89.0f ? 89.0f : v);
        }
        if (sigmoid)
            for (int64_t j = 0; j < m; j++) y[i0 + j] = 1.0f / (1.0f + exp_core(t[j]));
        else
            for (int64_t j = 0; j < m; j++) y[i0 + j] = exp_core(t[j]);
    }
}

/* HardSwish x * max(0, min(1, x / 6 + 1/2)), as kiln_act_apply, in the two-pass form. */
static void hard_swish_block(const float *x, float *y, int64_t n) {
    float t[BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < m; j++) {
            float v = x[i0 + j] / 6.0f + 0.5f;
            t[j] = v < 0 ? 0 : (v > 1 ? 1 : v);
        }
        for (int64_t j = 0; j < m; j++) y[i0 + j] = x[i0 + j] * t[j];
    }
}

/* LeakyRelu x < 0 ? alpha * x : x, as kiln_act_apply (bit for bit: the factor is alpha or 1),
   in the two-pass form. */
static void leaky_relu_block(const float *x, float *y, int64_t n, float alpha) {
    float t[BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < m; j++) t[j] = x[i0 + j] < 0 ? alpha : 1.0f;
        for (int64_t j = 0; j < m; j++) y[i0 + j] = x[i0 + j] * t[j];
    }
}

static void unary_f32(const unary_ctx *c, const float *x, float *y, int64_t n) {
#define LOOP(EXPR)                                                                               \
    for (int64_t i = 0; i < n; i++) {                                                            \
        float v = x[i];                                                                          \
        y[i] = (EXPR);                                                                           \
    }                                                                                            \
    break;
    /* Each case builds its kiln_act with a constant type, so the switch inside kiln_act_apply
       folds away and the loop vectorizes. */
#define ACT(TYPE, A, B)                                                                          \
    {                                                                                            \
        const kiln_act a = {TYPE, A, B};                                                         \
        LOOP(kiln_act_apply(&a, v))                                                              \
    }
    switch (c->op) {
    case KILN_OP_RELU: ACT(KILN_ACT_RELU, 0, 0)
    case KILN_OP_LEAKY_RELU: leaky_relu_block(x, y, n, c->alpha); break;
    case KILN_OP_CLIP: ACT(KILN_ACT_CLIP, c->lo, c->hi)
    case KILN_OP_SIGMOID: exp_block(x, y, n, 1); break;
    case KILN_OP_HARD_SIGMOID: ACT(KILN_ACT_HARD_SIGMOID, c->alpha, c->beta)
    case KILN_OP_HARD_SWISH: hard_swish_block(x, y, n); break;
    case KILN_OP_TANH: ACT(KILN_ACT_TANH, 0, 0)
    case KILN_OP_ERF: LOOP(erff(v))
    case KILN_OP_EXP: exp_block(x, y, n, 0); break;
    case KILN_OP_LOG: LOOP(logf(v))
    case KILN_OP_NEG: LOOP(-v)
    case KILN_OP_ABS: LOOP(fabsf(v))
    case KILN_OP_SQRT: LOOP(sqrtf(v))
    case KILN_OP_RECIPROCAL: LOOP(1.0f / v)
    case KILN_OP_FLOOR: LOOP(floorf(v))
    case KILN_OP_CEIL: LOOP(ceilf(v))
    default: break;
    }
#undef ACT
#undef LOOP
}

static double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

static double unary_f64(const unary_ctx *c, double v) {
    switch (c->op) {
    case KILN_OP_RELU: return v > 0 ? v : 0;
    case KILN_OP_LEAKY_RELU: return v < 0 ? c->alpha * v : v;
    case KILN_OP_CLIP: return v < c->dlo ? c->dlo : (v > c->dhi ? c->dhi : v);
    case KILN_OP_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case KILN_OP_HARD_SIGMOID: return clamp01(c->alpha * v + c->beta);
    case KILN_OP_HARD_SWISH: return v * clamp01(v / 6.0 + 0.5);
    case KILN_OP_TANH: return tanh(v);
    case KILN_OP_ERF: return erf(v);
    case KILN_OP_EXP: return exp(v);
    case KILN_OP_LOG: return log(v);
    case KILN_OP_NEG: return -v;
    case KILN_OP_ABS: return fabs(v);
    case KILN_OP_SQRT: return sqrt(v);
    case KILN_OP_RECIPROCAL: return 1.0 / v;
    case KILN_OP_FLOOR: return floor(v);
    case KILN_OP_CEIL: return ceil(v);
    default: return v;
    }
}

/* Integers wrap (Neg and Abs of the most negative value give it back, as in numpy). */
static int64_t unary_int(const unary_ctx *c, int64_t v) {
    switch (c->op) {
    case KILN_OP_RELU: return v > 0 ? v : 0;
    case KILN_OP_NEG: return (int64_t)(0u - (uint64_t)v);
    case KILN_OP_ABS: return v < 0 ? (int64_t)(0u - (uint64_t)v) : v;
    case KILN_OP_CLIP: return v < c->ilo ? c->ilo : (v > c->ihi ? c->ihi : v);
    default: return v;
    }
}

static void unary_range(void *arg, int64_t b, int64_t e) {
    const unary_ctx *c = arg;
    switch (c->dt) {
    case KILN_F32: unary_f32(c, (const float *)c->x + b, (float *)c->y + b, e - b); break;
    case KILN_F16:
    case KILN_BF16: {
        const uint16_t *x = c->x;
        uint16_t *y = c->y;
        float buf[256];
        int f16 = c->dt == KILN_F16;
        for (int64_t i = b; i < e; i += 256) {
            int64_t m = e - i < 256 ? e - i : 256;
            if (f16) kiln__f16_to_f32_n(x + i, buf, m);
            else kiln__bf16_to_f32_n(x + i, buf, m);
            unary_f32(c, buf, buf, m);
            if (f16) kiln__f32_to_f16_n(buf, y + i, m);
            else kiln__f32_to_bf16_n(buf, y + i, m);
        }
        break;
    }
    case KILN_F64: {
        const double *x = c->x;
        double *y = c->y;
        for (int64_t i = b; i < e; i++) y[i] = unary_f64(c, x[i]);
        break;
    }
    default:
        for (int64_t i = b; i < e; i++)
            kiln__store_int(c->y, c->dt, i, unary_int(c, kiln_elem_get_i64(c->x, c->dt, i)));
    }
}

/* Clip's bounds: inputs 1 and 2 (opset >= 11, each optional), else the attributes (opset < 11),
   else none. min > max gives max everywhere, as numpy.clip. */
static void clip_bounds(const kiln_node *n, const kiln_view *in, unary_ctx *c) {
    int has_lo = 0, has_hi = 0;
    double lo = 0, hi = 0;
    int64_t ilo = INT64_MIN, ihi = INT64_MAX;
    for (int k = 1; k <= 2 && k < n->n_in; k++) {
        if (in[k].shape.ndim < 0 || !in[k].data || kiln_shape_numel(&in[k].shape) < 1) continue;
        double v = kiln_elem_get(in[k].data, in[k].dtype, 0);
        int64_t iv = kiln_elem_get_i64(in[k].data, in[k].dtype, 0);
        if (k == 1) has_lo = 1, lo = v, ilo = iv;
        else has_hi = 1, hi = v, ihi = iv;
    }
    if (!has_lo && n->a.unary.has_min) has_lo = 1, lo = n->a.unary.min, ilo = (int64_t)lo;
    if (!has_hi && n->a.unary.has_max) has_hi = 1, hi = n->a.unary.max, ihi = (int64_t)hi;
    c->dlo = has_lo ? lo : -INFINITY;
    c->dhi = has_hi ? hi : INFINITY;
    if (c->dlo > c->dhi) c->dlo = c->dhi;
    if (ilo > ihi) ilo = ihi;
    c->lo = (float)c->dlo;
    c->hi = (float)c->dhi;
    c->ilo = ilo;
    c->ihi = ihi;
}

kiln_status kiln__cpu_unary(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e) {
    kiln_dtype dt = in[0].dtype;
    int int_ok = n->op == KILN_OP_RELU || n->op == KILN_OP_NEG || n->op == KILN_OP_ABS ||
                 n->op == KILN_OP_CLIP;
    KILN_TRY(kiln__cpu_check_dtype(n, dt, int_ok, e));
    unary_ctx c;
    memset(&c, 0, sizeof c);
    c.op = n->op;
    c.dt = dt;
    c.alpha = n->a.unary.alpha;
    c.beta = n->a.unary.beta;
    c.x = in[0].data;
    c.y = out[0].data;
    if (n->op == KILN_OP_CLIP) clip_bounds(n, in, &c);
    int64_t cnt = kiln_shape_numel(&out[0].shape);
    /* Integer and double paths are slow scalar code used by shape computations: no threads. */
    if (dt == KILN_F32 || dt == KILN_F16 || dt == KILN_BF16)
        kiln__cpu_parallel(cpu, cnt, KILN__CPU_GRAIN, unary_range, &c);
    else
        unary_range(&c, 0, cnt);
    return KILN_OK;
}
