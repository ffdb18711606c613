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

/* Per-node state an engine prepares once and every context's runs share (read-only): a Conv's
 * filters packed in the layout the GEMM's micro-kernel reads, Winograd-transformed filters.
 * Runs without it (kiln_cpu_run_node) compute the same, packing as they go.
 *
 *   kiln_cpu_prepared *pp;
 *   kiln_cpu_prepare_node(n, in, threads, &pp, &err);   // in: shapes, constant inputs' data
 *   kiln_cpu_run_prepared(cpu, n, pp, in, out, &err);    // as often as needed
 *   kiln_cpu_prepared_free(pp);
 */
typedef struct kiln_cpu_prepared kiln_cpu_prepared;

/* in[]: the node's inputs at the engine's shapes, with data for the constant ones (NULL for the
   others); threads: how many threads each run will have (<= 0: one per core). *pp is NULL when
   the node has nothing to prepare. */
kiln_status kiln_cpu_prepare_node(const kiln_node *n, const kiln_view *in, int threads,
                                  kiln_cpu_prepared **pp, kiln_err *e);
void kiln_cpu_prepared_free(kiln_cpu_prepared *pp);
/* Bytes it holds (0 for NULL). */
size_t kiln_cpu_prepared_bytes(const kiln_cpu_prepared *pp);
/* kiln_cpu_run_node with the node's prepared state (NULL: exactly kiln_cpu_run_node). State
   made for other constant data than in[] holds is ignored. */
kiln_status kiln_cpu_run_prepared(kiln_cpu *cpu, const kiln_node *n, const kiln_cpu_prepared *pp,
                                  const kiln_view *in, kiln_view *out, kiln_err *e);

#endif
