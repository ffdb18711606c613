#include "core/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

kiln_graph *kiln_graph_create(void) { return calloc(1, sizeof(kiln_graph)); }

static void tensor_free(kiln_tensor *t) {
    free(t->name);
    for (int i = 0; i < KILN_MAX_DIMS; i++) free(t->sym[i]);
    if (t->owns_data) free(t->data);
}

static void node_free(kiln_node *n) {
    free(n->name);
    free(n->in);
    free(n->out);
    free(n->label);
}

void kiln_graph_destroy(kiln_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_t; i++) tensor_free(&g->t[i]);
    for (int i = 0; i < g->n_n; i++) node_free(&g->n[i]);
    for (int i = 0; i < g->n_blobs; i++) {
        if (g->blobs[i].mapped) munmap(g->blobs[i].ptr, g->blobs[i].size);
        else free(g->blobs[i].ptr);
    }
    free(g->blobs);
    free(g->t);
    free(g->n);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g);
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np) return -1;
    memset((char *)np + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = np;
    *cap = nc;
    return 0;
}

int kiln_graph_add_tensor(kiln_graph *g, const char *name, kiln_tensor_kind kind, kiln_dtype dtype,
                          const kiln_shape *shape) {
    if (grow((void **)&g->t, &g->cap_t, g->n_t + 1, sizeof(kiln_tensor))) return -1;
    int id = g->n_t;
    kiln_tensor *t = &g->t[id];
    memset(t, 0, sizeof *t);
    char buf[32];
    if (!name) {
        snprintf(buf, sizeof buf, "t%d", id);
        name = buf;
    }
    t->name = dupstr(name);
    if (!t->name) return -1;
    t->kind = kind;
    t->alias = -1;
    t->dtype = dtype;
    if (shape) t->shape = *shape;
    else t->shape.ndim = -1;
    g->n_t++;
    return id;
}

int kiln_graph_add_const(kiln_graph *g, const char *name, kiln_dtype dtype, const kiln_shape *shape,
                         void *data, int owns) {
    int id = kiln_graph_add_tensor(g, name, KILN_TENSOR_CONST, dtype, shape);
    if (id < 0) {
        if (owns) free(data);
        return -1;
    }
    g->t[id].data = data;
    g->t[id].owns_data = owns;
    return id;
}

int kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, int n_in, const int *in,
                        int n_out, const int *out) {
    if (grow((void **)&g->n, &g->cap_n, g->n_n + 1, sizeof(kiln_node))) return -1;
    kiln_node *n = &g->n[g->n_n];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = dupstr(name ? name : kiln_op_name(op));
    n->in = malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
    n->out = malloc(sizeof(int) * (size_t)(n_out ? n_out : 1));
    if (!n->name || !n->in || !n->out) {
        node_free(n);
        return -1;
    }
    if (n_in) memcpy(n->in, in, sizeof(int) * (size_t)n_in);
    if (n_out) memcpy(n->out, out, sizeof(int) * (size_t)n_out);
    n->n_in = n_in;
    n->n_out = n_out;
    n->opset = g->opset;
    kiln_attr_default(op, g->opset ? g->opset : 17, &n->a);
    return g->n_n++;
}

int kiln_graph_add_blob(kiln_graph *g, void *ptr, size_t size, int mapped) {
    kiln_blob *nb = realloc(g->blobs, sizeof(kiln_blob) * (size_t)(g->n_blobs + 1));
    if (!nb) return -1;
    g->blobs = nb;
    g->blobs[g->n_blobs++] = (kiln_blob){ptr, size, mapped};
    return 0;
}

static int push_id(int **arr, int *n, int id) {
    int *na = realloc(*arr, sizeof(int) * (size_t)(*n + 1));
    if (!na) return -1;
    na[(*n)++] = id;
    *arr = na;
    return 0;
}

int kiln_graph_mark_input(kiln_graph *g, int tensor) {
    g->t[tensor].kind = KILN_TENSOR_INPUT;
    return push_id(&g->inputs, &g->n_inputs, tensor);
}

int kiln_graph_mark_output(kiln_graph *g, int tensor) {
    g->t[tensor].is_output = 1;
    return push_id(&g->outputs, &g->n_outputs, tensor);
}

int kiln_graph_find(const kiln_graph *g, const char *name) {
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].name && !strcmp(g->t[i].name, name)) return i;
    return -1;
}

int kiln_graph_producer(const kiln_graph *g, int tensor) {
    for (int i = 0; i < g->n_n; i++)
        for (int j = 0; j < g->n[i].n_out; j++)
            if (g->n[i].out[j] == tensor) return i;
    return -1;
}

