/* .npy read/write round trips for every supported dtype, malformed files, and the datasets
 * (Fashion-MNIST idx, npy:, imagenet: val_map). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dtype.h"
#include "io/dataset.h"
#include "io/npy.h"
#include "test.h"

static char tmpdir[] = "/tmp/kiln-test-io-XXXXXX";

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_npy_roundtrip(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    kiln_dtype types[] = {KILN_F32, KILN_F16, KILN_F64, KILN_I8, KILN_U8, KILN_I32, KILN_I64, KILN_BOOL};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int nd = 1 + (int)(kiln_rng_next(&r) % 4);
        int64_t dims[4], n = 1;
        for (int d = 0; d < nd; d++) n *= (dims[d] = 1 + (int64_t)(kiln_rng_next(&r) % 7));
        size_t es = kiln_dtype_size(types[t]);
        unsigned char *data = malloc((size_t)n * es);
        for (size_t i = 0; i < (size_t)n * es; i++) data[i] = (unsigned char)kiln_rng_next(&r);
        if (types[t] == KILN_BOOL)
            for (int64_t i = 0; i < n; i++) data[i] &= 1;
        kiln_err e;
        CHECK_OK(kiln_npy_write(tmp("a.npy"), types[t], nd, dims, data, &e));
        kiln_npy a;
        CHECK_OK(kiln_npy_read(tmp("a.npy"), &a, &e));
        CHECK(a.dtype == types[t] && a.ndim == nd && !memcmp(a.dims, dims, sizeof(int64_t) * nd),
              "%s: header round trip", kiln_dtype_name(types[t]));
        CHECK(a.data && !memcmp(a.data, data, (size_t)n * es), "%s: data round trip",
              kiln_dtype_name(types[t]));
        kiln_npy_free(&a);
        free(data);
    }
    /* A scalar (shape ()) and a 1-D array (shape (5,)). */
    float s = 3.5f;
    kiln_err e;
    CHECK_OK(kiln_npy_write(tmp("s.npy"), KILN_F32, 0, NULL, &s, &e));
    kiln_npy a;
    CHECK_OK(kiln_npy_read(tmp("s.npy"), &a, &e));
    CHECK(a.ndim == 0 && a.data && *(float *)a.data == 3.5f, "scalar");
    kiln_npy_free(&a);
}

static void test_npy_bad(void) {
    kiln_err e;
    kiln_npy a;
    CHECK(kiln_npy_read(tmp("missing.npy"), &a, &e) == KILN_ERR_IO && strstr(e.msg, "missing.npy"),
          "missing file: %s", e.msg);
    write_bytes(tmp("junk.npy"), "hello world, not numpy", 22);
    CHECK(kiln_npy_read(tmp("junk.npy"), &a, &e) == KILN_ERR_PARSE, "bad magic: %s", e.msg);
    float v[6] = {1, 2, 3, 4, 5, 6};
    CHECK_OK(kiln_npy_write(tmp("t.npy"), KILN_F32, 2, (int64_t[]){2, 3}, v, &e));
    FILE *f = fopen(tmp("t.npy"), "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 0; cut < n; cut += 7) {
        write_bytes(tmp("cut.npy"), buf, cut);
        kiln_status st = kiln_npy_read(tmp("cut.npy"), &a, &e);
        CHECK(st == KILN_ERR_PARSE, "truncated at %zu: %s", cut, kiln_status_str(st));
    }
    const char *fortran = "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }            \n";
    unsigned char fb[200];
    memcpy(fb, fortran, 80);
    memset(fb + 80, 0, 24);
    write_bytes(tmp("f.npy"), fb, 104);
    CHECK(kiln_npy_read(tmp("f.npy"), &a, &e) == KILN_ERR_UNSUPPORTED && strstr(e.msg, "Fortran"),
          "fortran order: %s", e.msg);
    const char *big = "\x93NUMPY\x01\x00\x46\x00{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }             \n";
    memcpy(fb, big, 80);
    write_bytes(tmp("b.npy"), fb, 88);
    CHECK(kiln_npy_read(tmp("b.npy"), &a, &e) == KILN_ERR_UNSUPPORTED, "big endian: %s", e.msg);
}

