/* CPU Transpose, Concat, Split, Gather, Slice, Pad against brute-force references, on random
 * shapes and element types, every opset form, through their infer functions. */
#include "tensor_test_util.h"

static kiln_rng rng;
static kiln_cpu *cpu2;

static const kiln_dtype any_types[] = {KILN_F32, KILN_I64, KILN_U8, KILN_F16, KILN_BOOL};
static kiln_dtype rand_type(void) { return any_types[tt_rand(&rng, 0, 4)]; }

/* Bitwise element equality. */
static int elem_eq(const kiln_view *a, int64_t i, const kiln_view *b, int64_t j) {
    size_t es = kiln_dtype_size(a->dtype);
    return !memcmp((const char *)a->data + (size_t)i * es, (const char *)b->data + (size_t)j * es, es);
}

static int64_t ravel(const kiln_shape *s, const int64_t *idx) {
    int64_t off = 0;
    for (int k = 0; k < s->ndim; k++) off = off * s->d[k] + idx[k];
    return off;
}

/* ---- Transpose ---------------------------------------------------------------------------- */

static void test_transpose(void) {
    int fails = 0;
    for (int rep = 0; rep < 150; rep++) {
        int r = (int)tt_rand(&rng, 0, 6);
        kiln_shape s = tt_rand_shape(&rng, r, rep % 10 == 0 ? 0 : 1, 6);
        int64_t perm[KILN_MAX_DIMS];
        for (int i = 0; i < r; i++) perm[i] = i;
        for (int i = r - 1; i > 0; i--) {
            int j = (int)tt_rand(&rng, 0, i);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        kiln_node n = tt_node(KILN_OP_TRANSPOSE, 13, 1, 1);
        int dflt = rep % 7 == 0;
        if (!dflt) {
            n.a.transpose.nperm = r;
            memcpy(n.a.transpose.perm, perm, sizeof perm);
        } else
            for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        kiln_dtype t = rand_type();
        if (rep < 6) { /* big ones: tiles (ragged edges too), threads, channel shuffle */
            static const int64_t bs[6][5] = {{2, 64, 56, 56}, {3, 300, 200}, {2, 4, 29, 17, 33},
                                             {1, 3, 224, 224}, {5, 37, 43}, {2, 3, 67, 9}};
            static const int64_t bp[6][5] = {{0, 2, 3, 1}, {0, 2, 1}, {0, 2, 1, 3, 4}, {0, 3, 2, 1},
                                             {0, 2, 1}, {3, 1, 0, 2}};
            static const int br[6] = {4, 3, 5, 4, 3, 4};
            r = br[rep];
            s = kiln_shape_make(r, bs[rep]);
            n.a.transpose.nperm = r;
            memcpy(perm, bp[rep], sizeof(int64_t) * (size_t)r);
            memcpy(n.a.transpose.perm, perm, sizeof(int64_t) * (size_t)r);
            t = rep == 2 ? KILN_F64 : KILN_F32;
        }
        kiln_view in = tt_view(t, s.ndim, s.d), out;
        tt_fill(&rng, &in, -100, 100);
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, &in, &out, &e);
        CHECK(st == KILN_OK, "transpose: %s", e.msg);
        if (st == KILN_OK) {
            int ok = out.shape.ndim == r;
            for (int i = 0; i < r && ok; i++) ok = out.shape.d[i] == s.d[perm[i]];
            CHECK(ok, "transpose shape");
            int64_t oi[KILN_MAX_DIMS] = {0}, ii[KILN_MAX_DIMS] = {0};
            for (int64_t i = 0; ok && i < tt_numel(&out); i++) {
                tt_unravel(&out.shape, i, oi);
                for (int k = 0; k < r; k++) ii[perm[k]] = oi[k];
                if (!elem_eq(&out, i, &in, ravel(&s, ii))) {
                    fails++;
                    break;
                }
            }
            tt_free(&out);
        }
        tt_free(&in);
    }
    CHECK(fails == 0, "transpose: %d wrong", fails);
    kiln_node n = tt_node(KILN_OP_TRANSPOSE, 13, 1, 1);
    n.a.transpose.nperm = 3;
    n.a.transpose.perm[0] = 0, n.a.transpose.perm[1] = 0, n.a.transpose.perm[2] = 1;
    kiln_view in = tt_view(KILN_F32, 3, (int64_t[]){2, 3, 4});
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, &in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "perm"),
          "bad perm: %s", e.msg);
    tt_free(&in);
}

