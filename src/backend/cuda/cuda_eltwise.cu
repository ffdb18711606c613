/* cuda_eltwise.cu — elementwise kernels over NHWC views (grid-stride, channels fastest).
 *
 * These run only where fusion did not absorb the op, so they are written for clarity: one element
 * per thread, index decomposed once. Broadcast inputs read with stride 0 (make_view).
 */
#include "backend/cuda/cuda_eltwise.h"
#include "backend/cuda/cuda_kernel_util.cuh"

using namespace kiln_cuda;

namespace {

struct extent {
    int h, w, c;
};

__device__ __forceinline__ void split(int64_t i, extent x, int &n, int &h, int &w, int &c) {
    c = (int)(i % x.c);
    i /= x.c;
    w = (int)(i % x.w);
    i /= x.w;
    h = (int)(i % x.h);
    n = (int)(i / x.h);
}

template <typename T>
__global__ void binary_kernel(int op, view<const T> a, view<const T> b, view<T> y, extent ex,
                              int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int n, h, w, c;
        split(i, ex, n, h, w, c);
        float u = to_f(a.at(n, h, w, c)), v = to_f(b.at(n, h, w, c)), r;
        switch (op) {
        case KILN_CUDA_ADD: r = u + v; break;
        case KILN_CUDA_SUB: r = u - v; break;
        case KILN_CUDA_MUL: r = u * v; break;
        default: r = u / v; break;
        }
        y.at(n, h, w, c) = from_f<T>(act_apply(act, r));
    }
}

template <typename TI, typename TO>
__global__ void act_kernel(view<const TI> x, view<TO> y, extent ex, int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int n, h, w, c;
        split(i, ex, n, h, w, c);
        y.at(n, h, w, c) = from_f<TO>(act_apply(act, to_f(x.at(n, h, w, c))));
    }
}

template <typename T>
__global__ void bias_act_kernel(view<const T> x, const T *__restrict__ bias, view<const T> r,
                                bool has_r, view<T> y, extent ex, int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int n, h, w, c;
        split(i, ex, n, h, w, c);
        float v = to_f(x.at(n, h, w, c));
        if (bias) v += to_f(bias[c]);
        if (has_r) v += to_f(r.at(n, h, w, c));
        y.at(n, h, w, c) = from_f<T>(act_apply(act, v));
    }
}

kiln_act act_or_none(const kiln_act *a) {
    kiln_act none = {KILN_ACT_NONE, 0.f, 0.f};
    return a ? *a : none;
}

template <typename TI>
kiln_status act_dispatch_out(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, kiln_act act,
                             cudaStream_t s, kiln_err *e, const char *fn) {
    extent ex = {y->h, y->w, y->c};
    int64_t total = kiln_cuda_nhwc_count(y);
    KILN_CUDA_DISPATCH(y->dtype, TO, fn, e, {
        act_kernel<TI, TO><<<grid_for(total, 256), 256, 0, s>>>(make_view<const TI>(x), make_view<TO>(y), ex,
                                                                total, act);
    });
    return KILN_OK;
}

} // namespace

extern "C" kiln_status kiln_cuda_binary(kiln_cuda_binop op, const kiln_cuda_nhwc *a,
                                        const kiln_cuda_nhwc *b, const kiln_cuda_nhwc *y,
                                        const kiln_act *act, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_binary";
    KILN_TRY(check_view(a, "a", fn, e));
    KILN_TRY(check_view(b, "b", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if ((int)op < KILN_CUDA_ADD || (int)op > KILN_CUDA_DIV)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: unknown op %d", fn, (int)op);
    if (a->dtype != y->dtype || b->dtype != y->dtype)
        return kiln_err_set(e, KILN_ERR_DTYPE, "%s: a, b and y must share one element type", fn);
    if (!broadcastable(a, y) || !broadcastable(b, y))
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: a %dx%dx%dx%d, b %dx%dx%dx%d do not broadcast to y %dx%dx%dx%d",
                            fn, a->n, a->h, a->w, a->c, b->n, b->h, b->w, b->c, y->n, y->h, y->w, y->c);
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    extent ex = {y->h, y->w, y->c};
    kiln_act ac = act_or_none(act);
    KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
        binary_kernel<T><<<grid_for(total, 256), 256, 0, s>>>((int)op, make_view<const T>(a, y),
                                                              make_view<const T>(b, y), make_view<T>(y),
                                                              ex, total, ac);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_activation(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                            const kiln_act *act, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_activation";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!same_extent(x, y))
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x %dx%dx%dx%d vs y %dx%dx%dx%d", fn, x->n, x->h,
                            x->w, x->c, y->n, y->h, y->w, y->c);
    if (kiln_cuda_nhwc_count(y) == 0) return KILN_OK;
    kiln_act ac = act_or_none(act);
    KILN_CUDA_DISPATCH(x->dtype, TI, fn, e, { KILN_TRY((act_dispatch_out<TI>(x, y, ac, s, e, fn))); });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_bias_act(const kiln_cuda_nhwc *x, const void *bias,
                                          const kiln_cuda_nhwc *residual, const kiln_cuda_nhwc *y,
                                          const kiln_act *act, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_bias_act";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (residual) KILN_TRY(check_view(residual, "residual", fn, e));
    if (!same_extent(x, y) || (residual && !same_extent(residual, y)))
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x, residual and y must have one extent", fn);
    if (x->dtype != y->dtype || (residual && residual->dtype != y->dtype))
        return kiln_err_set(e, KILN_ERR_DTYPE, "%s: x, residual and y must share one element type", fn);
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    extent ex = {y->h, y->w, y->c};
    kiln_act ac = act_or_none(act);
    KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
        view<const T> r = residual ? make_view<const T>(residual) : make_view<const T>(x);
        bias_act_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(make_view<const T>(x), (const T *)bias, r,
                                                                residual != nullptr, make_view<T>(y), ex,
                                                                total, ac);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
