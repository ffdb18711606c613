/* cuda_conv.h — fused convolution layers through cuDNN's graph (backend) API.
 *
 * One layer is one cuDNN operation graph:
 *
 *     y = act( conv(x, w) + bias [+ residual] )
 *
 * conv on NHWC tensors (16-byte aligned), bias a broadcast 1xKx1x1 tensor added by a pointwise
 * op, the residual another pointwise add, the activation a pointwise op (ReLU, clip and leaky ReLU
 * through RELU_FWD's clip attributes, sigmoid, tanh, SiLU as swish); intermediates are virtual
 * FP32 tensors that never reach memory. Storage types: FP32, FP16, BF16; arithmetic in FP32
 * (FP32 precision excludes tensor-core engines, so no TF32; TF32 precision allows them).
 * Grouped and depthwise convolutions are the same graph with fewer filter channels.
 *
 * When candidates() says KILN_ERR_UNSUPPORTED (measured: FP32 graphs with a residual under the
 * system cuDNN 9.14), build the convolution alone (has_bias = has_residual = 0, no activation)
 * and run kiln_cuda_bias_act after it. Hard sigmoid / hard swish are never fused (no cuDNN
 * pointwise mode): the same split, or kiln_cuda_activation after a fused conv + bias.
 *
 * Building a layer (what the builder does):
 *
 *     kiln_cuda_conv_graph *g;
 *     kiln_cuda_conv_graph_create(&h, &desc, &g, e);         // the op graph; cheap
 *     int n;
 *     kiln_cuda_conv_graph_candidates(g, 8, &n, e);           // heuristics mode A, top 8 usable
 *     for (int i = 0; i < n; i++) {
 *         kiln_cuda_conv_plan *p;
 *         if (kiln_cuda_conv_plan_create(g, i, &p, e) != KILN_OK) continue; // compiles: 0.2-2 s
 *         float ms;
 *         kiln_cuda_conv_plan_time(&h, p, &args, stream, 3, 20, &ms, e);   // keep the fastest
 *         ...
 *     }
 *     char *json; kiln_cuda_conv_plan_json(best, &json, &len, e);         // into the plan file
 *
 * Loading an engine: kiln_cuda_conv_plan_from_json() restores the execution plan from its JSON
 * without compiling (milliseconds), then kiln_cuda_conv_plan_execute() runs it on a stream (also
 * inside CUDA graph capture).
 *
 * Ownership: a graph owns its candidates; a plan keeps what it needs of its graph alive, so the
 * graph may be destroyed before the plan. Plans are immutable and may be executed from several
 * threads as long as each thread passes its own kiln_cuda_handles.
 */
#ifndef KILN_BACKEND_CUDA_CONV_H
#define KILN_BACKEND_CUDA_CONV_H

#include <stddef.h>

#include "backend/cuda/cuda_common.h"
#include "core/op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_conv_desc {
    int n, h, w, c;           /* input extent (c: the channels the filter sees, incl. padding) */
    int k;                    /* output channels */
    int r, s;                 /* filter height, width */
    int stride[2];            /* h, w */
    int dilation[2];
    int pad_begin[2];         /* top, left */
    int pad_end[2];           /* bottom, right */
    int groups;               /* c and k divisible by it; c == k == groups is depthwise */
    kiln_dtype dtype;         /* storage of x, w, bias, residual, y: KILN_F32, KILN_F16, KILN_BF16 */
    kiln_precision precision; /* KILN_PREC_FP32 (no TF32), _TF32, _FP16, _BF16 (match dtype) */
    int has_bias;             /* bias: k values in dtype */
    int has_residual;         /* residual: same extent and pitch as y */
    kiln_act act;             /* NONE, RELU, CLIP, LEAKY_RELU, SIGMOID, TANH, SILU */
    int x_pitch;              /* channels per pixel of x's buffer; 0: c */
    int y_pitch;              /* channels per pixel of y's (and residual's) buffer; 0: k */
} kiln_cuda_conv_desc;

/* Output extent: (in + pads - dilation*(kernel-1) - 1) / stride + 1 per axis. */
void kiln_cuda_conv_out_dims(const kiln_cuda_conv_desc *d, int *oh, int *ow);
/* KILN_OK when cuDNN's fused graph can express d (shape, types, activation); otherwise
   KILN_ERR_UNSUPPORTED or KILN_ERR_INVALID_ARG with the reason. Does not touch the device. */
