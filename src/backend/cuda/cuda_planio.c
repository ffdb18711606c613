/* cuda_planio.c — records (layer signature -> tactic) in one encoding for two places: the
 * timing cache file (--timing-cache) and the plan file's backend section.
 *
 * Encoding (bytes, no alignment):
 *     <header>\n                           "KILN-CUDA-TCACHE 1" or "KILN-CUDA-PLAN 1"
 *     B <count> <batch> <batch> ...\n      batch buckets (plan sections; 0 in caches)
 *     N <entries>\n
 *     per entry: K <key bytes> <value bytes>\n<key><value>\n
 * Values are binary-safe (cuDNN's plan JSON goes in as is). In a timing cache a key is
 * "<device signature>#<layer signature>", so one file can serve several GPUs or cuDNN versions;
 * in a plan section it is the layer signature alone (the plan's DEVI section holds the device).
 * Values (cuda_tune.c writes them):
 *     "cudnn <ms> <workspace>\n<plan JSON>"   a cuDNN execution plan
 *     "dw <ms>"                                the own depthwise kernel
 *     "split"                                  no engine fuses this graph: run the split form
 *     "gemm <ms> <w0> ... <w7>"                a cuBLASLt algorithm (hex words)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_engine.h"

void cu_records_free(cu_records *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->r[i].key);
        free(r->r[i].val);
    }
    free(r->r);
    memset(r, 0, sizeof *r);
}

const cu_record *cu_records_find(const cu_records *r, const char *key) {
    if (!r) return NULL;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->r[i].key, key)) return &r->r[i];
    return NULL;
}

kiln_status cu_records_put(cu_records *r, const char *key, const char *val, size_t len,
                           kiln_err *e) {
    char *v = malloc(len + 1);
    if (!v) return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    memcpy(v, val, len);
    v[len] = 0;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->r[i].key, key)) {
            free(r->r[i].val);
            r->r[i].val = v;
            r->r[i].val_len = len;
            return KILN_OK;
        }
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        cu_record *p = realloc(r->r, sizeof *p * (size_t)cap);
        if (!p) {
            free(v);
            return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
        }
        r->r = p;
        r->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory");
    }
    r->r[r->n++] = (cu_record){k, v, len};
    return KILN_OK;
}

/* A growing byte buffer. */
typedef struct obuf {
    char *p;
    size_t n, cap;
    int bad;
} obuf;

static void put(obuf *o, const void *p, size_t n) {
    if (o->bad) return;
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n) cap *= 2;
        char *q = realloc(o->p, cap);
        if (!q) {
            o->bad = 1;
            return;
        }
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void putf(obuf *o, const char *fmt, long long a, long long b) {
    char line[64];
    int n = snprintf(line, sizeof line, fmt, a, b);
    put(o, line, (size_t)n);
}

kiln_status cu_records_encode(const cu_records *r, const char *header, const int64_t *buckets,
                              int nb, void **out, size_t *n, kiln_err *e) {
    obuf o = {0};
    put(&o, header, strlen(header));
    put(&o, "\nB ", 3);
    putf(&o, "%lld", nb, 0);
    for (int i = 0; i < nb; i++) putf(&o, " %lld", (long long)buckets[i], 0);
    putf(&o, "\nN %lld\n", r ? r->n : 0, 0);
    for (int i = 0; r && i < r->n; i++) {
        putf(&o, "K %lld %lld\n", (long long)strlen(r->r[i].key), (long long)r->r[i].val_len);
        put(&o, r->r[i].key, strlen(r->r[i].key));
        put(&o, r->r[i].val, r->r[i].val_len);
        put(&o, "\n", 1);
    }
    if (o.bad) {
        free(o.p);
        return kiln_err_set(e, KILN_ERR_NOMEM, "cuda: out of memory encoding tactics");
    }
    *out = o.p;
    *n = o.n;
    return KILN_OK;
}

/* A reader over untrusted bytes: every read is bounds-checked. */
typedef struct ibuf {
    const char *p;
    size_t n, at;
    int bad;
} ibuf;

