#include "opt/opt.h"

#include <stddef.h>
#include <string.h>

/* The default pipeline. Order matters: constants and no-ops go first so that patterns are plain;
   batch norm folds into bare layers before activations and residuals fuse into them; siblings
   merge once their activations are fused (they must match); concat placement comes last, on the
   final producers. */
static const kiln_pass passes[] = {
    {"identity", "remove Identity, Dropout, no-op Reshape/Cast and Transpose pairs",
     kiln_pass_identity},
    {"fold-constants", "compute constant sub-graphs; batch-independent Reshape targets",
     kiln_pass_fold_constants},
    {"dead-nodes", "remove nodes whose outputs nobody reads", kiln_pass_dead_nodes},
    {"fold-pad", "fold Pad into the following Conv or pool", kiln_pass_fold_pad},
    {"fold-batchnorm", "fold BatchNormalization into Conv/ConvTranspose/Gemm, else scale-shift",
     kiln_pass_fold_batchnorm},
    {"fuse-activation", "fuse bias and activations (incl. SiLU) into Conv/Gemm/MatMul",
     kiln_pass_fuse_activation},
    {"fuse-residual", "fuse a residual Add (and its activation) into the producing layer",
     kiln_pass_fuse_residual},
    {"merge-siblings", "merge sibling 1x1 convolutions reading one tensor",
     kiln_pass_merge_siblings},
    {"concat-inplace", "producers write straight into their slice of a channel Concat",
     kiln_pass_concat_inplace},
    {"dead-nodes", "remove nodes whose outputs nobody reads", kiln_pass_dead_nodes},
};

const kiln_pass *kiln_passes(int *n) {
    *n = (int)(sizeof passes / sizeof passes[0]);
    return passes;
}

const kiln_pass *kiln_pass_find(const char *name) {
    int n;
    const kiln_pass *p = kiln_passes(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    return NULL;
}

kiln_status kiln_optimize(kiln_graph *g, kiln_err *e) {
    int n;
    const kiln_pass *p = kiln_passes(&n);
    for (int i = 0; i < n; i++) {
        kiln_status st = p[i].run(g, e);
        if (st == KILN_OK) st = kiln_graph_validate(g, e);
        if (st != KILN_OK) {
            kiln_err_prefix(e, "pass %s", p[i].name);
            return st;
        }
    }
    return KILN_OK;
}
