/* Per-channel normalizations: BatchNormalization (inference: folded to y = x*a[c] + b[c] with
 * a = scale / sqrt(var + eps), b = B - mean * a, computed in double), kiln's ScaleShift
 * (y = x*scale[c] + shift[c]) and LRN across channels. Planes are spread over the threads. */
#include <math.h>

#include "backend/cpu/cpu_nn_ops.h"

typedef struct affine_job {
    const float *x, *a, *b;
    float *y;
    int64_t c, plane, planes, chunk;
} affine_job;

static void affine_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const affine_job *j = arg;
    for (int64_t p = t * j->chunk; p < (t + 1) * j->chunk && p < j->planes; p++) {
        float a = j->a[p % j->c], b = j->b[p % j->c];
        const float *restrict x = j->x + p * j->plane;
        float *restrict y = j->y + p * j->plane;
        for (int64_t i = 0; i < j->plane; i++) y[i] = x[i] * a + b;
    }
}

static void run_affine(kiln_cpu *cpu, const kiln_view *x, const float *a, const float *b, float *y) {
    const kiln_shape *s = &x->shape;
    affine_job j = {x->data, a, b, y, s->d[1], 1, s->d[0] * s->d[1], 1};
    for (int i = 2; i < s->ndim; i++) j.plane *= s->d[i];
    j.chunk = 1 + 32768 / (j.plane + 1);
    kiln_pool_for(kiln_cpu_pool(cpu), (j.planes + j.chunk - 1) / j.chunk, affine_task, &j);
}

kiln_status kiln__cpu_batchnorm(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 5, out, e));
    int64_t c = in[0].shape.d[1];
    float *ab = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_AUX, (size_t)(2 * c + 1) * sizeof(float));
    if (!ab) return kiln_err_set(e, KILN_ERR_NOMEM, "BatchNormalization: out of memory");
    const float *scale = in[1].data, *bias = in[2].data, *mean = in[3].data, *var = in[4].data;
    double eps = n->a.bn.epsilon;
    for (int64_t i = 0; i < c; i++) {
        double a = (double)scale[i] / sqrt((double)var[i] + eps);
        ab[i] = (float)a;
        ab[c + i] = (float)((double)bias[i] - (double)mean[i] * a);
    }
    run_affine(cpu, &in[0], ab, ab + c, out[0].data);
    return KILN_OK;
}

kiln_status kiln__cpu_scale_shift(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                  kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 3, out, e));
    run_affine(cpu, &in[0], in[1].data, in[2].data, out[0].data);
    return KILN_OK;
}

typedef struct lrn_job {
    const float *x;
    float *y;
    int64_t c, plane;
    int64_t lo, hi; /* the window is channels [c - lo, c + hi] */
    float k, alpha_n, beta;
} lrn_job;

/* One output plane (n, c): the sum of squares over the channel window, pixel by pixel. */
static void lrn_task(void *arg, int64_t p, int thread) {
    (void)thread;
    const lrn_job *j = arg;
    int64_t img = p / j->c, ch = p % j->c;
    int64_t c0 = ch - j->lo < 0 ? 0 : ch - j->lo, c1 = ch + j->hi >= j->c ? j->c - 1 : ch + j->hi;
    const float *xi = j->x + img * j->c * j->plane;
    float *y = j->y + p * j->plane;
    const float *xc = xi + ch * j->plane;
    for (int64_t i = 0; i < j->plane; i++) y[i] = 0;
    for (int64_t cc = c0; cc <= c1; cc++) {
        const float *restrict xs = xi + cc * j->plane;
        for (int64_t i = 0; i < j->plane; i++) y[i] += xs[i] * xs[i];
    }
    for (int64_t i = 0; i < j->plane; i++) y[i] = xc[i] * powf(j->k + j->alpha_n * y[i], -j->beta);
}

kiln_status kiln__cpu_lrn(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out, kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 1, out, e));
    const kiln_lrn_attr *a = &n->a.lrn;
    const kiln_shape *s = &in[0].shape;
    /* ONNX: channels max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2)). */
    lrn_job j = {in[0].data, out[0].data, s->d[1], 1, (a->size - 1) / 2, a->size / 2,
                 a->bias, a->alpha / (float)a->size, a->beta};
    for (int i = 2; i < s->ndim; i++) j.plane *= s->d[i];
    kiln_pool_for(kiln_cpu_pool(cpu), s->d[0] * s->d[1], lrn_task, &j);
    return KILN_OK;
}
