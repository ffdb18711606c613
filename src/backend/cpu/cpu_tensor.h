/* cpu_tensor.h — internals of the CPU elementwise and tensor-manipulation kernels: the kernels
 * kiln_cpu_tensor_lookup() hands out, a parallel range helper, and broadcast iteration.
 *
 * Broadcast iteration collapses an output shape and its (numpy-broadcast) inputs to the fewest
 * dimensions that keep every input's strides regular, so that the common cases become one long
 * inner loop: same shapes -> one flat row; x[N,C,H,W] + b[C,1,1] -> rows of H*W against one
 * value of b each; x[N,C,H,W] * s[N,C,1,1] -> the same. A row kernel then sees each input with
 * stride 1 (a vector) or 0 (one value) and is written so the compiler vectorizes it.
 */
#ifndef KILN_BACKEND_CPU_TENSOR_H
#define KILN_BACKEND_CPU_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/cpu.h"
#include "core/dtype.h"

/* Elements per parallel task: below this, threading costs more than it gains. */
#define KILN__CPU_GRAIN 16384

/* fn(arg, begin, end) over [0, n) in chunks of at least grain elements, on cpu's pool (serial
   when cpu is NULL, has no pool, or n is small). */
typedef void (*kiln__cpu_range_fn)(void *arg, int64_t begin, int64_t end);
void kiln__cpu_parallel(kiln_cpu *cpu, int64_t n, int64_t grain, kiln__cpu_range_fn fn, void *arg);
/* memcpy, in parallel when large; nothing when dst == src. */
void kiln__cpu_copy(kiln_cpu *cpu, void *dst, const void *src, size_t bytes);

#define KILN__BC_MAX_IN 3
typedef struct kiln__bcast {
    int nin;
    int ndim;                                   /* collapsed rank, >= 1 */
    int64_t d[KILN_MAX_DIMS];
    int64_t st[KILN__BC_MAX_IN][KILN_MAX_DIMS]; /* element strides; 0 where broadcast */
    int64_t numel;
} kiln__bcast;

/* Each in[i] must broadcast to out (inference checked it). */
void kiln__bcast_init(kiln__bcast *b, const kiln_shape *out, int nin, const kiln_shape *in);

/* n outputs from inputs whose element stride s[i] is 0 (one value) or 1 (a vector). */
typedef void (*kiln__row_fn)(const void *ctx, const void *const *in, const int *s, void *out,
                             int64_t n);
/* Call row over all of b's output, split into parallel chunks. esz[i]/oesz: element sizes. */
void kiln__bcast_run(kiln_cpu *cpu, const kiln__bcast *b, kiln__row_fn row, const void *ctx,
                     const void *const *in, const size_t *esz, void *out, size_t oesz);
/* out = in broadcast to out's shape (Expand), any element type. */
void kiln__bcast_copy(kiln_cpu *cpu, const kiln_view *in, kiln_view *out);

/* Store an integer into element i of a buffer of type t; integer types wrap as C conversions
   do (numpy's astype), float types round. */
static inline void kiln__store_int(void *d, kiln_dtype t, int64_t i, int64_t v) {
    switch (t) {
    case KILN_I8: ((int8_t *)d)[i] = (int8_t)v; break;
    case KILN_U8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case KILN_I16: ((int16_t *)d)[i] = (int16_t)v; break;
    case KILN_U16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case KILN_I32: ((int32_t *)d)[i] = (int32_t)v; break;
    case KILN_U32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case KILN_I64: ((int64_t *)d)[i] = v; break;
    case KILN_U64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case KILN_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: kiln_elem_set(d, t, i, (double)v); break;
    }
}

/* float32 <-> float16 / bfloat16 over arrays, in loops the compiler vectorizes (cpu_convert.c);
   bit for bit the same as dtype.h's converters (round to nearest even, NaN payloads kept,
   subnormals exact). */
void kiln__f32_to_f16_n(const float *x, uint16_t *y, int64_t n);
void kiln__f16_to_f32_n(const uint16_t *x, float *y, int64_t n);
void kiln__f32_to_bf16_n(const float *x, uint16_t *y, int64_t n);
void kiln__bf16_to_f32_n(const uint16_t *x, float *y, int64_t n);

/* Element type checks with a one-line message naming the op. */
kiln_status kiln__cpu_check_dtype(const kiln_node *n, kiln_dtype t, int allow_int, kiln_err *e);

/* The kernels, by family. */
kiln_status kiln__cpu_unary(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e); /* cpu_unary.c: activations, math, Clip */
kiln_status kiln__cpu_binary(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e); /* cpu_binary.c: Add..Pow, PRelu, Equal */
kiln_status kiln__cpu_variadic(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                               kiln_view *out, kiln_err *e); /* Min, Max */
kiln_status kiln__cpu_where(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_cast(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                           kiln_view *out, kiln_err *e); /* cpu_cast.c */
kiln_status kiln__cpu_copy_op(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e); /* cpu_shape_ops.c: Reshape, ... */
kiln_status kiln__cpu_dropout(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_expand(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_shape(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_constant_of_shape(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                        kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_transpose(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                kiln_view *out, kiln_err *e); /* cpu_transpose.c */
kiln_status kiln__cpu_concat(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e); /* cpu_concat.c */
kiln_status kiln__cpu_split(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e);
kiln_status kiln__cpu_gather(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e); /* cpu_gather.c */
kiln_status kiln__cpu_slice(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                            kiln_view *out, kiln_err *e); /* cpu_slice.c */
kiln_status kiln__cpu_pad(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                          kiln_view *out, kiln_err *e); /* cpu_pad.c */
kiln_status kiln__cpu_reduce(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                             kiln_view *out, kiln_err *e); /* cpu_reduce.c */

#endif
