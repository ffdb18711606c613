/* Per-node state prepared once per engine (see cpu.h): today a Conv's packed and transformed
 * filters. One small table from op to preparer keeps the executor unaware of what is inside. */
#include <stdlib.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_conv.h"
#include "core/threadpool.h"

struct kiln_cpu_prepared {
    kiln_op op;
    kiln__conv_prep *conv;
};

kiln_status kiln_cpu_prepare_node(const kiln_node *n, const kiln_view *in, int threads,
                                  kiln_cpu_prepared **pp, kiln_err *e) {
    *pp = NULL;
    if (threads <= 0) threads = kiln_num_cores();
    if (n->op != KILN_OP_CONV) return KILN_OK;
    kiln__conv_prep *c;
    KILN_TRY(kiln__cpu_conv_prepare(n, in, threads, &c, e));
    if (!c) return KILN_OK;
    kiln_cpu_prepared *p = malloc(sizeof *p);
    if (!p) {
        kiln__cpu_conv_prep_free(c);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    }
    *p = (kiln_cpu_prepared){(kiln_op)n->op, c};
    *pp = p;
    return KILN_OK;
}

void kiln_cpu_prepared_free(kiln_cpu_prepared *pp) {
    if (!pp) return;
    kiln__cpu_conv_prep_free(pp->conv);
    free(pp);
}

size_t kiln_cpu_prepared_bytes(const kiln_cpu_prepared *pp) {
    return pp ? kiln__cpu_conv_prep_bytes(pp->conv) : 0;
}

kiln_status kiln_cpu_run_prepared(kiln_cpu *cpu, const kiln_node *n, const kiln_cpu_prepared *pp,
                                  const kiln_view *in, kiln_view *out, kiln_err *e) {
    if (!pp || pp->op != (kiln_op)n->op || !cpu) return kiln_cpu_run_node(cpu, n, in, out, e);
    return kiln__cpu_conv_run(cpu, n, pp->conv, in, out, e);
}
