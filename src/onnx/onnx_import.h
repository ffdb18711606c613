/* onnx_import.h — ONNX (protobuf) -> kiln IR. The only door from protobuf into kiln: no protobuf
 * type leaves src/onnx/.
 *
 * Supported: default-domain opsets 7..21; initializers in raw_data or typed fields; external
 * data (location/offset/length, relative to base_dir); Constant nodes (value, value_float(s),
 * value_int(s)) become constants; graph inputs that are also initializers are constants;
 * dim_param dimensions stay symbolic (-1 with the name kept). Everything kiln cannot run is an
 * error naming the op, the node and the opset, found before anything runs.
 */
#ifndef KILN_ONNX_IMPORT_H
#define KILN_ONNX_IMPORT_H

#include <stddef.h>

#include "core/graph.h"

/* Import a file; external data is looked up next to it. */
kiln_status kiln_onnx_import_file(const char *path, kiln_graph **out, kiln_err *e);
/* Import bytes; base_dir (may be NULL: current directory) for external data. */
kiln_status kiln_onnx_import_memory(const void *data, size_t size, const char *base_dir,
                                    kiln_graph **out, kiln_err *e);

#endif
