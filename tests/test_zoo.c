/* Zoo: every built-in model against torchvision 0.14 itself (parameter count, conv+linear MACs,
 * layer counts, every state_dict tensor's name and shape, from scripts/zoo_reference.py run at
 * test time), plus graph structure, weight statistics and determinism. Builds each of the ten
 * models once (plus two small ones again for determinism), so it stays fast under ASan. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/shape.h"
#include "core/stats.h"
#include "test.h"
#include "zoo/zoo.h"
#include "zoo/zoo_build.h"
#include "zoo_json.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The reference JSON: written by the zoo_reference fixture, or generated here when this test
   runs on its own. */
static int load_reference(jv *ref) {
    char path[1024], script[1024], cmd[3072], out[4096];
    test_build_path("zoo_reference.json", path, sizeof path);
    char *text = jv_read_file(path);
    if (!text) {
        test_src_path("scripts/zoo_reference.py", script, sizeof script);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' -o '%s'", script, path);
        int rc = test_run(cmd, out, sizeof out);
        CHECK(rc == 0, "%s failed (%d): %s", cmd, rc, out);
        text = jv_read_file(path);
    }
    CHECK(text != NULL, "no reference file %s", path);
    if (!text) return 0;
    int ok = jv_parse(text, ref);
    free(text);
    CHECK(ok, "reference %s does not parse", path);
    return ok;
}

static int64_t ref_int(const jv *obj, const char *key) {
    const jv *v = jv_get(obj, key);
    return v && v->type == JV_NUM ? (int64_t)v->num : 0;
}

