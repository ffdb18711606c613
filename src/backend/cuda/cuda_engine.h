/* cuda_engine.h — the CUDA engine's insides, shared by its files (internal to src/backend/cuda/).
 *
 * How an optimized kiln graph becomes a CUDA engine:
 *
 *   cuda_dgraph.c   the device graph: e->g's nodes with the few fusions the device adds
 *                   (ScaleShift + activation), the memory plan (src/build/planner.h on device
 *                   byte sizes), and where every tensor lives ("phys" views, below).
 *   cuda_lower.c    one list of steps per batch bucket (conv, gemm, pool, ... or a CPU fallback)
 *                   and the packed weights (KRSC, storage type, stem channels padded, Gemm
 *                   columns permuted after a Flatten of an NHWC tensor).
 *   cuda_tune.c     a tactic per distinct conv / gemm layer: timing cache or plan file first,
 *                   else cuDNN heuristics top-k compiled on several threads and timed with CUDA
 *                   events (and the own depthwise kernel), cuBLASLt heuristics timed likewise.
 *   cuda_exec.c     contexts: stream, handles, one device allocation (arena, scratch, workspace,
 *                   I/O staging), pinned host buffers, one CUDA graph per batch bucket.
 *   cuda_fallback.c nodes that run on the CPU reference kernels, with device<->host copies.
 *   cuda_planio.c   records (layer signature -> choice): the timing cache file and the plan
 *                   file's backend section share one encoding.
 *   cuda_backend.c  the kiln_backend_i table.
 *
 * Tensors on the device ("phys" views)
 *   Every activation is stored as NHWC of a 4-D "phys" extent (n, h, w, c), possibly a channel
 *   slice of a wider buffer (pitch, coff). The invariant: the tensor's logical row-major bytes
 *   are the NCHW order of phys. A 4-D activation N,C,H,W has phys (N, H, W, C) ("natural"); a
 *   2-D N,K one has (N, 1, 1, K), which is also its row-major layout; Reshape-like nodes keep
 *   their input's phys (so they never move bytes), which makes a Flatten of an NHWC map a
 *   matrix whose columns are in (h, w, c) order: the Gemm reading it gets its weight columns
 *   permuted at build time. Kernels that need a natural 4-D input (conv, pool, ...) run on the
 *   CPU when they do not get one, which in practice never happens in the zoo or torchvision.
 *
 * Memory spaces: a step's operands are (space, offset) pairs; each context resolves them
 * against its own allocation, except WEIGHTS (one per engine, shared by its contexts).
 */
#ifndef KILN_BACKEND_CUDA_ENGINE_H
#define KILN_BACKEND_CUDA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_conv.h"
#include "backend/cuda/cuda_dwconv.h"
#include "backend/cuda/cuda_engine_kernels.h"
#include "backend/cuda/cuda_gemm.h"
#include "backend/cuda/cuda_pool.h"
#include "backend/cuda/cuda_tensor.h"
#include "build/planner.h"
#include "core/graph.h"
#include "core/shape.h"
#include "runtime/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CU_MAX_BUCKETS 8
#define CU_MAX_IO 64
#define CU_DEFAULT_CONV_TACTICS 4 /* cuDNN heuristic candidates compiled and timed per layer */
#define CU_DEFAULT_GEMM_TACTICS 8
#define CU_GEMM_MAX_WORKSPACE ((size_t)32 << 20)

typedef enum cu_space {
    CU_SP_NONE = 0,
    CU_SP_ARENA = 1,    /* planned activations (per context) */
    CU_SP_WEIGHTS = 2,  /* packed weights and constants (per engine) */
    CU_SP_INPUTS = 3,   /* the graph inputs as the network reads them (NHWC, padded) */
    CU_SP_SCRATCH = 4,  /* temporaries of one step (misaligned slices, split epilogues) */
    CU_SP_INSTAGE = 5,  /* graph inputs as the host gives them: NCHW FP32 at the bucket's batch */
    CU_SP_OUTSTAGE = 6, /* graph outputs as the host gets them: FP32, the model's layout */
    CU_SP_COUNT
} cu_space;

