/* Core: dtype conversion, graph building/validation/toposort/compact, thread pool. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/graph.h"
#include "core/threadpool.h"
#include "test.h"

static void test_half(void) {
    kiln_rng r;
    kiln_rng_seed(&r, test_seed());
    /* Every half value round-trips exactly through float. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kiln_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (kiln_f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d half values do not round-trip", bad);
    /* Rounding to nearest: the error is at most half an ulp (relative 2^-11) in the normal range. */
    double worst = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (float)((kiln_rng_uniform(&r) * 2 - 1) * 60000.0);
        if (fabsf(x) < 6.2e-5f) continue;
        float y = kiln_f16_to_f32(kiln_f32_to_f16(x));
        double rel = fabs((double)y - x) / fabs(x);
        if (rel > worst) worst = rel;
    }
    CHECK(worst <= 1.0 / 2048 + 1e-12, "half rounding error %g", worst);
    CHECK(kiln_f32_to_f16(65520.0f) == 0x7c00, "overflow to inf");
    CHECK(kiln_f32_to_f16(1.0f) == 0x3c00, "one");
    CHECK(kiln_f16_to_f32(0x0001) == ldexpf(1, -24), "smallest subnormal");
    CHECK(kiln_f32_to_bf16(1.0f) == 0x3f80, "bf16 one");
    CHECK(kiln_bf16_to_f32(kiln_f32_to_bf16(3.140625f)) == 3.140625f, "bf16 exact");
    CHECK(isnan(kiln_bf16_to_f32(kiln_f32_to_bf16(NAN))), "bf16 nan");
}

static void test_graph(void) {
    kiln_graph *g = kiln_graph_create();
    kiln_shape s = kiln_shape_make(2, (int64_t[]){-1, 4});
    int x = kiln_graph_add_tensor(g, "x", KILN_TENSOR_INPUT, KILN_F32, &s);
    kiln_graph_mark_input(g, x);
    int a = kiln_graph_add_tensor(g, "a", KILN_TENSOR_ACT, KILN_F32, NULL);
    int b = kiln_graph_add_tensor(g, "b", KILN_TENSOR_ACT, KILN_F32, NULL);
    int dead = kiln_graph_add_tensor(g, "dead", KILN_TENSOR_ACT, KILN_F32, NULL);
    /* Out of order on purpose: b's producer first. */
    kiln_graph_add_node(g, KILN_OP_RELU, "second", 1, (int[]){a}, 1, (int[]){b});
    kiln_graph_add_node(g, KILN_OP_NEG, "first", 1, (int[]){x}, 1, (int[]){a});
    kiln_graph_add_node(g, KILN_OP_ABS, "unused", 1, (int[]){x}, 1, (int[]){dead});
    kiln_graph_mark_output(g, b);
    kiln_err e;
    CHECK(kiln_graph_validate(g, &e) != KILN_OK, "out-of-order graph must not validate");
    CHECK_OK(kiln_graph_toposort(g, &e));
    CHECK(!strcmp(g->n[0].name, "first"), "toposort puts producer first");
    CHECK_OK(kiln_graph_validate(g, &e));
    kiln_graph_compact(g);
    CHECK(g->n_n == 2, "compact drops the dead node (%d nodes)", g->n_n);
    CHECK(kiln_graph_find(g, "dead") == -1, "compact drops the dead tensor");
    CHECK_OK(kiln_graph_validate(g, &e));
    kiln_graph *c = kiln_graph_clone(g);
    CHECK(c && c->n_n == 2 && c->n_t == g->n_t, "clone");
    kiln_graph_destroy(c);

    /* A missing producer is reported by name. */
    int y = kiln_graph_add_tensor(g, "ghost", KILN_TENSOR_ACT, KILN_F32, NULL);
    int z = kiln_graph_add_tensor(g, "z", KILN_TENSOR_ACT, KILN_F32, NULL);
    kiln_graph_add_node(g, KILN_OP_ADD, "adder", 2, (int[]){b, y}, 1, (int[]){z});
    CHECK(kiln_graph_toposort(g, &e) == KILN_ERR_PARSE && strstr(e.msg, "ghost"),
          "missing producer: %s", e.msg);
    kiln_graph_destroy(g);
}

static atomic_long hits[1000];
static void count_task(void *arg, int64_t i, int thread) {
    (void)arg;
    (void)thread;
    atomic_fetch_add(&hits[i], 1);
}

static void test_pool(void) {
    kiln_pool *p = kiln_pool_create(3);
    CHECK(p && kiln_pool_size(p) == 3, "pool of 3");
    for (int round = 0; round < 50; round++) kiln_pool_for(p, 1000, count_task, NULL);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= hits[i] == 50;
    CHECK(ok, "every index ran exactly once per loop");
    kiln_pool_destroy(p);
    kiln_pool_for(NULL, 10, count_task, NULL);
    CHECK(hits[9] == 51, "serial loop");
}

int main(void) {
    test_half();
    test_graph();
    test_pool();
    CHECK(!strcmp(kiln_status_str(KILN_ERR_PARSE), "malformed file"), "status names");
    CHECK(!strcmp(kiln_dtype_name(KILN_F16), "float16"), "dtype names");
    return test_done();
}