/* ---- Concat / Split ----------------------------------------------------------------------- */

static void test_concat_split(void) {
    int fails = 0;
    for (int rep = 0; rep < 120; rep++) {
        int r = (int)tt_rand(&rng, 1, 5);
        kiln_shape base = tt_rand_shape(&rng, r, 1, 5);
        int axis = (int)tt_rand(&rng, 0, r - 1);
        int k = (int)tt_rand(&rng, 1, 6);
        kiln_dtype t = rand_type();
        if (rep == 0) { /* DenseNet-like: big, threaded */
            r = 4, axis = 1, k = 3, t = KILN_F32;
            base = kiln_shape_make(4, (int64_t[]){4, 32, 28, 28});
        }
        kiln_view in[8];
        for (int i = 0; i < k; i++) {
            kiln_shape s = base;
            s.d[axis] = tt_rand(&rng, 0, 4); /* empty inputs too */
            if (rep == 0) s.d[axis] = 32 * (i + 1);
            in[i] = tt_view(t, s.ndim, s.d);
            tt_fill(&rng, &in[i], -50, 50);
        }
        kiln_node n = tt_node(KILN_OP_CONCAT, 13, k, 1);
        n.a.axis.axis = rep & 1 ? axis - r : axis; /* negative axes */
        kiln_view out;
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 2 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "concat: %s", e.msg);
        if (st != KILN_OK) {
            for (int i = 0; i < k; i++) tt_free(&in[i]);
            continue;
        }
        int64_t total = 0;
        for (int i = 0; i < k; i++) total += in[i].shape.d[axis];
        CHECK(out.shape.d[axis] == total, "concat axis size");
        int64_t idx[KILN_MAX_DIMS];
        for (int64_t i = 0; i < tt_numel(&out); i++) {
            tt_unravel(&out.shape, i, idx);
            int j = 0;
            while (idx[axis] >= in[j].shape.d[axis]) idx[axis] -= in[j++].shape.d[axis];
            if (!elem_eq(&out, i, &in[j], ravel(&in[j].shape, idx))) {
                fails++;
                break;
            }
        }
        /* Split it back: by a split attribute (opset 11), a split input (13), and, where the
           sizes are equal, implicitly. */
        kiln_view parts[8], sin[2] = {out, tt_absent()};
        int64_t sizes[8];
        for (int i = 0; i < k; i++) sizes[i] = in[i].shape.d[axis];
        for (int form = 0; form < 2; form++) {
            kiln_node sn = tt_node(KILN_OP_SPLIT, form ? 13 : 11, form ? 2 : 1, k);
            sn.a.split.axis = rep & 1 ? axis - r : axis;
            if (form) sin[1] = tt_i64(k, sizes);
            else {
                sn.a.split.nsplit = k;
                memcpy(sn.a.split.split, sizes, sizeof(int64_t) * (size_t)k);
            }
            st = tt_infer_run(rep & 2 ? cpu2 : NULL, &sn, sin, parts, &e);
            CHECK(st == KILN_OK, "split form %d: %s", form, e.msg);
            if (st == KILN_OK)
                for (int i = 0; i < k; i++) {
                    int same = kiln_shape_eq(&parts[i].shape, &in[i].shape) &&
                               !memcmp(parts[i].data, in[i].data,
                                       (size_t)tt_numel(&in[i]) * kiln_dtype_size(t));
                    if (!same) fails++;
                    tt_free(&parts[i]);
                }
            if (form) tt_free(&sin[1]);
        }
        tt_free(&out);
        for (int i = 0; i < k; i++) tt_free(&in[i]);
    }
    CHECK(fails == 0, "concat/split: %d wrong", fails);

    /* Equal splits: divisible before opset 18; from 18 num_outputs with a smaller last part. */
    kiln_view x = tt_view(KILN_F32, 2, (int64_t[]){2, 7}), parts[4];
    tt_fill(&rng, &x, 0, 1);
    kiln_node sn = tt_node(KILN_OP_SPLIT, 13, 1, 3);
    sn.a.split.axis = -1;
    kiln_err e;
    CHECK(tt_infer_run(NULL, &sn, &x, parts, &e) == KILN_ERR_SHAPE && strstr(e.msg, "equal"),
          "uneven split before 18: %s", e.msg);
    sn = tt_node(KILN_OP_SPLIT, 18, 1, 3);
    sn.a.split.axis = 1;
    sn.a.split.num_outputs = 3;
    CHECK_OK(tt_infer_run(NULL, &sn, &x, parts, &e));
    CHECK(parts[0].shape.d[1] == 3 && parts[1].shape.d[1] == 3 && parts[2].shape.d[1] == 1,
          "num_outputs split sizes 3,3,1");
    CHECK(((float *)parts[2].data)[0] == ((float *)x.data)[6] &&
              ((float *)parts[1].data)[3] == ((float *)x.data)[10],
          "num_outputs split values");
    for (int i = 0; i < 3; i++) tt_free(&parts[i]);
    sn = tt_node(KILN_OP_SPLIT, 13, 1, 2);
    sn.a.split.axis = 0;
    CHECK_OK(tt_infer_run(NULL, &sn, &x, parts, &e));
    CHECK(parts[0].shape.d[0] == 1 && ((float *)parts[1].data)[0] == ((float *)x.data)[7],
          "implicit equal split");
    tt_free(&parts[0]);
    tt_free(&parts[1]);
    kiln_view bad[2] = {x, tt_i64(2, (int64_t[]){3, 3})};
    sn.a.split.axis = 1;
    sn.n_in = 2;
    CHECK(tt_infer_run(NULL, &sn, bad, parts, &e) == KILN_ERR_SHAPE && strstr(e.msg, "6") &&
              strstr(e.msg, "7"),
          "split sizes that do not add up: %s", e.msg);
    tt_free(&bad[1]);
    /* Concat of mismatched inputs names both shapes. */
    kiln_view c2[2] = {x, tt_view(KILN_F32, 2, (int64_t[]){3, 5})};
    kiln_node cn = tt_node(KILN_OP_CONCAT, 13, 2, 1);
    kiln_shape os;
    kiln_dtype od;
    CHECK(tt_infer(&cn, c2, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "3x5") &&
              strstr(e.msg, "2x7"),
          "concat mismatch: %s", e.msg);
    tt_free(&c2[1]);
    tt_free(&x);
}

