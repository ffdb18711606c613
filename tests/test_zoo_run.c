/* Zoo models run end to end on the CPU reference kernels, node by node through the shape driver
 * (kiln_infer) and kiln_cpu_run_node, at a small input (64x64; AlexNet at its 224, which its
 * classifier needs). The random weights must give finite, well-scaled logits that depend on the
 * input: |logit| < 1e3, a spread above 1e-3, different images giving different logits, and each
 * image of a batch of 2 giving what it gives alone. Activations are poisoned with NaN first, so a
 * kernel that leaves outputs unwritten fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "test.h"
#include "zoo/zoo.h"

typedef struct {
    const char *name;
    int64_t side;
    int heavy; /* left out of sanitizer builds, whose -O0 kernels are ~20x slower */
} run_case;

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* Every architecture family; ResNet-152 for depth. VGG-16 (15 GMACs at the 224 its classifier
   needs) is left to test_zoo_torch, which checks its wiring against torchvision. */
static const run_case cases[] = {
    {"resnet18", 64, 0},  {"resnet50", 64, 0},    {"resnet152", 64, 1}, {"mobilenet_v2", 64, 0},
    {"googlenet", 64, 0}, {"densenet121", 64, 0}, {"alexnet", 224, 1}};

/* Run g on x (n x 3 x side x side); logits (n x 1000) into out. KILN_ERR_UNSUPPORTED when a
   shape rule or kernel is missing. */
static kiln_status run(const kiln_graph *g, kiln_cpu *cpu, const float *x, int64_t n,
                       int64_t side, float *out, kiln_err *e) {
    kiln_shape in = kiln_shape_make(4, (int64_t[]){n, 3, side, side});
    kiln_shapes s;
    KILN_TRY(kiln_infer(g, &in, &s, e));
    void **buf = calloc((size_t)g->n_t, sizeof(void *));
    kiln_status st = buf ? KILN_OK : KILN_ERR_NOMEM;
    for (int i = 0; i < g->n_t && st == KILN_OK; i++) {
        const kiln_tensor *t = &g->t[i];
        if (t->kind == KILN_TENSOR_CONST) buf[i] = t->data;
        else if (t->kind == KILN_TENSOR_INPUT) buf[i] = (void *)x;
        else if (s.s[i].ndim >= 0) {
            int64_t cnt = kiln_shape_numel(&s.s[i]);
            float *p = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
            if (!p) st = KILN_ERR_NOMEM;
            for (int64_t k = 0; p && k < cnt; k++) p[k] = NAN;
            buf[i] = p;
        }
    }
    enum { MAXIO = 128 };
    kiln_view iv[MAXIO], ov[4];
    for (int k = 0; k < g->n_n && st == KILN_OK; k++) {
        const kiln_node *nd = &g->n[k];
        if (nd->n_in > MAXIO || nd->n_out > 4) {
            st = kiln_err_set(e, KILN_ERR_UNSUPPORTED, "node %s: too many inputs", nd->name);
            break;
        }
        for (int j = 0; j < nd->n_in; j++) {
            int id = nd->in[j];
            if (id < 0) iv[j] = (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL};
            else iv[j] = (kiln_view){s.dt[id], s.s[id], s.val[id] ? s.val[id] : buf[id]};
        }
        for (int j = 0; j < nd->n_out; j++) {
            int id = nd->out[j];
            ov[j] = (kiln_view){s.dt[id], s.s[id], buf[id]};
        }
        st = kiln_cpu_run_node(cpu, nd, iv, ov, e);
    }
    if (st == KILN_OK) {
        int o = g->outputs[0];
        CHECK(s.s[o].ndim == 2 && s.s[o].d[0] == n && s.s[o].d[1] == 1000, "%s: logits shape",
              g->name);
        memcpy(out, buf[o], sizeof(float) * (size_t)(n * 1000));
    }
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].kind == KILN_TENSOR_ACT) free(buf[i]);
    free(buf);
    kiln_shapes_free(&s);
    return st;
}

static int test_case(const run_case *c, kiln_cpu *cpu, kiln_rng *r) {
    kiln_graph *g = NULL;
    kiln_err e;
    CHECK_OK(kiln_zoo_build(c->name, 0, &g, &e));
    if (!g) return 0;
    int64_t img = 3 * c->side * c->side;
    float *x = malloc(sizeof(float) * (size_t)(2 * img));
    float *y2 = malloc(sizeof(float) * 2000), *y1 = malloc(sizeof(float) * 2000);
    /* Two different images, N(0, 1) like normalized pixels. */
    for (int64_t i = 0; i < 2 * img; i++) x[i] = (float)kiln_rng_normal(r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kiln_status st = run(g, cpu, x, 2, c->side, y2, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st == KILN_ERR_UNSUPPORTED) {
        printf("%s: %s\n", c->name, e.msg);
        free(x), free(y1), free(y2);
        kiln_graph_destroy(g);
        return -1;
    }
    CHECK(st == KILN_OK, "%s: run: %s", c->name, e.msg);
    if (st == KILN_OK) {
        double s1 = 0, s2 = 0, amax = 0, diff = 0;
        int finite = 1;
        for (int i = 0; i < 2000; i++) {
            if (!isfinite(y2[i])) finite = 0;
            s1 += y2[i];
            s2 += (double)y2[i] * y2[i];
            if (fabs(y2[i]) > amax) amax = fabs(y2[i]);
        }
        for (int i = 0; i < 1000; i++) diff += fabs((double)y2[i] - y2[1000 + i]);
        double sd = sqrt(s2 / 2000 - (s1 / 2000) * (s1 / 2000));
        diff /= 1000;
        printf("%-13s %lldx%lld batch 2: %.0f ms, logits std %.3g, max |%.3g|, mean |y0 - y1| "
               "%.3g\n",
               c->name, (long long)c->side, (long long)c->side,
               (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, sd, amax, diff);
        CHECK(finite, "%s: non-finite logits", c->name);
        CHECK(amax < 1e3, "%s: logits too large (%g)", c->name, amax);
        CHECK(sd > 1e-3, "%s: logits degenerate (std %g)", c->name, sd);
        CHECK(diff > 1e-4, "%s: logits do not depend on the input (%g)", c->name, diff);
        /* The second image alone gives the batch's second row. */
        st = run(g, cpu, x + img, 1, c->side, y1, &e);
        CHECK(st == KILN_OK, "%s: batch-1 run: %s", c->name, e.msg);
        if (st == KILN_OK) {
            double rel = test_rel_l2(y1, y2 + 1000, 1000);
            CHECK(rel < 1e-4, "%s: batch row differs from a batch-1 run (rel L2 %g)", c->name,
                  rel);
        }
    }
    free(x);
    free(y1);
    free(y2);
    kiln_graph_destroy(g);
    return 1;
}

int main(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    kiln_cpu *cpu = kiln_cpu_create(1);
    CHECK(cpu != NULL, "cpu context");
    int ran = 0, missing = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case c = cases[i];
        if (SANITIZED && c.heavy) continue;
        if (SANITIZED) c.side /= 2; /* 32x32 still reaches every layer (ResNet's last is 1x1) */
        int k = test_case(&c, cpu, &r);
        ran += k > 0;
        missing += k < 0;
    }
    kiln_cpu_destroy(cpu);
    if (!ran && missing && !test_failed)
        return test_skip("the CPU backend lacks a shape rule or kernel the zoo models need");
    CHECK(missing == 0, "%d models could not run (missing shape rule or kernel)", missing);
    return test_done();
}