static int count_op(const kiln_graph *g, kiln_op op) {
    int c = 0;
    for (int i = 0; i < g->n_n; i++) c += g->n[i].op == (int)op;
    return c;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Exporter-style ops only: what torch.onnx gives for these torchvision models. */
static int op_allowed(int op) {
    static const kiln_op ok[] = {KILN_OP_CONV,    KILN_OP_BATCHNORM,      KILN_OP_RELU,
                                 KILN_OP_CLIP,    KILN_OP_MAXPOOL,        KILN_OP_AVGPOOL,
                                 KILN_OP_CONCAT,  KILN_OP_GLOBAL_AVGPOOL, KILN_OP_ADD,
                                 KILN_OP_FLATTEN, KILN_OP_GEMM};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if ((int)ok[i] == op) return 1;
    return 0;
}

static void check_structure(const char *name, const kiln_graph *g, const kiln_shapes *bs) {
    kiln_err e;
    CHECK_OK(kiln_graph_validate(g, &e));
    CHECK(g->name && !strcmp(g->name, name), "%s: graph name %s", name, g->name);
    CHECK(g->opset == 17, "%s: opset %d", name, g->opset);
    CHECK(g->n_inputs == 1 && g->n_outputs == 1, "%s: %d inputs, %d outputs", name, g->n_inputs,
          g->n_outputs);
    if (g->n_inputs != 1 || g->n_outputs != 1) return;
    const kiln_tensor *in = &g->t[g->inputs[0]], *out = &g->t[g->outputs[0]];
    CHECK(!strcmp(in->name, "input") && in->kind == KILN_TENSOR_INPUT && in->dtype == KILN_F32,
          "%s: input tensor", name);
    CHECK(in->shape.ndim == 4 && in->shape.d[0] == -1 && in->shape.d[1] == 3 &&
              in->shape.d[2] == 224 && in->shape.d[3] == 224,
          "%s: input shape", name);
    CHECK(in->sym[0] && !strcmp(in->sym[0], "batch") && !in->sym[1], "%s: symbolic batch", name);
    CHECK(!strcmp(out->name, "output") && out->is_output, "%s: output tensor %s", name, out->name);
    const kiln_shape *os = &bs->s[g->outputs[0]];
    CHECK(os->ndim == 2 && os->d[0] == 1 && os->d[1] == 1000, "%s: logits 1x1000", name);
    int p = kiln_graph_producer(g, g->outputs[0]);
    CHECK(p >= 0 && g->n[p].op == KILN_OP_GEMM && g->n[p].a.gemm.trans_b == 1 &&
              g->n[p].a.gemm.alpha == 1.0f && g->n[p].a.gemm.beta == 1.0f,
          "%s: logits come from Gemm(transB=1)", name);

    int bad_op = 0;
    for (int i = 0; i < g->n_n; i++) {
        const kiln_node *n = &g->n[i];
        if (!op_allowed(n->op)) bad_op++;
        if (n->op == KILN_OP_CONV) {
            const kiln_shape *w = &g->t[n->in[1]].shape;
            CHECK(n->a.conv.nspatial == 2 && n->a.conv.kernel[0] == w->d[2] &&
                      n->a.conv.kernel[1] == w->d[3] &&
                      bs->s[n->in[0]].d[1] == w->d[1] * n->a.conv.group,
                  "%s: conv %s attributes match its weight", name, n->name);
        }
    }
    CHECK(bad_op == 0, "%s: %d nodes use ops outside the exporter's set", name, bad_op);

    /* Tensor names are unique (kiln_graph_find and ONNX export rely on it). */
    char **names = malloc(sizeof(char *) * (size_t)g->n_t);
    for (int i = 0; i < g->n_t; i++) names[i] = g->t[i].name;
    qsort(names, (size_t)g->n_t, sizeof *names, cmp_str);
    int dup = 0;
    for (int i = 1; i < g->n_t; i++) dup += !strcmp(names[i - 1], names[i]);
    CHECK(dup == 0, "%s: %d duplicate tensor names", name, dup);
    free(names);
}

/* Layer counts, state_dict names and shapes, parameters and MACs against torchvision. */
static void check_reference(const char *name, const kiln_graph *g, const kiln_shapes *bs,
                            int64_t builder_macs, const jv *r) {
    const kiln_zoo_info *info = kiln_zoo_find(name);
    int64_t params = kiln_graph_param_count(g), want_params = ref_int(r, "params");
    int64_t macs = kiln_graph_macs(g, bs), want_macs = ref_int(r, "macs");
    CHECK(params == want_params, "%s: %lld params, torchvision %lld", name, (long long)params,
          (long long)want_params);
    CHECK(info->params == want_params, "%s: table params %lld", name, (long long)info->params);
    CHECK(macs == want_macs, "%s: %lld MACs, torchvision %lld", name, (long long)macs,
          (long long)want_macs);
    CHECK(builder_macs == want_macs, "%s: builder counted %lld MACs", name,
          (long long)builder_macs);
    CHECK(info->macs == want_macs, "%s: table MACs %lld", name, (long long)info->macs);
    printf("%-13s %10lld params %12lld MACs (torchvision %lld, %lld)\n", name, (long long)params,
           (long long)macs, (long long)want_params, (long long)want_macs);

    const jv *mods = jv_get(r, "modules");
    static const struct {
        kiln_op op;
        const char *module;
    } layer[] = {{KILN_OP_CONV, "Conv2d"},      {KILN_OP_BATCHNORM, "BatchNorm2d"},
                 {KILN_OP_GEMM, "Linear"},      {KILN_OP_MAXPOOL, "MaxPool2d"},
                 {KILN_OP_AVGPOOL, "AvgPool2d"}};
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
        int have = count_op(g, layer[i].op);
        int64_t want = ref_int(mods, layer[i].module);
        CHECK(have == want, "%s: %d %s nodes, torchvision runs %s %lld times", name, have,
              kiln_op_name(layer[i].op), layer[i].module, (long long)want);
    }

    /* Every constant is a torchvision state_dict entry of the same shape (or ReLU6's bounds),
       and every entry is there. */
    const jv *tensors = jv_get(r, "tensors");
    CHECK(tensors && tensors->type == JV_OBJ, "%s: reference lists tensors", name);
    if (!tensors) return;
    int matched = 0, stray = 0, wrong_shape = 0;
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        if (t->kind != KILN_TENSOR_CONST) continue;
        const jv *dims = jv_get(tensors, t->name);
        if (!dims) {
            int bound = t->shape.ndim == 0 &&
                        (!strcmp(t->name, "clip.min") || !strcmp(t->name, "clip.max"));
            if (!bound) {
                stray++;
                fprintf(stderr, "  %s: constant %s is not in torchvision's state_dict\n", name,
                        t->name);
            }
            continue;
        }
        int same = dims->n == t->shape.ndim;
        for (int d = 0; same && d < dims->n; d++)
            same = (int64_t)dims->items[d].num == t->shape.d[d];
        if (same) matched++;
        else wrong_shape++;
    }
    CHECK(stray == 0 && wrong_shape == 0, "%s: %d stray constants, %d of the wrong shape", name,
          stray, wrong_shape);
    CHECK(matched == tensors->n, "%s: %d of torchvision's %d state_dict tensors", name, matched,
          tensors->n);
}

/* Weights are finite and follow the documented init: conv std sqrt(2 / fan_in), running_var in
   [0.5, 1.5], gamma in [0.16, 1.1]. */
