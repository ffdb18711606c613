/* cuda_mem.h — device memory as one arena, and pinned host buffers.
 *
 * The arena is planned first and allocated once: the builder (or memory planner) reserves byte
 * ranges and keeps their offsets, then kiln_cuda_arena_commit() makes the single cudaMalloc, and
 * kiln_cuda_arena_ptr() turns an offset into a device pointer. Nothing is allocated on the hot
 * path. Offsets are aligned to KILN_CUDA_ALIGN bytes, which satisfies cuDNN's 16-byte tensor
 * alignment and cuBLASLt's default 256-byte preference.
 *
 *     kiln_cuda_arena a;
 *     kiln_cuda_arena_init(&a);
 *     size_t x = kiln_cuda_arena_reserve(&a, bytes_x);
 *     size_t y = kiln_cuda_arena_reserve(&a, bytes_y);
 *     if (kiln_cuda_arena_commit(&a, e) != KILN_OK) ...;
 *     float *px = kiln_cuda_arena_ptr(&a, x);
 *     ...
 *     kiln_cuda_arena_release(&a);
 *
 * Pinned host buffers (page-locked) let cudaMemcpyAsync overlap with compute and be captured in
 * CUDA graphs.
 */
#ifndef KILN_BACKEND_CUDA_MEM_H
#define KILN_BACKEND_CUDA_MEM_H

#include <stddef.h>

#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_CUDA_ALIGN 256

typedef struct kiln_cuda_arena {
    char *base;      /* device memory; NULL until committed */
    size_t size;     /* bytes reserved so far */
    size_t capacity; /* bytes allocated by commit */
} kiln_cuda_arena;

void kiln_cuda_arena_init(kiln_cuda_arena *a);
/* Reserve `bytes` and return the range's offset (aligned to KILN_CUDA_ALIGN). Reserving after a
   commit is allowed only within the committed capacity; returns (size_t)-1 otherwise. */
size_t kiln_cuda_arena_reserve(kiln_cuda_arena *a, size_t bytes);
/* Allocate the reserved size with one cudaMalloc (a no-op when it already fits). */
kiln_status kiln_cuda_arena_commit(kiln_cuda_arena *a, kiln_err *e);
/* Device pointer at `offset`; NULL before commit or past the end. */
void *kiln_cuda_arena_ptr(const kiln_cuda_arena *a, size_t offset);
/* Forget all reservations, keep the allocation. */
void kiln_cuda_arena_reset(kiln_cuda_arena *a);
/* Free the allocation. */
void kiln_cuda_arena_release(kiln_cuda_arena *a);

/* Page-locked host memory. */
kiln_status kiln_cuda_host_alloc(void **p, size_t bytes, kiln_err *e);
void kiln_cuda_host_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
