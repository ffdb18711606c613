/* cuda_lower.h — private to the lowering files (cuda_lower.c, cuda_lower_nn.c): the state of
 * lowering one bucket, and the per-op lowering functions. Each returns KILN_OK after appending
 * steps, CU_FALLBACK (a positive sentinel, never a kiln_status seen outside) with a reason in
 * why[] when the node must run on the CPU, or an error. */
#ifndef KILN_BACKEND_CUDA_LOWER_H
#define KILN_BACKEND_CUDA_LOWER_H

#include "backend/cuda/cuda_engine.h"

#define CU_FALLBACK ((kiln_status)1000)

typedef struct cu_lw {
    cu_engine *s;
    cu_bucket *b;
    int bi;
    const kiln_graph *g;  /* the device graph */
    int k;                /* node being lowered */
    size_t scratch;       /* scratch bytes used by this node's steps so far */
    char why[160];        /* fallback reason */
    kiln_err *e;
} cu_lw;

/* Fallback with a reason (printf-style), as a return value. */
kiln_status cu_lw_fallback(cu_lw *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
kiln_status cu_lw_push(cu_lw *L, const cu_step *st);
/* A dense scratch view for this node (aligned), or an error when sizes overflow. */
cu_view cu_lw_scratch(cu_lw *L, kiln_dtype dt, int n, int h, int w, int c);
int cu_lw_dev(const cu_lw *L, int t);
const cu_view *cu_lw_view(const cu_lw *L, int t);
int cu_lw_const_f32(const cu_lw *L, int t);
/* Byte offset of element coff of a view is 16-byte aligned (cuDNN / cuBLASLt pointers). */
int cu_view_aligned(const cu_view *v);
/* Upload host floats as the storage type (cached per key when key >= 0 in cache[]). */
int64_t cu_lw_weights_f32(cu_lw *L, const float *p, int64_t count);

kiln_status cu_lower_conv(cu_lw *L, const kiln_node *n);
kiln_status cu_lower_gemm(cu_lw *L, const kiln_node *n);

/* cuda_dgraph.c */
int cu_act_of_node(const kiln_graph *g, const kiln_node *n, kiln_act *a);
int cu_is_shuffle(const kiln_node *n, const kiln_shapes *sh, const cu_tinfo *ti, int *groups);

#endif
