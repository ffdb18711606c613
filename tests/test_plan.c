/* Engine (.plan) files: a loaded engine gives bit-identical outputs to the one saved, at every
 * batch of its profile (1, 3 and the max; outside it is KILN_ERR_RANGE); weights are mapped,
 * not copied; truncated, corrupted, wrong-version and other-device plans fail with one line
 * naming the problem (and leave the engine as it was); two contexts of one engine run at once
 * from two threads with correct outputs. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#include "opt_test.h"
#include "plan/plan_format.h"
#include "plan/plan_io.h"

static char dir[512];

/* The profile's largest batch: 4, or 3 in the sanitizer build (whose kernels run unoptimized;
   1, 3 and the max are then two runs). */
#define BMAX (OT_SANITIZED ? 3 : 4)

static const char *path_of(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

static void write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset and size of a section, from the table. */
static int section(const unsigned char *f, uint32_t id, uint64_t *off, uint64_t *size,
                   unsigned char **entry) {
    uint32_t n = le32(f + KILN_PLAN_H_N_SECTIONS);
    unsigned char *t = (unsigned char *)f + le32(f + KILN_PLAN_H_TABLE_OFFSET);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *ent = t + 32 * i;
        if (le32(ent) != id) continue;
        *off = le64(ent + 8);
        *size = le64(ent + 16);
        if (entry) *entry = ent;
        return 1;
    }
    return 0;
}

/* Recompute every checksum, so an edit is seen as deliberate (wrong version / device), not as
   corruption. */
static void fix_checksums(unsigned char *f) {
    uint32_t n = le32(f + KILN_PLAN_H_N_SECTIONS);
    unsigned char *t = f + le32(f + KILN_PLAN_H_TABLE_OFFSET);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *ent = t + 32 * i;
        put32(ent + 24, (uint32_t)crc32(0, f + le64(ent + 8), (uInt)le64(ent + 16)));
    }
    put32(f + KILN_PLAN_H_TABLE_CRC, (uint32_t)crc32(0, t, 32 * n));
    put32(f + KILN_PLAN_H_HEADER_CRC, (uint32_t)crc32(0, f, KILN_PLAN_H_HEADER_CRC));
}

/* Output 0 of e at batch b (fresh context, same seed). */
static float *outputs(kiln_engine *e, int64_t b, int64_t *n) {
    ot_inputs in;
    ot_inputs_make(e, b, 1234 + (uint64_t)b, &in);
    float *o = NULL;
    kiln_status st = ot_run(e, &in, 0, &o, n);
    CHECK(st == KILN_OK, "run at batch %lld", (long long)b);
    ot_inputs_free(&in);
    return o;
}