int kiln_graph_consumers(const kiln_graph *g, int tensor) {
    int c = g->t[tensor].is_output ? 1 : 0;
    for (int i = 0; i < g->n_n; i++)
        for (int j = 0; j < g->n[i].n_in; j++)
            if (g->n[i].in[j] == tensor) c++;
    return c;
}

kiln_status kiln_graph_validate(const kiln_graph *g, kiln_err *e) {
    unsigned char *ready = calloc((size_t)g->n_t + 1, 1);
    if (!ready) return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory validating graph");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].kind != KILN_TENSOR_ACT) ready[i] = 1;
    for (int i = 0; i < g->n_n && st == KILN_OK; i++) {
        const kiln_node *n = &g->n[i];
        if (n->op < 0 || n->op >= KILN_OP_COUNT) {
            st = kiln_err_set(e, KILN_ERR_INTERNAL, "node %d ('%s'): bad op %d", i, n->name, n->op);
            break;
        }
        for (int j = 0; j < n->n_in; j++) {
            int id = n->in[j];
            if (id == -1) continue;
            if (id < 0 || id >= g->n_t) {
                st = kiln_err_set(e, KILN_ERR_INTERNAL, "node '%s' (%s): input %d out of range",
                                  n->name, kiln_op_name(n->op), j);
                break;
            }
            if (!ready[id]) {
                st = kiln_err_set(e, KILN_ERR_PARSE,
                                  "node '%s' (%s): input '%s' is not produced before it is used",
                                  n->name, kiln_op_name(n->op), g->t[id].name);
                break;
            }
        }
        for (int j = 0; j < n->n_out && st == KILN_OK; j++) {
            int id = n->out[j];
            if (id < 0 || id >= g->n_t || g->t[id].kind != KILN_TENSOR_ACT || ready[id]) {
                st = kiln_err_set(e, KILN_ERR_PARSE,
                                  "node '%s' (%s): output %d is not a fresh activation", n->name,
                                  kiln_op_name(n->op), j);
                break;
            }
            ready[id] = 1;
        }
    }
    for (int i = 0; i < g->n_outputs && st == KILN_OK; i++)
        if (!ready[g->outputs[i]])
            st = kiln_err_set(e, KILN_ERR_PARSE, "graph output '%s' is never produced",
                              g->t[g->outputs[i]].name);
    free(ready);
    return st;
}

kiln_status kiln_graph_toposort(kiln_graph *g, kiln_err *e) {
    int nn = g->n_n;
    if (nn == 0) return KILN_OK;
    unsigned char *ready = calloc((size_t)g->n_t + 1, 1);
    unsigned char *done = calloc((size_t)nn, 1);
    kiln_node *order = malloc(sizeof(kiln_node) * (size_t)nn);
    if (!ready || !done || !order) {
        free(ready), free(done), free(order);
        return kiln_err_set(e, KILN_ERR_NOMEM, "out of memory sorting graph");
    }
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].kind != KILN_TENSOR_ACT) ready[i] = 1;
    int placed = 0, progress = 1;
    /* Repeated sweeps keep the original order where it is already valid (stable). */
    while (placed < nn && progress) {
        progress = 0;
        for (int i = 0; i < nn; i++) {
            if (done[i]) continue;
            const kiln_node *n = &g->n[i];
            int ok = 1;
            for (int j = 0; j < n->n_in && ok; j++)
                if (n->in[j] >= 0 && !ready[n->in[j]]) ok = 0;
            if (!ok) continue;
            for (int j = 0; j < n->n_out; j++)
                if (n->out[j] >= 0) ready[n->out[j]] = 1;
            order[placed++] = *n;
            done[i] = 1;
            progress = 1;
        }
    }
    kiln_status st = KILN_OK;
    if (placed < nn) {
        int bad = 0;
        while (done[bad]) bad++;
        const kiln_node *n = &g->n[bad];
        const char *missing = "?";
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && !ready[n->in[j]]) {
                missing = g->t[n->in[j]].name;
                break;
            }
        st = kiln_err_set(e, KILN_ERR_PARSE,
                          "node '%s' (%s): input '%s' is never produced (missing initializer or "
                          "a cycle)",
                          n->name, kiln_op_name(n->op), missing);
        free(order);
    } else {
        free(g->n);
        g->n = order;
        g->cap_n = nn;
    }
    free(ready);
    free(done);
    return st;
}

