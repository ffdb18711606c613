/* settings.c — test settings: names, the MLPerf ResNet-50 defaults, what a run really uses
 * (LoadGen's TestSettingsInternal), and the user.conf / mlperf.conf parser. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lg_internal.h"

/* ---- names ---- */

static const char *const scenario_names[KILN_LG_SCENARIO_COUNT] = {
    "SingleStream", "MultiStream", "Server", "Offline"};
static const char *const mode_names[KILN_LG_MODE_COUNT] = {"PerformanceOnly", "AccuracyOnly",
                                                            "FindPeakPerformance"};

const char *kiln_lg_scenario_name(kiln_lg_scenario s) {
    return (unsigned)s < KILN_LG_SCENARIO_COUNT ? scenario_names[s] : "InvalidScenario";
}

const char *kiln_lg_mode_name(kiln_lg_mode m) {
    return (unsigned)m < KILN_LG_MODE_COUNT ? mode_names[m] : "InvalidMode";
}

/* Lower case without '-', '_' and ' ', so "Single-Stream" and "singlestream" compare equal. */
static void squash(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (; *in && k + 1 < n; in++)
        if (*in != '-' && *in != '_' && *in != ' ') out[k++] = (char)tolower((unsigned char)*in);
    out[k] = 0;
}

int kiln_lg_scenario_parse(const char *name) {
    if (!name) return -1;
    char a[32], b[32];
    squash(name, a, sizeof a);
    for (int i = 0; i < KILN_LG_SCENARIO_COUNT; i++) {
        squash(scenario_names[i], b, sizeof b);
        if (!strcmp(a, b)) return i;
    }
    return -1;
}

int kiln_lg_mode_parse(const char *name) {
    static const struct { const char *name; kiln_lg_mode mode; } alias[] = {
        {"performanceonly", KILN_LG_PERFORMANCE}, {"performance", KILN_LG_PERFORMANCE},
        {"accuracyonly", KILN_LG_ACCURACY},       {"accuracy", KILN_LG_ACCURACY},
        {"findpeakperformance", KILN_LG_FIND_PEAK}, {"findpeak", KILN_LG_FIND_PEAK}};
    if (!name) return -1;
    char a[32];
    squash(name, a, sizeof a);
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(a, alias[i].name)) return (int)alias[i].mode;
    return -1;
}

/* ---- defaults ---- */

void kiln_lg_settings_init(kiln_lg_settings *s, const char *model, kiln_lg_scenario scenario) {
    memset(s, 0, sizeof *s);
    snprintf(s->model, sizeof s->model, "%s", model ? model : "resnet50");
    s->scenario = scenario;
    s->mode = KILN_LG_PERFORMANCE;
    /* mlperf.conf's "should be overridden in user.conf" placeholders, as LoadGen ships them. */
    s->single_stream_expected_latency_ns = 10000000;  /* *.SingleStream.target_latency = 10 */
    s->single_stream_target_latency_percentile = 0.90;
    s->multi_stream_samples_per_query = 8;
    s->multi_stream_target_latency_percentile = 0.99;
    s->multi_stream_expected_latency_ns = 80000000;   /* *.MultiStream.target_latency = 80 */
    s->server_target_qps = 1.0;
    s->server_target_latency_ns = 15000000;           /* resnet50.Server.target_latency = 15 */
    s->server_target_latency_percentile = 0.99;
    s->server_max_async_queries = 0;
    s->server_find_peak_qps_decimals_of_precision = 1;
    s->server_find_peak_qps_boundary_step_size = 1.0;
    s->offline_expected_qps = 1.0;
    s->min_duration_ms = 600000;
    /* The rules' minimum query counts for ResNet-50 (Offline: samples in its one query). */
    static const uint64_t min_queries[KILN_LG_SCENARIO_COUNT] = {1024, 270336, 270336, 24576};
    s->min_query_count = (unsigned)scenario < KILN_LG_SCENARIO_COUNT ? min_queries[scenario] : 0;
    /* The official seeds from mlperf.conf. */
    s->qsl_rng_seed = 1780908523862526354ull;
    s->sample_index_rng_seed = 14771362308971278857ull;
    s->schedule_rng_seed = 18209322760996052031ull;
    s->performance_sample_count_override = 1024;
}

