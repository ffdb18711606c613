/* The zoo's layer calls: weights, nodes, and the builder's own batch-1 shape bookkeeping.
 *
 * Weights are chosen so an untrained network still computes something well-scaled (finite,
 * moderate logits that depend on the input) through 150+ layers, since eval-mode batch norm
 * applies fixed statistics instead of normalizing:
 *   - conv and hidden Linear weights: He init in fan_in mode, std sqrt(2 / fan_in). fan_in (not
 *     torchvision's fan_out) is what keeps the forward second moment constant through ReLU;
 *   - batch norm: gamma ~ U(0.8, 1.1), running_var ~ U(0.5, 1.5), so E[gamma^2 / var] ~ 1; beta
 *     and running_mean ~ N(0, 0.1); a residual branch's last gamma is scaled down by the model;
 *   - biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's default.
 * Each constant draws from its own stream, keyed by (seed, model, tensor name), so a weight does
 * not change when layers are added elsewhere. Normal draws use the sum of four 16-bit uniforms
 * (Irwin-Hall, one 64-bit draw per value, within 3.5 std): VGG-16 has 138M weights, and
 * Box-Muller's log/cos per value would make building it take seconds.
 */
#include "zoo/zoo_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define NAME_MAX_LEN 256

/* ---- errors and bookkeeping ----------------------------------------------------------------- */

int kiln__zb_fail(kiln__zb *b, kiln_status s, const char *msg) {
    if (b->st == KILN_OK) {
        b->st = s;
        kiln_err_set(b->e, s, "zoo %s: %s", b->model, msg);
    }
    return -1;
}

static int nomem(kiln__zb *b) { return kiln__zb_fail(b, KILN_ERR_NOMEM, "out of memory"); }

/* Record tensor id's batch-1 shape, growing the table with the graph. */
static int track(kiln__zb *b, int id, const kiln_shape *s) {
    kiln_shape v = *s; /* s may point into the table that is about to move */
    if (id < 0) return nomem(b);
    if (id >= b->cap_shape) {
        int nc = b->cap_shape ? b->cap_shape * 2 : 256;
        while (nc <= id) nc *= 2;
        kiln_shape *ns = realloc(b->shape, sizeof(kiln_shape) * (size_t)nc);
        if (!ns) return nomem(b);
        b->shape = ns;
        b->cap_shape = nc;
    }
    b->shape[id] = v;
    return id;
}

const kiln_shape *kiln__zb_shape(const kiln__zb *b, int id) {
    if (b->st != KILN_OK || id < 0 || id >= b->g->n_t) return NULL;
    return &b->shape[id];
}

static const char *tname(const kiln__zb *b, int id) { return b->g->t[id].name; }

/* The name of a layer's output: m, or the input's name + "." + suffix when m is NULL. */
static const char *out_name(const kiln__zb *b, int x, const char *m, const char *suffix,
                            char *buf) {
    if (m) return m;
    snprintf(buf, NAME_MAX_LEN, "%s.%s", tname(b, x), suffix);
    return buf;
}

/* ---- weights -------------------------------------------------------------------------------- */

static uint64_t name_hash(const char *model, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const char *p = model; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ '/') * 0x100000001b3ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

typedef enum { INIT_NORMAL, INIT_UNIFORM } init_kind;

/* Debug and sanitizer builds (-O0) spend most of every zoo build here, in every test that builds
   a zoo model: optimize this one loop anyway (the sanitizer still checks its stores). With it the
   ASan build of test_zoo (all ten models) went from 8.9 to 7.1 s of CPU; the rest is page
   faults on the fresh weight memory. */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT_LOOP __attribute__((optimize("O2")))
#else
#define HOT_LOOP
#endif

/* SplitMix64's output function (as kiln_rng's seeding): element i of a tensor is mix(key + (i+1)
   * golden), a counter-based stream. Unlike stepping a generator held in memory it keeps all
   state in registers, so the loop is bound by memory writes even in sanitizer builds. */
HOT_LOOP static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15ull

/* Normal(0, a) approximately (a = std), or Uniform(a, c), from stream key. */
HOT_LOOP static void fill(float *w, int64_t n, uint64_t key, init_kind kind, double a, double c) {
    uint64_t x = key;
    if (kind == INIT_NORMAL) {
        /* Four 16-bit uniforms summed and centred: variance 4 * 65536^2 / 12 (up to 1/65536^2). */
        const float k = (float)(a * sqrt(3.0) / 65536.0);
        for (int64_t i = 0; i < n; i++) {
            uint64_t v = mix64(x += GOLDEN);
            int32_t s = (int32_t)(v & 0xffff) + (int32_t)((v >> 16) & 0xffff) +
                        (int32_t)((v >> 32) & 0xffff) + (int32_t)(v >> 48) - 2 * 65535;
            w[i] = (float)s * k;
        }
    } else {
        const double scale = (c - a) / 9007199254740992.0; /* 53-bit uniform in [0, 1) */
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(a + (double)(mix64(x += GOLDEN) >> 11) * scale);
    }
}

