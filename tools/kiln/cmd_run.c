/* kiln run — one inference on given (.npy) or random input; prints shapes and top-5 classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/npy.h"

#define MAX_IO 16

static void help(void) {
    printf("usage: kiln run MODEL|PLAN [options]\n\n"
           "Run once and print each output's shape; for classifiers (N x classes) also the top-5\n"
           "classes of every sample. Without --input, inputs are random (uniform in [-1, 1)).\n\n"
           "  --input NAME=FILE.npy  an input (repeatable; NAME= may be left out for one input)\n"
           "  --output FILE.npy      write the first output\n"
           "  --seed N               seed of the random input (default 1)\n"
           "%s",
           cli_build_help);
}

static void print_top5(const kiln_buffer *o) {
    int64_t n = o->dims[0], k = o->dims[1];
    const float *p = o->data;
    for (int64_t s = 0; s < n && s < 64; s++) {
        const float *row = p + s * k;
        int best[5];
        int nb = k < 5 ? (int)k : 5;
        for (int t = 0; t < nb; t++) {
            int arg = -1;
            for (int64_t c = 0; c < k; c++) {
                int taken = 0;
                for (int q = 0; q < t; q++) taken |= best[q] == c;
                if (!taken && (arg < 0 || row[c] > row[arg])) arg = (int)c;
            }
            best[t] = arg;
        }
        printf("  sample %lld top-%d:", (long long)s, nb);
        for (int t = 0; t < nb; t++) printf(" %d (%.4g)", best[t], row[best[t]]);
        printf("\n");
    }
    if (n > 64) printf("  ... %lld more samples\n", (long long)(n - 64));
}

int cmd_run(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    const char *inputs[MAX_IO], *output = NULL, *v;
    int n_inputs = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--input", &v)) {
            if (n_inputs >= MAX_IO) cli_die("--input: too many");
            inputs[n_inputs++] = v;
        } else if (cli_opt(argc, argv, &i, "--output", &v)) {
            output = v;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            seed = (uint64_t)cli_int("--seed", v, 0, INT64_MAX);
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("run", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("run", "more than one model given ('%s', '%s')", o.model, argv[i]);
        }
    }
    if (!o.model) cli_usage_die("run", "no model given");

    /* Inputs from files: read them first, so their shapes can fix the model's symbolic dims. */
    kiln_npy arrays[MAX_IO];
    char *names[MAX_IO];
    for (int i = 0; i < n_inputs; i++) {
        const char *eq = strchr(inputs[i], '=');
        const char *path = eq ? eq + 1 : inputs[i];
        names[i] = eq ? strndup(inputs[i], (size_t)(eq - inputs[i])) : NULL;
        kiln_err e;
        if (kiln_npy_read(path, &arrays[i], &e) != KILN_OK) cli_die("--input: %s", e.msg);
        if (!o.batch && arrays[i].ndim > 0 && !cli_is_plan(o.model)) o.batch = arrays[i].dims[0];
    }
    kiln_engine *e = cli_engine(&o);
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    kiln_buffer bufs[MAX_IO];
    int nb;
    if (n_inputs) {
        for (int i = 0; i < n_inputs; i++) {
            bufs[i] = (kiln_buffer){.name = names[i], .dtype = arrays[i].dtype,
                                    .ndim = arrays[i].ndim, .data = arrays[i].data};
            memcpy(bufs[i].dims, arrays[i].dims, sizeof bufs[i].dims);
        }
        nb = n_inputs;
    } else {
        nb = cli_random_inputs(e, o.batch ? o.batch : (bopt ? bopt : 1), seed, bufs, MAX_IO);
    }
    kiln_context *c;
    if (kiln_context_create(e, &c) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    double t0 = cli_now();
    if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
    double dt = cli_now() - t0;
    for (int i = 0; i < kiln_engine_num_outputs(e); i++) {
        kiln_buffer out;
        if (kiln_context_output(c, i, &out) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
        char shape[128] = "";
        for (int d = 0; d < out.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "x" : "",
                     (long long)out.dims[d]);
        printf("output '%s': %s %s\n", out.name, kiln_dtype_name(out.dtype), shape);
        if (out.dtype == KILN_F32 && out.ndim == 2 && out.dims[1] >= 2) print_top5(&out);
        if (i == 0 && output) {
            kiln_err err;
            if (kiln_npy_write(output, out.dtype, out.ndim, out.dims, out.data, &err) != KILN_OK)
                cli_die("--output: %s", err.msg);
        }
    }
    printf("time: %.3f ms (one run, cold)\n", dt * 1e3);
    kiln_context_destroy(c);
    if (n_inputs) {
        for (int i = 0; i < n_inputs; i++) {
            kiln_npy_free(&arrays[i]);
            free(names[i]);
        }
    } else {
        cli_free_inputs(bufs, nb);
    }
    kiln_engine_destroy(e);
    return 0;
}
