/* plan_format.h — constants of the engine (.plan) file format; docs/plan-format.md describes
 * every byte. Internal to src/plan/. */
#ifndef KILN_PLAN_FORMAT_H
#define KILN_PLAN_FORMAT_H

#define KILN_PLAN_MAGIC "KILNPLAN"
#define KILN_PLAN_FORMAT_VERSION 1u
#define KILN_PLAN_HEADER_BYTES 64u
#define KILN_PLAN_SECTION_ENTRY_BYTES 32u
#define KILN_PLAN_ALIGN 64u /* sections and every weight start at a multiple of this */
#define KILN_PLAN_MAX_SECTIONS 16u

/* Section ids: four ASCII characters read as a little-endian u32. */
#define KILN_PLAN_FOURCC(a, b, c, d)                                                             \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define KILN_PLAN_SEC_DEVICE KILN_PLAN_FOURCC('D', 'E', 'V', 'I')  /* backend + device signature */
#define KILN_PLAN_SEC_PROFILE KILN_PLAN_FOURCC('P', 'R', 'O', 'F') /* batch profile, options */
#define KILN_PLAN_SEC_GRAPH KILN_PLAN_FOURCC('G', 'R', 'P', 'H')   /* tensors, nodes, bindings */
#define KILN_PLAN_SEC_TACTICS KILN_PLAN_FOURCC('T', 'A', 'C', 'T') /* per-node tactic choices */
#define KILN_PLAN_SEC_WEIGHTS KILN_PLAN_FOURCC('W', 'G', 'H', 'T') /* constant data, aligned */
#define KILN_PLAN_SEC_BACKEND KILN_PLAN_FOURCC('B', 'K', 'N', 'D') /* backend-private, optional */

/* Header field offsets. */
enum {
    KILN_PLAN_H_MAGIC = 0,
    KILN_PLAN_H_FORMAT = 8,
    KILN_PLAN_H_HEADER_BYTES = 12,
    KILN_PLAN_H_KILN_VERSION = 16, /* u16 major, minor, patch, reserved */
    KILN_PLAN_H_BACKEND = 24,
    KILN_PLAN_H_PRECISION = 28,
    KILN_PLAN_H_FILE_BYTES = 32,
    KILN_PLAN_H_N_SECTIONS = 40,
    KILN_PLAN_H_TABLE_OFFSET = 44,
    KILN_PLAN_H_TABLE_CRC = 48,
    KILN_PLAN_H_HEADER_CRC = 60,
};

#endif
