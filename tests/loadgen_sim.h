/* loadgen_sim.h — what the load generator tests share: a simulated SUT on the fake clock
 * (k FIFO workers, a service time per sample that the test chooses), a QSL that records loads,
 * a small JSON reader to parse the logs back, and file helpers. Header-only (static inline). */
#ifndef KILN_TESTS_LOADGEN_SIM_H
#define KILN_TESTS_LOADGEN_SIM_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "test.h"

/* ---- a simulated system under test ---- */

typedef struct sim_sut sim_sut;
/* Service time in ns of the n-th sample the SUT receives (n counts from 0). */
typedef uint64_t (*sim_service_fn)(sim_sut *s, uint64_t qsl_index, uint64_t n);

typedef struct sim_rec {   /* one issued query, as the SUT saw it */
    uint64_t t_issue;      /* fake time of issue_query */
    uint64_t first_id;
    uint32_t n;
    uint32_t outstanding_before; /* queries still unanswered when it arrived */
} sim_rec;

struct sim_sut {
    kiln_lg *lg;
    kiln_lg_fake_clock *fc;
    int workers;               /* FIFO servers; 0 = unlimited (every sample starts at once) */
    uint64_t busy_until[64];
    sim_service_fn service;
    uint64_t fixed_ns;         /* service time when service is NULL */
    uint64_t issue_cost_ns;    /* issue_query blocks this long (advances the fake clock) */
    int sync_complete;         /* answer inside issue_query at the end of the issue cost */
    int with_data;             /* responses carry sim_data() bytes */
    const uint8_t *loaded;     /* if set: every issued index must be loaded (1) */
    uint64_t n_samples;        /* samples received */
    sim_rec *recs;
    size_t n_recs, cap_recs;
    uint64_t *indices;         /* every index received, in order */
    size_t cap_idx;
    uint32_t *query_of;        /* sample id -> record */
    size_t cap_q;
    uint32_t *left;            /* per record: samples not yet answered */
    size_t cap_left;
    size_t outstanding;        /* queries not fully answered */
    uint64_t not_loaded;       /* samples issued that were not loaded */
    uint64_t flushes;
};

/* The response bytes for a sample: 1 + idx % 7 bytes, derived from idx. */
static inline size_t sim_data(uint64_t idx, uint8_t *out) {
    size_t n = 1 + (size_t)(idx % 7);
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)((idx * 131 + i * 29 + (idx >> 8)) & 0xff);
    return n;
}

typedef struct sim_done {
    sim_sut *s;
    uint64_t id, idx;
} sim_done;

static inline void sim_answer(sim_sut *s, uint64_t id, uint64_t idx) {
    uint8_t buf[8];
    kiln_lg_response r = {.id = id, .data = NULL, .size = 0};
    if (s->with_data) {
        r.size = sim_data(idx, buf);
        r.data = buf;
    }
    uint32_t q = s->query_of[id];
    if (--s->left[q] == 0) s->outstanding--;
    kiln_lg_complete(s->lg, &r, 1);
}

static inline void sim_event(void *arg, uint64_t t) {
    (void)t;
    sim_done *d = arg;
    sim_answer(d->s, d->id, d->idx);
    free(d);
}

static inline void *sim_grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(p, c * elem);
    if (!q) abort();
    *cap = c;
    return q;
}

static inline void sim_issue(void *user, const kiln_lg_sample *smp, size_t n) {
    sim_sut *s = user;
    uint64_t now = kiln_lg_fake_clock_now(s->fc);
    s->recs = sim_grow(s->recs, &s->cap_recs, s->n_recs + 1, sizeof *s->recs);
    s->left = sim_grow(s->left, &s->cap_left, s->n_recs + 1, sizeof *s->left);
    s->recs[s->n_recs] = (sim_rec){.t_issue = now, .first_id = smp[0].id, .n = (uint32_t)n,
                                   .outstanding_before = (uint32_t)s->outstanding};
    s->left[s->n_recs] = (uint32_t)n;
    uint32_t rec = (uint32_t)s->n_recs++;
    s->outstanding++;
    s->indices = sim_grow(s->indices, &s->cap_idx, s->n_samples + n, sizeof *s->indices);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = smp[i].id;
        s->query_of = sim_grow(s->query_of, &s->cap_q, id + 1, sizeof *s->query_of);
        s->query_of[id] = rec;
        s->indices[s->n_samples] = smp[i].index;
        if (s->loaded && !s->loaded[smp[i].index]) s->not_loaded++;
        s->n_samples++;
    }
    if (s->issue_cost_ns) {
        kiln_lg_clock c = kiln_lg_fake_clock_iface(s->fc);
        c.sleep_until(c.self, now + s->issue_cost_ns);
        now += s->issue_cost_ns;
    }
    if (s->sync_complete) {
        for (size_t i = 0; i < n; i++) sim_answer(s, smp[i].id, smp[i].index);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t svc = s->service ? s->service(s, smp[i].index, s->n_samples - n + i) : s->fixed_ns;
        uint64_t done;
        if (s->workers <= 0) {
            done = now + svc;
        } else {
            int w = 0;
            for (int k = 1; k < s->workers; k++)
                if (s->busy_until[k] < s->busy_until[w]) w = k;
            uint64_t start = s->busy_until[w] > now ? s->busy_until[w] : now;
            done = start + svc;
            s->busy_until[w] = done;
        }
        sim_done *d = malloc(sizeof *d);
        if (!d) abort();
        *d = (sim_done){s, smp[i].id, smp[i].index};
        kiln_lg_fake_clock_at(s->fc, done, sim_event, d);
    }
}

