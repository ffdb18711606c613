/* cuda_shuffle.cu — one thread per output element (channels fastest: writes coalesced, reads
 * gathered within one pixel's channels, which a warp covers in a few cache lines). */
#include "backend/cuda/cuda_kernel_util.cuh"
#include "backend/cuda/cuda_shuffle.h"

using namespace kiln_cuda;

namespace {

template <typename T>
__global__ void shuffle_kernel(view<const T> x, view<T> y, int hh, int ww, int cc, int groups,
                               int64_t total) {
    int per = cc / groups;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int co = (int)(i % cc);
        int64_t r = i / cc;
        int w = (int)(r % ww);
        r /= ww;
        int h = (int)(r % hh);
        int n = (int)(r / hh);
        int j = co / groups, g = co % groups; /* co = j * groups + g */
        y.at(n, h, w, co) = x.at(n, h, w, g * per + j);
    }
}

} // namespace

extern "C" kiln_status kiln_cuda_channel_shuffle(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                                 int groups, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_channel_shuffle";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!same_extent(x, y) || x->dtype != y->dtype)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x and y must have one extent and element type", fn);
    if (groups < 1 || x->c % groups != 0)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: %d channels in %d groups", fn, x->c, groups);
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        shuffle_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(make_view<const T>(x), make_view<T>(y), y->h,
                                                               y->w, y->c, groups, total);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
