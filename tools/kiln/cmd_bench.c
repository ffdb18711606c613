/* kiln bench — warm up, then time repeated runs: median latency and throughput. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "bench/loadgen.h"
#include "bench_scenario.h"
#include "measure.h"
#include "runtime/engine.h"

static void help(void) {
    printf("usage: kiln bench MODEL|PLAN [options]\n\n"
           "Without --scenario: warm up, then run back to back for --duration seconds (at least\n"
           "--iterations runs) and print the median latency, percentiles and throughput.\n"
           "With --scenario or --mode: an MLPerf-style run through kiln's load generator, with\n"
           "LoadGen's logs and VALID/INVALID verdict.\n\n"
           "  --duration SECONDS     how long to measure (default 3)\n"
           "  --iterations N         at least this many timed runs (default 10)\n"
           "  --warmup N             untimed runs first (default 2)\n"
           "  --json FILE            write every figure as JSON\n"
           "\nMLPerf-style runs:\n"
           "  --scenario S           singlestream|multistream|server|offline\n"
           "  --mode M               performance (default) | accuracy\n"
           "  --find-peak            Server: search the highest QPS that meets the latency bound\n"
           "  --streams N            execution contexts running at once (default 1)\n"
           "  --batch N              largest batch the dynamic batcher forms (MultiStream: 8)\n"
           "  --max-delay MS         batcher: wait at most this long for a full batch\n"
           "                         (default 2 ms for Server, 0 otherwise)\n"
           "  --target-qps Q         Server: Poisson arrival rate\n"
           "  --target-latency MS    Server: latency bound of the 99th percentile (default 15)\n"
           "  --expected-qps Q       Offline: sizes the query (default: measured briefly)\n"
           "  --duration SECONDS     shorten the run (below MLPerf's 600 s minimum it is INVALID)\n"
           "  --dataset DATASET      fashion-mnist[:DIR] | npy:X.npy:Y.npy | imagenet:DIR:VAL_MAP\n"
           "                         (default: 1024 random samples)\n"
           "  --user-conf FILE       MLPerf user.conf overrides\n"
           "  --log-dir DIR          write mlperf_log_summary.txt, _detail.txt, _accuracy.json\n"
           "%s",
           cli_build_help);
}

int cmd_bench(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    measure_opts mo = {.duration = 3, .min_iters = 10, .warmup = 2, .label = "bench"};
    const char *json = NULL, *v;
    bench_scenario_opts so;
    bench_scenario_defaults(&so);
    int lg_path = 0, have_duration = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--duration", &v)) {
            mo.duration = so.duration = cli_double("--duration", v);
            have_duration = 1;
        } else if (cli_opt(argc, argv, &i, "--scenario", &v)) {
            if ((so.scenario = kiln_lg_scenario_parse(v)) < 0)
                cli_die("--scenario: unknown scenario '%s' (singlestream, multistream, server, "
                        "offline)", v);
            lg_path = 1;
        } else if (cli_opt(argc, argv, &i, "--mode", &v)) {
            if ((so.mode = kiln_lg_mode_parse(v)) < 0)
                cli_die("--mode: unknown mode '%s' (performance, accuracy)", v);
            lg_path = 1;
        } else if (cli_flag(argv, i, "--find-peak")) {
            so.mode = KILN_LG_FIND_PEAK;
            lg_path = 1;
        } else if (cli_opt(argc, argv, &i, "--streams", &v)) {
            so.streams = (int)cli_int("--streams", v, 1, 256);
        } else if (cli_opt(argc, argv, &i, "--target-qps", &v)) {
            so.target_qps = cli_double("--target-qps", v);
        } else if (cli_opt(argc, argv, &i, "--target-latency", &v)) {
            so.target_latency_ms = cli_double("--target-latency", v);
        } else if (cli_opt(argc, argv, &i, "--max-delay", &v)) {
            so.max_delay_ms = cli_double("--max-delay", v);
        } else if (cli_opt(argc, argv, &i, "--expected-qps", &v)) {
            so.expected_qps = cli_double("--expected-qps", v);
        } else if (cli_opt(argc, argv, &i, "--dataset", &v)) {
            so.dataset = v;
        } else if (cli_opt(argc, argv, &i, "--log-dir", &v)) {
            so.log_dir = v;
        } else if (cli_opt(argc, argv, &i, "--user-conf", &v)) {
            so.user_conf = v;
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
    if (lg_path) {
        if (!have_duration) so.duration = 0;
        return bench_scenario(&o, &so, json);
    }
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
    size_t dev_bytes = kiln_engine_device_bytes(e, 1);
    if (dev_bytes) printf("device memory: %.1f MiB (weights, activations, workspace, staging)\n",
                          dev_bytes / 1048576.0);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) cli_die("--json: cannot write %s", json);
        fprintf(f,
                "{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, "
                "\"runs\": %zu, \"seconds\": %.6f, \"latency_ms\": {\"median\": %.6f, \"mean\": "
                "%.6f, \"min\": %.6f, \"p90\": %.6f, \"p99\": %.6f, \"max\": %.6f}, "
                "\"throughput\": %.6f, \"device_bytes\": %zu, ",
                o.model, kiln_backend_name(kiln_engine_backend(e)),
                kiln_precision_name(kiln_engine_precision(e)), (long long)batch, r.runs, r.seconds,
                r.median, r.mean, r.min, r.p90, r.p99, r.max, r.throughput, dev_bytes);
        cli_json_provenance(f);
        fprintf(f, "}\n");
        if (fclose(f)) cli_die("--json: cannot write %s", json);
    }
    kiln_engine_destroy(e);
    return 0;
}
