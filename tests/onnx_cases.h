/* onnx_cases.h — helpers shared by tests/test_onnx_*.c: the models that
 * scripts/make_onnx_cases.py writes into $KILN_BUILD_DIR/onnx_cases (the onnx_cases fixture in
 * tests/onnx.cmake), and lookups into the imported graph. */
#ifndef KILN_TEST_ONNX_CASES_H
#define KILN_TEST_ONNX_CASES_H

#include <stdio.h>
#include <string.h>

#include "core/graph.h"
#include "onnx/onnx_import.h"
#include "test.h"

static inline const char *onnx_case_path(const char *name, char *buf, size_t n) {
    char rel[512];
    snprintf(rel, sizeof rel, "onnx_cases/%s", name);
    return test_build_path(rel, buf, n);
}

/* Import a case; on failure the message is in e (and g is NULL). */
static inline kiln_status onnx_case_import(const char *name, kiln_graph **g, kiln_err *e) {
    char path[1024];
    kiln_err_clear(e);
    return kiln_onnx_import_file(onnx_case_path(name, path, sizeof path), g, e);
}

/* Import a case that must import; NULL (and a failed check) otherwise. */
static inline kiln_graph *onnx_case_ok(const char *name) {
    kiln_graph *g = NULL;
    kiln_err e;
    kiln_status s = onnx_case_import(name, &g, &e);
    CHECK(s == KILN_OK && g, "%s: %s (%s)", name, kiln_status_str(s), e.msg);
    return s == KILN_OK ? g : NULL;
}

static inline kiln_node *onnx_node(kiln_graph *g, const char *name) {
    for (int i = 0; i < g->n_n; i++)
        if (!strcmp(g->n[i].name, name)) return &g->n[i];
    CHECK(0, "no node '%s'", name);
    return NULL;
}

static inline kiln_tensor *onnx_tensor(kiln_graph *g, const char *name) {
    int id = kiln_graph_find(g, name);
    CHECK(id >= 0, "no tensor '%s'", name);
    return id >= 0 ? &g->t[id] : NULL;
}

/* Name of the tensor feeding input i of n ("" when absent). */
static inline const char *onnx_in_name(const kiln_graph *g, const kiln_node *n, int i) {
    return i < n->n_in && n->in[i] >= 0 ? g->t[n->in[i]].name : "";
}

#endif
