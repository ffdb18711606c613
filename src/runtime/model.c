/* kiln_model: import from a file or the zoo, fix input shapes, describe I/O. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_import.h"
#include "runtime/engine.h"
#include "zoo/zoo.h"

kiln_model *kiln_model_create(void) { return calloc(1, sizeof(kiln_model)); }

void kiln_model_destroy(kiln_model *m) {
    if (!m) return;
    kiln_graph_destroy(m->g);
    free(m->source);
    free(m);
}

const char *kiln_model_errmsg(const kiln_model *m) {
    if (!m) return "no model (out of memory?)";
    return m->err.status == KILN_OK ? "" : m->err.msg;
}

static kiln_status set_graph(kiln_model *m, kiln_graph *g, const char *source) {
    kiln_graph_destroy(m->g);
    free(m->source);
    m->g = g;
    m->source = strdup(source);
    if (!m->source) return kiln_err_set(&m->err, KILN_ERR_NOMEM, "out of memory");
    return KILN_OK;
}

kiln_status kiln_model_load(kiln_model *m, const char *source) {
    if (!m) return KILN_ERR_INVALID_ARG;
    if (!source) return kiln_err_set(&m->err, KILN_ERR_INVALID_ARG, "no model given");
    kiln_err_clear(&m->err);
    kiln_graph *g = NULL;
    kiln_status st;
    if (!strncmp(source, "zoo:", 4)) {
        if (!kiln_zoo_find(source + 4)) {
            char names[512] = "";
            for (int i = 0; i < kiln_zoo_count(); i++) {
                if (i) strncat(names, ", ", sizeof names - strlen(names) - 1);
                strncat(names, kiln_zoo_get(i)->name, sizeof names - strlen(names) - 1);
            }
            return kiln_err_set(&m->err, KILN_ERR_INVALID_ARG,
                                "%s: no such built-in model (the zoo has: %s)", source, names);
        }
        st = kiln_zoo_build(source + 4, 0, &g, &m->err);
    } else {
        st = kiln_onnx_import_file(source, &g, &m->err);
    }
    if (st != KILN_OK) {
        kiln_graph_destroy(g);
        return st;
    }
    return set_graph(m, g, source);
}

kiln_status kiln_model_load_onnx_memory(kiln_model *m, const void *data, size_t size,
                                        const char *base_dir) {
    if (!m) return KILN_ERR_INVALID_ARG;
    kiln_err_clear(&m->err);
    kiln_graph *g = NULL;
    kiln_status st = kiln_onnx_import_memory(data, size, base_dir, &g, &m->err);
    if (st != KILN_OK) {
        kiln_graph_destroy(g);
        return st;
    }
    return set_graph(m, g, "<memory>");
}

static int find_input(const kiln_graph *g, const char *name) {
    for (int i = 0; i < g->n_inputs; i++)
        if (!name || !strcmp(g->t[g->inputs[i]].name, name)) return i;
    return -1;
}

kiln_status kiln_model_set_input_shape(kiln_model *m, const char *input, int ndim,
                                       const int64_t *dims) {
    if (!m) return KILN_ERR_INVALID_ARG;
    if (!m->g) return kiln_err_set(&m->err, KILN_ERR_INVALID_ARG, "no model loaded");
    int i = find_input(m->g, input);
    if (i < 0) {
        char names[256] = "";
        for (int k = 0; k < m->g->n_inputs; k++) {
            if (k) strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, m->g->t[m->g->inputs[k]].name, sizeof names - strlen(names) - 1);
        }
        return kiln_err_set(&m->err, KILN_ERR_INVALID_ARG,
                            "--shape: the model has no input '%s' (inputs: %s)", input, names);
    }
    kiln_tensor *t = &m->g->t[m->g->inputs[i]];
    if (ndim != t->shape.ndim)
        return kiln_err_set(&m->err, KILN_ERR_SHAPE, "--shape %s: %d dimensions given, the model has %d",
                            t->name, ndim, t->shape.ndim);
    for (int d = 0; d < ndim; d++) {
        if (dims[d] <= 0)
            return kiln_err_set(&m->err, KILN_ERR_SHAPE, "--shape %s: dimension %d must be positive",
                                t->name, d);
        if (t->shape.d[d] >= 0 && t->shape.d[d] != dims[d]) {
            char buf[96];
            return kiln_err_set(&m->err, KILN_ERR_SHAPE,
                                "--shape %s: dimension %d is fixed at %lld in the model (%s), not %lld",
                                t->name, d, (long long)t->shape.d[d],
                                kiln_shape_str(&t->shape, buf, sizeof buf), (long long)dims[d]);
        }
    }
    /* The batch dimension stays symbolic: its value sets the batch profile instead. */
    for (int d = 0; d < ndim; d++)
        if (!(d == 0 && t->shape.d[0] < 0)) t->shape.d[d] = dims[d];
    return KILN_OK;
}

int kiln_model_num_inputs(const kiln_model *m) { return m && m->g ? m->g->n_inputs : 0; }
int kiln_model_num_outputs(const kiln_model *m) { return m && m->g ? m->g->n_outputs : 0; }

kiln_status kiln_model_io(const kiln_model *m, int is_input, int index, kiln_io_info *info) {
    if (!m || !m->g || !info) return KILN_ERR_INVALID_ARG;
    int n = is_input ? m->g->n_inputs : m->g->n_outputs;
    if (index < 0 || index >= n) return KILN_ERR_INVALID_ARG;
    const kiln_tensor *t = &m->g->t[is_input ? m->g->inputs[index] : m->g->outputs[index]];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->ndim = t->shape.ndim;
    for (int d = 0; d < t->shape.ndim && d < KILN_MAX_DIMS; d++) info->dims[d] = t->shape.d[d];
    return KILN_OK;
}