double kiln__lg_target_percentile(const kiln_lg_settings *s) {
    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM: return s->single_stream_target_latency_percentile;
    case KILN_LG_MULTI_STREAM: return s->multi_stream_target_latency_percentile;
    case KILN_LG_SERVER: return s->server_target_latency_percentile;
    default: return 0.99; /* unused by Offline; LoadGen sets 0.99 to avoid a garbage value */
    }
}

static int bad_fraction(double p) { return !(p > 0 && p < 1); }

kiln_status kiln__lg_settings_check(const kiln_lg_settings *s, kiln_err *err) {
    if ((unsigned)s->scenario >= KILN_LG_SCENARIO_COUNT)
        return kiln_err_set(err, KILN_ERR_INVALID_ARG, "settings: unknown scenario %d",
                            (int)s->scenario);
    if ((unsigned)s->mode >= KILN_LG_MODE_COUNT)
        return kiln_err_set(err, KILN_ERR_INVALID_ARG, "settings: unknown mode %d", (int)s->mode);
    if (s->mode == KILN_LG_FIND_PEAK && s->scenario != KILN_LG_SERVER)
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: find-peak mode needs the Server scenario, not %s",
                            kiln_lg_scenario_name(s->scenario));
    if (bad_fraction(kiln__lg_target_percentile(s)))
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: target latency percentile %g of %s is not in (0, 1)",
                            kiln__lg_target_percentile(s), kiln_lg_scenario_name(s->scenario));
    if (s->scenario == KILN_LG_MULTI_STREAM &&
        (s->multi_stream_samples_per_query < 1 || s->multi_stream_samples_per_query > (1 << 20)))
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: multi_stream_samples_per_query %d is not in [1, 2^20]",
                            s->multi_stream_samples_per_query);
    if (s->scenario == KILN_LG_SERVER) {
        if (!(s->server_target_qps > 0) || !isfinite(s->server_target_qps))
            return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                                "settings: server_target_qps %g must be positive",
                                s->server_target_qps);
        if (s->server_target_latency_ns == 0)
            return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                                "settings: server_target_latency_ns must be positive");
    }
    if (s->mode == KILN_LG_FIND_PEAK &&
        (s->server_find_peak_qps_decimals_of_precision < 0 ||
         s->server_find_peak_qps_decimals_of_precision > 6 ||
         !(s->server_find_peak_qps_boundary_step_size > 0)))
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: find-peak precision must be 0..6 decimals and the "
                            "boundary step positive");
    if (s->scenario == KILN_LG_OFFLINE &&
        (!(s->offline_expected_qps > 0) || !isfinite(s->offline_expected_qps)))
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: offline_expected_qps %g must be positive",
                            s->offline_expected_qps);
    if (!(s->accuracy_log_probability >= 0 && s->accuracy_log_probability <= 1))
        return kiln_err_set(err, KILN_ERR_INVALID_ARG,
                            "settings: accuracy_log_probability %g is not in [0, 1]",
                            s->accuracy_log_probability);
    return KILN_OK;
}

/* ---- effective settings ---- */

