/* cpu_gemm_bench — GFLOP/s of the CPU backend's GEMM engine and of ResNet-50's convolution
 * layers (batch 1, 224x224, bias + ReLU fused, residual fused where ResNet adds it), and the
 * resulting estimate of a ResNet-50 forward pass. Not a test: run it by hand.
 *
 *   kiln_cpu_gemm_bench [threads] [--variants] [--layer N] [--reps N] [--cold] [--batch N]
 *                       [--prepared] [--no-gemm]
 *
 * threads 0 (default): one per core. --variants times every GEMM micro-kernel the CPU runs;
 * --layer times only ResNet-50 conv layer N (for profiling); --cold evicts the caches before
 * each timed run, as a whole network does (its 100 MB of weights stream from memory); --batch
 * runs the layers on N images; --prepared times them as an engine runs them, with the state
 * kiln_cpu_prepare_node makes once (packed filters, Winograd); --no-gemm skips the plain GEMM
 * table. Each
 * measurement is the best of
 * several runs after a warm-up (the machine may be shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rnd(kiln_rng *r, int64_t n) {
    float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) & ~(size_t)63);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(kiln_rng_uniform(r) * 2 - 1);
    return p;
}

static int g_reps = 5;
static char *g_flush; /* --cold: written before each timed run to evict the caches */
#define FLUSH_BYTES ((size_t)256 << 20)

typedef void (*bench_fn)(void *ctx);

/* Best time of `reps` runs of fn after one warm-up. */
static double best_of(int reps, bench_fn fn, void *ctx) {
    fn(ctx);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        if (g_flush)
            for (size_t i = 0; i < FLUSH_BYTES; i += 64) g_flush[i]++;
        double t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}


typedef struct gemm_ctx {
    kiln_cpu *cpu;
    const kiln_gemm *g;
    int variant;
} gemm_ctx;

static void gemm_once(void *p) {
    gemm_ctx *c = p;
    kiln_err e;
    if (kiln_gemm_run_variant(c->cpu, c->g, c->variant, &e) != KILN_OK) fprintf(stderr, "gemm: %s\n", e.msg);
}

typedef struct node_ctx {
    kiln_cpu *cpu;
    const kiln_node *n;
    kiln_view *in, *out;
    const kiln_cpu_prepared *pp;
} node_ctx;

static int g_batch = 1, g_prepared = 0;

static void node_once(void *p) {
    node_ctx *c = p;
    kiln_err e;
    if (kiln_cpu_run_prepared(c->cpu, c->n, c->pp, c->in, c->out, &e) != KILN_OK)
        fprintf(stderr, "%s: %s\n", kiln_op_name(c->n->op), e.msg);
}

static void bench_gemm(kiln_cpu *cpu, kiln_rng *r, int variants) {
    static const int64_t shapes[][3] = {
        {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {64, 3136, 576}, {512, 49, 4608}, {2048, 49, 512},
    };
    printf("%-14s %6s %6s %6s %10s %9s\n", "variant", "M", "N", "K", "ms", "GFLOP/s");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = rnd(r, m * k), *b = rnd(r, k * n), *c = rnd(r, m * n);
        kiln_gemm g = {.m = m, .n = n, .k = k, .a = a, .a_rs = k, .a_cs = 1, .b = b, .b_rs = n, .b_cs = 1,
                       .c = c, .ldc = n, .alpha = 1.0f};
        for (int v = 0; v < (variants ? kiln_gemm_variant_count() : 1); v++) {
            if (!kiln_gemm_variant_supported(v)) continue;
            gemm_ctx gc = {cpu, &g, v};
            double t = best_of(g_reps, gemm_once, &gc);
            printf("%-14s %6lld %6lld %6lld %10.3f %9.1f\n", v ? kiln_gemm_variant_name(v) : "default", (long long)m,
                   (long long)n, (long long)k, t * 1e3, 2.0 * (double)(m * n * k) / t * 1e-9);
        }
        free(a), free(b), free(c);
    }
}

typedef struct conv_layer {
    const char *name;
    int64_t cin, cout, hw, k, stride, count;
    int residual;
} conv_layer;

