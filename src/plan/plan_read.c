/* kiln_engine_load: map a .plan file, check it, and rebuild the engine around the mapping.
 *
 * Checks, in order, each failing with one line naming the problem: the magic, the format
 * version, the header checksum, the file size (truncation), the kiln version, the backend and
 * its device signature, then every section's checksum, then the contents (bounds, ids, sizes).
 * Weights are not copied: constants point into the read-only mapping, which the engine's graph
 * keeps (kiln_graph_add_blob, mapped) and unmaps when it is destroyed. The optimizer does not run
 * again; the memory plan and the backend's state are rebuilt by engine_prepare as at build. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/dtype.h"
#include "plan/plan_format.h"
#include "plan/plan_io.h"
#include "runtime/engine.h"

typedef struct loaded {
    const unsigned char *map;
    size_t size;
    uint32_t n_sec;
    const unsigned char *table;
} loaded;

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void fourcc_str(uint32_t id, char *s) {
    for (int i = 0; i < 4; i++) {
        char c = (char)(id >> (8 * i));
        s[i] = c >= 32 && c < 127 ? c : '?';
    }
    s[4] = 0;
}

/* The section with that id: 1 when present (its bounds were checked with the table). */
static int find_section(const loaded *l, uint32_t id, kiln__prd *r) {
    memset(r, 0, sizeof *r);
    for (uint32_t i = 0; i < l->n_sec; i++) {
        const unsigned char *ent = l->table + (size_t)i * KILN_PLAN_SECTION_ENTRY_BYTES;
        if (kiln__le32(ent) != id) continue;
        r->p = l->map + kiln__le64(ent + 8);
        r->n = (size_t)kiln__le64(ent + 16);
        r->at = 0;
        r->bad = 0;
        return 1;
    }
    return 0;
}

static kiln_status check_header(const loaded *l, const char *name, kiln_err *e) {
    const unsigned char *h = l->map;
    if (l->size < 8 || memcmp(h, KILN_PLAN_MAGIC, 8))
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: not a kiln plan (no KILNPLAN magic)", name);
    if (l->size < 12)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated (%zu bytes, the header alone is %u)",
                            name, l->size, KILN_PLAN_HEADER_BYTES);
    uint32_t fmt = kiln__le32(h + KILN_PLAN_H_FORMAT);
    if (fmt != KILN_PLAN_FORMAT_VERSION)
        return kiln_err_set(e, KILN_ERR_VERSION,
                            "%s: plan format version %u; this kiln reads version %u (rebuild the "
                            "plan with this kiln)",
                            name, fmt, KILN_PLAN_FORMAT_VERSION);
    if (l->size < KILN_PLAN_HEADER_BYTES)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated (%zu bytes, the header alone is %u)",
                            name, l->size, KILN_PLAN_HEADER_BYTES);
    if (kiln__le32(h + KILN_PLAN_H_HEADER_CRC) != (uint32_t)crc32(0L, h, KILN_PLAN_H_HEADER_CRC))
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: header checksum mismatch (corrupted file)",
                            name);
    uint64_t want = kiln__le64(h + KILN_PLAN_H_FILE_BYTES);
    if (l->size < want)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated (%zu of %llu bytes)", name, l->size,
                            (unsigned long long)want);
    if (l->size > want)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: %zu bytes, but the header says %llu (extra "
                            "data appended?)", name, l->size, (unsigned long long)want);
    unsigned maj = h[16] | h[17] << 8, min = h[18] | h[19] << 8, pat = h[20] | h[21] << 8;
    if (maj != KILN_VERSION_MAJOR || min != KILN_VERSION_MINOR || pat != KILN_VERSION_PATCH)
        return kiln_err_set(e, KILN_ERR_VERSION,
                            "%s: built by kiln %u.%u.%u; this is kiln %s (rebuild the plan)", name,
                            maj, min, pat, kiln_version());
    return KILN_OK;
}

