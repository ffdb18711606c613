/* cuda_layout.cu — NCHW FP32 <-> NHWC (any storage type) in one pass.
 *
 * A transpose reads one layout and writes the other; to keep both sides coalesced the general
 * kernels go through a 32x33 shared-memory tile (the extra column avoids bank conflicts). The
 * network input is special: 3 channels padded to 4 or 8, where a 32-channel tile would idle most
 * threads, so a pixel-per-thread kernel reads the 3 planes (coalesced across the warp) and writes
 * the padded pixel, with one 16-byte store when the pixel is exactly 16 bytes (the stem's case).
 */
#include "backend/cuda/cuda_kernel_util.cuh"
#include "backend/cuda/cuda_layout.h"

using namespace kiln_cuda;

namespace {

constexpr int TILE = 32;
constexpr int ROWS = 8; /* block is TILE x ROWS threads, each moves TILE/ROWS elements */

/* One thread per pixel: reads c planes, writes cout channels (zeros past c). */
template <typename T>
__global__ void to_nhwc_small(const float *__restrict__ in, int c, int64_t hw, int64_t pixels,
                              view<T> out, int cout) {
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pixels;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = p / hw, q = p % hw;
        const float *src = in + n * c * hw + q;
        T *dst = out.p + n * out.sn + q * out.sw; /* h and w folded: sh == w * sw for a view */
        for (int k = 0; k < cout; k++) dst[k] = from_f<T>(k < c ? src[k * hw] : 0.f);
    }
}

/* The network input into a dense 16-byte pixel (4 FP32 or 8 FP16/BF16 channels): the same as
   to_nhwc_small with one 16-byte store per pixel instead of COUT narrow ones. */
template <typename T, int COUT>
__global__ void to_nhwc_pixel16(const float *__restrict__ in, int c, int64_t hw, int64_t pixels,
                                uint4 *__restrict__ out) {
    static_assert(sizeof(T) * COUT == 16, "a pixel is 16 bytes");
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pixels;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = p / hw, q = p % hw;
        const float *src = in + n * c * hw + q;
        uint4 raw;
        T *t = reinterpret_cast<T *>(&raw);
#pragma unroll
        for (int k = 0; k < COUT; k++) t[k] = from_f<T>(k < c ? src[k * hw] : 0.f);
        out[p] = raw;
    }
}

/* Tiled: block (x: 32 pixels, y: 32 channels) of image z. */
template <typename T>
__global__ void to_nhwc_tiled(const float *__restrict__ in, int c, int64_t hw, view<T> out,
                              int cout) {
    __shared__ float tile[TILE][TILE + 1];
    int64_t q0 = (int64_t)blockIdx.x * TILE;
    int c0 = blockIdx.y * TILE, n = blockIdx.z;
    const float *src = in + (int64_t)n * c * hw;
    for (int i = threadIdx.y; i < TILE; i += ROWS) {
        int ch = c0 + i;
        int64_t q = q0 + threadIdx.x;
        tile[i][threadIdx.x] = (ch < c && q < hw) ? src[(int64_t)ch * hw + q] : 0.f;
    }
    __syncthreads();
    for (int i = threadIdx.y; i < TILE; i += ROWS) {
        int64_t q = q0 + i;
        int ch = c0 + threadIdx.x;
        if (q < hw && ch < cout) out.p[n * out.sn + q * out.sw + ch] = from_f<T>(tile[threadIdx.x][i]);
    }
}

template <typename T>
__global__ void to_nchw_tiled(view<T> in, int c, int64_t hw, float *__restrict__ out) {
    __shared__ float tile[TILE][TILE + 1];
    int64_t q0 = (int64_t)blockIdx.x * TILE;
    int c0 = blockIdx.y * TILE, n = blockIdx.z;
    for (int i = threadIdx.y; i < TILE; i += ROWS) {
        int64_t q = q0 + i;
        int ch = c0 + threadIdx.x;
        tile[i][threadIdx.x] = (q < hw && ch < c) ? to_f(in.p[n * in.sn + q * in.sw + ch]) : 0.f;
    }
    __syncthreads();
    float *dst = out + (int64_t)n * c * hw;
    for (int i = threadIdx.y; i < TILE; i += ROWS) {
        int ch = c0 + i;
        int64_t q = q0 + threadIdx.x;
        if (ch < c && q < hw) dst[(int64_t)ch * hw + q] = tile[threadIdx.x][i];
    }
}

} // namespace

extern "C" kiln_status kiln_cuda_nchw_to_nhwc(const float *in, int n, int c, int h, int w,
                                              const kiln_cuda_nhwc *out, cudaStream_t s,
                                              kiln_err *e) {
    static const char *fn = "kiln_cuda_nchw_to_nhwc";
    KILN_TRY(check_view(out, "out", fn, e));
    if (out->n != n || out->h != h || out->w != w || out->c < c || c < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: input %dx%dx%dx%d (NCHW) vs output %dx%dx%dx%d (NHWC)",
                            fn, n, c, h, w, out->n, out->h, out->w, out->c);
    int64_t hw = (int64_t)h * w;
    if ((int64_t)n * hw * out->c == 0) return KILN_OK;
    if (!in) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: input is NULL", fn);
    if (n > 65535) return kiln_err_set(e, KILN_ERR_SHAPE, "%s: batch %d > 65535", fn, n);
    KILN_CUDA_DISPATCH(out->dtype, T, fn, e, {
        view<T> v = make_view<T>(out);
        int64_t pixels = (int64_t)n * hw;
        bool pixel16 = out->c * sizeof(T) == 16 && kiln_cuda_nhwc_pitch(out) == out->c &&
                       out->c_offset == 0 && ((uintptr_t)out->data & 15u) == 0;
        if (pixel16) {
            to_nhwc_pixel16<T, 16 / sizeof(T)><<<grid_for(pixels, 256), 256, 0, s>>>(in, c, hw, pixels,
                                                                                     (uint4 *)out->data);
        } else if (out->c <= 16) {
            to_nhwc_small<T><<<grid_for(pixels, 256), 256, 0, s>>>(in, c, hw, pixels, v, out->c);
        } else {
            dim3 grid((unsigned)((hw + TILE - 1) / TILE), (unsigned)((out->c + TILE - 1) / TILE), (unsigned)n);
            to_nhwc_tiled<T><<<grid, dim3(TILE, ROWS), 0, s>>>(in, c, hw, v, out->c);
        }
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_nhwc_to_nchw(const kiln_cuda_nhwc *in, float *out, cudaStream_t s,
                                              kiln_err *e) {
    static const char *fn = "kiln_cuda_nhwc_to_nchw";
    KILN_TRY(check_view(in, "in", fn, e));
    int64_t hw = (int64_t)in->h * in->w;
    if (kiln_cuda_nhwc_count(in) == 0) return KILN_OK;
    if (!out) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: output is NULL", fn);
    if (in->n > 65535) return kiln_err_set(e, KILN_ERR_SHAPE, "%s: batch %d > 65535", fn, in->n);
    dim3 grid((unsigned)((hw + TILE - 1) / TILE), (unsigned)((in->c + TILE - 1) / TILE), (unsigned)in->n);
    KILN_CUDA_DISPATCH(in->dtype, T, fn, e, {
        to_nchw_tiled<T><<<grid, dim3(TILE, ROWS), 0, s>>>(make_view<T>(in), in->c, hw, out);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
