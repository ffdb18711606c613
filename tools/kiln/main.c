/* kiln — the command line. One file per subcommand (cmd_*.c); this one dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"zoo", cmd_zoo, "list built-in models (name, parameters, MACs, input shape)"},
    {"inspect", cmd_inspect, "layers, shapes, parameters and MACs of a model or plan"},
    {"build", cmd_build, "optimize and build a model into an engine file (.plan)"},
    {"graph", cmd_graph, "write a model's graph (as imported or optimized) as Graphviz DOT"},
    {"run", cmd_run, "run a model or plan once on given or random input"},
    {"bench", cmd_bench, "measure latency and throughput"},
    {"profile", cmd_profile, "per-layer times: where the time goes (Chrome trace too)"},
    {"compare", cmd_compare, "kiln in every precision vs PyTorch and ONNX Runtime, one table"},
};

static void usage(FILE *f) {
    fprintf(f,
            "kiln %s — bake trained networks into fast inference engines, run and measure them\n\n"
            "usage: kiln COMMAND [options]   (kiln COMMAND --help for its options)\n\n"
            "MODEL is a path to an .onnx file or zoo:NAME (e.g. zoo:resnet50); PLAN is a .plan "
            "file.\n\ncommands:\n",
            kiln_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kiln %s\n", kiln_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s' (see 'kiln --help')\n", argv[1]);
    return 2;
}
