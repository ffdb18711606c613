/* cpu.h — the CPU backend's kernels: portable C, FP32 (plus the integer types shape
 * computations need), multi-threaded through the context's pool. The reference for every other
 * backend.
 *
 * A kernel computes one node: in[] are the node's inputs (absent optional inputs have
 * shape.ndim == -1 and data NULL), out[] its outputs with shapes and dtypes already inferred and
 * data already allocated. Kernels never allocate on the hot path: temporary space comes from
 * kiln_cpu_scratch(), which grows once to the largest request and is then reused.
 */
#ifndef KILN_BACKEND_CPU_H
#define KILN_BACKEND_CPU_H

#include <stddef.h>

#include "core/shape.h"
#include "core/threadpool.h"

typedef struct kiln_cpu kiln_cpu;

/* threads <= 0: one per core. NULL when out of memory. */
kiln_cpu *kiln_cpu_create(int threads);
void kiln_cpu_destroy(kiln_cpu *c);
kiln_pool *kiln_cpu_pool(kiln_cpu *c);
/* Scratch of at least `bytes`, 64-byte aligned, valid until the next call with this cpu; NULL
   when out of memory. slot 0..3 gives independent buffers (e.g. im2col and packed weights). */
void *kiln_cpu_scratch(kiln_cpu *c, int slot, size_t bytes);

typedef kiln_status (*kiln_cpu_kernel)(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                                       kiln_view *out, kiln_err *e);

/* Kernel lookup; NULL when the CPU backend has no kernel for op. Families in their own files. */
kiln_cpu_kernel kiln_cpu_lookup(kiln_op op);
kiln_cpu_kernel kiln_cpu_nn_lookup(kiln_op op);     /* cpu_nn.c: conv, gemm, pools, norms, ... */
kiln_cpu_kernel kiln_cpu_tensor_lookup(kiln_op op); /* cpu_tensor.c: elementwise, shape ops, ... */

/* Run one node. cpu may be NULL: a single-threaded temporary context is used. */
kiln_status kiln_cpu_run_node(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in,
                              kiln_view *out, kiln_err *e);

#endif
