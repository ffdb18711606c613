/* kiln graph — write a model (as imported, or --optimized) as Graphviz DOT: one box per layer,
 * fused layers labelled by their parts and shaded, tensor shapes on the edges. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/engine.h"

static void help(void) {
    printf("usage: kiln graph MODEL [--optimized] -o FILE.dot [options]\n\n"
           "Write the network as Graphviz DOT (render with `dot -Tsvg FILE.dot -o FILE.svg`).\n"
           "Fused layers show their parts (conv3x3+bn+add+relu); edges carry shapes at the\n"
           "engine's largest batch (--batch N); dashed edges are inputs a Concat's producer\n"
           "writes in place.\n\n"
           "  --optimized            the graph after kiln's optimizer (default: as imported)\n"
           "  -o, --output FILE.dot  where to write (required; - for stdout)\n"
           "%s",
           cli_build_help);
}

/* A DOT string literal: quotes and backslashes escaped. */
static void dot_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void write_dot(FILE *f, const kiln_engine *e) {
    const kiln_graph *g = e->g;
    const kiln_shapes *s = &e->shapes_max;
    int *producer = malloc(sizeof(int) * ((size_t)g->n_t + 1));
    if (!producer) cli_die("out of memory");
    for (int t = 0; t < g->n_t; t++) producer[t] = -1;
    for (int k = 0; k < g->n_n; k++)
        for (int j = 0; j < g->n[k].n_out; j++)
            if (g->n[k].out[j] >= 0) producer[g->n[k].out[j]] = k;
    fprintf(f, "digraph ");
    dot_str(f, g->name ? g->name : "kiln");
    fprintf(f, " {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", "
               "fillcolor=\"#f2f2f2\", fontname=\"Helvetica\", fontsize=10];\n"
               "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n");
    char buf[160], label[512];
    for (int i = 0; i < g->n_inputs; i++) {
        int t = g->inputs[i];
        snprintf(label, sizeof label, "%s\n%s %s", g->t[t].name, kiln_dtype_name(s->dt[t]),
                 kiln_shape_str(&s->s[t], buf, sizeof buf));
        fprintf(f, "  t%d [shape=ellipse, fillcolor=\"#d9ead3\", label=", t);
        dot_str(f, label);
        fprintf(f, "];\n");
    }
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        int known = 1;
        for (int j = 0; j < n->n_out; j++) known &= n->out[j] < 0 || s->val[n->out[j]] != NULL;
        const char *what = n->label ? n->label : kiln_op_name((kiln_op)n->op);
        snprintf(label, sizeof label, "%s\n%s", what, n->name ? n->name : "");
        fprintf(f, "  n%d [label=", k);
        dot_str(f, label);
        if (n->label) fprintf(f, ", fillcolor=\"#cfe2f3\", penwidth=1.5");
        if (known) fprintf(f, ", style=\"rounded,dashed\", fontcolor=\"#888888\"");
        fprintf(f, "];\n");
    }
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t < 0 || g->t[t].kind == KILN_TENSOR_CONST) continue;
            if (g->t[t].kind == KILN_TENSOR_INPUT) fprintf(f, "  t%d -> n%d", t, k);
            else if (producer[t] >= 0) fprintf(f, "  n%d -> n%d", producer[t], k);
            else continue;
            kiln_shape_str(&s->s[t], buf, sizeof buf);
            fprintf(f, " [label=");
            dot_str(f, buf);
            if (g->t[t].alias >= 0) fprintf(f, ", style=dashed");
            fprintf(f, "];\n");
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        snprintf(label, sizeof label, "%s\n%s %s", g->t[t].name, kiln_dtype_name(s->dt[t]),
                 kiln_shape_str(&s->s[t], buf, sizeof buf));
        fprintf(f, "  o%d [shape=ellipse, fillcolor=\"#fce5cd\", label=", i);
        dot_str(f, label);
        fprintf(f, "];\n");
        if (producer[t] >= 0) fprintf(f, "  n%d -> o%d;\n", producer[t], i);
        else if (g->t[t].kind == KILN_TENSOR_INPUT) fprintf(f, "  t%d -> o%d;\n", t, i);
    }
    fprintf(f, "}\n");
    free(producer);
}

int cmd_graph(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    const char *out = NULL, *v;
    int optimized = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_flag(argv, i, "--optimized")) {
            optimized = 1;
        } else if (cli_opt(argc, argv, &i, "-o", &v) || cli_opt(argc, argv, &i, "--output", &v)) {
            out = v;
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("graph", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("graph", "more than one model given");
        }
    }
    if (!o.model) cli_usage_die("graph", "no model given");
    if (!out) cli_usage_die("graph", "no output given (-o FILE.dot)");
    o.no_optimize = !optimized;
    o.quiet = 1;
    kiln_engine *e = cli_engine(&o);
    FILE *f = strcmp(out, "-") ? fopen(out, "w") : stdout;
    if (!f) cli_die("%s: cannot write", out);
    write_dot(f, e);
    if (f != stdout && fclose(f) != 0) cli_die("%s: write failed", out);
    if (f != stdout)
        fprintf(stderr, "wrote %s: %d layers%s\n", out, e->g->n_n,
                optimized ? " (optimized)" : " (as imported)");
    kiln_engine_destroy(e);
    return 0;
}
