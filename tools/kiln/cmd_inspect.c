/* kiln inspect — layers, shapes, parameters and MACs of a model or plan. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/dtype.h"
#include "build/planner.h"
#include "core/stats.h"
#include "opt/opt.h"
#include "runtime/engine.h"

static void help(void) {
    printf("usage: kiln inspect MODEL|PLAN [options]\n\n"
           "Print the inputs, outputs and every layer (op, output shape, parameters, MACs) of a\n"
           "model, or of the engine kiln builds from it (--optimized), or of a plan file.\n\n"
           "  --optimized            show the optimized graph (fused layers by their parts) and\n"
           "                         the layer counts before and after\n"
           "  --passes               list the optimization passes, in order\n"
           "  --json                 machine-readable output\n"
           "%s",
           cli_build_help);
}

static int64_t node_params(const kiln_graph *g, const kiln_node *n) {
    int64_t p = 0;
    for (int j = 0; j < n->n_in; j++) {
        int id = n->in[j];
        if (id < 0 || g->t[id].kind != KILN_TENSOR_CONST || !kiln_dtype_is_float(g->t[id].dtype))
            continue;
        if (n->op == KILN_OP_BATCHNORM && j >= 3) continue;
        if (n->op == KILN_OP_CLIP || n->op == KILN_OP_RESIZE || n->op == KILN_OP_PAD) continue;
        p += kiln_shape_numel(&g->t[id].shape);
    }
    return p;
}

/* Activation memory per batch size of the profile (planned, its lower bound, unplanned). */
static void print_memory(const kiln_engine *e) {
    int64_t batches[2] = {e->has_batch ? e->bmin : 0, e->has_batch ? e->bmax : 0};
    int nb = e->has_batch && e->bmax != e->bmin ? 2 : 1;
    for (int i = 0; i < nb; i++) {
        kiln_memplan_stats st;
        kiln_err err;
        if (kiln_memplan_stats_get(e, batches[i], &st, &err) != KILN_OK) {
            printf("memory:  (not planned: %s)\n", err.msg);
            return;
        }
        printf("memory:  batch %lld: activations %.2f MB planned (lower bound %.2f MB, %.2f MB "
               "unplanned); weights %.1f MB\n",
               (long long)(st.batch ? st.batch : 1), st.arena_bytes / 1e6,
               st.lower_bound_bytes / 1e6, st.naive_bytes / 1e6, st.weight_bytes / 1e6);
    }
}

/* The backend's tactic for node i ("" when the backend has no tactic table). */
static const char *node_tactic(const kiln_engine *e, int i, char *buf, size_t n) {
    buf[0] = 0;
    if (e->iface && e->iface->node_tactic && e->bstate) e->iface->node_tactic(e, i, buf, n);
    return buf;
}

static const char *node_label(const kiln_node *n) { return n->label ? n->label : kiln_op_name(n->op); }

static void op_counts(const kiln_graph *g, char *buf, size_t nbuf) {
    int count[KILN_OP_COUNT] = {0};
    for (int i = 0; i < g->n_n; i++) count[g->n[i].op]++;
    buf[0] = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (!count[op]) continue;
        size_t k = strlen(buf);
        snprintf(buf + k, nbuf - k, "%s%s %d", k ? ", " : "", kiln_op_name(op), count[op]);
    }
}

static void print_io(const char *what, const kiln_io_info *io, int has_batch) {
    char shape[128] = "";
    for (int d = 0; d < io->ndim; d++) {
        size_t k = strlen(shape);
        if (io->dims[d] < 0) snprintf(shape + k, sizeof shape - k, "%sN", d ? "x" : "");
        else snprintf(shape + k, sizeof shape - k, "%s%lld", d ? "x" : "", (long long)io->dims[d]);
    }
    printf("%-8s %-16s %-8s %s%s\n", what, io->name, kiln_dtype_name(io->dtype), shape,
           has_batch ? "  (N = batch)" : "");
}