static inline void sim_flush(void *user) { ((sim_sut *)user)->flushes++; }

/* A fresh load generator on a fresh fake clock with this simulated SUT. */
static inline void sim_init(sim_sut *s, int workers, uint64_t fixed_ns) {
    memset(s, 0, sizeof *s);
    s->lg = kiln_lg_create();
    s->fc = kiln_lg_fake_clock_create(1000000000ull); /* t = 1 s: nothing special about 0 */
    kiln_lg_clock c = kiln_lg_fake_clock_iface(s->fc);
    kiln_lg_set_clock(s->lg, &c);
    s->workers = workers;
    s->fixed_ns = fixed_ns;
}

/* Forget what the SUT saw (between runs of one load generator). */
static inline void sim_reset_records(sim_sut *s) {
    s->n_recs = 0;
    s->n_samples = 0;
    s->outstanding = 0;
    memset(s->busy_until, 0, sizeof s->busy_until);
}

static inline void sim_free(sim_sut *s) {
    kiln_lg_destroy(s->lg);
    kiln_lg_fake_clock_destroy(s->fc);
    free(s->recs);
    free(s->indices);
    free(s->query_of);
    free(s->left);
}

static inline kiln_lg_sut sim_iface(sim_sut *s) {
    return (kiln_lg_sut){.name = "sim", .issue_query = sim_issue, .flush_queries = sim_flush,
                         .user = s};
}

/* ---- a QSL that records what is loaded ---- */

typedef struct sim_qsl {
    uint64_t total, perf;
    uint8_t *loaded;        /* per index */
    uint64_t n_loaded, max_loaded, loads, unloads;
    uint64_t bad;           /* double loads, unloads of what was not loaded */
} sim_qsl;

static inline kiln_status sim_load(void *user, const uint64_t *idx, size_t n) {
    sim_qsl *q = user;
    q->loads++;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= q->total || q->loaded[idx[i]]) q->bad++;
        else {
            q->loaded[idx[i]] = 1;
            q->n_loaded++;
        }
    }
    if (q->n_loaded > q->max_loaded) q->max_loaded = q->n_loaded;
    return KILN_OK;
}

static inline kiln_status sim_unload(void *user, const uint64_t *idx, size_t n) {
    sim_qsl *q = user;
    q->unloads++;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= q->total || !q->loaded[idx[i]]) q->bad++;
        else {
            q->loaded[idx[i]] = 0;
            q->n_loaded--;
        }
    }
    return KILN_OK;
}

static inline void sim_qsl_init(sim_qsl *q, uint64_t total, uint64_t perf) {
    memset(q, 0, sizeof *q);
    q->total = total;
    q->perf = perf;
    q->loaded = calloc(total, 1);
}

static inline kiln_lg_qsl sim_qsl_iface(sim_qsl *q) {
    return (kiln_lg_qsl){.name = "simqsl", .total_sample_count = q->total,
                         .performance_sample_count = q->perf, .load_samples = sim_load,
                         .unload_samples = sim_unload, .user = q};
}

/* Short runs for tests: no rule minimums unless the test sets them. */
static inline void sim_settings(kiln_lg_settings *st, kiln_lg_scenario sc) {
    kiln_lg_settings_init(st, "resnet50", sc);
    st->min_duration_ms = 1000;
    st->min_query_count = 100;
    st->performance_sample_count_override = 0; /* use the QSL's */
}

/* ---- files ---- */

static inline char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (!s) abort();
    size_t k = fread(s, 1, (size_t)n, f);
    s[k] = 0;
    fclose(f);
    return s;
}

