/* dtype.h — element types: sizes, names, and FP16/BF16 conversion. */
#ifndef KILN_CORE_DTYPE_H
#define KILN_CORE_DTYPE_H

#include <stdint.h>
#include <string.h>

#include "kiln.h"

/* Parse "float32"/"f32"/"float", "float16", "int64", ...; KILN_DTYPE_UNDEFINED if unknown. */
kiln_dtype kiln_dtype_parse(const char *s);
int kiln_dtype_is_float(kiln_dtype t);

/* IEEE half <-> float, round to nearest even, NaN/Inf preserved. */
uint16_t kiln_f32_to_f16(float f);
float kiln_f16_to_f32(uint16_t h);
/* bfloat16 <-> float, round to nearest even. */
uint16_t kiln_f32_to_bf16(float f);
float kiln_bf16_to_f32(uint16_t h);

/* Read element i of a buffer of type t as double / write a double to it (converting). Slow but
   general: used by shape computations, casts and reference code, never on hot paths. */
double kiln_elem_get(const void *data, kiln_dtype t, int64_t i);
void kiln_elem_set(void *data, kiln_dtype t, int64_t i, double v);
/* Element i as int64 (exact for integer types). */
int64_t kiln_elem_get_i64(const void *data, kiln_dtype t, int64_t i);

#endif
