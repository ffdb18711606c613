/* cuda_dwconv.cu — depthwise convolution, NHWC.
 *
 * Depthwise layers do little arithmetic per byte (kh*kw MACs per output), so the kernel is built
 * for memory traffic: each thread owns one output pixel and a 16-byte vector of channels (4 FP32
 * or 8 FP16/BF16), loads each tap's input vector and weight vector with one 16-byte access, and
 * accumulates in FP32. A warp covers 32 consecutive vectors (512 bytes) of a pixel row, so every
 * load is coalesced, and neighbouring output pixels re-read overlapping inputs from L1/L2. Views
 * whose channels are not 16-byte aligned fall back to one channel per thread.
 */
#include "backend/cuda/cuda_dwconv.h"
#include "backend/cuda/cuda_kernel_util.cuh"

using namespace kiln_cuda;

namespace {

struct dw_geom {
    int ih, iw, oh, ow, c;
    int kh, kw, sh, sw, dh, dw, pt, pl;
};

/* V channels of type T moved as one 16-byte access (or a scalar when V == 1). */
template <typename T, int V>
__device__ __forceinline__ void load_vec(const T *p, float (&out)[V]) {
    if constexpr (V == 1) {
        out[0] = to_f(p[0]);
    } else {
        static_assert(sizeof(T) * V == 16, "16-byte vectors");
        uint4 raw = *reinterpret_cast<const uint4 *>(p);
        const T *t = reinterpret_cast<const T *>(&raw);
#pragma unroll
        for (int k = 0; k < V; k++) out[k] = to_f(t[k]);
    }
}

template <typename T, int V>
__device__ __forceinline__ void store_vec(T *p, const float (&in)[V]) {
    if constexpr (V == 1) {
        p[0] = from_f<T>(in[0]);
    } else {
        uint4 raw;
        T *t = reinterpret_cast<T *>(&raw);
#pragma unroll
        for (int k = 0; k < V; k++) t[k] = from_f<T>(in[k]);
        *reinterpret_cast<uint4 *>(p) = raw;
    }
}

/* KH, KW > 0: unrolled taps; 0: the runtime sizes in g. */
template <typename T, int V, int KH, int KW>
__global__ void dwconv_kernel(view<const T> x, const T *__restrict__ w, const T *__restrict__ bias,
                              view<T> y, dw_geom g, int64_t total, kiln_act act) {
    const int kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw;
    const int cv = g.c / V;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int c = (int)(i % cv) * V;
        int64_t r = i / cv;
        int ow = (int)(r % g.ow);
        r /= g.ow;
        int oh = (int)(r % g.oh);
        int n = (int)(r / g.oh);
        float acc[V];
        if (bias) {
            load_vec<T, V>(bias + c, acc);
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) acc[k] = 0.f;
        }
        int ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
#pragma unroll
        for (int a = 0; a < kh; a++) {
            int ih = ih0 + a * g.dh;
            if (ih < 0 || ih >= g.ih) continue;
#pragma unroll
            for (int b = 0; b < kw; b++) {
                int iw = iw0 + b * g.dw;
                if (iw < 0 || iw >= g.iw) continue;
                float xv[V], wv[V];
                load_vec<T, V>(&x.at(n, ih, iw, c), xv);
                load_vec<T, V>(w + ((int64_t)a * kw + b) * g.c + c, wv);
#pragma unroll
                for (int k = 0; k < V; k++) acc[k] = fmaf(xv[k], wv[k], acc[k]);
            }
        }
#pragma unroll
        for (int k = 0; k < V; k++) acc[k] = act_apply(act, acc[k]);
        store_vec<T, V>(&y.at(n, oh, ow, c), acc);
    }
}

template <typename T, int V>
void launch(view<const T> x, const T *w, const T *bias, view<T> y, const dw_geom &g, int n,
            kiln_act act, cudaStream_t s) {
    int64_t total = (int64_t)n * g.oh * g.ow * (g.c / V);
    unsigned grid = grid_for(total, 256);
    if (g.kh == 3 && g.kw == 3)
        dwconv_kernel<T, V, 3, 3><<<grid, 256, 0, s>>>(x, w, bias, y, g, total, act);
    else if (g.kh == 5 && g.kw == 5)
        dwconv_kernel<T, V, 5, 5><<<grid, 256, 0, s>>>(x, w, bias, y, g, total, act);
    else
        dwconv_kernel<T, V, 0, 0><<<grid, 256, 0, s>>>(x, w, bias, y, g, total, act);
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Can the view be read in V-channel 16-byte vectors? */
bool vec_ok(const kiln_cuda_nhwc *v, int V, size_t esize) {
    return v->c % V == 0 && kiln_cuda_nhwc_pitch(v) % V == 0 && v->c_offset % V == 0 &&
           aligned16((const char *)v->data + (size_t)v->c_offset * esize);
}

} // namespace

extern "C" kiln_status kiln_cuda_dwconv_run(const kiln_cuda_nhwc *x, const void *w, const void *bias,
                                            const kiln_cuda_nhwc *y, const kiln_cuda_dwconv *p,
                                            cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_dwconv_run";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!p || !w) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: no parameters or weights", fn);
    if (x->dtype != y->dtype || x->n != y->n || x->c != y->c)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x %dx%dx%dx%d vs y %dx%dx%dx%d (n, c, dtype must match)",
                            fn, x->n, x->h, x->w, x->c, y->n, y->h, y->w, y->c);
    for (int d = 0; d < 2; d++)
        if (p->kernel[d] < 1 || p->stride[d] < 1 || p->dilation[d] < 1 || p->pad_begin[d] < 0)
            return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: kernel %d, stride %d, dilation %d, pad %d on axis %d",
                                fn, p->kernel[d], p->stride[d], p->dilation[d], p->pad_begin[d], d);
    if (kiln_cuda_nhwc_count(y) == 0) return KILN_OK;
    dw_geom g = {x->h, x->w, y->h, y->w, x->c, p->kernel[0], p->kernel[1], p->stride[0], p->stride[1],
                 p->dilation[0], p->dilation[1], p->pad_begin[0], p->pad_begin[1]};
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        constexpr int V = 16 / (int)sizeof(T);
        bool vec = vec_ok(x, V, sizeof(T)) && vec_ok(y, V, sizeof(T)) && aligned16(w) &&
                   (!bias || aligned16(bias));
        if (vec)
            launch<T, V>(make_view<const T>(x), (const T *)w, (const T *)bias, make_view<T>(y), g, x->n, p->act, s);
        else
            launch<T, 1>(make_view<const T>(x), (const T *)w, (const T *)bias, make_view<T>(y), g, x->n, p->act, s);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" void kiln_cuda_dwconv_pack_weights(const float *oihw, int c, int kh, int kw, float *hwc) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) hwc[((size_t)i * kw + j) * c + ch] = oihw[((size_t)ch * kh + i) * kw + j];
}
