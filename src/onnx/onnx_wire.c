/* onnx_wire.c — a walk over the protobuf wire format before protobuf-c unpacks it.
 *
 * Why: protobuf-c recurses once per nested message and has no depth limit, and ONNX nests
 * recursively (TypeProto.sequence_type.elem_type..., AttributeProto.g.node.attribute...). A few
 * hundred KiB of hostile bytes can nest deep enough to overflow the stack. The walk uses the
 * generated descriptors to know which length-delimited fields are messages, so it recurses
 * exactly where protobuf-c would, but stops at KILN_ONNX_MAX_DEPTH.
 */
#include "onnx/onnx_internal.h"

static int read_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= n) return -1;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static int walk(const uint8_t *p, size_t n, const ProtobufCMessageDescriptor *d, int depth) {
    if (depth > KILN_ONNX_MAX_DEPTH) return -2;
    size_t pos = 0;
    while (pos < n) {
        uint64_t key, v;
        if (read_varint(p, n, &pos, &key)) return -1;
        uint64_t tag = key >> 3;
        if (tag == 0 || tag > 0x1fffffff) return -1;
        switch (key & 7) {
        case 0: /* varint */
            if (read_varint(p, n, &pos, &v)) return -1;
            break;
        case 1: /* 64-bit */
            if (n - pos < 8) return -1;
            pos += 8;
            break;
        case 5: /* 32-bit */
            if (n - pos < 4) return -1;
            pos += 4;
            break;
        case 2: { /* length-delimited: bytes, string, packed repeated, or a message */
            if (read_varint(p, n, &pos, &v) || v > n - pos) return -1;
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field(d, (unsigned)tag) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = walk(p + pos, (size_t)v, f->descriptor, depth + 1);
                if (r) return r;
            }
            pos += (size_t)v;
            break;
        }
        default: return -1; /* groups (3, 4) are not used by ONNX; 6, 7 do not exist */
        }
    }
    return 0;
}

int kiln__onnx_wire_check(const uint8_t *p, size_t n) {
    return walk(p, n, &onnx__model_proto__descriptor, 0);
}