void kiln__lg_effective(const kiln_lg_settings *s, uint64_t qsl_total, uint64_t qsl_perf_count,
                        kiln_lg_effective *e) {
    memset(e, 0, sizeof *e);
    e->samples_per_query = 1;
    e->max_async_queries = 1;
    e->target_latency_percentile = kiln__lg_target_percentile(s);
    switch (s->scenario) {
    case KILN_LG_SINGLE_STREAM:
        e->target_qps = 1e9 / (double)(s->single_stream_expected_latency_ns
                                           ? s->single_stream_expected_latency_ns : 1);
        break;
    case KILN_LG_MULTI_STREAM:
        e->samples_per_query = (uint64_t)s->multi_stream_samples_per_query;
        e->target_qps = 1e9 / (double)(s->multi_stream_expected_latency_ns
                                           ? s->multi_stream_expected_latency_ns : 1);
        break;
    case KILN_LG_SERVER:
        e->target_qps = s->server_target_qps;
        e->target_latency_ns = s->server_target_latency_ns;
        e->max_async_queries = s->server_max_async_queries;
        break;
    default:
        e->target_qps = s->offline_expected_qps;
        break;
    }
    uint64_t perf = s->performance_sample_count_override ? s->performance_sample_count_override
                                                         : qsl_perf_count;
    if (perf == 0 || perf > qsl_total) perf = qsl_total; /* kiln: never more than exist */
    e->performance_sample_count = perf;
    e->target_duration_ms = s->duration_ms ? s->duration_ms : s->min_duration_ms;
    e->min_duration_ms = s->min_duration_ms;
    e->max_duration_ms = s->max_duration_ms;
    e->min_query_count = s->min_query_count;
    e->max_query_count = s->max_query_count;
    if (s->scenario == KILN_LG_OFFLINE) {
        /* One query, 10% more samples than the expected QPS needs to fill the duration, and at
           least the rules' minimum; with --duration, just what fills the duration. */
        double want = 1.1 * (double)e->target_duration_ms / 1000.0 * e->target_qps;
        uint64_t n = want >= 1 ? (uint64_t)want : 1;
        if (!s->duration_ms && n < s->min_query_count) n = s->min_query_count;
        e->samples_per_query = n;
        e->min_query_count = 1;
        /* LoadGen derives this from the query it generated; kiln keeps the rules' minimum so a
           shortened Offline run is judged against it. */
        e->min_sample_count = s->min_query_count;
        e->target_duration_ms = 0;
    } else {
        e->min_sample_count = e->min_query_count * e->samples_per_query;
    }
    e->accuracy_log_probability = s->accuracy_log_probability;
}

/* ---- user.conf ---- */

typedef struct conf_line {
    char model[64], scenario[32], key[64], value[64];
    int line;
} conf_line;

typedef enum { K_UINT, K_DOUBLE, K_MS, K_PERCENT, K_IGNORED } key_kind;

/* LoadGen keys kiln reads, and those it accepts without effect (so mlperf.conf loads). */
static const struct { const char *name; key_kind kind; } known_keys[] = {
    {"mode", K_UINT}, {"min_duration", K_UINT}, {"max_duration", K_UINT},
    {"min_query_count", K_UINT}, {"max_query_count", K_UINT}, {"qsl_rng_seed", K_UINT},
    {"sample_index_rng_seed", K_UINT}, {"schedule_rng_seed", K_UINT},
    {"accuracy_log_rng_seed", K_UINT}, {"accuracy_log_probability", K_PERCENT},
    {"accuracy_log_sampling_target", K_UINT}, {"print_timestamps", K_UINT},
    {"performance_sample_count_override", K_UINT}, {"target_latency_percentile", K_PERCENT},
    {"target_latency", K_MS}, {"target_qps", K_DOUBLE}, {"samples_per_query", K_UINT},
    {"max_async_queries", K_UINT},
    /* accepted, no effect in kiln */
    {"coalesce_queries", K_IGNORED}, {"target_duration", K_IGNORED},
    {"performance_issue_unique", K_IGNORED}, {"performance_issue_same", K_IGNORED},
    {"performance_issue_same_index", K_IGNORED}, {"use_token_latencies", K_IGNORED},
    {"infer_token_latencies", K_IGNORED}, {"token_latency_scaling_factor", K_IGNORED},
    {"ttft_latency", K_IGNORED}, {"tpot_latency", K_IGNORED},
    {"sample_concatenate_permutation", K_IGNORED}, {"test05", K_IGNORED},
    {"test05_qsl_rng_seed", K_IGNORED}, {"test05_sample_index_rng_seed", K_IGNORED},
    {"test05_schedule_rng_seed", K_IGNORED}, {"enforce_max_duration", K_IGNORED},
    {"server_num_issue_query_threads", K_IGNORED}, {"max_query_size", K_IGNORED}};

