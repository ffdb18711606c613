/* plan_io.h — little-endian byte buffers for the plan writer and a bounds-checked reader for the
 * loader (internal to src/plan/). The reader never reads past its end: an overrun sets `bad`
 * and returns zeros, and the caller reports the section as corrupted. */
#ifndef KILN_PLAN_IO_H
#define KILN_PLAN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"

typedef struct kiln__pbuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} kiln__pbuf;

void kiln__pb_free(kiln__pbuf *b);
void kiln__pb_bytes(kiln__pbuf *b, const void *d, size_t n);
void kiln__pb_u8(kiln__pbuf *b, uint8_t v);
void kiln__pb_u16(kiln__pbuf *b, uint16_t v);
void kiln__pb_u32(kiln__pbuf *b, uint32_t v);
void kiln__pb_u64(kiln__pbuf *b, uint64_t v);
void kiln__pb_i32(kiln__pbuf *b, int32_t v);
void kiln__pb_i64(kiln__pbuf *b, int64_t v);
void kiln__pb_f32(kiln__pbuf *b, float v);
void kiln__pb_f64(kiln__pbuf *b, double v);
/* u32 length then the bytes; NULL is written as length 0xFFFFFFFF. */
void kiln__pb_str(kiln__pbuf *b, const char *s);
/* Zero bytes up to a multiple of `a`. */
void kiln__pb_align(kiln__pbuf *b, size_t a);

typedef struct kiln__prd {
    const unsigned char *p;
    size_t n, at;
    int bad;
} kiln__prd;

const void *kiln__pr_bytes(kiln__prd *r, size_t n);
uint8_t kiln__pr_u8(kiln__prd *r);
uint16_t kiln__pr_u16(kiln__prd *r);
uint32_t kiln__pr_u32(kiln__prd *r);
uint64_t kiln__pr_u64(kiln__prd *r);
int32_t kiln__pr_i32(kiln__prd *r);
int64_t kiln__pr_i64(kiln__prd *r);
float kiln__pr_f32(kiln__prd *r);
double kiln__pr_f64(kiln__prd *r);
/* A malloc'ed copy (NULL for the NULL marker; *ok = 0 on overrun or out of memory). */
char *kiln__pr_str(kiln__prd *r, int *ok);

/* Little-endian loads from raw bytes (the header). */
uint32_t kiln__le32(const unsigned char *p);
uint64_t kiln__le64(const unsigned char *p);

/* Attributes: the struct a node's op uses (its "attribute kind", written to the file), and its
   fields written / read one by one in the documented order (docs/plan-format.md). */
int kiln__plan_attr_kind(int op);
void kiln__plan_attr_write(kiln__pbuf *b, int op, const kiln_attr *a);
/* Reads what kiln__plan_attr_write wrote for op into a (zeroed first); 0 when the bytes do not
   match op's layout. */
int kiln__plan_attr_read(kiln__prd *r, int op, uint32_t kind, uint32_t nbytes, kiln_attr *a);

#endif
