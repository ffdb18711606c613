#include "core/tensor_params.h"

#include <string.h>

#include "core/dtype.h"

/* Opset 0 (a node built by hand, not imported) means the newest semantics. */
static int opset_at_least(const kiln_node *n, int v) { return n->opset == 0 || n->opset >= v; }

kiln_status kiln_read_int_input(const kiln_view *in, const char *what, int64_t *v, int max,
                                int *count, kiln_err *e) {
    if (in->dtype != KILN_I64 && in->dtype != KILN_I32)
        return kiln_err_set(e, KILN_ERR_DTYPE, "the %s input must be int64 or int32, not %s", what,
                            kiln_dtype_name(in->dtype));
    if (in->shape.ndim > 1) {
        char b[96];
        return kiln_err_set(e, KILN_ERR_SHAPE, "the %s input must be 1-D, not %s", what,
                            kiln_shape_str(&in->shape, b, sizeof b));
    }
    int64_t k = kiln_shape_numel(&in->shape);
    if (!in->data && k != 0) /* an empty constant may come without a buffer */
        return kiln_err_set(e, KILN_ERR_UNSUPPORTED,
                            "the %s input is not a constant and could not be computed before "
                            "running",
                            what);
    if (k > max)
        return kiln_err_set(e, KILN_ERR_SHAPE, "the %s input has %lld values, at most %d allowed",
                            what, (long long)k, max);
    for (int64_t i = 0; i < k; i++) v[i] = kiln_elem_get_i64(in->data, in->dtype, i);
    *count = (int)k;
    return KILN_OK;
}

/* Normalize axes in place for rank r; reject out-of-range and repeated axes. */
static kiln_status norm_axes(int64_t *axes, int naxes, int rank, const char *what, kiln_err *e) {
    for (int i = 0; i < naxes; i++) {
        int64_t a = kiln_axis_norm(axes[i], rank);
        if (a < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%s %lld is out of range for rank %d", what,
                                (long long)axes[i], rank);
        for (int j = 0; j < i; j++)
            if (axes[j] == a)
                return kiln_err_set(e, KILN_ERR_SHAPE, "%s %lld appears twice", what,
                                    (long long)axes[i]);
        axes[i] = a;
    }
    return KILN_OK;
}

kiln_status kiln_slice_resolve(const kiln_node *n, int n_in, const kiln_view *in,
                               kiln_slice_plan *p, kiln_err *e) {
    const kiln_shape *s = &in[0].shape;
    int r = s->ndim, k;
    int64_t starts[KILN_MAX_DIMS], ends[KILN_MAX_DIMS], axes[KILN_MAX_DIMS], steps[KILN_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
        p->count[i] = s->d[i];
    }
    if (n->a.slice.n > 0 || !kiln_input_present(n_in, in, 1)) {
        /* Attribute form (opset < 10). */
        k = n->a.slice.n;
        if (k > KILN_MAX_DIMS)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%d slice axes, at most %d", k, KILN_MAX_DIMS);
        for (int i = 0; i < k; i++) {
            starts[i] = n->a.slice.starts[i];
            ends[i] = n->a.slice.ends[i];
            axes[i] = n->a.slice.has_axes ? n->a.slice.axes[i] : i;
            steps[i] = 1;
        }
    } else {
        int ke, ka, ks;
        KILN_TRY(kiln_read_int_input(&in[1], "starts", starts, KILN_MAX_DIMS, &k, e));
        if (!kiln_input_present(n_in, in, 2))
            return kiln_err_set(e, KILN_ERR_INVALID_ARG, "the ends input is missing");
        KILN_TRY(kiln_read_int_input(&in[2], "ends", ends, KILN_MAX_DIMS, &ke, e));
        if (ke != k)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%d starts but %d ends", k, ke);
        if (kiln_input_present(n_in, in, 3)) {
            KILN_TRY(kiln_read_int_input(&in[3], "axes", axes, KILN_MAX_DIMS, &ka, e));
            if (ka != k) return kiln_err_set(e, KILN_ERR_SHAPE, "%d starts but %d axes", k, ka);
        } else
            for (int i = 0; i < k; i++) axes[i] = i;
        if (kiln_input_present(n_in, in, 4)) {
            KILN_TRY(kiln_read_int_input(&in[4], "steps", steps, KILN_MAX_DIMS, &ks, e));
            if (ks != k) return kiln_err_set(e, KILN_ERR_SHAPE, "%d starts but %d steps", k, ks);
        } else
            for (int i = 0; i < k; i++) steps[i] = 1;
    }
    KILN_TRY(norm_axes(axes, k, r, "slice axis", e));
    for (int i = 0; i < k; i++) {
        int64_t ax = axes[i], dim = s->d[ax], st = starts[i], en = ends[i], step = steps[i];
        if (step == 0) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "slice step is 0 on axis %lld",
                                           (long long)ax);
        /* ONNX: negative indices count from the end, then clamp to [0, dim] going forwards and
           to [-1, dim - 1] (start: [0, dim - 1]) going backwards, as Python slicing does. */
        if (st < 0) st += dim;
        if (en < 0) en += dim;
        int64_t cnt;
        if (step > 0) {
            st = st < 0 ? 0 : (st > dim ? dim : st);
            en = en < 0 ? 0 : (en > dim ? dim : en);
            cnt = en > st ? (en - st - 1) / step + 1 : 0;
        } else {
            /* A start still negative selects nothing, as in numpy (the ONNX reference), where
               the spec's wording would clamp it to 0. */
            st = st < 0 ? -1 : (st > dim - 1 ? dim - 1 : st);
            en = en < -1 ? -1 : (en > dim - 1 ? dim - 1 : en);
            /* |step| in unsigned arithmetic: step may be INT64_MIN. */
            cnt = st > en ? (int64_t)((uint64_t)(st - en - 1) / (0u - (uint64_t)step)) + 1 : 0;
        }
        p->start[ax] = cnt ? st : 0;
        p->step[ax] = cnt > 1 ? step : 1; /* a huge step reading one element: keep offsets small */
        p->count[ax] = cnt;
    }
    return KILN_OK;
}

