/* 2-D convolutions unfolded from zero-padded phase planes.
 *
 * The GEMM's packer unfolds the input (im2col) one micro-panel at a time; done straight from
 * the input it works out bounds for every run and, with stride s, gathers every s-th value: for
 * a 64-filter layer that cost about as much as the multiply-adds. So the input is first copied
 * once into planes that make every unfolded row a plain copy:
 *   - stride s: output (oy, ox) reads input row oy*s + q (q = ky*d - pad), which is row
 *     oy + ay of phase py, where q = py + ay*s and phase (py, px)[i][j] = x[py + i*s][px + j*s];
 *     only the phases some tap reads are kept;
 *   - every plane gets zero margins wide enough for every tap's offset, so no bounds are checked.
 * A row of the unfolded matrix is then, per output row, a contiguous run of one plane. The copy
 * is 1/(kh*kw) of the unfolded matrix's size. A strided 1x1 convolution reads phase (0, 0) as it
 * is: a plain product. */
#include <string.h>

#include "backend/cpu/cpu_conv.h"

int kiln__conv_phase_plan(const kiln_window *w, kiln__phase_plan *p) {
    if (w->in[0] != 1 || w->k[0] != 1 || w->out[0] != 1) return 0;
    int64_t kn = w->k[1] * w->k[2];
    if (w->s[1] * w->s[2] > KILN_PHASE_MAX_SLOTS || kn > KILN_PHASE_MAX_TAPS) return 0;
    memset(p, 0, sizeof *p);
    p->sy = w->s[1], p->sx = w->s[2];
    p->hq = (w->in[1] + p->sy - 1) / p->sy, p->wq = (w->in[2] + p->sx - 1) / p->sx;
    p->oh = w->out[1], p->ow = w->out[2];
    int slot_of[KILN_PHASE_MAX_SLOTS];
    for (int i = 0; i < KILN_PHASE_MAX_SLOTS; i++) slot_of[i] = -1;
    int64_t ay_lo = 0, ay_hi = 0, ax_lo = 0, ax_hi = 0;
    for (int64_t ky = 0; ky < w->k[1]; ky++)
        for (int64_t kx = 0; kx < w->k[2]; kx++) {
            int64_t qy = ky * w->d[1] - w->pb[1], qx = kx * w->d[2] - w->pb[2];
            int64_t py = ((qy % p->sy) + p->sy) % p->sy, px = ((qx % p->sx) + p->sx) % p->sx;
            int ph = (int)(py * p->sx + px);
            if (slot_of[ph] < 0) {
                slot_of[ph] = p->nslot;
                p->slot_py[p->nslot] = py, p->slot_px[p->nslot] = px;
                p->nslot++;
            }
            int64_t t = ky * w->k[2] + kx, ay = (qy - py) / p->sy, ax = (qx - px) / p->sx;
            p->tap_slot[t] = slot_of[ph];
            p->tap_ay[t] = ay, p->tap_ax[t] = ax;
            if (t == 0 || ay < ay_lo) ay_lo = ay;
            if (t == 0 || ay > ay_hi) ay_hi = ay;
            if (t == 0 || ax < ax_lo) ax_lo = ax;
            if (t == 0 || ax > ax_hi) ax_hi = ax;
        }
    p->kn = kn;
    /* Margins: output (oy, ox) with tap offset (ay, ax) reads padded row oy + ay + mt. */
    p->mt = ay_lo < 0 ? -ay_lo : 0, p->ml = ax_lo < 0 ? -ax_lo : 0;
    int64_t mb = ay_hi + p->oh - p->hq, mr = ax_hi + p->ow - p->wq;
    p->hp = p->mt + p->hq + (mb > 0 ? mb : 0);
    p->wp = p->ml + p->wq + (mr > 0 ? mr : 0);
    return 1;
}

