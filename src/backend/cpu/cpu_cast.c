/* Cast between numeric types. float -> integer truncates toward zero and saturates (NaN -> 0),
 * which defines what C leaves undefined; integer -> integer wraps like numpy's astype; anything
 * -> bool is (x != 0). The common pairs have straight loops; the rest go element by element
 * through dtype.h's converters. */
#include <string.h>

#include "backend/cpu/cpu_tensor.h"

typedef struct {
    kiln_dtype from, to;
    const void *x;
    void *y;
} cast_ctx;

static inline int64_t f2i64(float v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18f) return INT64_MAX;
    if (v < -9.2233720368547758e18f) return INT64_MIN;
    return (int64_t)v;
}

static inline int32_t f2i32(float v) {
    if (v != v) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v < -2147483648.0f) return INT32_MIN;
    return (int32_t)v;
}

/* 1 when the pair has a fast loop (and it ran). */
static int cast_fast(const cast_ctx *c, int64_t b, int64_t e) {
#define PAIR(F, T) (c->from == (F) && c->to == (T))
#define LOOP(TI, TO, EXPR)                                                                       \
    {                                                                                            \
        const TI *x = c->x;                                                                      \
        TO *y = c->y;                                                                            \
        for (int64_t i = b; i < e; i++) {                                                        \
            TI v = x[i];                                                                         \
            y[i] = (EXPR);                                                                       \
        }                                                                                        \
        return 1;                                                                                \
    }
    if (PAIR(KILN_F32, KILN_I64)) LOOP(float, int64_t, f2i64(v))
    if (PAIR(KILN_F32, KILN_I32)) LOOP(float, int32_t, f2i32(v))
    if (PAIR(KILN_I64, KILN_F32)) LOOP(int64_t, float, (float)v)
    if (PAIR(KILN_I32, KILN_F32)) LOOP(int32_t, float, (float)v)
    if (PAIR(KILN_I64, KILN_I32)) LOOP(int64_t, int32_t, (int32_t)v)
    if (PAIR(KILN_I32, KILN_I64)) LOOP(int32_t, int64_t, v)
#define CONV(F, T, fn)                                                                           \
    if (PAIR(F, T)) {                                                                            \
        fn((const void *)((const char *)c->x + b * (int64_t)kiln_dtype_size(F)),                 \
           (void *)((char *)c->y + b * (int64_t)kiln_dtype_size(T)), e - b);                     \
        return 1;                                                                                \
    }
    CONV(KILN_F32, KILN_F16, kiln__f32_to_f16_n)
    CONV(KILN_F16, KILN_F32, kiln__f16_to_f32_n)
    CONV(KILN_F32, KILN_BF16, kiln__f32_to_bf16_n)
    CONV(KILN_BF16, KILN_F32, kiln__bf16_to_f32_n)
#undef CONV
    if (PAIR(KILN_F32, KILN_F64)) LOOP(float, double, v)
    if (PAIR(KILN_F64, KILN_F32)) LOOP(double, float, (float)v)
    if (PAIR(KILN_BOOL, KILN_F32)) LOOP(uint8_t, float, v != 0)
    if (PAIR(KILN_F32, KILN_BOOL)) LOOP(float, uint8_t, v != 0)
    if (PAIR(KILN_U8, KILN_F32)) LOOP(uint8_t, float, v)
#undef LOOP
#undef PAIR
    return 0;
}

static void cast_range(void *arg, int64_t b, int64_t e) {
    const cast_ctx *c = arg;
    if (cast_fast(c, b, e)) return;
    int from_int = !kiln_dtype_is_float(c->from), to_int = !kiln_dtype_is_float(c->to);
    for (int64_t i = b; i < e; i++) {
        if (from_int && to_int) kiln__store_int(c->y, c->to, i, kiln_elem_get_i64(c->x, c->from, i));
        else if (c->to == KILN_BOOL) ((uint8_t *)c->y)[i] = kiln_elem_get(c->x, c->from, i) != 0;
        else kiln_elem_set(c->y, c->to, i, kiln_elem_get(c->x, c->from, i));
    }
}

kiln_status kiln__cpu_cast(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                           kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_check_dtype(n, in[0].dtype, 1, e));
    KILN_TRY(kiln__cpu_check_dtype(n, out[0].dtype, 1, e));
    int64_t cnt = kiln_shape_numel(&out[0].shape);
    if (in[0].dtype == out[0].dtype) {
        kiln__cpu_copy(cpu, out[0].data, in[0].data, (size_t)cnt * kiln_dtype_size(in[0].dtype));
        return KILN_OK;
    }
    cast_ctx c = {in[0].dtype, out[0].dtype, in[0].data, out[0].data};
    kiln__cpu_parallel(cpu, cnt, KILN__CPU_GRAIN, cast_range, &c);
    return KILN_OK;
}
