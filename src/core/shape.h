/* shape.h — shape (and shape-value) inference over a graph for one set of input shapes.
 *
 * Per op, an infer function maps input shapes/dtypes (and, where known, input values) to output
 * shapes/dtypes. The driver walks the graph in order and also *computes the values* of small
 * tensors whose inputs are all known (constants, Shape outputs and what derives from them), using
 * the CPU reference kernels. That is how exporters' shape sub-graphs (Shape -> Gather ->
 * Unsqueeze -> Concat -> Reshape) resolve for a given batch without running the network.
 */
#ifndef KILN_CORE_SHAPE_H
#define KILN_CORE_SHAPE_H

#include "core/graph.h"

/* A concrete tensor at run time: what kernels see. */
typedef struct kiln_view {
    kiln_dtype dtype;
    kiln_shape shape;  /* ndim -1: absent optional input */
    void *data;
} kiln_view;

/* What an infer function sees of one node. */
typedef struct kiln_infer_io {
    const kiln_node *node;
    int n_in;
    const kiln_shape *in_shape;  /* ndim -1 for an absent optional input */
    const kiln_dtype *in_dtype;
    const void *const *in_val;   /* values known before running (else NULL), row-major */
    int n_out;
    kiln_shape *out_shape;       /* to fill */
    kiln_dtype *out_dtype;       /* to fill */
} kiln_infer_io;

/* Fill every output's shape and dtype, or fail with a message (the driver adds the node name). */
typedef kiln_status (*kiln_infer_fn)(const kiln_infer_io *io, kiln_err *e);

/* The infer function of op, or NULL when kiln has none. Families live in their own files. */
kiln_infer_fn kiln_infer_lookup(kiln_op op);
kiln_infer_fn kiln_infer_nn_lookup(kiln_op op);     /* src/core/infer_nn.c */
kiln_infer_fn kiln_infer_tensor_lookup(kiln_op op); /* src/core/infer_tensor.c */

/* Inference rejects any dimension or element count above these (crafted files). */
#define KILN_MAX_DIM_SIZE ((int64_t)1 << 40)
#define KILN_MAX_NUMEL ((int64_t)1 << 48)

/* Values are computed for outputs of at most this many elements. */
#define KILN_SHAPE_VALUE_MAX 65536

typedef struct kiln_shapes {
    int n;                  /* number of tensors (graph n_t) */
    kiln_shape *s;
    kiln_dtype *dt;
    void **val;             /* host values known at build time, else NULL */
    unsigned char *own;     /* val[i] was allocated by the driver */
} kiln_shapes;

/* Infer every tensor of g. inputs: one shape per graph input (NULL or ndim -1 entries: use the
   declared shape, which must then be fully known). Errors name the node and op. */
kiln_status kiln_infer(const kiln_graph *g, const kiln_shape *inputs, kiln_shapes *out,
                       kiln_err *e);
void kiln_shapes_free(kiln_shapes *s);

/* Helpers for infer functions. */
/* Normalize a possibly negative axis for rank r; -1 if out of range. */
int64_t kiln_axis_norm(int64_t axis, int rank);
/* Numpy broadcast of a and b into out; 0 on mismatch. */
int kiln_shape_broadcast(const kiln_shape *a, const kiln_shape *b, kiln_shape *out);

#endif
