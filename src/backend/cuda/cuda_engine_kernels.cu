/* cuda_engine_kernels.cu — the two kernels the engine needs beyond the building blocks:
 * random fill (tactic timing must not run on zeros) and per-channel scale + shift + activation
 * (batch norms the optimizer could not fold, DenseNet's pre-activations, with the activation
 * that follows fused in). */
#include <math.h>

#include "backend/cuda/cuda_engine_kernels.h"
#include "backend/cuda/cuda_pool.h"
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

/* V channels (16 bytes) of T per thread; window taps loop, accumulating in float. */
struct pool_vgeom {
    int ih, iw, oh, ow, cv;       /* cv: channel vectors */
    int kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, include_pad;
    int64_t xsn, xsh, xsw, ysn, ysh, ysw; /* strides in elements */
};

template <typename T, bool MAX, int V>
__global__ void pool_vec(const T *__restrict__ x, T *__restrict__ y, pool_vgeom g, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int cv = (int)(i % g.cv);
        int64_t r = i / g.cv;
        int ow = (int)(r % g.ow);
        r /= g.ow;
        int oh = (int)(r % g.oh);
        int n = (int)(r / g.oh);
        float acc[V];
#pragma unroll
        for (int k = 0; k < V; k++) acc[k] = MAX ? -INFINITY : 0.f;
        int count = 0;
        const T *xn = x + n * g.xsn + cv * V;
        for (int a = 0; a < g.kh; a++) {
            int ih = oh * g.sh - g.pt + a * g.dh;
            bool in_h = ih >= 0 && ih < g.ih;
            bool pad_h = ih >= -g.pt && ih < g.ih + g.pb;
            for (int b = 0; b < g.kw; b++) {
                int iw = ow * g.sw - g.pl + b * g.dw;
                bool in_w = iw >= 0 && iw < g.iw;
                if (in_h && in_w) {
                    uint4 raw = *reinterpret_cast<const uint4 *>(xn + ih * g.xsh + iw * g.xsw);
                    const T *t = reinterpret_cast<const T *>(&raw);
#pragma unroll
                    for (int k = 0; k < V; k++) {
                        float v = to_f(t[k]);
                        acc[k] = MAX ? fmaxf(acc[k], v) : acc[k] + v;
                    }
                }
                if (!MAX) count += g.include_pad ? (pad_h && (iw >= -g.pl && iw < g.iw + g.pr)) : (in_h && in_w);
            }
        }
        uint4 out;
        T *o = reinterpret_cast<T *>(&out);
#pragma unroll
        for (int k = 0; k < V; k++) o[k] = from_f<T>(MAX ? acc[k] : (count > 0 ? acc[k] / (float)count : 0.f));
        *reinterpret_cast<uint4 *>(y + n * g.ysn + oh * g.ysh + ow * g.ysw + cv * V) = out;
    }
}

/* One output pixel per thread: 4c real channels gathered from 4 input pixels, padded. */
template <typename T>
__global__ void to_s2d(const float *__restrict__ in, int c, int h, int w, int oh, int ow,
                       int64_t pixels, T *__restrict__ out, int cout, int64_t osn, int opitch) {
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pixels;
         p += (int64_t)gridDim.x * blockDim.x) {
        int j = (int)(p % ow);
        int64_t r = p / ow;
        int i = (int)(r % oh);
        int n = (int)(r / oh);
        T *dst = out + n * osn + ((int64_t)i * ow + j) * opitch;
        const float *src = in + (int64_t)n * c * h * w;
        for (int k = 0; k < cout; k++) {
            float v = 0.f;
            if (k < 4 * c) {
                int q = k / c, ch = k % c;
                v = src[((int64_t)ch * h + 2 * i + (q >> 1)) * w + 2 * j + (q & 1)];
            }
            dst[k] = from_f<T>(v);
        }
    }
}

/* V channels per thread; pixel p of a view starts at p * pitch + coff (h and w folded, which
   holds for every view: rows are w * pitch apart). */
struct vec_view {
    int64_t pitch;
    int64_t coff;
};