static kiln_status check_table(loaded *l, const char *name, kiln_err *e) {
    const unsigned char *h = l->map;
    uint32_t n = kiln__le32(h + KILN_PLAN_H_N_SECTIONS);
    uint64_t off = kiln__le32(h + KILN_PLAN_H_TABLE_OFFSET);
    if (n == 0 || n > KILN_PLAN_MAX_SECTIONS || off < KILN_PLAN_HEADER_BYTES ||
        off + (uint64_t)n * KILN_PLAN_SECTION_ENTRY_BYTES > l->size)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: bad section table (corrupted file)", name);
    l->n_sec = n;
    l->table = h + off;
    size_t tb = (size_t)n * KILN_PLAN_SECTION_ENTRY_BYTES;
    if (kiln__le32(h + KILN_PLAN_H_TABLE_CRC) != (uint32_t)crc32(0L, l->table, (uInt)tb))
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: section table checksum mismatch (corrupted "
                            "file)", name);
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *ent = l->table + (size_t)i * KILN_PLAN_SECTION_ENTRY_BYTES;
        uint64_t so = kiln__le64(ent + 8), sb = kiln__le64(ent + 16);
        char id[5];
        fourcc_str(kiln__le32(ent), id);
        if (so % KILN_PLAN_ALIGN || so > l->size || sb > l->size - so)
            return kiln_err_set(e, KILN_ERR_PARSE, "%s: section %s lies outside the file "
                                "(corrupted)", name, id);
    }
    return KILN_OK;
}

static kiln_status check_crc(const loaded *l, uint32_t id, const char *name, kiln_err *e) {
    for (uint32_t i = 0; i < l->n_sec; i++) {
        const unsigned char *ent = l->table + (size_t)i * KILN_PLAN_SECTION_ENTRY_BYTES;
        if (kiln__le32(ent) != id) continue;
        const unsigned char *p = l->map + kiln__le64(ent + 8);
        uint64_t n = kiln__le64(ent + 16);
        uLong crc = crc32(0L, Z_NULL, 0);
        for (uint64_t done = 0; done < n;) {
            uint64_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
            crc = crc32(crc, p + done, (uInt)chunk);
            done += chunk;
        }
        if ((uint32_t)crc != kiln__le32(ent + 24)) {
            char s[5];
            fourcc_str(id, s);
            return kiln_err_set(e, KILN_ERR_PARSE, "%s: section %s checksum mismatch (corrupted "
                                "file)", name, s);
        }
        return KILN_OK;
    }
    char s[5];
    fourcc_str(id, s);
    return kiln_err_set(e, KILN_ERR_PARSE, "%s: section %s is missing", name, s);
}

/* The backend named in the header exists here, and the device is the one the plan is for. */
static kiln_status check_device(const loaded *l, kiln_engine *n, const char *name, kiln_err *e) {
    uint32_t b = kiln__le32(l->map + KILN_PLAN_H_BACKEND);
    n->backend = (kiln_backend_kind)b;
    n->precision = (kiln_precision)kiln__le32(l->map + KILN_PLAN_H_PRECISION);
    if ((unsigned)n->precision >= KILN_PREC_COUNT)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: unknown precision %u (corrupted file)", name,
                            (unsigned)n->precision);
    if (b > KILN_BACKEND_CUDA)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: unknown backend %u (corrupted file?)", name, b);
    n->iface = kiln_backend_get((kiln_backend_kind)b);
    if (!n->iface)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "%s: the plan is for the %s backend, which this kiln was built "
                            "without",
                            name, kiln_backend_name((kiln_backend_kind)b));
    if (n->iface->available && !n->iface->available())
        return kiln_err_set(e, KILN_ERR_NO_DEVICE, "%s: the plan is for the %s backend, and no "
                            "such device is present", name, n->iface->name);
    KILN_TRY(check_crc(l, KILN_PLAN_SEC_DEVICE, name, e));
    kiln__prd r;
    find_section(l, KILN_PLAN_SEC_DEVICE, &r);
    int ok = 1;
    char *bname = kiln__pr_str(&r, &ok), *sig = kiln__pr_str(&r, &ok);
    char here[256] = "";
    if (n->iface->describe) n->iface->describe(here, sizeof here);
    kiln_status st = KILN_OK;
    if (!ok || r.bad || !bname || !sig)
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: section DEVI is malformed (corrupted file)",
                          name);
    else if (strcmp(bname, n->iface->name))
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: header and DEVI disagree on the backend (%s, "
                          "%s)", name, n->iface->name, bname);
    else if (strcmp(sig, here))
        st = kiln_err_set(e, KILN_ERR_VERSION,
                          "%s: built for device '%s'; this device is '%s' (rebuild the plan here)",
                          name, sig, here);
    free(bname);
    free(sig);
    return st;
}

static kiln_status read_profile(const loaded *l, kiln_engine *n, const char *name, kiln_err *e) {
    kiln__prd r;
    find_section(l, KILN_PLAN_SEC_PROFILE, &r);
    n->bmin = kiln__pr_i64(&r);
    n->bopt = kiln__pr_i64(&r);
    n->bmax = kiln__pr_i64(&r);
    n->has_batch = (int)kiln__pr_u32(&r);
    n->threads = (int)kiln__pr_u32(&r);
    n->optimized = (int)kiln__pr_u32(&r);
    kiln__pr_u32(&r);
    int ok = !r.bad && n->has_batch >= 0 && n->has_batch <= 1 && n->threads >= 0;
    if (ok && n->has_batch)
        ok = n->bmin >= 1 && n->bmin <= n->bopt && n->bopt <= n->bmax && n->bmax <= (1 << 24);
    if (!ok) return kiln_err_set(e, KILN_ERR_PARSE, "%s: section PROF is malformed (corrupted "
                                 "file)", name);
    return KILN_OK;
}