static void round_trip(const char *name, int optimize) {
    kiln_model *m = ot_zoo(name, OT_SIDE);
    if (!m) {
        CHECK(0, "%s: load", name);
        return;
    }
    kiln_engine *e = ot_build(m, optimize, 1, 2, BMAX);
    kiln_model_destroy(m);
    CHECK(e != NULL, "%s: build", name);
    if (!e) return;
    char p[600];
    path_of("rt.plan", p, sizeof p);
    CHECK_OK(kiln_engine_save(e, p));
    kiln_engine *l = kiln_engine_create();
    kiln_status st = kiln_engine_load(l, p);
    CHECK(st == KILN_OK, "%s: load: %s", name, kiln_engine_errmsg(l));
    if (st == KILN_OK) {
        /* Same graph, attributes included; weights inside the mapping. */
        CHECK(l->g->n_n == e->g->n_n && l->g->n_t == e->g->n_t, "%s: graph size", name);
        int same = 1, mapped = 1;
        for (int k = 0; k < l->g->n_n && k < e->g->n_n; k++)
            same &= l->g->n[k].op == e->g->n[k].op &&
                    !memcmp(&l->g->n[k].a, &e->g->n[k].a, sizeof(kiln_attr)) &&
                    (l->g->n[k].label == NULL) == (e->g->n[k].label == NULL);
        CHECK(same, "%s: nodes differ after loading", name);
        CHECK(l->g->n_blobs == 1 && l->g->blobs[0].mapped, "%s: weights not mapped", name);
        for (int t = 0; t < l->g->n_t && l->g->n_blobs == 1; t++) {
            const kiln_tensor *x = &l->g->t[t];
            if (x->kind != KILN_TENSOR_CONST || !x->data) continue;
            const char *b = l->g->blobs[0].ptr;
            mapped &= !x->owns_data && (const char *)x->data >= b &&
                      (const char *)x->data + kiln_tensor_nbytes(x) <= b + l->g->blobs[0].size &&
                      ((uintptr_t)x->data % 64) == 0;
            same &= x->alias == e->g->t[t].alias && x->alias_offset == e->g->t[t].alias_offset;
        }
        CHECK(mapped, "%s: a constant is not an aligned pointer into the mapping", name);
        CHECK(same, "%s: aliases differ after loading", name);
        int64_t bmin, bopt, bmax;
        kiln_engine_batch_range(l, &bmin, &bopt, &bmax);
        CHECK(bmin == 1 && bopt == 2 && bmax == BMAX, "%s: profile %lld/%lld/%lld", name,
              (long long)bmin, (long long)bopt, (long long)bmax);
        static const int64_t batches[] = {1, 3, BMAX};
        for (int i = 0; i < (BMAX == 3 ? 2 : 3); i++) {
            int64_t n1 = 0, n2 = 0;
            float *a = outputs(e, batches[i], &n1), *b = outputs(l, batches[i], &n2);
            CHECK(a && b && n1 == n2 && !memcmp(a, b, sizeof(float) * (size_t)n1),
                  "%s: batch %lld: loaded engine's outputs differ", name, (long long)batches[i]);
            free(a);
            free(b);
        }
        /* Outside the profile. */
        ot_inputs in;
        ot_inputs_make(l, BMAX + 1, 1, &in);
        kiln_context *c;
        CHECK_OK(kiln_context_create(l, &c));
        CHECK(kiln_context_run(c, in.n, in.b) == KILN_ERR_RANGE,
              "%s: batch past the max not refused", name);
        CHECK(strstr(kiln_context_errmsg(c), "outside"), "message: %s", kiln_context_errmsg(c));
        kiln_context_destroy(c);
        ot_inputs_free(&in);
        printf("%-13s optimize %d: round trip ok (%d nodes)\n", name, optimize, l->g->n_n);
    }
    kiln_engine_destroy(l);
    kiln_engine_destroy(e);
}

/* Load `bytes` as a plan: expect status st and a message containing `what`, on one line; the
   engine keeps working with what it had. */
static void expect_bad(const char *label, const unsigned char *bytes, size_t n, kiln_status want,
                       const char *what, kiln_engine *keep) {
    char p[600];
    path_of("bad.plan", p, sizeof p);
    write_all(p, bytes, n);
    kiln_status st = kiln_engine_load(keep, p);
    const char *msg = kiln_engine_errmsg(keep);
    CHECK(st == want, "%s: status %s, expected %s (%s)", label, kiln_status_str(st),
          kiln_status_str(want), msg);
    CHECK(strstr(msg, what) != NULL, "%s: message '%s' does not say '%s'", label, msg, what);
    CHECK(!strchr(msg, '\n'), "%s: message spans lines", label);
    printf("  %-22s -> %s\n", label, msg);
    /* The engine still runs as before. */
    int64_t k = 0;
    float *o = outputs(keep, 1, &k);
    CHECK(o && k == 1000, "%s: engine unusable after a failed load", label);
    free(o);
}

