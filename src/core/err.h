/* err.h — a status plus a one-line message, kept on the object that failed. */
#ifndef KILN_CORE_ERR_H
#define KILN_CORE_ERR_H

#include "kiln.h"

#define KILN_ERRMSG_MAX 512

typedef struct kiln_err {
    kiln_status status;
    char msg[KILN_ERRMSG_MAX];
} kiln_err;

/* Record status s with a printf-style message and return s, so callers can write
   `return kiln_err_set(e, KILN_ERR_PARSE, "...")`. A later call overwrites an earlier one.
   e may be NULL (the message is dropped). */
kiln_status kiln_err_set(kiln_err *e, kiln_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put "prefix: " in front of the message already recorded (adds context on the way up). */
void kiln_err_prefix(kiln_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_err_clear(kiln_err *e);

/* Propagate a non-OK status. */
#define KILN_TRY(expr)                                                                           \
    do {                                                                                         \
        kiln_status kiln__s = (expr);                                                            \
        if (kiln__s != KILN_OK) return kiln__s;                                                  \
    } while (0)

#endif
