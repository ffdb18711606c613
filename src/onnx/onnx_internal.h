/* onnx_internal.h — what the importer's files share. Protobuf types appear only here and in
 * the .c files of src/onnx/; nothing outside src/onnx/ includes this header.
 *
 * Import runs in four steps (onnx_import.c drives them):
 *   1. wire check (onnx_wire.c): bound nesting depth before protobuf-c recurses into the bytes;
 *   2. unpack with a counting allocator (so a small hostile file cannot make us allocate GiBs);
 *   3. model checks (ir_version, default-domain opset), then the graph (onnx_graph.c):
 *      initializers (onnx_tensor.c, onnx_extdata.c), inputs, nodes (onnx_node.c, onnx_const.c,
 *      attributes in onnx_attrs*.c), outputs;
 *   4. toposort + validate.
 */
#ifndef KILN_ONNX_INTERNAL_H
#define KILN_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/graph.h"
#include "onnx/onnx.pb-c.h"

/* Supported default-domain opsets and IR versions (IR 3 introduced opset_import). */
#define KILN_ONNX_OPSET_MIN 7
#define KILN_ONNX_OPSET_MAX 21
#define KILN_ONNX_IR_MIN 3
#define KILN_ONNX_IR_MAX 11
/* Nesting limit for protobuf messages (real models nest < 10 deep). */
#define KILN_ONNX_MAX_DEPTH 64

/* ---- string -> int map (tensor names -> ids, names -> use counts) ----------------------- */

typedef struct kiln__onnx_map {
    const char **key; /* borrowed: the strings must outlive the map */
    int *val;
    size_t cap, n;    /* cap is 0 or a power of two */
} kiln__onnx_map;

/* Value of key, or -1. */
int kiln__onnx_map_get(const kiln__onnx_map *m, const char *key);
/* Insert or overwrite; -1 when out of memory. */
int kiln__onnx_map_put(kiln__onnx_map *m, const char *key, int val);
void kiln__onnx_map_free(kiln__onnx_map *m);

/* ---- the import context -------------------------------------------------------------------- */

typedef struct kiln__onnx_ctx {
    kiln_graph *g;
    kiln_err *e;
    const char *base_dir;     /* for external data; "." when none was given */
    int opset;                /* default-domain opset */
    kiln__onnx_map names;     /* tensor name -> id (only named tensors) */
    kiln__onnx_map uses;      /* tensor name -> number of readers (node inputs + graph outputs) */
    unsigned char *produced;  /* per tensor id: a node or constant has defined it */
    int cap_produced;
} kiln__onnx_ctx;

/* Id of the named tensor, creating a not-yet-produced activation when unknown (nodes may refer
   to tensors defined later: ONNX requires topological order, kiln is lenient). -1: no memory. */
int kiln__onnx_tensor_ref(kiln__onnx_ctx *c, const char *name);
/* Mark id produced (growing the flags array); -1 when out of memory. */
int kiln__onnx_set_produced(kiln__onnx_ctx *c, int id);
int kiln__onnx_is_produced(const kiln__onnx_ctx *c, int id);
/* Define a constant under name: a fresh tensor, or the placeholder earlier nodes referred to.
   data is taken over in every case (freed on failure). Fails when the name is already defined. */
kiln_status kiln__onnx_define_const(kiln__onnx_ctx *c, const char *name, kiln_dtype dt,
                                    const kiln_shape *shape, void *data, const char *what);

/* ---- tensors -------------------------------------------------------------------------------- */

/* ONNX TensorProto.DataType -> kiln dtype (same numbering); UNDEFINED when kiln lacks it. */
kiln_dtype kiln__onnx_dtype(int64_t onnx_type);
/* Name of an ONNX data type for messages ("string", "complex64", "float32", ...). */
const char *kiln__onnx_dtype_name(int64_t onnx_type);
/* Product of dims with sign and overflow checks; errors name what. */
kiln_status kiln__onnx_numel(kiln__onnx_ctx *c, const int64_t *dims, int ndim, const char *what,
                             int64_t *numel);

/* Decode a TensorProto into a malloc'd row-major buffer (never NULL on success, even for zero
   elements). Buffers protobuf-c already allocated in the right layout (raw_data, float_data,
   int64_data, ...) are taken over instead of copied. what ("initializer 'w'") prefixes errors. */
