/* Zoo wiring against torchvision: each model's graph (ops, attributes, which tensor feeds which,
 * the builder's declared shapes) is written as text, and scripts/zoo_reference.py --check
 * interprets it with torch.nn.functional using the torchvision model's own weights (looked up by
 * the constants' state_dict names), then compares every activation's shape with what kiln
 * declares and the logits with torchvision's forward pass. This checks the architectures
 * independently of kiln's kernels. The graphs are built without weights (KILN__ZOO_NO_WEIGHTS):
 * only names and shapes are written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "zoo/zoo.h"
#include "zoo/zoo_build.h"

static void put_ints(FILE *f, const char *key, const int64_t *v, int n) {
    fprintf(f, " %s=", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)v[i]);
}

static void put_attrs(FILE *f, const kiln_node *n) {
    switch (n->op) {
    case KILN_OP_CONV: {
        const kiln_conv_attr *a = &n->a.conv;
        put_ints(f, "kernel", a->kernel, a->nspatial);
        put_ints(f, "stride", a->stride, a->nspatial);
        put_ints(f, "dilation", a->dilation, a->nspatial);
        put_ints(f, "pad_begin", a->pad_begin, a->nspatial);
        put_ints(f, "pad_end", a->pad_end, a->nspatial);
        put_ints(f, "group", &a->group, 1);
        break;
    }
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL: {
        const kiln_pool_attr *a = &n->a.pool;
        int64_t flags[2] = {a->ceil_mode, a->count_include_pad};
        put_ints(f, "kernel", a->kernel, a->nspatial);
        put_ints(f, "stride", a->stride, a->nspatial);
        put_ints(f, "dilation", a->dilation, a->nspatial);
        put_ints(f, "pad_begin", a->pad_begin, a->nspatial);
        put_ints(f, "pad_end", a->pad_end, a->nspatial);
        put_ints(f, "ceil_mode", &flags[0], 1);
        put_ints(f, "count_include_pad", &flags[1], 1);
        break;
    }
    case KILN_OP_GEMM:
        fprintf(f, " alpha=%.9g beta=%.9g trans_a=%d trans_b=%d", n->a.gemm.alpha, n->a.gemm.beta,
                n->a.gemm.trans_a, n->a.gemm.trans_b);
        break;
    case KILN_OP_BATCHNORM: fprintf(f, " epsilon=%.9g", n->a.bn.epsilon); break;
    case KILN_OP_CONCAT:
    case KILN_OP_FLATTEN: put_ints(f, "axis", &n->a.axis.axis, 1); break;
    default: break;
    }
}

/* See scripts/zoo_reference.py parse_dump for the format. */
static int dump(const kiln_graph *g, const kiln_shapes *s, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fprintf(f, "model %s\n", g->name);
    for (int i = 0; i < g->n_inputs; i++) {
        const kiln_shape *sh = &s->s[g->inputs[i]];
        fprintf(f, "input %s", g->t[g->inputs[i]].name);
        for (int d = 0; d < sh->ndim; d++) fprintf(f, " %lld", (long long)sh->d[d]);
        fprintf(f, "\n");
    }
    for (int i = 0; i < g->n_outputs; i++) fprintf(f, "output %s\n", g->t[g->outputs[i]].name);
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        if (t->kind == KILN_TENSOR_INPUT) continue;
        fprintf(f, "%s %s", t->kind == KILN_TENSOR_CONST ? "const" : "act", t->name);
        const kiln_shape *sh = t->kind == KILN_TENSOR_CONST ? &t->shape : &s->s[i];
        for (int d = 0; d < sh->ndim; d++) fprintf(f, " %lld", (long long)sh->d[d]);
        /* Small constants (Clip's bounds) carry their values; weights come from torchvision. */
        int64_t numel = kiln_shape_numel(&t->shape);
        if (t->kind == KILN_TENSOR_CONST && numel <= 4 && t->dtype == KILN_F32) {
            fprintf(f, " ;");
            for (int64_t k = 0; k < numel; k++) fprintf(f, " %.9g", ((const float *)t->data)[k]);
        }
        fprintf(f, "\n");
    }
    for (int i = 0; i < g->n_n; i++) {
        const kiln_node *n = &g->n[i];
        fprintf(f, "node %s %s ;", kiln_op_name(n->op), n->name);
        for (int j = 0; j < n->n_in; j++) fprintf(f, " %s", g->t[n->in[j]].name);
        fprintf(f, " ;");
        for (int j = 0; j < n->n_out; j++) fprintf(f, " %s", g->t[n->out[j]].name);
        fprintf(f, " ;");
        put_attrs(f, n);
        fprintf(f, "\n");
    }
    return fclose(f) == 0;
}

int main(void) {
    char dir[1024], cmd[16384], script[1024];
    test_build_path("zoo_dumps", dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    char out[65536];
    CHECK(test_run(cmd, out, sizeof out) == 0, "mkdir %s", dir);
    test_src_path("scripts/zoo_reference.py", script, sizeof script);
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --check", script);
    for (int i = 0; i < kiln_zoo_count(); i++) {
        const char *name = kiln_zoo_get(i)->name;
        kiln_graph *g = NULL;
        kiln_shapes s;
        kiln_err e;
        kiln_status st = kiln__zoo_build_ex(name, 0, KILN__ZOO_NO_WEIGHTS, &g, &s, NULL, &e);
        CHECK(st == KILN_OK, "%s: %s", name, e.msg);
        if (st != KILN_OK) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.txt", dir, name);
        CHECK(dump(g, &s, path), "write %s", path);
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s'", path);
        kiln_shapes_free(&s);
        kiln_graph_destroy(g);
    }
    int rc = test_run(cmd, out, sizeof out);
    printf("%s", out);
    CHECK(rc == 0, "torchvision check failed (exit %d)", rc);
    for (int i = 0; i < kiln_zoo_count(); i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: ok", kiln_zoo_get(i)->name);
        CHECK(strstr(out, want) != NULL, "%s matches torchvision", kiln_zoo_get(i)->name);
    }
    return test_done();
}
