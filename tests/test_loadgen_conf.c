/* Load generator settings: MLPerf defaults, user.conf parsing (precedence, units, comments),
 * errors with line numbers that leave the settings untouched, and a stretch of the official
 * mlperf.conf. */
#include <string.h>

#include "bench/loadgen.h"
#include "loadgen_sim.h"
#include "test.h"

static void test_defaults(void) {
    kiln_lg_settings s;
    static const uint64_t minq[4] = {1024, 270336, 270336, 24576};
    for (int sc = 0; sc < KILN_LG_SCENARIO_COUNT; sc++) {
        kiln_lg_settings_init(&s, NULL, (kiln_lg_scenario)sc);
        CHECK(!strcmp(s.model, "resnet50"), "default model");
        CHECK(s.min_duration_ms == 600000, "min_duration 600 s");
        CHECK(s.min_query_count == minq[sc], "%s min_query_count %llu",
              kiln_lg_scenario_name((kiln_lg_scenario)sc), (unsigned long long)s.min_query_count);
        CHECK(s.performance_sample_count_override == 1024, "performance_sample_count 1024");
    }
    CHECK(s.single_stream_target_latency_percentile == 0.90, "SS p90");
    CHECK(s.multi_stream_target_latency_percentile == 0.99 && s.multi_stream_samples_per_query == 8,
          "MS p99, 8 samples per query");
    CHECK(s.server_target_latency_ns == 15000000 && s.server_target_latency_percentile == 0.99,
          "Server p99 <= 15 ms");
    CHECK(s.qsl_rng_seed == 1780908523862526354ull &&
              s.sample_index_rng_seed == 14771362308971278857ull &&
              s.schedule_rng_seed == 18209322760996052031ull,
          "mlperf.conf seeds");
    CHECK(kiln_lg_scenario_parse("singlestream") == KILN_LG_SINGLE_STREAM &&
              kiln_lg_scenario_parse("Multi-Stream") == KILN_LG_MULTI_STREAM &&
              kiln_lg_scenario_parse("SERVER") == KILN_LG_SERVER &&
              kiln_lg_scenario_parse("offline") == KILN_LG_OFFLINE &&
              kiln_lg_scenario_parse("batch") == -1,
          "scenario names");
    CHECK(kiln_lg_mode_parse("performance") == KILN_LG_PERFORMANCE &&
              kiln_lg_mode_parse("AccuracyOnly") == KILN_LG_ACCURACY &&
              kiln_lg_mode_parse("find-peak") == KILN_LG_FIND_PEAK && kiln_lg_mode_parse("x") == -1,
          "mode names");
    CHECK(!strcmp(kiln_lg_scenario_name(KILN_LG_OFFLINE), "Offline") &&
              !strcmp(kiln_lg_mode_name(KILN_LG_PERFORMANCE), "PerformanceOnly"),
          "LoadGen names");
}

static void test_basic_and_units(void) {
    kiln_lg_settings s;
    kiln_err err = {0};
    kiln_lg_settings_init(&s, "resnet50", KILN_LG_SINGLE_STREAM);
    const char *conf =
        "# user.conf for a quick run\n"
        "\n"
        "*.SingleStream.min_duration = 10000\n"
        "  *.SingleStream.target_latency=0.5   # ms, fractions allowed\r\n"
        "*.*.qsl_rng_seed = 0x10\n"
        "*.SingleStream.target_latency_percentile = 95\n"
        "resnet50.Server.target_latency = 20\n"
        "*.Server.target_qps = 123.5\n"
        "*.Server.target_latency_percentile = 97\n"
        "*.Offline.target_qps = 2000\n"
        "*.MultiStream.samples_per_query = 4\n"
        "*.*.accuracy_log_probability = 10\n"
        "*.*.performance_sample_count_override = 256\n"
        "*.Server.max_async_queries = 7\n"
        "*.*.max_query_count = 5000\n";
    CHECK_OK(kiln_lg_settings_parse_conf(&s, conf, "user.conf", &err));
    CHECK(s.min_duration_ms == 10000, "min_duration %llu", (unsigned long long)s.min_duration_ms);
    CHECK(s.single_stream_expected_latency_ns == 500000, "target_latency ms -> ns");
    CHECK(s.qsl_rng_seed == 16, "hex seed");
    CHECK_CLOSE(s.single_stream_target_latency_percentile, 0.95, 1e-12);
    CHECK(s.server_target_latency_ns == 20000000, "server latency");
    CHECK_CLOSE(s.server_target_qps, 123.5, 0);
    CHECK_CLOSE(s.server_target_latency_percentile, 0.97, 1e-12);
    CHECK_CLOSE(s.offline_expected_qps, 2000, 0);
    CHECK(s.multi_stream_samples_per_query == 4, "samples per query");
    CHECK_CLOSE(s.accuracy_log_probability, 0.10, 1e-12);
    CHECK(s.performance_sample_count_override == 256, "perf count");
    CHECK(s.server_max_async_queries == 7, "max async");
    CHECK(s.max_query_count == 5000, "max queries");
    CHECK(s.min_query_count == 1024, "untouched keys keep their values");

    /* General keys are read for the settings' own scenario only. */
    kiln_lg_settings_init(&s, "resnet50", KILN_LG_SERVER);
    CHECK_OK(kiln_lg_settings_parse_conf(&s, "*.SingleStream.min_duration = 10000\n", "u", &err));
    CHECK(s.min_duration_ms == 600000, "SingleStream line does not touch Server");
    CHECK_OK(kiln_lg_settings_parse_conf(&s, "*.*.mode = 3\n*.*.mode = 1\n", "u", &err));
    CHECK(s.mode == KILN_LG_ACCURACY, "later line of the same rank wins");
}

