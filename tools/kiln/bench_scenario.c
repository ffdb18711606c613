/* kiln bench --scenario/--mode: MLPerf-style runs through the load generator (src/bench/) with
 * kiln's system under test (several contexts and a dynamic batcher). */
#include "bench_scenario.h"

#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "bench/sut_kiln.h"
#include "io/dataset.h"

typedef struct accuracy {
    kiln_dataset *ds;
    uint64_t seen, top1, top5;
} accuracy;

static void accuracy_sink(void *user, uint64_t seq, uint64_t idx, const void *data, size_t size) {
    (void)seq;
    accuracy *a = user;
    a->seen++;
    if (!a->ds || size < 5 * sizeof(int32_t)) return;
    int32_t top[5];
    memcpy(top, data, sizeof top);
    int64_t label = kiln_dataset_label(a->ds, (int64_t)idx);
    if (top[0] == label) a->top1++;
    for (int i = 0; i < 5; i++)
        if (top[i] == label) {
            a->top5++;
            break;
        }
}

void bench_scenario_defaults(bench_scenario_opts *s) {
    memset(s, 0, sizeof *s);
    s->scenario = -1;
    s->mode = KILN_LG_PERFORMANCE;
    s->streams = 1;
    s->target_latency_ms = -1;
    s->max_delay_ms = -1;
    s->random_samples = 1024;
}

/* A rough throughput figure to size the Offline query: a few runs at the largest batch. */
static double estimate_qps(kiln_engine *e, int64_t batch) {
    measure_opts mo = {.duration = 0.5, .min_iters = 3, .warmup = 1, .quiet = 1};
    measure_result r;
    measure_engine(e, batch, &mo, &r);
    return r.throughput;
}

