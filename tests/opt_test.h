/* opt_test.h — helpers shared by the optimizer, planner and plan-file tests (header-only: each
 * test is its own executable). Models are wrapped graphs; engines are built through the public
 * API (optimize on/off), so a test compares exactly what users get. */
#ifndef KILN_OPT_TEST_H
#define KILN_OPT_TEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "runtime/engine.h"
#include "test.h"
#include "zoo/zoo.h"

/* Sanitizer builds (-O0, instrumented) skip the zoo models whose hundreds of millions of random
   weights alone take minutes to generate there (vgg16, alexnet); release builds run them all. */
#if defined(__SANITIZE_ADDRESS__)
#define OT_SANITIZED 1
#else
#define OT_SANITIZED 0
#endif
static inline int ot_skip_heavy(const char *name) {
    if (!OT_SANITIZED || (strcmp(name, "vgg16") && strcmp(name, "alexnet"))) return 0;
    printf("%s: skipped in the sanitizer build (too many weights to generate at -O0)\n", name);
    return 1;
}

/* A model around graph g (taken over). */
static inline kiln_model *ot_model(kiln_graph *g) {
    kiln_model *m = kiln_model_create();
    m->g = g;
    m->source = strdup("test");
    return m;
}

/* The input side tests run zoo models at: small, since only agreement matters; smaller still
   in the sanitizer build, whose kernels run unoptimized. */
#define OT_SIDE (OT_SANITIZED ? 16 : 32)

/* A zoo model at a smaller input (side x side, doubling until the network accepts it; a
   fixed-size classifier keeps its own size). side 0 keeps the model's size. */
static inline kiln_model *ot_zoo(const char *name, int64_t side) {
    char src[64];
    snprintf(src, sizeof src, "zoo:%s", name);
    kiln_model *m = kiln_model_create();
    if (kiln_model_load(m, src) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", src, kiln_model_errmsg(m));
        kiln_model_destroy(m);
        return NULL;
    }
    kiln_tensor *in = &m->g->t[m->g->inputs[0]];
    int64_t h = in->shape.d[2], w = in->shape.d[3];
    for (; side > 0 && side < h; side *= 2) {
        in->shape.d[2] = in->shape.d[3] = side;
        kiln_shape one = in->shape;
        one.d[0] = 1;
        kiln_shapes s;
        kiln_err err;
        if (kiln_infer(m->g, &one, &s, &err) == KILN_OK) {
            kiln_shapes_free(&s);
            return m;
        }
    }
    in->shape.d[2] = h;
    in->shape.d[3] = w;
    return m;
}

static inline kiln_engine *ot_build(const kiln_model *m, int optimize, int64_t bmin, int64_t bopt,
                                    int64_t bmax) {
    kiln_builder_config *c = kiln_builder_config_create();
    kiln_builder_config_set_optimize(c, optimize);
    kiln_builder_config_set_threads(c, 2);
    if (bmax > 0) kiln_builder_config_set_batch_range(c, bmin, bopt, bmax);
    kiln_engine *e = kiln_engine_create();
    kiln_status st = kiln_engine_build(e, m, c);
    kiln_builder_config_destroy(c);
    if (st != KILN_OK) {
        fprintf(stderr, "build (optimize %d): %s\n", optimize, kiln_engine_errmsg(e));
        kiln_engine_destroy(e);
        return NULL;
    }
    return e;
}

/* Random float inputs for every input of e at batch b (same seed: same data). */
typedef struct ot_inputs {
    int n;
    kiln_buffer b[8];
} ot_inputs;

static inline void ot_inputs_make(const kiln_engine *e, int64_t batch, uint64_t seed,
                                  ot_inputs *in) {
    kiln_rng r;
    kiln_rng_seed(&r, seed);
    in->n = kiln_engine_num_inputs(e);
    for (int i = 0; i < in->n; i++) {
        kiln_io_info io;
        kiln_engine_io(e, 1, i, &io);
        kiln_buffer *b = &in->b[i];
        memset(b, 0, sizeof *b);
        b->name = io.name;
        b->dtype = io.dtype;
        b->ndim = io.ndim;
        int64_t n = 1;
        for (int d = 0; d < io.ndim; d++) {
            b->dims[d] = io.dims[d] < 0 ? batch : io.dims[d];
            n *= b->dims[d];
        }
        float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
        test_fill_uniform(&r, x, n, -1.0f, 1.0f);
        b->data = x;
    }
}

static inline void ot_inputs_free(ot_inputs *in) {
    for (int i = 0; i < in->n; i++) free(in->b[i].data);
}

/* Run a fresh context of e once; copy output `index` into *out (malloc'ed), its size in *n. */
static inline kiln_status ot_run(kiln_engine *e, const ot_inputs *in, int index, float **out,
                                 int64_t *n) {
    kiln_context *c = NULL;
    *out = NULL;
    *n = 0;
    kiln_status st = kiln_context_create(e, &c);
    if (st != KILN_OK) return st;
    st = kiln_context_run(c, in->n, in->b);
    if (st != KILN_OK) {
        fprintf(stderr, "run: %s\n", kiln_context_errmsg(c));
        kiln_context_destroy(c);
        return st;
    }
    kiln_buffer o;
    st = kiln_context_output(c, index, &o);
    if (st == KILN_OK) {
        int64_t k = 1;
        for (int d = 0; d < o.ndim; d++) k *= o.dims[d];
        *out = malloc(sizeof(float) * (size_t)(k ? k : 1));
        memcpy(*out, o.data, sizeof(float) * (size_t)k);
        *n = k;
    }
    kiln_context_destroy(c);
    return st;
}

/* Nodes of op in g. */
static inline int ot_count_op(const kiln_graph *g, kiln_op op) {
    int c = 0;
    for (int i = 0; i < g->n_n; i++) c += g->n[i].op == (int)op;
    return c;
}

static inline int ot_has_label(const kiln_graph *g, const char *label) {
    for (int i = 0; i < g->n_n; i++)
        if (g->n[i].label && !strcmp(g->n[i].label, label)) return 1;
    return 0;
}

#endif
