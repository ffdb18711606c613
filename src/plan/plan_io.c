/* Little-endian writing and bounds-checked reading for plan files. */
#include "plan/plan_io.h"

#include <stdlib.h>
#include <string.h>

void kiln__pb_free(kiln__pbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void kiln__pb_bytes(kiln__pbuf *b, const void *d, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n) nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    if (d) memcpy(b->p + b->n, d, n);
    else memset(b->p + b->n, 0, n);
    b->n += n;
}

static void put_le(kiln__pbuf *b, uint64_t v, int n) {
    unsigned char t[8];
    for (int i = 0; i < n; i++) t[i] = (unsigned char)(v >> (8 * i));
    kiln__pb_bytes(b, t, (size_t)n);
}

void kiln__pb_u8(kiln__pbuf *b, uint8_t v) { put_le(b, v, 1); }
void kiln__pb_u16(kiln__pbuf *b, uint16_t v) { put_le(b, v, 2); }
void kiln__pb_u32(kiln__pbuf *b, uint32_t v) { put_le(b, v, 4); }
void kiln__pb_u64(kiln__pbuf *b, uint64_t v) { put_le(b, v, 8); }
void kiln__pb_i32(kiln__pbuf *b, int32_t v) { put_le(b, (uint32_t)v, 4); }
void kiln__pb_i64(kiln__pbuf *b, int64_t v) { put_le(b, (uint64_t)v, 8); }

void kiln__pb_f32(kiln__pbuf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_le(b, u, 4);
}

void kiln__pb_f64(kiln__pbuf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_le(b, u, 8);
}

void kiln__pb_str(kiln__pbuf *b, const char *s) {
    if (!s) {
        kiln__pb_u32(b, 0xFFFFFFFFu);
        return;
    }
    size_t n = strlen(s);
    kiln__pb_u32(b, (uint32_t)n);
    kiln__pb_bytes(b, s, n);
}

void kiln__pb_align(kiln__pbuf *b, size_t a) {
    size_t pad = (a - b->n % a) % a;
    kiln__pb_bytes(b, NULL, pad);
}

uint32_t kiln__le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t kiln__le64(const unsigned char *p) {
    return (uint64_t)kiln__le32(p) | (uint64_t)kiln__le32(p + 4) << 32;
}

const void *kiln__pr_bytes(kiln__prd *r, size_t n) {
    if (r->bad || n > r->n - r->at) {
        r->bad = 1;
        return NULL;
    }
    const void *p = r->p + r->at;
    r->at += n;
    return p;
}

static uint64_t get_le(kiln__prd *r, int n) {
    const unsigned char *p = kiln__pr_bytes(r, (size_t)n);
    uint64_t v = 0;
    if (!p) return 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t kiln__pr_u8(kiln__prd *r) { return (uint8_t)get_le(r, 1); }
uint16_t kiln__pr_u16(kiln__prd *r) { return (uint16_t)get_le(r, 2); }
uint32_t kiln__pr_u32(kiln__prd *r) { return (uint32_t)get_le(r, 4); }
uint64_t kiln__pr_u64(kiln__prd *r) { return get_le(r, 8); }
int32_t kiln__pr_i32(kiln__prd *r) { return (int32_t)(uint32_t)get_le(r, 4); }
int64_t kiln__pr_i64(kiln__prd *r) { return (int64_t)get_le(r, 8); }

float kiln__pr_f32(kiln__prd *r) {
    uint32_t u = (uint32_t)get_le(r, 4);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

double kiln__pr_f64(kiln__prd *r) {
    uint64_t u = get_le(r, 8);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

char *kiln__pr_str(kiln__prd *r, int *ok) {
    uint32_t n = kiln__pr_u32(r);
    if (r->bad) {
        *ok = 0;
        return NULL;
    }
    if (n == 0xFFFFFFFFu) return NULL;
    const char *p = kiln__pr_bytes(r, n);
    if (!p) {
        *ok = 0;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        *ok = 0;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}