int bench_scenario(cli_build_opts *o, const bench_scenario_opts *s, const char *json) {
    int scenario = s->scenario < 0 ? KILN_LG_SINGLE_STREAM : s->scenario;
    if (s->mode == KILN_LG_ACCURACY && !s->dataset)
        cli_die("--mode accuracy needs --dataset (fashion-mnist, npy:X.npy:Y.npy, imagenet:DIR:MAP)");
    if (s->mode == KILN_LG_FIND_PEAK && scenario != KILN_LG_SERVER)
        cli_die("--find-peak applies to the Server scenario");
    /* The batcher may run any count up to the batch: the profile starts at 1. */
    int64_t max_batch = o->batch ? o->batch : (scenario == KILN_LG_MULTI_STREAM ? 8 : 1);
    if (scenario == KILN_LG_SINGLE_STREAM) max_batch = 1;
    if (!cli_is_plan(o->model)) {
        o->batch = 0;
        o->min_batch = 1;
        o->opt_batch = o->max_batch = max_batch;
    }
    kiln_engine *e = cli_engine(o);
    int64_t bmin, bopt, bmax;
    kiln_engine_batch_range(e, &bmin, &bopt, &bmax);
    if (cli_is_plan(o->model) && bmax && max_batch > bmax) max_batch = bmax;

    kiln_err err = {0};
    kiln_dataset *ds = NULL;
    if (s->dataset && kiln_dataset_open(s->dataset, &ds, &err) != KILN_OK) cli_die("%s", err.msg);
    kiln_bench_qsl *qsl;
    if (kiln_bench_qsl_create(e, ds, (uint64_t)s->random_samples, &qsl, &err) != KILN_OK)
        cli_die("%s", err.msg);

    kiln_lg_settings st;
    const char *name = strncmp(o->model, "zoo:", 4) ? "resnet50" : o->model + 4;
    kiln_lg_settings_init(&st, name, (kiln_lg_scenario)scenario);
    st.mode = (kiln_lg_mode)s->mode;
    kiln_lg *lg = kiln_lg_create();
    if (!lg) cli_die("out of memory");
    if (s->user_conf && kiln_lg_settings_load_conf(&st, s->user_conf, kiln_lg_errbuf(lg)) != KILN_OK)
        cli_die("%s", kiln_lg_errmsg(lg));
    if (s->duration > 0) st.duration_ms = (uint64_t)(s->duration * 1000);
    if (s->target_qps > 0) st.server_target_qps = s->target_qps;
    if (s->target_latency_ms >= 0) st.server_target_latency_ns = (uint64_t)(s->target_latency_ms * 1e6);
    if (scenario == KILN_LG_SERVER && st.server_target_qps <= 0)
        cli_die("the Server scenario needs --target-qps (or --find-peak with a starting --target-qps)");
    /* Offline sizes its one query from the expected rate; LoadGen's default of 1 QPS would make
       a tiny query, so measure unless the user said (flag or user.conf). */
    if (scenario == KILN_LG_OFFLINE) {
        if (s->expected_qps > 0) st.offline_expected_qps = s->expected_qps;
        else if (!s->user_conf) st.offline_expected_qps = estimate_qps(e, max_batch);
    }
    if (scenario == KILN_LG_MULTI_STREAM && max_batch < st.multi_stream_samples_per_query &&
        !o->quiet)
        fprintf(stderr, "kiln: note: queries of %d samples run as batches of %lld\n",
                st.multi_stream_samples_per_query, (long long)max_batch);
    if (s->log_dir && kiln_lg_set_log_dir(lg, s->log_dir) != KILN_OK)
        cli_die("%s", kiln_lg_errmsg(lg));
    accuracy acc = {.ds = ds};
    kiln_lg_set_accuracy_sink(lg, accuracy_sink, &acc);

    uint64_t delay_ns = s->max_delay_ms >= 0 ? (uint64_t)(s->max_delay_ms * 1e6)
                                             : (scenario == KILN_LG_SERVER ? 2000000u : 0);
    kiln_sut_kiln *sut;
    if (kiln_sut_kiln_create(e, s->streams, max_batch, delay_ns, &sut, &err) != KILN_OK)
        cli_die("%s", err.msg);
    if (kiln_sut_kiln_start(sut, lg, qsl, &err) != KILN_OK) cli_die("%s", err.msg);
    if (!o->quiet) {
        uint64_t min_ms = st.min_duration_ms;
        fprintf(stderr, "kiln: %s %s on %s, %d stream%s, batch up to %lld%s\n",
                kiln_lg_scenario_name((kiln_lg_scenario)scenario),
                kiln_lg_mode_name((kiln_lg_mode)s->mode), kiln_bench_qsl_iface(qsl)->name, s->streams,
                s->streams == 1 ? "" : "s", (long long)max_batch,
                st.duration_ms ? "" : " (MLPerf minimums: this takes a while; --duration shortens)");
        (void)min_ms;
    }
    kiln_lg_result res;
    kiln_status rs = kiln_lg_run(lg, kiln_sut_kiln_iface(sut), kiln_bench_qsl_iface(qsl), &st, &res);
    uint64_t runs;
    double mean_batch;
    kiln_sut_kiln_stats(sut, &runs, &mean_batch);
    kiln_sut_kiln_destroy(sut);
    if (rs != KILN_OK) cli_die("%s", kiln_lg_errmsg(lg));
    if (s->mode != KILN_LG_ACCURACY) kiln_lg_write_summary(&res, stdout);
    printf("kiln: %llu inference runs, mean batch %.2f\n", (unsigned long long)runs, mean_batch);
    if (s->mode == KILN_LG_ACCURACY) {
        double n = (double)acc.seen;
        printf("accuracy on %s: top-1 %.4f%% (%llu/%llu)  top-5 %.4f%%\n", kiln_dataset_name(ds),
               n ? 100.0 * (double)acc.top1 / n : 0, (unsigned long long)acc.top1,
               (unsigned long long)acc.seen, n ? 100.0 * (double)acc.top5 / n : 0);
    }
    if (json) {
        if (s->mode == KILN_LG_ACCURACY) {
            FILE *f = fopen(json, "w");
            if (!f) cli_die("--json: cannot write %s", json);
            fprintf(f, "{\"model\": \"%s\", \"dataset\": \"%s\", \"backend\": \"%s\", "
                       "\"precision\": \"%s\", \"samples\": %llu, \"top1_correct\": %llu, "
                       "\"top5_correct\": %llu, \"top1\": %.6f, \"top5\": %.6f, ",
                    o->model, kiln_dataset_name(ds), kiln_backend_name(kiln_engine_backend(e)),
                    kiln_precision_name(kiln_engine_precision(e)), (unsigned long long)acc.seen,
                    (unsigned long long)acc.top1, (unsigned long long)acc.top5,
                    acc.seen ? (double)acc.top1 / (double)acc.seen : 0,
                    acc.seen ? (double)acc.top5 / (double)acc.seen : 0);
            cli_json_provenance(f);
            fprintf(f, "}\n");
            if (fclose(f)) cli_die("--json: cannot write %s", json);
        } else if (kiln_lg_write_json_file(&res, json, &err) != KILN_OK) {
            cli_die("%s", err.msg);
        }
    }
    kiln_lg_destroy(lg);
    kiln_bench_qsl_destroy(qsl);
    kiln_dataset_close(ds);
    kiln_engine_destroy(e);
    return 0;
}