static void check_weights(const char *name, const kiln_graph *g) {
    int bad = 0, off_std = 0;
    for (int i = 0; i < g->n_n; i++) {
        const kiln_node *n = &g->n[i];
        for (int j = 1; j < n->n_in; j++) {
            const kiln_tensor *t = &g->t[n->in[j]];
            if (t->kind != KILN_TENSOR_CONST) continue;
            const float *w = t->data;
            int64_t cnt = kiln_shape_numel(&t->shape);
            double s1 = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
            /* At most ~1M samples a tensor: VGG's 103M-element fc6 would dominate under ASan. */
            int64_t step = cnt > (1 << 20) ? cnt / (1 << 20) : 1, m = 0;
            for (int64_t k = 0; k < cnt; k += step, m++) {
                if (!isfinite(w[k])) bad++;
                s1 += w[k];
                s2 += (double)w[k] * w[k];
                if (w[k] < lo) lo = w[k];
                if (w[k] > hi) hi = w[k];
            }
            if (n->op == KILN_OP_CONV && j == 1 && cnt >= 4096) {
                double want = sqrt(2.0 / (double)(cnt / t->shape.d[0]));
                double mean = s1 / (double)m, sd = sqrt(s2 / (double)m - mean * mean);
                if (fabs(sd / want - 1) > 0.05 || fabs(mean) > 0.05 * want) {
                    off_std++;
                    fprintf(stderr, "  %s: %s std %g (want %g) mean %g\n", name, t->name, sd,
                            want, mean);
                }
            }
            if (n->op == KILN_OP_BATCHNORM && j == 4 && (lo < 0.5 || hi > 1.5)) bad++;
            if (n->op == KILN_OP_BATCHNORM && j == 1 && (lo < 0.16 || hi > 1.1)) bad++;
        }
    }
    CHECK(bad == 0, "%s: %d non-finite or out-of-range weights", name, bad);
    CHECK(off_std == 0, "%s: %d conv weights off He's std", name, off_std);
}

/* When the shape inference rules exist, they must agree with the builder's own shapes. */
static void check_infer(const char *name, const kiln_graph *g, const kiln_shapes *bs,
                        int64_t want_macs) {
    kiln_err e;
    kiln_shapes s;
    kiln_shape in = kiln_shape_make(4, (int64_t[]){1, 3, 224, 224});
    kiln_status st = kiln_infer(g, &in, &s, &e);
    if (st == KILN_ERR_UNSUPPORTED) {
        printf("%-13s shape inference not available yet (%s): builder shapes used\n", name, e.msg);
        return;
    }
    CHECK(st == KILN_OK, "%s: kiln_infer: %s", name, e.msg);
    if (st != KILN_OK) return;
    int differ = 0;
    for (int i = 0; i < g->n_t; i++)
        if (!kiln_shape_eq(&s.s[i], &bs->s[i])) {
            char a[96], b[96];
            if (differ++ < 5)
                fprintf(stderr, "  %s: %s inferred %s, builder %s\n", name, g->t[i].name,
                        kiln_shape_str(&s.s[i], a, sizeof a),
                        kiln_shape_str(&bs->s[i], b, sizeof b));
        }
    CHECK(differ == 0, "%s: %d tensors where kiln_infer and the builder disagree", name, differ);
    int64_t macs = kiln_graph_macs(g, &s);
    CHECK(macs == want_macs, "%s: %lld MACs from inferred shapes", name, (long long)macs);
    kiln_shapes_free(&s);
}

static void test_model(int i, const jv *models) {
    const kiln_zoo_info *info = kiln_zoo_get(i);
    const char *name = info->name;
    const jv *r = jv_get(models, name);
    CHECK(r != NULL, "%s: not in the torchvision reference", name);
    kiln_graph *g = NULL;
    kiln_shapes bs;
    int64_t macs = 0;
    kiln_err e;
    double t0 = now_ms();
    kiln_status st = kiln__zoo_build_ex(name, 0, 0, &g, &bs, &macs, &e);
    double ms = now_ms() - t0;
    CHECK(st == KILN_OK, "%s: build: %s", name, e.msg);
    if (st != KILN_OK) return;
    printf("%-13s built in %.0f ms: %d nodes, %d tensors\n", name, ms, g->n_n, g->n_t);
    check_structure(name, g, &bs);
    if (r) check_reference(name, g, &bs, macs, r);
    check_weights(name, g);
    check_infer(name, g, &bs, r ? ref_int(r, "macs") : macs);
    kiln_shapes_free(&bs);
    kiln_graph_destroy(g);
}

static void test_table(void) {
    CHECK(kiln_zoo_count() == 10, "%d zoo models", kiln_zoo_count());
    CHECK(kiln_zoo_get(-1) == NULL && kiln_zoo_get(kiln_zoo_count()) == NULL, "out of range");
    for (int i = 0; i < kiln_zoo_count(); i++) {
        const kiln_zoo_info *z = kiln_zoo_get(i);
        CHECK(z != NULL, "zoo entry %d", i);
        if (!z) continue;
        CHECK(kiln_zoo_find(z->name) == z, "find %s", z->name);
        CHECK(z->summary && z->summary[0], "%s has a summary", z->name);
        CHECK(z->input[0] == 1 && z->input[1] == 3 && z->input[2] == 224 && z->input[3] == 224,
              "%s: default input", z->name);
        CHECK(z->params > 0 && z->macs > 0, "%s: stats", z->name);
    }
    CHECK(kiln_zoo_find("resnet51") == NULL && kiln_zoo_find(NULL) == NULL, "unknown name");
    kiln_graph *g = (kiln_graph *)1;
    kiln_err e;
    CHECK(kiln_zoo_build("resnet51", 0, &g, &e) == KILN_ERR_INVALID_ARG && g == NULL,
          "unknown model fails");
    CHECK(strstr(e.msg, "resnet51") != NULL, "message names the model: %s", e.msg);
}

