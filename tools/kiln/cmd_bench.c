/* kiln bench — warm up, then time repeated runs: median latency and throughput. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "measure.h"

static void help(void) {
    printf("usage: kiln bench MODEL|PLAN [options]\n\n"
           "Warm up, then run back to back for --duration seconds (at least --iterations runs)\n"
           "and print the median latency, percentiles and throughput.\n\n"
           "  --duration SECONDS     how long to measure (default 3)\n"
           "  --iterations N         at least this many timed runs (default 10)\n"
           "  --warmup N             untimed runs first (default 2)\n"
           "  --json FILE            write every figure as JSON\n"
           "%s",
           cli_build_help);
}

int cmd_bench(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    measure_opts mo = {.duration = 3, .min_iters = 10, .warmup = 2, .label = "bench"};
    const char *json = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--duration", &v)) {
            mo.duration = cli_double("--duration", v);
        } else if (cli_opt(argc, argv, &i, "--iterations", &v)) {
            mo.min_iters = cli_int("--iterations", v, 1, 100000000);
        } else if (cli_opt(argc, argv, &i, "--warmup", &v)) {
            mo.warmup = cli_int("--warmup", v, 0, 1000000);
        } else if (cli_opt(argc, argv, &i, "--json", &v)) {
            json = v;
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("bench", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("bench", "more than one model given");
        }
    }
    if (!o.model) cli_usage_die("bench", "no model given");
    mo.quiet = o.quiet;
    kiln_engine *e = cli_engine(&o);
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    int64_t batch = o.batch ? o.batch : (bopt ? bopt : 1);
    measure_result r;
    measure_engine(e, batch, &mo, &r);
    printf("model: %s  backend: %s  precision: %s  batch: %lld\n", o.model,
           kiln_backend_name(kiln_engine_backend(e)), kiln_precision_name(kiln_engine_precision(e)),
           (long long)batch);
    printf("runs: %zu in %.2f s\n", r.runs, r.seconds);
    printf("latency (ms): median %.3f  mean %.3f  min %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
           r.median, r.mean, r.min, r.p90, r.p99, r.max);
    printf("throughput: %.2f samples/s\n", r.throughput);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) cli_die("--json: cannot write %s", json);
        fprintf(f,
                "{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, "
                "\"runs\": %zu, \"seconds\": %.6f, \"latency_ms\": {\"median\": %.6f, \"mean\": "
                "%.6f, \"min\": %.6f, \"p90\": %.6f, \"p99\": %.6f, \"max\": %.6f}, "
                "\"throughput\": %.6f}\n",
                o.model, kiln_backend_name(kiln_engine_backend(e)),
                kiln_precision_name(kiln_engine_precision(e)), (long long)batch, r.runs, r.seconds,
                r.median, r.mean, r.min, r.p90, r.p99, r.max, r.throughput);
        if (fclose(f)) cli_die("--json: cannot write %s", json);
    }
    kiln_engine_destroy(e);
    return 0;
}
