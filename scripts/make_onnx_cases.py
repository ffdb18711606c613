#!/usr/bin/python3
"""Write the small ONNX models the importer tests read (tests/test_onnx_*.c).

usage: /usr/bin/python3 scripts/make_onnx_cases.py OUTDIR

Every valid model is built with onnx's helper API and, where onnx 1.12 knows its opset (<= 17),
passed through onnx.checker. Values are simple functions of the index (arange-like) so the C
tests can check them without reading any other file. Names starting with "bad_" are malformed or
unsupported on purpose; each C test checks the status and the words of the message.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper

OUT = None
CHECKER_MAX_OPSET = 17  # what onnx 1.12 knows


def vi(name, dtype, shape):
    return h.make_tensor_value_info(name, dtype, shape)


def arange_f32(shape, scale=0.01):
    n = int(np.prod(shape)) if shape else 1
    return (np.arange(n, dtype=np.float32) * scale).reshape(shape)


def init(name, arr):
    """An initializer in raw_data (numpy_helper writes raw)."""
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=13, ir=None, name="g", extra_opsets=()):
    g = h.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    ops = [h.make_opsetid("", opset)] + [h.make_opsetid(d, v) for d, v in extra_opsets]
    if ir is None:
        ir = 3 if opset <= 8 else 4 if opset <= 9 else 5 if opset <= 10 else 6 if opset <= 11 \
            else 7 if opset <= 14 else 8 if opset <= 16 else 9 if opset <= 20 else 10
    return h.make_model(g, opset_imports=ops, ir_version=ir, producer_name="kiln-tests")


def save(m, fname, check=True):
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if check and opset <= CHECKER_MAX_OPSET:
        onnx.checker.check_model(m)
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(m.SerializeToString())


# ---- Conv + Relu + MaxPool ------------------------------------------------------------------

def conv_relu_pool(opset):
    W = init("W", arange_f32((4, 3, 3, 3)))
    B = init("B", arange_f32((4,), 0.5))
    conv_attrs = dict(pads=[1, 1, 1, 1], strides=[1, 1])
    if opset < 13:
        conv_attrs["kernel_shape"] = [3, 3]  # at 13 the kernel comes from W
    else:
        conv_attrs["dilations"] = [1, 1]
    nodes = [
        h.make_node("Conv", ["x", "W", "B"], ["c"], name="conv1", **conv_attrs),
        h.make_node("Relu", ["c"], ["r"], name="relu1"),
    ]
    if opset < 13:
        nodes.append(h.make_node("MaxPool", ["r"], ["y"], name="pool1", kernel_shape=[2, 2],
                                 strides=[2, 2]))
    else:  # ceil_mode (opset 10+) and an unused indices output that the importer drops
        nodes.append(h.make_node("MaxPool", ["r"], ["y", "idx"], name="pool1",
                                 kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
    inputs = [vi("x", TP.FLOAT, ["batch", 3, 8, 8])]
    if opset < 9:  # IR 3 lists initializers among the inputs too
        inputs += [vi("W", TP.FLOAT, [4, 3, 3, 3]), vi("B", TP.FLOAT, [4])]
    m = model(nodes, inputs, [vi("y", TP.FLOAT, ["batch", 4, 4, 4])], [W, B], opset=opset)
    save(m, "conv_relu_pool_op%d.onnx" % opset)


# ---- attribute vs input forms across opsets ---------------------------------------------------

def clip_cases():
    x = [vi("x", TP.FLOAT, [2, 3])]
    y = [vi("y", TP.FLOAT, [2, 3])]
    save(model([h.make_node("Clip", ["x"], ["y"], name="clip", min=0.0, max=6.0)], x, y,
               opset=9), "clip_attr_op9.onnx")
    save(model([h.make_node("Clip", ["x"], ["y"], name="clip", max=2.5)], x, y, opset=9),
         "clip_attr_max_op9.onnx")
    save(model([h.make_node("Clip", ["x", "", "hi"], ["y"], name="clip")], x, y,
               [init("hi", np.array(6.0, dtype=np.float32))], opset=13), "clip_input_op13.onnx")


def squeeze_cases():
    x = [vi("x", TP.FLOAT, [2, 1, 3])]
    save(model([h.make_node("Squeeze", ["x"], ["s"], name="sq", axes=[1]),
                h.make_node("Unsqueeze", ["s"], ["y"], name="unsq", axes=[0, -1])],
               x, [vi("y", TP.FLOAT, [1, 2, 3, 1])], opset=11), "squeeze_attr_op11.onnx")
    save(model([h.make_node("Squeeze", ["x", "ax"], ["s"], name="sq"),
                h.make_node("Unsqueeze", ["s", "ax0"], ["y"], name="unsq")],
               x, [vi("y", TP.FLOAT, [1, 2, 3])],
               [init("ax", np.array([1], dtype=np.int64)),
                init("ax0", np.array([0], dtype=np.int64))], opset=13), "squeeze_input_op13.onnx")


def softmax_cases():
    for opset in (11, 13):
        save(model([h.make_node("Softmax", ["x"], ["s"], name="sm"),
                    h.make_node("LogSoftmax", ["s"], ["y"], name="lsm", axis=0)],
                   [vi("x", TP.FLOAT, [2, 3, 4])], [vi("y", TP.FLOAT, [2, 3, 4])], opset=opset),
             "softmax_op%d.onnx" % opset)


def upsample_resize_cases():
    x = [vi("x", TP.FLOAT, [1, 2, 4, 4])]
    y = [vi("y", TP.FLOAT, [1, 2, 8, 8])]
    save(model([h.make_node("Upsample", ["x"], ["y"], name="up", mode="nearest",
                            scales=[1.0, 1.0, 2.0, 2.0])], x, y, opset=7), "upsample_op7.onnx")
    save(model([h.make_node("Upsample", ["x", "sc"], ["y"], name="up", mode="linear")], x, y,
               [init("sc", np.array([1, 1, 2, 2], dtype=np.float32))], opset=9),
         "upsample_op9.onnx")
    save(model([h.make_node("Resize", ["x", "sc"], ["y"], name="rs", mode="linear")], x, y,
               [init("sc", np.array([1, 1, 2, 2], dtype=np.float32))], opset=10),
         "resize_op10.onnx")
    save(model([h.make_node("Resize", ["x", "roi", "sc"], ["y"], name="rs", mode="linear",
                            coordinate_transformation_mode="align_corners")], x, y,
               [init("roi", np.zeros(0, dtype=np.float32)),
                init("sc", np.array([1, 1, 2, 2], dtype=np.float32))], opset=11),
         "resize_op11.onnx")
    save(model([h.make_node("Resize", ["x", "", "", "sz"], ["y"], name="rs", mode="cubic",
                            coordinate_transformation_mode="pytorch_half_pixel",
                            cubic_coeff_a=-0.5, exclude_outside=1, nearest_mode="ceil")], x, y,
               [init("sz", np.array([1, 2, 8, 8], dtype=np.int64))], opset=13),
         "resize_op13.onnx")
    save(model([h.make_node("Resize", ["x", "", "", "sz"], ["y"], name="rs", mode="linear",
                            antialias=1, axes=[2, 3], keep_aspect_ratio_policy="not_larger",
                            extrapolation_value=1.5,
                            coordinate_transformation_mode="half_pixel_symmetric")],
               x, y, [init("sz", np.array([8, 8], dtype=np.int64))], opset=19),
         "resize_op19.onnx")


def pad_slice_cases():
    x = [vi("x", TP.FLOAT, [1, 2, 4, 4])]
    y = [vi("y", TP.FLOAT, [None] * 4)]
    save(model([h.make_node("Pad", ["x"], ["y"], name="pad", mode="reflect",
                            pads=[0, 0, 1, 2, 0, 0, 3, 4])], x, y, opset=7), "pad_op2.onnx")
    save(model([h.make_node("Pad", ["x"], ["y"], name="pad", pads=[0, 0, 1, 1, 0, 0, 1, 1],
                            value=-1.5)], x, y, opset=10), "pad_value_op2.onnx")
    save(model([h.make_node("Pad", ["x", "pads", "cv"], ["y"], name="pad", mode="edge")], x, y,
               [init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)),
                init("cv", np.array(0.0, dtype=np.float32))], opset=13), "pad_op13.onnx")
    save(model([h.make_node("Pad", ["x", "pads", "", "axes"], ["y"], name="pad", mode="wrap")],
               x, y, [init("pads", np.array([1, 1, 1, 1], dtype=np.int64)),
                      init("axes", np.array([2, 3], dtype=np.int64))], opset=19),
         "pad_wrap_op19.onnx")
    save(model([h.make_node("Slice", ["x"], ["y"], name="sl", starts=[1, 0], ends=[3, 100],
                            axes=[2, 3])], x, y, opset=7), "slice_op1.onnx")
    save(model([h.make_node("Slice", ["x", "st", "en", "ax", "stp"], ["y"], name="sl")], x, y,
               [init("st", np.array([1], dtype=np.int64)),
                init("en", np.array([3], dtype=np.int64)),
                init("ax", np.array([2], dtype=np.int64)),
                init("stp", np.array([1], dtype=np.int64))], opset=13), "slice_op13.onnx")


# ---- one model per opset with many attribute mappings ------------------------------------------

def attrs_op11():
    nodes = [
        h.make_node("Gemm", ["a", "gw", "gc"], ["g"], name="gemm", alpha=0.5, beta=2.0,
                    transB=1),
        h.make_node("LeakyRelu", ["g"], ["lr"], name="leaky", alpha=0.2),
        h.make_node("HardSigmoid", ["lr"], ["hs"], name="hsig", alpha=0.25, beta=0.4),
        h.make_node("Split", ["hs"], ["s0", "s1"], name="split", axis=1, split=[2, 4]),
        h.make_node("Concat", ["s1", "s0"], ["cc"], name="concat", axis=-1),
        h.make_node("ReduceSum", ["cc"], ["rs"], name="rsum", axes=[1], keepdims=0),
        h.make_node("ReduceMean", ["cc"], ["rm"], name="rmean", axes=[0, 1]),
        h.make_node("Transpose", ["cc"], ["tr"], name="transpose", perm=[1, 0]),
        h.make_node("Flatten", ["tr"], ["fl"], name="flatten", axis=0),
        h.make_node("Gather", ["fl", "gi"], ["ga"], name="gather", axis=1),
        h.make_node("Cast", ["ga"], ["ca"], name="cast", to=TP.FLOAT16),
        h.make_node("BatchNormalization", ["x", "bs", "bb", "bm", "bv"], ["bn"], name="bn",
                    epsilon=1e-3, momentum=0.8),
        h.make_node("LRN", ["bn"], ["lrn"], name="lrn", size=3, alpha=2e-4, beta=0.5, bias=2.0),
        h.make_node("AveragePool", ["lrn"], ["ap"], name="avgpool", kernel_shape=[3, 3],
                    strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1),
        h.make_node("ConvTranspose", ["ap", "tw"], ["ct"], name="convt", strides=[2, 2],
                    output_padding=[1, 1], group=2, auto_pad="SAME_UPPER"),
        h.make_node("GlobalAveragePool", ["ct"], ["gap"], name="gap"),
        h.make_node("Dropout", ["gap"], ["dr", "mask"], name="drop", ratio=0.3),
        h.make_node("Shape", ["dr"], ["sh"], name="shape"),
        h.make_node("ConstantOfShape", ["sh"], ["cos"], name="cos",
                    value=h.make_tensor("v", TP.INT64, [1], [7])),
    ]
    inits = [init("gw", arange_f32((6, 5))), init("gc", arange_f32((6,))),
             init("gi", np.array([0, 2], dtype=np.int64)),
             init("bs", np.ones(4, np.float32)), init("bb", np.zeros(4, np.float32)),
             init("bm", np.zeros(4, np.float32)), init("bv", np.ones(4, np.float32)),
             init("tw", arange_f32((4, 3, 2, 2)))]
    m = model(nodes, [vi("a", TP.FLOAT, [3, 5]), vi("x", TP.FLOAT, [1, 4, 8, 8])],
              [vi("rs", TP.FLOAT, [None]), vi("rm", TP.FLOAT, [1, 1]),
               vi("ca", TP.FLOAT16, [None, None]), vi("cos", TP.INT64, [4])], inits, opset=11)
    save(m, "attrs_op11.onnx")


def attrs_op15():
    nodes = [
        h.make_node("Shape", ["x"], ["sh"], name="shape", start=1, end=-1),
        h.make_node("Reshape", ["x", "shp"], ["rs"], name="reshape", allowzero=1),
        h.make_node("ReduceSum", ["rs", "ax"], ["sum"], name="rsum", keepdims=1,
                    noop_with_empty_axes=1),
        h.make_node("ReduceMax", ["rs"], ["max"], name="rmax", axes=[-1]),
        h.make_node("Split", ["x", "sp"], ["s0", "s1"], name="split", axis=2),
        h.make_node("BatchNormalization", ["x", "bs", "bb", "bm", "bv"], ["bn"], name="bn",
                    training_mode=0),
        h.make_node("Dropout", ["bn", "ratio"], ["dr", "mask"], name="drop"),
        h.make_node("Identity", ["mask"], ["mask_out"], name="id"),
        h.make_node("Conv", ["dr", "cw"], ["cv"], name="conv", auto_pad="SAME_LOWER", group=2),
        h.make_node("ConvTranspose", ["cv", "tw"], ["ct"], name="convt", kernel_shape=[3, 3],
                    output_shape=[10, 10], dilations=[1, 1]),
        h.make_node("HardSwish", ["ct"], ["hsw"], name="hswish"),
    ]
    inits = [init("shp", np.array([0, -1], dtype=np.int64)),
             init("ax", np.zeros(0, dtype=np.int64)),
             init("sp", np.array([3, 5], dtype=np.int64)),
             init("bs", np.ones(4, np.float32)), init("bb", np.zeros(4, np.float32)),
             init("bm", np.zeros(4, np.float32)), init("bv", np.ones(4, np.float32)),
             init("ratio", np.array(0.5, np.float32)),
             init("cw", arange_f32((4, 2, 3, 3))), init("tw", arange_f32((4, 1, 3, 3)))]
    m = model(nodes, [vi("x", TP.FLOAT, [1, 4, 8, 8])],
              [vi("sh", TP.INT64, [2]), vi("sum", TP.FLOAT, [1, 256]),
               vi("max", TP.FLOAT, [1]), vi("s0", TP.FLOAT, [1, 4, 3, 8]),
               vi("mask_out", TP.BOOL, [1, 4, 8, 8]), vi("hsw", TP.FLOAT, [1, 4, 10, 10])],
              inits, opset=15)
    save(m, "attrs_op15.onnx")


def attrs_op18():
    nodes = [
        h.make_node("Split", ["x"], ["s0", "s1", "s2"], name="split", axis=1, num_outputs=3),
        h.make_node("ReduceMean", ["s0", "ax"], ["rm"], name="rmean", keepdims=0),
        h.make_node("ReduceMin", ["s1"], ["rmin"], name="rmin", noop_with_empty_axes=1),
        h.make_node("MaxPool", ["x"], ["mp"], name="maxpool", kernel_shape=[3],
                    dilations=[2], storage_order=1, auto_pad="VALID"),
        h.make_node("Conv", ["x", "w1"], ["c1"], name="conv1d"),
        h.make_node("Cast", ["c1"], ["c8"], name="cast8", to=TP.FLOAT8E4M3FN
                    if hasattr(TP, "FLOAT8E4M3FN") else 17),
    ]
    inits = [init("ax", np.array([1], dtype=np.int64)), init("w1", arange_f32((2, 6, 5)))]
    m = model(nodes, [vi("x", TP.FLOAT, [1, 6, 16])],
              [vi("s2", TP.FLOAT, None), vi("rm", TP.FLOAT, None), vi("rmin", TP.FLOAT, None),
               vi("mp", TP.FLOAT, None), vi("c8", TP.FLOAT, None)], inits, opset=18)
    save(m, "attrs_op18.onnx")


# ---- tensors: typed fields, raw data, external data, constants, dims ---------------------------

def typed_tensor(name, dtype, dims, field, vals):
    t = TP()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    getattr(t, field).extend(vals)
    return t


def raw_tensor(name, dtype, dims, raw):
    t = TP()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def f16_bits(vals):
    return np.array(vals, dtype=np.float16).view(np.uint16).astype(np.int32).tolist()


def bf16_bits(vals):
    return (np.array(vals, dtype=np.float32).view(np.uint32) >> 16).astype(np.int32).tolist()


def tensors_case():
    inits = [
        typed_tensor("f32_typed", TP.FLOAT, [2, 2], "float_data", [1.5, -2.0, 3.25, 0.0]),
        typed_tensor("f16_typed", TP.FLOAT16, [3], "int32_data", f16_bits([1.0, -0.5, 65504.0])),
        typed_tensor("bf16_typed", TP.BFLOAT16, [2], "int32_data", bf16_bits([1.0, -3.0])),
        typed_tensor("i64_typed", TP.INT64, [3], "int64_data", [-1, 2, 1 << 40]),
        typed_tensor("i32_typed", TP.INT32, [2], "int32_data", [-7, 123456]),
        typed_tensor("i8_typed", TP.INT8, [3], "int32_data", [-128, 0, 127]),
        typed_tensor("u8_typed", TP.UINT8, [2], "int32_data", [0, 255]),
        typed_tensor("bool_typed", TP.BOOL, [3], "int32_data", [1, 0, 1]),
        typed_tensor("f64_typed", TP.DOUBLE, [2], "double_data", [0.1, -2.5]),
        typed_tensor("u64_typed", TP.UINT64, [1], "uint64_data", [(1 << 63) + 5]),
        typed_tensor("u32_typed", TP.UINT32, [2], "uint64_data", [4000000000, 1]),
        typed_tensor("empty_typed", TP.FLOAT, [0, 3], "float_data", []),
        typed_tensor("scalar_typed", TP.INT64, [], "int64_data", [42]),
        init("f16_raw", np.array([1.0, -0.5, 65504.0], dtype=np.float16)),
        init("i64_raw", np.array([-1, 2, 1 << 40], dtype=np.int64)),
        init("f32_raw", np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32)),
    ]
    m = model([h.make_node("Identity", ["x"], ["y"], name="id")],
              [vi("x", TP.FLOAT, [1])], [vi("y", TP.FLOAT, [1])], inits, opset=13)
    save(m, "tensors.onnx")


def set_external(t, location, offset=None, length=None):
    t.data_location = TP.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)


def external_cases():
    a = arange_f32((2, 3), 1.0)                    # 24 bytes at offset 0
    b = np.array([10, 20, 30], dtype=np.int64)      # 24 bytes at offset 32 (aligned, padded)
    c = np.array([0.5, 0.25], dtype=np.float32)     # 8 bytes at the end, no length given
    blob = a.tobytes() + b"\0" * 8 + b.tobytes() + c.tobytes()
    os.makedirs(os.path.join(OUT, "ext"), exist_ok=True)
    with open(os.path.join(OUT, "ext", "weights.bin"), "wb") as f:
        f.write(blob)

    def ext_tensor(name, arr, dtype, location, offset, length):
        t = TP()
        t.name = name
        t.data_type = dtype
        t.dims.extend(arr.shape)
        set_external(t, location, offset, length)
        return t

    ta = ext_tensor("ext_a", a, TP.FLOAT, "weights.bin", 0, 24)
    tb = ext_tensor("ext_b", b, TP.INT64, "weights.bin", 32, 24)
    tc = ext_tensor("ext_c", c, TP.FLOAT, "./weights.bin", 56, None)
    g = [h.make_node("Identity", ["x"], ["y"], name="id")]
    io = ([vi("x", TP.FLOAT, [1])], [vi("y", TP.FLOAT, [1])])
    save(model(g, *io, [ta, tb, tc], opset=13), os.path.join("ext", "ext_data.onnx"),
         check=False)
    # Refused or broken locations (written beside the good one, in ext/).
    bad = {
        "bad_ext_dotdot.onnx": ("../tensors.onnx", 0, 24),
        "bad_ext_dotdot2.onnx": ("sub/../../x.bin", 0, 24),
        "bad_ext_abs.onnx": ("/etc/passwd", 0, 24),
        "bad_ext_missing.onnx": ("nope.bin", 0, 24),
        "bad_ext_short.onnx": ("weights.bin", 48, 24),
        "bad_ext_length.onnx": ("weights.bin", 0, 20),
        "bad_ext_offset.onnx": ("weights.bin", "-4", 24),
        "bad_ext_fifo.onnx": ("fifo.bin", 0, 24),
    }
    fifo = os.path.join(OUT, "ext", "fifo.bin")  # reading it would block: must be refused
    if os.path.lexists(fifo):
        os.remove(fifo)
    os.mkfifo(fifo)
    for fname, (loc, off, ln) in bad.items():
        t = ext_tensor("ext_w", a, TP.FLOAT, loc, off, ln)
        save(model(g, *io, [t], opset=13), os.path.join("ext", fname), check=False)


def constants_case():
    nodes = [
        h.make_node("Constant", [], ["c_tensor"], name="k_tensor",
                    value=numpy_helper.from_array(arange_f32((2, 2), 0.5))),
        h.make_node("Constant", [], ["c_float"], name="k_float", value_float=2.5),
        h.make_node("Constant", [], ["c_floats"], name="k_floats", value_floats=[1.0, 2.0, 3.0]),
        h.make_node("Constant", [], ["c_int"], name="k_int", value_int=-3),
        h.make_node("Constant", [], ["c_ints"], name="k_ints", value_ints=[4, 5]),
        h.make_node("Constant", [], ["c_i64"], name="k_i64",
                    value=h.make_tensor("t", TP.INT64, [2], [7, -8])),
        h.make_node("Add", ["x", "c_tensor"], ["y"], name="add"),
        # a node that reads a Constant defined after it (ONNX order is not required by kiln)
        h.make_node("Mul", ["y", "c_late"], ["z"], name="mul"),
        h.make_node("Constant", [], ["c_late"], name="k_late", value_float=4.0),
    ]
    outs = [vi(n, t, None) for n, t in (("z", TP.FLOAT), ("c_float", TP.FLOAT),
                                        ("c_floats", TP.FLOAT), ("c_int", TP.INT64),
                                        ("c_ints", TP.INT64), ("c_i64", TP.INT64))]
    m = model(nodes, [vi("x", TP.FLOAT, [2, 2])], outs, opset=13)
    save(m, "constants.onnx", check=False)  # out of order on purpose


def dim_param_case():
    m = model([h.make_node("Relu", ["x"], ["y"], name="relu")],
              [vi("x", TP.FLOAT, ["batch", 3, "height", None]), vi("m", TP.INT64, [])],
              [vi("y", TP.FLOAT, ["batch", 3, "height", None])], opset=13)
    m.graph.node.append(h.make_node("Identity", ["m"], ["m_out"], name="idm"))
    m.graph.output.append(vi("m_out", TP.INT64, []))
    save(m, "dim_param.onnx")


def chain_case():
    """A long chain: hundreds of tensors and initializers (the name table grows)."""
    nodes, inits, prev = [], [], "x"
    for i in range(300):
        inits.append(init("b%d" % i, np.full((1, 4), float(i), np.float32)))
        nodes.append(h.make_node("Add", [prev, "b%d" % i], ["a%d" % i], name="add%d" % i))
        nodes.append(h.make_node("Relu", ["a%d" % i], ["r%d" % i], name="relu%d" % i))
        prev = "r%d" % i
    save(model(nodes, [vi("x", TP.FLOAT, [1, 4])], [vi(prev, TP.FLOAT, [1, 4])], inits,
               opset=13), "chain.onnx")


def order_case():
    x = [vi("x", TP.FLOAT, [4, 2])]
    # unnamed nodes, an empty output name, and nodes listed in reverse order
    save(model([h.make_node("Identity", ["s0"], ["y"]),
                h.make_node("Split", ["a"], ["s0", ""], axis=0),
                h.make_node("Relu", ["x"], ["a"])],
               x, [vi("y", TP.FLOAT, [2, 2])], opset=13), "unsorted.onnx", check=False)


# ---- bad models ----------------------------------------------------------------------------

def bad_cases():
    x = [vi("x", TP.FLOAT, [1, 3, 8, 8])]
    y = [vi("y", TP.FLOAT, None)]
    W = init("W", arange_f32((4, 3, 3, 3)))
    relu = [h.make_node("Relu", ["x"], ["y"], name="relu")]

    def bad(fname, m):
        save(m, fname, check=False)

    bad("bad_unknown_op.onnx", model([h.make_node("Foo", ["x"], ["y"], name="foo1")], x, y))
    bad("bad_missing_init.onnx",
        model([h.make_node("Conv", ["x", "W_missing"], ["y"], name="conv1")], x, y))
    bad("bad_opset22.onnx", model(relu, x, y, opset=22, ir=10))
    bad("bad_opset6.onnx", model(relu, x, y, opset=6, ir=3))
    no_default = model(relu, x, y, opset=13)
    del no_default.opset_import[:]
    no_default.opset_import.append(h.make_opsetid("com.example", 1))
    bad("bad_no_opset.onnx", no_default)
    bad("bad_domain.onnx",
        model([h.make_node("FusedConv", ["x", "W"], ["y"], name="fc", domain="com.microsoft")],
              x, y, [W], extra_opsets=[("com.microsoft", 1)]))
    bad("bad_ir2.onnx", model(relu, x, y, opset=13, ir=2))
    bad("bad_conv3d.onnx",
        model([h.make_node("Conv", ["x5", "W5"], ["y"], name="conv3d")],
              [vi("x5", TP.FLOAT, [1, 3, 4, 4, 4])], y, [init("W5", arange_f32((2, 3, 3, 3, 3)))]))
    bad("bad_maxpool_indices.onnx",
        model([h.make_node("MaxPool", ["x"], ["y", "idx"], name="pool", kernel_shape=[2, 2])], x,
              [vi("y", TP.FLOAT, None), vi("idx", TP.INT64, None)]))
    bad("bad_bn_training.onnx",
        model([h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn",
                           training_mode=1)], x, y,
              [init(n, np.ones(3, np.float32)) for n in "sbmv"], opset=15))
    bad("bad_bn_spatial.onnx",
        model([h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn",
                           spatial=0)], x, y,
              [init(n, np.ones(3, np.float32)) for n in "sbmv"], opset=7))
    bad("bad_resize_cubic_aa.onnx",
        model([h.make_node("Resize", ["x", "", "sc"], ["y"], name="rs", mode="cubic",
                           antialias=1)], x, y,
              [init("sc", np.array([1, 1, 2, 2], np.float32))], opset=18))
    bad("bad_cast_string.onnx",
        model([h.make_node("Cast", ["x"], ["y"], name="cast", to=TP.STRING)], x, y))
    bad("bad_attr_type.onnx",
        model([h.make_node("Concat", ["x", "x"], ["y"], name="cat", axis=1.0)], x, y))
    bad("bad_dup_output.onnx",
        model([h.make_node("Relu", ["x"], ["y"], name="r1"),
               h.make_node("Relu", ["x"], ["y"], name="r2")], x, y))
    bad("bad_raw_size.onnx",
        model(relu, x, y, [raw_tensor("w_bad", TP.FLOAT, [2, 3], b"\0" * 20)]))
    bad("bad_typed_count.onnx",
        model(relu, x, y, [typed_tensor("w_few", TP.FLOAT, [2, 3], "float_data", [1, 2])]))
    neg = typed_tensor("w_neg", TP.FLOAT, [-1, 2], "float_data", [1, 2])
    bad("bad_neg_dim.onnx", model(relu, x, y, [neg]))
    huge = raw_tensor("w_huge", TP.FLOAT, [1 << 40, 1 << 40], b"\0" * 16)
    bad("bad_absurd.onnx", model(relu, x, y, [huge]))
    bad("bad_string_init.onnx",
        model(relu, x, y, [h.make_tensor("w_str", TP.STRING, [1], [b"hi"])]))
    sp = h.make_node("Constant", [], ["y"], name="k_sparse")
    sp.attribute.append(h.make_attribute("sparse_value", h.make_sparse_tensor(
        h.make_tensor("v", TP.FLOAT, [1], [1.0]), h.make_tensor("i", TP.INT64, [1], [0]), [4])))
    bad("bad_sparse_const.onnx", model([sp], x, y))
    bad("bad_unused_missing_out.onnx", model(relu, x, [vi("nothing", TP.FLOAT, None)]))
    bad("bad_upsample_op10.onnx",
        model([h.make_node("Upsample", ["x", "sc"], ["y"], name="up")], x, y,
              [init("sc", np.array([1, 1, 2, 2], np.float32))], opset=10))
    bad("bad_hardswish_op13.onnx",
        model([h.make_node("HardSwish", ["x"], ["y"], name="hsw")], x, y, opset=13))
    bad("bad_gemm_inputs.onnx",
        model([h.make_node("Gemm", ["x"], ["y"], name="gemm")], x, y, opset=13))
    bad("bad_input_type.onnx",
        model(relu, [h.make_tensor_sequence_value_info("x", TP.FLOAT, None)], y))
    bad("bad_cycle.onnx",
        model([h.make_node("Add", ["x", "b"], ["a"], name="n1"),
               h.make_node("Relu", ["a"], ["b"], name="n2"),
               h.make_node("Identity", ["a"], ["y"], name="n3")], x, y))

    # attribute values the spec forbids or kiln does not run
    def one(fname, node, inits=(), opset=13, inputs=x):
        bad(fname, model([node], inputs, y, list(inits), opset=opset))

    one("bad_conv_pads.onnx", h.make_node("Conv", ["x", "W"], ["y"], name="c", pads=[1, 1, 1]),
        [W])
    one("bad_conv_kernel.onnx",
        h.make_node("Conv", ["x", "W"], ["y"], name="c", kernel_shape=[5, 5]), [W])
    one("bad_conv_stride.onnx",
        h.make_node("Conv", ["x", "W"], ["y"], name="c", strides=[0, 1]), [W])
    one("bad_conv_autopad.onnx",
        h.make_node("Conv", ["x", "W"], ["y"], name="c", auto_pad="SAME"), [W])
    one("bad_perm.onnx", h.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 1, 1, 3]))
    one("bad_pool_kernel.onnx", h.make_node("MaxPool", ["x"], ["y"], name="p", strides=[2, 2]))
    one("bad_split_count.onnx", h.make_node("Split", ["x"], ["y"], name="s", split=[1, 2]),
        opset=11)
    one("bad_concat_axis.onnx", h.make_node("Concat", ["x", "x"], ["y"], name="cat"))
    one("bad_unsqueeze_axes.onnx", h.make_node("Unsqueeze", ["x"], ["y"], name="u"), opset=11)
    one("bad_slice_attrs.onnx",
        h.make_node("Slice", ["x"], ["y"], name="sl", starts=[0, 0], ends=[1]), opset=9)
    one("bad_lrn_size.onnx", h.make_node("LRN", ["x"], ["y"], name="lrn"))
    one("bad_pad_odd.onnx", h.make_node("Pad", ["x"], ["y"], name="pad", pads=[1, 1, 1]),
        opset=10)
    one("bad_resize_mode.onnx",
        h.make_node("Resize", ["x", "", "sc"], ["y"], name="rs", mode="bicubic"),
        [init("sc", np.array([1, 1, 2, 2], np.float32))])
    one("bad_dropout_training.onnx",
        h.make_node("Dropout", ["x", "r", "tm"], ["y"], name="drop"),
        [init("r", np.array(0.5, np.float32)), init("tm", np.array(True))])
    one("bad_cast_saturate.onnx",
        h.make_node("Cast", ["x"], ["y"], name="cast", to=17, saturate=0), opset=19)
    one("bad_cos_value.onnx",
        h.make_node("ConstantOfShape", ["shp"], ["y"], name="cos",
                    value=h.make_tensor("v", TP.FLOAT, [2], [1.0, 2.0])),
        [init("shp", np.array([2, 2], np.int64))])
    one("bad_const_two.onnx",
        h.make_node("Constant", [], ["y"], name="k", value_float=1.0, value_int=2))
    one("bad_const_string.onnx",
        h.make_node("Constant", [], ["y"], name="k", value_string="hello"))
    one("bad_conv_group.onnx", h.make_node("Conv", ["x", "W"], ["y"], name="c", group=0), [W])
    one("bad_upsample_scales.onnx",
        h.make_node("Upsample", ["x"], ["y"], name="up", scales=[1.0, 1.0, -2.0, 2.0]), opset=7)
    one("bad_squeeze_axes.onnx", h.make_node("Squeeze", ["x"], ["y"], name="sq", axes=[1, 1]),
        opset=11)
    bad("bad_input_negdim.onnx", model(relu, [vi("x", TP.FLOAT, [-2, 3])], y))
    bad("bad_input_rank9.onnx", model(relu, [vi("x", TP.FLOAT, [1] * 9)], y))
    bad("bad_dup_input.onnx", model(relu, x + x, y))
    sparse = model(relu, x, y)
    sparse.graph.sparse_initializer.append(h.make_sparse_tensor(
        h.make_tensor("sv", TP.FLOAT, [1], [1.0]), h.make_tensor("si", TP.INT64, [1], [0]), [4]))
    bad("bad_sparse_init.onnx", sparse)
    open(os.path.join(OUT, "bad_empty.onnx"), "wb").close()
    bad("bad_dup_init.onnx", model(relu, x, y, [init("w", np.ones(2, np.float32)),
                                                init("w", np.ones(3, np.float32))]))
    bad("bad_i32_count.onnx",
        model(relu, x, y, [typed_tensor("w_i32", TP.INT32, [3], "int32_data", [1, 2])]))

    good = model([h.make_node("Conv", ["x", "W"], ["c"], name="conv1", kernel_shape=[3, 3]),
                  h.make_node("Relu", ["c"], ["y"], name="relu")], x, y, [W]).SerializeToString()
    with open(os.path.join(OUT, "bad_truncated.onnx"), "wb") as f:
        f.write(good[: len(good) // 2])
    rng = np.random.default_rng(1234)
    with open(os.path.join(OUT, "bad_random.onnx"), "wb") as f:
        f.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    # Nested TypeProto.sequence_type.elem_type ... far deeper than any model: the importer must
    # refuse it without recursing (protobuf-c has no depth limit of its own).
    tp = h.make_tensor_type_proto(TP.FLOAT, [1])
    for _ in range(3000):
        tp = h.make_sequence_type_proto(tp)
    deep = model(relu, x, y)
    deep.graph.input[0].type.CopyFrom(tp)
    with open(os.path.join(OUT, "bad_deep.onnx"), "wb") as f:
        f.write(deep.SerializeToString())


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit("usage: make_onnx_cases.py OUTDIR")
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    conv_relu_pool(7)
    conv_relu_pool(13)
    clip_cases()
    squeeze_cases()
    softmax_cases()
    upsample_resize_cases()
    pad_slice_cases()
    attrs_op11()
    attrs_op15()
    attrs_op18()
    tensors_case()
    external_cases()
    constants_case()
    dim_param_case()
    chain_case()
    order_case()
    bad_cases()


if __name__ == "__main__":
    main()