/* ---- Gather -------------------------------------------------------------------------------- */

static void test_gather(void) {
    int fails = 0;
    for (int rep = 0; rep < 120; rep++) {
        int r = (int)tt_rand(&rng, 1, 4);
        kiln_shape s = tt_rand_shape(&rng, r, 1, 6);
        int axis = (int)tt_rand(&rng, 0, r - 1);
        int q = (int)tt_rand(&rng, 0, 8 - r < 3 ? 8 - r : 3);
        kiln_shape is = tt_rand_shape(&rng, q, 0, 4);
        kiln_dtype t = rand_type(), it = rep & 1 ? KILN_I32 : KILN_I64;
        if (rep == 0) { /* embedding-like, threaded */
            s = kiln_shape_make(2, (int64_t[]){1000, 64});
            r = 2, axis = 0, q = 2;
            is = kiln_shape_make(2, (int64_t[]){32, 50});
            t = KILN_F32;
        }
        kiln_view in[2] = {tt_view(t, s.ndim, s.d), tt_view(it, is.ndim, is.d)}, out;
        tt_fill(&rng, &in[0], -50, 50);
        int64_t dim = s.d[axis];
        tt_fill(&rng, &in[1], (double)-dim, (double)dim); /* negative indices too */
        kiln_node n = tt_node(KILN_OP_GATHER, 13, 2, 1);
        n.a.gather.axis = rep & 2 ? axis - r : axis;
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 4 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "gather: %s", e.msg);
        if (st == KILN_OK) {
            CHECK(out.shape.ndim == r - 1 + q && out.dtype == t, "gather shape");
            int64_t oi[KILN_MAX_DIMS] = {0}, ii[KILN_MAX_DIMS] = {0};
            for (int64_t i = 0; i < tt_numel(&out); i++) {
                tt_unravel(&out.shape, i, oi);
                for (int k = 0; k < axis; k++) ii[k] = oi[k];
                int64_t v = kiln_elem_get_i64(in[1].data, it, ravel(&is, oi + axis));
                ii[axis] = v < 0 ? v + dim : v;
                for (int k = axis + 1; k < r; k++) ii[k] = oi[k - 1 + q];
                if (!elem_eq(&out, i, &in[0], ravel(&s, ii))) {
                    fails++;
                    break;
                }
            }
            tt_free(&out);
        }
        tt_free(&in[0]);
        tt_free(&in[1]);
    }
    CHECK(fails == 0, "gather: %d wrong", fails);
    /* A scalar index (exporters' Shape -> Gather(0)) and an out-of-range one. */
    kiln_view in[2] = {tt_i64(4, (int64_t[]){8, 3, 224, 224}), tt_scalar(KILN_I64, -4)}, out;
    kiln_node n = tt_node(KILN_OP_GATHER, 13, 2, 1);
    kiln_err e;
    CHECK_OK(tt_infer_run(NULL, &n, in, &out, &e));
    CHECK(out.shape.ndim == 0 && ((int64_t *)out.data)[0] == 8, "scalar gather");
    tt_free(&out);
    ((int64_t *)in[1].data)[0] = 4;
    CHECK(tt_infer_run(NULL, &n, in, &out, &e) == KILN_ERR_SHAPE && strstr(e.msg, "index 4"),
          "gather out of range (infer): %s", e.msg);
    out = tt_view(KILN_I64, 0, NULL);
    CHECK(kiln_cpu_run_node(NULL, &n, in, &out, &e) == KILN_ERR_SHAPE && strstr(e.msg, "index 4"),
          "gather out of range (kernel): %s", e.msg);
    tt_free(&out);
    tt_free(&in[0]);
    tt_free(&in[1]);
}