template <typename T, int V>
__global__ void bias_act_vec(const T *__restrict__ x, vec_view xv, const T *__restrict__ bias,
                             const T *__restrict__ r, vec_view rv, T *__restrict__ y, vec_view yv,
                             int cv, int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int v = (int)(i % cv);
        int64_t p = i / cv;
        uint4 raw = *reinterpret_cast<const uint4 *>(x + p * xv.pitch + xv.coff + v * V);
        const T *t = reinterpret_cast<const T *>(&raw);
        float a[V];
#pragma unroll
        for (int k = 0; k < V; k++) a[k] = to_f(t[k]);
        if (bias) {
            uint4 braw = *reinterpret_cast<const uint4 *>(bias + v * V);
            const T *b = reinterpret_cast<const T *>(&braw);
#pragma unroll
            for (int k = 0; k < V; k++) a[k] += to_f(b[k]);
        }
        if (r) {
            uint4 rraw = *reinterpret_cast<const uint4 *>(r + p * rv.pitch + rv.coff + v * V);
            const T *q = reinterpret_cast<const T *>(&rraw);
#pragma unroll
            for (int k = 0; k < V; k++) a[k] += to_f(q[k]);
        }
        uint4 out;
        T *o = reinterpret_cast<T *>(&out);
#pragma unroll
        for (int k = 0; k < V; k++) o[k] = from_f<T>(act_apply(act, a[k]));
        *reinterpret_cast<uint4 *>(y + p * yv.pitch + yv.coff + v * V) = out;
    }
}

template <typename T, int V>
__global__ void scale_shift_vec(const T *__restrict__ x, vec_view xv, const T *__restrict__ sc,
                                const T *__restrict__ sf, T *__restrict__ y, vec_view yv, int cv,
                                int64_t total, kiln_act act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int v = (int)(i % cv);
        int64_t p = i / cv;
        uint4 raw = *reinterpret_cast<const uint4 *>(x + p * xv.pitch + xv.coff + v * V);
        uint4 sraw = *reinterpret_cast<const uint4 *>(sc + v * V);
        uint4 fraw = *reinterpret_cast<const uint4 *>(sf + v * V);
        const T *t = reinterpret_cast<const T *>(&raw), *a = reinterpret_cast<const T *>(&sraw),
                *b = reinterpret_cast<const T *>(&fraw);
        uint4 out;
        T *o = reinterpret_cast<T *>(&out);
#pragma unroll
        for (int k = 0; k < V; k++) o[k] = from_f<T>(act_apply(act, to_f(t[k]) * to_f(a[k]) + to_f(b[k])));
        *reinterpret_cast<uint4 *>(y + p * yv.pitch + yv.coff + v * V) = out;
    }
}

bool vec_view_ok(const kiln_cuda_nhwc *v, int V) {
    int pitch = kiln_cuda_nhwc_pitch(v);
    return v->c % V == 0 && pitch % V == 0 && v->c_offset % V == 0 &&
           ((uintptr_t)v->data & 15u) == 0;
}

/* Same pixel grid: extents equal (n, h, w) so pixel p means the same place in both. */
bool same_grid(const kiln_cuda_nhwc *a, const kiln_cuda_nhwc *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

} // namespace

extern "C" int kiln_cuda_vec_ok(kiln_dtype t, int c, int pitch, int coff, size_t off) {
    size_t es = kiln_dtype_size(t);
    if (es == 0 || es > 16) return 0;
    int V = (int)(16 / es);
    return c % V == 0 && pitch % V == 0 && coff % V == 0 && off % 16 == 0;
}

