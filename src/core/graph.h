/* graph.h — the IR: a topologically ordered array of nodes over an array of tensors.
 *
 * Plain data. Tensors are referred to by index (int id) everywhere; -1 marks an absent optional
 * input. A tensor is an activation (computed), a constant (weights; data points to host memory),
 * or a graph input. Shapes here are the declared ones: constants and fixed inputs are exact,
 * symbolic dimensions are -1 with their dim_param name in sym[]. Concrete shapes for one batch
 * come from kiln_infer() (shape.h), never stored back into the graph, so one graph can serve
 * several contexts running different batches at once.
 */
#ifndef KILN_CORE_GRAPH_H
#define KILN_CORE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/op.h"
#include "kiln.h"

typedef struct kiln_shape {
    int ndim;                    /* -1: unknown rank */
    int64_t d[KILN_MAX_DIMS];    /* -1: symbolic/unknown */
} kiln_shape;

typedef enum kiln_tensor_kind {
    KILN_TENSOR_ACT = 0,   /* produced by a node */
    KILN_TENSOR_CONST = 1, /* data holds the values */
    KILN_TENSOR_INPUT = 2, /* a graph input, bound at run time */
} kiln_tensor_kind;

typedef struct kiln_tensor {
    char *name;
    int kind;                      /* kiln_tensor_kind */
    kiln_dtype dtype;              /* KILN_DTYPE_UNDEFINED until known */
    kiln_shape shape;              /* declared shape, see above */
    char *sym[KILN_MAX_DIMS];      /* dim_param names of graph inputs (NULL: fixed or unknown) */
    void *data;                    /* constants: row-major values */
    int owns_data;                 /* free(data) with the graph; else it lives in a blob */
    int is_output;                 /* a graph output */
    /* Concat in place (set by the optimizer, honoured by the memory planner): this tensor lives
       inside tensor `alias` (-1: its own storage). Both have the batch as dim 0; item n of this
       tensor starts alias_offset elements after the start of item n of `alias`, so its items are
       numel(alias)/batch elements apart (a channel slice of an NCHW buffer, at any batch). */
    int alias;
    int64_t alias_offset;
} kiln_tensor;

typedef struct kiln_node {
    int op;                        /* kiln_op */
    char *name;
    int n_in, n_out;
    int *in, *out;                 /* tensor ids; -1 = absent optional input */
    int opset;                     /* opset of the ONNX domain the node was imported under */
    kiln_attr a;
    char *label;                   /* fused layers: "conv3x3+bn+add+relu"; NULL otherwise */
} kiln_node;

/* Memory kept alive for constants that point into it (a mapped file, one big weight block). */
typedef struct kiln_blob {
    void *ptr;
    size_t size;
    int mapped;                    /* munmap instead of free */
} kiln_blob;

typedef struct kiln_graph {
    char *name;
    kiln_tensor *t;
    int n_t, cap_t;
    kiln_node *n;
    int n_n, cap_n;
    int *inputs, n_inputs;         /* graph inputs (not constants), in binding order */
    int *outputs, n_outputs;       /* graph outputs, in binding order */
    int opset;                     /* default-domain opset the model was imported under */
    kiln_blob *blobs;
    int n_blobs;
} kiln_graph;

kiln_graph *kiln_graph_create(void);
void kiln_graph_destroy(kiln_graph *g);
/* A deep copy: constants are copied too (owned by the copy), blobs are not shared. */
kiln_graph *kiln_graph_clone(const kiln_graph *g);

/* Add a tensor and return its id, or -1 when out of memory. name is copied (NULL: "t<id>"). */
int kiln_graph_add_tensor(kiln_graph *g, const char *name, kiln_tensor_kind kind, kiln_dtype dtype,
                          const kiln_shape *shape);
/* Add a constant; data is taken over (freed with the graph) when owns is 1. */
int kiln_graph_add_const(kiln_graph *g, const char *name, kiln_dtype dtype, const kiln_shape *shape,
                         void *data, int owns);
/* Add a node and return its index, or -1 when out of memory. in/out are copied. */
int kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, int n_in, const int *in,
                        int n_out, const int *out);
/* Keep a blob alive for the graph's lifetime. */
int kiln_graph_add_blob(kiln_graph *g, void *ptr, size_t size, int mapped);
int kiln_graph_mark_input(kiln_graph *g, int tensor);
int kiln_graph_mark_output(kiln_graph *g, int tensor);

/* Id of the tensor with that name, or -1. Linear search: for importers and tests. */
int kiln_graph_find(const kiln_graph *g, const char *name);
/* Index of the node producing tensor id, or -1 (inputs, constants). */
int kiln_graph_producer(const kiln_graph *g, int tensor);
/* Number of node inputs reading tensor id (plus 1 if it is a graph output). */
int kiln_graph_consumers(const kiln_graph *g, int tensor);

/* Check ids are in range, every activation is produced exactly once before use, and nodes are
   in topological order. */
kiln_status kiln_graph_validate(const kiln_graph *g, kiln_err *e);
/* Reorder nodes topologically (stable); fails on a cycle or a tensor nobody produces. */
kiln_status kiln_graph_toposort(kiln_graph *g, kiln_err *e);
/* Drop nodes whose outputs nobody reads and tensors nobody references; renumbers ids. */
void kiln_graph_compact(kiln_graph *g);

/* Shape helpers. */
int64_t kiln_shape_numel(const kiln_shape *s);       /* -1 if any dim unknown; 1 for rank 0 */
int kiln_shape_eq(const kiln_shape *a, const kiln_shape *b);
kiln_shape kiln_shape_make(int ndim, const int64_t *d);
/* "1x3x224x224" (symbolic dims as '?'); buf is returned. */
char *kiln_shape_str(const kiln_shape *s, char *buf, size_t n);
/* Bytes of a constant tensor's data. */
size_t kiln_tensor_nbytes(const kiln_tensor *t);

#endif