static void test_precedence(void) {
    const char *conf = "resnet50.SingleStream.min_query_count = 40\n"
                       "*.SingleStream.min_query_count = 30\n"
                       "resnet50.*.min_query_count = 20\n"
                       "*.*.min_query_count = 10\n";
    kiln_lg_settings s;
    kiln_err err = {0};
    kiln_lg_settings_init(&s, "resnet50", KILN_LG_SINGLE_STREAM);
    CHECK_OK(kiln_lg_settings_parse_conf(&s, conf, "u", &err));
    CHECK(s.min_query_count == 40, "model.Scenario beats all, whatever the order: %llu",
          (unsigned long long)s.min_query_count);
    kiln_lg_settings_init(&s, "bert", KILN_LG_SINGLE_STREAM);
    CHECK_OK(kiln_lg_settings_parse_conf(&s, conf, "u", &err));
    CHECK(s.min_query_count == 30, "*.Scenario beats model.* (other model)");
    kiln_lg_settings_init(&s, "resnet50", KILN_LG_SERVER);
    CHECK_OK(kiln_lg_settings_parse_conf(&s, conf, "u", &err));
    CHECK(s.min_query_count == 20, "model.* beats *.*");
    kiln_lg_settings_init(&s, "bert", KILN_LG_OFFLINE);
    CHECK_OK(kiln_lg_settings_parse_conf(&s, conf, "u", &err));
    CHECK(s.min_query_count == 10, "*.* last");
}

static void test_errors(void) {
    static const struct { const char *text; int line; const char *needle; } bad[] = {
        {"*.SingleStream.min_duration 10\n", 1, "expected"},
        {"# ok\n*.SingleStream.min_duration = ten\n", 2, "not a number"},
        {"\n\n*.SingleStream.min_duration = -5\n", 3, "whole number"},
        {"*.SingleStream.min_duration = 1.5\n", 1, "whole number"},
        {"SingleStream.min_duration = 5\n", 1, "model.Scenario.key"},
        {"a.b.c.d = 5\n", 1, "model.Scenario.key"},
        {"*.Singlestream.min_duration = 5\n", 1, "unknown scenario"},
        {"*.*.min_durations = 5\n", 1, "unknown key 'min_durations'"},
        {"*.*.min_duration = 5 6\n", 1, "one value"},
        {"*.*.min_duration =\n", 1, "no value"},
        {"*.*.min_duration = 5 = 6\n", 1, "one value"},
        {"*.Server.target_latency_percentile = 150\n", 1, "percentage"},
        {"*.Server.target_latency_percentile = 0\n", 1, "(0, 100)"},
        {"*.*.mode = 0\n", 1, "not supported"},
        {"*.MultiStream.samples_per_query = 0\n", 1, "samples_per_query"},
        {"*.Server.target_latency = 1e300\n", 1, "too large"},
        {"*.*.min_duration = 99999999999999999999999\n", 1, "whole number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kiln_lg_settings s, before;
        kiln_lg_settings_init(&s, "resnet50", KILN_LG_SINGLE_STREAM);
        before = s;
        kiln_err err = {0};
        kiln_status st = kiln_lg_settings_parse_conf(&s, bad[i].text, "user.conf", &err);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "user.conf:%d:", bad[i].line);
        CHECK(st == KILN_ERR_PARSE, "case %zu: status %s", i, kiln_status_str(st));
        CHECK(!strncmp(err.msg, prefix, strlen(prefix)) && strstr(err.msg, bad[i].needle),
              "case %zu: message '%s' (want '%s' ... '%s')", i, err.msg, prefix, bad[i].needle);
        CHECK(!memcmp(&s, &before, sizeof s), "case %zu: settings changed on error", i);
    }
    char longline[700];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    kiln_lg_settings s;
    kiln_err err = {0};
    kiln_lg_settings_init(&s, "resnet50", KILN_LG_SINGLE_STREAM);
    CHECK(kiln_lg_settings_parse_conf(&s, longline, "u", &err) == KILN_ERR_PARSE, "long line");
    CHECK(kiln_lg_settings_load_conf(&s, "/nonexistent/user.conf", &err) == KILN_ERR_IO &&
              strstr(err.msg, "/nonexistent/user.conf"),
          "missing file: %s", err.msg);
}

