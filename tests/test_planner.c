/* The memory planner: on every zoo model (optimized and not, batch 1 and 4) the checker proves
 * the plan and the arena is within 10% of the lower bound; engines running in the planned arena
 * (views, in-place ops, concat slices written per item) match a naive node-by-node run with one
 * buffer per tensor; and the checker catches plans that are wrong. */
#include "backend/cpu/cpu.h"
#include "build/planner.h"
#include "opt_test.h"

/* Reference: run g node by node, every activation in its own buffer. */
static float *naive_run(const kiln_graph *g, const ot_inputs *in, int64_t *n_out) {
    kiln_shape shp[8];
    for (int i = 0; i < in->n; i++) shp[i] = kiln_shape_make(in->b[i].ndim, in->b[i].dims);
    kiln_shapes s;
    kiln_err err;
    if (kiln_infer(g, shp, &s, &err) != KILN_OK) return NULL;
    void **buf = calloc((size_t)g->n_t, sizeof(void *));
    for (int i = 0; i < in->n; i++) buf[g->inputs[i]] = in->b[i].data;
    kiln_cpu *cpu = kiln_cpu_create(2);
    int ok = 1;
    for (int k = 0; k < g->n_n && ok; k++) {
        const kiln_node *n = &g->n[k];
        kiln_view iv[64], ov[64];
        int known = 1;
        for (int j = 0; j < n->n_out; j++) known &= s.val[n->out[j]] != NULL;
        if (known) continue;
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            iv[j] = id < 0 ? (kiln_view){KILN_DTYPE_UNDEFINED, {.ndim = -1}, NULL}
                           : (kiln_view){s.dt[id], s.s[id], s.val[id] ? s.val[id] : buf[id]};
        }
        for (int j = 0; j < n->n_out; j++) {
            int id = n->out[j];
            size_t nb = (size_t)kiln_shape_numel(&s.s[id]) * kiln_dtype_size(s.dt[id]);
            buf[id] = malloc(nb ? nb : 1);
            ov[j] = (kiln_view){s.dt[id], s.s[id], buf[id]};
        }
        ok = kiln_cpu_run_node(cpu, n, iv, ov, &err) == KILN_OK;
    }
    int o = g->outputs[0];
    int64_t n = kiln_shape_numel(&s.s[o]);
    float *out = NULL;
    if (ok) {
        out = malloc(sizeof(float) * (size_t)n);
        memcpy(out, s.val[o] ? s.val[o] : buf[o], sizeof(float) * (size_t)n);
        *n_out = n;
    }
    for (int t = 0; t < g->n_t; t++)
        if (g->t[t].kind == KILN_TENSOR_ACT) free(buf[t]);
    free(buf);
    kiln_cpu_destroy(cpu);
    kiln_shapes_free(&s);
    return out;
}

static void plan_model(const kiln_model *m, const char *name, int optimize, int64_t batch) {
    kiln_engine *e = ot_build(m, optimize, 1, batch, batch);
    CHECK(e != NULL, "%s: build", name);
    if (!e) return;
    kiln_memplan p;
    kiln_err err = {0};
    CHECK_OK(kiln_memplan_build(e->g, &e->shapes_max, 0, &p, &err));
    kiln_status st = kiln_memplan_check(e->g, &e->shapes_max, &p, &err);
    CHECK(st == KILN_OK, "%s: checker: %s", name, err.msg);
    double ratio = (double)p.arena_bytes / (double)p.lower_bound_bytes;
    CHECK(ratio <= 1.10, "%s (optimize %d, batch %lld): arena %zu is %.3fx the lower bound %zu",
          name, optimize, (long long)batch, p.arena_bytes, ratio, p.lower_bound_bytes);
    kiln_memplan_stats ms;
    CHECK_OK(kiln_memplan_stats_get(e, batch, &ms, &err));
    printf("%-13s opt %d batch %lld: %3d nodes  naive %8.2f MB  arena %7.2f MB  bound %7.2f MB "
           "(%.3fx)  views %d  in-place %d  slices %d\n",
           name, optimize, (long long)batch, e->g->n_n, p.naive_bytes / 1e6, p.arena_bytes / 1e6,
           p.lower_bound_bytes / 1e6, ratio, ms.n_views, ms.n_inplace, ms.n_slices);
    /* The naive plan is valid too, and never smaller. */
    kiln_memplan q;
    CHECK_OK(kiln_memplan_build(e->g, &e->shapes_max, 1, &q, &err));
    st = kiln_memplan_check(e->g, &e->shapes_max, &q, &err);
    CHECK(st == KILN_OK, "%s: checker on the naive plan: %s", name, err.msg);
    CHECK(q.arena_bytes >= p.arena_bytes, "%s: naive plan smaller", name);
    kiln_memplan_free(&q);
    kiln_memplan_free(&p);
    kiln_engine_destroy(e);
}

/* Planned engines compute what a naive node-by-node run computes, at every batch of the
   profile (the plan is made at the largest). */