/* Tensor and node contents, checked as they are read (a crafted file must not crash kiln). */
static int read_tensor(kiln__prd *r, kiln_graph *g, const kiln__prd *w, int *ok) {
    char *tname = kiln__pr_str(r, ok);
    int kind = kiln__pr_u8(r), is_out = kiln__pr_u8(r);
    kiln__pr_u16(r);
    int32_t dt = kiln__pr_i32(r), ndim = kiln__pr_i32(r);
    kiln_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    if (ndim < -1 || ndim > KILN_MAX_DIMS || kind > KILN_TENSOR_INPUT || r->bad) {
        free(tname);
        return -1;
    }
    /* Dimensions -1 (symbolic) or at most 2^40, and at most 2^48 elements in all, so no size
       computation downstream can overflow. */
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        s.d[d] = kiln__pr_i64(r);
        if (s.d[d] < -1 || s.d[d] > ((int64_t)1 << 40)) {
            free(tname);
            return -1;
        }
        if (s.d[d] > 0) {
            if (total > ((int64_t)1 << 48) / s.d[d]) {
                free(tname);
                return -1;
            }
            total *= s.d[d];
        }
    }
    int id = kiln_graph_add_tensor(g, tname, (kiln_tensor_kind)kind, (kiln_dtype)dt, &s);
    free(tname);
    if (id < 0) return -1;
    kiln_tensor *t = &g->t[id];
    t->is_output = is_out != 0;
    uint32_t mask = kiln__pr_u32(r);
    for (int d = 0; d < KILN_MAX_DIMS; d++)
        if (mask & (1u << d)) t->sym[d] = kiln__pr_str(r, ok);
    t->alias = kiln__pr_i32(r);
    t->alias_offset = kiln__pr_i64(r);
    if (kind == KILN_TENSOR_CONST) {
        uint64_t off = kiln__pr_u64(r), nb = kiln__pr_u64(r);
        if (off != UINT64_MAX) {
            int64_t numel = kiln_shape_numel(&s);
            size_t es = kiln_dtype_size((kiln_dtype)dt);
            /* The declared size must match the shape, and lie inside the weights. */
            if (numel < 0 || es == 0 || numel > (int64_t)(w->n / es) + 1 ||
                (uint64_t)numel * es != nb || off % KILN_PLAN_ALIGN || off > w->n ||
                nb > w->n - off)
                return -1;
            t->data = (void *)(w->p + off);
            t->owns_data = 0;
        }
    }
    return r->bad ? -1 : id;
}

/* Window attributes within plausible ranges, so no size arithmetic downstream can overflow on
   a crafted file (corruption itself is caught by the checksums). */
static int in_range(const int64_t *v, int n, int64_t lo, int64_t hi) {
    for (int i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi) return 0;
    return 1;
}

static int attr_sane(int op, const kiln_attr *a) {
    const int64_t big = (int64_t)1 << 24;
    if (op == KILN_OP_CONV || op == KILN_OP_CONV_TRANSPOSE) {
        const kiln_conv_attr *c = &a->conv;
        return c->nspatial >= 0 && c->nspatial <= KILN_MAX_SPATIAL &&
               in_range(c->kernel, KILN_MAX_SPATIAL, 0, big) &&
               in_range(c->stride, KILN_MAX_SPATIAL, 0, big) &&
               in_range(c->dilation, KILN_MAX_SPATIAL, 0, big) &&
               in_range(c->pad_begin, KILN_MAX_SPATIAL, -big, big) &&
               in_range(c->pad_end, KILN_MAX_SPATIAL, -big, big) &&
               in_range(c->output_padding, KILN_MAX_SPATIAL, -big, big) &&
               in_range(c->output_shape, KILN_MAX_SPATIAL, -big, big) &&
               in_range(&c->group, 1, 0, big);
    }
    if (op == KILN_OP_MAXPOOL || op == KILN_OP_AVGPOOL) {
        const kiln_pool_attr *p = &a->pool;
        return p->nspatial >= 0 && p->nspatial <= KILN_MAX_SPATIAL &&
               in_range(p->kernel, KILN_MAX_SPATIAL, 0, big) &&
               in_range(p->stride, KILN_MAX_SPATIAL, 0, big) &&
               in_range(p->dilation, KILN_MAX_SPATIAL, 0, big) &&
               in_range(p->pad_begin, KILN_MAX_SPATIAL, -big, big) &&
               in_range(p->pad_end, KILN_MAX_SPATIAL, -big, big);
    }
    if (op == KILN_OP_PAD) return in_range(a->pad.pads, 2 * KILN_MAX_DIMS, -big, big);
    if (op == KILN_OP_SPLIT) return in_range(a->split.split, KILN_MAX_SPLIT, -1, (int64_t)1 << 40);
    return 1;
}

