#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "test.h"

int test_passed, test_failed;

int test_done(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

int test_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    return 77;
}

uint64_t test_seed(void) {
    static uint64_t seed;
    static int have;
    if (!have) {
        const char *s = getenv("KILN_TEST_SEED");
        if (s) seed = strtoull(s, NULL, 0);
        else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
        }
        have = 1;
        printf("seed: KILN_TEST_SEED=%llu\n", (unsigned long long)seed);
    }
    return seed;
}

double test_rel_l2(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

void test_fill_uniform(kiln_rng *r, float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)kiln_rng_uniform(r);
}

static const char *env_path(const char *var, const char *fallback, const char *rel, char *buf,
                            size_t n) {
    const char *d = getenv(var);
    snprintf(buf, n, "%s/%s", d ? d : fallback, rel);
    return buf;
}

const char *test_src_path(const char *rel, char *buf, size_t n) {
    return env_path("KILN_SOURCE_DIR", "..", rel, buf, n);
}

const char *test_build_path(const char *rel, char *buf, size_t n) {
    return env_path("KILN_BUILD_DIR", ".", rel, buf, n);
}

int test_run(const char *cmd, char *out, size_t n) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *f = popen(full, "r");
    if (!f) return -1;
    size_t k = 0;
    if (n) out[0] = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (k + 1 < n) out[k++] = (char)c;
    if (n) out[k] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
