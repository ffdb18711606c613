#include "io/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/dtype.h"
#include "io/npy.h"

typedef enum { DS_MEMORY, DS_IMAGENET } ds_kind;

struct kiln_dataset {
    ds_kind kind;
    char name[256];
    int64_t count;
    int ndim;
    int64_t dims[KILN_MAX_DIMS];
    int64_t numel;
    float *data;      /* DS_MEMORY: count x numel */
    int64_t *labels;
    char **files;     /* DS_IMAGENET: per-sample .npy path */
};

kiln_status kiln_idx_read(const char *path, uint8_t **data, int *ndim, int64_t *dims, kiln_err *e) {
    gzFile f = gzopen(path, "rb");
    if (!f) return kiln_err_set(e, KILN_ERR_IO, "%s: %s", path, strerror(errno ? errno : ENOENT));
    unsigned char h[4];
    kiln_status st = KILN_OK;
    *data = NULL;
    if (gzread(f, h, 4) != 4 || h[0] || h[1] || h[2] != 0x08 || h[3] < 1 || h[3] > 4) {
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: not an idx file of unsigned bytes", path);
        goto done;
    }
    *ndim = h[3];
    size_t total = 1;
    for (int i = 0; i < *ndim; i++) {
        unsigned char b[4];
        if (gzread(f, b, 4) != 4) {
            st = kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated idx header", path);
            goto done;
        }
        dims[i] = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        if (dims[i] <= 0 || dims[i] > (1 << 24) || total > ((size_t)1 << 32) / (size_t)dims[i]) {
            st = kiln_err_set(e, KILN_ERR_PARSE, "%s: bad idx dimension", path);
            goto done;
        }
        total *= (size_t)dims[i];
    }
    *data = malloc(total);
    if (!*data) {
        st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    if (gzread(f, *data, (unsigned)total) != (int)total) {
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: truncated idx data", path);
        free(*data);
        *data = NULL;
    }
done:
    gzclose(f);
    return st;
}

static kiln_status open_fashion(kiln_dataset *d, const char *dir, kiln_err *e) {
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte.gz", dir);
    uint8_t *img = NULL, *lab = NULL;
    int nd_i, nd_l;
    int64_t di[4], dl[4];
    KILN_TRY(kiln_idx_read(ip, &img, &nd_i, di, e));
    kiln_status st = kiln_idx_read(lp, &lab, &nd_l, dl, e);
    if (st == KILN_OK && (nd_i != 3 || nd_l != 1 || di[0] != dl[0]))
        st = kiln_err_set(e, KILN_ERR_PARSE, "%s: images and labels do not match", dir);
    if (st == KILN_OK) {
        d->count = di[0];
        d->ndim = 3;
        d->dims[0] = 1;
        d->dims[1] = di[1];
        d->dims[2] = di[2];
        d->numel = di[1] * di[2];
        d->data = malloc(sizeof(float) * (size_t)(d->count * d->numel));
        d->labels = malloc(sizeof(int64_t) * (size_t)d->count);
        if (!d->data || !d->labels) st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    }
    if (st == KILN_OK) {
        for (int64_t i = 0; i < d->count * d->numel; i++) d->data[i] = img[i] / 255.0f;
        for (int64_t i = 0; i < d->count; i++) d->labels[i] = lab[i];
        snprintf(d->name, sizeof d->name, "fashion-mnist (%lld test samples)", (long long)d->count);
    }
    free(img);
    free(lab);
    return st;
}

static kiln_status open_npy(kiln_dataset *d, const char *xs, const char *ys, kiln_err *e) {
    kiln_npy x, y;
    KILN_TRY(kiln_npy_read(xs, &x, e));
    kiln_status st = kiln_npy_read(ys, &y, e);
    if (st != KILN_OK) {
        kiln_npy_free(&x);
        return st;
    }
    if (x.dtype != KILN_F32 || x.ndim < 2)
        st = kiln_err_set(e, KILN_ERR_DTYPE, "%s: inputs must be float32 with a sample axis first", xs);
    else if (y.ndim != 1 || y.dims[0] != x.dims[0] || kiln_dtype_is_float(y.dtype))
        st = kiln_err_set(e, KILN_ERR_SHAPE, "%s: labels must be %lld integers", ys,
                          (long long)x.dims[0]);
    if (st == KILN_OK) {
        d->count = x.dims[0];
        d->ndim = x.ndim - 1;
        d->numel = 1;
        for (int i = 1; i < x.ndim; i++) d->numel *= (d->dims[i - 1] = x.dims[i]);
        d->data = x.data;
        x.data = NULL;
        d->labels = malloc(sizeof(int64_t) * (size_t)(d->count ? d->count : 1));
        if (!d->labels) st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == KILN_OK && i < d->count; i++)
            d->labels[i] = kiln_elem_get_i64(y.data, y.dtype, i);
        snprintf(d->name, sizeof d->name, "npy (%lld samples)", (long long)d->count);
    }
    kiln_npy_free(&x);
    kiln_npy_free(&y);
    return st;
}