static void test_datasets(void) {
    kiln_err e;
    kiln_dataset *d = NULL;
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) == 0) {
        CHECK_OK(kiln_dataset_open("fashion-mnist", &d, &e));
        if (d) {
            CHECK(kiln_dataset_count(d) == 10000, "fashion-mnist test split has 10000 samples");
            int64_t dims[8];
            CHECK(kiln_dataset_sample_shape(d, dims) == 3 && dims[0] == 1 && dims[1] == 28 &&
                      dims[2] == 28, "sample shape 1x28x28");
            int hist[10] = {0}, bad = 0;
            for (int64_t i = 0; i < 10000; i++) {
                int64_t l = kiln_dataset_label(d, i);
                if (l < 0 || l > 9) bad++;
                else hist[l]++;
            }
            CHECK(!bad && hist[0] == 1000 && hist[9] == 1000, "1000 test samples per class");
            float x[784];
            CHECK_OK(kiln_dataset_load(d, 1234, x, &e));
            float lo = 1, hi = 0;
            for (int i = 0; i < 784; i++) {
                lo = fminf(lo, x[i]);
                hi = fmaxf(hi, x[i]);
            }
            CHECK(lo >= 0 && hi <= 1 && hi > 0.5f, "pixels in [0, 1]");
            CHECK(kiln_dataset_load(d, 10000, x, &e) == KILN_ERR_RANGE, "out of range sample");
            kiln_dataset_close(d);
        }
    } else {
        printf("note: dataset-fashion-mnist not installed; fashion-mnist checks not run\n");
        CHECK(0, "dataset-fashion-mnist is required (scripts/setup.sh installs it)");
    }
    CHECK(kiln_dataset_open("fashion-mnist:/nonexistent", &d, &e) == KILN_ERR_IO, "missing dir: %s",
          e.msg);
    CHECK(kiln_dataset_open("cifar", &d, &e) == KILN_ERR_INVALID_ARG && strstr(e.msg, "cifar"),
          "unknown dataset: %s", e.msg);

    /* npy: dataset. */
    float xs[3 * 2 * 2];
    for (int i = 0; i < 12; i++) xs[i] = (float)i;
    int64_t ys[3] = {2, 0, 1};
    CHECK_OK(kiln_npy_write(tmp("x.npy"), KILN_F32, 3, (int64_t[]){3, 2, 2}, xs, &e));
    CHECK_OK(kiln_npy_write(tmp("y.npy"), KILN_I64, 1, (int64_t[]){3}, ys, &e));
    char spec[1200];
    snprintf(spec, sizeof spec, "npy:%s:%s", tmp("x.npy"), tmp("y.npy"));
    CHECK_OK(kiln_dataset_open(spec, &d, &e));
    if (d) {
        float s[4];
        CHECK(kiln_dataset_count(d) == 3 && kiln_dataset_sample_numel(d) == 4, "npy counts");
        CHECK_OK(kiln_dataset_load(d, 2, s, &e));
        CHECK(s[0] == 8 && s[3] == 11 && kiln_dataset_label(d, 0) == 2, "npy sample and label");
        kiln_dataset_close(d);
    }
    CHECK_OK(kiln_npy_write(tmp("y2.npy"), KILN_I64, 1, (int64_t[]){2}, ys, &e));
    snprintf(spec, sizeof spec, "npy:%s:%s", tmp("x.npy"), tmp("y2.npy"));
    CHECK(kiln_dataset_open(spec, &d, &e) == KILN_ERR_SHAPE, "label count mismatch: %s", e.msg);

    /* imagenet: pre-processed .npy images listed in a val_map. */
    CHECK_OK(kiln_npy_write(tmp("ILSVRC2012_val_00000001.npy"), KILN_F32, 3, (int64_t[]){1, 2, 2}, xs, &e));
    CHECK_OK(kiln_npy_write(tmp("ILSVRC2012_val_00000002.npy"), KILN_F32, 3, (int64_t[]){1, 2, 2}, xs + 4, &e));
    FILE *f = fopen(tmp("val_map.txt"), "w");
    fprintf(f, "ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 970\n");
    fclose(f);
    snprintf(spec, sizeof spec, "imagenet:%s:%s", tmpdir, tmp("val_map.txt"));
    CHECK_OK(kiln_dataset_open(spec, &d, &e));
    if (d) {
        float s[4];
        CHECK(kiln_dataset_count(d) == 2 && kiln_dataset_label(d, 1) == 970, "val_map labels");
        CHECK_OK(kiln_dataset_load(d, 1, s, &e));
        CHECK(s[0] == 4 && s[3] == 7, "imagenet sample read from its .npy");
        kiln_dataset_close(d);
    }
    f = fopen(tmp("bad_map.txt"), "w");
    fprintf(f, "ILSVRC2012_val_00000001.JPEG 65\nnonsense\n");
    fclose(f);
    snprintf(spec, sizeof spec, "imagenet:%s:%s", tmpdir, tmp("bad_map.txt"));
    CHECK(kiln_dataset_open(spec, &d, &e) == KILN_ERR_PARSE && strstr(e.msg, ":2:"),
          "bad val_map line is named: %s", e.msg);
}

int main(void) {
    if (!mkdtemp(tmpdir)) return 1;
    test_npy_roundtrip();
    test_npy_bad();
    test_datasets();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_done();
}