/* Add constant m + "." + suffix of the given shape filled from the distribution. */
static int param(kiln__zb *b, const char *m, const char *suffix, int ndim, const int64_t *dims,
                 init_kind kind, double a, double c) {
    if (b->st != KILN_OK) return -1;
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s.%s", m, suffix);
    kiln_shape s = kiln_shape_make(ndim, dims);
    int64_t n = kiln_shape_numel(&s);
    if (b->no_weights) return track(b, kiln_graph_add_const(b->g, name, KILN_F32, &s, NULL, 0), &s);
    float *w = malloc(sizeof(float) * (size_t)n);
    if (!w) return nomem(b);
    /* The stream's key: (seed, model, tensor name) through kiln_rng, so a weight does not depend
       on which layers come before it. */
    kiln_rng r;
    kiln_rng_seed(&r, b->seed ^ name_hash(b->model, name));
    fill(w, n, kiln_rng_next(&r), kind, a, c);
    return track(b, kiln_graph_add_const(b->g, name, KILN_F32, &s, w, 1), &s);
}

/* A rank-0 float constant (Clip's bounds). */
static int scalar(kiln__zb *b, const char *name, float v) {
    if (b->st != KILN_OK) return -1;
    float *p = malloc(sizeof *p);
    if (!p) return nomem(b);
    *p = v;
    kiln_shape s = kiln_shape_make(0, NULL);
    return track(b, kiln_graph_add_const(b->g, name, KILN_F32, &s, p, 1), &s);
}

/* ---- nodes ---------------------------------------------------------------------------------- */

/* Add node op reading in[] and writing a new activation `name` of batch-1 shape os. Returns the
   node (valid until the next node is added) and its output id in *out, or NULL. */
static kiln_node *node(kiln__zb *b, kiln_op op, const char *name, int nin, const int *in,
                       const kiln_shape *os, int *out) {
    *out = -1;
    if (b->st != KILN_OK) return NULL;
    for (int i = 0; i < nin; i++)
        if (in[i] < 0) return NULL;
    int y = track(b, kiln_graph_add_tensor(b->g, name, KILN_TENSOR_ACT, KILN_F32, NULL), os);
    if (y < 0) return NULL;
    int k = kiln_graph_add_node(b->g, op, name, nin, in, 1, &y);
    if (k < 0) {
        nomem(b);
        return NULL;
    }
    *out = y;
    return &b->g->n[k];
}

int kiln__zb_begin(kiln__zb *b, const char *model, uint64_t seed, int64_t c, int64_t h,
                   int64_t w, kiln_err *e) {
    memset(b, 0, sizeof *b);
    b->model = model;
    b->seed = seed;
    b->e = e;
    b->clip_lo = b->clip_hi = -1;
    b->g = kiln_graph_create();
    if (!b->g) return nomem(b);
    b->g->opset = 17;
    b->g->name = strdup(model);
    if (!b->g->name) return nomem(b);
    kiln_shape decl = kiln_shape_make(4, (int64_t[]){-1, c, h, w});
    kiln_shape one = kiln_shape_make(4, (int64_t[]){1, c, h, w});
    int x = track(b, kiln_graph_add_tensor(b->g, "input", KILN_TENSOR_INPUT, KILN_F32, &decl),
                  &one);
    if (x < 0) return -1;
    b->g->t[x].sym[0] = strdup("batch");
    if (!b->g->t[x].sym[0] || kiln_graph_mark_input(b->g, x)) return nomem(b);
    return x;
}

kiln_status kiln__zb_end(kiln__zb *b, int logits, kiln_graph **out) {
    *out = NULL;
    if (b->st == KILN_OK && logits >= 0) {
        kiln_tensor *t = &b->g->t[logits];
        char *nm = strdup("output");
        if (!nm || kiln_graph_mark_output(b->g, logits)) {
            free(nm);
            nomem(b);
        } else {
            free(t->name);
            t->name = nm;
        }
    }
    if (b->st == KILN_OK && logits < 0)
        kiln__zb_fail(b, KILN_ERR_INTERNAL, "the model produced no logits");
    if (b->st == KILN_OK) {
        kiln_status s = kiln_graph_validate(b->g, b->e);
        if (s != KILN_OK) {
            kiln_err_prefix(b->e, "zoo %s", b->model);
            b->st = s;
        }
    }
    if (b->st != KILN_OK) return b->st;
    *out = b->g;
    return KILN_OK;
}

