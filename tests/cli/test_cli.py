#!/usr/bin/env python3
"""CLI behaviour: every command answers --help, works on a small model, and turns bad input into
a one-line 'kiln: ...' error with a non-zero exit, never a crash.

usage: test_cli.py KILN WORKDIR"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

KILN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


def kiln(*args, timeout=300):
    r = subprocess.run([KILN, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def expect_error(args, needle, what):
    rc, out, err = kiln(*args)
    lines = [l for l in err.strip().splitlines() if l]
    ok = (rc not in (0,) and rc > 0 and rc < 128 and len(lines) == 1 and lines[0].startswith("kiln")
          and needle.lower() in lines[0].lower() and "Sanitizer" not in err)
    check(ok, f"{what}: rc={rc} stderr={err.strip()!r} (wanted one line containing {needle!r})")


def path(name):
    return os.path.join(WORK, name)


def tiny_model(name, op="Relu", opset=13, with_weight=True, dynamic=True):
    """x (N x 4) -> MatMul W (4 x 3) -> op -> y (N x 3)."""
    batch = "batch" if dynamic else 2
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
             helper.make_node(op, ["h"], ["y"], name="act")]
    g = helper.make_graph(nodes, "tiny", [x], [y], [w] if with_weight else [])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, path(name))
    return path(name)


good = tiny_model("tiny.onnx")
x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
np.save(path("x.npy"), x)

# --help everywhere
for cmd in ["zoo", "inspect", "run", "bench", "compare", "build", "graph", "profile"]:
    rc, out, err = kiln(cmd, "--help")
    if "unknown command" in err:
        continue
    check(rc == 0 and "usage: kiln " + cmd in out, f"kiln {cmd} --help")
rc, out, _ = kiln("--help")
check(rc == 0 and "commands:" in out, "kiln --help")

# a run that works, output checked against numpy
rc, out, err = kiln("run", good, "--input", "x=" + path("x.npy"), "--output", path("y.npy"))
check(rc == 0, f"run tiny: {err}")
if rc == 0:
    y = np.load(path("y.npy"))
    ref = np.maximum(x @ (np.arange(12, dtype=np.float32).reshape(4, 3) / 10), 0)
    check(y.shape == (2, 3) and np.allclose(y, ref, rtol=1e-6, atol=1e-6), "run tiny: values")
rc, out, err = kiln("inspect", good)
check(rc == 0 and "MatMul" in out, "inspect tiny")

# kiln profile: one median time per layer, a loadable Chrome trace
import json
rc, out, err = kiln("profile", good, "--runs", "3", "--json", path("p.json"), "--trace", path("t.json"))
check(rc == 0 and "sum of layer medians" in out, f"profile tiny: {err}")
if rc == 0:
    prof = json.load(open(path("p.json")))
    check(len(prof["layers"]) >= 1 and all(l["ms"] >= 0 for l in prof["layers"]), "profile JSON")
    tr = json.load(open(path("t.json")))
    check(len(tr["traceEvents"]) == len(prof["layers"]) and tr["traceEvents"][0]["ph"] == "X",
          "profile trace events")

# bad inputs
data = open(good, "rb").read()
open(path("trunc.onnx"), "wb").write(data[: len(data) // 2])
expect_error(["run", path("trunc.onnx")], "", "truncated ONNX")
open(path("random.onnx"), "wb").write(np.random.default_rng(1).bytes(3000))
expect_error(["run", path("random.onnx")], "", "random-byte ONNX")
expect_error(["run", tiny_model("unknown_op.onnx", op="FancyOp")], "FancyOp", "unknown op")
expect_error(["run", tiny_model("no_weight.onnx", with_weight=False)], "W", "missing initializer")
expect_error(["run", path("does_not_exist.onnx")], "does_not_exist", "missing file")
expect_error(["run", "zoo:nonet"], "nonet", "unknown zoo model")
np.save(path("x_wrong.npy"), np.zeros((2, 5), np.float32))
expect_error(["run", good, "--input", "x=" + path("x_wrong.npy")], "shape", "wrong input shape")
np.save(path("x_int.npy"), np.zeros((2, 4), np.int32))
expect_error(["run", good, "--input", "x=" + path("x_int.npy")], "int32", "wrong input dtype")
open(path("bad.npy"), "wb").write(b"\x93NUMPY\x01\x00garbage")
expect_error(["run", good, "--input", "x=" + path("bad.npy")], "bad.npy", "bad .npy")
expect_error(["run", good, "--input", "nosuch=" + path("x.npy")], "nosuch", "unknown input name")
expect_error(["run", good, "--batch", "0"], "--batch", "batch 0")
expect_error(["run", good, "--precision", "fp7"], "fp7", "unknown precision")
expect_error(["bogus"], "bogus", "unknown command")
expect_error(["run", good, "--frobnicate"], "frobnicate", "unknown option")
fixed = tiny_model("fixed.onnx", dynamic=False)
expect_error(["run", fixed, "--batch", "3"], "fixed", "batch on a fixed-batch model")
expect_error(["run", good, "--shape", "x=2x4x4"], "dimensions", "--shape with the wrong rank")

# kiln compare: the table, JSON and a well-formed SVG; peers that cannot run are named.
import json
import xml.etree.ElementTree as ET
rc, out, err = kiln("compare", good, "--duration", "0.3", "--json", path("c.json"), "--chart",
                    path("c.svg"), "--quiet")
check(rc == 0 and "Framework" in out and "Speed-up vs PyTorch FP32" in out, f"compare table: {err}")
if rc == 0:
    c = json.load(open(path("c.json")))
    fws = [r["framework"] for r in c["rows"]]
    check(fws[0] == "kiln" and c["rows"][0]["throughput"] > 0, "compare JSON: kiln row")
    check(len(c.get("commit", "")) >= 7 and c.get("host_cores", 0) >= 1 and c.get("kiln_version"),
          "compare JSON: commit, host and version recorded")
    torch_rows = [r for r in c["rows"] if r["framework"] == "pytorch"]
    check(torch_rows and "missing" in torch_rows[0], "compare: PyTorch reported missing for ONNX")
    ort = [r for r in c["rows"] if r["framework"] == "onnxruntime"]
    check(ort and ("throughput" in ort[0] or "missing" in ort[0]), "compare: ONNX Runtime row")
    root = ET.parse(path("c.svg")).getroot()
    check(root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}rect")) >= 2,
          "compare SVG is well-formed with bars")
# on a zoo model both CPU peers run the same torchvision architecture
rc, out, err = kiln("compare", "zoo:alexnet", "--duration", "0.2", "--json", path("z.json"), "--quiet")
check(rc == 0, f"compare zoo:alexnet: {err}")
if rc == 0:
    z = json.load(open(path("z.json")))
    ok = {r["framework"]: "throughput" in r for r in z["rows"]}
    check(ok.get("kiln") and ok.get("pytorch") and ok.get("onnxruntime"),
          f"compare zoo:alexnet: kiln, PyTorch and ONNX Runtime all measured ({ok})")
    check(any(r["framework"] == "pytorch" and abs(r["speedup_vs_pytorch_fp32"] - 1) < 1e-9
              for r in z["rows"]), "PyTorch FP32 is the 1.00x reference")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
