#include <time.h>
#include "tensor_test_util.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void bench(const char *name, kiln_cpu *cpu, kiln_node *n, kiln_view *in, int bytes_io_mult) {
    kiln_view out[4]; kiln_err e;
    if (tt_infer_run(cpu, n, in, out, &e) != KILN_OK) { printf("%s: %s\n", name, e.msg); return; }
    double best = 1e9;
    for (int r = 0; r < 15; r++) { double t0 = now(); kiln_cpu_run_node(cpu, n, in, out, &e); double t = now() - t0; if (t < best) best = t; }
    double bytes = 0; for (int i = 0; i < n->n_in; i++) if (in[i].shape.ndim >= 0) bytes += tt_numel(&in[i]) * kiln_dtype_size(in[i].dtype);
    for (int j = 0; j < n->n_out; j++) bytes += tt_numel(&out[j]) * kiln_dtype_size(out[j].dtype);
    printf("%-34s %8.1f us  %6.1f GB/s\n", name, best * 1e6, bytes / best / 1e9);
    for (int j = 0; j < n->n_out; j++) tt_free(&out[j]);
    (void)bytes_io_mult;
}
int main(int argc, char **argv) {
    int th = argc > 1 ? atoi(argv[1]) : 1;
    kiln_cpu *cpu = kiln_cpu_create(th);
    kiln_rng rng; kiln_rng_seed(&rng, 1);
    int64_t big[4] = {8, 64, 56, 56};
    kiln_view a = tt_view(KILN_F32, 4, big), b = tt_view(KILN_F32, 4, big);
    tt_fill(&rng, &a, -1, 1); tt_fill(&rng, &b, -1, 1);
    kiln_view ch = tt_view(KILN_F32, 3, (int64_t[]){64,1,1}); tt_fill(&rng, &ch, -1, 1);
    kiln_view se = tt_view(KILN_F32, 4, (int64_t[]){8,64,1,1}); tt_fill(&rng, &se, -1, 1);
    kiln_node n = tt_node(KILN_OP_ADD, 17, 2, 1);
    kiln_view ab[2] = {a, b}; bench("add same 8x64x56x56", cpu, &n, ab, 0);
    kiln_view ac[2] = {a, ch}; bench("add per-channel [64,1,1]", cpu, &n, ac, 0);
    n = tt_node(KILN_OP_MUL, 17, 2, 1);
    kiln_view as[2] = {a, se}; bench("mul SE [8,64,1,1]", cpu, &n, as, 0);
    n = tt_node(KILN_OP_CLIP, 13, 3, 1);
    kiln_view cl[3] = {a, tt_scalar(KILN_F32, 0), tt_scalar(KILN_F32, 6)}; bench("clip relu6", cpu, &n, cl, 0);
    n = tt_node(KILN_OP_RELU, 17, 1, 1); bench("relu", cpu, &n, &a, 0);
    n = tt_node(KILN_OP_SIGMOID, 17, 1, 1); bench("sigmoid", cpu, &n, &a, 0);
    n = tt_node(KILN_OP_HARD_SWISH, 17, 1, 1); bench("hardswish", cpu, &n, &a, 0);
    n = tt_node(KILN_OP_IDENTITY, 17, 1, 1); bench("identity (memcpy)", cpu, &n, &a, 0);
    kiln_view sh = a; sh.shape = kiln_shape_make(5, (int64_t[]){8, 2, 32, 56, 56});
    n = tt_node(KILN_OP_TRANSPOSE, 13, 1, 1); n.a.transpose.nperm = 5; memcpy(n.a.transpose.perm, (int64_t[]){0,2,1,3,4}, 40);
    bench("transpose shuffle g=2", cpu, &n, &sh, 0);
    n.a.transpose.nperm = 4; memcpy(n.a.transpose.perm, (int64_t[]){0,2,3,1}, 32);
    bench("transpose NCHW->NHWC", cpu, &n, &a, 0);
    memcpy(n.a.transpose.perm, (int64_t[]){0,3,1,2}, 32);
    bench("transpose NHWC->NCHW", cpu, &n, &a, 0);
    kiln_view q = tt_view(KILN_F32, 4, (int64_t[]){8, 64, 28, 28}); tt_fill(&rng, &q, -1, 1);
    n = tt_node(KILN_OP_CONCAT, 13, 4, 1); n.a.axis.axis = 1;
    kiln_view c4[4] = {q, q, q, q}; bench("concat 4x[8,64,28,28] axis1", cpu, &n, c4, 0);
    kiln_view r = tt_view(KILN_F32, 4, (int64_t[]){8, 1280, 7, 7}); tt_fill(&rng, &r, -1, 1);
    n = tt_node(KILN_OP_REDUCE_MEAN, 13, 1, 1); n.a.axes.has_axes = 1; n.a.axes.naxes = 2; n.a.axes.axes[0] = 2; n.a.axes.axes[1] = 3;
    bench("reducemean HW [8,1280,7,7]", cpu, &n, &r, 0);
    n.a.axes.naxes = 1; n.a.axes.axes[0] = 1; bench("reducemean C [8,64,56,56]", cpu, &n, &a, 0);
    n = tt_node(KILN_OP_CAST, 13, 1, 1); n.a.cast.to = KILN_F16; bench("cast f32->f16", cpu, &n, &a, 0);
    n = tt_node(KILN_OP_PAD, 13, 2, 1); kiln_view pin[2] = {a, tt_i64(8, (int64_t[]){0,0,1,1,0,0,1,1})}; bench("pad 1 HW", cpu, &n, pin, 0);
    n = tt_node(KILN_OP_SLICE, 13, 5, 1); kiln_view sin[5] = {a, tt_i64(2,(int64_t[]){0,0}), tt_i64(2,(int64_t[]){INT64_MAX,INT64_MAX}), tt_i64(2,(int64_t[]){2,3}), tt_i64(2,(int64_t[]){2,2})};
    bench("slice ::2,::2 HW", cpu, &n, sin, 0);
    return 0;
}
