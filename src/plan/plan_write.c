/* kiln_engine_save: write an engine as a .plan file (docs/plan-format.md).
 *
 * Sections are built in memory except the weights, which stream from the constants (their CRC is
 * computed on the way). The file is written under a temporary name and renamed into place, so a
 * failed save never leaves a half-written plan behind under the real name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "plan/plan_format.h"
#include "plan/plan_io.h"
#include "runtime/engine.h"

typedef struct section {
    uint32_t id;
    kiln__pbuf buf;      /* contents (empty for the weights) */
    uint64_t offset, bytes;
    uint32_t crc;
} section;

static uint64_t align_up(uint64_t n) {
    return (n + KILN_PLAN_ALIGN - 1) & ~(uint64_t)(KILN_PLAN_ALIGN - 1);
}

static void write_device(const kiln_engine *e, kiln__pbuf *b) {
    char sig[256] = "";
    if (e->iface->describe) e->iface->describe(sig, sizeof sig);
    kiln__pb_str(b, e->iface->name);
    kiln__pb_str(b, sig);
}

static void write_profile(const kiln_engine *e, kiln__pbuf *b) {
    kiln__pb_i64(b, e->bmin);
    kiln__pb_i64(b, e->bopt);
    kiln__pb_i64(b, e->bmax);
    kiln__pb_u32(b, (uint32_t)e->has_batch);
    kiln__pb_u32(b, (uint32_t)e->threads);
    kiln__pb_u32(b, (uint32_t)e->optimized);
    kiln__pb_u32(b, 0);
}

/* Weight offsets (relative to the weights section) for every constant, in tensor order. */
static uint64_t weight_layout(const kiln_graph *g, uint64_t *off) {
    uint64_t at = 0;
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        off[i] = 0;
        if (t->kind != KILN_TENSOR_CONST || !t->data) continue;
        at = align_up(at);
        off[i] = at;
        at += kiln_tensor_nbytes(t);
    }
    return align_up(at);
}

static void write_graph(const kiln_graph *g, const uint64_t *woff, kiln__pbuf *b) {
    kiln__pb_str(b, g->name);
    kiln__pb_i32(b, g->opset);
    kiln__pb_u32(b, (uint32_t)g->n_t);
    kiln__pb_u32(b, (uint32_t)g->n_n);
    kiln__pb_u32(b, (uint32_t)g->n_inputs);
    kiln__pb_u32(b, (uint32_t)g->n_outputs);
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        kiln__pb_str(b, t->name);
        kiln__pb_u8(b, (uint8_t)t->kind);
        kiln__pb_u8(b, (uint8_t)t->is_output);
        kiln__pb_u16(b, 0);
        kiln__pb_i32(b, (int32_t)t->dtype);
        kiln__pb_i32(b, t->shape.ndim);
        for (int d = 0; d < t->shape.ndim && d < KILN_MAX_DIMS; d++) kiln__pb_i64(b, t->shape.d[d]);
        uint32_t mask = 0;
        for (int d = 0; d < KILN_MAX_DIMS; d++)
            if (t->sym[d]) mask |= 1u << d;
        kiln__pb_u32(b, mask);
        for (int d = 0; d < KILN_MAX_DIMS; d++)
            if (t->sym[d]) kiln__pb_str(b, t->sym[d]);
        kiln__pb_i32(b, t->alias);
        kiln__pb_i64(b, t->alias_offset);
        if (t->kind == KILN_TENSOR_CONST) {
            int has = t->data != NULL;
            kiln__pb_u64(b, has ? woff[i] : UINT64_MAX);
            kiln__pb_u64(b, has ? kiln_tensor_nbytes(t) : 0);
        }
    }
    for (int k = 0; k < g->n_n; k++) {
        const kiln_node *n = &g->n[k];
        kiln__pb_i32(b, n->op);
        kiln__pb_i32(b, n->opset);
        kiln__pb_str(b, n->name);
        kiln__pb_str(b, n->label);
        kiln__pb_u32(b, (uint32_t)n->n_in);
        for (int j = 0; j < n->n_in; j++) kiln__pb_i32(b, n->in[j]);
        kiln__pb_u32(b, (uint32_t)n->n_out);
        for (int j = 0; j < n->n_out; j++) kiln__pb_i32(b, n->out[j]);
        kiln__plan_attr_write(b, n->op, &n->a);
    }
    for (int i = 0; i < g->n_inputs; i++) kiln__pb_i32(b, g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++) kiln__pb_i32(b, g->outputs[i]);
}

