/* onnx_import.c — the two entry points: bytes or a file -> ModelProto -> kiln graph.
 *
 * The file is mapped, not read: protobuf-c copies every bytes field it unpacks anyway, and the
 * importer then takes those copies over as the constants' storage, so the weights exist once in
 * memory (plus the page cache, which the kernel may drop).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx_import.h"
#include "onnx/onnx_internal.h"

kiln_status kiln__onnx_graph_build(kiln__onnx_ctx *c, Onnx__GraphProto *gp); /* onnx_graph.c */

/* protobuf caps messages at 2 GiB; larger models keep their weights in external data. */
#define ONNX_MAX_MESSAGE ((size_t)2 << 30)

/* protobuf-c allocations are counted: a message of n bytes unpacks into a small multiple of n
   (each empty sub-message of 2 wire bytes becomes a struct of ~100 bytes), and the limit keeps a
   hostile file from turning that multiple into gigabytes. */
typedef struct counting_alloc {
    size_t used, limit;
    int exceeded;
} counting_alloc;

static void *ca_alloc(void *ud, size_t size) {
    counting_alloc *ca = ud;
    if (size > ca->limit - ca->used) {
        ca->exceeded = 1;
        return NULL;
    }
    ca->used += size;
    return malloc(size ? size : 1);
}

static void ca_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

/* Pick the default-domain opset; errors name the one that is out of range. */
static kiln_status model_opset(const Onnx__ModelProto *m, int *opset, kiln_err *e) {
    int found = 0;
    int64_t v = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        if (*d && strcmp(d, "ai.onnx") != 0) continue;
        if (found && o->version != v)
            return kiln_err_set(e, KILN_ERR_PARSE,
                                "model imports the default ONNX domain twice (opsets %lld and "
                                "%lld)",
                                (long long)v, (long long)o->version);
        v = o->version;
        found = 1;
    }
    if (!found)
        return kiln_err_set(e, KILN_ERR_PARSE,
                            "model imports no default-domain (ai.onnx) opset; kiln reads opsets "
                            "%d..%d",
                            KILN_ONNX_OPSET_MIN, KILN_ONNX_OPSET_MAX);
    if (v < KILN_ONNX_OPSET_MIN || v > KILN_ONNX_OPSET_MAX)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "ONNX opset %lld is not supported (kiln reads default-domain opsets "
                            "%d..%d)",
                            (long long)v, KILN_ONNX_OPSET_MIN, KILN_ONNX_OPSET_MAX);
    *opset = (int)v;
    return KILN_OK;
}

static kiln_status model_check(const Onnx__ModelProto *m, int *opset, kiln_err *e) {
    if (!m->has_ir_version)
        return kiln_err_set(e, KILN_ERR_PARSE, "not an ONNX model (no ir_version)");
    if (m->ir_version < KILN_ONNX_IR_MIN || m->ir_version > KILN_ONNX_IR_MAX)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "ONNX IR version %lld is not supported (kiln reads IR versions %d..%d)",
                            (long long)m->ir_version, KILN_ONNX_IR_MIN, KILN_ONNX_IR_MAX);
    KILN_TRY(model_opset(m, opset, e));
    if (!m->graph) return kiln_err_set(e, KILN_ERR_PARSE, "ONNX model has no graph");
    return KILN_OK;
}

/* Names in a model are arbitrary bytes: keep the message on one printable line. */
static kiln_status one_line(kiln_err *e, kiln_status st) {
    if (e && st != KILN_OK)
        for (char *p = e->msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return st;
}

static kiln_status import_memory(const void *data, size_t size, const char *base_dir,
                                 kiln_graph **out, kiln_err *e);

kiln_status kiln_onnx_import_memory(const void *data, size_t size, const char *base_dir,
                                    kiln_graph **out, kiln_err *e) {
    return one_line(e, import_memory(data, size, base_dir, out, e));
}

static kiln_status import_memory(const void *data, size_t size, const char *base_dir,
                                 kiln_graph **out, kiln_err *e) {
    if (!out) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "kiln_onnx_import_memory: out is NULL");
    *out = NULL;
    if (!data && size) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "ONNX data is NULL");
    if (size == 0) return kiln_err_set(e, KILN_ERR_PARSE, "not an ONNX model (empty)");
    if (size > ONNX_MAX_MESSAGE)
        return kiln_err_set(e, KILN_ERR_PARSE,
                            "ONNX model of %zu bytes is over protobuf's 2 GiB limit (large "
                            "weights belong in external data)",
                            size);
    int w = kiln__onnx_wire_check(data, size);
    if (w == -2)
        return kiln_err_set(e, KILN_ERR_PARSE,
                            "not an ONNX model (protobuf messages nested over %d deep)",
                            KILN_ONNX_MAX_DEPTH);
    if (w) return kiln_err_set(e, KILN_ERR_PARSE, "not an ONNX model (protobuf parse failed)");

    counting_alloc ca = {0, (size_t)64 << 20, 0};
    ca.limit += size < (SIZE_MAX - ca.limit) / 16 ? 16 * size : SIZE_MAX - ca.limit;
    ProtobufCAllocator pa = {ca_alloc, ca_free, &ca};
    Onnx__ModelProto *m = onnx__model_proto__unpack(&pa, size, data);
    if (!m) {
        if (ca.exceeded)
            return kiln_err_set(e, KILN_ERR_NOMEM,
                                "ONNX model of %zu bytes needs over %zu MiB to decode", size,
                                ca.limit >> 20);
        return kiln_err_set(e, KILN_ERR_PARSE, "not an ONNX model (protobuf parse failed)");
    }

    kiln__onnx_ctx c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.base_dir = base_dir && *base_dir ? base_dir : ".";
    kiln_status st = model_check(m, &c.opset, e);
    if (st == KILN_OK) {
        c.g = kiln_graph_create();
        if (!c.g) st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory creating graph");
    }
    if (st == KILN_OK) {
        /* Before any node is added: kiln_graph_add_node fills defaults for g->opset. */
        c.g->opset = c.opset;
        st = kiln__onnx_graph_build(&c, m->graph);
    }
    onnx__model_proto__free_unpacked(m, &pa);
    kiln__onnx_map_free(&c.names);
    kiln__onnx_map_free(&c.uses);
    free(c.produced);
    if (st != KILN_OK) {
        kiln_graph_destroy(c.g);
        return st;
    }
    *out = c.g;
    return KILN_OK;
}

/* dirname(path) as a fresh string ("." when path has no '/'). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

kiln_status kiln_onnx_import_file(const char *path, kiln_graph **out, kiln_err *e) {
    if (!out) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "kiln_onnx_import_file: out is NULL");
    *out = NULL;
    if (!path) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "ONNX path is NULL");
    /* O_NONBLOCK: opening a FIFO must not hang; only regular files pass the check below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return kiln_err_set(e, KILN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kiln_err_set(e, KILN_ERR_IO, "'%s' is not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) {
        close(fd);
        return kiln_err_set(e, KILN_ERR_PARSE, "'%s': not an ONNX model (empty file)", path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return kiln_err_set(e, KILN_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    char *dir = dir_of(path);
    kiln_status st = dir ? kiln_onnx_import_memory(map, size, dir, out, e)
                         : kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    free(dir);
    munmap(map, size);
    if (st != KILN_OK) kiln_err_prefix(e, "%s", path);
    return one_line(e, st);
}
