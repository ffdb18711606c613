/* onnx_tensor.c — TensorProto -> row-major constant data.
 *
 * ONNX stores values in one of: raw_data (little-endian bytes), a typed repeated field chosen by
 * the data type (float_data; int32_data for every type of 32 bits or less, float16/bfloat16 as
 * their bit patterns; int64_data; double_data; uint64_data for uint32/uint64), or an external
 * file. Where protobuf-c already holds the values in kiln's layout the buffer is taken over, so
 * a weight is copied once (wire -> protobuf-c), never twice.
 */
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "onnx/onnx_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian: kiln's ONNX importer assumes a little-endian host"
#endif

kiln_dtype kiln__onnx_dtype(int64_t t) {
    switch (t) {
    case KILN_F32: case KILN_U8: case KILN_I8: case KILN_U16: case KILN_I16: case KILN_I32:
    case KILN_I64: case KILN_BOOL: case KILN_F16: case KILN_F64: case KILN_U32: case KILN_U64:
    case KILN_BF16: case KILN_F8E4M3: /* ONNX FLOAT8E4M3FN */
        return (kiln_dtype)t;
    default: return KILN_DTYPE_UNDEFINED;
    }
}

const char *kiln__onnx_dtype_name(int64_t t) {
    static const char *const other[] = {
        [0] = "undefined",       [8] = "string",        [14] = "complex64",
        [15] = "complex128",     [18] = "float8e4m3fnuz", [19] = "float8e5m2",
        [20] = "float8e5m2fnuz", [21] = "uint4",         [22] = "int4",
        [23] = "float4e2m1",
    };
    if (kiln__onnx_dtype(t) != KILN_DTYPE_UNDEFINED) return kiln_dtype_name((kiln_dtype)t);
    if (t >= 0 && t < (int64_t)(sizeof other / sizeof other[0]) && other[t]) return other[t];
    return "unknown";
}

kiln_status kiln__onnx_numel(kiln__onnx_ctx *c, const int64_t *dims, int ndim, const char *what,
                             int64_t *numel) {
    int64_t n = 1;
    double all = 1; /* with zero dimensions skipped: [0, 2^62, 2^62] is absurd too */
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: dimension %d is negative (%lld)", what,
                                i, (long long)dims[i]);
        all *= dims[i] ? (double)dims[i] : 1.0;
        if (all > 0x1p62)
            return kiln_err_set(c->e, KILN_ERR_PARSE,
                                "%s: absurd size (dimensions multiply past 2^62)", what);
        n *= dims[i];
    }
    *numel = n;
    return KILN_OK;
}

/* Take over a protobuf-c array (freeing it becomes ours); empty ones become a 1-byte block so
   constants always have data. */
static void *take_ptr(void *p) { return p ? p : malloc(1); }

static kiln_status count_err(kiln__onnx_ctx *c, const char *what, const char *field, size_t have,
                             int64_t want) {
    return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: %zu values in %s, expected %lld", what, have,
                        field, (long long)want);
}