static void write_tactics(const kiln_engine *e, kiln__pbuf *b) {
    kiln__pb_u32(b, (uint32_t)e->g->n_n);
    for (int k = 0; k < e->g->n_n; k++) {
        char name[128] = "default";
        int id = e->iface->node_tactic ? e->iface->node_tactic(e, k, name, sizeof name) : 0;
        kiln__pb_i32(b, id);
        kiln__pb_str(b, name);
    }
}

static uint32_t weights_crc(const kiln_graph *g, const uint64_t *woff, uint64_t total) {
    static const unsigned char zeros[KILN_PLAN_ALIGN];
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t at = 0;
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        if (t->kind != KILN_TENSOR_CONST || !t->data) continue;
        crc = crc32(crc, zeros, (uInt)(woff[i] - at));
        const unsigned char *p = t->data;
        size_t nb = kiln_tensor_nbytes(t);
        for (size_t done = 0; done < nb;) {
            size_t chunk = nb - done > (1u << 30) ? (1u << 30) : nb - done;
            crc = crc32(crc, p + done, (uInt)chunk);
            done += chunk;
        }
        at = woff[i] + nb;
    }
    crc = crc32(crc, zeros, (uInt)(total - at));
    return (uint32_t)crc;
}

static int put_zeros(FILE *f, uint64_t n) {
    static const unsigned char zeros[KILN_PLAN_ALIGN];
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (fwrite(zeros, 1, k, f) != k) return 0;
        n -= k;
    }
    return 1;
}

static int write_weights(FILE *f, const kiln_graph *g, const uint64_t *woff, uint64_t total) {
    uint64_t at = 0;
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        if (t->kind != KILN_TENSOR_CONST || !t->data) continue;
        size_t nb = kiln_tensor_nbytes(t);
        if (!put_zeros(f, woff[i] - at) || fwrite(t->data, 1, nb, f) != nb) return 0;
        at = woff[i] + nb;
    }
    return put_zeros(f, total - at);
}

static void make_header(unsigned char *h, const kiln_engine *e, uint64_t file_bytes, uint32_t n_sec,
                        const unsigned char *table, size_t table_bytes) {
    kiln__pbuf b = {0};
    kiln__pb_bytes(&b, KILN_PLAN_MAGIC, 8);
    kiln__pb_u32(&b, KILN_PLAN_FORMAT_VERSION);
    kiln__pb_u32(&b, KILN_PLAN_HEADER_BYTES);
    kiln__pb_u16(&b, KILN_VERSION_MAJOR);
    kiln__pb_u16(&b, KILN_VERSION_MINOR);
    kiln__pb_u16(&b, KILN_VERSION_PATCH);
    kiln__pb_u16(&b, 0);
    kiln__pb_u32(&b, (uint32_t)e->backend);
    kiln__pb_u32(&b, (uint32_t)e->precision);
    kiln__pb_u64(&b, file_bytes);
    kiln__pb_u32(&b, n_sec);
    kiln__pb_u32(&b, KILN_PLAN_HEADER_BYTES);
    kiln__pb_u32(&b, (uint32_t)crc32(0L, table, (uInt)table_bytes));
    kiln__pb_bytes(&b, NULL, 8);
    memset(h, 0, KILN_PLAN_HEADER_BYTES);
    if (!b.oom) memcpy(h, b.p, b.n);
    kiln__pb_free(&b);
    uint32_t crc = (uint32_t)crc32(0L, h, KILN_PLAN_H_HEADER_CRC);
    for (int i = 0; i < 4; i++) h[KILN_PLAN_H_HEADER_CRC + i] = (unsigned char)(crc >> (8 * i));
}