/* Same seed: bit-identical weights; another seed: every weight tensor differs. */
static void test_determinism(const char *name) {
    kiln_graph *a = NULL, *b = NULL, *c = NULL;
    kiln_err e;
    uint64_t seed = test_seed() | 1;
    CHECK_OK(kiln_zoo_build(name, seed, &a, &e));
    CHECK_OK(kiln_zoo_build(name, seed, &b, &e));
    CHECK_OK(kiln_zoo_build(name, seed + 2, &c, &e));
    if (!a || !b || !c) goto done;
    CHECK(a->n_t == b->n_t && a->n_t == c->n_t && a->n_n == b->n_n, "%s: same structure", name);
    int same_ab = 1, differ_ac = 0, consts = 0;
    for (int i = 0; i < a->n_t && i < b->n_t && i < c->n_t; i++) {
        const kiln_tensor *ta = &a->t[i], *tb = &b->t[i], *tc = &c->t[i];
        if (ta->kind != KILN_TENSOR_CONST || ta->shape.ndim == 0) continue; /* Clip bounds */
        size_t nb = kiln_tensor_nbytes(ta);
        consts++;
        if (strcmp(ta->name, tb->name) || nb != kiln_tensor_nbytes(tb) ||
            memcmp(ta->data, tb->data, nb))
            same_ab = 0;
        if (nb == kiln_tensor_nbytes(tc) && memcmp(ta->data, tc->data, nb)) differ_ac++;
    }
    CHECK(same_ab, "%s: same seed gives identical weights", name);
    CHECK(differ_ac == consts, "%s: another seed changes %d of %d weight tensors", name, differ_ac,
          consts);
    /* Seed 0 is the default seed, and that is not seed 1. */
    kiln_graph *d = NULL, *f = NULL;
    CHECK_OK(kiln_zoo_build(name, 0, &d, &e));
    CHECK_OK(kiln_zoo_build(name, 0, &f, &e));
    if (d && f) {
        int w = kiln_graph_find(d, "features.0.0.weight");
        if (w < 0) w = kiln_graph_find(d, "conv1.weight");
        CHECK(w >= 0 && !memcmp(d->t[w].data, f->t[w].data, kiln_tensor_nbytes(&d->t[w])),
              "%s: default seed is deterministic", name);
    }
    kiln_graph_destroy(d);
    kiln_graph_destroy(f);
done:
    kiln_graph_destroy(a);
    kiln_graph_destroy(b);
    kiln_graph_destroy(c);
}

/* The structure-only build has the same graph, without weight data. */
static void test_no_weights(const char *name) {
    kiln_graph *a = NULL, *b = NULL;
    kiln_err e;
    CHECK_OK(kiln_zoo_build(name, 0, &a, &e));
    CHECK_OK(kiln__zoo_build_ex(name, 0, KILN__ZOO_NO_WEIGHTS, &b, NULL, NULL, &e));
    if (a && b) {
        CHECK(a->n_n == b->n_n && a->n_t == b->n_t, "%s: same structure without weights", name);
        CHECK(kiln_graph_param_count(a) == kiln_graph_param_count(b), "%s: same params", name);
        int with_data = 0;
        for (int i = 0; i < b->n_t; i++)
            if (b->t[i].kind == KILN_TENSOR_CONST && b->t[i].shape.ndim > 0 && b->t[i].data)
                with_data++;
        CHECK(with_data == 0, "%s: %d weight tensors have data", name, with_data);
        CHECK_OK(kiln_graph_validate(b, &e));
    }
    kiln_graph_destroy(a);
    kiln_graph_destroy(b);
}

int main(void) {
    test_table();
    jv ref;
    if (load_reference(&ref)) {
        const jv *models = jv_get(&ref, "models");
        const jv *tv = jv_get(&ref, "torchvision");
        printf("reference: torchvision %s\n", tv && tv->str ? tv->str : "?");
        CHECK(models != NULL, "reference has models");
        for (int i = 0; i < kiln_zoo_count(); i++) test_model(i, models);
        jv_free(&ref);
    }
    test_determinism("resnet18");
    test_determinism("mobilenet_v2");
    test_no_weights("googlenet");
    return test_done();
}