/* The start of LoadGen's own mlperf.conf (keys for other models and features included). */
static const char *mlperf_conf =
    "# The format of this config file is 'key = value'.\n"
    "# The key has the format 'model.scenario.key'. Value is mostly int64_t.\n"
    "# Model maybe '*' as wildcard. In that case the value applies to all models.\n"
    "# All times are in milli seconds\n"
    "resnet50.*.performance_sample_count_override = 1024\n"
    "ssd-mobilenet.*.performance_sample_count_override = 256\n"
    "3d-unet.*.performance_sample_count_override = 0\n"
    "*.*.qsl_rng_seed = 1780908523862526354\n"
    "*.*.sample_index_rng_seed = 14771362308971278857\n"
    "*.*.schedule_rng_seed = 18209322760996052031\n"
    "*.*.test05_qsl_rng_seed = 7975553102935885558\n"
    "*.SingleStream.target_latency_percentile = 90\n"
    "pointpainting.SingleStream.target_latency_percentile = 99.9\n"
    "*.SingleStream.min_duration = 600000\n"
    "*.MultiStream.target_latency_percentile = 99\n"
    "*.MultiStream.samples_per_query = 8\n"
    "*.MultiStream.min_duration = 600000\n"
    "*.MultiStream.min_query_count = 662\n"
    "retinanet.MultiStream.target_latency = 528\n"
    "3d-unet.*.sample_concatenate_permutation = 1\n"
    "*.Server.target_latency = 10\n"
    "*.Server.target_latency_percentile = 99\n"
    "*.Server.target_duration = 0\n"
    "*.Server.min_duration = 600000\n"
    "resnet50.Server.target_latency = 15\n"
    "llama2-70b.*.use_token_latencies = 1\n"
    "llama2-70b.Server.ttft_latency = 2000\n"
    "llama2-70b.Server.tpot_latency = 200\n"
    "*.Offline.target_latency_percentile = 90\n"
    "*.Offline.min_duration = 600000\n"
    "resnet50.Offline.min_query_count = 24576\n"
    "*.SingleStream.target_latency = 10\n"
    "*.MultiStream.target_latency = 80\n"
    "*.Server.target_qps = 1.0\n"
    "*.Offline.target_qps = 1.0\n";

static void test_mlperf_conf(void) {
    char dir[1024], path[1200];
    fresh_dir("loadgen_conf", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/mlperf.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(mlperf_conf, f);
    fclose(f);
    for (int sc = 0; sc < KILN_LG_SCENARIO_COUNT; sc++) {
        kiln_lg_settings s, d;
        kiln_lg_settings_init(&s, "resnet50", (kiln_lg_scenario)sc);
        d = s;
        s.qsl_rng_seed = 0;
        kiln_err err = {0};
        kiln_status st = kiln_lg_settings_load_conf(&s, path, &err);
        CHECK(st == KILN_OK, "mlperf.conf: %s", err.msg);
        CHECK(s.qsl_rng_seed == d.qsl_rng_seed, "seed from the file");
        CHECK(s.server_target_latency_ns == 15000000, "resnet50 Server 15 ms beats *.Server 10");
        CHECK(s.performance_sample_count_override == 1024, "perf count");
        if (sc == KILN_LG_MULTI_STREAM)
            CHECK(s.min_query_count == 662, "MultiStream min queries from the file");
        if (sc == KILN_LG_OFFLINE) CHECK(s.min_query_count == 24576, "Offline min samples");
    }
}

/* Mutated configs: the parser answers OK or PARSE with a located message, never anything else
   (run under the sanitizers, this also checks memory safety). */
static void test_mutations(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed() + 7);
    static const char alphabet[] = "*.=#\n \t0123456789xeE-+SingleStreamServer_abc\r\0";
    size_t base = strlen(mlperf_conf);
    char *buf = malloc(base + 64);
    int bad = 0, ok = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, mlperf_conf, base + 1);
        size_t len = base;
        int edits = 1 + (int)(kiln_rng_uniform(&r) * 6);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(kiln_rng_uniform(&r) * (double)len);
            char c = alphabet[(size_t)(kiln_rng_uniform(&r) * (sizeof alphabet - 1))];
            double kind = kiln_rng_uniform(&r);
            if (kind < 0.4) {
                buf[at] = c;
            } else if (kind < 0.7 && len + 1 < base + 64) {
                memmove(buf + at + 1, buf + at, len - at + 1);
                buf[at] = c;
                len++;
            } else if (len > 1) {
                memmove(buf + at, buf + at + 1, len - at);
                len--;
            }
        }
        kiln_lg_settings s;
        kiln_lg_settings_init(&s, "resnet50", (kiln_lg_scenario)(trial % 4));
        kiln_err err = {0};
        kiln_status st = kiln_lg_settings_parse_conf(&s, buf, "m.conf", &err);
        if (st == KILN_OK) ok++;
        else if (st != KILN_ERR_PARSE || strncmp(err.msg, "m.conf:", 7)) bad++;
    }
    free(buf);
    CHECK(bad == 0 && ok > 0, "%d mutated configs gave an unexpected answer (%d parsed)", bad, ok);
}

int main(void) {
    test_defaults();
    test_mutations();
    test_basic_and_units();
    test_precedence();
    test_errors();
    test_mlperf_conf();
    return test_done();
}