kiln_status kiln__onnx_tensor_decode(kiln__onnx_ctx *c, Onnx__TensorProto *tp, const char *what,
                                     kiln_dtype *dt, kiln_shape *shape, void **data);
/* Read a tensor's external data (location/offset/length under base_dir) into a malloc'd buffer
   of exactly nbytes. */
kiln_status kiln__onnx_extdata_read(kiln__onnx_ctx *c, const Onnx__TensorProto *tp,
                                    size_t nbytes, const char *what, void **data);

/* ---- wire check ----------------------------------------------------------------------------- */

/* 0 when the bytes are well-formed protobuf wire data for ModelProto nested at most
   KILN_ONNX_MAX_DEPTH deep; -1 malformed; -2 too deep. */
int kiln__onnx_wire_check(const uint8_t *p, size_t n);

/* ---- nodes ---------------------------------------------------------------------------------- */

/* What attribute parsers see of the node being imported. */
typedef struct kiln__onnx_node {
    kiln__onnx_ctx *c;
    const Onnx__NodeProto *np;
    const char *name;     /* node name for messages and the IR ("Conv_3" when unnamed) */
    const char *op_type;
    kiln_op op;
    int opset;
    int n_in;
    const int *in;        /* tensor ids, -1 absent */
} kiln__onnx_node;

/* Import one node (including Constant). index numbers unnamed nodes. */
kiln_status kiln__onnx_node_import(kiln__onnx_ctx *c, const Onnx__NodeProto *np, int index);
/* A Constant node becomes a constant tensor. */
kiln_status kiln__onnx_const_node(kiln__onnx_ctx *c, const Onnx__NodeProto *np, const char *name);

/* Error about a node: "node 'NAME' (op OP, opset N): " + message. Returns s. */
kiln_status kiln__onnx_node_err(const kiln__onnx_node *nd, kiln_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- attributes (onnx_attrs.c: access; onnx_attrs_nn.c / onnx_attrs_tensor.c: per op) ----- */

/* The attribute's type (from `type`, or from the field that is set when `type` is missing). */
int kiln__onnx_attr_type(const Onnx__AttributeProto *at);
const Onnx__AttributeProto *kiln__onnx_attr_find(const kiln__onnx_node *nd, const char *name);
/* Each getter leaves *out untouched and sets *present = 0 when the attribute is absent
   (present may be NULL); a wrong type is an error naming the attribute. */
kiln_status kiln__onnx_attr_int(const kiln__onnx_node *nd, const char *name, int64_t *out,
                                int *present);
kiln_status kiln__onnx_attr_float(const kiln__onnx_node *nd, const char *name, float *out,
                                  int *present);
/* Lists: *n = -1 when absent; more than max values is an error. */
kiln_status kiln__onnx_attr_ints(const kiln__onnx_node *nd, const char *name, int64_t *out,
                                 int max, int *n);
kiln_status kiln__onnx_attr_floats(const kiln__onnx_node *nd, const char *name, float *out,
                                   int max, int *n);
/* Strings are bytes; *out is a NUL-terminated copy in buf (too long: error). */
kiln_status kiln__onnx_attr_string(const kiln__onnx_node *nd, const char *name, char *buf,
                                   size_t cap, int *present);
/* Map a string attribute through a table (NULL-terminated names; values by position). */
kiln_status kiln__onnx_attr_enum(const kiln__onnx_node *nd, const char *name,
                                 const char *const *names, const int *values, int *out);

/* The constant tensor feeding input i, or NULL (absent, not constant). */
const kiln_tensor *kiln__onnx_input_const(const kiln__onnx_node *nd, int i);
/* The tensor feeding input i (any kind), or NULL when absent. */
const kiln_tensor *kiln__onnx_input_tensor(const kiln__onnx_node *nd, int i);

/* Fill a (already holding kiln_attr_default for op/opset) from the node's attributes. */
kiln_status kiln__onnx_attrs(const kiln__onnx_node *nd, kiln_attr *a);
/* Per family; each returns KILN_OK for ops it does not handle. */
kiln_status kiln__onnx_attrs_nn(const kiln__onnx_node *nd, kiln_attr *a);
kiln_status kiln__onnx_attrs_tensor(const kiln__onnx_node *nd, kiln_attr *a);
kiln_status kiln__onnx_attrs_resize(const kiln__onnx_node *nd, kiln_attr *a);

#endif