void kiln__zb_free(kiln__zb *b) {
    free(b->shape);
    b->shape = NULL;
    if (b->st != KILN_OK) kiln_graph_destroy(b->g);
    b->g = NULL;
}

/* ---- layers --------------------------------------------------------------------------------- */

static void set_spatial(int64_t *a, int64_t v) { a[0] = a[1] = v; }

int kiln__zb_conv(kiln__zb *b, int x, const char *m, int64_t cout, int64_t k, int64_t stride,
                  int64_t pad, int64_t group, int bias) {
    if (b->st != KILN_OK || x < 0) return -1;
    const kiln_shape xsv = b->shape[x], *xs = &xsv; /* param() below may move the table */
    int64_t cin = xs->d[1];
    if (cin % group || cout % group) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "bad conv groups");
    int64_t ho = (xs->d[2] + 2 * pad - k) / stride + 1, wo = (xs->d[3] + 2 * pad - k) / stride + 1;
    int64_t fan_in = cin / group * k * k;
    int in[3];
    in[0] = x;
    in[1] = param(b, m, "weight", 4, (int64_t[]){cout, cin / group, k, k}, INIT_NORMAL,
                  sqrt(2.0 / (double)fan_in), 0);
    double bb = 1.0 / sqrt((double)fan_in);
    if (bias) in[2] = param(b, m, "bias", 1, (int64_t[]){cout}, INIT_UNIFORM, -bb, bb);
    kiln_shape os = kiln_shape_make(4, (int64_t[]){xs->d[0], cout, ho, wo});
    int y;
    kiln_node *n = node(b, KILN_OP_CONV, m, bias ? 3 : 2, in, &os, &y);
    if (!n) return -1;
    kiln_conv_attr *a = &n->a.conv;
    a->nspatial = 2;
    set_spatial(a->kernel, k);
    set_spatial(a->stride, stride);
    set_spatial(a->pad_begin, pad);
    set_spatial(a->pad_end, pad);
    a->group = group;
    b->macs += kiln_shape_numel(&os) * fan_in;
    return y;
}

int kiln__zb_bn(kiln__zb *b, int x, const char *m, float eps, float gamma_scale) {
    if (b->st != KILN_OK || x < 0) return -1;
    int64_t c = b->shape[x].d[1];
    int64_t d[1] = {c};
    int in[5];
    in[0] = x;
    in[1] = param(b, m, "weight", 1, d, INIT_UNIFORM, 0.8 * gamma_scale, 1.1 * gamma_scale);
    in[2] = param(b, m, "bias", 1, d, INIT_NORMAL, 0.1, 0);
    in[3] = param(b, m, "running_mean", 1, d, INIT_NORMAL, 0.1, 0);
    in[4] = param(b, m, "running_var", 1, d, INIT_UNIFORM, 0.5, 1.5);
    int y;
    kiln_node *n = node(b, KILN_OP_BATCHNORM, m, 5, in, &b->shape[x], &y);
    if (!n) return -1;
    n->a.bn.epsilon = eps;
    return y;
}

int kiln__zb_relu(kiln__zb *b, int x, const char *m) {
    if (b->st != KILN_OK || x < 0) return -1;
    char buf[NAME_MAX_LEN];
    int y;
    node(b, KILN_OP_RELU, out_name(b, x, m, "relu", buf), 1, &x, &b->shape[x], &y);
    return y;
}

int kiln__zb_relu6(kiln__zb *b, int x, const char *m) {
    if (b->st != KILN_OK || x < 0) return -1;
    /* One pair of bounds serves every Clip, as the exporter's constants would after dedup. */
    if (b->clip_lo < 0) b->clip_lo = scalar(b, "clip.min", 0.0f);
    if (b->clip_hi < 0) b->clip_hi = scalar(b, "clip.max", 6.0f);
    char buf[NAME_MAX_LEN];
    int y;
    node(b, KILN_OP_CLIP, out_name(b, x, m, "relu6", buf), 3, (int[]){x, b->clip_lo, b->clip_hi},
         &b->shape[x], &y);
    return y;
}

