/* opt.h — graph optimization: an ordered list of passes, each
 * `kiln_status kiln_pass_NAME(kiln_graph *g, kiln_err *e)`, keeping the graph valid and its
 * function unchanged. The list is data (printable with `kiln inspect --optimized --passes`). */
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

#endif
