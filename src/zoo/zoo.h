/* zoo.h — built-in architectures with torchvision's exact layer shapes and deterministic random
 * weights (seeded He-style init; batch-norm statistics that keep activations finite), so the
 * main job needs no download. Input "input" is Nx3xHxW (224x224 by default; 227 for none), the
 * batch dimension symbolic ("batch"); output "output" is Nx1000 logits. */
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