/* torchvision ResNet-50 (v1.5: the stride sits on the 3x3 conv), batch 1, 224x224. */
static const conv_layer resnet50[] = {
    {"conv1 7x7/2", 3, 64, 224, 7, 2, 1, 0},
    {"l1 1x1 64>64", 64, 64, 56, 1, 1, 1, 0},
    {"l1 1x1 256>64", 256, 64, 56, 1, 1, 2, 0},
    {"l1 3x3 64", 64, 64, 56, 3, 1, 3, 0},
    {"l1 1x1 64>256", 64, 256, 56, 1, 1, 3, 1},
    {"l1 ds 64>256", 64, 256, 56, 1, 1, 1, 0},
    {"l2 1x1 256>128", 256, 128, 56, 1, 1, 1, 0},
    {"l2 3x3/2 128", 128, 128, 56, 3, 2, 1, 0},
    {"l2 1x1 512>128", 512, 128, 28, 1, 1, 3, 0},
    {"l2 3x3 128", 128, 128, 28, 3, 1, 3, 0},
    {"l2 1x1 128>512", 128, 512, 28, 1, 1, 4, 1},
    {"l2 ds/2 256>512", 256, 512, 56, 1, 2, 1, 0},
    {"l3 1x1 512>256", 512, 256, 28, 1, 1, 1, 0},
    {"l3 3x3/2 256", 256, 256, 28, 3, 2, 1, 0},
    {"l3 1x1 1024>256", 1024, 256, 14, 1, 1, 5, 0},
    {"l3 3x3 256", 256, 256, 14, 3, 1, 5, 0},
    {"l3 1x1 256>1024", 256, 1024, 14, 1, 1, 6, 1},
    {"l3 ds/2 512>1024", 512, 1024, 28, 1, 2, 1, 0},
    {"l4 1x1 1024>512", 1024, 512, 14, 1, 1, 1, 0},
    {"l4 3x3/2 512", 512, 512, 14, 3, 2, 1, 0},
    {"l4 1x1 2048>512", 2048, 512, 7, 1, 1, 2, 0},
    {"l4 3x3 512", 512, 512, 7, 3, 1, 2, 0},
    {"l4 1x1 512>2048", 512, 2048, 7, 1, 1, 3, 1},
    {"l4 ds/2 1024>2048", 1024, 2048, 14, 1, 2, 1, 0},
};

static double run_node(kiln_cpu *cpu, const kiln_node *n, kiln_view *in, kiln_view *out) {
    kiln_cpu_prepared *pp = NULL;
    kiln_err e;
    if (g_prepared && kiln_cpu_prepare_node(n, in, kiln_pool_size(kiln_cpu_pool(cpu)), &pp, &e) != KILN_OK)
        fprintf(stderr, "prepare %s: %s\n", kiln_op_name(n->op), e.msg);
    node_ctx c = {cpu, n, in, out, pp};
    double t = best_of(g_reps, node_once, &c);
    kiln_cpu_prepared_free(pp);
    return t;
}

