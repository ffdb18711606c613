/* cuda_mem.c — the device arena (one cudaMalloc, offsets) and pinned host buffers. */
#include "backend/cuda/cuda_mem.h"

#include <stdint.h>

void kiln_cuda_arena_init(kiln_cuda_arena *a) {
    a->base = NULL;
    a->size = 0;
    a->capacity = 0;
}

size_t kiln_cuda_arena_reserve(kiln_cuda_arena *a, size_t bytes) {
    size_t off = (a->size + KILN_CUDA_ALIGN - 1) & ~(size_t)(KILN_CUDA_ALIGN - 1);
    if (bytes > SIZE_MAX - off) return (size_t)-1;
    if (a->base && off + bytes > a->capacity) return (size_t)-1;
    a->size = off + bytes;
    return off;
}

kiln_status kiln_cuda_arena_commit(kiln_cuda_arena *a, kiln_err *e) {
    if (a->base && a->size <= a->capacity) return KILN_OK;
    if (a->base) {
        cudaFree(a->base);
        a->base = NULL;
        a->capacity = 0;
    }
    size_t bytes = a->size ? a->size : KILN_CUDA_ALIGN; /* a valid pointer even when empty */
    void *p = NULL;
    KILN_CUDA_CHECK(e, cudaMalloc(&p, bytes));
    a->base = (char *)p;
    a->capacity = bytes;
    return KILN_OK;
}

void *kiln_cuda_arena_ptr(const kiln_cuda_arena *a, size_t offset) {
    if (!a->base || offset >= a->capacity) return NULL;
    return a->base + offset;
}

void kiln_cuda_arena_reset(kiln_cuda_arena *a) { a->size = 0; }

void kiln_cuda_arena_release(kiln_cuda_arena *a) {
    if (a->base) cudaFree(a->base);
    kiln_cuda_arena_init(a);
}

kiln_status kiln_cuda_host_alloc(void **p, size_t bytes, kiln_err *e) {
    *p = NULL;
    KILN_CUDA_CHECK(e, cudaHostAlloc(p, bytes ? bytes : 1, cudaHostAllocDefault));
    return KILN_OK;
}

void kiln_cuda_host_free(void *p) {
    if (p) cudaFreeHost(p);
}