/* Values from the typed fields. */
static kiln_status decode_typed(kiln__onnx_ctx *c, Onnx__TensorProto *tp, kiln_dtype dt,
                                int64_t n, const char *what, void **data) {
    size_t un = (size_t)n;
    switch (dt) {
    case KILN_F32:
        if (tp->n_float_data != un) return count_err(c, what, "float_data", tp->n_float_data, n);
        *data = take_ptr(tp->float_data);
        tp->float_data = NULL;
        tp->n_float_data = 0;
        return KILN_OK;
    case KILN_F64:
        if (tp->n_double_data != un)
            return count_err(c, what, "double_data", tp->n_double_data, n);
        *data = take_ptr(tp->double_data);
        tp->double_data = NULL;
        tp->n_double_data = 0;
        return KILN_OK;
    case KILN_I64:
        if (tp->n_int64_data != un) return count_err(c, what, "int64_data", tp->n_int64_data, n);
        *data = take_ptr(tp->int64_data);
        tp->int64_data = NULL;
        tp->n_int64_data = 0;
        return KILN_OK;
    case KILN_U64:
        if (tp->n_uint64_data != un)
            return count_err(c, what, "uint64_data", tp->n_uint64_data, n);
        *data = take_ptr(tp->uint64_data);
        tp->uint64_data = NULL;
        tp->n_uint64_data = 0;
        return KILN_OK;
    case KILN_U32: {
        if (tp->n_uint64_data != un)
            return count_err(c, what, "uint64_data", tp->n_uint64_data, n);
        uint32_t *o = malloc(un ? un * 4 : 1);
        if (!o) return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
        for (size_t i = 0; i < un; i++) o[i] = (uint32_t)tp->uint64_data[i];
        *data = o;
        return KILN_OK;
    }
    default: break;
    }
    /* Everything of 32 bits or less lives in int32_data, one element per entry. */
    if (tp->n_int32_data != un) return count_err(c, what, "int32_data", tp->n_int32_data, n);
    size_t es = kiln_dtype_size(dt);
    unsigned char *o = malloc(un ? un * es : 1);
    if (!o) return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < un; i++) {
        int32_t v = tp->int32_data[i];
        if (dt == KILN_BOOL) o[i] = v != 0;
        else if (es == 1) o[i] = (unsigned char)(uint32_t)v;
        else if (es == 2) {
            uint16_t h = (uint16_t)(uint32_t)v; /* int16/uint16 values, f16/bf16 bits */
            memcpy(o + 2 * i, &h, 2);
        } else memcpy(o + 4 * i, &v, 4);
    }
    *data = o;
    return KILN_OK;
}

kiln_status kiln__onnx_tensor_decode(kiln__onnx_ctx *c, Onnx__TensorProto *tp, const char *what,
                                     kiln_dtype *dt, kiln_shape *shape, void **data) {
    *data = NULL;
    if (!tp->has_data_type || tp->data_type == 0)
        return kiln_err_set(c->e, KILN_ERR_PARSE, "%s has no data type", what);
    *dt = kiln__onnx_dtype(tp->data_type);
    if (*dt == KILN_DTYPE_UNDEFINED)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED, "%s has data type %s (%d), not supported",
                            what, kiln__onnx_dtype_name(tp->data_type), (int)tp->data_type);
    if (tp->n_dims > KILN_MAX_DIMS)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED, "%s has rank %zu (kiln supports %d)", what,
                            tp->n_dims, KILN_MAX_DIMS);
    if (tp->segment)
        return kiln_err_set(c->e, KILN_ERR_UNSUPPORTED, "%s is segmented (not supported)", what);
    memset(shape, 0, sizeof *shape);
    shape->ndim = (int)tp->n_dims;
    for (int i = 0; i < shape->ndim; i++) shape->d[i] = tp->dims[i];
    int64_t n = 0;
    KILN_TRY(kiln__onnx_numel(c, shape->d, shape->ndim, what, &n));
    size_t es = kiln_dtype_size(*dt);
    if ((uint64_t)n > (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) / es)
        return kiln_err_set(c->e, KILN_ERR_PARSE, "%s: absurd size (%lld elements)", what,
                            (long long)n);
    size_t nbytes = (size_t)n * es;

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return kiln__onnx_extdata_read(c, tp, nbytes, what, data);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes) {
            char sbuf[128];
            return kiln_err_set(c->e, KILN_ERR_PARSE,
                                "%s: raw_data has %zu bytes, expected %zu (%s %s)", what,
                                tp->raw_data.len, nbytes, kiln_shape_str(shape, sbuf, sizeof sbuf),
                                kiln_dtype_name(*dt));
        }
        *data = take_ptr(tp->raw_data.data);
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        tp->has_raw_data = 0;
        if (!*data) return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
        return KILN_OK;
    }
    kiln_status st = decode_typed(c, tp, *dt, n, what, data);
    if (st == KILN_OK && !*data)
        return kiln_err_set(c->e, KILN_ERR_NOMEM, "%s: out of memory", what);
    return st;
}