static int key_kind_of(const char *key) {
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (!strcmp(key, known_keys[i].name)) return (int)known_keys[i].kind;
    return -1;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* Copy [p, p+n) into dst[cap] as a string; 0 when it does not fit. */
static int copy_part(char *dst, size_t cap, const char *p, size_t n) {
    if (n == 0 || n >= cap) return 0;
    memcpy(dst, p, n);
    dst[n] = 0;
    return 1;
}

static int is_uint(const char *v, uint64_t *out) {
    if (*v == '-' || *v == '+') return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (end == v || *end || errno) return 0;
    *out = x;
    return 1;
}

static int is_double(const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x)) return 0;
    *out = x;
    return 1;
}

/* Split one line into *cl; 0 = blank or comment, 1 = an entry, -1 = error (message in err). */
static int parse_line(char *text, int line, const char *name, conf_line *cl, kiln_err *err) {
    char *hash = strchr(text, '#');
    if (hash) *hash = 0;
    char *s = trim(text);
    if (!*s) return 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: expected 'model.Scenario.key = value'", name,
                     line);
        return -1;
    }
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    if (!*val) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: no value after '='", name, line);
        return -1;
    }
    for (char *p = val; *p; p++)
        if (isspace((unsigned char)*p) || *p == '=') {
            kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: one value expected, got '%s'", name, line,
                         val);
            return -1;
        }
    char *d1 = strchr(key, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    int ok = d1 && d2 && !strchr(d2 + 1, '.') && !strpbrk(key, " \t");
    ok = ok && copy_part(cl->model, sizeof cl->model, key, (size_t)(d1 - key));
    ok = ok && copy_part(cl->scenario, sizeof cl->scenario, d1 + 1, (size_t)(d2 - d1 - 1));
    ok = ok && copy_part(cl->key, sizeof cl->key, d2 + 1, strlen(d2 + 1));
    if (!ok) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: key '%s' is not 'model.Scenario.key'", name,
                     line, key);
        return -1;
    }
    if (!copy_part(cl->value, sizeof cl->value, val, strlen(val))) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: value too long", name, line);
        return -1;
    }
    /* Scenario names are case-sensitive, as LoadGen matches them. */
    int known_scenario = !strcmp(cl->scenario, "*") || !strcmp(cl->scenario, "MultiStreamFree");
    for (int i = 0; i < KILN_LG_SCENARIO_COUNT; i++)
        known_scenario |= !strcmp(cl->scenario, scenario_names[i]);
    if (!known_scenario) {
        kiln_err_set(err, KILN_ERR_PARSE,
                     "%s:%d: unknown scenario '%s' (SingleStream, MultiStream, Server, Offline "
                     "or *)", name, line, cl->scenario);
        return -1;
    }
    int kind = key_kind_of(cl->key);
    if (kind < 0) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: unknown key '%s'", name, line, cl->key);
        return -1;
    }
    /* As LoadGen: every value is a number; then what the key needs. */
    uint64_t u;
    double d = 0;
    int isu = is_uint(cl->value, &u), isd = is_double(cl->value, &d);
    if (!isu && !isd) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: value '%s' is not a number", name, line,
                     cl->value);
        return -1;
    }
    if (kind == K_UINT && !isu) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: %s needs a whole number >= 0, got '%s'", name,
                     line, cl->key, cl->value);
        return -1;
    }
    if ((kind == K_MS || kind == K_DOUBLE) && !(d >= 0)) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: %s must not be negative", name, line, cl->key);
        return -1;
    }
    if (kind == K_PERCENT && !(d >= 0 && d <= 100)) {
        kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: %s is a percentage, %g is not in [0, 100]",
                     name, line, cl->key, d);
        return -1;
    }
    cl->line = line;
    return 1;
}

/* LoadGen's lookup order: model.Scenario, *.Scenario, model.*, *.*; the last line of the best
   rank wins. NULL when no line sets the key. */
static const conf_line *lookup(const conf_line *lines, size_t n, const char *model,
                               const char *scenario, const char *key) {
    const conf_line *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < n; i++) {
        const conf_line *c = &lines[i];
        if (strcmp(c->key, key)) continue;
        int m_exact = !strcmp(c->model, model), m_any = !strcmp(c->model, "*");
        int s_exact = !strcmp(c->scenario, scenario), s_any = !strcmp(c->scenario, "*");
        if (!(m_exact || m_any) || !(s_exact || s_any)) continue;
        int rank = (s_exact ? 2 : 0) + (m_exact ? 1 : 0);
        if (rank >= best_rank) {
            best = c;
            best_rank = rank;
        }
    }
    return best;
}