static void bad_plans(void) {
    kiln_model *m = ot_zoo("resnet18", OT_SIDE);
    kiln_engine *e = ot_build(m, 1, 1, 1, 2);
    kiln_model_destroy(m);
    if (!e) {
        CHECK(0, "resnet18 build");
        return;
    }
    char p[600];
    path_of("good.plan", p, sizeof p);
    CHECK_OK(kiln_engine_save(e, p));
    size_t n = 0;
    unsigned char *good = read_all(p, &n), *f = malloc(n + 1);
    if (!good || n < 4096) {
        CHECK(0, "cannot read back %s", p);
        free(good);
        free(f);
        kiln_engine_destroy(e);
        return;
    }
    uint64_t off, size;
    printf("bad plans:\n");

    expect_bad("empty", good, 0, KILN_ERR_PARSE, "empty", e);
    expect_bad("truncated header", good, 40, KILN_ERR_PARSE, "truncated", e);
    expect_bad("truncated weights", good, n - 1000, KILN_ERR_PARSE, "truncated", e);
    expect_bad("truncated half", good, n / 2, KILN_ERR_PARSE, "truncated", e);
    expect_bad("not a plan", (const unsigned char *)"ir_version: 7\nproducer_name", 28,
               KILN_ERR_PARSE, "not a kiln plan", e);

    memcpy(f, good, n);
    f[KILN_PLAN_H_FILE_BYTES] ^= 1; /* header field without fixing its checksum */
    expect_bad("corrupted header", f, n, KILN_ERR_PARSE, "header checksum", e);

    memcpy(f, good, n);
    section(f, KILN_PLAN_SEC_GRAPH, &off, &size, NULL);
    f[off + size / 2] ^= 0x10;
    expect_bad("corrupted graph", f, n, KILN_ERR_PARSE, "section GRPH checksum", e);

    memcpy(f, good, n);
    section(f, KILN_PLAN_SEC_WEIGHTS, &off, &size, NULL);
    f[off + size - 70] ^= 0x01;
    expect_bad("corrupted weights", f, n, KILN_ERR_PARSE, "section WGHT checksum", e);

    memcpy(f, good, n);
    put32(f + KILN_PLAN_H_FORMAT, KILN_PLAN_FORMAT_VERSION + 1);
    fix_checksums(f);
    expect_bad("newer format", f, n, KILN_ERR_VERSION, "format version 2", e);

    memcpy(f, good, n);
    f[KILN_PLAN_H_KILN_VERSION + 2] ^= 0x7; /* minor version */
    fix_checksums(f);
    expect_bad("other kiln version", f, n, KILN_ERR_VERSION, "built by kiln", e);

    memcpy(f, good, n);
    section(f, KILN_PLAN_SEC_DEVICE, &off, &size, NULL);
    f[off + size - 1] = 'X'; /* last character of the device signature */
    fix_checksums(f);
    expect_bad("other device", f, n, KILN_ERR_VERSION, "built for device", e);

    memcpy(f, good, n);
    put32(f + KILN_PLAN_H_BACKEND, 7);
    fix_checksums(f);
    expect_bad("unknown backend", f, n, KILN_ERR_PARSE, "unknown backend 7", e);

    /* A well-checksummed plan whose graph refers to a tensor that does not exist. */
    memcpy(f, good, n);
    section(f, KILN_PLAN_SEC_GRAPH, &off, &size, NULL);
    {
        /* The last i32 of GRPH is the last graph output's id. */
        put32(f + off + size - 4, 999999);
        fix_checksums(f);
        expect_bad("bad tensor id", f, n, KILN_ERR_PARSE, "GRPH", e);
    }
    /* Random garbage in every byte past the header, checksums fixed: never a crash. */
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    int refused = 0;
    for (int trial = 0; trial < 40; trial++) {
        memcpy(f, good, n);
        section(f, KILN_PLAN_SEC_GRAPH, &off, &size, NULL);
        for (int k = 0; k < 4; k++)
            f[off + kiln_rng_next(&r) % size] = (unsigned char)kiln_rng_next(&r);
        fix_checksums(f);
        path_of("fuzz.plan", p, sizeof p);
        write_all(p, f, n);
        kiln_engine *x = kiln_engine_create();
        refused += kiln_engine_load(x, p) != KILN_OK;
        kiln_engine_destroy(x);
    }
    printf("  fuzzed graph sections: %d of 40 refused, none crashed\n", refused);
    free(good);
    free(f);
    kiln_engine_destroy(e);
}

typedef struct job {
    kiln_engine *e;
    int64_t batch;
    const float *want;
    int64_t n;
    int bad;
} job;

static void *worker(void *arg) {
    job *j = arg;
    kiln_context *c;
    if (kiln_context_create(j->e, &c) != KILN_OK) {
        j->bad = 1;
        return NULL;
    }
    ot_inputs in;
    ot_inputs_make(j->e, j->batch, 1234 + (uint64_t)j->batch, &in);
    for (int it = 0; it < 4; it++) {
        kiln_buffer o;
        if (kiln_context_run(c, in.n, in.b) != KILN_OK ||
            kiln_context_output(c, 0, &o) != KILN_OK ||
            memcmp(o.data, j->want, sizeof(float) * (size_t)j->n))
            j->bad++;
    }
    ot_inputs_free(&in);
    kiln_context_destroy(c);
    return NULL;
}

