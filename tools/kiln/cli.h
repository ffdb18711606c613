/* cli.h — what the subcommands share: option parsing, loading a model or plan into an engine,
 * random inputs, a progress bar, timing. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "kiln.h"

/* "--name V" or "--name=V" at argv[*i]: on a match store V, advance *i past it, return 1.
   A missing value prints an error and exits the process (the CLI may; the library never). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* "--name" exactly: return 1 on a match. */
int cli_flag(char **argv, int i, const char *name);
/* Parse a positive integer option value or die with a one-line message naming the option. */
int64_t cli_int(const char *opt, const char *v, int64_t min, int64_t max);
double cli_double(const char *opt, const char *v);
/* Print "kiln: <msg>" to stderr and exit 1 (2 for usage errors). */
void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void cli_usage_die(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Options common to commands that build an engine. */
#define CLI_MAX_SHAPES 16
typedef struct cli_build_opts {
    const char *model;                 /* MODEL or PLAN */
    const char *shapes[CLI_MAX_SHAPES];/* NAME=1x3x224x224 */
    int n_shapes;
    int backend;                       /* kiln_backend_kind, -1: default (cpu) */
    int precision;                     /* kiln_precision, -1: default (fp32) */
    int64_t batch, min_batch, opt_batch, max_batch; /* 0: unset */
    int threads;
    int no_optimize;
    const char *timing_cache;
    int quiet;
} cli_build_opts;

void cli_build_opts_init(cli_build_opts *o);
/* Consume one of the common build options at argv[*i]; 1 when consumed. */
int cli_build_opt(int argc, char **argv, int *i, cli_build_opts *o);
/* Help text for the common build options. */
extern const char *cli_build_help;
/* 1 when path names a plan file (ends in .plan). */
int cli_is_plan(const char *path);
/* Load MODEL (with --shape) and build it, or load a PLAN; exits with a message on failure. */
kiln_engine *cli_engine(const cli_build_opts *o);
/* Parse "1x3x224x224" into dims; returns ndim or dies. */
int cli_parse_dims(const char *opt, const char *s, int64_t *dims);

/* Random input buffers for every engine input at batch b (uniform [-1, 1) for floats), seeded. */
int cli_random_inputs(kiln_engine *e, int64_t b, uint64_t seed, kiln_buffer *bufs, int max);
void cli_free_inputs(kiln_buffer *bufs, int n);

/* Monotonic seconds. */
double cli_now(void);

/* Where a JSON result comes from, as members without braces: "date", "kiln_version", "commit"
   (the one the CLI was built from), "host_cpu", "host_cores". */
void cli_json_provenance(FILE *f);
/* A progress bar on stderr when it is a terminal and not quiet: "[=====>   ] 40% 3.1s ETA 4.6s". */
typedef struct cli_progress {
    int enabled;
    double start;
    const char *label;
    int last_pct;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, int quiet);
void cli_progress_update(cli_progress *p, double fraction);
void cli_progress_end(cli_progress *p);
/* kiln_progress_fn adapter for builder progress. */
void cli_progress_cb(void *user, int done, int total, const char *what);

/* Subcommands: each returns the process exit code. */
int cmd_zoo(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_profile(int argc, char **argv);

#endif