typedef struct conf_ctx {
    const conf_line *lines;
    size_t n;
    const char *model, *name;
    kiln_err *err;
    kiln_status st;
} conf_ctx;

static int get_u64(conf_ctx *c, const char *scenario, const char *key, uint64_t *out) {
    const conf_line *l = lookup(c->lines, c->n, c->model, scenario, key);
    if (!l) return 0;
    is_uint(l->value, out);
    return 1;
}

static int get_double(conf_ctx *c, const char *scenario, const char *key, double scale,
                      double *out) {
    const conf_line *l = lookup(c->lines, c->n, c->model, scenario, key);
    if (!l) return 0;
    double d = 0;
    is_double(l->value, &d);
    *out = d * scale;
    return 1;
}

/* A latency in ms (fractions allowed) to ns. */
static void get_ms_as_ns(conf_ctx *c, const char *scenario, const char *key, uint64_t *out) {
    double ms;
    if (!get_double(c, scenario, key, 1.0, &ms)) return;
    if (ms * 1e6 >= 1.8e19) {
        const conf_line *l = lookup(c->lines, c->n, c->model, scenario, key);
        c->st = kiln_err_set(c->err, KILN_ERR_PARSE, "%s:%d: %s %g ms is too large", c->name,
                             l->line, key, ms);
        return;
    }
    *out = (uint64_t)llround(ms * 1e6);
}

static void get_percentile(conf_ctx *c, const char *scenario, double *out) {
    double p;
    if (!get_double(c, scenario, "target_latency_percentile", 0.01, &p)) return;
    if (!(p > 0 && p < 1)) {
        const conf_line *l = lookup(c->lines, c->n, c->model, scenario, "target_latency_percentile");
        c->st = kiln_err_set(c->err, KILN_ERR_PARSE,
                             "%s:%d: target_latency_percentile must be in (0, 100)", c->name,
                             l->line);
        return;
    }
    *out = p;
}

static void apply(conf_ctx *c, kiln_lg_settings *s) {
    const char *sc = kiln_lg_scenario_name(s->scenario);
    uint64_t v = 0;
    if (get_u64(c, sc, "mode", &v)) {
        /* LoadGen: 0 SubmissionRun, 1 AccuracyOnly, 2 PerformanceOnly, 3 FindPeakPerformance. */
        static const int map[4] = {-1, KILN_LG_ACCURACY, KILN_LG_PERFORMANCE, KILN_LG_FIND_PEAK};
        if (v > 3 || map[v] < 0) {
            const conf_line *l = lookup(c->lines, c->n, c->model, sc, "mode");
            c->st = kiln_err_set(c->err, KILN_ERR_PARSE,
                                 "%s:%d: mode %llu is not supported (1 accuracy, 2 performance, "
                                 "3 find peak)", c->name, l->line, (unsigned long long)v);
            return;
        }
        s->mode = (kiln_lg_mode)map[v];
    }
    get_u64(c, sc, "min_duration", &s->min_duration_ms);
    get_u64(c, sc, "max_duration", &s->max_duration_ms);
    get_u64(c, sc, "min_query_count", &s->min_query_count);
    get_u64(c, sc, "max_query_count", &s->max_query_count);
    get_u64(c, sc, "qsl_rng_seed", &s->qsl_rng_seed);
    get_u64(c, sc, "sample_index_rng_seed", &s->sample_index_rng_seed);
    get_u64(c, sc, "schedule_rng_seed", &s->schedule_rng_seed);
    get_u64(c, sc, "accuracy_log_rng_seed", &s->accuracy_log_rng_seed);
    get_double(c, sc, "accuracy_log_probability", 0.01, &s->accuracy_log_probability);
    get_u64(c, sc, "accuracy_log_sampling_target", &s->accuracy_log_sampling_target);
    if (get_u64(c, sc, "print_timestamps", &v)) s->print_timestamps = v != 0;
    get_u64(c, sc, "performance_sample_count_override", &s->performance_sample_count_override);

    get_percentile(c, "SingleStream", &s->single_stream_target_latency_percentile);
    get_ms_as_ns(c, "SingleStream", "target_latency", &s->single_stream_expected_latency_ns);

    get_percentile(c, "MultiStream", &s->multi_stream_target_latency_percentile);
    get_ms_as_ns(c, "MultiStream", "target_latency", &s->multi_stream_expected_latency_ns);
    if (get_u64(c, "MultiStream", "samples_per_query", &v)) {
        if (v < 1 || v > (1u << 20)) {
            const conf_line *l = lookup(c->lines, c->n, c->model, "MultiStream",
                                        "samples_per_query");
            c->st = kiln_err_set(c->err, KILN_ERR_PARSE,
                                 "%s:%d: samples_per_query must be in [1, 2^20]", c->name,
                                 l->line);
            return;
        }
        s->multi_stream_samples_per_query = (int)v;
    }

    get_percentile(c, "Server", &s->server_target_latency_percentile);
    get_ms_as_ns(c, "Server", "target_latency", &s->server_target_latency_ns);
    get_double(c, "Server", "target_qps", 1.0, &s->server_target_qps);
    get_u64(c, "Server", "max_async_queries", &s->server_max_async_queries);

    get_double(c, "Offline", "target_qps", 1.0, &s->offline_expected_qps);
}