/* An NHWC view in a memory space (see kiln_cuda_nhwc). off is the byte offset of the buffer's
   first pixel; the view's first channel is coff channels into each pixel. */
typedef struct cu_view {
    int space;     /* cu_space */
    kiln_dtype dt;
    size_t off;
    int n, h, w, c;
    int pitch;     /* channels per pixel of the buffer */
    int coff;
} cu_view;

/* Where a graph tensor lives at one batch bucket. */
typedef enum cu_where {
    CU_W_NONE = 0, /* not materialized: constant, value known at build, or unused */
    CU_W_DEV = 1,  /* on the device: view */
} cu_where;

typedef struct cu_tinfo {
    int where;     /* cu_where */
    int natural;   /* phys is the natural NHWC / row-major layout of the logical shape */
    cu_view v;
} cu_tinfo;

typedef enum cu_step_kind {
    CU_STEP_INPUT = 0,   /* host NCHW FP32 (INSTAGE) -> the input tensor's view */
    CU_STEP_OUTPUT,      /* a tensor's view -> FP32 NCHW (OUTSTAGE) */
    CU_STEP_CONV,        /* fused convolution (cuDNN or the own depthwise kernel) */
    CU_STEP_GEMM,        /* cuBLASLt */
    CU_STEP_POOL,
    CU_STEP_ACT,         /* y = act(x), also copies and converts (concat pieces, views) */
    CU_STEP_BIAS_ACT,    /* y = act(x + residual): split conv/gemm epilogues */
    CU_STEP_BINARY,
    CU_STEP_SCALE_SHIFT, /* y = act(x * scale[c] + shift[c]) */
    CU_STEP_SOFTMAX,
    CU_STEP_LRN,
    CU_STEP_SHUFFLE,
    CU_STEP_RAW_COPY,    /* bytes (non-float tensors) */
    CU_STEP_FALLBACK,    /* a node on the CPU reference kernels */
    CU_STEP_INPUT_S2D,   /* host NCHW FP32 -> the space-to-depth map the stem conv reads */
} cu_step_kind;

enum { CU_POOL_MAX = 0, CU_POOL_AVG = 1, CU_POOL_GMAX = 2, CU_POOL_GAVG = 3 };

typedef struct cu_step {
    int kind;          /* cu_step_kind */
    int node;          /* device-graph node (-1: I/O steps) */
    cu_view x, b, y, r;
    kiln_act act;
    int layer;         /* CONV / GEMM: index into the engine's layer table */
    int post;          /* CONV / GEMM: run bias_act(t -> y, residual r, act) after the layer */
    cu_view t;         /* CONV / GEMM: what the layer itself writes (y, or scratch) */
    size_t w_off, w2_off, bias_off; /* WEIGHTS offsets (KRSC / dwconv-packed / bias) */
    int has_bias;
    kiln_cuda_pool2d pool;
    int pool_kind;
    int fast;          /* POOL: 16-byte channel vectors apply (kiln_cuda_pool2d_vec) */
    int binop;         /* kiln_cuda_binop */
    int groups;        /* SHUFFLE */
    int64_t rows;      /* SOFTMAX */
    int cols, log_softmax;
    int lrn_size;
    float lrn_alpha, lrn_beta, lrn_bias;
    int io;            /* INPUT / OUTPUT: index of the graph input / output */
    int in_c;          /* INPUT: channels of the host tensor */
    size_t bytes;      /* RAW_COPY */
    int fb;            /* FALLBACK: index into the bucket's fallback table */
} cu_step;

/* A CPU-run node: which tensors cross the device boundary. */
typedef struct cu_fallback {
    int node;             /* device-graph node */
    size_t host_bytes;    /* pinned host bytes for its device inputs and outputs */
    size_t dev_bytes;     /* device FP32 staging for the largest of them */
} cu_fallback;

enum { CU_TAC_NONE = 0, CU_TAC_CUDNN = 1, CU_TAC_DW = 2, CU_TAC_GEMM = 3 };