kiln_status kiln_cuda_conv_check(const kiln_cuda_conv_desc *d, kiln_err *e);
/* A stable text key for the layer (timing caches): every field that changes the plan. */
int kiln_cuda_conv_signature(const kiln_cuda_conv_desc *d, char *buf, size_t n);

/* Device pointers for one run. x: NHWC with x_pitch channels per pixel; w: [k][r][s][c/groups]
   (KRSC, channels innermost); bias: k values; residual and y: NHWC with y_pitch channels per
   pixel (for a channel slice, pass the pointer to the slice's first channel). bias/residual are
   ignored unless the desc has them; workspace
   needs kiln_cuda_conv_plan_workspace() bytes (may be NULL when that is 0). The pointers that
   cuDNN reads as tensors must be 16-byte aligned. */
typedef struct kiln_cuda_conv_args {
    const void *x, *w, *bias, *residual;
    void *y;
    void *workspace;
} kiln_cuda_conv_args;

typedef struct kiln_cuda_conv_graph kiln_cuda_conv_graph;
typedef struct kiln_cuda_conv_plan kiln_cuda_conv_plan;

/* Build and finalize the operation graph of d with h's cuDNN handle. */
kiln_status kiln_cuda_conv_graph_create(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d,
                                        kiln_cuda_conv_graph **out, kiln_err *e);
void kiln_cuda_conv_graph_destroy(kiln_cuda_conv_graph *g);

/* Ask cuDNN's heuristics (mode A; the fallback list when A offers nothing usable) for engine
   configurations, drop those the precision forbids (tensor cores for FP32, engines that
   down-convert inputs), and keep the first max_k in *count. Replaces earlier candidates. */
kiln_status kiln_cuda_conv_graph_candidates(kiln_cuda_conv_graph *g, int max_k, int *count,
                                            kiln_err *e);
/* "engine 7 (tensor cores, runtime compiled)" for candidate i: for logs and inspect. */
int kiln_cuda_conv_graph_candidate_name(const kiln_cuda_conv_graph *g, int i, char *buf, size_t n);

/* Finalize candidate i into an execution plan (compiles runtime-fused kernels: slow).
   KILN_ERR_UNSUPPORTED when cuDNN cannot build this candidate. */
kiln_status kiln_cuda_conv_plan_create(kiln_cuda_conv_graph *g, int i, kiln_cuda_conv_plan **out,
                                       kiln_err *e);
/* Restore a plan from kiln_cuda_conv_plan_json() text for the same d on the same device and
   cuDNN version: no compilation. */
kiln_status kiln_cuda_conv_plan_from_json(kiln_cuda_handles *h, const kiln_cuda_conv_desc *d,
                                          const char *json, size_t len,
                                          kiln_cuda_conv_plan **out, kiln_err *e);
void kiln_cuda_conv_plan_destroy(kiln_cuda_conv_plan *p);

/* The plan as cuDNN's JSON text: *json is malloc'd and NUL-terminated, *len excludes the NUL. */
kiln_status kiln_cuda_conv_plan_json(const kiln_cuda_conv_plan *p, char **json, size_t *len,
                                     kiln_err *e);
size_t kiln_cuda_conv_plan_workspace(const kiln_cuda_conv_plan *p);
const kiln_cuda_conv_desc *kiln_cuda_conv_plan_desc(const kiln_cuda_conv_plan *p);

/* Enqueue the layer on stream s using h's cuDNN handle (its stream is set to s). */
kiln_status kiln_cuda_conv_plan_execute(kiln_cuda_handles *h, const kiln_cuda_conv_plan *p,
                                        const kiln_cuda_conv_args *a, cudaStream_t s, kiln_err *e);
/* Median milliseconds of `iters` runs after `warmup` (kiln_cuda_time). */
kiln_status kiln_cuda_conv_plan_time(kiln_cuda_handles *h, const kiln_cuda_conv_plan *p,
                                     const kiln_cuda_conv_args *a, cudaStream_t s, int warmup,
                                     int iters, float *median_ms, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
