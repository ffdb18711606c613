/* Unary elementwise kernels: activations (through kiln_act_apply, the definition every backend
 * shares), math functions, and Clip. float32 runs straight loops the compiler vectorizes;
 * float16/bfloat16 convert blocks to float32 and reuse them; float64 computes in double;
 * integer types take the ops ONNX defines on them (Relu, Neg, Abs, Clip) exactly in int64. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

typedef struct {
    int op;
    kiln_dtype dt;
    float alpha, beta;  /* LeakyRelu, HardSigmoid */
    float lo, hi;       /* Clip on float types */
    double dlo, dhi;    /* Clip on float64 */
    int64_t ilo, ihi;   /* Clip on integer types */
    const void *x;
    void *y;
} unary_ctx;

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
    case KILN_OP_LEAKY_RELU: ACT(KILN_ACT_LEAKY_RELU, c->alpha, 0)
    case KILN_OP_CLIP: ACT(KILN_ACT_CLIP, c->lo, c->hi)
    case KILN_OP_SIGMOID: ACT(KILN_ACT_SIGMOID, 0, 0)
    case KILN_OP_HARD_SIGMOID: ACT(KILN_ACT_HARD_SIGMOID, c->alpha, c->beta)
    case KILN_OP_HARD_SWISH: ACT(KILN_ACT_HARD_SWISH, 0, 0)
    case KILN_OP_TANH: ACT(KILN_ACT_TANH, 0, 0)
    case KILN_OP_ERF: LOOP(erff(v))
    case KILN_OP_EXP: LOOP(expf(v))
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
            for (int64_t j = 0; j < m; j++)
                buf[j] = f16 ? kiln_f16_to_f32(x[i + j]) : kiln_bf16_to_f32(x[i + j]);
            unary_f32(c, buf, buf, m);
            for (int64_t j = 0; j < m; j++)
                y[i + j] = f16 ? kiln_f32_to_f16(buf[j]) : kiln_f32_to_bf16(buf[j]);
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