/* A distinct convolution layer (deduplicated by signature; shared by identical layers). */
typedef struct cu_conv_layer {
    kiln_cuda_conv_desc d;     /* as run: fused, or split (bias only) */
    kiln_cuda_conv_desc fused; /* as first asked for */
    char sig[320];             /* signature of d */
    char fused_sig[320];
    int split;                 /* 0: d is the fused form; 1: conv + bias; 2: conv alone (the
                                  rest runs as a bias_act pass after it) */
    int no_split;              /* its output overwrites its residual: only the fused form */
    int dw_ok;                 /* the own depthwise kernel can run it */
    kiln_cuda_dwconv dw;
    int tactic;                /* CU_TAC_* */
    kiln_cuda_conv_plan *plan; /* CU_TAC_CUDNN */
    kiln_cuda_gemm *lt;        /* CU_TAC_GEMM: a 1x1 convolution as a cuBLASLt matmul */
    uint64_t lt_algo[8];
    char *json;                /* the plan's JSON (plan files, timing cache) */
    size_t json_len;
    size_t workspace;
    float ms;
    char name[96];
    int example_step, example_bucket; /* a step using it (tuning buffers, weights) */
} cu_conv_layer;

typedef struct cu_gemm_layer {
    kiln_cuda_gemm_desc d;
    char sig[256];
    kiln_cuda_gemm *g;
    uint64_t algo[8];
    size_t workspace;
    float ms;
    int example_step, example_bucket;
} cu_gemm_layer;

typedef struct cu_bucket {
    int64_t batch;
    kiln_shapes shapes;   /* logical shapes at this batch */
    cu_tinfo *ti;         /* per tensor */
    cu_step *steps;
    int nsteps, capsteps;
    cu_fallback *fb;
    int nfb;
    int capturable;       /* no fallback: the whole bucket runs as one CUDA graph */
    size_t scratch_bytes;
    size_t in_off[CU_MAX_IO], in_bytes[CU_MAX_IO];   /* INSTAGE per graph input */
    size_t out_off[CU_MAX_IO], out_bytes[CU_MAX_IO]; /* OUTSTAGE per graph output */
    size_t instage_bytes, outstage_bytes, inputs_bytes;
} cu_bucket;

/* The device graph: e->g's tensors, its nodes after the device's own fusions. Node arrays are
   owned; tensors are e->g's (read only). */
typedef struct cu_dgraph {
    kiln_graph g;          /* shallow: g.t is e->g->t; g.n is owned */
    int *orig;             /* per device node: e->g node index */
    kiln_act *fused_act;   /* per device node: activation fused into it (ScaleShift) */
    int *node_of_orig;     /* per e->g node: device node running it (-1: none) */
} cu_dgraph;

/* Records saved in plan files and timing caches: layer signature -> chosen tactic. */
typedef struct cu_record {
    char *key;
    char *val;
    size_t val_len;
} cu_record;

typedef struct cu_records {
    cu_record *r;
    int n, cap;
} cu_records;

/* Per-engine state (e->bstate). Must not point at the kiln_engine itself (plan loading moves
   it). */