kiln_status kiln_engine_save(kiln_engine *e, const char *path) {
    if (!e) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&e->err);
    if (!e->g || !e->iface) return kiln_err_set(&e->err, KILN_ERR_INVALID_ARG, "engine not built");
    if (!path) return kiln_err_set(&e->err, KILN_ERR_INVALID_ARG, "no plan path given");
    const kiln_graph *g = e->g;
    section sec[6];
    memset(sec, 0, sizeof sec);
    int ns = 0, wi;
    uint64_t *woff = malloc(sizeof(uint64_t) * ((size_t)g->n_t + 1));
    void *bk = NULL;
    size_t bkn = 0;
    FILE *f = NULL;
    char *tmp = malloc(strlen(path) + 16);
    kiln_status st = KILN_OK;
    if (!woff || !tmp) {
        st = kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory saving the plan");
        goto out;
    }
    if (e->iface->plan_write && (st = e->iface->plan_write(e, &bk, &bkn, &e->err)) != KILN_OK)
        goto out;
    sec[ns].id = KILN_PLAN_SEC_DEVICE;
    write_device(e, &sec[ns++].buf);
    sec[ns].id = KILN_PLAN_SEC_PROFILE;
    write_profile(e, &sec[ns++].buf);
    uint64_t wtotal = weight_layout(g, woff);
    sec[ns].id = KILN_PLAN_SEC_GRAPH;
    write_graph(g, woff, &sec[ns++].buf);
    sec[ns].id = KILN_PLAN_SEC_TACTICS;
    write_tactics(e, &sec[ns++].buf);
    wi = ns;
    sec[ns].id = KILN_PLAN_SEC_WEIGHTS;
    sec[ns].bytes = wtotal;
    sec[ns++].crc = weights_crc(g, woff, wtotal);
    if (bk && bkn) {
        sec[ns].id = KILN_PLAN_SEC_BACKEND;
        kiln__pb_bytes(&sec[ns++].buf, bk, bkn);
    }
    for (int i = 0; i < ns; i++)
        if (sec[i].buf.oom) {
            st = kiln_err_set(&e->err, KILN_ERR_NOMEM, "out of memory saving the plan");
            goto out;
        }
    /* Layout: header, section table, then each section at an aligned offset. */
    uint64_t at = align_up(KILN_PLAN_HEADER_BYTES + (uint64_t)ns * KILN_PLAN_SECTION_ENTRY_BYTES);
    for (int i = 0; i < ns; i++) {
        if (i != wi) {
            sec[i].bytes = sec[i].buf.n;
            sec[i].crc = (uint32_t)crc32(0L, sec[i].buf.p, (uInt)sec[i].buf.n);
        }
        sec[i].offset = at;
        at = align_up(at + sec[i].bytes);
    }
    uint64_t file_bytes = at;
    kiln__pbuf table = {0};
    for (int i = 0; i < ns; i++) {
        kiln__pb_u32(&table, sec[i].id);
        kiln__pb_u32(&table, 0);
        kiln__pb_u64(&table, sec[i].offset);
        kiln__pb_u64(&table, sec[i].bytes);
        kiln__pb_u32(&table, sec[i].crc);
        kiln__pb_u32(&table, 0);
    }
    unsigned char header[KILN_PLAN_HEADER_BYTES];
    make_header(header, e, file_bytes, (uint32_t)ns, table.p, table.n);
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        kiln__pb_free(&table);
        st = kiln_err_set(&e->err, KILN_ERR_IO, "%s: cannot write (%s)", path, strerror(errno));
        goto out;
    }
    int ok = !table.oom && fwrite(header, 1, sizeof header, f) == sizeof header &&
             fwrite(table.p, 1, table.n, f) == table.n;
    uint64_t pos = KILN_PLAN_HEADER_BYTES + table.n;
    kiln__pb_free(&table);
    for (int i = 0; i < ns && ok; i++) {
        ok = put_zeros(f, sec[i].offset - pos);
        if (ok) ok = i == wi ? write_weights(f, g, woff, wtotal)
                             : fwrite(sec[i].buf.p, 1, sec[i].buf.n, f) == sec[i].buf.n;
        pos = sec[i].offset + sec[i].bytes;
    }
    if (ok) ok = put_zeros(f, file_bytes - pos);
    if (fclose(f) != 0) ok = 0;
    f = NULL;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        remove(tmp);
        st = kiln_err_set(&e->err, KILN_ERR_IO, "%s: write failed (%s)", path, strerror(err));
    }
out:
    for (int i = 0; i < ns; i++) kiln__pb_free(&sec[i].buf);
    free(bk);
    free(woff);
    free(tmp);
    return st;
}
