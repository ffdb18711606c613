/* kiln build — optimize and build a model into an engine and save it as a .plan file. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build/planner.h"
#include "cli.h"
#include "runtime/engine.h"

static void help(void) {
    printf("usage: kiln build MODEL -o FILE.plan [options]\n\n"
           "Optimize MODEL (fusing layers, folding constants), plan its memory, and save the\n"
           "engine. `kiln run FILE.plan`, `kiln bench FILE.plan` and `kiln inspect FILE.plan`\n"
           "then load it in milliseconds; a plan refuses to load on another device or kiln.\n\n"
           "  -o, --output FILE.plan  where to write the engine (required)\n"
           "  --json FILE            write the build figures as JSON\n"
           "%s",
           cli_build_help);
}

/* Node count of the model as imported (the layers before optimization). */
static int imported_layers(const char *model) {
    kiln_model *m = kiln_model_create();
    int n = -1;
    if (m && kiln_model_load(m, model) == KILN_OK) n = m->g->n_n;
    kiln_model_destroy(m);
    return n;
}

static void mb(char *buf, size_t n, size_t bytes) { snprintf(buf, n, "%.2f MB", bytes / 1e6); }

int cmd_build(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    const char *out = NULL, *json = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "-o", &v) || cli_opt(argc, argv, &i, "--output", &v)) {
            out = v;
        } else if (cli_opt(argc, argv, &i, "--json", &v)) {
            json = v;
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("build", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("build", "more than one model given");
        }
    }
    if (!o.model) cli_usage_die("build", "no model given");
    if (!out) cli_usage_die("build", "no output given (-o FILE.plan)");
    if (cli_is_plan(o.model)) cli_usage_die("build", "%s is already a plan; give a model", o.model);
    double t0 = cli_now();
    kiln_engine *e = cli_engine(&o);
    double t1 = cli_now();
    if (kiln_engine_save(e, out) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    double t2 = cli_now();
    struct stat sb;
    long long plan_bytes = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;

    int before = imported_layers(o.model), after = e->g->n_n;
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    kiln_memplan_stats lo, hi;
    kiln_err err = {0};
    if (kiln_memplan_stats_get(e, bmin, &lo, &err) != KILN_OK ||
        kiln_memplan_stats_get(e, bmax, &hi, &err) != KILN_OK)
        cli_die("%s", err.msg);
    char w[32], a[32], lb[32], un[32];
    mb(w, sizeof w, hi.weight_bytes);
    mb(a, sizeof a, hi.arena_bytes);
    mb(lb, sizeof lb, hi.lower_bound_bytes);
    mb(un, sizeof un, hi.naive_bytes);
    printf("built %s -> %s (%.2f MB) in %.2f s\n", o.model, out, plan_bytes / 1e6, t1 - t0);
    printf("  backend %s, precision %s, batch %lld..%lld (opt %lld)\n",
           kiln_backend_name(kiln_engine_backend(e)),
           kiln_precision_name(kiln_engine_precision(e)), (long long)bmin, (long long)bmax,
           (long long)bopt);
    printf("  layers: %d imported, %d after optimization\n", before, after);
    printf("  weights %s; activations at batch %lld: %s planned (lower bound %s, %s unplanned)\n",
           w, (long long)hi.batch, a, lb, un);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) cli_die("--json: cannot write %s", json);
        fprintf(f,
                "{\"model\": \"%s\", \"plan\": \"%s\", \"plan_bytes\": %lld, \"backend\": \"%s\", "
                "\"precision\": \"%s\", \"optimized\": %s, \"batch\": {\"min\": %lld, \"opt\": "
                "%lld, \"max\": %lld}, \"layers_imported\": %d, \"layers\": %d, "
                "\"weight_bytes\": %zu, \"build_seconds\": %.4f, \"save_seconds\": %.4f, "
                "\"activations\": [",
                o.model, out, plan_bytes, kiln_backend_name(kiln_engine_backend(e)),
                kiln_precision_name(kiln_engine_precision(e)), o.no_optimize ? "false" : "true",
                (long long)bmin, (long long)bopt, (long long)bmax, before, after, hi.weight_bytes,
                t1 - t0, t2 - t1);
        const kiln_memplan_stats *s[2] = {&lo, &hi};
        for (int i = 0; i < (bmin == bmax ? 1 : 2); i++)
            fprintf(f,
                    "%s{\"batch\": %lld, \"planned_bytes\": %zu, \"lower_bound_bytes\": %zu, "
                    "\"unplanned_bytes\": %zu}",
                    i ? ", " : "", (long long)s[i]->batch, s[i]->arena_bytes,
                    s[i]->lower_bound_bytes, s[i]->naive_bytes);
        fprintf(f, "]}\n");
        if (fclose(f) != 0) cli_die("--json: cannot write %s", json);
    }
    kiln_engine_destroy(e);
    return 0;
}