/* A fresh empty directory under the build tree for this test's logs. */
static inline const char *fresh_dir(const char *name, char *buf, size_t n) {
    char rel[256], cmd[4300];
    snprintf(rel, sizeof rel, "test_out/%s", name);
    test_build_path(rel, buf, n);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    char out[256];
    test_run(cmd, out, sizeof out);
    return buf;
}

/* ---- a small JSON reader: enough to parse the logs back ---- */

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_kind;

typedef struct jv {
    jv_kind kind;
    double num;
    int b;
    char *str;                 /* JV_STR */
    struct jv *items;          /* JV_ARR / JV_OBJ values */
    char **keys;               /* JV_OBJ */
    size_t n;
} jv;

static inline void jv_free(jv *v) {
    if (!v) return;
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static inline void jv_ws(const char **p) {
    while (isspace((unsigned char)**p)) (*p)++;
}

static inline int jv_parse_value(const char **p, jv *out, int depth);

static inline int jv_parse_string(const char **p, char **out) {
    if (**p != '"') return 0;
    (*p)++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    for (;;) {
        char c = **p;
        if (!c) { free(s); return 0; }
        (*p)++;
        if (c == '"') break;
        if ((unsigned char)c < 0x20) { free(s); return 0; }
        if (c == '\\') {
            char e = **p;
            (*p)++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '"': case '\\': case '/': c = e; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = **p;
                    if (!isxdigit((unsigned char)h)) { free(s); return 0; }
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                    (*p)++;
                }
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default: free(s); return 0;
            }
        }
        if (n + 2 > cap) s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    s[n] = 0;
    *out = s;
    return 1;
}

static inline int jv_parse_value(const char **p, jv *out, int depth) {
    memset(out, 0, sizeof *out);
    if (depth > 64) return 0;
    jv_ws(p);
    char c = **p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        out->kind = obj ? JV_OBJ : JV_ARR;
        (*p)++;
        jv_ws(p);
        if (**p == (obj ? '}' : ']')) { (*p)++; return 1; }
        size_t cap = 0;
        for (;;) {
            if (out->n == cap) {
                cap = cap ? cap * 2 : 8;
                out->items = realloc(out->items, cap * sizeof *out->items);
                if (obj) out->keys = realloc(out->keys, cap * sizeof *out->keys);
            }
            if (obj) {
                jv_ws(p);
                if (!jv_parse_string(p, &out->keys[out->n])) return 0;
                jv_ws(p);
                if (**p != ':') { free(out->keys[out->n]); return 0; }
                (*p)++;
            }
            if (!jv_parse_value(p, &out->items[out->n], depth + 1)) {
                if (obj) free(out->keys[out->n]);
                return 0;
            }
            out->n++;
            jv_ws(p);
            if (**p == ',') { (*p)++; continue; }
            if (**p == (obj ? '}' : ']')) { (*p)++; return 1; }
            return 0;
        }
    }
    if (c == '"') {
        out->kind = JV_STR;
        return jv_parse_string(p, &out->str);
    }
    if (!strncmp(*p, "true", 4)) { out->kind = JV_BOOL; out->b = 1; *p += 4; return 1; }
    if (!strncmp(*p, "false", 5)) { out->kind = JV_BOOL; *p += 5; return 1; }
    if (!strncmp(*p, "null", 4)) { out->kind = JV_NULL; *p += 4; return 1; }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *end;
        out->kind = JV_NUM;
        out->num = strtod(*p, &end);
        if (end == *p) return 0;
        *p = end;
        return 1;
    }
    return 0;
}

/* Parse all of text (nothing but white space after the value). */
static inline int jv_parse(const char *text, jv *out) {
    const char *p = text;
    if (!jv_parse_value(&p, out, 0)) {
        jv_free(out);
        memset(out, 0, sizeof *out);
        return 0;
    }
    jv_ws(&p);
    if (*p) {
        jv_free(out);
        memset(out, 0, sizeof *out);
        return 0;
    }
    return 1;
}

static inline const jv *jv_get(const jv *o, const char *key) {
    if (!o || o->kind != JV_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

/* The value after "label" on its own summary line ("label : value" or "label: value"), copied
   without leading blanks; NULL when the line is missing. */
static inline const char *summary_value(const char *text, const char *label, char *buf, size_t n) {
    size_t ll = strlen(label);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= ll && !strncmp(line, label, ll)) {
            const char *v = line + ll;
            while (v < line + len && (*v == ' ' || *v == ':')) v++;
            size_t k = (size_t)(line + len - v);
            if (k >= n) k = n - 1;
            memcpy(buf, v, k);
            buf[k] = 0;
            return buf;
        }
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

#endif
