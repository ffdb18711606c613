/* cuda_softmax.cu — one warp per row: max, sum of exponentials, write; each a strided pass with
 * shuffle reductions. Rows in CNNs are short (1000 classes), so a warp per row fills the GPU
 * through the number of rows, and the three passes hit L1. */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"
#include "backend/cuda/cuda_softmax.h"

using namespace kiln_cuda;

namespace {

constexpr int WARPS = 8;

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T>
__global__ void softmax_rows(const T *x, T *y, int64_t rows, int cols, bool log_out) {
    int lane = threadIdx.x & 31;
    for (int64_t r = blockIdx.x * (int64_t)WARPS + (threadIdx.x >> 5); r < rows;
         r += (int64_t)gridDim.x * WARPS) {
        const T *xr = x + r * cols;
        T *yr = y + r * cols;
        float m = -INFINITY;
        for (int j = lane; j < cols; j += 32) m = fmaxf(m, to_f(xr[j]));
        m = warp_max(m);
        float sum = 0.f;
        for (int j = lane; j < cols; j += 32) sum += expf(to_f(xr[j]) - m);
        sum = warp_sum(sum);
        /* Every lane has read its values above before any lane writes: in-place is safe because
           each lane writes only the elements it read itself. */
        if (log_out) {
            float ls = logf(sum);
            for (int j = lane; j < cols; j += 32) yr[j] = from_f<T>(to_f(xr[j]) - m - ls);
        } else {
            float inv = 1.f / sum;
            for (int j = lane; j < cols; j += 32) yr[j] = from_f<T>(expf(to_f(xr[j]) - m) * inv);
        }
    }
}

} // namespace

extern "C" kiln_status kiln_cuda_softmax(const void *x, void *y, kiln_dtype dtype, int64_t rows,
                                         int cols, int log_softmax, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_softmax";
    if (rows < 0 || cols < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: %lld rows of %d", fn, (long long)rows, cols);
    if (rows == 0 || cols == 0) return KILN_OK;
    if (!x || !y) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    unsigned grid = grid_for(rows, WARPS);
    KILN_CUDA_DISPATCH(dtype, T, fn, e, {
        softmax_rows<T><<<grid, WARPS * 32, 0, s>>>((const T *)x, (T *)y, rows, cols, log_softmax != 0);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
