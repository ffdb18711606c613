/* kiln profile — where the time goes: per-layer times (median over runs), sorted, with a Chrome
 * trace (chrome://tracing, Perfetto) of one median run. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "measure.h"

static void help(void) {
    printf("usage: kiln profile MODEL|PLAN [options]\n\n"
           "Time every layer of the engine (median over --runs runs after a warm-up) and print\n"
           "them slowest first with their share of the total. Layer timing synchronizes after\n"
           "each layer, so the total is above what `kiln bench` measures.\n\n"
           "  --runs N               profiled runs (default 10)\n"
           "  --top N                print the N slowest layers (default all)\n"
           "  --trace FILE.json      write a Chrome trace of the layers (median times)\n"
           "  --json FILE            per-layer medians as JSON\n"
           "%s",
           cli_build_help);
}

typedef struct layer_time {
    int index;
    double ms;
} layer_time;

static int by_time_desc(const void *a, const void *b) {
    double x = ((const layer_time *)a)->ms, y = ((const layer_time *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

int cmd_profile(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    int64_t runs = 10, top = 0;
    const char *trace = NULL, *json = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--runs", &v)) {
            runs = cli_int("--runs", v, 1, 1000000);
        } else if (cli_opt(argc, argv, &i, "--top", &v)) {
            top = cli_int("--top", v, 1, 1000000);
        } else if (cli_opt(argc, argv, &i, "--trace", &v)) {
            trace = v;
        } else if (cli_opt(argc, argv, &i, "--json", &v)) {
            json = v;
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("profile", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("profile", "more than one model given");
        }
    }
    if (!o.model) cli_usage_die("profile", "no model given");
    kiln_engine *e = cli_engine(&o);
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    int64_t batch = o.batch ? o.batch : (bopt ? bopt : 1);
    kiln_buffer bufs[16];
    int nb = cli_random_inputs(e, batch, 1, bufs, 16);
    kiln_context *c;
    if (kiln_context_create(e, &c) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    int nl = kiln_engine_num_layers(e);
    double *all = calloc((size_t)(nl * runs) + 1, sizeof(double));
    double *med = calloc((size_t)nl + 1, sizeof(double)), *col = calloc((size_t)runs, sizeof(double));
    layer_time *order = calloc((size_t)nl + 1, sizeof(layer_time));
    if (!all || !med || !col || !order) cli_die("out of memory");
    for (int w = 0; w < 2; w++)
        if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
    cli_progress bar;
    cli_progress_start(&bar, "profile", o.quiet);
    for (int64_t r = 0; r < runs; r++) {
        if (kiln_context_profile(c, nb, bufs, all + r * nl) != KILN_OK)
            cli_die("%s", kiln_context_errmsg(c));
        cli_progress_update(&bar, (double)(r + 1) / (double)runs);
    }
    cli_progress_end(&bar);
    double total = 0;
    for (int l = 0; l < nl; l++) {
        for (int64_t r = 0; r < runs; r++) col[r] = all[r * nl + l];
        qsort(col, (size_t)runs, sizeof(double), cmp_double);
        med[l] = col[runs / 2];
        total += med[l];
        order[l] = (layer_time){l, med[l]};
    }
    qsort(order, (size_t)nl, sizeof(layer_time), by_time_desc);
    printf("model: %s  backend: %s  precision: %s  batch: %lld  layers: %d  runs: %lld\n", o.model,
           kiln_backend_name(kiln_engine_backend(e)), kiln_precision_name(kiln_engine_precision(e)),
           (long long)batch, nl, (long long)runs);
    printf("sum of layer medians: %.3f ms\n\n%4s  %-36s %-26s %10s %7s %7s\n", total, "#", "layer",
           "kind", "ms", "share", "cumul");
    double cum = 0;
    int shown = top ? (int)(top < nl ? top : nl) : nl;
    for (int i = 0; i < shown; i++) {
        const char *name, *kind;
        kiln_engine_layer(e, order[i].index, &name, &kind);
        cum += order[i].ms;
        printf("%4d  %-36.36s %-26.26s %10.4f %6.1f%% %6.1f%%\n", order[i].index, name, kind,
               order[i].ms, total > 0 ? 100 * order[i].ms / total : 0,
               total > 0 ? 100 * cum / total : 0);
    }
    if (trace) {
        FILE *f = fopen(trace, "w");
        if (!f) cli_die("--trace: cannot write %s", trace);
        fprintf(f, "{\"traceEvents\": [\n");
        double ts = 0;
        for (int l = 0; l < nl; l++) {
            const char *name, *kind;
            kiln_engine_layer(e, l, &name, &kind);
            fprintf(f, "  {\"name\": ");
            json_string(f, name);
            fprintf(f, ", \"cat\": ");
            json_string(f, kind);
            fprintf(f, ", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": %.3f, \"dur\": %.3f}%s\n",
                    ts * 1e3, med[l] * 1e3, l + 1 < nl ? "," : "");
            ts += med[l];
        }
        fprintf(f, "], \"displayTimeUnit\": \"ms\"}\n");
        if (fclose(f)) cli_die("--trace: cannot write %s", trace);
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) cli_die("--json: cannot write %s", json);
        fprintf(f, "{\"model\": ");
        json_string(f, o.model);
        fprintf(f, ", \"backend\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, \"runs\": %lld, "
                   "\"total_ms\": %.6f, \"layers\": [\n",
                kiln_backend_name(kiln_engine_backend(e)),
                kiln_precision_name(kiln_engine_precision(e)), (long long)batch, (long long)runs,
                total);
        for (int l = 0; l < nl; l++) {
            const char *name, *kind;
            kiln_engine_layer(e, l, &name, &kind);
            fprintf(f, "  {\"name\": ");
            json_string(f, name);
            fprintf(f, ", \"kind\": ");
            json_string(f, kind);
            fprintf(f, ", \"ms\": %.6f}%s\n", med[l], l + 1 < nl ? "," : "");
        }
        fprintf(f, "]}\n");
        if (fclose(f)) cli_die("--json: cannot write %s", json);
    }
    free(all);
    free(med);
    free(col);
    free(order);
    kiln_context_destroy(c);
    cli_free_inputs(bufs, nb);
    kiln_engine_destroy(e);
    return 0;
}
