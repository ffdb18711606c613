/*
 * kiln.h — the one public header of kiln.
 *
 * kiln bakes a trained neural network into an inference engine tuned for one device, runs it, and
 * measures it. Data flows one way:
 *
 *     ONNX file / zoo:NAME -> kiln_model -> (kiln_builder_config) -> kiln_engine -> kiln_context -> run
 *
 * Objects and lifetimes
 *   Every object is an opaque handle with a create/destroy pair. create() only allocates (it returns
 *   NULL only when memory runs out); the operations that can fail return a kiln_status and keep a
 *   one-line message on the object they act on, readable with the object's *_errmsg() until its next
 *   call (like sqlite3_errmsg). The library never prints to stdout, never exits, and keeps no global
 *   mutable state.
 *
 *   - kiln_model           an imported network (plain-data IR). Owns its weights.
 *   - kiln_builder_config  how to build: backend, precision, batch range, threads, caches.
 *   - kiln_engine          a built network: optimized graph, tactics, planned memory, weights.
 *                          Independent of the model once built (the model may be destroyed).
 *                          Loadable from and savable to a .plan file.
 *   - kiln_context         one execution context of an engine: activation memory, a stream.
 *                          Several contexts share one engine's weights; each context is used by
 *                          one thread at a time, different contexts may run concurrently.
 *
 * Example usage
 *
 *     kiln_model *m = kiln_model_create();
 *     if (kiln_model_load(m, "zoo:resnet50") != KILN_OK)          // or "resnet50.onnx"
 *         fprintf(stderr, "kiln: %s\n", kiln_model_errmsg(m));
 *
 *     kiln_builder_config *cfg = kiln_builder_config_create();
 *     kiln_builder_config_set_backend(cfg, KILN_BACKEND_CPU);
 *     kiln_builder_config_set_batch_range(cfg, 1, 8, 16);         // any batch 1..16 runs
 *
 *     kiln_engine *e = kiln_engine_create();
 *     if (kiln_engine_build(e, m, cfg) != KILN_OK)
 *         fprintf(stderr, "kiln: %s\n", kiln_engine_errmsg(e));
 *     kiln_model_destroy(m);                                      // the engine keeps what it needs
 *     kiln_engine_save(e, "resnet50.plan");                       // later: kiln_engine_load()
 *
 *     kiln_context *c = NULL;
 *     kiln_context_create(e, &c);
 *     kiln_buffer in = { .name = NULL, .dtype = KILN_F32, .ndim = 4,
 *                        .dims = {4, 3, 224, 224}, .data = pixels };
 *     if (kiln_context_run(c, 1, &in) != KILN_OK)
 *         fprintf(stderr, "kiln: %s\n", kiln_context_errmsg(c));
 *     kiln_buffer out;
 *     kiln_context_output(c, 0, &out);                            // out.data: 4 x 1000 floats,
 *                                                                 // valid until the next run
 *     kiln_context_destroy(c);
 *     kiln_engine_destroy(e);
 *     kiln_builder_config_destroy(cfg);
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
#define KILN_MAX_DIMS 8

/* "0.1.0" */
const char *kiln_version(void);

/* ---- status ------------------------------------------------------------------------------ */

/* Values are stable (written to logs and JSON); append only. */
typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID_ARG = 1, /* a NULL handle, an out-of-range index, a bad option */
    KILN_ERR_IO = 2,          /* a file could not be opened, read or written */
    KILN_ERR_PARSE = 3,       /* a file is malformed: truncated, corrupt, wrong magic */
    KILN_ERR_UNSUPPORTED = 4, /* an operator, attribute, dtype or opset kiln does not support */
    KILN_ERR_SHAPE = 5,       /* shapes that do not fit: a wrong input shape, a bad reshape */
    KILN_ERR_NOMEM = 6,       /* out of host or device memory */
    KILN_ERR_BACKEND = 7,     /* a backend library call failed (CUDA, cuDNN, cuBLAS) */
    KILN_ERR_NO_DEVICE = 8,   /* the backend's device is not present */
    KILN_ERR_VERSION = 9,     /* a plan from another kiln version, format version or device */
    KILN_ERR_RANGE = 10,      /* a batch outside the engine's profile */
    KILN_ERR_INTERNAL = 11,   /* a bug in kiln */
    KILN_ERR_DTYPE = 12,      /* a buffer of the wrong element type */
    KILN_STATUS_COUNT
} kiln_status;