/* ---- Slice --------------------------------------------------------------------------------- */

/* CPython's PySlice_AdjustIndices, which numpy and the ONNX reference follow. */
static int64_t py_slice(int64_t len, int64_t *start, int64_t stop, int64_t step) {
    if (*start < 0) {
        *start += len;
        if (*start < 0) *start = step < 0 ? -1 : 0;
    } else if (*start >= len)
        *start = step < 0 ? len - 1 : len;
    if (stop < 0) {
        stop += len;
        if (stop < 0) stop = step < 0 ? -1 : 0;
    } else if (stop >= len)
        stop = step < 0 ? len - 1 : len;
    if (step < 0) {
        if (stop < *start) return (*start - stop - 1) / (-step) + 1;
    } else if (*start < stop)
        return (stop - *start - 1) / step + 1;
    return 0;
}

static void run_slice_1d(int64_t a, int64_t b, int64_t c, int nexp, const int64_t *exp) {
    kiln_view in[5] = {tt_view(KILN_I64, 1, (int64_t[]){10}), tt_i64(1, &a), tt_i64(1, &b),
                       tt_i64(1, (int64_t[]){0}), tt_i64(1, &c)},
              out;
    for (int i = 0; i < 10; i++) ((int64_t *)in[0].data)[i] = i;
    kiln_node n = tt_node(KILN_OP_SLICE, 13, 5, 1);
    kiln_err e;
    kiln_status st = tt_infer_run(NULL, &n, in, &out, &e);
    CHECK(st == KILN_OK, "slice %lld:%lld:%lld: %s", (long long)a, (long long)b, (long long)c,
          e.msg);
    if (st == KILN_OK) {
        CHECK(out.shape.d[0] == nexp &&
                  (!nexp || !memcmp(out.data, exp, sizeof(int64_t) * (size_t)nexp)),
              "slice %lld:%lld:%lld as numpy", (long long)a, (long long)b, (long long)c);
        tt_free(&out);
    }
    for (int i = 0; i < 5; i++) tt_free(&in[i]);
}

