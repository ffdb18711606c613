/* npy.h — NumPy .npy files (format versions 1.0-3.0), little-endian, C order, for float32,
 * float16, float64, int8, uint8, int32, int64 and bool. Errors are one line naming the file and
 * the problem (a truncated file, a Fortran-order array, an unsupported dtype, ...). */
#ifndef KILN_IO_NPY_H
#define KILN_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "kiln.h"

typedef struct kiln_npy {
    kiln_dtype dtype;
    int ndim;
    int64_t dims[KILN_MAX_DIMS];
    void *data;   /* malloc'd, row-major */
    size_t nbytes;
} kiln_npy;

kiln_status kiln_npy_read(const char *path, kiln_npy *out, kiln_err *e);
/* Parse a whole .npy file held in memory (what kiln_npy_read does after reading). */
kiln_status kiln_npy_parse(const void *buf, size_t size, const char *what, kiln_npy *out,
                           kiln_err *e);
kiln_status kiln_npy_write(const char *path, kiln_dtype dtype, int ndim, const int64_t *dims,
                           const void *data, kiln_err *e);
void kiln_npy_free(kiln_npy *a);

#endif
