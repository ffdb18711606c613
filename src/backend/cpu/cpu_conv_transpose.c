/* ConvTranspose: per (image, group) a GEMM gives every input pixel's contribution to every
 * output channel and kernel tap — col[M/G * k, HW_in] = W_g^T · X_g — and col2im adds those
 * into the output planes (initialized with the bias). Each output channel's plane is owned by
 * one task, so the scatter needs no atomics. Residual and activation follow in a last pass. */
#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_nn_ops.h"

typedef struct col2im_job {
    const kiln_window *w;
    const float *col; /* [mg * k_numel, in_numel] of one group */
    float *y;         /* the group's first output plane */
} col2im_job;

static void col2im_task(void *arg, int64_t oc, int thread) {
    (void)thread;
    const col2im_job *j = arg;
    const kiln_window *w = j->w;
    int64_t kn = kiln_window_k_numel(w), in_plane = kiln_window_in_numel(w);
    float *y = j->y + oc * kiln_window_out_numel(w);
    for (int64_t t = 0; t < kn; t++) {
        int64_t kz = t / (w->k[1] * w->k[2]), ky = (t / w->k[2]) % w->k[1], kx = t % w->k[2];
        const float *crow = j->col + (oc * kn + t) * in_plane;
        int64_t off = kx * w->d[2] - w->pb[2], lo, hi;
        kiln__cpu_window_range(off, w->s[2], w->out[2], w->in[2], &lo, &hi);
        for (int64_t iz = 0; iz < w->in[0]; iz++) {
            int64_t oz = iz * w->s[0] - w->pb[0] + kz * w->d[0];
            if (oz < 0 || oz >= w->out[0]) continue;
            for (int64_t iy = 0; iy < w->in[1]; iy++) {
                int64_t oy = iy * w->s[1] - w->pb[1] + ky * w->d[1];
                if (oy < 0 || oy >= w->out[1]) continue;
                float *yrow = y + (oz * w->out[1] + oy) * w->out[2];
                const float *c = crow + (iz * w->in[1] + iy) * w->in[2];
                int64_t s = w->s[2];
                for (int64_t ix = lo; ix < hi; ix++) yrow[ix * s + off] += c[ix];
            }
        }
    }
}

typedef struct plane_job {
    float *y;
    const float *bias, *res;
    const kiln_act *act;
    int64_t c_out, plane;
    int init; /* 1: fill with bias; 0: add residual and activate */
} plane_job;

static void plane_task(void *arg, int64_t p, int thread) {
    (void)thread;
    const plane_job *j = arg;
    float *y = j->y + p * j->plane;
    if (j->init) {
        float b = j->bias ? j->bias[p % j->c_out] : 0.0f;
        for (int64_t i = 0; i < j->plane; i++) y[i] = b;
        return;
    }
    if (j->res) {
        const float *r = j->res + p * j->plane;
        for (int64_t i = 0; i < j->plane; i++) y[i] += r[i];
    }
    kiln__cpu_act_inplace(j->act, y, j->plane);
}

kiln_status kiln__cpu_conv_transpose(kiln_cpu *cpu, const kiln_node *n, const kiln_view *in, kiln_view *out,
                                     kiln_err *e) {
    KILN_TRY(kiln__cpu_need_f32(n, in, 4, out, e));
    const kiln_conv_attr *a = &n->a.conv;
    kiln_window w;
    KILN_TRY(kiln_window_conv_transpose(a, &in[0].shape, &in[1].shape, &w, e));
    int64_t batch = in[0].shape.d[0], c_in = in[0].shape.d[1], g_n = a->group;
    int64_t cg = c_in / g_n, mg = in[1].shape.d[1], c_out = mg * g_n;
    int64_t hw_in = kiln_window_in_numel(&w), hw_out = kiln_window_out_numel(&w);
    int64_t rows = mg * kiln_window_k_numel(&w);
    const float *x = in[0].data, *wt = in[1].data;
    const float *bias = kiln__cpu_has(n, in, 2) ? in[2].data : NULL;
    const float *res = a->has_residual && kiln__cpu_has(n, in, 3) ? in[3].data : NULL;
    if (a->has_residual && !res)
        return kiln_err_set(e, KILN_ERR_SHAPE, "ConvTranspose: the residual input is missing");
    float *y = out[0].data;
    if (batch == 0 || c_out == 0 || hw_out == 0) return KILN_OK;
    kiln_pool *pool = kiln_cpu_pool(cpu);
    plane_job pj = {y, bias, res, &a->act, c_out, hw_out, 1};
    kiln_pool_for(pool, batch * c_out, plane_task, &pj);
    if (hw_in > 0 && rows > 0) {
        float *col = kiln_cpu_scratch(cpu, KILN_CPU_SLOT_COL, (size_t)(rows * hw_in) * sizeof(float));
        if (!col) return kiln_err_set(e, KILN_ERR_NOMEM, "ConvTranspose: out of memory for the col buffer");
        for (int64_t img = 0; img < batch; img++) {
            for (int64_t g = 0; g < g_n; g++) {
                kiln_gemm gm = {
                    .m = rows, .n = hw_in, .k = cg,
                    .a = wt + g * cg * rows, .a_rs = 1, .a_cs = rows, /* W_g^T */
                    .b = x + (img * c_in + g * cg) * hw_in, .b_rs = hw_in, .b_cs = 1,
                    .c = col, .ldc = hw_in, .alpha = 1.0f,
                };
                KILN_TRY(kiln_gemm_run(cpu, &gm, e));
                col2im_job cj = {&w, col, y + (img * c_out + g * mg) * hw_out};
                kiln_pool_for(pool, mg, col2im_task, &cj);
            }
        }
    }
    if (res || a->act.type != KILN_ACT_NONE) {
        pj.init = 0;
        kiln_pool_for(pool, batch * c_out, plane_task, &pj);
    }
    return KILN_OK;
}
