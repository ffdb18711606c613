#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

kiln_status kiln_err_set(kiln_err *e, kiln_status s, const char *fmt, ...) {
    if (!e) return s;
    e->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return s;
}

void kiln_err_prefix(kiln_err *e, const char *fmt, ...) {
    if (!e) return;
    char pre[KILN_ERRMSG_MAX], old[KILN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t k = strlen(pre);
    if (k > sizeof e->msg - 3) k = sizeof e->msg - 3;
    memcpy(e->msg, pre, k);
    e->msg[k] = ':';
    e->msg[k + 1] = ' ';
    size_t room = sizeof e->msg - k - 2;
    size_t ol = strnlen(old, room - 1);
    memcpy(e->msg + k + 2, old, ol);
    e->msg[k + 2 + ol] = 0;
}

void kiln_err_clear(kiln_err *e) {
    if (!e) return;
    e->status = KILN_OK;
    e->msg[0] = 0;
}

static const char *const status_names[KILN_STATUS_COUNT] = {
    [KILN_OK] = "ok",
    [KILN_ERR_INVALID_ARG] = "invalid argument",
    [KILN_ERR_IO] = "i/o error",
    [KILN_ERR_PARSE] = "malformed file",
    [KILN_ERR_UNSUPPORTED] = "unsupported",
    [KILN_ERR_SHAPE] = "shape mismatch",
    [KILN_ERR_NOMEM] = "out of memory",
    [KILN_ERR_BACKEND] = "backend failure",
    [KILN_ERR_NO_DEVICE] = "no device",
    [KILN_ERR_VERSION] = "version or device mismatch",
    [KILN_ERR_RANGE] = "out of range",
    [KILN_ERR_INTERNAL] = "internal error",
    [KILN_ERR_DTYPE] = "wrong element type",
};

const char *kiln_status_str(kiln_status s) {
    if ((int)s < 0 || s >= KILN_STATUS_COUNT || !status_names[s]) return "unknown status";
    return status_names[s];
}

const char *kiln_version(void) {
#define KILN__STR2(x) #x
#define KILN__STR(x) KILN__STR2(x)
    return KILN__STR(KILN_VERSION_MAJOR) "." KILN__STR(KILN_VERSION_MINOR) "." KILN__STR(
        KILN_VERSION_PATCH);
}