kiln_status kiln_pad_resolve(const kiln_node *n, int n_in, const kiln_view *in, kiln_pad_plan *p,
                             kiln_err *e) {
    int r = in[0].shape.ndim;
    memset(p, 0, sizeof *p);
    int64_t pads[2 * KILN_MAX_DIMS], axes[KILN_MAX_DIMS];
    int np, na;
    if (kiln_input_present(n_in, in, 1)) {
        KILN_TRY(kiln_read_int_input(&in[1], "pads", pads, 2 * KILN_MAX_DIMS, &np, e));
    } else {
        np = n->a.pad.npads;
        if (np > 2 * KILN_MAX_DIMS)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%d pads, at most %d", np, 2 * KILN_MAX_DIMS);
        memcpy(pads, n->a.pad.pads, sizeof(int64_t) * (size_t)np);
    }
    if (kiln_input_present(n_in, in, 3)) {
        KILN_TRY(kiln_read_int_input(&in[3], "axes", axes, KILN_MAX_DIMS, &na, e));
        KILN_TRY(norm_axes(axes, na, r, "pad axis", e));
    } else {
        na = r;
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    if (np != 2 * na)
        return kiln_err_set(e, KILN_ERR_SHAPE, "%d pads given for %d axes (need %d)", np, na,
                            2 * na);
    for (int i = 0; i < na; i++) {
        p->begin[axes[i]] = pads[i];
        p->end[axes[i]] = pads[na + i];
    }
    for (int i = 0; i < r; i++) {
        int64_t d = in[0].shape.d[i];
        if (d + p->begin[i] + p->end[i] < 0)
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "pads %lld, %lld on axis %d of size %lld leave a negative size",
                                (long long)p->begin[i], (long long)p->end[i], i, (long long)d);
        if (n->a.pad.mode != KILN_PAD_CONSTANT && d == 0 && (p->begin[i] > 0 || p->end[i] > 0))
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "cannot pad the empty axis %d in a non-constant mode", i);
    }
    return KILN_OK;
}

kiln_status kiln_axes_resolve(const kiln_node *n, int n_in, const kiln_view *in, int rank,
                              int64_t *axes, int *naxes, int *given, kiln_err *e) {
    if (kiln_input_present(n_in, in, 1)) {
        KILN_TRY(kiln_read_int_input(&in[1], "axes", axes, KILN_MAX_DIMS, naxes, e));
        *given = 1;
    } else if (n->a.axes.has_axes) {
        *naxes = n->a.axes.naxes;
        if (*naxes > KILN_MAX_DIMS)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%d axes, at most %d", *naxes, KILN_MAX_DIMS);
        memcpy(axes, n->a.axes.axes, sizeof(int64_t) * (size_t)*naxes);
        *given = 1;
    } else {
        *naxes = 0;
        *given = 0;
    }
    return norm_axes(axes, *naxes, rank, "axis", e);
}

