#include "measure.h"

#include <stdlib.h>

#include "cli.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, size_t n, double p) {
    size_t k = (size_t)(p * (double)n + 0.999999);
    k = k ? k - 1 : 0;
    return s[k < n ? k : n - 1];
}

void measure_summarize(double *lat, size_t n, int64_t batch, measure_result *r) {
    qsort(lat, n, sizeof *lat, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += lat[i];
    r->batch = batch;
    r->runs = n;
    r->min = lat[0] * 1e3;
    r->max = lat[n - 1] * 1e3;
    r->mean = sum / (double)n * 1e3;
    r->median = r->p50 = pct(lat, n, 0.5) * 1e3;
    r->p90 = pct(lat, n, 0.9) * 1e3;
    r->p99 = pct(lat, n, 0.99) * 1e3;
    r->throughput = (double)batch / (r->median / 1e3);
}

void measure_engine(kiln_engine *e, int64_t b, const measure_opts *o, measure_result *r) {
    kiln_buffer bufs[16];
    int nb = cli_random_inputs(e, b, 1, bufs, 16);
    kiln_context *c;
    if (kiln_context_create(e, &c) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    for (int64_t i = 0; i < o->warmup; i++)
        if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
    size_t cap = 256, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (!lat) cli_die("out of memory");
    cli_progress bar;
    cli_progress_start(&bar, o->label ? o->label : "measure", o->quiet);
    double start = cli_now(), t1 = start;
    while (n < (size_t)o->min_iters || t1 - start < o->duration) {
        double t0 = cli_now();
        if (kiln_context_run(c, nb, bufs) != KILN_OK) cli_die("%s", kiln_context_errmsg(c));
        t1 = cli_now();
        if (n == cap) {
            double *nl = realloc(lat, (cap *= 2) * sizeof *lat);
            if (!nl) cli_die("out of memory");
            lat = nl;
        }
        lat[n++] = t1 - t0;
        double fi = o->min_iters ? (double)n / (double)o->min_iters : 1;
        double fd = o->duration > 0 ? (t1 - start) / o->duration : 1;
        cli_progress_update(&bar, fi < fd ? fi : fd);
    }
    cli_progress_end(&bar);
    r->seconds = t1 - start;
    measure_summarize(lat, n, b, r);
    free(lat);
    kiln_context_destroy(c);
    cli_free_inputs(bufs, nb);
}