/* A short name for a status, e.g. "unsupported". Never NULL. */
const char *kiln_status_str(kiln_status s);

/* ---- element types ----------------------------------------------------------------------- */

/* Same numbering as ONNX TensorProto.DataType; stable and written to plan files. */
typedef enum kiln_dtype {
    KILN_DTYPE_UNDEFINED = 0,
    KILN_F32 = 1,
    KILN_U8 = 2,
    KILN_I8 = 3,
    KILN_U16 = 4,
    KILN_I16 = 5,
    KILN_I32 = 6,
    KILN_I64 = 7,
    KILN_BOOL = 9,
    KILN_F16 = 10,
    KILN_F64 = 11,
    KILN_U32 = 12,
    KILN_U64 = 13,
    KILN_BF16 = 16,
    KILN_F8E4M3 = 17,
} kiln_dtype;

/* "float32", "float16", ... ; "undefined" for unknown values. */
const char *kiln_dtype_name(kiln_dtype t);
/* Bytes per element; 0 for unknown values. */
size_t kiln_dtype_size(kiln_dtype t);

/* ---- enums for building ------------------------------------------------------------------ */

/* Stable values (written to plan files); append only. */
typedef enum kiln_backend_kind {
    KILN_BACKEND_CPU = 0,  /* portable C reference kernels plus fast paths; always present */
    KILN_BACKEND_CUDA = 1, /* NVIDIA GPUs: cuDNN, cuBLASLt, own kernels, CUDA graphs */
} kiln_backend_kind;

typedef enum kiln_precision {
    KILN_PREC_FP32 = 0, /* true FP32 (TF32 off) */
    KILN_PREC_TF32 = 1,
    KILN_PREC_FP16 = 2,
    KILN_PREC_BF16 = 3,
    KILN_PREC_INT8 = 4,
    KILN_PREC_BEST = 5, /* fastest per layer among the allowed precisions */
    KILN_PREC_COUNT
} kiln_precision;

const char *kiln_backend_name(kiln_backend_kind b);  /* "cpu", "cuda" */
const char *kiln_precision_name(kiln_precision p);   /* "fp32", "tf32", ... */
/* Parse "cpu"/"cuda" and "fp32"/"fp16"/...; return -1 when the name is unknown. */
int kiln_backend_parse(const char *name);
int kiln_precision_parse(const char *name);
/* 1 when the backend was compiled in and can find its device now. */
int kiln_backend_available(kiln_backend_kind b);

/* ---- tensors crossing the API ------------------------------------------------------------ */

/* A dense, row-major host buffer. For inputs the caller owns data; for outputs kiln does. */
typedef struct kiln_buffer {
    const char *name;             /* binding name; NULL selects by position */
    kiln_dtype dtype;
    int ndim;
    int64_t dims[KILN_MAX_DIMS];
    void *data;
} kiln_buffer;

/* What a model or engine expects or produces at one binding. */
typedef struct kiln_io_info {
    const char *name;             /* owned by the model/engine */
    kiln_dtype dtype;
    int ndim;
    int64_t dims[KILN_MAX_DIMS];  /* -1 where the dimension is symbolic (e.g. batch) */
} kiln_io_info;

/* ---- model ------------------------------------------------------------------------------- */

typedef struct kiln_model kiln_model;

kiln_model *kiln_model_create(void);
void kiln_model_destroy(kiln_model *m);
/* Load "path/to/model.onnx" (external data files are read from its folder) or "zoo:NAME". */
kiln_status kiln_model_load(kiln_model *m, const char *source);
/* Load ONNX bytes; base_dir (may be NULL) is where external data files are looked up. */
kiln_status kiln_model_load_onnx_memory(kiln_model *m, const void *data, size_t size,
                                        const char *base_dir);
/* Fix the symbolic dimensions of an input (--shape NAME=1x3x224x224). Call before building. */
kiln_status kiln_model_set_input_shape(kiln_model *m, const char *input, int ndim,
                                       const int64_t *dims);
const char *kiln_model_errmsg(const kiln_model *m);
int kiln_model_num_inputs(const kiln_model *m);
int kiln_model_num_outputs(const kiln_model *m);
kiln_status kiln_model_io(const kiln_model *m, int is_input, int index, kiln_io_info *info);

/* ---- builder config ---------------------------------------------------------------------- */

