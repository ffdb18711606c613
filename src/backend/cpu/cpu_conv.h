/* cpu_conv.h — pieces the convolution kernels share (internal to src/backend/cpu). */
#ifndef KILN_BACKEND_CPU_CONV_H
#define KILN_BACKEND_CPU_CONV_H

#include "backend/cpu/cpu.h"
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

#endif
