#include "core/dtype.h"

#include <math.h>
#include <string.h>

const char *kiln_dtype_name(kiln_dtype t) {
    switch (t) {
    case KILN_F32: return "float32";
    case KILN_U8: return "uint8";
    case KILN_I8: return "int8";
    case KILN_U16: return "uint16";
    case KILN_I16: return "int16";
    case KILN_I32: return "int32";
    case KILN_I64: return "int64";
    case KILN_BOOL: return "bool";
    case KILN_F16: return "float16";
    case KILN_F64: return "float64";
    case KILN_U32: return "uint32";
    case KILN_U64: return "uint64";
    case KILN_BF16: return "bfloat16";
    case KILN_F8E4M3: return "float8e4m3";
    default: return "undefined";
    }
}

size_t kiln_dtype_size(kiln_dtype t) {
    switch (t) {
    case KILN_U8: case KILN_I8: case KILN_BOOL: case KILN_F8E4M3: return 1;
    case KILN_U16: case KILN_I16: case KILN_F16: case KILN_BF16: return 2;
    case KILN_F32: case KILN_I32: case KILN_U32: return 4;
    case KILN_I64: case KILN_F64: case KILN_U64: return 8;
    default: return 0;
    }
}

kiln_dtype kiln_dtype_parse(const char *s) {
    static const struct { const char *name; kiln_dtype t; } names[] = {
        {"float32", KILN_F32}, {"f32", KILN_F32},   {"float", KILN_F32},   {"float16", KILN_F16},
        {"f16", KILN_F16},     {"half", KILN_F16},  {"bfloat16", KILN_BF16}, {"bf16", KILN_BF16},
        {"float64", KILN_F64}, {"f64", KILN_F64},   {"double", KILN_F64},  {"int8", KILN_I8},
        {"uint8", KILN_U8},    {"int16", KILN_I16}, {"uint16", KILN_U16},  {"int32", KILN_I32},
        {"uint32", KILN_U32},  {"int64", KILN_I64}, {"uint64", KILN_U64},  {"bool", KILN_BOOL},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) return names[i].t;
    return KILN_DTYPE_UNDEFINED;
}

int kiln_dtype_is_float(kiln_dtype t) {
    return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16 || t == KILN_F64 || t == KILN_F8E4M3;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t kiln_f32_to_f16(float f) {
    uint32_t x = f2u(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);          /* overflow -> inf */
    if (e <= 0) {                                             /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;   /* may carry into exponent: ok */
    return (uint16_t)(sign | h);
}

float kiln_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (!man) return u2f(sign);
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return u2f(sign | 0x7f800000u | (man << 13));
    return u2f(sign | ((exp - 15 + 127) << 23) | (man << 13));
}

uint16_t kiln_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float kiln_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

double kiln_elem_get(const void *d, kiln_dtype t, int64_t i) {
    switch (t) {
    case KILN_F32: return ((const float *)d)[i];
    case KILN_F64: return ((const double *)d)[i];
    case KILN_F16: return kiln_f16_to_f32(((const uint16_t *)d)[i]);
    case KILN_BF16: return kiln_bf16_to_f32(((const uint16_t *)d)[i]);
    case KILN_I8: return ((const int8_t *)d)[i];
    case KILN_U8: return ((const uint8_t *)d)[i];
    case KILN_BOOL: return ((const uint8_t *)d)[i] != 0;
    case KILN_I16: return ((const int16_t *)d)[i];
    case KILN_U16: return ((const uint16_t *)d)[i];
    case KILN_I32: return ((const int32_t *)d)[i];
    case KILN_U32: return ((const uint32_t *)d)[i];
    case KILN_I64: return (double)((const int64_t *)d)[i];
    case KILN_U64: return (double)((const uint64_t *)d)[i];
    default: return 0;
    }
}

int64_t kiln_elem_get_i64(const void *d, kiln_dtype t, int64_t i) {
    switch (t) {
    case KILN_I64: return ((const int64_t *)d)[i];
    case KILN_U64: return (int64_t)((const uint64_t *)d)[i];
    default: return (int64_t)kiln_elem_get(d, t, i);
    }
}

/* Float to integer as C casts do, but saturating, so that NaN or huge values are defined. */
static int64_t sat_i64(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v < lo) return (int64_t)lo;
    if (v > hi) return (int64_t)hi;
    return (int64_t)v;
}

void kiln_elem_set(void *d, kiln_dtype t, int64_t i, double v) {
    switch (t) {
    case KILN_F32: ((float *)d)[i] = (float)v; break;
    case KILN_F64: ((double *)d)[i] = v; break;
    case KILN_F16: ((uint16_t *)d)[i] = kiln_f32_to_f16((float)v); break;
    case KILN_BF16: ((uint16_t *)d)[i] = kiln_f32_to_bf16((float)v); break;
    case KILN_I8: ((int8_t *)d)[i] = (int8_t)sat_i64(v, -128, 127); break;
    case KILN_U8: ((uint8_t *)d)[i] = (uint8_t)sat_i64(v, 0, 255); break;
    case KILN_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case KILN_I16: ((int16_t *)d)[i] = (int16_t)sat_i64(v, -32768, 32767); break;
    case KILN_U16: ((uint16_t *)d)[i] = (uint16_t)sat_i64(v, 0, 65535); break;
    case KILN_I32: ((int32_t *)d)[i] = (int32_t)sat_i64(v, -2147483648.0, 2147483647.0); break;
    case KILN_U32: ((uint32_t *)d)[i] = (uint32_t)sat_i64(v, 0, 4294967295.0); break;
    case KILN_I64: ((int64_t *)d)[i] = sat_i64(v, -9.2233720368547758e18, 9.2233720368547748e18); break;
    case KILN_U64: ((uint64_t *)d)[i] = (uint64_t)sat_i64(v, 0, 9.2233720368547748e18); break;
    default: break;
    }
}