int cmd_inspect(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    int json = 0, optimized = 0, passes = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_flag(argv, i, "--json")) {
            json = 1;
        } else if (cli_flag(argv, i, "--optimized")) {
            optimized = 1;
        } else if (cli_flag(argv, i, "--passes")) {
            passes = 1;
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("inspect", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("inspect", "more than one model given");
        }
    }
    if (passes) {
        int np;
        const kiln_pass *p = kiln_passes(&np);
        printf("optimization passes, in order:\n");
        for (int i = 0; i < np; i++) printf("  %2d. %-20s %s\n", i + 1, p[i].name, p[i].summary);
        if (!o.model) return 0;
    }
    if (!o.model) cli_usage_die("inspect", "no model given");
    o.quiet = 1;
    int is_plan = cli_is_plan(o.model);
    /* The imported graph, for counts before optimization. */
    kiln_engine *raw = NULL;
    if (!is_plan) {
        cli_build_opts ro = o;
        ro.no_optimize = 1;
        raw = cli_engine(&ro);
    }
    kiln_engine *e = raw;
    if (is_plan || optimized) {
        o.no_optimize = 0;
        e = cli_engine(&o);
    }
    const kiln_graph *g = e->g;
    const kiln_shapes *s = &e->shapes_max;
    int64_t batch = e->has_batch ? e->bmax : 1;
    int64_t params = kiln_graph_param_count(g), macs = kiln_graph_macs(g, s);
    size_t wbytes = 0;
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].kind == KILN_TENSOR_CONST) wbytes += kiln_tensor_nbytes(&g->t[i]);
    char counts[2048], counts_raw[2048] = "";
    op_counts(g, counts, sizeof counts);
    if (raw && e != raw) op_counts(raw->g, counts_raw, sizeof counts_raw);

    if (json) {
        printf("{\n \"model\": \"%s\", \"graph\": \"%s\", \"batch\": %lld, \"layers\": %d, "
               "\"params\": %lld, \"weight_bytes\": %zu, \"macs_per_batch\": %lld,\n",
               o.model, e->optimized ? "optimized" : "imported", (long long)batch, g->n_n,
               (long long)params, wbytes, (long long)macs);
        if (raw && e != raw) printf(" \"layers_before\": %d,\n", raw->g->n_n);
        kiln_memplan_stats ms;
        kiln_err merr;
        if (kiln_memplan_stats_get(e, 0, &ms, &merr) == KILN_OK)
            printf(" \"activation_bytes_planned\": %zu, \"activation_bytes_lower_bound\": %zu, "
                   "\"activation_bytes_unplanned\": %zu,\n",
                   ms.arena_bytes, ms.lower_bound_bytes, ms.naive_bytes);
        printf(" \"nodes\": [\n");
        for (int i = 0; i < g->n_n; i++) {
            const kiln_node *n = &g->n[i];
            char shape[128];
            kiln_shape_str(&s->s[n->out[0]], shape, sizeof shape);
            char tactic[160];
            node_tactic(e, i, tactic, sizeof tactic);
            printf("  {\"name\": \"%s\", \"op\": \"%s\", \"label\": \"%s\", \"shape\": \"%s\", "
                   "\"params\": %lld, \"macs\": %lld, \"tactic\": \"%s\"}%s\n",
                   n->name, kiln_op_name(n->op), node_label(n), shape,
                   (long long)node_params(g, n), (long long)kiln_node_macs(g, s, n), tactic,
                   i + 1 < g->n_n ? "," : "");
        }
        printf(" ]\n}\n");
    } else {
        printf("model:   %s  (%s graph, opset %d)\n", o.model,
               e->optimized ? "optimized" : "imported", g->opset);
        for (int i = 0; i < g->n_inputs; i++) print_io("input", &e->io_in[i], e->has_batch);
        for (int i = 0; i < g->n_outputs; i++) print_io("output", &e->io_out[i], e->has_batch);
        if (e->has_batch)
            printf("batch:   %lld..%lld (shapes below at batch %lld)\n", (long long)e->bmin,
                   (long long)e->bmax, (long long)batch);
        printf("params:  %lld (%.1f MB of weights)\n", (long long)params, wbytes / 1e6);
        printf("MACs:    %.3f G per sample\n", (double)macs / 1e9 / (double)batch);
        print_memory(e);
        if (raw && e != raw) {
            printf("layers:  %d before optimization: %s\n", raw->g->n_n, counts_raw);
            printf("         %d after:  %s\n", g->n_n, counts);
        } else {
            printf("layers:  %d: %s\n", g->n_n, counts);
        }
        printf("\n%4s  %-34s %-26s %-18s %12s %14s  %s\n", "#", "name", "layer", "output", "params",
               "MACs", "tactic");
        for (int i = 0; i < g->n_n; i++) {
            const kiln_node *n = &g->n[i];
            char shape[128];
            kiln_shape_str(&s->s[n->out[0]], shape, sizeof shape);
            char tactic[160];
            printf("%4d  %-34.34s %-26.26s %-18s %12lld %14lld  %s\n", i, n->name, node_label(n),
                   shape, (long long)node_params(g, n), (long long)kiln_node_macs(g, s, n),
                   node_tactic(e, i, tactic, sizeof tactic));
        }
    }
    if (e != raw) kiln_engine_destroy(e);
    kiln_engine_destroy(raw);
    return 0;
}
