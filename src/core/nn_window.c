#include "core/nn_window.h"

#include <string.h>

/* Python-style floor division (ConvTranspose's total padding may be negative). */
static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t ceil_div_pos(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Fill the trailing nsp dims of w from per-dim arrays; leading dims become 1 x 1 windows. */
static void window_init(kiln_window *w, int nsp) {
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    for (int i = 0; i < KILN_WINDOW_DIMS; i++) w->in[i] = w->out[i] = w->k[i] = w->s[i] = w->d[i] = 1;
}

static kiln_status check_sd(const int64_t *s, const int64_t *d, int nsp, kiln_err *e) {
    for (int i = 0; i < nsp; i++) {
        if (s[i] <= 0) return kiln_err_set(e, KILN_ERR_SHAPE, "stride %lld must be positive", (long long)s[i]);
        if (d[i] <= 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "dilation %lld must be positive", (long long)d[i]);
    }
    return KILN_OK;
}

/* Output extent and resolved pads of one forward (Conv / pool) dimension. */
static kiln_status forward_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb_attr,
                               int64_t pe_attr, int auto_pad, int ceil_mode, int64_t *out,
                               int64_t *pb, int64_t *pe, kiln_err *e) {
    int64_t dk = (k - 1) * d + 1;
    if (auto_pad == KILN_AUTOPAD_SAME_UPPER || auto_pad == KILN_AUTOPAD_SAME_LOWER) {
        *out = ceil_div_pos(in, s);
        int64_t total = (*out - 1) * s + dk - in;
        if (total < 0) total = 0;
        *pb = auto_pad == KILN_AUTOPAD_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        return KILN_OK;
    }
    /* VALID: no padding, and ceil_mode has no say (ONNX's reference takes
       ceil((in - dk + 1) / s), which is the floor formula). */
    if (auto_pad == KILN_AUTOPAD_VALID) pb_attr = pe_attr = ceil_mode = 0;
    else if (auto_pad != KILN_AUTOPAD_NOTSET)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown auto_pad value %d", auto_pad);
    if (pb_attr < 0 || pe_attr < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "negative pads (%lld, %lld)", (long long)pb_attr,
                            (long long)pe_attr);
    int64_t span = in + pb_attr + pe_attr - dk;
    if (span < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE,
                            "input extent %lld (padded %lld) is smaller than the dilated kernel %lld",
                            (long long)in, (long long)(in + pb_attr + pe_attr), (long long)dk);
    if (ceil_mode) {
        *out = ceil_div_pos(span, s) + 1;
        /* The last window must start inside the input or the left padding. */
        if ((*out - 1) * s >= in + pb_attr) (*out)--;
    } else {
        *out = span / s + 1;
    }
    *pb = pb_attr;
    *pe = pe_attr;
    return KILN_OK;
}

kiln_status kiln_window_conv(const kiln_conv_attr *a, const kiln_shape *x, const kiln_shape *w,
                             kiln_window *win, kiln_err *e) {
    char bx[96], bw[96];
    kiln_shape_str(x, bx, sizeof bx);
    kiln_shape_str(w, bw, sizeof bw);
    if (x->ndim < 3 || x->ndim > 4)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "input %s: only 1-D and 2-D convolutions (rank 3 or 4) are supported", bx);
    if (w->ndim != x->ndim)
        return kiln_err_set(e, KILN_ERR_SHAPE, "weights %s must have the rank of input %s", bw, bx);
    int nsp = x->ndim - 2;
    if (a->nspatial && a->nspatial != nsp)
        return kiln_err_set(e, KILN_ERR_SHAPE, "attributes describe a %d-D convolution but input %s is %d-D",
                            a->nspatial, bx, nsp);
    if (a->group <= 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "group %lld must be positive", (long long)a->group);
    if (w->d[0] % a->group)
        return kiln_err_set(e, KILN_ERR_SHAPE, "weights %s: %lld output channels are not divisible by group %lld",
                            bw, (long long)w->d[0], (long long)a->group);
    if (x->d[1] != w->d[1] * a->group)
        return kiln_err_set(e, KILN_ERR_SHAPE,
                            "input %s has %lld channels but weights %s with group %lld expect %lld "
                            "(W.shape[1] * group)",
                            bx, (long long)x->d[1], bw, (long long)a->group,
                            (long long)(w->d[1] * a->group));
    KILN_TRY(check_sd(a->stride, a->dilation, nsp, e));
    window_init(win, nsp);
    int off = KILN_WINDOW_DIMS - nsp;
    for (int i = 0; i < nsp; i++) {
        int64_t k = w->d[2 + i];
        if (a->kernel[i] && a->kernel[i] != k)
            return kiln_err_set(e, KILN_ERR_SHAPE, "kernel_shape %lld (dim %d) disagrees with weights %s",
                                (long long)a->kernel[i], i, bw);
        if (k <= 0) return kiln_err_set(e, KILN_ERR_SHAPE, "weights %s have an empty kernel", bw);
        int j = off + i;
        win->in[j] = x->d[2 + i];
        win->k[j] = k;
        win->s[j] = a->stride[i];
        win->d[j] = a->dilation[i];
        kiln_status st = forward_dim(x->d[2 + i], k, a->stride[i], a->dilation[i], a->pad_begin[i],
                                     a->pad_end[i], a->auto_pad, 0, &win->out[j], &win->pb[j],
                                     &win->pe[j], e);
        if (st != KILN_OK) {
            kiln_err_prefix(e, "input %s, weights %s", bx, bw);
            return st;
        }
    }
    return KILN_OK;
}

