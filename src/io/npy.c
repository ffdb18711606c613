#include "io/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"

static const struct {
    const char *descr;
    kiln_dtype t;
} npy_types[] = {
    {"<f4", KILN_F32}, {"<f2", KILN_F16}, {"<f8", KILN_F64}, {"|i1", KILN_I8},
    {"|u1", KILN_U8},  {"<i4", KILN_I32}, {"<i8", KILN_I64}, {"|b1", KILN_BOOL},
    {"<i2", KILN_I16}, {"<u2", KILN_U16}, {"<u4", KILN_U32}, {"<u8", KILN_U64},
};

static const char *descr_of(kiln_dtype t) {
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].t == t) return npy_types[i].descr;
    return NULL;
}

void kiln_npy_free(kiln_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Find 'key': in the header dict and return a pointer just after the colon. */
static const char *dict_value(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p) return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

kiln_status kiln_npy_parse(const void *buf, size_t size, const char *what, kiln_npy *out,
                           kiln_err *e) {
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(b, "\x93NUMPY", 6))
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: not a .npy file (bad magic)", what);
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated .npy header", what);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hoff = 12;
    } else {
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: unsupported .npy version %d", what, major);
    }
    if (hlen > size - hoff || hlen > (1u << 20))
        return kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated .npy header", what);
    char *h = malloc(hlen + 1);
    if (!h) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    kiln_status st = KILN_OK;
    const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"),
               *sh = dict_value(h, "shape");
    if (!d || !fo || !sh) {
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: .npy header lacks descr/fortran_order/shape", what);
        goto done;
    }
    if (!strncmp(fo, "True", 4)) {
        st = kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported "
                          "(save with np.ascontiguousarray)", what);
        goto done;
    }
    /* descr is a quoted string such as '<f4'; byte order '<', '=' or '|' (little-endian or
       irrelevant) is accepted, '>' is not. */
    char descr[16] = {0};
    if (d[0] == '\'') {
        size_t k = 0;
        while (d[1 + k] && d[1 + k] != '\'' && k < sizeof descr - 1) {
            descr[k] = d[1 + k];
            k++;
        }
    }
    out->dtype = KILN_DTYPE_UNDEFINED;
    if (descr[0] == '<' || descr[0] == '=' || descr[0] == '|') {
        for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
            if (!strcmp(descr + 1, npy_types[i].descr + 1)) out->dtype = npy_types[i].t;
    }
    if (out->dtype == KILN_DTYPE_UNDEFINED) {
        st = kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'", what, descr);
        goto done;
    }
    if (*sh != '(') {
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: bad .npy shape", what);
        goto done;
    }
    sh++;
    out->ndim = 0;
    size_t numel = 1;
    for (;;) {
        while (*sh == ' ' || *sh == ',') sh++;
        if (*sh == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(sh, &end, 10);
        if (end == sh || v < 0 || errno || out->ndim >= KILN_MAX_DIMS) {
            st = kiln_err_set(e, KILN_ERR_PARSE, "%s: bad .npy shape (or more than %d dims)", what,
                              KILN_MAX_DIMS);
            goto done;
        }
        if (v && numel > ((size_t)1 << 40) / (size_t)v) {
            st = kiln_err_set(e, KILN_ERR_PARSE, "%s: .npy array too large", what);
            goto done;
        }
        out->dims[out->ndim++] = v;
        numel *= (size_t)v;
        sh = end;
    }
    out->nbytes = numel * kiln_dtype_size(out->dtype);
    if (size - hoff - hlen < out->nbytes) {
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated .npy data (%zu of %zu bytes)", what,
                          size - hoff - hlen, out->nbytes);
        goto done;
    }
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) {
        st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory for %s", what);
        goto done;
    }
    memcpy(out->data, b + hoff + hlen, out->nbytes);
done:
    free(h);
    if (st != KILN_OK) kiln_npy_free(out);
    return st;
}

kiln_status kiln_npy_read(const char *path, kiln_npy *out, kiln_err *e) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_err_set(e, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return kiln_err_set(e, KILN_ERR_IO, "%s: cannot seek", path);
    }
    long sz = ftell(f);
    rewind(f);
    if (sz < 0) {
        fclose(f);
        return kiln_err_set(e, KILN_ERR_IO, "%s: cannot size", path);
    }
    unsigned char *buf = malloc((size_t)sz + 1);
    if (!buf) {
        fclose(f);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    kiln_status st = got == (size_t)sz ? kiln_npy_parse(buf, got, path, out, e)
                                       : kiln_err_set(e, KILN_ERR_IO, "%s: short read", path);
    free(buf);
    return st;
}

kiln_status kiln_npy_write(const char *path, kiln_dtype dtype, int ndim, const int64_t *dims,
                           const void *data, kiln_err *e) {
    const char *descr = descr_of(dtype);
    if (!descr)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s: cannot write %s to .npy", path,
                            kiln_dtype_name(dtype));
    char shape[256] = "(";
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        char d[32];
        snprintf(d, sizeof d, "%lld%s", (long long)dims[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        strncat(shape, d, sizeof shape - strlen(shape) - 1);
        numel *= (size_t)dims[i];
    }
    strncat(shape, ")", sizeof shape - strlen(shape) - 1);
    char header[512];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    /* Pad with spaces so that magic + header ends on a 64-byte boundary, newline last. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return kiln_err_set(e, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    uint16_t hl = (uint16_t)(n + 1 + pad);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t nb = numel * kiln_dtype_size(dtype);
    ok = ok && (nb == 0 || fwrite(data, 1, nb, f) == nb);
    ok = (fclose(f) == 0) && ok;
    if (!ok) return kiln_err_set(e, KILN_ERR_IO, "%s: write failed", path);
    return KILN_OK;
}