/* The kept phases of input planes [p0, p1) (h x w each), with their zero margins. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void split_planes(const kiln__phase_plan *p, const float *x, int64_t h, int64_t w, int64_t p0, int64_t p1,
                         float *dst) {
    const int64_t sy = p->sy, sx = p->sx, hp = p->hp, wp = p->wp;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *src = x + pl * h * w;
        for (int s = 0; s < p->nslot; s++) {
            float *d = dst + (pl * p->nslot + s) * hp * wp;
            int64_t py = p->slot_py[s], px = p->slot_px[s];
            int64_t cols = px < w ? (w - px + sx - 1) / sx : 0; /* columns inside the input */
            for (int64_t i = 0; i < hp; i++, d += wp) {
                int64_t iy = py + (i - p->mt) * sy;
                if (i < p->mt || iy >= h) {
                    memset(d, 0, (size_t)wp * sizeof(float));
                    continue;
                }
                const float *row = src + iy * w + px;
                for (int64_t j = 0; j < p->ml; j++) d[j] = 0;
                float *dd = d + p->ml;
                if (sx == 1)
                    for (int64_t j = 0; j < cols; j++) dd[j] = row[j];
                else if (sx == 2)
                    for (int64_t j = 0; j < cols; j++) dd[j] = row[2 * j];
                else
                    for (int64_t j = 0; j < cols; j++) dd[j] = row[j * sx];
                for (int64_t j = p->ml + cols; j < wp; j++) d[j] = 0;
            }
        }
    }
}

typedef struct split_job {
    const kiln__phase_plan *p;
    const float *x;
    int64_t h, w, planes;
    float *dst;
    int nth;
} split_job;

static void split_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const split_job *j = arg;
    split_planes(j->p, j->x, j->h, j->w, j->planes * t / j->nth, j->planes * (t + 1) / j->nth, j->dst);
}

size_t kiln__conv_phase_floats(const kiln__phase_plan *p, int64_t planes) {
    return (size_t)(planes * p->nslot * p->hp * p->wp);
}

void kiln__conv_phase_split(kiln_cpu *cpu, const kiln__phase_plan *p, const float *x, int64_t planes, int64_t h,
                            int64_t w, float *dst) {
    kiln_pool *pool = kiln_cpu_pool(cpu);
    split_job j = {p, x, h, w, planes, dst, kiln_pool_size(pool)};
    if (planes * h * w < 65536) j.nth = 1;
    kiln_pool_for(pool, j.nth, split_task, &j);
}

/* Rows [p0, p0+kc) x columns [j0, j0+nc) of the unfolded input, as the GEMM's panels: per row,
   per output row it crosses, one run copied from the row's plane. */
__attribute__((target_clones("avx512f", "avx2", "default")))
void kiln__conv_pack_phased(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst) {
    const kiln__phase_ctx *cp = ctx;
    const kiln__phase_plan *p = cp->plan;
    const int64_t ow = p->ow, hw_out = p->oh * ow, plane = p->hp * p->wp, wp = p->wp;
    int64_t tail = (nc + nr - 1) / nr * nr - nc;
    if (tail) {
        float *last = dst + (nc / nr) * nr * kc;
        for (int64_t q = 0; q < kc; q++) memset(last + q * nr + nr - tail, 0, (size_t)tail * sizeof(float));
    }
    const int64_t img_start = j0 / hw_out, row_start = j0 % hw_out / ow, ox_start = j0 % ow;
    int64_t c = p0 / p->kn, t = p0 % p->kn;
    for (int64_t q = 0; q < kc; q++) {
        /* output (0, 0) of image 0 in this row's plane */
        const float *base = cp->ph + (c * p->nslot + p->tap_slot[t]) * plane + (p->tap_ay[t] + p->mt) * wp +
                            p->tap_ax[t] + p->ml;
        int64_t img = img_start, row = row_start, ox = ox_start, left = nc, pan = 0, col = 0;
        const float *src = base + img * cp->img_stride + row * wp;
        while (left > 0) {
            int64_t n = ow - ox < left ? ow - ox : left;
            if (n > nr - col) n = nr - col; /* inside one panel */
            float *restrict d = dst + pan * nr * kc + q * nr + col;
            const float *restrict s = src + ox;
            for (int64_t i = 0; i < n; i++) d[i] = s[i];
            ox += n, left -= n, col += n;
            if (col == nr) col = 0, pan++;
            if (ox == ow) {
                ox = 0;
                if (++row == p->oh) row = 0, img++;
                src = base + img * cp->img_stride + row * wp;
            }
        }
        if (++t == p->kn) t = 0, c++;
    }
}
