/* dead-nodes: drop nodes whose outputs nobody reads (not even as a graph output) and the tensors
 * nobody references any more. */
#include "opt/opt.h"

kiln_status kiln_pass_dead_nodes(kiln_graph *g, kiln_err *e) {
    (void)e;
    kiln_graph_compact(g);
    return KILN_OK;
}
