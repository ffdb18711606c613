/* stats.h — model statistics as torchvision users quote them: learnable parameters and
 * multiply-accumulates.
 *
 * Parameters: the elements of floating-point constants that a layer learns (weights, biases,
 * batch-norm gamma/beta). Batch norm's running mean/variance (inputs 3 and 4) are buffers, not
 * parameters, and constants that only configure an op (Clip's bounds, Resize's scales, Pad's
 * value, shapes, indices) are not counted; a constant shared by several nodes counts once.
 *
 * MACs follow the thop/fvcore convention: Conv, ConvTranspose, Gemm and MatMul only (ResNet-50 at
 * 224x224 has 4.09 G); every other op counts 0.
 *
 * Example usage
 *
 *     kiln_shapes s;
 *     if (kiln_infer(g, NULL, &s, &err) == KILN_OK) {
 *         printf("%lld params, %.2f GMACs\n", (long long)kiln_graph_param_count(g),
 *                kiln_graph_macs(g, &s) / 1e9);
 *         kiln_shapes_free(&s);
 *     }
 */
#ifndef KILN_CORE_STATS_H
#define KILN_CORE_STATS_H

#include <stdint.h>

#include "core/graph.h"
#include "core/shape.h"

/* Learnable parameter elements of g (from declared constant shapes; -1 when out of memory). After
   batch-norm folding the count includes the biases the folding gave the convs. */
int64_t kiln_graph_param_count(const kiln_graph *g);
/* Multiply-accumulates of node n under inferred shapes s (those of one batch: the count scales
   with it); 0 for ops that are not Conv/ConvTranspose/Gemm/MatMul or whose shapes are unknown. */
int64_t kiln_node_macs(const kiln_graph *g, const kiln_shapes *s, const kiln_node *n);
/* Sum of kiln_node_macs over g's nodes. */
int64_t kiln_graph_macs(const kiln_graph *g, const kiln_shapes *s);

#endif