kiln_status kiln_reduce_resolve(const kiln_node *n, int n_in, const kiln_view *in,
                                unsigned char mask[KILN_MAX_DIMS], int *noop, kiln_err *e) {
    int r = in[0].shape.ndim, na, given;
    int64_t axes[KILN_MAX_DIMS];
    KILN_TRY(kiln_axes_resolve(n, n_in, in, r, axes, &na, &given, e));
    memset(mask, 0, KILN_MAX_DIMS);
    *noop = 0;
    if (na == 0) {
        /* No axes (absent or empty): all of them, or none with noop_with_empty_axes. */
        if (n->a.axes.noop_with_empty_axes) *noop = 1;
        else memset(mask, 1, (size_t)r);
    }
    for (int i = 0; i < na; i++) mask[axes[i]] = 1;
    return KILN_OK;
}

kiln_status kiln_split_resolve(const kiln_node *n, int n_in, const kiln_view *in, int n_out,
                               int64_t *axis, int64_t *sizes, kiln_err *e) {
    const kiln_shape *s = &in[0].shape;
    int64_t ax = kiln_axis_norm(n->a.split.axis, s->ndim);
    if (ax < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "split axis %lld is out of range for rank %d",
                            (long long)n->a.split.axis, s->ndim);
    *axis = ax;
    int64_t dim = s->d[ax];
    if (n_out < 1) return kiln_err_set(e, KILN_ERR_INVALID_ARG, "split has no outputs");
    int k;
    if (kiln_input_present(n_in, in, 1) || n->a.split.nsplit > 0) {
        if (kiln_input_present(n_in, in, 1)) {
            int64_t tmp[128];
            if (n_out > 128)
                return kiln_err_set(e, KILN_ERR_SHAPE, "%d split outputs, at most 128", n_out);
            KILN_TRY(kiln_read_int_input(&in[1], "split", tmp, 128, &k, e));
            if (k == n_out) memcpy(sizes, tmp, sizeof(int64_t) * (size_t)k);
        } else {
            k = n->a.split.nsplit;
            if (k == n_out) memcpy(sizes, n->a.split.split, sizeof(int64_t) * (size_t)k);
        }
        if (k != n_out)
            return kiln_err_set(e, KILN_ERR_SHAPE, "%d split sizes for %d outputs", k, n_out);
        int64_t sum = 0;
        for (int i = 0; i < k; i++) {
            if (sizes[i] < 0)
                return kiln_err_set(e, KILN_ERR_SHAPE, "split size %lld is negative",
                                    (long long)sizes[i]);
            sum += sizes[i];
        }
        if (sum != dim)
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "split sizes add up to %lld but axis %lld has %lld elements",
                                (long long)sum, (long long)ax, (long long)dim);
        return KILN_OK;
    }
    int64_t parts = n->a.split.num_outputs > 0 ? n->a.split.num_outputs : n_out;
    if (parts != n_out)
        return kiln_err_set(e, KILN_ERR_SHAPE, "num_outputs is %lld but the node has %d outputs",
                            (long long)parts, n_out);
    /* Equal parts; from opset 18 the last one may be smaller. */
    int64_t chunk = dim / parts;
    if (dim % parts) {
        if (!opset_at_least(n, 18))
            return kiln_err_set(e, KILN_ERR_SHAPE,
                                "axis %lld of size %lld does not split into %lld equal parts",
                                (long long)ax, (long long)dim, (long long)parts);
        chunk = dim / parts + 1;
    }
    int64_t last = dim - chunk * (parts - 1);
    if (last < 0)
        return kiln_err_set(e, KILN_ERR_SHAPE, "axis %lld of size %lld cannot split into %lld parts",
                            (long long)ax, (long long)dim, (long long)parts);
    for (int i = 0; i < n_out; i++) sizes[i] = i == n_out - 1 ? last : chunk;
    return KILN_OK;
}
