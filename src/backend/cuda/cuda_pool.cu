/* cuda_pool.cu — pooling kernels.
 *
 * Windowed pooling: one thread per output element with channels fastest, so a warp reads 32
 * consecutive channels of each input pixel (coalesced) and neighbouring windows share their
 * inputs through L1/L2. Global pooling: a block per (image, 32 channels); its 8 rows of threads
 * split the H*W pixels and combine through shared memory.
 */
#include <math.h>

#include "backend/cuda/cuda_kernel_util.cuh"
#include "backend/cuda/cuda_pool.h"

using namespace kiln_cuda;

namespace {

struct pool_geom {
    int ih, iw, oh, ow, c;
    int kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int include_pad;
};

template <typename T, bool MAX>
__global__ void pool2d(view<const T> x, view<T> y, pool_geom g, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int ch = (int)(i % g.c);
        int64_t r = i / g.c;
        int ow = (int)(r % g.ow);
        r /= g.ow;
        int oh = (int)(r % g.oh);
        int n = (int)(r / g.oh);
        float acc = MAX ? -INFINITY : 0.f;
        int count = 0;
        for (int a = 0; a < g.kh; a++) {
            int ih = oh * g.sh - g.pt + a * g.dh;
            bool in_h = ih >= 0 && ih < g.ih;
            bool pad_h = ih >= -g.pt && ih < g.ih + g.pb;
            for (int b = 0; b < g.kw; b++) {
                int iw = ow * g.sw - g.pl + b * g.dw;
                bool in_w = iw >= 0 && iw < g.iw;
                if (in_h && in_w) {
                    float v = to_f(x.at(n, ih, iw, ch));
                    acc = MAX ? fmaxf(acc, v) : acc + v;
                }
                if (!MAX) {
                    bool pad_w = iw >= -g.pl && iw < g.iw + g.pr;
                    count += g.include_pad ? (pad_h && pad_w) : (in_h && in_w);
                }
            }
        }
        if (!MAX) acc = count > 0 ? acc / (float)count : 0.f;
        y.at(n, oh, ow, ch) = from_f<T>(acc);
    }
}

constexpr int GX = 32, GY = 8;

template <typename T, bool MAX>
__global__ void global_pool(view<const T> x, view<T> y, int hw, int w, int c) {
    __shared__ float part[GY][GX];
    int ch = blockIdx.x * GX + threadIdx.x, n = blockIdx.y;
    float acc = MAX ? -INFINITY : 0.f;
    if (ch < c)
        for (int q = threadIdx.y; q < hw; q += GY) {
            float v = to_f(x.at(n, q / w, q % w, ch));
            acc = MAX ? fmaxf(acc, v) : acc + v;
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && ch < c) {
        for (int k = 1; k < GY; k++) acc = MAX ? fmaxf(acc, part[k][threadIdx.x]) : acc + part[k][threadIdx.x];
        y.at(n, 0, 0, ch) = from_f<T>(MAX ? acc : acc / (float)hw);
    }
}

kiln_status check_pair(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, const char *fn, kiln_err *e) {
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (x->dtype != y->dtype)
        return kiln_err_set(e, KILN_ERR_DTYPE, "%s: x and y element types differ", fn);
    if (x->n != y->n || x->c != y->c)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x %dx%dx%dx%d, y %dx%dx%dx%d (n, c must match)",
                            fn, x->n, x->h, x->w, x->c, y->n, y->h, y->w, y->c);
    return KILN_OK;
}

template <bool MAX>
kiln_status pool2d_launch(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, const kiln_cuda_pool2d *p,
                          cudaStream_t s, kiln_err *e, const char *fn) {
    KILN_TRY(check_pair(x, y, fn, e));
    if (!p) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: no parameters", fn);
    for (int d = 0; d < 2; d++)
        if (p->kernel[d] < 1 || p->stride[d] < 1 || p->dilation[d] < 1 || p->pad_begin[d] < 0 ||
            p->pad_end[d] < 0)
            return kiln_err_set(e, KILN_ERR_INVALID_ARG,
                                "%s: kernel %d, stride %d, dilation %d, pads %d/%d on axis %d", fn,
                                p->kernel[d], p->stride[d], p->dilation[d], p->pad_begin[d],
                                p->pad_end[d], d);
    pool_geom g = {x->h, x->w, y->h, y->w, x->c,
                   p->kernel[0], p->kernel[1], p->stride[0], p->stride[1], p->dilation[0], p->dilation[1],
                   p->pad_begin[0], p->pad_begin[1], p->pad_end[0], p->pad_end[1], p->count_include_pad};
    int64_t total = kiln_cuda_nhwc_count(y);
    if (total == 0) return KILN_OK;
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        pool2d<T, MAX><<<grid_for(total, 256), 256, 0, s>>>(make_view<const T>(x), make_view<T>(y), g, total);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

template <bool MAX>
kiln_status global_launch(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y, cudaStream_t s, kiln_err *e,
                          const char *fn) {
    KILN_TRY(check_pair(x, y, fn, e));
    if (y->h != 1 || y->w != 1)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: y is %dx%d, not 1x1", fn, y->h, y->w);
    if (x->n > 65535) return kiln_err_set(e, KILN_ERR_SHAPE, "%s: batch %d > 65535", fn, x->n);
    if (kiln_cuda_nhwc_count(y) == 0) return KILN_OK;
    if (x->h * x->w == 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: empty input %dx%d", fn, x->h, x->w);
    dim3 grid((unsigned)((x->c + GX - 1) / GX), (unsigned)x->n);
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        global_pool<T, MAX><<<grid, dim3(GX, GY), 0, s>>>(make_view<const T>(x), make_view<T>(y),
                                                           x->h * x->w, x->w, x->c);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

} // namespace

extern "C" int kiln_cuda_pool_out_dim(int in, int kernel, int stride, int dilation, int pad_begin,
                                      int pad_end, int ceil_mode) {
    int span = in + pad_begin + pad_end - ((kernel - 1) * dilation + 1);
    if (span < 0 || stride < 1) return 0;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_begin) out--;
    return out;
}

extern "C" kiln_status kiln_cuda_maxpool2d(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                           const kiln_cuda_pool2d *p, cudaStream_t s, kiln_err *e) {
    return pool2d_launch<true>(x, y, p, s, e, "kiln_cuda_maxpool2d");
}

extern "C" kiln_status kiln_cuda_avgpool2d(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                           const kiln_cuda_pool2d *p, cudaStream_t s, kiln_err *e) {
    return pool2d_launch<false>(x, y, p, s, e, "kiln_cuda_avgpool2d");
}

extern "C" kiln_status kiln_cuda_global_avgpool(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                                cudaStream_t s, kiln_err *e) {
    return global_launch<false>(x, y, s, e, "kiln_cuda_global_avgpool");
}

extern "C" kiln_status kiln_cuda_global_maxpool(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                                cudaStream_t s, kiln_err *e) {
    return global_launch<true>(x, y, s, e, "kiln_cuda_global_maxpool");
}
