/* opt_util.h — what the optimizer passes share (internal to src/opt/): who reads a tensor,
 * shapes at two batch sizes, rewiring and removing nodes, new constants, fused-layer labels.
 *
 * Passes run on the graph as imported, whose batch dimension may still be symbolic. A rewrite
 * that depends on shapes must hold for every batch, so kiln__opt_shapes infers the graph at two
 * different batch sizes and passes require a fact at both (a shape sub-graph that differs between
 * them depends on the batch).
 */
#ifndef KILN_OPT_UTIL_H
#define KILN_OPT_UTIL_H

#include "core/graph.h"
#include "core/shape.h"

/* The two batch sizes shapes are inferred at (different, and neither 1, so that a batch
   dimension is never mistaken for a broadcastable or squeezable one). */
#define KILN__OPT_BATCH_A 2
#define KILN__OPT_BATCH_B 3

/* Shapes (and known values) of every tensor at KILN__OPT_BATCH_A and _B. When the graph has
   no symbolic batch both are the same fixed shapes. */
typedef struct kiln__opt_shapes {
    kiln_shapes at[2];
    int ok; /* 0 when inference failed (a symbolic dimension other than the batch): passes then
               skip rewrites that depend on shapes */
} kiln__opt_shapes;

void kiln__opt_shapes_init(const kiln_graph *g, kiln__opt_shapes *s);
void kiln__opt_shapes_free(kiln__opt_shapes *s);
/* 1 when tensor t has the same shape at both batches as shape a / b respectively. */
int kiln__opt_same_shape(const kiln__opt_shapes *s, int t, int u);

/* Number of node inputs reading t, plus one when t is a graph output. */
int kiln__opt_reads(const kiln_graph *g, int t);
/* The node that is the only reader of t (reading it once, t not a graph output), else -1. */
int kiln__opt_sole_reader(const kiln_graph *g, int t);
/* Make every node input reading `from` read `to`. */
void kiln__opt_replace_uses(kiln_graph *g, int from, int to);
/* Remove node k from the array (its tensors stay; compact drops the unreferenced ones). */
void kiln__opt_remove_node(kiln_graph *g, int k);
/* Move node `from` to index `to` (the nodes between shift by one). */
void kiln__opt_move_node(kiln_graph *g, int from, int to);
/* Node k computes out = in (Identity-like): remove it and make readers of out read in. When out
   is a graph output (its name must stay), the producer of in writes out directly instead, if in
   has no other reader. Returns 1 when the node was removed, 0 when it has to stay. */
int kiln__opt_bypass(kiln_graph *g, int k, int in, int out);
/* A new float32 constant taking over data (malloc'ed); name is "<base><suffix>". -1 on OOM
   (data is freed). */
int kiln__opt_add_const_f32(kiln_graph *g, const char *base, const char *suffix,
                            const kiln_shape *shape, float *data);
/* 1 when tensor t is a float32 constant with data. */
int kiln__opt_is_const_f32(const kiln_graph *g, int t);
/* Append "+part" to node k's label, starting from its base name ("conv3x3") when it has none.
   Returns 0 on out of memory (the label is then left as it was). */
int kiln__opt_label_append(kiln_node *n, const char *part);
/* The base label of an unfused node: "conv3x3", "conv1x1", "deconv4x4", "gemm", "matmul", ... */
void kiln__opt_base_label(const kiln_node *n, char *buf, size_t size);
/* The short name of an activation as it appears in labels ("relu", "relu6", "silu", ...). */
const char *kiln__opt_act_label(const kiln_act *a);
/* The activation an unfused node computes, when it is one a fused layer can apply (Relu, Clip
   with constant bounds, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh); 0 otherwise. */
int kiln__opt_node_act(const kiln_graph *g, const kiln_node *n, kiln_act *act);

#endif
