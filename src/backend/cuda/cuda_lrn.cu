/* cuda_lrn.cu — one thread per element; the channel window is contiguous in NHWC, so a warp's
 * window reads overlap and come from L1. */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"
#include "backend/cuda/cuda_lrn.h"

using namespace kiln_cuda;

namespace {

template <typename T>
__global__ void lrn_kernel(view<const T> x, view<T> y, int hh, int ww, int cc, int64_t total,
                           int lo, int hi, float scale, float beta, float bias) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int c = (int)(i % cc);
        int64_t r = i / cc;
        int w = (int)(r % ww);
        r /= ww;
        int h = (int)(r % hh);
        int n = (int)(r / hh);
        int c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi > cc - 1 ? cc - 1 : c + hi;
        float sq = 0.f;
        for (int k = c0; k <= c1; k++) {
            float v = to_f(x.at(n, h, w, k));
            sq += v * v;
        }
        float v = to_f(x.at(n, h, w, c));
        y.at(n, h, w, c) = from_f<T>(v / powf(bias + scale * sq, beta));
    }
}

} // namespace

extern "C" kiln_status kiln_cuda_lrn(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, int size,
                                     float alpha, float beta, float bias, cudaStream_t s,
                                     kiln_err *e) {
    static const char *fn = "kiln_cuda_lrn";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!same_extent(x, y) || x->dtype != y->dtype)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x and y must have one extent and element type", fn);
    if (size < 1) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: size %d", fn, size);
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    int lo = (size - 1) / 2, hi = size - 1 - lo; /* floor and ceil of (size-1)/2 */
    float scale = alpha / (float)size;
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        lrn_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(make_view<const T>(x), make_view<T>(y), y->h, y->w,
                                                           y->c, total, lo, hi, scale, beta, bias);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
