#include "core/shape.h"

kiln_infer_fn kiln_infer_tensor_lookup(kiln_op op) {
    (void)op;
    return NULL;
}