extern "C" kiln_status kiln_cuda_bias_act_vec(const kiln_cuda_nhwc *x, const void *bias,
                                              const kiln_cuda_nhwc *residual,
                                              const kiln_cuda_nhwc *y, const kiln_act *act,
                                              cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_bias_act_vec";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (residual) KILN_TRY(check_view(residual, "residual", fn, e));
    if (!same_grid(x, y) || (residual && !same_grid(residual, y)) || x->dtype != y->dtype ||
        (residual && residual->dtype != y->dtype))
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: x, residual and y must have one extent and type", fn);
    int V = (int)(16 / kiln_dtype_size(y->dtype));
    if (!vec_view_ok(x, V) || !vec_view_ok(y, V) || (residual && !vec_view_ok(residual, V)) ||
        ((uintptr_t)bias & 15u))
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s: channels not in 16-byte vectors", fn);
    int cv = y->c / V;
    int64_t total = (int64_t)y->n * y->h * y->w * cv;
    if (total == 0) return KILN_OK;
    kiln_act a = {KILN_ACT_NONE, 0.f, 0.f};
    if (act) a = *act;
    vec_view xv = {kiln_cuda_nhwc_pitch(x), x->c_offset}, yv = {kiln_cuda_nhwc_pitch(y), y->c_offset};
    vec_view rv = residual ? vec_view{kiln_cuda_nhwc_pitch(residual), residual->c_offset} : yv;
    KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
        constexpr int VV = 16 / sizeof(T);
        bias_act_vec<T, VV><<<grid_for(total, 256), 256, 0, s>>>(
            (const T *)x->data, xv, (const T *)bias, residual ? (const T *)residual->data : nullptr,
            rv, (T *)y->data, yv, cv, total, a);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_pool2d_vec(const kiln_cuda_nhwc *x, const kiln_cuda_nhwc *y,
                                            const kiln_cuda_pool2d *p, int is_max, cudaStream_t s,
                                            kiln_err *e) {
    static const char *fn = "kiln_cuda_pool2d_vec";
    KILN_TRY(check_view(x, "x", fn, e));
    KILN_TRY(check_view(y, "y", fn, e));
    if (!p || x->dtype != y->dtype || x->n != y->n || x->c != y->c)
        return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: parameters, types or extents", fn);
    int es = (int)kiln_dtype_size(x->dtype), V = es ? 16 / es : 0;
    int xp = kiln_cuda_nhwc_pitch(x), yp = kiln_cuda_nhwc_pitch(y);
    if (!V || x->c % V || xp % V || yp % V || x->c_offset % V || y->c_offset % V ||
        ((uintptr_t)x->data & 15u) || ((uintptr_t)y->data & 15u))
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "%s: channels not in 16-byte vectors", fn);
    pool_vgeom g = {x->h, x->w, y->h, y->w, x->c / V,
                    p->kernel[0], p->kernel[1], p->stride[0], p->stride[1], p->dilation[0],
                    p->dilation[1], p->pad_begin[0], p->pad_begin[1], p->pad_end[0], p->pad_end[1],
                    p->count_include_pad,
                    (int64_t)x->h * x->w * xp, (int64_t)x->w * xp, xp,
                    (int64_t)y->h * y->w * yp, (int64_t)y->w * yp, yp};
    int64_t total = (int64_t)y->n * y->h * y->w * g.cv;
    if (total == 0) return KILN_OK;
    KILN_CUDA_DISPATCH(x->dtype, T, fn, e, {
        const T *xd = (const T *)x->data + x->c_offset;
        T *yd = (T *)y->data + y->c_offset;
        constexpr int VV = 16 / sizeof(T);
        if (is_max) pool_vec<T, true, VV><<<grid_for(total, 256), 256, 0, s>>>(xd, yd, g, total);
        else pool_vec<T, false, VV><<<grid_for(total, 256), 256, 0, s>>>(xd, yd, g, total);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

extern "C" kiln_status kiln_cuda_nchw_to_s2d(const float *in, int n, int c, int h, int w,
                                             const kiln_cuda_nhwc *out, cudaStream_t s, kiln_err *e) {
    static const char *fn = "kiln_cuda_nchw_to_s2d";
    KILN_TRY(check_view(out, "out", fn, e));
    if (h % 2 || w % 2 || out->n != n || out->h != h / 2 || out->w != w / 2 || out->c < 4 * c ||
        out->c_offset != 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%s: input %dx%dx%dx%d (NCHW) vs output %dx%dx%dx%d",
                            fn, n, c, h, w, out->n, out->h, out->w, out->c);
    int64_t pixels = (int64_t)n * out->h * out->w;
    if (pixels == 0) return KILN_OK;
    if (!in) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "%s: input is NULL", fn);
    int pitch = kiln_cuda_nhwc_pitch(out);
    KILN_CUDA_DISPATCH(out->dtype, T, fn, e, {
        to_s2d<T><<<grid_for(pixels, 256), 256, 0, s>>>(in, c, h, w, out->h, out->w, pixels,
                                                        (T *)out->data, out->c,
                                                        (int64_t)out->h * out->w * pitch, pitch);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

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
    int V = (int)(16 / kiln_dtype_size(y->dtype));
    if (vec_view_ok(x, V) && vec_view_ok(y, V) && !((uintptr_t)scale & 15u) &&
        !((uintptr_t)shift & 15u)) {
        int cv = y->c / V;
        int64_t tv = (int64_t)y->n * y->h * y->w * cv;
        vec_view xv = {kiln_cuda_nhwc_pitch(x), x->c_offset}, yv = {kiln_cuda_nhwc_pitch(y), y->c_offset};
        KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
            constexpr int VV = 16 / sizeof(T);
            scale_shift_vec<T, VV><<<grid_for(tv, 256), 256, 0, s>>>(
                (const T *)x->data, xv, (const T *)scale, (const T *)shift, (T *)y->data, yv, cv, tv, a);
        });
        KILN_CUDA_CHECK(e, cudaGetLastError());
        return KILN_OK;
    }
    KILN_CUDA_DISPATCH(y->dtype, T, fn, e, {
        scale_shift_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(
            make_view<const T>(x), (const T *)scale, (const T *)shift, make_view<T>(y), y->h, y->w,
            y->c, total, a);
    });
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}

namespace {
__global__ void barrier_kernel() {}
} // namespace

extern "C" kiln_status kiln_cuda_barrier(cudaStream_t s, kiln_err *e) {
    barrier_kernel<<<1, 1, 0, s>>>();
    KILN_CUDA_CHECK(e, cudaGetLastError());
    return KILN_OK;
}
