/* cuda_kernel_util.cuh — device-side helpers shared by the own kernels (C++ / CUDA only).
 *
 * Kernels are templates over the storage type T (float, __half, __nv_bfloat16) and compute in
 * float; load/store convert. Entry points check their views on the host (check_view), dispatch on
 * dtype (KILN_CUDA_DISPATCH) and check the launch (KILN_CUDA_CHECK(e, cudaGetLastError())).
 */
#ifndef KILN_BACKEND_CUDA_KERNEL_UTIL_CUH
#define KILN_BACKEND_CUDA_KERNEL_UTIL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/cuda_tensor.h"
#include "core/op.h"

namespace kiln_cuda {

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* The activation, written exactly as kiln_act_apply (src/core/op.h) so that every backend computes
   the same function. */
__device__ __forceinline__ float act_apply(const kiln_act &a, float x) {
    switch (a.type) {
    case KILN_ACT_RELU: return x > 0.f ? x : 0.f;
    case KILN_ACT_CLIP: return x < a.alpha ? a.alpha : (x > a.beta ? a.beta : x);
    case KILN_ACT_LEAKY_RELU: return x < 0.f ? a.alpha * x : x;
    case KILN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KILN_ACT_HARD_SIGMOID: {
        float v = a.alpha * x + a.beta;
        return v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
    }
    case KILN_ACT_HARD_SWISH: {
        float v = x / 6.0f + 0.5f;
        return x * (v < 0.f ? 0.f : (v > 1.f ? 1.f : v));
    }
    case KILN_ACT_SILU: return x / (1.0f + expf(-x));
    case KILN_ACT_TANH: return tanhf(x);
    default: return x;
    }
}

/* A view as the device sees it: element strides for n, h, w (c is contiguous, stride sc = 1, or 0
   when broadcast). */
template <typename T> struct view {
    T *p;
    int64_t sn, sh, sw;
    int sc;
    __device__ __forceinline__ T &at(int n, int h, int w, int c) const {
        return p[n * sn + h * sh + w * sw + (int64_t)c * sc];
    }
};

/* Host: the device view of v; with `bcast_to` given, dimensions of extent 1 where bcast_to's
   extent is larger get stride 0. */
template <typename T>
static inline view<T> make_view(const kiln_cuda_nhwc *v, const kiln_cuda_nhwc *bcast_to = nullptr) {
    view<T> d;
    int pitch = kiln_cuda_nhwc_pitch(v);
    d.p = (T *)v->data + v->c_offset;
    d.sw = pitch;
    d.sh = (int64_t)v->w * pitch;
    d.sn = (int64_t)v->h * v->w * pitch;
    d.sc = 1;
    if (bcast_to) {
        if (v->n == 1 && bcast_to->n > 1) d.sn = 0;
        if (v->h == 1 && bcast_to->h > 1) d.sh = 0;
        if (v->w == 1 && bcast_to->w > 1) d.sw = 0;
        if (v->c == 1 && bcast_to->c > 1) d.sc = 0;
    }
    return d;
}

/* Host: validate a view: known dtype, non-negative extent, data present, slice inside the pitch. */
static inline kiln_status check_view(const kiln_cuda_nhwc *v, const char *what, const char *fn,
                                     kiln_err *e) {
    if (!v) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: %s is NULL", fn, what);
    if (!kiln_cuda_dtype_ok(v->dtype))
        return kiln_err_set(e, KILN_ERR_DTYPE, "%s: %s has element type %d (need f32/f16/bf16)", fn,
                            what, (int)v->dtype);
    if (v->n < 0 || v->h < 0 || v->w < 0 || v->c < 0 || v->c_offset < 0 ||
        v->c_offset + v->c > kiln_cuda_nhwc_pitch(v))
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: %s is %dx%dx%dx%d at channel %d of %d", fn,
                            what, v->n, v->h, v->w, v->c, v->c_offset, kiln_cuda_nhwc_pitch(v));
    if (!v->data && kiln_cuda_nhwc_count(v) > 0)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: %s has no data", fn, what);
    return KILN_OK;
}

/* Host: can `from` be broadcast to `to` (each dimension equal, or 1)? */
static inline bool broadcastable(const kiln_cuda_nhwc *from, const kiln_cuda_nhwc *to) {
    return (from->n == to->n || from->n == 1) && (from->h == to->h || from->h == 1) &&
           (from->w == to->w || from->w == 1) && (from->c == to->c || from->c == 1);
}

static inline bool same_extent(const kiln_cuda_nhwc *a, const kiln_cuda_nhwc *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

/* Blocks for a grid-stride loop over `total` items with `threads` per block. */
static inline unsigned grid_for(int64_t total, int threads) {
    int64_t b = (total + threads - 1) / threads;
    const int64_t cap = 1 << 20; /* enough to fill any GPU; the loop covers the rest */
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

} // namespace kiln_cuda

/* Run BODY with T bound to the storage type of dtype `dt`; an unknown dtype returns
   KILN_ERR_DTYPE from the enclosing function. */
#define KILN_CUDA_DISPATCH(dt, T, fn, e, ...)                                                    \
    switch (dt) {                                                                                \
    case KILN_F32: {                                                                             \
        typedef float T;                                                                         \
        __VA_ARGS__;                                                                             \
        break;                                                                                   \
    }                                                                                            \
    case KILN_F16: {                                                                             \
        typedef __half T;                                                                        \
        __VA_ARGS__;                                                                             \
        break;                                                                                   \
    }                                                                                            \
    case KILN_BF16: {                                                                            \
        typedef __nv_bfloat16 T;                                                                 \
        __VA_ARGS__;                                                                             \
        break;                                                                                   \
    }                                                                                            \
    default:                                                                                     \
        return kiln_err_set((e), KILN_ERR_DTYPE, "%s: element type %d not supported", (fn),      \
                            (int)(dt));                                                          \
    }

#endif