kiln_status kiln_window_conv_transpose(const kiln_conv_attr *a, const kiln_shape *x,
                                       const kiln_shape *w, kiln_window *win, kiln_err *e) {
    char bx[96], bw[96];
    kiln_shape_str(x, bx, sizeof bx);
    kiln_shape_str(w, bw, sizeof bw);
    if (x->ndim < 3 || x->ndim > 4)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "input %s: only 1-D and 2-D transposed convolutions are supported", bx);
    if (w->ndim != x->ndim)
        return kiln_err_set(e, KILN_ERR_SHAPE, "weights %s must have the rank of input %s", bw, bx);
    int nsp = x->ndim - 2;
    if (a->nspatial && a->nspatial != nsp)
        return kiln_err_set(e, KILN_ERR_SHAPE, "attributes describe a %d-D convolution but input %s is %d-D",
                            a->nspatial, bx, nsp);
    if (a->group <= 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "group %lld must be positive", (long long)a->group);
    if (x->d[1] != w->d[0])
        return kiln_err_set(e, KILN_ERR_SHAPE,
                            "input %s has %lld channels but ConvTranspose weights %s expect %lld (W.shape[0])",
                            bx, (long long)x->d[1], bw, (long long)w->d[0]);
    if (x->d[1] % a->group)
        return kiln_err_set(e, KILN_ERR_SHAPE, "input %s: %lld channels are not divisible by group %lld", bx,
                            (long long)x->d[1], (long long)a->group);
    KILN_TRY(check_sd(a->stride, a->dilation, nsp, e));
    window_init(win, nsp);
    int off = KILN_WINDOW_DIMS - nsp;
    for (int i = 0; i < nsp; i++) {
        int64_t k = w->d[2 + i], in = x->d[2 + i], s = a->stride[i], d = a->dilation[i];
        if (a->kernel[i] && a->kernel[i] != k)
            return kiln_err_set(e, KILN_ERR_SHAPE, "kernel_shape %lld (dim %d) disagrees with weights %s",
                                (long long)a->kernel[i], i, bw);
        if (k <= 0) return kiln_err_set(e, KILN_ERR_SHAPE, "weights %s have an empty kernel", bw);
        int64_t dk = (k - 1) * d + 1, opad = a->output_padding[i], full = s * (in - 1) + opad + dk;
        int64_t out, pb, pe;
        int same = a->auto_pad == KILN_AUTOPAD_SAME_UPPER || a->auto_pad == KILN_AUTOPAD_SAME_LOWER;
        if (a->has_output_shape || same) {
            out = a->has_output_shape ? a->output_shape[i] : in * s;
            int64_t total = full - out;
            /* ONNX: SAME_UPPER puts the smaller half first, everything else the larger half. */
            if (a->auto_pad == KILN_AUTOPAD_SAME_UPPER) {
                pb = floor_div(total, 2);
                pe = total - pb;
            } else {
                pe = floor_div(total, 2);
                pb = total - pe;
            }
        } else if (a->auto_pad == KILN_AUTOPAD_VALID) {
            pb = pe = 0;
            out = full;
        } else if (a->auto_pad == KILN_AUTOPAD_NOTSET) {
            pb = a->pad_begin[i];
            pe = a->pad_end[i];
            if (pb < 0 || pe < 0)
                return kiln_err_set(e, KILN_ERR_SHAPE, "negative pads (%lld, %lld)", (long long)pb,
                                    (long long)pe);
            out = full - pb - pe;
        } else {
            return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "unknown auto_pad value %d", a->auto_pad);
        }
        if (out <= 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "input %s, weights %s: output extent %lld in dim %d is empty",
                                bx, bw, (long long)out, i);
        int j = off + i;
        win->in[j] = in;
        win->out[j] = out;
        win->k[j] = k;
        win->s[j] = s;
        win->d[j] = d;
        win->pb[j] = pb;
        win->pe[j] = pe;
    }
    return KILN_OK;
}

kiln_status kiln_window_pool(const kiln_pool_attr *a, const kiln_shape *x, kiln_window *win,
                             kiln_err *e) {
    char bx[96];
    kiln_shape_str(x, bx, sizeof bx);
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > KILN_WINDOW_DIMS)
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "input %s: pooling needs 1 to 3 spatial dimensions", bx);
    if (a->nspatial && a->nspatial != nsp)
        return kiln_err_set(e, KILN_ERR_SHAPE, "kernel_shape has %d dimensions but input %s has %d spatial ones",
                            a->nspatial, bx, nsp);
    KILN_TRY(check_sd(a->stride, a->dilation, nsp, e));
    window_init(win, nsp);
    int off = KILN_WINDOW_DIMS - nsp;
    for (int i = 0; i < nsp; i++) {
        if (a->kernel[i] <= 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "kernel_shape must give a positive extent for every "
                                "spatial dimension (dim %d is %lld)", i, (long long)a->kernel[i]);
        int j = off + i;
        win->in[j] = x->d[2 + i];
        win->k[j] = a->kernel[i];
        win->s[j] = a->stride[i];
        win->d[j] = a->dilation[i];
        kiln_status st = forward_dim(x->d[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                                     a->pad_begin[i], a->pad_end[i], a->auto_pad, a->ceil_mode,
                                     &win->out[j], &win->pb[j], &win->pe[j], e);
        if (st != KILN_OK) {
            kiln_err_prefix(e, "input %s", bx);
            return st;
        }
    }
    return KILN_OK;
}

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }
int64_t kiln_window_out_numel(const kiln_window *w) { return prod3(w->out); }
int64_t kiln_window_in_numel(const kiln_window *w) { return prod3(w->in); }
int64_t kiln_window_k_numel(const kiln_window *w) { return prod3(w->k); }