typedef struct cu_engine {
    int magic;                  /* CU_ENGINE_MAGIC; CU_PRELOAD_MAGIC marks a plan_read stub */
    kiln_cuda_device_info dev;
    char devsig[256];
    kiln_dtype dt;              /* storage type of float activations and weights */
    kiln_precision prec;        /* arithmetic: FP32, TF32, FP16 or BF16 (best -> FP16) */
    int max_conv_tactics, max_gemm_tactics;
    cu_dgraph dg;
    kiln_memplan plan;          /* at the largest batch, device byte sizes */
    int nb;
    cu_bucket bk[CU_MAX_BUCKETS];
    cu_conv_layer *conv;
    int nconv, capconv;
    cu_gemm_layer *gemm;
    int ngemm, capgemm;
    unsigned char *whost;       /* weights packed on the host (freed after the upload) */
    size_t wbytes, wcap;
    void *wdev;                 /* the weights on the device */
    size_t arena_bytes, scratch_bytes, workspace_bytes, inputs_bytes, instage_bytes,
        outstage_bytes, fb_host_bytes, fb_dev_bytes;
    size_t in_view_off[CU_MAX_IO]; /* INPUTS offset per graph input */
    unsigned char in_s2d[CU_MAX_IO]; /* input i is stored space-to-depth for its stem conv */
    int fp32_like_16bit;        /* tests: space-to-depth stem and in-place residuals, which
                                   16-bit engines use, for FP32 too (the emulator is FP32) */
    size_t inputs_at, instage_at;  /* INPUTS and INSTAGE live inside the arena at these offsets
                                      (they are dead once the first layers ran) */
    kiln_cuda_handles owner;    /* the handle restored plans were finalized with */
    cu_records chosen;          /* what plan_write saves */
    cu_records *preload;        /* from plan_read: restore, never compile */
    int64_t preload_buckets[CU_MAX_BUCKETS];
    int preload_nb;
    double build_seconds;       /* tuning time of this engine (for reports) */
    int n_compiled, n_restored; /* plans compiled / restored from JSON while preparing */
    /* weight cache: per device node, offsets of packed forms (-1: none yet); w_const per
       tensor (constant operands of elementwise steps) */
    int64_t *w_krsc, *w_dw, *w_bias, *w_gemm, *w_const;
    char (*node_why)[128];      /* per device node: why it runs on the CPU ("" on the GPU) */
} cu_engine;

#define CU_ENGINE_MAGIC 0x43554531  /* "CUE1" */
#define CU_PRELOAD_MAGIC 0x43555031 /* "CUP1" */

/* ---- cuda_backend.c ---- */
/* Everything an engine needs before the device: precision, device graph, buckets and their
   shapes, memory plan, steps and packed weights (s->whost). Tests run it without a GPU. */
kiln_status cu_engine_lower_host(const kiln_engine *e, cu_engine *s, kiln_precision p,
                                 kiln_err *err);
/* Free an engine state (or a plan_read stub). */
void cu_engine_free(cu_engine *s);

/* ---- cuda_dgraph.c ---- */
kiln_status cu_dgraph_build(const kiln_graph *g, cu_dgraph *dg, kiln_err *e);
void cu_dgraph_free(cu_dgraph *dg);
/* The batch buckets for a profile (sorted, distinct). */
int cu_buckets_choose(int64_t bmin, int64_t bopt, int64_t bmax, int has_batch, int64_t *out);
/* Plan device memory at the largest bucket and place every tensor of every bucket. */
kiln_status cu_memory_plan(cu_engine *s, kiln_err *e);
/* Place INPUTS and INSTAGE inside the arena, where nothing lives at the network's start. */
kiln_status cu_io_in_arena(cu_engine *s, kiln_err *e);
/* Natural phys extent of a logical shape. */
void cu_natural(const kiln_shape *s, int *n, int *h, int *w, int *c);
/* Storage type of an activation of logical type t. */
kiln_dtype cu_dev_dtype(const cu_engine *s, kiln_dtype t);
/* Stem space-to-depth geometry along one axis (cuda_dgraph.c): a stride-2 convolution with
   kernel k and pads pb/pe over `in` (even) producing `out`, as a stride-1 convolution with
   kernel k2 and pads pb2, pe2 over in / 2; amin is the first tap offset. 0 when impossible. */
int cu_s2d_axis(int in, int k, int pb, int out, int *k2, int *pb2, int *pe2, int *amin);
/* Bytes a view spans (n * h * w * pitch elements). */
size_t cu_view_bytes(const cu_view *v);

/* ---- cuda_lower.c ---- */
/* Steps and weights of every bucket; layers registered (not tuned). */
kiln_status cu_lower(cu_engine *s, const kiln_graph *orig, kiln_err *e);
/* Can node k of the device graph run on the GPU at all (static check, for supports())? */
int cu_node_gpu_capable(const kiln_graph *g, const kiln_node *n, char *why, size_t nwhy);
void cu_bucket_free(cu_bucket *b);
/* Append bytes to the host weight blob (aligned); returns the offset or -1. */
int64_t cu_weights_add(cu_engine *s, const void *p, size_t bytes);

