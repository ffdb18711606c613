#include "opt/opt.h"

#include <stddef.h>

/* Passes are added here as they are written (src/opt/pass_*.c). */
static const kiln_pass passes[] = {
    {"dead-nodes", "remove nodes whose outputs nobody reads", NULL},
};

const kiln_pass *kiln_passes(int *n) {
    *n = (int)(sizeof passes / sizeof passes[0]);
    return passes;
}

kiln_status kiln_optimize(kiln_graph *g, kiln_err *e) {
    int n;
    const kiln_pass *p = kiln_passes(&n);
    for (int i = 0; i < n; i++) {
        if (!p[i].run) {
            kiln_graph_compact(g);
            continue;
        }
        kiln_status st = p[i].run(g, e);
        if (st != KILN_OK) {
            kiln_err_prefix(e, "pass %s", p[i].name);
            return st;
        }
    }
    return kiln_graph_validate(g, e);
}
