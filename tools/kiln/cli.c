#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/threadpool.h"
#include "kiln_commit.h"

void cli_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void cli_usage_die(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'kiln %s --help')\n", cmd);
    va_end(ap);
    exit(2);
}

int cli_flag(char **argv, int i, const char *name) { return !strcmp(argv[i], name); }

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n]) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kiln: option %s needs a value\n", name);
        exit(2);
    }
    *val = argv[++*i];
    return 1;
}

int64_t cli_int(const char *opt, const char *v, int64_t min, int64_t max) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "kiln: %s: '%s' is not an integer in %lld..%lld\n", opt, v, (long long)min,
                (long long)max);
        exit(2);
    }
    return x;
}

double cli_double(const char *opt, const char *v) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        fprintf(stderr, "kiln: %s: '%s' is not a number\n", opt, v);
        exit(2);
    }
    return x;
}

void cli_build_opts_init(cli_build_opts *o) {
    memset(o, 0, sizeof *o);
    o->backend = -1;
    o->precision = -1;
}

const char *cli_build_help =
    "  --shape NAME=DIMS      fix an input's symbolic dimensions, e.g. input=1x3x224x224\n"
    "  --batch N              batch size (fixes the engine's batch profile to N)\n"
    "  --min-batch/--opt-batch/--max-batch N   batch profile of the engine\n"
    "  --backend cpu|cuda     where to run (default cpu)\n"
    "  --precision P          fp32|tf32|fp16|bf16|int8|best (default fp32)\n"
    "  --threads N            CPU threads per context (default: one per core)\n"
    "  --no-optimize          build the graph as imported (no fusion or folding)\n"
    "  --timing-cache FILE    keep tactic timings between builds\n"
    "  --quiet                no progress output\n";

int cli_build_opt(int argc, char **argv, int *i, cli_build_opts *o) {
    const char *v;
    if (cli_opt(argc, argv, i, "--shape", &v)) {
        if (o->n_shapes >= CLI_MAX_SHAPES) cli_die("--shape: too many");
        o->shapes[o->n_shapes++] = v;
    } else if (cli_opt(argc, argv, i, "--batch", &v)) {
        o->batch = cli_int("--batch", v, 1, 1 << 20);
    } else if (cli_opt(argc, argv, i, "--min-batch", &v)) {
        o->min_batch = cli_int("--min-batch", v, 1, 1 << 20);
    } else if (cli_opt(argc, argv, i, "--opt-batch", &v)) {
        o->opt_batch = cli_int("--opt-batch", v, 1, 1 << 20);
    } else if (cli_opt(argc, argv, i, "--max-batch", &v)) {
        o->max_batch = cli_int("--max-batch", v, 1, 1 << 20);
    } else if (cli_opt(argc, argv, i, "--backend", &v)) {
        if ((o->backend = kiln_backend_parse(v)) < 0)
            cli_die("--backend: unknown backend '%s' (cpu, cuda)", v);
    } else if (cli_opt(argc, argv, i, "--precision", &v)) {
        if ((o->precision = kiln_precision_parse(v)) < 0)
            cli_die("--precision: unknown precision '%s' (fp32, tf32, fp16, bf16, int8, best)", v);
    } else if (cli_opt(argc, argv, i, "--threads", &v)) {
        o->threads = (int)cli_int("--threads", v, 0, 1024);
    } else if (cli_opt(argc, argv, i, "--timing-cache", &v)) {
        o->timing_cache = v;
    } else if (cli_flag(argv, *i, "--no-optimize")) {
        o->no_optimize = 1;
    } else if (cli_flag(argv, *i, "--quiet") || cli_flag(argv, *i, "-q")) {
        o->quiet = 1;
    } else {
        return 0;
    }
    return 1;
}

int cli_is_plan(const char *path) {
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".plan");
}

int cli_parse_dims(const char *opt, const char *s, int64_t *dims) {
    int nd = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v <= 0 || nd >= KILN_MAX_DIMS)
            cli_die("%s: bad dimensions '%s' (expected e.g. 1x3x224x224)", opt, s);
        dims[nd++] = v;
        p = end;
        if (*p == 'x' || *p == 'X' || *p == ',') p++;
        else if (*p) cli_die("%s: bad dimensions '%s' (expected e.g. 1x3x224x224)", opt, s);
    }
    if (!nd) cli_die("%s: no dimensions in '%s'", opt, s);
    return nd;
}

void cli_progress_cb(void *user, int done, int total, const char *what) {
    (void)what;
    cli_progress_update(user, total > 0 ? (double)done / total : 0);
}

