/* Depthwise convolution (one input channel per group), computed directly: per output plane,
 * each kernel tap adds a weighted, shifted input row into the output row. The inner loop runs
 * along contiguous output columns, so GCC vectorizes it; planes are spread over the threads. */
#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_nn_ops.h"

typedef struct tap_cols tap_cols;

typedef struct dw_job {
    const kiln_window *w;
    const tap_cols *tc;
    int64_t c_out, per_group, chunk, planes;
    const float *x, *wt, *bias, *res;
    const kiln_act *act;
    float *y;
} dw_job;

/* Output columns [lo, hi) whose tap kx falls inside the input, per kx (computed once per call). */
typedef struct tap_cols {
    int64_t off, lo, hi;
} tap_cols;

/* Multiversioned: the row loops are memory-bound, wider vectors help. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void dw_plane(const dw_job *j, const tap_cols *tc, int64_t plane) {
    const kiln_window *w = j->w;
    int64_t img = plane / j->c_out, oc = plane % j->c_out;
    int64_t c_in = j->c_out / j->per_group, ic = oc / j->per_group;
    int64_t in_plane = kiln_window_in_numel(w), out_plane = kiln_window_out_numel(w);
    int64_t kn = kiln_window_k_numel(w);
    const float *x = j->x + (img * c_in + ic) * in_plane;
    const float *wt = j->wt + oc * kn;
    float *y = j->y + plane * out_plane;
    const float *res = j->res ? j->res + plane * out_plane : NULL;
    float b = j->bias ? j->bias[oc] : 0.0f;
    const int64_t s2 = w->s[2], out2 = w->out[2];
    for (int64_t oz = 0; oz < w->out[0]; oz++) {
        for (int64_t oy = 0; oy < w->out[1]; oy++) {
            float *restrict yrow = y + (oz * w->out[1] + oy) * out2;
            for (int64_t ox = 0; ox < out2; ox++) yrow[ox] = b;
            for (int64_t kz = 0; kz < w->k[0]; kz++) {
                int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
                if (iz < 0 || iz >= w->in[0]) continue;
                for (int64_t ky = 0; ky < w->k[1]; ky++) {
                    int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                    if (iy < 0 || iy >= w->in[1]) continue;
                    const float *restrict xrow = x + (iz * w->in[1] + iy) * w->in[2];
                    const float *wk = wt + (kz * w->k[1] + ky) * w->k[2];
                    for (int64_t kx = 0; kx < w->k[2]; kx++) {
                        const float wv = wk[kx];
                        const int64_t lo = tc[kx].lo, hi = tc[kx].hi;
                        const float *restrict xs = xrow + tc[kx].off;
                        if (s2 == 1) /* constant strides let GCC vectorize (de-interleaving for 2) */
                            for (int64_t ox = lo; ox < hi; ox++) yrow[ox] += wv * xs[ox];
                        else if (s2 == 2)
                            for (int64_t ox = lo; ox < hi; ox++) yrow[ox] += wv * xs[2 * ox];
                        else
                            for (int64_t ox = lo; ox < hi; ox++) yrow[ox] += wv * xs[ox * s2];
                    }
                }
            }
            if (res) {
                const float *restrict rrow = res + (oz * w->out[1] + oy) * out2;
                for (int64_t ox = 0; ox < out2; ox++) yrow[ox] += rrow[ox];
            }
            kiln__cpu_act_inplace(j->act, yrow, out2);
        }
    }
}

static void dw_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const dw_job *j = arg;
    for (int64_t p = t * j->chunk; p < (t + 1) * j->chunk && p < j->planes; p++) dw_plane(j, j->tc, p);
}

kiln_status kiln__cpu_conv_depthwise(kiln_cpu *cpu, const kiln_window *w, int64_t batch, int64_t c_out,
                                     int64_t per_group, const float *x, const float *wt, const float *bias,
                                     const float *res, const kiln_act *act, float *y) {
    int64_t planes = batch * c_out;
    int64_t work = kiln_window_out_numel(w) * kiln_window_k_numel(w); /* MACs per plane */
    int64_t chunk = 1 + 32768 / (work + 1);                           /* ~32K MACs per task at least */
    tap_cols tc[KILN_DW_MAX_KW];
    for (int64_t kx = 0; kx < w->k[2]; kx++) {
        tc[kx].off = kx * w->d[2] - w->pb[2];
        kiln__cpu_window_range(tc[kx].off, w->s[2], w->in[2], w->out[2], &tc[kx].lo, &tc[kx].hi);
    }
    dw_job j = {w, tc, c_out, per_group, chunk, planes, x, wt, bias, res, act, y};
    kiln_pool_for(kiln_cpu_pool(cpu), (planes + chunk - 1) / chunk, dw_task, &j);
    return KILN_OK;
}