/* The next line (without '\n') into buf; bad when there is none or it is too long. */
static void line(ibuf *b, char *buf, size_t cap) {
    size_t i = 0;
    while (b->at < b->n && b->p[b->at] != '\n') {
        if (i + 1 >= cap) {
            b->bad = 1;
            return;
        }
        buf[i++] = b->p[b->at++];
    }
    if (b->at >= b->n) {
        b->bad = 1;
        return;
    }
    b->at++;
    buf[i] = 0;
}

static int parse_ll(const char **s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(*s, &end, 10);
    if (end == *s || errno) return 0;
    *s = end;
    return 1;
}

kiln_status cu_records_decode(const void *p, size_t n, const char *header, cu_records *r,
                              int64_t *buckets, int *nb, kiln_err *e) {
    ibuf b = {p, n, 0, 0};
    char ln[512];
    line(&b, ln, sizeof ln);
    if (b.bad || strcmp(ln, header))
        return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: not a '%s' record set", header);
    line(&b, ln, sizeof ln);
    const char *s = ln + 2;
    long long cnt, v;
    if (b.bad || strncmp(ln, "B ", 2) || !parse_ll(&s, &cnt) || cnt < 0 || cnt > CU_MAX_BUCKETS)
        return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: malformed bucket line");
    for (long long i = 0; i < cnt; i++) {
        if (!parse_ll(&s, &v) || v < 0)
            return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: malformed bucket line");
        if (buckets) buckets[i] = v;
    }
    if (nb) *nb = (int)cnt;
    line(&b, ln, sizeof ln);
    s = ln + 2;
    long long entries;
    if (b.bad || strncmp(ln, "N ", 2) || !parse_ll(&s, &entries) || entries < 0 ||
        (size_t)entries > n)
        return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: malformed entry count");
    for (long long i = 0; i < entries; i++) {
        line(&b, ln, sizeof ln);
        s = ln + 2;
        long long kl, vl;
        if (b.bad || strncmp(ln, "K ", 2) || !parse_ll(&s, &kl) || !parse_ll(&s, &vl) || kl <= 0 ||
            vl < 0 || kl > 4096 || (size_t)kl > b.n - b.at || (size_t)vl > b.n - b.at - (size_t)kl ||
            b.n - b.at - (size_t)kl - (size_t)vl < 1)
            return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: entry %lld is malformed", i);
        char key[4097];
        memcpy(key, b.p + b.at, (size_t)kl);
        key[kl] = 0;
        if (strlen(key) != (size_t)kl)
            return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: entry %lld has a NUL in its key", i);
        KILN_TRY(cu_records_put(r, key, b.p + b.at + kl, (size_t)vl, e));
        b.at += (size_t)(kl + vl);
        if (b.p[b.at] != '\n')
            return kiln_err_set(e, KILN_ERR_PARSE, "cuda tactics: entry %lld is malformed", i);
        b.at++;
    }
    return KILN_OK;
}

#define TCACHE_HEADER "KILN-CUDA-TCACHE 1"

kiln_status cu_tcache_load(const char *path, cu_records *r, kiln_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return KILN_OK; /* a first build: the cache is made at the end */
        return kiln_err_set(e, KILN_ERR_IO, "timing cache %s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                return kiln_err_set(e, KILN_ERR_NOMEM, "timing cache: out of memory");
            }
            buf = q;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    kiln_status st = err ? kiln_err_set(e, KILN_ERR_IO, "timing cache %s: read error", path)
                         : cu_records_decode(buf, n, TCACHE_HEADER, r, NULL, NULL, e);
    free(buf);
    if (st != KILN_OK) kiln_err_prefix(e, "timing cache %s", path);
    return st;
}

kiln_status cu_tcache_save(const char *path, const cu_records *r, kiln_err *e) {
    void *p;
    size_t n;
    KILN_TRY(cu_records_encode(r, TCACHE_HEADER, NULL, 0, &p, &n, e));
    /* Write aside and rename, so a reader never sees half a file. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(p);
        return kiln_err_set(e, KILN_ERR_IO, "timing cache %s: %s", tmp, strerror(errno));
    }
    size_t w = fwrite(p, 1, n, f);
    free(p);
    int bad = w != n;
    if (fclose(f)) bad = 1;
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return kiln_err_set(e, KILN_ERR_IO, "timing cache %s: cannot write", path);
    }
    return KILN_OK;
}