kiln_engine *cli_engine(const cli_build_opts *o) {
    kiln_engine *e = kiln_engine_create();
    if (!e) cli_die("out of memory");
    if (cli_is_plan(o->model)) {
        if (o->n_shapes) cli_die("--shape applies to models, not to plan %s", o->model);
        if (kiln_engine_load(e, o->model) != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
        return e;
    }
    kiln_model *m = kiln_model_create();
    if (!m) cli_die("out of memory");
    if (kiln_model_load(m, o->model) != KILN_OK) cli_die("%s", kiln_model_errmsg(m));
    for (int i = 0; i < o->n_shapes; i++) {
        const char *eq = strchr(o->shapes[i], '=');
        int64_t dims[KILN_MAX_DIMS];
        char name[256];
        if (!eq || eq == o->shapes[i] || (size_t)(eq - o->shapes[i]) >= sizeof name)
            cli_die("--shape: expected NAME=DIMS, got '%s'", o->shapes[i]);
        memcpy(name, o->shapes[i], (size_t)(eq - o->shapes[i]));
        name[eq - o->shapes[i]] = 0;
        int nd = cli_parse_dims("--shape", eq + 1, dims);
        if (kiln_model_set_input_shape(m, name, nd, dims) != KILN_OK)
            cli_die("%s", kiln_model_errmsg(m));
    }
    kiln_builder_config *cfg = kiln_builder_config_create();
    if (!cfg) cli_die("out of memory");
    if (o->backend >= 0) kiln_builder_config_set_backend(cfg, (kiln_backend_kind)o->backend);
    if (o->precision >= 0) kiln_builder_config_set_precision(cfg, (kiln_precision)o->precision);
    int64_t bmin = o->min_batch, bopt = o->opt_batch, bmax = o->max_batch;
    if (o->batch) bmin = bopt = bmax = o->batch;
    if (bmin || bopt || bmax) {
        if (!bmin) bmin = 1;
        if (!bmax) bmax = bopt > bmin ? bopt : bmin;
        if (!bopt) bopt = bmax;
        if (kiln_builder_config_set_batch_range(cfg, bmin, bopt, bmax) != KILN_OK)
            cli_die("%s", kiln_builder_config_errmsg(cfg));
    }
    kiln_builder_config_set_threads(cfg, o->threads);
    kiln_builder_config_set_optimize(cfg, !o->no_optimize);
    if (o->timing_cache) kiln_builder_config_set_timing_cache(cfg, o->timing_cache);
    cli_progress bar;
    cli_progress_start(&bar, "build", o->quiet);
    kiln_builder_config_set_progress(cfg, cli_progress_cb, &bar);
    kiln_status st = kiln_engine_build(e, m, cfg);
    cli_progress_end(&bar);
    kiln_builder_config_destroy(cfg);
    kiln_model_destroy(m);
    if (st != KILN_OK) cli_die("%s", kiln_engine_errmsg(e));
    return e;
}

int cli_random_inputs(kiln_engine *e, int64_t b, uint64_t seed, kiln_buffer *bufs, int max) {
    int n = kiln_engine_num_inputs(e);
    if (n > max) cli_die("too many inputs (%d)", n);
    kiln_rng r;
    kiln_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        kiln_io_info io;
        kiln_engine_io(e, 1, i, &io);
        memset(&bufs[i], 0, sizeof bufs[i]);
        bufs[i].name = io.name;
        bufs[i].dtype = io.dtype;
        bufs[i].ndim = io.ndim;
        size_t numel = 1;
        for (int d = 0; d < io.ndim; d++) {
            bufs[i].dims[d] = io.dims[d] < 0 ? b : io.dims[d];
            numel *= (size_t)bufs[i].dims[d];
        }
        size_t es = kiln_dtype_size(io.dtype);
        bufs[i].data = malloc(numel * es + 1);
        if (!bufs[i].data) cli_die("out of memory for input '%s'", io.name);
        for (size_t k = 0; k < numel; k++) {
            double u = kiln_rng_uniform(&r) * 2 - 1;
            switch (io.dtype) {
            case KILN_F32: ((float *)bufs[i].data)[k] = (float)u; break;
            case KILN_I64: ((int64_t *)bufs[i].data)[k] = (int64_t)((u + 1) * 8); break;
            case KILN_I32: ((int32_t *)bufs[i].data)[k] = (int32_t)((u + 1) * 8); break;
            case KILN_U8: ((uint8_t *)bufs[i].data)[k] = (uint8_t)((u + 1) * 127); break;
            default: memset((char *)bufs[i].data + k * es, 0, es); break;
            }
        }
    }
    return n;
}

void cli_free_inputs(kiln_buffer *bufs, int n) {
    for (int i = 0; i < n; i++) free(bufs[i].data);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_start(cli_progress *p, const char *label, int quiet) {
    p->enabled = !quiet && isatty(2);
    p->start = cli_now();
    p->label = label;
    p->last_pct = -1;
}

void cli_progress_update(cli_progress *p, double f) {
    if (!p->enabled) return;
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    int pct = (int)(f * 100);
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    double el = cli_now() - p->start;
    char bar[31];
    int w = (int)(f * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < w ? '=' : (i == w ? '>' : ' ');
    bar[30] = 0;
    if (f > 0.01)
        fprintf(stderr, "\r%s [%s] %3d%% %.1fs ETA %.1fs ", p->label, bar, pct, el,
                el / f * (1 - f));
    else
        fprintf(stderr, "\r%s [%s] %3d%% %.1fs ", p->label, bar, pct, el);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (!p->enabled || p->last_pct < 0) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* The host CPU's model name (Linux /proc/cpuinfo) without JSON-special characters; "unknown"
   elsewhere. */
static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        size_t n = 0;
        for (; *c && *c != '\n' && n + 1 < cap; c++)
            if (*c != '"' && *c != '\\') out[n++] = *c;
        out[n] = 0;
        break;
    }
    fclose(f);
}

void cli_json_provenance(FILE *f) {
    char date[32], cpu[128];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cpu_model(cpu, sizeof cpu);
    fprintf(f, "\"date\": \"%s\", \"kiln_version\": \"%s\", \"commit\": \"%s\", \"host_cpu\": \"%s\", "
               "\"host_cores\": %d",
            date, kiln_version(), KILN_COMMIT, cpu, kiln_num_cores());
}
