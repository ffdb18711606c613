/* kiln bench — warm up, then time repeated runs: median latency and throughput. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_IO 16

static void help(void) {
    printf("usage: kiln bench MODEL|PLAN [options]\n\n"
           "Warm up, then run repeatedly for --duration seconds (at least --iterations runs) and\n"
           "print the median latency, percentiles and throughput.\n\n"
           "  --duration SECONDS     how long to measure (default 3)\n"
           "  --iterations N         at least this many timed runs (default 10)\n"
           "  --warmup N             untimed runs first (default 2)\n"
           "  --json FILE            write every figure as JSON\n"
           "%s",
           cli_build_help);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, int n, double p) {
    int k = (int)(p * n + 0.999999) - 1; /* nearest rank */
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return sorted[k];
}

int cmd_bench(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    double duration = 3;
    int64_t iters = 10, warmup = 2;
    const char *json = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--duration", &v)) {
            duration = cli_double("--duration", v);
        } else if (cli_opt(argc, argv, &i, "--iterations", &v)) {
            iters = cli_int("--iterations", v, 1, 100000000);
        } else if (cli_opt(argc, argv, &i, "--warmup", &v)) {
            warmup = cli_int("--warmup", v, 0, 1000000);
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
    kiln_engine *e = cli_engine(&o);
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    int64_t batch = o.batch ? o.batch : (bopt ? bopt : 1);
    kiln_buffer bufs[MAX_IO];
    int nb = cli_random_inputs(e, batch, 1, bufs, MAX_IO);
    kiln_context *c;
    if (kiln_context_create(e, &c) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    for (int64_t i = 0; i < warmup; i++)
        if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
    size_t cap = 1024, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    cli_progress bar;
    cli_progress_start(&bar, "bench", o.quiet);
    double start = cli_now();
    while (n < (size_t)iters || cli_now() - start < duration) {
        double t0 = cli_now();
        if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
        double t1 = cli_now();
        if (n == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
        if (!lat) cli_die("out of memory");
        lat[n++] = t1 - t0;
        double fi = (double)n / (double)iters, fd = (t1 - start) / duration;
        cli_progress_update(&bar, fi < fd ? fi : fd);
    }
    double total = cli_now() - start;
    cli_progress_end(&bar);
    qsort(lat, n, sizeof *lat, cmp_double);
    double med = pct(lat, (int)n, 0.5), mean = 0;
    for (size_t i = 0; i < n; i++) mean += lat[i];
    mean /= (double)n;
    double thr = (double)batch * (double)n / total;
    printf("model: %s  backend: %s  precision: %s  batch: %lld\n", o.model,
           kiln_backend_name(kiln_engine_backend(e)), kiln_precision_name(kiln_engine_precision(e)),
           (long long)batch);
    printf("runs: %zu in %.2f s\n", n, total);
    printf("latency (ms): median %.3f  mean %.3f  min %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
           med * 1e3, mean * 1e3, lat[0] * 1e3, pct(lat, (int)n, 0.9) * 1e3,
           pct(lat, (int)n, 0.99) * 1e3, lat[n - 1] * 1e3);
    printf("throughput: %.2f samples/s\n", thr);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) cli_die("--json: cannot write %s", json);
        fprintf(f,
                "{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, "
                "\"runs\": %zu, \"seconds\": %.6f, \"latency_ms\": {\"median\": %.6f, \"mean\": %.6f, "
                "\"min\": %.6f, \"p90\": %.6f, \"p99\": %.6f, \"max\": %.6f}, "
                "\"throughput\": %.6f}\n",
                o.model, kiln_backend_name(kiln_engine_backend(e)),
                kiln_precision_name(kiln_engine_precision(e)), (long long)batch, n, total,
                med * 1e3, mean * 1e3, lat[0] * 1e3, pct(lat, (int)n, 0.9) * 1e3,
                pct(lat, (int)n, 0.99) * 1e3, lat[n - 1] * 1e3, thr);
        fclose(f);
    }
    free(lat);
    kiln_context_destroy(c);
    cli_free_inputs(bufs, nb);
    kiln_engine_destroy(e);
    return 0;
}
