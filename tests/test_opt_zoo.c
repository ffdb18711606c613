/* The optimizer on every zoo model: after each pass of the pipeline, and after the whole
 * pipeline through kiln_engine_build, outputs on random input agree with the unoptimized graph
 * (relative L2 <= 1e-5, FP32, batch 2), and for ResNet-50 the fused graph has no standalone
 * BatchNormalization, Relu or Add. Models run at 32x32 where their classifier allows it. */
#include "opt/opt.h"
#include "opt_test.h"

#define TOL 1e-5
#define BATCH 2

static void check_model(const char *name, int per_pass) {
    if (ot_skip_heavy(name)) return;
    kiln_model *m = ot_zoo(name, OT_SIDE);
    CHECK(m != NULL, "%s: load", name);
    if (!m) return;
    kiln_engine *ref_e = ot_build(m, 0, 1, BATCH, BATCH);
    CHECK(ref_e != NULL, "%s: unoptimized build", name);
    if (!ref_e) {
        kiln_model_destroy(m);
        return;
    }
    ot_inputs in;
    ot_inputs_make(ref_e, BATCH, test_seed(), &in);
    float *ref;
    int64_t n_ref;
    CHECK_OK(ot_run(ref_e, &in, 0, &ref, &n_ref));

    /* Each pass in turn, on the graph the previous ones left. */
    if (per_pass) {
        kiln_graph *g = kiln_graph_clone(m->g);
        int np;
        const kiln_pass *p = kiln_passes(&np);
        for (int i = 0; i < np; i++) {
            kiln_err err = {0};
            kiln_status st = p[i].run(g, &err);
            if (st == KILN_OK) st = kiln_graph_validate(g, &err);
            CHECK(st == KILN_OK, "%s: pass %s: %s", name, p[i].name, err.msg);
            if (st != KILN_OK) break;
            kiln_model *pm = ot_model(kiln_graph_clone(g));
            kiln_engine *pe = ot_build(pm, 0, 1, BATCH, BATCH);
            CHECK(pe != NULL, "%s: build after pass %s", name, p[i].name);
            float *out = NULL;
            int64_t n = 0;
            if (pe) CHECK_OK(ot_run(pe, &in, 0, &out, &n));
            if (out) {
                double rel = n == n_ref ? test_rel_l2(out, ref, n) : INFINITY;
                CHECK(rel <= TOL, "%s: after pass %s: relative L2 %g", name, p[i].name, rel);
            }
            free(out);
            kiln_engine_destroy(pe);
            kiln_model_destroy(pm);
        }
        kiln_graph_destroy(g);
    }

    /* The whole pipeline, as users get it. */
    kiln_engine *e = ot_build(m, 1, 1, BATCH, BATCH);
    CHECK(e != NULL, "%s: optimized build", name);
    if (e) {
        float *out = NULL;
        int64_t n = 0;
        CHECK_OK(ot_run(e, &in, 0, &out, &n));
        double rel = out && n == n_ref ? test_rel_l2(out, ref, n) : INFINITY;
        CHECK(rel <= TOL, "%s: optimized: relative L2 %g", name, rel);
        printf("%-14s nodes %4d -> %4d   rel L2 %.2e\n", name, ref_e->g->n_n, e->g->n_n, rel);
        if (!strcmp(name, "resnet50")) {
            CHECK(ot_count_op(e->g, KILN_OP_BATCHNORM) == 0, "resnet50: BatchNormalization left");
            CHECK(ot_count_op(e->g, KILN_OP_RELU) == 0, "resnet50: Relu left");
            CHECK(ot_count_op(e->g, KILN_OP_ADD) == 0, "resnet50: Add left");
            CHECK(ot_has_label(e->g, "conv1x1+bn+add+relu"), "resnet50: no conv1x1+bn+add+relu");
            CHECK(ot_has_label(e->g, "conv3x3+bn+relu"), "resnet50: no conv3x3+bn+relu");
            CHECK(ot_count_op(e->g, KILN_OP_CONV) == 53, "resnet50: %d convolutions",
                  ot_count_op(e->g, KILN_OP_CONV));
        }
        if (!strcmp(name, "googlenet")) {
            int inplace = 0;
            for (int t = 0; t < e->g->n_t; t++) inplace += e->g->t[t].alias >= 0;
            CHECK(inplace > 0, "googlenet: no concat input placed in its slice");
        }
        free(out);
        kiln_engine_destroy(e);
    }
    free(ref);
    ot_inputs_free(&in);
    kiln_engine_destroy(ref_e);
    kiln_model_destroy(m);
}

int main(int argc, char **argv) {
    /* Every model through the whole pipeline; the pass-by-pass check on the families that
       exercise each pass (BN folding, residuals, concat, depthwise + ReLU6, plain conv). */
    /* per_pass: 1 always, 2 not in the sanitizer build (its kernels run unoptimized), 0 never;
       deeper ResNets repeat resnet18/50's blocks and run only in the release build. */
    static const struct {
        const char *name;
        int per_pass, sanitized;
    } models[] = {{"resnet18", 1, 1},     {"resnet50", 2, 1},  {"googlenet", 1, 1},
                  {"densenet121", 2, 1},  {"mobilenet_v2", 1, 1}, {"resnet34", 0, 0},
                  {"resnet101", 0, 0},    {"resnet152", 0, 0}, {"vgg16", 0, 0},
                  {"alexnet", 0, 0}};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (argc > 1 && strcmp(argv[1], models[i].name)) continue;
        if (OT_SANITIZED && !models[i].sanitized) {
            printf("%s: release build only (unoptimized kernels in the sanitizer build)\n",
                   models[i].name);
            continue;
        }
        int pp = models[i].per_pass == 1 || (models[i].per_pass == 2 && !OT_SANITIZED);
        check_model(models[i].name, pp);
    }
    return test_done();
}