kiln_status kiln_lg_settings_parse_conf(kiln_lg_settings *s, const char *text, const char *name,
                                        kiln_err *err) {
    if (!s || !text) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "user.conf: NULL argument");
    if (!name) name = "user.conf";
    conf_line *lines = NULL;
    size_t n = 0, cap = 0;
    kiln_status st = KILN_OK;
    const char *p = text;
    for (int line = 1; *p && st == KILN_OK; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char buf[512];
        if (len >= sizeof buf) {
            st = kiln_err_set(err, KILN_ERR_PARSE, "%s:%d: line longer than %zu characters", name,
                              line, sizeof buf - 1);
            break;
        }
        memcpy(buf, p, len);
        buf[len] = 0;
        p = nl ? nl + 1 : p + len;
        conf_line cl;
        int r = parse_line(buf, line, name, &cl, err);
        if (r < 0) {
            st = KILN_ERR_PARSE;
        } else if (r > 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                conf_line *nl2 = realloc(lines, cap * sizeof *lines);
                if (!nl2) {
                    st = kiln_err_set(err, KILN_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                lines = nl2;
            }
            lines[n++] = cl;
        }
    }
    if (st == KILN_OK) {
        kiln_lg_settings tmp = *s; /* all or nothing */
        conf_ctx c = {lines, n, s->model, name, err, KILN_OK};
        apply(&c, &tmp);
        st = c.st;
        if (st == KILN_OK) *s = tmp;
    }
    free(lines);
    return st;
}

kiln_status kiln_lg_settings_load_conf(kiln_lg_settings *s, const char *path, kiln_err *err) {
    if (!s || !path) return kiln_err_set(err, KILN_ERR_INVALID_ARG, "user.conf: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_err_set(err, KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0, cap = 8192;
    char *text = malloc(cap);
    if (!text) {
        fclose(f);
        return kiln_err_set(err, KILN_ERR_NOMEM, "%s: out of memory", path);
    }
    kiln_status st = KILN_OK;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap *= 2;
            if (cap > (64u << 20)) {
                st = kiln_err_set(err, KILN_ERR_PARSE, "%s: larger than 64 MiB", path);
                break;
            }
            char *t = realloc(text, cap);
            if (!t) {
                st = kiln_err_set(err, KILN_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            text = t;
        }
        size_t k = fread(text + n, 1, 4096, f);
        n += k;
        if (k < 4096) {
            if (ferror(f)) st = kiln_err_set(err, KILN_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st == KILN_OK) {
        text[n] = 0;
        if (strlen(text) != n)
            st = kiln_err_set(err, KILN_ERR_PARSE, "%s: NUL byte in file (not a text file?)",
                              path);
        else
            st = kiln_lg_settings_parse_conf(s, text, path, err);
    }
    free(text);
    return st;
}
