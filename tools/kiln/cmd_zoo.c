/* kiln zoo — the built-in models. */
#include <string.h>

#include "cli.h"
#include "zoo/zoo.h"

int cmd_zoo(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            printf("usage: kiln zoo [--json]\n\n"
                   "List the built-in models: torchvision architectures with deterministic random\n"
                   "weights, usable anywhere a MODEL is taken as zoo:NAME.\n");
            return 0;
        } else if (cli_flag(argv, i, "--json")) {
            json = 1;
        } else {
            cli_usage_die("zoo", "unknown option '%s'", argv[i]);
        }
    }
    if (json) printf("[\n");
    else printf("%-14s %12s %10s  %-14s %s\n", "name", "params", "GMACs", "input", "summary");
    for (int i = 0; i < kiln_zoo_count(); i++) {
        const kiln_zoo_info *z = kiln_zoo_get(i);
        char in[64];
        snprintf(in, sizeof in, "%lldx%lldx%lldx%lld", (long long)z->input[0],
                 (long long)z->input[1], (long long)z->input[2], (long long)z->input[3]);
        if (json)
            printf("  {\"name\": \"%s\", \"params\": %lld, \"macs\": %lld, \"input\": \"%s\"}%s\n",
                   z->name, (long long)z->params, (long long)z->macs, in,
                   i + 1 < kiln_zoo_count() ? "," : "");
        else
            printf("%-14s %12lld %10.3f  %-14s %s\n", z->name, (long long)z->params, z->macs / 1e9,
                   in, z->summary);
    }
    if (json) printf("]\n");
    return 0;
}