static void test_slice(void) {
    /* numpy's answers on arange(10). */
    const int64_t M = INT64_MAX, m = INT64_MIN;
    run_slice_1d(8, 2, -2, 3, (int64_t[]){8, 6, 4});
    run_slice_1d(-1, m, -1, 10, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    run_slice_1d(-100, 100, 1, 10, (int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    run_slice_1d(100, -100, -1, 10, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    run_slice_1d(-3, -1, 1, 2, (int64_t[]){7, 8});
    run_slice_1d(5, 5, 1, 0, NULL);
    run_slice_1d(3, 8, 3, 2, (int64_t[]){3, 6});
    run_slice_1d(9, 0, -4, 3, (int64_t[]){9, 5, 1});
    run_slice_1d(20, 30, 1, 0, NULL);
    run_slice_1d(-20, -30, -1, 0, NULL);
    run_slice_1d(M, m, -1, 10, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    run_slice_1d(m, M, 2, 5, (int64_t[]){0, 2, 4, 6, 8});
    run_slice_1d(-1, 0, -1, 9, (int64_t[]){9, 8, 7, 6, 5, 4, 3, 2, 1});
    run_slice_1d(0, -1, -1, 0, NULL);
    run_slice_1d(0, 10, M, 1, (int64_t[]){0});
    run_slice_1d(9, -11, m, 1, (int64_t[]){9});

    int fails = 0;
    for (int rep = 0; rep < 300; rep++) {
        int r = (int)tt_rand(&rng, 1, 4);
        kiln_shape s = tt_rand_shape(&rng, r, rep % 9 == 0 ? 0 : 1, 7);
        if (rep == 0) r = 4, s = kiln_shape_make(4, (int64_t[]){2, 12, 64, 64});
        int k = (int)tt_rand(&rng, 0, r);
        int64_t axes[KILN_MAX_DIMS], starts[KILN_MAX_DIMS], ends[KILN_MAX_DIMS], steps[KILN_MAX_DIMS];
        int used[KILN_MAX_DIMS] = {0};
        /* Forms: 0 = attributes (opset 9), 1 = inputs without axes/steps (opset 10),
           2 = all inputs (int64), 3 = all inputs (int32). */
        int form = rep % 4;
        for (int i = 0; i < k; i++) {
            int a = i; /* form 1: no axes input means axes 0..k-1 */
            if (form != 1) {
                do a = (int)tt_rand(&rng, 0, r - 1);
                while (used[a]);
            }
            used[a] = 1;
            int64_t d = s.d[a];
            axes[i] = form != 1 && tt_rand(&rng, 0, 1) ? a - r : a;
            starts[i] = tt_rand(&rng, -d - 3, d + 3);
            ends[i] = tt_rand(&rng, -d - 3, d + 3);
            if (tt_rand(&rng, 0, 9) == 0) ends[i] = tt_rand(&rng, 0, 1) ? INT64_MAX : INT64_MIN;
            steps[i] = form < 2 ? 1 : tt_rand(&rng, 1, 3) * (tt_rand(&rng, 0, 1) ? 1 : -1);
        }
        if (form == 1)
            for (int i = 0; i < k; i++) axes[i] = i; /* absent axes input: 0..k-1 */
        kiln_dtype t = rand_type();
        kiln_view in[5] = {tt_view(t, s.ndim, s.d), tt_absent(), tt_absent(), tt_absent(),
                           tt_absent()},
                  out;
        tt_fill(&rng, &in[0], -99, 99);
        kiln_node n = tt_node(KILN_OP_SLICE, form == 0 ? 9 : 13, form == 0 ? 1 : (form == 1 ? 3 : 5), 1);
        if (form == 0) {
            n.a.slice.n = k;
            n.a.slice.has_axes = 1;
            memcpy(n.a.slice.starts, starts, sizeof starts);
            memcpy(n.a.slice.ends, ends, sizeof ends);
            memcpy(n.a.slice.axes, axes, sizeof axes);
        } else {
            kiln_view (*mk)(int, const int64_t *) = form == 3 ? tt_i32 : tt_i64;
            if (form == 3)
                for (int i = 0; i < k; i++) {
                    starts[i] = starts[i] > INT32_MAX ? INT32_MAX : (starts[i] < INT32_MIN ? INT32_MIN : starts[i]);
                    ends[i] = ends[i] > INT32_MAX ? INT32_MAX : (ends[i] < INT32_MIN ? INT32_MIN : ends[i]);
                }
            in[1] = mk(k, starts);
            in[2] = mk(k, ends);
            if (form >= 2) {
                in[3] = mk(k, axes);
                in[4] = mk(k, steps);
            }
        }
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "slice form %d: %s", form, e.msg);
        if (st == KILN_OK) {
            int64_t st0[KILN_MAX_DIMS], sp[KILN_MAX_DIMS], cnt[KILN_MAX_DIMS];
            for (int i = 0; i < r; i++) st0[i] = 0, sp[i] = 1, cnt[i] = s.d[i];
            for (int i = 0; i < k; i++) {
                int a = (int)(axes[i] < 0 ? axes[i] + r : axes[i]);
                st0[a] = starts[i];
                sp[a] = steps[i];
                cnt[a] = py_slice(s.d[a], &st0[a], ends[i], steps[i]);
            }
            int ok = out.shape.ndim == r;
            for (int i = 0; i < r && ok; i++) ok = out.shape.d[i] == cnt[i];
            CHECK(ok, "slice form %d shape", form);
            int64_t oi[KILN_MAX_DIMS] = {0}, ii[KILN_MAX_DIMS] = {0};
            for (int64_t i = 0; ok && i < tt_numel(&out); i++) {
                tt_unravel(&out.shape, i, oi);
                for (int a = 0; a < r; a++) ii[a] = st0[a] + oi[a] * sp[a];
                if (!elem_eq(&out, i, &in[0], ravel(&s, ii))) {
                    fails++;
                    break;
                }
            }
            tt_free(&out);
        }
        for (int i = 0; i < 5; i++) tt_free(&in[i]);
    }
    CHECK(fails == 0, "slice: %d wrong", fails);

    /* Errors: step 0, a repeated axis, starts not known before running. */
    kiln_view in[5] = {tt_view(KILN_F32, 2, (int64_t[]){4, 4}), tt_i64(1, (int64_t[]){0}),
                       tt_i64(1, (int64_t[]){2}), tt_i64(1, (int64_t[]){1}), tt_i64(1, (int64_t[]){0})};
    kiln_node n = tt_node(KILN_OP_SLICE, 13, 5, 1);
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_INVALID_ARG && strstr(e.msg, "step is 0"),
          "slice step 0: %s", e.msg);
    tt_free(&in[1]);
    in[1].data = NULL;
    in[1].shape = kiln_shape_make(1, (int64_t[]){1});
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_UNSUPPORTED && strstr(e.msg, "starts") &&
              strstr(e.msg, "not a constant"),
          "slice unknown starts: %s", e.msg);
    for (int i = 0; i < 5; i++) tt_free(&in[i]);
}

/* ---- Pad ----------------------------------------------------------------------------------- */

/* The source index numpy.pad reads, computed by repeated reflection / wrapping. */
static int64_t pad_src(int mode, int64_t i, int64_t n) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case KILN_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case KILN_PAD_WRAP:
        while (i < 0) i += n;
        while (i >= n) i -= n;
        return i;
    case KILN_PAD_REFLECT:
        if (n == 1) return 0;
        while (i < 0 || i >= n) {
            if (i < 0) i = -i;
            if (i >= n) i = 2 * (n - 1) - i;
        }
        return i;
    default: return -1;
    }
}

