/* zoo.h — built-in architectures with torchvision's exact layer shapes and deterministic random
 * weights (seeded He-style init; batch-norm statistics that keep activations finite), so the
 * main job needs no download. Input "input" is Nx3xHxW (224x224 by default; 227 for none), the
 * batch dimension symbolic ("batch"); output "output" is Nx1000 logits.
 *
 * The graphs follow what torch.onnx (opset 17) exports from torchvision 0.14 in eval mode, with
 * three differences: batch norm stays a separate node (the exporter folds it into the conv), so
 * the optimizer has that work; no-ops the exporter writes are left out (VGG's 7x7 and AlexNet's
 * 6x6 adaptive pools, exported as a 1x1 AveragePool that is the identity at 224x224; DenseNet's
 * single-input Concat and zero Pad before each transition pool); and ReLU6's bounds are one
 * shared pair of constants. Dropout is absent, as in the export (the identity in inference).
 * Ops: Conv, BatchNormalization, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Concat,
 * Add, Flatten, Gemm (transB=1). The input's H and W are fixed at 224 as in an export; the
 * networks other than VGG-16 and AlexNet run at other sizes when the shape is given to
 * kiln_infer.
 *
 * Constants are named like torchvision's state_dict entries ("layer1.0.bn1.running_var"), so
 * trained weights can be put in by name; activations (all but "input" and "output") are named
 * after the module that produces them ("layer1.0.conv1"). docs/zoo.md has the weight init. */
#ifndef KILN_ZOO_H
#define KILN_ZOO_H

#include <stdint.h>

#include "core/graph.h"

typedef struct kiln_zoo_info {
    const char *name;       /* "resnet50" */
    const char *summary;    /* "ResNet-50 (He et al. 2015), torchvision layout" */
    int64_t params;         /* parameter count, equal to torchvision's */
    int64_t macs;           /* multiply-accumulates per image at the default input size */
    int64_t input[4];       /* default input shape, batch 1: 1x3x224x224 */
} kiln_zoo_info;

/* Number of built-in models and the i-th one's info (NULL when out of range). */
int kiln_zoo_count(void);
const kiln_zoo_info *kiln_zoo_get(int i);
const kiln_zoo_info *kiln_zoo_find(const char *name);
/* Build the named model ("resnet50", without "zoo:") with weights from seed (0: the default
   seed, what `zoo:NAME` uses). */
kiln_status kiln_zoo_build(const char *name, uint64_t seed, kiln_graph **out, kiln_err *e);

#endif
