/* bench_scenario.h — the MLPerf-style path of `kiln bench`. */
#ifndef KILN_CLI_BENCH_SCENARIO_H
#define KILN_CLI_BENCH_SCENARIO_H

#include "cli.h"
#include "measure.h"

typedef struct bench_scenario_opts {
    int scenario;            /* kiln_lg_scenario; -1: none given */
    int mode;                /* kiln_lg_mode */
    int streams;
    double duration;         /* seconds; 0: MLPerf minimums */
    double target_qps;
    double target_latency_ms; /* -1: the default (15 ms) */
    double max_delay_ms;      /* batcher wait; -1: default (2 ms Server, 0 otherwise) */
    double expected_qps;      /* Offline query sizing; 0: estimate */
    const char *dataset;
    const char *log_dir;
    const char *user_conf;
    int64_t random_samples;
} bench_scenario_opts;

void bench_scenario_defaults(bench_scenario_opts *s);
int bench_scenario(cli_build_opts *o, const bench_scenario_opts *s, const char *json);

#endif
