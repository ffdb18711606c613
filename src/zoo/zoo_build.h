/* zoo_build.h — the zoo's internal graph builder: one call per torchvision layer.
 *
 * Each call adds the node (and its weights, named like torchvision's state_dict entries:
 * "layer1.0.conv1.weight", "layer1.0.bn1.running_var") and returns the output tensor id. The
 * builder keeps every tensor's batch-1 shape itself, so it knows the MACs of the model it builds
 * without running shape inference.
 *
 * Errors are sticky: after the first failure every call returns -1 and does nothing, so model
 * code reads as a plain list of layers and checks b->st once at the end.
 */
#ifndef KILN_ZOO_BUILD_H
#define KILN_ZOO_BUILD_H

#include <stdint.h>

#include "core/graph.h"
#include "core/shape.h"

typedef struct kiln__zb {
    kiln_graph *g;
    const char *model;  /* mixed into every weight's seed */
    uint64_t seed;
    kiln_shape *shape;  /* batch-1 shape of each tensor id */
    int cap_shape;
    int64_t macs;       /* Conv + Gemm multiply-accumulates at batch 1 */
    kiln_status st;     /* first failure, sticky */
    kiln_err *e;
    int clip_lo, clip_hi; /* shared ReLU6 bounds (rank-0 constants), -1 until first used */
    int no_weights;     /* KILN__ZOO_NO_WEIGHTS: weight constants get no data */
} kiln__zb;

/* Start a graph named model with input "input" of shape batch x c x h x w (batch symbolic). */
int kiln__zb_begin(kiln__zb *b, const char *model, uint64_t seed, int64_t c, int64_t h,
                   int64_t w, kiln_err *e);
/* Rename logits to "output", mark it, and validate. On failure the graph is destroyed. */
kiln_status kiln__zb_end(kiln__zb *b, int logits, kiln_graph **out);
void kiln__zb_free(kiln__zb *b); /* the shape table; the graph too when it was not handed out */

/* Layers. m is the torchvision module path ("layer1.0.conv1"); it names the node, its output
   tensor, and its weights (m + ".weight", ...). For the activations m may be NULL: the output is
   then named after the input ("layer1.0.bn1.relu"). */
int kiln__zb_conv(kiln__zb *b, int x, const char *m, int64_t cout, int64_t k, int64_t stride,
                  int64_t pad, int64_t group, int bias);
/* BatchNormalization with random statistics; gamma_scale < 1 shrinks a residual branch. */
int kiln__zb_bn(kiln__zb *b, int x, const char *m, float eps, float gamma_scale);
int kiln__zb_relu(kiln__zb *b, int x, const char *m);
int kiln__zb_relu6(kiln__zb *b, int x, const char *m); /* Clip(x, 0, 6) */
int kiln__zb_maxpool(kiln__zb *b, int x, const char *m, int64_t k, int64_t stride, int64_t pad,
                     int ceil_mode);
int kiln__zb_avgpool(kiln__zb *b, int x, const char *m, int64_t k, int64_t stride);
int kiln__zb_gap(kiln__zb *b, int x, const char *m); /* GlobalAveragePool */
int kiln__zb_flatten(kiln__zb *b, int x, const char *m);
/* Linear as Gemm(transB=1). gain 2 for a layer followed by ReLU, 1 for the logits. */
int kiln__zb_linear(kiln__zb *b, int x, const char *m, int64_t nout, double gain);
int kiln__zb_add(kiln__zb *b, int x, int y, const char *m);
int kiln__zb_concat(kiln__zb *b, const int *xs, int n, const char *m); /* along channels */

/* Batch-1 shape of tensor id as built (NULL after a failure); valid until the next layer call. */
const kiln_shape *kiln__zb_shape(const kiln__zb *b, int id);
/* Fail the build with a message (for model code's own checks); returns -1. */
int kiln__zb_fail(kiln__zb *b, kiln_status s, const char *msg);

/* Model builders: take a begun builder and its input, return the logits tensor (or -1). */
int kiln__zoo_resnet(kiln__zb *b, int x, int depth);
int kiln__zoo_googlenet(kiln__zb *b, int x, int variant);
int kiln__zoo_densenet(kiln__zb *b, int x, int depth);
int kiln__zoo_mobilenet_v2(kiln__zb *b, int x, int variant);
int kiln__zoo_vgg(kiln__zb *b, int x, int depth);
int kiln__zoo_alexnet(kiln__zb *b, int x, int variant);

/* Structure only: weight constants keep their names and shapes but have data NULL (the graph
   cannot run). For tools and tests that look at the architecture alone; VGG-16's 138M weights
   take a second to draw. Clip's bounds keep their values. */
#define KILN__ZOO_NO_WEIGHTS 1

/* kiln_zoo_build, plus what the builder knows without shape inference: every tensor's batch-1
   shape at the default input size (a kiln_shapes to free with kiln_shapes_free; constants' val
   point into the graph) and the Conv + Gemm MACs it counted. shapes and macs may be NULL. */
kiln_status kiln__zoo_build_ex(const char *name, uint64_t seed, int flags, kiln_graph **out,
                               kiln_shapes *shapes, int64_t *macs, kiln_err *e);

#endif