void kiln_graph_compact(kiln_graph *g) {
    /* Liveness from outputs backwards: a node lives if any output is read by a live node or is a
       graph output. */
    unsigned char *live_t = calloc((size_t)g->n_t + 1, 1);
    unsigned char *live_n = calloc((size_t)g->n_n + 1, 1);
    int *remap = malloc(sizeof(int) * ((size_t)g->n_t + 1));
    if (!live_t || !live_n || !remap) goto out;
    for (int i = 0; i < g->n_outputs; i++) live_t[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_inputs; i++) live_t[g->inputs[i]] = 1;
    for (int i = g->n_n - 1; i >= 0; i--) {
        kiln_node *n = &g->n[i];
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0 && live_t[n->out[j]]) live_n[i] = 1;
        if (!live_n[i]) continue;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0) live_t[n->in[j]] = 1;
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0) live_t[n->out[j]] = 1;
    }
    int k = 0;
    for (int i = 0; i < g->n_n; i++) {
        if (live_n[i]) g->n[k++] = g->n[i];
        else node_free(&g->n[i]);
    }
    g->n_n = k;
    k = 0;
    for (int i = 0; i < g->n_t; i++) {
        if (live_t[i]) {
            remap[i] = k;
            g->t[k++] = g->t[i];
        } else {
            remap[i] = -1;
            tensor_free(&g->t[i]);
        }
    }
    g->n_t = k;
    for (int i = 0; i < g->n_n; i++) {
        kiln_node *n = &g->n[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0) n->in[j] = remap[n->in[j]];
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0) n->out[j] = remap[n->out[j]];
    }
    for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++) g->outputs[i] = remap[g->outputs[i]];
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].alias >= 0) g->t[i].alias = remap[g->t[i].alias];
out:
    free(live_t);
    free(live_n);
    free(remap);
}

kiln_graph *kiln_graph_clone(const kiln_graph *g) {
    kiln_graph *c = kiln_graph_create();
    if (!c) return NULL;
    c->name = dupstr(g->name);
    c->opset = g->opset;
    for (int i = 0; i < g->n_t; i++) {
        const kiln_tensor *t = &g->t[i];
        int id = kiln_graph_add_tensor(c, t->name, (kiln_tensor_kind)t->kind, t->dtype, &t->shape);
        if (id < 0) goto fail;
        kiln_tensor *ct = &c->t[id];
        ct->is_output = t->is_output;
        ct->alias = t->alias;
        ct->alias_offset = t->alias_offset;
        for (int d = 0; d < KILN_MAX_DIMS; d++)
            if (t->sym[d] && !(ct->sym[d] = dupstr(t->sym[d]))) goto fail;
        if (t->data) {
            size_t nb = kiln_tensor_nbytes(t);
            ct->data = malloc(nb ? nb : 1);
            if (!ct->data) goto fail;
            memcpy(ct->data, t->data, nb);
            ct->owns_data = 1;
        }
    }
    for (int i = 0; i < g->n_n; i++) {
        const kiln_node *n = &g->n[i];
        int k = kiln_graph_add_node(c, (kiln_op)n->op, n->name, n->n_in, n->in, n->n_out, n->out);
        if (k < 0) goto fail;
        c->n[k].opset = n->opset;
        c->n[k].a = n->a;
        if (n->label && !(c->n[k].label = dupstr(n->label))) goto fail;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (push_id(&c->inputs, &c->n_inputs, g->inputs[i])) goto fail;
    for (int i = 0; i < g->n_outputs; i++)
        if (push_id(&c->outputs, &c->n_outputs, g->outputs[i])) goto fail;
    return c;
fail:
    kiln_graph_destroy(c);
    return NULL;
}

int64_t kiln_shape_numel(const kiln_shape *s) {
    if (s->ndim < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0) return -1;
        n *= s->d[i];
    }
    return n;
}

int kiln_shape_eq(const kiln_shape *a, const kiln_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

kiln_shape kiln_shape_make(int ndim, const int64_t *d) {
    kiln_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim && i < KILN_MAX_DIMS; i++) s.d[i] = d[i];
    return s;
}

char *kiln_shape_str(const kiln_shape *s, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    if (s->ndim < 0) {
        snprintf(buf, n, "?");
        return buf;
    }
    if (s->ndim == 0) {
        snprintf(buf, n, "scalar");
        return buf;
    }
    for (int i = 0; i < s->ndim && k < n; i++) {
        int w = s->d[i] < 0 ? snprintf(buf + k, n - k, "%s?", i ? "x" : "")
                            : snprintf(buf + k, n - k, "%s%lld", i ? "x" : "", (long long)s->d[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}

size_t kiln_tensor_nbytes(const kiln_tensor *t) {
    int64_t n = kiln_shape_numel(&t->shape);
    return n < 0 ? 0 : (size_t)n * kiln_dtype_size(t->dtype);
}