static int read_node(kiln__prd *r, kiln_graph *g, int *ok) {
    int32_t op = kiln__pr_i32(r), opset = kiln__pr_i32(r);
    char *name = kiln__pr_str(r, ok), *label = kiln__pr_str(r, ok);
    uint32_t nin = kiln__pr_u32(r);
    int *in = NULL, *out = NULL, k = -1;
    uint32_t nout = 0;
    if (r->bad || op < 0 || op >= KILN_OP_COUNT || nin > 4096) goto done;
    in = malloc(sizeof(int) * (nin + 1));
    if (!in) goto done;
    for (uint32_t j = 0; j < nin; j++) in[j] = kiln__pr_i32(r);
    nout = kiln__pr_u32(r);
    if (r->bad || nout > 4096 || !(out = malloc(sizeof(int) * (nout + 1)))) goto done;
    for (uint32_t j = 0; j < nout; j++) out[j] = kiln__pr_i32(r);
    for (uint32_t j = 0; j < nin; j++)
        if (in[j] < -1 || in[j] >= g->n_t) goto done;
    for (uint32_t j = 0; j < nout; j++)
        if (out[j] < -1 || out[j] >= g->n_t) goto done;
    uint32_t kind = kiln__pr_u32(r), nbytes = kiln__pr_u32(r);
    kiln_attr a;
    if (r->bad || !kiln__plan_attr_read(r, op, kind, nbytes, &a) || !attr_sane(op, &a)) goto done;
    k = kiln_graph_add_node(g, (kiln_op)op, name, (int)nin, in, (int)nout, out);
    if (k >= 0) {
        g->n[k].opset = opset;
        g->n[k].a = a;
        g->n[k].label = label;
        label = NULL;
    }
done:
    free(name);
    free(label);
    free(in);
    free(out);
    return k;
}

static kiln_status read_graph(const loaded *l, kiln_engine *n, void *map, const char *name,
                              kiln_err *e) {
    kiln__prd r, w;
    find_section(l, KILN_PLAN_SEC_GRAPH, &r);
    find_section(l, KILN_PLAN_SEC_WEIGHTS, &w);
    kiln_graph *g = kiln_graph_create();
    if (!g) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory loading %s", name);
    /* From here the graph owns the mapping and unmaps it when destroyed. */
    if (kiln_graph_add_blob(g, map, l->size, 1) != 0) {
        kiln_graph_destroy(g);
        munmap(map, l->size);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory loading %s", name);
    }
    n->g = g;
    int ok = 1;
    g->name = kiln__pr_str(&r, &ok);
    g->opset = kiln__pr_i32(&r);
    uint32_t nt = kiln__pr_u32(&r), nn = kiln__pr_u32(&r), ni = kiln__pr_u32(&r),
             no = kiln__pr_u32(&r);
    /* Every tensor and node takes at least 16 bytes: a bound against absurd counts. */
    if (r.bad || nt > r.n / 16 || nn > r.n / 16 || ni > nt || no > nt) ok = 0;
    for (uint32_t i = 0; i < nt && ok; i++)
        if (read_tensor(&r, g, &w, &ok) < 0) ok = 0;
    for (uint32_t i = 0; i < nn && ok; i++)
        if (read_node(&r, g, &ok) < 0) ok = 0;
    for (uint32_t i = 0; i < ni && ok; i++) {
        int32_t id = kiln__pr_i32(&r);
        if (r.bad || id < 0 || id >= g->n_t || g->t[id].kind != KILN_TENSOR_INPUT ||
            kiln_graph_mark_input(g, id))
            ok = 0;
    }
    for (uint32_t i = 0; i < no && ok; i++) {
        int32_t id = kiln__pr_i32(&r);
        if (r.bad || id < 0 || id >= g->n_t || kiln_graph_mark_output(g, id)) ok = 0;
    }
    for (int i = 0; i < g->n_t && ok; i++)
        if (g->t[i].alias < -1 || g->t[i].alias >= g->n_t) ok = 0;
    if (!ok || r.bad || r.at != r.n)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: section GRPH is malformed (corrupted file)",
                            name);
    kiln_status st = kiln_graph_validate(g, e);
    if (st != KILN_OK) kiln_err_prefix(e, "%s: section GRPH", name);
    return st;
}