/* ---- cuda_tune.c ---- */
kiln_status cu_tune(cu_engine *s, const kiln_engine *e, kiln_err *err);
void cu_layers_free(cu_engine *s);

/* A 1x1, stride-1, unpadded, ungrouped convolution (ReLU or no activation) over NHWC is the
   matmul y[n*h*w][k] = x[n*h*w][c] . w[k][c]^T with bias, residual and ReLU in the epilogue:
   fill g and return 1, else 0. The weights are the KRSC ones (R = S = 1). */
int cu_conv_as_gemm(const kiln_cuda_conv_desc *d, kiln_cuda_gemm_desc *g);

/* ---- cuda_planio.c ---- */
void cu_records_free(cu_records *r);
const cu_record *cu_records_find(const cu_records *r, const char *key);
kiln_status cu_records_put(cu_records *r, const char *key, const char *val, size_t len,
                           kiln_err *e);
/* Encode as "K <klen> <vlen>\n<key><val>\n" entries after a header line. */
kiln_status cu_records_encode(const cu_records *r, const char *header, const int64_t *buckets,
                              int nb, void **out, size_t *n, kiln_err *e);
kiln_status cu_records_decode(const void *p, size_t n, const char *header, cu_records *r,
                              int64_t *buckets, int *nb, kiln_err *e);
kiln_status cu_tcache_load(const char *path, cu_records *r, kiln_err *e);
kiln_status cu_tcache_save(const char *path, const cu_records *r, kiln_err *e);

/* ---- cuda_exec.c ---- */
kiln_status cu_context_create(kiln_context *c, kiln_err *err);
void cu_context_destroy(kiln_context *c);
kiln_status cu_context_run(kiln_context *c, const kiln_view *inputs, kiln_err *err);
kiln_status cu_context_output(kiln_context *c, int i, kiln_view *out, kiln_err *err);
/* context_run with the network's steps run one by one, timed per e->g node. */
kiln_status cu_context_profile(kiln_context *c, const kiln_view *inputs, double *node_ms,
                               kiln_err *err);

/* Per-context state (c->bstate). */
typedef struct cu_ctx {
    cudaStream_t s;
    kiln_cuda_handles h;
    void *dev;                     /* one allocation for every per-context device space */
    char *base[CU_SP_COUNT];       /* resolved bases (WEIGHTS: the engine's) */
    void *workspace;               /* cuDNN / cuBLASLt workspace */
    size_t workspace_bytes;
    void *fb_dev;                  /* FP32 staging of CPU-fallback tensors */
    unsigned char *pin_in, *pin_out, *fb_host; /* page-locked host buffers */
    struct kiln_cpu *cpu;          /* CPU fallback kernels (NULL when the engine has none) */
    struct kiln_pool *copy_pool;   /* threads copying large inputs into pinned memory */
    void *gexec[CU_MAX_BUCKETS];   /* cudaGraphExec_t per bucket, made on first use */
    int no_graphs;                 /* KILN_CUDA_GRAPHS=0: never capture (debugging switch) */
    int poison;                    /* KILN_CUDA_POISON=1: NaN-fill per-run memory first */
    int nancheck;                  /* KILN_CUDA_NANCHECK=1: report non-finite step outputs */
    int no_barrier;                /* KILN_CUDA_BARRIER=none: no barrier between library steps */
    int graph_edges, capturing;    /* captured graphs: plain edges instead of barrier kernels */
    double *chk;                   /* with it: per step, sum and sum |v| of the last run */
    int chk_n, chk_bucket, chk_valid, chk_report;
    int64_t runs;
    size_t poison_bytes;           /* arena + scratch + workspace, from x->dev */
    int64_t batch;                 /* of the last run (-1: none) */
    int bucket;
    kiln_shapes shapes_b;          /* logical shapes at `batch` (output views) */
    int64_t shapes_batch;
    kiln_view *outv;               /* per graph output: the host view of the last run */
} cu_ctx;

/* ---- cuda_fallback.c ---- */
kiln_status cu_fallback_run(const cu_engine *s, const cu_bucket *b, const cu_step *st,
                            cu_ctx *x, kiln_err *e);

#ifdef __cplusplus
}
#endif

#endif