static kiln_status open_imagenet(kiln_dataset *d, const char *dir, const char *map, kiln_err *e) {
    FILE *f = fopen(map, "r");
    if (!f) return kiln_err_set(e, KILN_ERR_IO, "%s: %s", map, strerror(errno));
    char line[1024];
    int64_t cap = 0, lineno = 0;
    kiln_status st = KILN_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char file[512];
        long long label;
        if (line[0] == '\n' || line[0] == '#') continue;
        if (sscanf(line, "%511s %lld", file, &label) != 2 || label < 0) {
            st = kiln_err_set(e, KILN_ERR_PARSE, "%s:%lld: expected 'FILE LABEL'", map,
                              (long long)lineno);
            break;
        }
        if (d->count == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nf = realloc(d->files, sizeof(char *) * (size_t)cap);
            int64_t *nl = realloc(d->labels, sizeof(int64_t) * (size_t)cap);
            if (nf) d->files = nf;
            if (nl) d->labels = nl;
            if (!nf || !nl) {
                st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
                break;
            }
        }
        char *dot = strrchr(file, '.');
        if (dot) *dot = 0;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, file);
        d->files[d->count] = strdup(path);
        d->labels[d->count] = label;
        if (!d->files[d->count]) {
            st = kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
            break;
        }
        d->count++;
    }
    fclose(f);
    if (st != KILN_OK) return st;
    if (!d->count) return kiln_err_set(e, KILN_ERR_PARSE, "%s: no samples listed", map);
    /* The first sample fixes the shape; every later one must match. */
    kiln_npy x;
    KILN_TRY(kiln_npy_read(d->files[0], &x, e));
    d->ndim = x.ndim;
    d->numel = 1;
    for (int i = 0; i < x.ndim; i++) d->numel *= (d->dims[i] = x.dims[i]);
    kiln_npy_free(&x);
    snprintf(d->name, sizeof d->name, "imagenet (%lld samples)", (long long)d->count);
    return KILN_OK;
}

kiln_status kiln_dataset_open(const char *spec, kiln_dataset **out, kiln_err *e) {
    *out = NULL;
    kiln_dataset *d = calloc(1, sizeof *d);
    if (!d) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory");
    kiln_status st;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", spec);
    if (!strcmp(buf, "fashion-mnist") || !strncmp(buf, "fashion-mnist:", 14)) {
        d->kind = DS_MEMORY;
        st = open_fashion(d, buf[13] ? buf + 14 : "/usr/share/datasets/fashion-mnist", e);
    } else if (!strncmp(buf, "npy:", 4) && strchr(buf + 4, ':')) {
        char *sep = strchr(buf + 4, ':');
        *sep = 0;
        d->kind = DS_MEMORY;
        st = open_npy(d, buf + 4, sep + 1, e);
    } else if (!strncmp(buf, "imagenet:", 9) && strchr(buf + 9, ':')) {
        char *sep = strchr(buf + 9, ':');
        *sep = 0;
        d->kind = DS_IMAGENET;
        st = open_imagenet(d, buf + 9, sep + 1, e);
    } else {
        st = kiln_err_set(e, KILN_ERR_INVALID_ARG,
                          "unknown dataset '%s' (fashion-mnist[:DIR], npy:INPUTS.npy:LABELS.npy, "
                          "imagenet:DIR:VAL_MAP)",
                          spec);
    }
    if (st != KILN_OK) {
        kiln_dataset_close(d);
        return st;
    }
    *out = d;
    return KILN_OK;
}

void kiln_dataset_close(kiln_dataset *d) {
    if (!d) return;
    if (d->files)
        for (int64_t i = 0; i < d->count; i++) free(d->files[i]);
    free(d->files);
    free(d->data);
    free(d->labels);
    free(d);
}

int64_t kiln_dataset_count(const kiln_dataset *d) { return d->count; }
int64_t kiln_dataset_sample_numel(const kiln_dataset *d) { return d->numel; }
int64_t kiln_dataset_label(const kiln_dataset *d, int64_t i) { return d->labels[i]; }
const char *kiln_dataset_name(const kiln_dataset *d) { return d->name; }

int kiln_dataset_sample_shape(const kiln_dataset *d, int64_t *dims) {
    for (int i = 0; i < d->ndim; i++) dims[i] = d->dims[i];
    return d->ndim;
}

kiln_status kiln_dataset_load(kiln_dataset *d, int64_t i, float *dst, kiln_err *e) {
    if (i < 0 || i >= d->count)
        return kiln_err_set(e, KILN_ERR_RANGE, "sample %lld out of range", (long long)i);
    if (d->kind == DS_MEMORY) {
        memcpy(dst, d->data + i * d->numel, sizeof(float) * (size_t)d->numel);
        return KILN_OK;
    }
    kiln_npy x;
    KILN_TRY(kiln_npy_read(d->files[i], &x, e));
    kiln_status st = KILN_OK;
    int64_t n = 1;
    for (int k = 0; k < x.ndim; k++) n *= x.dims[k];
    if (x.dtype != KILN_F32 || n != d->numel)
        st = kiln_err_set(e, KILN_ERR_SHAPE, "%s: expected %lld float32 values", d->files[i],
                          (long long)d->numel);
    else memcpy(dst, x.data, sizeof(float) * (size_t)n);
    kiln_npy_free(&x);
    return st;
}