static kiln_status read_tactics(const loaded *l, const kiln_engine *n, const char *name,
                                kiln_err *e) {
    kiln__prd r;
    find_section(l, KILN_PLAN_SEC_TACTICS, &r);
    uint32_t k = kiln__pr_u32(&r);
    int ok = !r.bad && k == (uint32_t)n->g->n_n;
    for (uint32_t i = 0; i < k && ok; i++) {
        kiln__pr_i32(&r);
        free(kiln__pr_str(&r, &ok));
    }
    if (!ok || r.bad || r.at != r.n)
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: section TACT is malformed (corrupted file)",
                            name);
    return KILN_OK;
}

/* Everything after the checks: shapes at the largest batch, I/O, the backend's state. */
static kiln_status finish(const loaded *l, kiln_engine *n, const char *name, kiln_err *e) {
    if (n->g->n_inputs > 64) return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "more than 64 inputs");
    kiln_shape in[64];
    kiln_engine_input_shapes(n, n->bmax, in);
    kiln_status st = kiln_infer(n->g, in, &n->shapes_max, e);
    if (st != KILN_OK) {
        kiln_err_prefix(e, "%s", name);
        return st;
    }
    KILN_TRY(kiln_engine_make_io(n, e));
    kiln__prd r;
    if (n->iface->plan_read && find_section(l, KILN_PLAN_SEC_BACKEND, &r))
        KILN_TRY(n->iface->plan_read(n, r.p, r.n, e));
    if (n->iface->engine_prepare) KILN_TRY(n->iface->engine_prepare(n, e));
    return KILN_OK;
}

kiln_status kiln_engine_load(kiln_engine *e, const char *path) {
    if (!e) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&e->err);
    if (!path) return kiln_err_set(&e->err, KILN_ERR_INVALID_ARG, "no plan path given");
    const char *name = base_name(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kiln_err_set(&e->err, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kiln_err_set(&e->err, KILN_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return kiln_err_set(&e->err, KILN_ERR_PARSE, "%s: empty file (truncated plan?)", name);
    }
    loaded l = {0};
    l.size = (size_t)sb.st_size;
    void *map = mmap(NULL, l.size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return kiln_err_set(&e->err, KILN_ERR_IO, "%s: cannot map (%s)", path,
                                               strerror(errno));
    l.map = map;
    /* Load into a fresh engine; e changes only when everything succeeded. */
    kiln_engine *n = kiln_engine_create(), *old = kiln_engine_create();
    kiln_status st = n && old ? KILN_OK : kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory");
    if (st == KILN_OK) st = check_header(&l, name, &e->err);
    if (st == KILN_OK) st = check_table(&l, name, &e->err);
    if (st == KILN_OK) st = check_device(&l, n, name, &e->err);
    static const uint32_t ids[] = {KILN_PLAN_SEC_PROFILE, KILN_PLAN_SEC_GRAPH,
                                   KILN_PLAN_SEC_TACTICS, KILN_PLAN_SEC_WEIGHTS};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && st == KILN_OK; i++)
        st = check_crc(&l, ids[i], name, &e->err);
    kiln__prd bk;
    if (st == KILN_OK && find_section(&l, KILN_PLAN_SEC_BACKEND, &bk))
        st = check_crc(&l, KILN_PLAN_SEC_BACKEND, name, &e->err);
    if (st == KILN_OK) st = read_profile(&l, n, name, &e->err);
    if (st == KILN_OK) {
        st = read_graph(&l, n, map, name, &e->err);
        map = NULL; /* owned by n->g now (or already unmapped) */
    }
    if (st == KILN_OK) st = read_tactics(&l, n, name, &e->err);
    if (st == KILN_OK) st = finish(&l, n, name, &e->err);
    if (map) munmap(map, l.size);
    if (st != KILN_OK) {
        /* Names and signatures come from the file: keep the message on one printable line. */
        for (char *c = e->err.msg; *c; c++)
            if ((unsigned char)*c < 32 || *c == 127) *c = '?';
        kiln_engine_destroy(n);
        free(old);
        return st;
    }
    /* Swap the new contents in; destroying `old` releases what e held before. */
    kiln_err err = e->err;
    *old = *e;
    *e = *n;
    e->err = err;
    free(n);
    kiln_engine_destroy(old);
    return KILN_OK;
}
