/* Softmax and LogSoftmax, numerically stable (the maximum is subtracted before exp).
 * The input is viewed as [outer, len, inner]: from opset 13 len is the axis and inner what
 * follows it; before opset 13 (legacy_2d) the input is coerced to 2-D at the axis, so len is the
 * product of the axis and every later dimension and inner is 1. Rows are spread over threads. */
#include <math.h>

#include "backend/cpu/cpu_nn_ops.h"

typedef struct sm_job {
    const float *x;
    float *y;
    int64_t outer, len, inner, chunk;
    int is_log;
} sm_job;

/* One contiguous row of len values. */
static void row_contig(const float *x, float *y, int64_t len, int is_log) {
    float m = x[0];
    for (int64_t i = 1; i < len; i++) m = x[i] > m ? x[i] : m;
    double s = 0;
    for (int64_t i = 0; i < len; i++) {
        float v = expf(x[i] - m);
        if (!is_log) y[i] = v;
        s += v;
    }
    if (is_log) {
        float ls = (float)log(s);
        for (int64_t i = 0; i < len; i++) y[i] = x[i] - m - ls;
    } else {
        float inv = (float)(1.0 / s);
        for (int64_t i = 0; i < len; i++) y[i] *= inv;
    }
}

/* len values at stride inner, for `inner` interleaved rows at once (contiguous inner loops). */
static void rows_strided(const float *x, float *y, int64_t len, int64_t inner, int is_log) {
    enum { B = 64 };
    float m[B], s[B];
    for (int64_t i0 = 0; i0 < inner; i0 += B) {
        int64_t nb = inner - i0 < B ? inner - i0 : B;
        const float *xb = x + i0;
        float *yb = y + i0;
        for (int64_t i = 0; i < nb; i++) m[i] = xb[i], s[i] = 0;
        for (int64_t l = 1; l < len; l++)
            for (int64_t i = 0; i < nb; i++) m[i] = xb[l * inner + i] > m[i] ? xb[l * inner + i] : m[i];
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < nb; i++) {
                float v = expf(xb[l * inner + i] - m[i]);
                if (!is_log) yb[l * inner + i] = v;
                s[i] += v;
            }
        for (int64_t i = 0; i < nb; i++) s[i] = is_log ? m[i] + logf(s[i]) : 1.0f / s[i];
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < nb; i++) {
                if (is_log) yb[l * inner + i] = xb[l * inner + i] - s[i];
                else yb[l * inner + i] *= s[i];
            }
    }
}

static void sm_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const sm_job *j = arg;
    for (int64_t o = t * j->chunk; o < (t + 1) * j->chunk && o < j->outer; o++) {
        const float *x = j->x + o * j->len * j->inner;
        float *y = j->y + o * j->len * j->inner;
        if (j->inner == 1) row_contig(x, y, j->len, j->is_log);
        else rows_strided(x, y, j->len, j->inner, j->is_log);
    }
}

kiln_status kiln__cpu_softmax(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                              kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 1, out, e));
    const kiln_shape *s = &in[0].shape;
    int64_t axis = kiln_axis_norm(n->a.axis.axis, s->ndim);
    if (axis < 0) return kiln_err_set(e, KILN_ERR_SHAPE, "softmax axis %lld out of range", (long long)n->a.axis.axis);
    sm_job j = {in[0].data, out[0].data, 1, 1, 1, 1, n->op == KILN_OP_LOG_SOFTMAX};
    for (int i = 0; i < axis; i++) j.outer *= s->d[i];
    if (n->a.axis.legacy_2d) {
        for (int i = (int)axis; i < s->ndim; i++) j.len *= s->d[i];
    } else {
        j.len = s->d[axis];
        for (int i = (int)axis + 1; i < s->ndim; i++) j.inner *= s->d[i];
    }
    if (j.outer == 0 || j.len == 0 || j.inner == 0) return KILN_OK;
    j.chunk = 1 + 16384 / (j.len * j.inner);
    kiln_pool_for(kiln_cpu_pool(cpu), (j.outer + j.chunk - 1) / j.chunk, sm_task, &j);
    return KILN_OK;
}