static void bench_resnet50(kiln_cpu *cpu, kiln_rng *r, int only) {
    printf("\n%-18s %5s %9s %9s %9s %10s\n", "ResNet-50 layer", "count", "MMAC", "ms", "GFLOP/s", "total ms");
    double total = 0, macs = 0;
    int ids_in[4] = {0, 1, 2, 3}, ids_out[1] = {4};
    for (size_t l = 0; l < sizeof resnet50 / sizeof resnet50[0]; l++) {
        if (only >= 0 && (int)l != only) continue;
        const conv_layer *c = &resnet50[l];
        int64_t pad = c->k / 2, out_hw = (c->hw + 2 * pad - c->k) / c->stride + 1;
        kiln_node n;
        memset(&n, 0, sizeof n);
        n.op = KILN_OP_CONV;
        n.name = (char *)c->name;
        n.n_in = c->residual ? 4 : 3;
        n.n_out = 1;
        n.in = ids_in;
        n.out = ids_out;
        kiln_attr_default(KILN_OP_CONV, 13, &n.a);
        n.a.conv.nspatial = 2;
        for (int i = 0; i < 2; i++) {
            n.a.conv.kernel[i] = c->k;
            n.a.conv.stride[i] = c->stride;
            n.a.conv.pad_begin[i] = n.a.conv.pad_end[i] = pad;
        }
        n.a.conv.act.type = KILN_ACT_RELU;
        n.a.conv.has_residual = c->residual;
        int64_t b = g_batch;
        kiln_view in[4] = {
            {KILN_F32, {4, {b, c->cin, c->hw, c->hw}}, rnd(r, b * c->cin * c->hw * c->hw)},
            {KILN_F32, {4, {c->cout, c->cin, c->k, c->k}}, rnd(r, c->cout * c->cin * c->k * c->k)},
            {KILN_F32, {1, {c->cout}}, rnd(r, c->cout)},
            {KILN_F32, {4, {b, c->cout, out_hw, out_hw}}, rnd(r, b * c->cout * out_hw * out_hw)},
        };
        kiln_view out[1] = {{KILN_F32, {4, {b, c->cout, out_hw, out_hw}}, rnd(r, b * c->cout * out_hw * out_hw)}};
        double mac = (double)b * c->cout * out_hw * out_hw * c->cin * c->k * c->k;
        double t = run_node(cpu, &n, in, out);
        total += t * c->count;
        macs += mac * c->count;
        printf("%-18s %5lld %9.1f %9.3f %9.1f %10.2f\n", c->name, (long long)c->count, mac * 1e-6, t * 1e3,
               2 * mac / t * 1e-9, t * c->count * 1e3);
        for (int i = 0; i < 4; i++) free(in[i].data);
        free(out[0].data);
    }
    if (only >= 0) return;
    /* The rest of the network: max pool, global average pool, the classifier. */
    double rest = 0;
    {
        kiln_node n;
        memset(&n, 0, sizeof n);
        n.op = KILN_OP_MAXPOOL;
        n.n_in = 1, n.n_out = 1, n.in = ids_in, n.out = ids_out;
        kiln_attr_default(KILN_OP_MAXPOOL, 13, &n.a);
        n.a.pool.nspatial = 2;
        for (int i = 0; i < 2; i++) n.a.pool.kernel[i] = 3, n.a.pool.stride[i] = 2, n.a.pool.pad_begin[i] = n.a.pool.pad_end[i] = 1;
        int64_t b = g_batch;
        kiln_view in[1] = {{KILN_F32, {4, {b, 64, 112, 112}}, rnd(r, b * 64 * 112 * 112)}};
        kiln_view out[1] = {{KILN_F32, {4, {b, 64, 56, 56}}, rnd(r, b * 64 * 56 * 56)}};
        double t = run_node(cpu, &n, in, out);
        printf("%-18s %5d %9s %9.3f\n", "maxpool 3x3/2", 1, "", t * 1e3);
        rest += t;
        free(in[0].data), free(out[0].data);
    }
    {
        kiln_node n;
        memset(&n, 0, sizeof n);
        n.op = KILN_OP_GEMM;
        n.n_in = 3, n.n_out = 1, n.in = ids_in, n.out = ids_out;
        kiln_attr_default(KILN_OP_GEMM, 13, &n.a);
        n.a.gemm.trans_b = 1;
        int64_t b = g_batch;
        kiln_view in[3] = {{KILN_F32, {2, {b, 2048}}, rnd(r, b * 2048)},
                           {KILN_F32, {2, {1000, 2048}}, rnd(r, 2048 * 1000)},
                           {KILN_F32, {1, {1000}}, rnd(r, 1000)}};
        kiln_view out[1] = {{KILN_F32, {2, {b, 1000}}, rnd(r, b * 1000)}};
        double t = run_node(cpu, &n, in, out);
        printf("%-18s %5d %9.1f %9.3f %9.1f\n", "fc 2048>1000", 1, 2.048 * b, t * 1e3, 2 * 2.048e6 * b / t * 1e-9);
        rest += t;
        macs += 2.048e6 * b;
        for (int i = 0; i < 3; i++) free(in[i].data);
        free(out[0].data);
    }
    printf("\nconvolutions: %.1f ms for %.2f GMAC (%.1f GFLOP/s sustained)\n", total * 1e3, macs * 1e-9,
           2 * macs / (total + rest) * 1e-9);
    printf("estimated ResNet-50 batch %d (convs + maxpool + fc; global pool and adds are fused/negligible): "
           "%.1f ms\n", g_batch, (total + rest) * 1e3);
}

int main(int argc, char **argv) {
    int threads = 0, variants = 0, only = -1, no_gemm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--variants")) variants = 1;
        else if (!strcmp(argv[i], "--layer") && i + 1 < argc) only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cold")) g_flush = calloc(1, FLUSH_BYTES);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) g_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prepared")) g_prepared = 1;
        else if (!strcmp(argv[i], "--no-gemm")) no_gemm = 1;
        else threads = atoi(argv[i]);
    }
    kiln_cpu *cpu = kiln_cpu_create(threads);
    kiln_rng r;
    kiln_rng_seed(&r, 42);
    printf("threads: %d, GEMM kernel: %s\n", kiln_pool_size(kiln_cpu_pool(cpu)), kiln_gemm_variant_name(0));
    if (only < 0 && !no_gemm) bench_gemm(cpu, &r, variants);
    bench_resnet50(cpu, &r, only);
    kiln_cpu_destroy(cpu);
    free(g_flush);
    return 0;
}
