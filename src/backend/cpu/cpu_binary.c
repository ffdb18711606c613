/* Broadcasting elementwise kernels: Add, Sub, Mul, Div, Pow, PRelu, Equal, variadic Min/Max,
 * and Where. Row kernels (see cpu_tensor.h) are generated per op for float32, float64, int32
 * and int64; other types and mixed-type Pow go through double.
 *
 * Integer semantics: + - * wrap (computed unsigned; signed overflow is undefined in C), Div
 * truncates toward zero like C and ONNX, x / 0 gives 0 (as numpy) and INT_MIN / -1 gives
 * INT_MIN. Min/Max propagate NaN (numpy.minimum/maximum). */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

/* One row function: x from in[0], y from in[1], each a vector (s = 1) or one value (s = 0). */
#define ROW_FN(name, TA, TB, TO, EXPR)                                                           \
    static void name(const void *ctx, const void *const *in, const int *s, void *out,            \
                     int64_t n) {                                                                \
        (void)ctx;                                                                               \
        const TA *a = in[0];                                                                     \
        const TB *b = in[1];                                                                     \
        TO *o = out;                                                                             \
        if (s[0] && s[1]) {                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TA x = a[i];                                                                     \
                TB y = b[i];                                                                     \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (s[0]) {                                                                       \
            TB y = b[0];                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TA x = a[i];                                                                     \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (s[1]) {                                                                       \
            TA x = a[0];                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TB y = b[i];                                                                     \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else {                                                                                 \
            TA x = a[0];                                                                         \
            TB y = b[0];                                                                         \
            TO v = (EXPR);                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = v;                                            \
        }                                                                                        \
    }

#define MIN_NAN(x, y) (((x) < (y) || (x) != (x)) ? (x) : (y))
#define MAX_NAN(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))

/* Float types: the eight ops in T. */
#define FLOAT_ROWS(T, sfx, POW)                                                                  \
    ROW_FN(add_##sfx, T, T, T, x + y)                                                            \
    ROW_FN(sub_##sfx, T, T, T, x - y)                                                            \
    ROW_FN(mul_##sfx, T, T, T, x * y)                                                            \
    ROW_FN(div_##sfx, T, T, T, x / y)                                                            \
    ROW_FN(min_##sfx, T, T, T, MIN_NAN(x, y))                                                    \
    ROW_FN(max_##sfx, T, T, T, MAX_NAN(x, y))                                                    \
    ROW_FN(pow_##sfx, T, T, T, POW(x, y))                                                        \
    ROW_FN(prelu_##sfx, T, T, T, x < 0 ? x * y : x)                                              \
    ROW_FN(eq_##sfx, T, T, uint8_t, x == y)

FLOAT_ROWS(float, f32, powf)
FLOAT_ROWS(double, f64, pow)

/* x / -1 is -x, which wraps for the most negative value: negate in unsigned arithmetic. */
static inline int32_t div_int32_t(int32_t x, int32_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int32_t)(0u - (uint32_t)x);
    return x / y;
}
static inline int64_t div_int64_t(int64_t x, int64_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int64_t)(0u - (uint64_t)x);
    return x / y;
}

/* x^y for integers by squaring (wrapping); negative y truncates 1 / x^|y| toward zero. */
static inline int64_t ipow(int64_t x, int64_t y) {
    if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
    uint64_t r = 1, b = (uint64_t)x;
    while (y) {
        if (y & 1) r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

#define INT_ROWS(T, U, sfx)                                                                      \
    ROW_FN(add_##sfx, T, T, T, (T)((U)x + (U)y))                                                 \
    ROW_FN(sub_##sfx, T, T, T, (T)((U)x - (U)y))                                                 \
    ROW_FN(mul_##sfx, T, T, T, (T)((U)x * (U)y))                                                 \
    ROW_FN(div_##sfx, T, T, T, div_##T(x, y))                                                    \
    ROW_FN(min_##sfx, T, T, T, x < y ? x : y)                                                    \
    ROW_FN(max_##sfx, T, T, T, x > y ? x : y)                                                    \
    ROW_FN(pow_##sfx, T, T, T, (T)ipow(x, y))                                                    \
    ROW_FN(prelu_##sfx, T, T, T, x < 0 ? (T)((U)x * (U)y) : x)                                   \
    ROW_FN(eq_##sfx, T, T, uint8_t, x == y)

INT_ROWS(int32_t, uint32_t, i32)
INT_ROWS(int64_t, uint64_t, i64)

/* Equal on bool. */
ROW_FN(eq_b8, uint8_t, uint8_t, uint8_t, (x != 0) == (y != 0))

/* Everything else: integer types in int64 (wrapping on store), the rest through double. */
typedef struct {
    int op;
    kiln_dtype ta, tb, to;
} generic_ctx;

static int64_t int_op(int op, int64_t x, int64_t y) {
    switch (op) {
    case KILN_OP_ADD: return (int64_t)((uint64_t)x + (uint64_t)y);
    case KILN_OP_SUB: return (int64_t)((uint64_t)x - (uint64_t)y);
    case KILN_OP_MUL: return (int64_t)((uint64_t)x * (uint64_t)y);
    case KILN_OP_DIV: return div_int64_t(x, y);
    case KILN_OP_MIN: return x < y ? x : y;
    case KILN_OP_MAX: return x > y ? x : y;
    case KILN_OP_POW: return ipow(x, y);
    case KILN_OP_PRELU: return x < 0 ? (int64_t)((uint64_t)x * (uint64_t)y) : x;
    case KILN_OP_EQUAL: return x == y;
    default: return 0;
    }
}

static double float_op(int op, double x, double y) {
    switch (op) {
    case KILN_OP_ADD: return x + y;
    case KILN_OP_SUB: return x - y;
    case KILN_OP_MUL: return x * y;
    case KILN_OP_DIV: return x / y;
    case KILN_OP_MIN: return MIN_NAN(x, y);
    case KILN_OP_MAX: return MAX_NAN(x, y);
    case KILN_OP_POW: return pow(x, y);
    case KILN_OP_PRELU: return x < 0 ? x * y : x;
    case KILN_OP_EQUAL: return x == y;
    default: return 0;
    }
}

static void generic_row(const void *ctx, const void *const *in, const int *s, void *out,
                        int64_t n) {
    const generic_ctx *c = ctx;
    int ints = !kiln_dtype_is_float(c->ta) && !kiln_dtype_is_float(c->tb) &&
               !kiln_dtype_is_float(c->to);
    for (int64_t i = 0; i < n; i++) {
        if (ints) {
            int64_t x = kiln_elem_get_i64(in[0], c->ta, i * s[0]);
            int64_t y = kiln_elem_get_i64(in[1], c->tb, i * s[1]);
            kiln__store_int(out, c->to, i, int_op(c->op, x, y));
        } else {
            double x = kiln_elem_get(in[0], c->ta, i * s[0]);
            double y = kiln_elem_get(in[1], c->tb, i * s[1]);
            kiln_elem_set(out, c->to, i, float_op(c->op, x, y));
        }
    }
}

static kiln__row_fn typed_row(int op, kiln_dtype t) {
#define PICK(sfx)                                                                                \
    switch (op) {                                                                                \
    case KILN_OP_ADD: return add_##sfx;                                                          \
    case KILN_OP_SUB: return sub_##sfx;                                                          \
    case KILN_OP_MUL: return mul_##sfx;                                                          \
    case KILN_OP_DIV: return div_##sfx;                                                          \
    case KILN_OP_MIN: return min_##sfx;                                                          \
    case KILN_OP_MAX: return max_##sfx;                                                          \
    case KILN_OP_POW: return pow_##sfx;                                                          \
    case KILN_OP_PRELU: return prelu_##sfx;                                                      \
    case KILN_OP_EQUAL: return eq_##sfx;                                                         \
    default: return NULL;                                                                        \
    }
    switch (t) {
    case KILN_F32: PICK(f32)
    case KILN_F64: PICK(f64)
    case KILN_I32: PICK(i32)
    case KILN_I64: PICK(i64)
    case KILN_BOOL: return op == KILN_OP_EQUAL ? eq_b8 : NULL;
    default: return NULL;
    }
#undef PICK
}

/* out = op(a, b) with broadcasting; a may be out itself (variadic Min/Max accumulate). */
static kiln_status binary(kiln_cpu *cpu, const kiln_node *n, int op, const kiln_view *a,
                          const kiln_view *b, kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_check_dtype(n, a->dtype, 1, e));
    KILN_TRY(kiln__cpu_check_dtype(n, b->dtype, 1, e));
    if (a->dtype == KILN_BOOL && op != KILN_OP_EQUAL)
        return kiln__cpu_check_dtype(n, a->dtype, 0, e);
    generic_ctx g = {op, a->dtype, b->dtype, out->dtype};
    kiln__row_fn row = a->dtype == b->dtype ? typed_row(op, a->dtype) : NULL;
    if (!row) row = generic_row;
    kiln_shape shapes[2] = {a->shape, b->shape};
    kiln__bcast bc;
    kiln__bcast_init(&bc, &out->shape, 2, shapes);
    const void *p[2] = {a->data, b->data};
    size_t esz[2] = {kiln_dtype_size(a->dtype), kiln_dtype_size(b->dtype)};
    kiln__bcast_run(cpu, &bc, row, &g, p, esz, out->data, kiln_dtype_size(out->dtype));
    return KILN_OK;
}

kiln_status kiln__cpu_binary(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e) {
    return binary(cpu, n, n->op, &in[0], &in[1], &out[0], e);
}

kiln_status kiln__cpu_variadic(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                               kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_check_dtype(n, out[0].dtype, 1, e));
    /* Broadcast the first input into the output, then fold the others in place. */
    kiln__bcast_copy(cpu, &in[0], &out[0]);
    kiln_view acc = out[0];
    for (int i = 1; i < n->n_in; i++) KILN_TRY(binary(cpu, n, n->op, &acc, &in[i], &out[0], e));
    return KILN_OK;
}

/* Where: select by element size, any type. */
#define WHERE_ROW(T)                                                                             \
    static void where_##T(const void *ctx, const void *const *in, const int *s, void *out,       \
                          int64_t n) {                                                           \
        (void)ctx;                                                                               \
        const uint8_t *c = in[0];                                                                \
        const T *x = in[1], *y = in[2];                                                          \
        T *o = out;                                                                              \
        int64_t sc = s[0], sx = s[1], sy = s[2];                                                 \
        for (int64_t i = 0; i < n; i++) o[i] = c[i * sc] ? x[i * sx] : y[i * sy];                \
    }
WHERE_ROW(uint8_t)
WHERE_ROW(uint16_t)
WHERE_ROW(uint32_t)
WHERE_ROW(uint64_t)

kiln_status kiln__cpu_where(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e) {
    kiln__row_fn row;
    switch (kiln_dtype_size(out[0].dtype)) {
    case 1: row = where_uint8_t; break;
    case 2: row = where_uint16_t; break;
    case 4: row = where_uint32_t; break;
    case 8: row = where_uint64_t; break;
    default: return kiln__cpu_check_dtype(n, out[0].dtype, 1, e);
    }
    kiln_shape shapes[3] = {in[0].shape, in[1].shape, in[2].shape};
    kiln__bcast bc;
    kiln__bcast_init(&bc, &out[0].shape, 3, shapes);
    const void *p[3] = {in[0].data, in[1].data, in[2].data};
    size_t esz[3] = {1, kiln_dtype_size(in[1].dtype), kiln_dtype_size(in[2].dtype)};
    kiln__bcast_run(cpu, &bc, row, NULL, p, esz, out[0].data, kiln_dtype_size(out[0].dtype));
    return KILN_OK;
}