static void run_vs_naive(const char *name, int optimize, int64_t bmax) {
    kiln_model *m = ot_zoo(name, OT_SIDE);
    if (!m) return;
    kiln_engine *e = ot_build(m, optimize, 1, bmax, bmax);
    CHECK(e != NULL, "%s: build", name);
    for (int64_t b = 1; e && b <= bmax; b += 2) {
        ot_inputs in;
        ot_inputs_make(e, b, test_seed() + (uint64_t)b, &in);
        float *out = NULL, *ref;
        int64_t n = 0, nr = 0;
        CHECK_OK(ot_run(e, &in, 0, &out, &n));
        ref = naive_run(e->g, &in, &nr);
        CHECK(ref && out && n == nr, "%s: naive run", name);
        if (ref && out && n == nr) {
            double rel = test_rel_l2(out, ref, n);
            CHECK(rel <= 1e-6, "%s (optimize %d, batch %lld): planned vs naive rel L2 %g", name,
                  optimize, (long long)b, rel);
        }
        free(out);
        free(ref);
        ot_inputs_free(&in);
    }
    kiln_engine_destroy(e);
    kiln_model_destroy(m);
}

/* x -> Relu -> a -> Relu -> b; Add(a, b) -> y: the checker must object to b over a. */
static void checker_catches_overlap(void) {
    kiln_graph *g = kiln_graph_create();
    kiln_shape s = kiln_shape_make(2, (int64_t[]){-1, 64});
    int x = kiln_graph_add_tensor(g, "x", KILN_TENSOR_INPUT, KILN_F32, &s);
    kiln_graph_mark_input(g, x);
    int a = kiln_graph_add_tensor(g, "a", KILN_TENSOR_ACT, KILN_F32, NULL);
    int b = kiln_graph_add_tensor(g, "b", KILN_TENSOR_ACT, KILN_F32, NULL);
    int y = kiln_graph_add_tensor(g, "y", KILN_TENSOR_ACT, KILN_F32, NULL);
    kiln_graph_add_node(g, KILN_OP_RELU, "r1", 1, &x, 1, &a);
    kiln_graph_add_node(g, KILN_OP_RELU, "r2", 1, &a, 1, &b);
    kiln_graph_add_node(g, KILN_OP_ADD, "add", 2, (int[]){a, b}, 1, &y);
    kiln_graph_mark_output(g, y);
    kiln_shape in = kiln_shape_make(2, (int64_t[]){4, 64});
    kiln_shapes sh;
    kiln_err err = {0};
    CHECK_OK(kiln_infer(g, &in, &sh, &err));
    kiln_memplan p;
    CHECK_OK(kiln_memplan_build(g, &sh, 0, &p, &err));
    CHECK_OK(kiln_memplan_check(g, &sh, &p, &err));
    /* b cannot be in place over a (a is read by the Add); y may be over a or b. */
    CHECK(p.root[b] != p.root[a], "b planned over a, which is still read");
    CHECK(p.inplace_input[2] >= 0, "the Add did not go in place");
    CHECK(p.arena_bytes == 2 * 4 * 64 * 4, "arena %zu", p.arena_bytes);
    /* Corrupt: put b's storage onto a's. */
    int64_t save = p.offset[p.root[b]];
    p.offset[p.root[b]] = p.offset[p.root[a]];
    kiln_status st = kiln_memplan_check(g, &sh, &p, &err);
    CHECK(st == KILN_ERR_INTERNAL && strstr(err.msg, "'a'") && strstr(err.msg, "'b'"),
          "overlap not caught: %s", err.msg);
    p.offset[p.root[b]] = save;
    /* Corrupt: make b live in a's storage, as if in place. */
    int rb = p.root[b];
    p.root[b] = p.root[a];
    st = kiln_memplan_check(g, &sh, &p, &err);
    CHECK(st == KILN_ERR_INTERNAL && strstr(err.msg, "writes 'b' over 'a'"),
          "bad in-place not caught: %s", err.msg);
    p.root[b] = rb;
    /* Corrupt: an arena too small. */
    p.arena_bytes -= 64;
    st = kiln_memplan_check(g, &sh, &p, &err);
    CHECK(st == KILN_ERR_INTERNAL && strstr(err.msg, "does not fit"), "small arena: %s", err.msg);
    kiln_memplan_free(&p);
    kiln_shapes_free(&sh);
    kiln_graph_destroy(g);
}

int main(void) {
    checker_catches_overlap();
    /* Shapes only (no running): the models at their real input size. */
    static const char *models[] = {"resnet18",  "resnet34",     "resnet50", "resnet101",
                                   "resnet152", "googlenet",    "densenet121",
                                   "mobilenet_v2", "vgg16",     "alexnet"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (ot_skip_heavy(models[i])) continue;
        kiln_model *m = ot_zoo(models[i], 0);
        CHECK(m != NULL, "%s: load", models[i]);
        for (int opt = 0; m && opt <= 1; opt++) {
            plan_model(m, models[i], opt, 1);
            plan_model(m, models[i], opt, 4);
        }
        kiln_model_destroy(m);
    }
    /* Running in the arena: views, in place, concat slices item by item (profile 1..3) and the
       batch-1 Split views (profile 1..1). */
    static const char *run_models[] = {"mobilenet_v2", "googlenet", "resnet50", "densenet121"};
    int n_run = OT_SANITIZED ? 2 : 4; /* unoptimized kernels: the two cheapest cover every case */
    for (int i = 0; i < n_run; i++)
        for (int opt = 0; opt <= 1; opt++) run_vs_naive(run_models[i], opt, 3);
    run_vs_naive("googlenet", 1, 1);
    return test_done();
}