/* Two contexts of one (loaded) engine, two threads, different batches, at the same time. */
static void two_threads(void) {
    /* GoogLeNet writes concat slices item by item; MobileNet is cheaper without optimization. */
    kiln_model *m = ot_zoo(OT_SANITIZED ? "mobilenet_v2" : "googlenet", OT_SIDE);
    kiln_engine *e = ot_build(m, 1, 1, 3, 3);
    kiln_model_destroy(m);
    if (!e) {
        CHECK(0, "build for the threads test");
        return;
    }
    char p[600];
    path_of("mt.plan", p, sizeof p);
    CHECK_OK(kiln_engine_save(e, p));
    kiln_engine *l = kiln_engine_create();
    CHECK_OK(kiln_engine_load(l, p));
    job jobs[2] = {{l, 1, NULL, 0, 0}, {l, 3, NULL, 0, 0}};
    for (int i = 0; i < 2; i++) jobs[i].want = outputs(e, jobs[i].batch, &jobs[i].n);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(jobs[i].bad == 0, "thread %d (batch %lld): %d wrong runs", i,
              (long long)jobs[i].batch, jobs[i].bad);
        free((void *)jobs[i].want);
    }
    printf("two threads, two contexts of one loaded engine: ok\n");
    kiln_engine_destroy(l);
    kiln_engine_destroy(e);
}

/* The attribute layouts docs/plan-format.md documents: kind and byte count per struct. */
static void attr_layouts(void) {
    static const struct {
        kiln_op op;
        uint32_t kind, bytes;
    } want[] = {{KILN_OP_RELU, 0, 0},      {KILN_OP_CONV, 1, 204},    {KILN_OP_MAXPOOL, 2, 140},
                {KILN_OP_MATMUL, 3, 32},   {KILN_OP_BATCHNORM, 4, 4}, {KILN_OP_LRN, 5, 20},
                {KILN_OP_CLIP, 6, 24},     {KILN_OP_CONCAT, 7, 12},   {KILN_OP_TRANSPOSE, 8, 68},
                {KILN_OP_SQUEEZE, 9, 80},  {KILN_OP_SPLIT, 10, 532},  {KILN_OP_PAD, 11, 140},
                {KILN_OP_SLICE, 12, 200},  {KILN_OP_RESHAPE, 13, 4},  {KILN_OP_CAST, 14, 4},
                {KILN_OP_SHAPE, 15, 16},   {KILN_OP_CONSTANT_OF_SHAPE, 16, 12},
                {KILN_OP_RESIZE, 17, 136}, {KILN_OP_GATHER, 18, 8}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        kiln__pbuf b = {0};
        kiln_attr a;
        kiln_attr_default(want[i].op, 17, &a);
        kiln__plan_attr_write(&b, want[i].op, &a);
        uint32_t kind = b.n >= 8 ? le32(b.p) : 99, bytes = b.n >= 8 ? le32(b.p + 4) : 99;
        CHECK(kind == want[i].kind && bytes == want[i].bytes && b.n == 8 + (size_t)bytes,
              "%s: attribute kind %u, %u bytes; the format says %u, %u", kiln_op_name(want[i].op),
              kind, bytes, want[i].kind, want[i].bytes);
        /* And they read back to the same struct. */
        kiln__prd r = {b.p + 8, b.n - 8, 0, 0};
        kiln_attr back;
        CHECK(kiln__plan_attr_read(&r, want[i].op, kind, bytes, &back) &&
                  !memcmp(&back, &a, sizeof a),
              "%s: attributes do not read back", kiln_op_name(want[i].op));
        kiln__pb_free(&b);
    }
}

int main(int argc, char **argv) {
    /* Scratch plans go to a fresh folder under the build tree (CTest) or /tmp, removed at the
       end. */
    const char *bd = getenv("KILN_BUILD_DIR");
    snprintf(dir, sizeof dir, "%s/test_plan_XXXXXX", bd ? bd : "/tmp");
    if (!mkdtemp(dir)) return test_skip("cannot make a scratch folder");
    if (argc > 1 && !strcmp(argv[1], "quick")) {
        round_trip("resnet18", 1);
        char p[600];
        remove(path_of("rt.plan", p, sizeof p));
        rmdir(dir);
        return test_done();
    }
    attr_layouts();
    round_trip(OT_SANITIZED ? "resnet18" : "resnet50", 1);
    round_trip("googlenet", 1);
    round_trip("mobilenet_v2", 1);
    round_trip(OT_SANITIZED ? "mobilenet_v2" : "resnet18", 0);
    bad_plans();
    two_threads();
    static const char *const files[] = {"rt.plan", "good.plan", "bad.plan", "fuzz.plan", "mt.plan"};
    char p[600];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) remove(path_of(files[i], p, sizeof p));
    rmdir(dir);
    return test_done();
}
