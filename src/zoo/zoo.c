/* The zoo's table: names, torchvision's parameter counts and MACs, and each model's builder.
 *
 * params and macs are written down here (as torchvision's model docs do) so listing the zoo costs
 * nothing; tests/test_zoo.c checks them against the built graphs (kiln_graph_param_count,
 * kiln_graph_macs) and against torchvision itself at test time (scripts/zoo_reference.py). */
#include "zoo/zoo.h"

#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_build.h"

/* `zoo:NAME` without a seed: "kiln" in ASCII. */
#define DEFAULT_SEED 0x6b696c6eull

typedef int (*build_fn)(kiln__zb *b, int x, int arg);

typedef struct {
    kiln_zoo_info info;
    build_fn build;
    int arg;
} zoo_entry;

#define IN224 {1, 3, 224, 224}

static const zoo_entry zoo[] = {
    {{"resnet18", "ResNet-18 (He et al. 2015), torchvision layout", 11689512, 1814073344, IN224},
     kiln__zoo_resnet, 18},
    {{"resnet34", "ResNet-34 (He et al. 2015), torchvision layout", 21797672, 3663761408, IN224},
     kiln__zoo_resnet, 34},
    {{"resnet50", "ResNet-50 v1.5 (He et al. 2015), torchvision layout", 25557032, 4089184256,
      IN224},
     kiln__zoo_resnet, 50},
    {{"resnet101", "ResNet-101 v1.5 (He et al. 2015), torchvision layout", 44549160, 7801405440,
      IN224},
     kiln__zoo_resnet, 101},
    {{"resnet152", "ResNet-152 v1.5 (He et al. 2015), torchvision layout", 60192808,
      11513626624, IN224},
     kiln__zoo_resnet, 152},
    {{"googlenet", "GoogLeNet / Inception v1 (Szegedy et al. 2014), torchvision, no aux heads",
      6624904, 1498376192, IN224},
     kiln__zoo_googlenet, 0},
    {{"densenet121", "DenseNet-121 (Huang et al. 2016), torchvision layout", 7978856, 2834161664,
      IN224},
     kiln__zoo_densenet, 121},
    {{"mobilenet_v2", "MobileNetV2 (Sandler et al. 2018), torchvision layout", 3504872,
      300774272, IN224},
     kiln__zoo_mobilenet_v2, 0},
    {{"vgg16", "VGG-16 (Simonyan & Zisserman 2014), configuration D, no batch norm", 138357544,
      15470264320, IN224},
     kiln__zoo_vgg, 16},
    {{"alexnet", "AlexNet (Krizhevsky et al. 2012), torchvision's one-GPU variant", 61100840,
      714188480, IN224},
     kiln__zoo_alexnet, 0},
};

#define ZOO_COUNT ((int)(sizeof zoo / sizeof zoo[0]))

int kiln_zoo_count(void) { return ZOO_COUNT; }

const kiln_zoo_info *kiln_zoo_get(int i) { return i >= 0 && i < ZOO_COUNT ? &zoo[i].info : NULL; }

static const zoo_entry *find(const char *name) {
    for (int i = 0; name && i < ZOO_COUNT; i++)
        if (!strcmp(zoo[i].info.name, name)) return &zoo[i];
    return NULL;
}

const kiln_zoo_info *kiln_zoo_find(const char *name) {
    const zoo_entry *z = find(name);
    return z ? &z->info : NULL;
}

/* The builder's shape table as a kiln_shapes over the finished graph. */
static kiln_status export_shapes(const kiln__zb *b, const kiln_graph *g, kiln_shapes *s,
                                 kiln_err *e) {
    memset(s, 0, sizeof *s);
    int n = g->n_t;
    s->n = n;
    s->s = malloc(sizeof(kiln_shape) * (size_t)(n + 1));
    s->dt = malloc(sizeof(kiln_dtype) * (size_t)(n + 1));
    s->val = calloc((size_t)n + 1, sizeof(void *));
    s->own = calloc((size_t)n + 1, 1);
    if (!s->s || !s->dt || !s->val || !s->own) {
        kiln_shapes_free(s);
        return kiln_err_set(e, KILN_ERR_NOMEM, "zoo %s: out of memory", g->name);
    }
    for (int i = 0; i < n; i++) {
        s->s[i] = b->shape[i];
        s->dt[i] = g->t[i].dtype;
        if (g->t[i].kind == KILN_TENSOR_CONST) s->val[i] = g->t[i].data;
    }
    return KILN_OK;
}

kiln_status kiln__zoo_build_ex(const char *name, uint64_t seed, int flags, kiln_graph **out,
                               kiln_shapes *shapes, int64_t *macs, kiln_err *e) {
    if (!out) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "zoo: no output graph pointer");
    *out = NULL;
    const zoo_entry *z = find(name);
    if (!z)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG,
                            "zoo: no model named '%s' (`kiln zoo` lists them)", name ? name : "");
    kiln__zb b;
    const int64_t *in = z->info.input;
    int x = kiln__zb_begin(&b, z->info.name, seed ? seed : DEFAULT_SEED, in[1], in[2], in[3], e);
    b.no_weights = (flags & KILN__ZOO_NO_WEIGHTS) != 0;
    int logits = z->build(&b, x, z->arg);
    kiln_status st = kiln__zb_end(&b, logits, out);
    if (st == KILN_OK && shapes) st = export_shapes(&b, *out, shapes, e);
    if (st == KILN_OK && macs) *macs = b.macs;
    kiln__zb_free(&b);
    if (st != KILN_OK && *out) {
        kiln_graph_destroy(*out);
        *out = NULL;
    }
    return st;
}

kiln_status kiln_zoo_build(const char *name, uint64_t seed, kiln_graph **out, kiln_err *e) {
    return kiln__zoo_build_ex(name, seed, 0, out, NULL, NULL, e);
}
