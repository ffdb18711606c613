/* onnx_extdata.c — tensors whose bytes live in a file beside the model (ONNX "external data":
 * key/value pairs location, offset, length, checksum).
 *
 * A model is untrusted input, and location is a path it chooses: only paths inside the model's
 * folder are read (no absolute paths, no '..' component), only regular files, and only the
 * exact byte count the tensor's shape and type call for, checked against the file's size before
 * anything is allocated.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx_internal.h"

/* Decimal, non-negative, no sign, no overflow. */
static int parse_u63(const char *s, int64_t *out) {
    if (!s || !*s) return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* 1 when some '/'-separated component of p is "..". */
static int has_dotdot(const char *p) {
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static kiln_status read_exact(kiln__onnx_ctx *c, int fd, const char *path, int64_t off,
                              unsigned char *buf, size_t n, const char *what) {
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : n - done;
        ssize_t r = pread(fd, buf + done, chunk, (off_t)(off + (int64_t)done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return kiln_err_set(c->e, KILN_ERR_IO, "%s: reading external data '%s' failed: %s",
                                what, path, r < 0 ? strerror(errno) : "unexpected end of file");
        done += (size_t)r;
    }
    return KILN_OK;
}

kiln_status kiln__onnx_extdata_read(kiln__onnx_ctx *c, const Onnx__TensorProto *tp,
                                    size_t nbytes, const char *what, void **data) {
    const char *loc = NULL;
    int64_t off = 0, len = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k) continue;
        if (!strcmp(k, "location")) loc = v;
        else if (!strcmp(k, "offset") && parse_u63(v, &off))
            return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: external data offset '%s' is not a "
                                "non-negative integer", what, v ? v : "");
        else if (!strcmp(k, "length") && parse_u63(v, &len))
            return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: external data length '%s' is not a "
                                "non-negative integer", what, v ? v : "");
    }
    if (!loc || !*loc)
        return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: external data has no location", what);
    if (loc[0] == '/' || has_dotdot(loc))
        return kiln_err_set(c->e, KILN_ERR_PARSE,
                            "%s: external data location '%s' leaves the model's folder (absolute "
                            "paths and '..' are refused)",
                            what, loc);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", c->base_dir, loc) >= sizeof path)
        return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: external data path is too long", what);

    /* O_NONBLOCK: opening a FIFO must not hang; only regular files pass the check below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return kiln_err_set(c->e, KILN_ERR_IO, "%s: cannot open external data '%s': %s", what,
                            path, strerror(errno));
    struct stat sb;
    kiln_status st = KILN_OK;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        st = kiln_err_set(c->e, KILN_ERR_IO, "%s: external data '%s' is not a regular file", what,
                          path);
    } else {
        int64_t fsize = (int64_t)sb.st_size;
        if (off > fsize || (len >= 0 && len > fsize - off))
            st = kiln_err_set(c->e, KILN_ERR_PARSE,
                              "%s: external data '%s' has %lld bytes, fewer than offset %lld + "
                              "length %lld",
                              what, path, (long long)fsize, (long long)off,
                              (long long)(len < 0 ? 0 : len));
        else {
            if (len < 0) len = fsize - off; /* no length: the rest of the file */
            if ((uint64_t)len != (uint64_t)nbytes)
                st = kiln_err_set(c->e, KILN_ERR_PARSE,
                                  "%s: external data has %lld bytes, expected %zu", what,
                                  (long long)len, nbytes);
        }
    }
    if (st == KILN_OK) {
        unsigned char *buf = malloc(nbytes ? nbytes : 1);
        if (!buf) st = kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory (%zu bytes)", what,
                                    nbytes);
        else if ((st = read_exact(c, fd, path, off, buf, nbytes, what)) != KILN_OK) free(buf);
        else *data = buf;
    }
    close(fd);
    return st;
}