/* Pooled size as PyTorch computes it: with ceil_mode the last window must start inside the
   input or its left padding (ONNX gives the same sizes for every pool in the zoo). */
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int ceil_mode) {
    int64_t span = in + 2 * p - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

static int pool(kiln__zb *b, kiln_op op, int x, const char *m, int64_t k, int64_t stride,
                int64_t pad, int ceil_mode) {
    if (b->st != KILN_OK || x < 0) return -1;
    const kiln_shape *xs = &b->shape[x];
    kiln_shape os = kiln_shape_make(
        4, (int64_t[]){xs->d[0], xs->d[1], pool_out(xs->d[2], k, stride, pad, ceil_mode),
                       pool_out(xs->d[3], k, stride, pad, ceil_mode)});
    int y;
    kiln_node *n = node(b, op, m, 1, &x, &os, &y);
    if (!n) return -1;
    kiln_pool_attr *a = &n->a.pool;
    a->nspatial = 2;
    set_spatial(a->kernel, k);
    set_spatial(a->stride, stride);
    set_spatial(a->pad_begin, pad);
    set_spatial(a->pad_end, pad);
    a->ceil_mode = ceil_mode;
    return y;
}

int kiln__zb_maxpool(kiln__zb *b, int x, const char *m, int64_t k, int64_t stride, int64_t pad,
                     int ceil_mode) {
    return pool(b, KILN_OP_MAXPOOL, x, m, k, stride, pad, ceil_mode);
}

int kiln__zb_avgpool(kiln__zb *b, int x, const char *m, int64_t k, int64_t stride) {
    return pool(b, KILN_OP_AVGPOOL, x, m, k, stride, 0, 0);
}

int kiln__zb_gap(kiln__zb *b, int x, const char *m) {
    if (b->st != KILN_OK || x < 0) return -1;
    const kiln_shape *xs = &b->shape[x];
    kiln_shape os = kiln_shape_make(4, (int64_t[]){xs->d[0], xs->d[1], 1, 1});
    int y;
    node(b, KILN_OP_GLOBAL_AVGPOOL, m, 1, &x, &os, &y);
    return y;
}

int kiln__zb_flatten(kiln__zb *b, int x, const char *m) {
    if (b->st != KILN_OK || x < 0) return -1;
    const kiln_shape *xs = &b->shape[x];
    kiln_shape os = kiln_shape_make(2, (int64_t[]){xs->d[0], kiln_shape_numel(xs) / xs->d[0]});
    int y;
    kiln_node *n = node(b, KILN_OP_FLATTEN, m, 1, &x, &os, &y);
    if (n) n->a.axis.axis = 1;
    return y;
}

int kiln__zb_linear(kiln__zb *b, int x, const char *m, int64_t nout, double gain) {
    if (b->st != KILN_OK || x < 0) return -1;
    const kiln_shape xsv = b->shape[x], *xs = &xsv; /* param() below may move the table */
    if (xs->ndim != 2) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "Linear needs a 2-D input");
    int64_t nin = xs->d[1];
    double bb = 1.0 / sqrt((double)nin);
    int in[3];
    in[0] = x;
    in[1] = param(b, m, "weight", 2, (int64_t[]){nout, nin}, INIT_NORMAL, sqrt(gain / (double)nin),
                  0);
    in[2] = param(b, m, "bias", 1, (int64_t[]){nout}, INIT_UNIFORM, -bb, bb);
    kiln_shape os = kiln_shape_make(2, (int64_t[]){xs->d[0], nout});
    int y;
    kiln_node *n = node(b, KILN_OP_GEMM, m, 3, in, &os, &y);
    if (!n) return -1;
    n->a.gemm.trans_b = 1; /* torch.nn.Linear stores W as out x in */
    b->macs += xs->d[0] * nout * nin;
    return y;
}

int kiln__zb_add(kiln__zb *b, int x, int z, const char *m) {
    if (b->st != KILN_OK || x < 0 || z < 0) return -1;
    if (!kiln_shape_eq(&b->shape[x], &b->shape[z]))
        return kiln__zb_fail(b, KILN_ERR_INTERNAL, "residual Add of different shapes");
    int y;
    node(b, KILN_OP_ADD, m, 2, (int[]){x, z}, &b->shape[x], &y);
    return y;
}

int kiln__zb_concat(kiln__zb *b, const int *xs, int n, const char *m) {
    if (b->st != KILN_OK) return -1;
    if (n < 1) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "Concat of nothing");
    for (int i = 0; i < n; i++)
        if (xs[i] < 0) return -1;
    kiln_shape os = b->shape[xs[0]];
    for (int i = 1; i < n; i++) {
        const kiln_shape *s = &b->shape[xs[i]];
        if (s->d[0] != os.d[0] || s->d[2] != os.d[2] || s->d[3] != os.d[3])
            return kiln__zb_fail(b, KILN_ERR_INTERNAL, "Concat of different spatial shapes");
        os.d[1] += s->d[1];
    }
    int y;
    kiln_node *nd = node(b, KILN_OP_CONCAT, m, n, xs, &os, &y);
    if (nd) nd->a.axis.axis = 1;
    return y;
}
