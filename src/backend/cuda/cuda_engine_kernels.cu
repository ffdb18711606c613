/* cuda_engine_kernels.cu — the two kernels the engine needs beyond the building blocks:
 * random fill (tactic timing must not run on zeros) and per-channel scale + shift + activation
 * (batch norms the optimizer could not fold, DenseNet's pre-activations, with the activation
 * that follows fused in). */
#include "backend/cuda/cuda_engine_kernels.h"
#include "backend/cuda/cuda_kernel_util.cuh"

using namespace kiln_cuda;

namespace {

/* A 32-bit hash (lowbias32): cheap, well mixed, deterministic per (seed, index). */
__device__ __forceinline__ uint32_t hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

template <typename T> __global__ void fill_kernel(T *p, int64_t n, uint32_t seed) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = hash32((uint32_t)i * 2654435761u ^ seed ^ (uint32_t)(i >> 32));
        p[i] = from_f<T>((float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
}

template <typename T>
__global__ void scale_shift_kernel(view<const T> x, const T *__restrict__ scale,
                                   const T *__restrict__ shift, view<T> y, int h, int w, int c,
                                   int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int ch = (int)(i % c);
        int64_t r = i / c;
        int ww = (int)(r % w);
        r /= w;
        int hh = (int)(r % h);
        int n = (int)(r / h);
        float v = to_f(x.at(n, hh, ww, ch)) * to_f(scale[ch]) + to_f(shift[ch]);
        y.at(n, hh, ww, ch) = from_f<T>(act_apply(act, v));
    }
}

} // namespace

extern "C" kiln_status kiln_cuda_fill_random(void *p, kiln_dtype dt, int64_t count, uint32_t seed,
                                             cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_fill_random";
    if (count <= 0) return KILN_OK;
    if (!p) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    KILN_CUDA_DISPATCH(dt, T, fn, e, {
        fill_kernel<T><<<grid_for(count, 256), 256, 0, s>>>((T *)p, count, seed);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_scale_shift(const kiln_cuda_nhwc *x, const void *scale,
                                             const void *shift, const kiln_cuda_nhwc *y,
                                             const kiln_act *act, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_scale_shift";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!same_extent(x, y) || x->dtype != y->dtype)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x and y must have one extent and type", fn);
    if (!scale || !shift) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: no scale or shift", fn);
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    kiln_act a = {KILN_ACT_NONE, 0.f, 0.f};
    if (act) a = *act;
    KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
        scale_shift_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(
            make_view<const T>(x), (const T *)scale, (const T *)shift, make_view<T>(y), y->h, y->w,
            y->c, total, a);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