typedef struct kiln_builder_config kiln_builder_config;

/* Progress of long operations (builds, calibration): done of total steps, and what is running. */
typedef void (*kiln_progress_fn)(void *user, int done, int total, const char *what);

kiln_builder_config *kiln_builder_config_create(void);
void kiln_builder_config_destroy(kiln_builder_config *c);
kiln_status kiln_builder_config_set_backend(kiln_builder_config *c, kiln_backend_kind b);
kiln_status kiln_builder_config_set_precision(kiln_builder_config *c, kiln_precision p);
/* The batch profile: any batch in [min, max] runs without a rebuild; opt is tuned for.
   Default 1/1/1 where the model's batch is symbolic. */
kiln_status kiln_builder_config_set_batch_range(kiln_builder_config *c, int64_t min, int64_t opt,
                                                int64_t max);
/* 0 turns graph optimization off (for comparisons and debugging). Default 1. */
kiln_status kiln_builder_config_set_optimize(kiln_builder_config *c, int on);
/* CPU worker threads per context; 0 (default) means one per core. */
kiln_status kiln_builder_config_set_threads(kiln_builder_config *c, int n);
/* A file where measured tactic timings are kept between builds (may be NULL). */
kiln_status kiln_builder_config_set_timing_cache(kiln_builder_config *c, const char *path);
kiln_status kiln_builder_config_set_progress(kiln_builder_config *c, kiln_progress_fn fn,
                                             void *user);
const char *kiln_builder_config_errmsg(const kiln_builder_config *c);

/* ---- engine ------------------------------------------------------------------------------ */

typedef struct kiln_engine kiln_engine;

kiln_engine *kiln_engine_create(void);
void kiln_engine_destroy(kiln_engine *e);
/* Optimize and build m for the configuration; cfg NULL uses the defaults (CPU, FP32). */
kiln_status kiln_engine_build(kiln_engine *e, const kiln_model *m, const kiln_builder_config *cfg);
kiln_status kiln_engine_save(kiln_engine *e, const char *path);
/* Loading replaces what e held: destroy its contexts first. On failure e keeps its old engine. */
kiln_status kiln_engine_load(kiln_engine *e, const char *path);
const char *kiln_engine_errmsg(const kiln_engine *e);
int kiln_engine_num_inputs(const kiln_engine *e);
int kiln_engine_num_outputs(const kiln_engine *e);
kiln_status kiln_engine_io(const kiln_engine *e, int is_input, int index, kiln_io_info *info);
void kiln_engine_batch_range(const kiln_engine *e, int64_t *min, int64_t *opt, int64_t *max);
kiln_backend_kind kiln_engine_backend(const kiln_engine *e);
/* Layers of the engine: the nodes of its optimized graph, in execution order. */
int kiln_engine_num_layers(const kiln_engine *e);
/* Name and kind ("conv3x3+bn+add+relu", "MaxPool") of layer i, owned by the engine. */
kiln_status kiln_engine_layer(const kiln_engine *e, int i, const char **name, const char **kind);
kiln_precision kiln_engine_precision(const kiln_engine *e);

/* ---- execution context ------------------------------------------------------------------- */

typedef struct kiln_context kiln_context;

/* On failure *out is NULL and the message is on the engine. */
kiln_status kiln_context_create(kiln_engine *e, kiln_context **out);
void kiln_context_destroy(kiln_context *c);
/* Run once on host inputs (FP32 unless the model's input has another dtype). The batch is read
   from the inputs' first dimension and must lie in the engine's batch range. Blocks until done. */
kiln_status kiln_context_run(kiln_context *c, int n_inputs, const kiln_buffer *inputs);
/* Output i of the last run; out->data is owned by the context, valid until the next run. */
kiln_status kiln_context_output(kiln_context *c, int index, kiln_buffer *out);
/* Run once like kiln_context_run and time every layer: layer_ms[i] for layer i (an array of
   kiln_engine_num_layers entries; 0 for layers that did no work). Slower than a run (the
   backend may synchronize after each layer and run outside a CUDA graph): it says where the time
   goes, not how fast the engine is. KILN_ERR_UNSUPPORTED when the backend cannot profile. */
kiln_status kiln_context_profile(kiln_context *c, int n_inputs, const kiln_buffer *inputs,
                                 double *layer_ms);
const char *kiln_context_errmsg(const kiln_context *c);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