static void test_pad(void) {
    /* numpy.pad([1, 2, 3], (5, 6), mode) */
    static const int64_t np_reflect[14] = {2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1};
    static const int64_t np_wrap[14] = {2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3};
    static const int64_t np_edge[14] = {1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3};
    const int modes[3] = {KILN_PAD_REFLECT, KILN_PAD_WRAP, KILN_PAD_EDGE};
    const int64_t *want[3] = {np_reflect, np_wrap, np_edge};
    for (int m = 0; m < 3; m++) {
        kiln_view in[2] = {tt_i64(3, (int64_t[]){1, 2, 3}), tt_i64(2, (int64_t[]){5, 6})}, out;
        kiln_node n = tt_node(KILN_OP_PAD, 19, 2, 1);
        n.a.pad.mode = modes[m];
        kiln_err e;
        CHECK_OK(tt_infer_run(NULL, &n, in, &out, &e));
        CHECK(out.shape.d[0] == 14 && !memcmp(out.data, want[m], sizeof np_reflect),
              "pad mode %d as numpy", modes[m]);
        tt_free(&out);
        tt_free(&in[0]);
        tt_free(&in[1]);
    }

    int fails = 0;
    for (int rep = 0; rep < 300; rep++) {
        int r = (int)tt_rand(&rng, 1, 4);
        kiln_shape s = tt_rand_shape(&rng, r, 1, 5);
        int mode = (int)tt_rand(&rng, 0, 3);
        if (rep == 0) r = 4, s = kiln_shape_make(4, (int64_t[]){2, 16, 56, 56}), mode = KILN_PAD_CONSTANT;
        /* Forms: 0 = attributes (opset 2), 1 = pads input (11), 2 = + constant_value,
           3 = + axes (18). */
        int form = rep % 4;
        int64_t begin[KILN_MAX_DIMS] = {0}, end[KILN_MAX_DIMS] = {0}, pads[2 * KILN_MAX_DIMS];
        int64_t axes[KILN_MAX_DIMS];
        int na = r;
        for (int i = 0; i < r; i++) axes[i] = i;
        if (form == 3) {
            na = (int)tt_rand(&rng, 1, r);
            int used[KILN_MAX_DIMS] = {0};
            for (int i = 0; i < na; i++) {
                int a;
                do a = (int)tt_rand(&rng, 0, r - 1);
                while (used[a]);
                used[a] = 1;
                axes[i] = tt_rand(&rng, 0, 1) ? a - r : a;
            }
        }
        for (int i = 0; i < na; i++) {
            int a = (int)(axes[i] < 0 ? axes[i] + r : axes[i]);
            int64_t d = s.d[a];
            /* Negative pads crop (constant mode; numpy has no such thing to compare the other
               modes with); reflect/wrap pads may exceed the axis. */
            int64_t lo = mode == KILN_PAD_CONSTANT ? -(d / 2) : 0;
            begin[a] = tt_rand(&rng, lo, 2 * d + 1);
            end[a] = tt_rand(&rng, lo, 2 * d + 1);
            if (rep == 0) begin[a] = end[a] = (a >= 2);
            pads[i] = begin[a];
            pads[na + i] = end[a];
        }
        kiln_dtype t = form == 2 ? (rep & 8 ? KILN_F32 : KILN_I64) : rand_type();
        double cval = form == 2 ? 7 : (form == 0 ? 2.5 : 0);
        if (form == 0 && !kiln_dtype_is_float(t)) cval = 0;
        kiln_view in[4] = {tt_view(t, s.ndim, s.d), tt_absent(), tt_absent(), tt_absent()}, out;
        tt_fill(&rng, &in[0], -99, 99);
        kiln_node n = tt_node(KILN_OP_PAD, form == 0 ? 2 : (form == 3 ? 18 : 13),
                              form == 0 ? 1 : (form == 1 ? 2 : (form == 2 ? 3 : 4)), 1);
        n.a.pad.mode = mode;
        if (form == 0) {
            n.a.pad.npads = 2 * r;
            memcpy(n.a.pad.pads, pads, sizeof(int64_t) * 2 * (size_t)r);
            n.a.pad.value = (float)cval;
        } else {
            in[1] = tt_i64(2 * na, pads);
            if (form == 2) in[2] = tt_scalar(t, cval);
            if (form == 3) in[3] = tt_i64(na, axes);
        }
        kiln_err e;
        kiln_status st = tt_infer_run(rep & 1 ? cpu2 : NULL, &n, in, &out, &e);
        CHECK(st == KILN_OK, "pad form %d mode %d: %s", form, mode, e.msg);
        if (st == KILN_OK) {
            int ok = out.shape.ndim == r;
            for (int i = 0; i < r && ok; i++) ok = out.shape.d[i] == s.d[i] + begin[i] + end[i];
            CHECK(ok, "pad shape");
            int64_t oi[KILN_MAX_DIMS] = {0};
            for (int64_t i = 0; ok && i < tt_numel(&out); i++) {
                tt_unravel(&out.shape, i, oi);
                int outside = 0;
                for (int a = 0; a < r; a++) {
                    oi[a] = pad_src(mode, oi[a] - begin[a], s.d[a]);
                    if (oi[a] < 0) outside = 1;
                }
                double fill = t == KILN_BOOL ? (cval != 0) : cval;
                int good = outside ? kiln_elem_get(out.data, t, i) == fill
                                   : elem_eq(&out, i, &in[0], ravel(&s, oi));
                if (!good) {
                    fails++;
                    CHECK(0, "pad form %d mode %d dtype %s at %lld", form, mode,
                          kiln_dtype_name(t), (long long)i);
                    break;
                }
            }
            tt_free(&out);
        }
        for (int i = 0; i < 4; i++) tt_free(&in[i]);
    }
    CHECK(fails == 0, "pad: %d wrong", fails);

    /* Reflect on an empty axis is impossible; a pads count that does not fit the rank. */
    kiln_view in[2] = {tt_view(KILN_F32, 2, (int64_t[]){0, 3}), tt_i64(4, (int64_t[]){1, 0, 1, 0})};
    kiln_node n = tt_node(KILN_OP_PAD, 13, 2, 1);
    n.a.pad.mode = KILN_PAD_REFLECT;
    kiln_shape os;
    kiln_dtype od;
    kiln_err e;
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "empty"),
          "reflect empty axis: %s", e.msg);
    tt_free(&in[1]);
    in[1] = tt_i64(3, (int64_t[]){1, 0, 1});
    CHECK(tt_infer(&n, in, &os, &od, &e) == KILN_ERR_SHAPE && strstr(e.msg, "3 pads"),
          "odd pads: %s", e.msg);
    tt_free(&in[0]);
    tt_free(&in[1]);
}

int main(void) {
    kiln_rng_seed(&rng, test_seed());
    cpu2 = kiln_cpu_create(2);
    test_transpose();
    test_concat_split();
    test_gather();
    test_slice();
    test_pad();
    kiln_cpu_destroy(cpu2);
    return test_done();
}
