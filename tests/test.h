/* test.h — the tiny harness every C test uses.
 *
 *   int main(void) {
 *       CHECK(1 + 1 == 2, "arithmetic");
 *       CHECK_CLOSE(x, 1.0, 1e-6);
 *       return test_done();          // prints "N passed, N failed", returns 0 only if none failed
 *   }
 *
 * test_skip("no CUDA device") prints the reason and returns 77 (CTest shows it as skipped).
 * Random data: test_seed() gives a fresh seed per run (printed, and fixed by KILN_TEST_SEED), so
 * a failure can be replayed.
 */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <stdint.h>
#include <stdio.h>

#include "core/rng.h"
#include "kiln.h"

extern int test_passed, test_failed;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) test_passed++;                                                                 \
        else {                                                                                   \
            test_failed++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fprintf(stderr, "\n");                                                               \
        }                                                                                        \
    } while (0)

#define CHECK_OK(expr)                                                                           \
    do {                                                                                         \
        kiln_status s__ = (expr);                                                                \
        CHECK(s__ == KILN_OK, "%s -> %s", #expr, kiln_status_str(s__));                          \
    } while (0)

#define CHECK_CLOSE(a, b, tol)                                                                   \
    do {                                                                                         \
        double a__ = (a), b__ = (b);                                                             \
        CHECK(fabs(a__ - b__) <= (tol), "%s = %g, expected %g (tol %g)", #a, a__, b__,          \
              (double)(tol));                                                                    \
    } while (0)

int test_done(void);
int test_skip(const char *why);
/* A fresh seed each run, or KILN_TEST_SEED; printed once. */
uint64_t test_seed(void);
/* Relative L2 error ||a - b|| / ||b|| in double; +inf if any NaN/Inf appears in a. */
double test_rel_l2(const float *a, const float *b, int64_t n);
/* Fill with uniform values in [lo, hi). */
void test_fill_uniform(kiln_rng *r, float *x, int64_t n, float lo, float hi);
/* A file under the source tree / build tree (from the KILN_SOURCE_DIR/KILN_BUILD_DIR that CTest
   sets); returns buf. */
const char *test_src_path(const char *rel, char *buf, size_t n);
const char *test_build_path(const char *rel, char *buf, size_t n);
/* Run a shell command, capture up to n-1 bytes of its stdout+stderr into out; return exit code. */
int test_run(const char *cmd, char *out, size_t n);

#endif
