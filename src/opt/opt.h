/* opt.h — graph optimization: an ordered list of passes, each
 * `kiln_status kiln_pass_NAME(kiln_graph *g, kiln_err *e)`, keeping the graph valid and its
 * function unchanged. The list is data (printable with `kiln inspect --optimized --passes`).
 *
 * Passes run on the imported graph before its batch is fixed: rewrites that depend on shapes
 * are checked at two batch sizes (src/opt/opt_util.h) so they hold at every batch. Fused layers
 * carry a label naming their parts ("conv3x3+bn+add+relu"). */
#ifndef KILN_OPT_H
#define KILN_OPT_H

#include "core/graph.h"

typedef kiln_status (*kiln_pass_fn)(kiln_graph *g, kiln_err *e);

typedef struct kiln_pass {
    const char *name;    /* "fold-batchnorm" */
    const char *summary; /* one line: what it does */
    kiln_pass_fn run;
} kiln_pass;

/* The default pipeline, in order; *n receives its length. */
const kiln_pass *kiln_passes(int *n);
/* Run every pass of the default pipeline. */
kiln_status kiln_optimize(kiln_graph *g, kiln_err *e);
/* The pass of that name in the default pipeline, or NULL. */
const kiln_pass *kiln_pass_find(const char *name);

/* The passes, one file each (src/opt/pass_*.c). */
kiln_status kiln_pass_identity(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_fold_constants(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_dead_nodes(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_fold_pad(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_fuse_activation(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_fuse_residual(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_merge_siblings(kiln_graph *g, kiln_err *e);
kiln_status kiln_pass_concat_inplace(kiln_graph *g, kiln_err *e);

/* 1 when node n (whose output has rank `rank`) computes each batch item from the same item of
   its inputs alone, so it can run item by item or write a strided (channel-slice) output: the
   producers concat-inplace may place into a Concat's buffer. */
int kiln_op_batch_separable(const kiln_node *n, int rank);

#endif
