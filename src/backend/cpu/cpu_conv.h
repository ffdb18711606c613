/* cpu_conv.h — pieces the convolution kernels share (internal to src/backend/cpu). */
#ifndef KILN_BACKEND_CPU_CONV_H
#define KILN_BACKEND_CPU_CONV_H

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/nn_window.h"

/* The o in [0, n) with 0 <= o*s + off < limit, as [*lo, *hi) (empty when lo == hi). */
void kiln__cpu_window_range(int64_t off, int64_t s, int64_t limit, int64_t n, int64_t *lo, int64_t *hi);

/* Convolution with one input channel per group: output channel oc reads input channel
   oc / per_group. Weights [c_out, 1, kernel]; bias [c_out] and res (y's shape) may be NULL.
   The kernel's last extent must be at most KILN_DW_MAX_KW. */
#define KILN_DW_MAX_KW 64
kiln_status kiln__cpu_conv_depthwise(kiln_cpu *cpu, const kiln_window *w, int64_t batch, int64_t c_out,
                                     int64_t per_group, const float *x, const float *wt, const float *bias,
                                     const float *res, const kiln_act *act, float *y);

/* ---- 2-D convolutions unfolded from zero-padded phase planes (cpu_conv_phase.c) -------------- */

#define KILN_PHASE_MAX_SLOTS 16
#define KILN_PHASE_MAX_TAPS 256

typedef struct kiln__phase_plan {
    int64_t sy, sx, hq, wq;  /* strides; rows and columns of a phase */
    int64_t mt, ml, hp, wp;  /* zero margins above and left; a padded plane's rows and columns */
    int64_t oh, ow;          /* the output plane */
    int nslot;               /* phases kept (read by some tap) */
    int64_t slot_py[KILN_PHASE_MAX_SLOTS], slot_px[KILN_PHASE_MAX_SLOTS];
    int64_t kn;              /* taps */
    int tap_slot[KILN_PHASE_MAX_TAPS];               /* per tap (ky, kx): its phase */
    int64_t tap_ay[KILN_PHASE_MAX_TAPS], tap_ax[KILN_PHASE_MAX_TAPS]; /* and its offset there */
} kiln__phase_plan;

/* Whether the window is 2-D with few enough taps and phases; fills p. */
int kiln__conv_phase_plan(const kiln_window *w, kiln__phase_plan *p);
/* Floats the padded phases of `planes` input planes take. */
size_t kiln__conv_phase_floats(const kiln__phase_plan *p, int64_t planes);
/* The kept phases of `planes` planes of h x w floats at x into dst: [plane][slot][hp][wp];
   multi-threaded. */
void kiln__conv_phase_split(kiln_cpu *cpu, const kiln__phase_plan *p, const float *x, int64_t planes, int64_t h,
                            int64_t w, float *dst);
/* The GEMM's B packer (kiln_gemm_pack_fn) unfolding from phase planes: ctx is kiln__phase_ctx. */
typedef struct kiln__phase_ctx {
    const kiln__phase_plan *plan;
    const float *ph;    /* the phases of the group's first channel, image 0 */
    int64_t img_stride; /* floats between images */
} kiln__phase_ctx;
void kiln__conv_pack_phased(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float *dst);

/* ---- state prepared once per engine (kiln_cpu_prepare_node) ---------------------------------- */

typedef struct kiln__wino kiln__wino;

typedef struct kiln__conv_prep {
    const void *w_data;     /* the weights it was made from: a run with others ignores it */
    kiln_shape w_shape;
    int64_t groups;
    kiln_gemm_apack **ap;   /* per group: its filters packed as the GEMM's A */
    kiln__wino *wino;       /* Winograd-transformed filters (3x3, stride 1), or NULL */
} kiln__conv_prep;

/* in: the node's inputs (the weights with data); threads: how many will share each run. Sets
   *out to NULL when the node gains nothing (depthwise, non-constant weights). */
kiln_status kiln__cpu_conv_prepare(const kiln_node *n, const kiln_view *in, int threads, kiln__conv_prep **out,
                                   kiln_err *e);
void kiln__cpu_conv_prep_free(kiln__conv_prep *p);
size_t kiln__cpu_conv_prep_bytes(const kiln__conv_prep *p);
/* Conv with prepared state p (NULL: everything from the inputs, as kiln__cpu_conv). */
kiln_status kiln__cpu_conv_run(kiln_cpu *cpu, const kiln_node *n, const kiln__conv_prep *p, const kiln_view *in,
                               kiln_view *out, kiln_err *e);

/* ---- Winograd F(2x2, 3x3) (cpu_conv_winograd.c) -----------------------------------------------
 * For 2-D 3x3 convolutions with stride 1, dilation 1 and one group: 16 products of the
 * transformed filters (prepared once) with the transformed input tiles, 2.25x fewer
 * multiplications than the direct product, with errors within about twice its rounding. */

/* Whether the window and group count suit it. */
int kiln__wino_applies(const kiln_window *w, int64_t groups);
/* Transform the filters wt [c_out, c_in, 3, 3]; `threads` as above. NULL when out of memory. */
kiln__wino *kiln__wino_prepare(const float *wt, int64_t c_out, int64_t c_in, int threads);
void kiln__wino_free(kiln__wino *p);
size_t kiln__wino_bytes(const kiln__wino *p);
/* Whether it pays at this size (against the direct GEMM over batch x the output plane). */
int kiln__wino_pays(const kiln__wino *p, const kiln_window *w, int64_t batch);
/* y = act(conv(x) + bias + res); bias and res may be NULL. */
kiln_status kiln__wino_run(kiln_cpu *cpu, const kiln__wino *p, const kiln_window *w, int64_t batch, const float *x,
                           const float *bias, const float *res, const kiln_act *act, float *y, kiln_err *e);

#endif
