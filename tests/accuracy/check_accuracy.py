#!/usr/bin/env python3
"""Accuracy mode on real data: kiln's top-1 on the Fashion-MNIST test set with the committed
trained model must reproduce PyTorch's (recorded beside the model) within 0.05 %.

usage: check_accuracy.py KILN MODEL.onnx WORKDIR [extra kiln args...]"""
import json
import os
import subprocess
import sys


def main():
    kiln, model, work = sys.argv[1], sys.argv[2], sys.argv[3]
    extra = sys.argv[4:]
    os.makedirs(work, exist_ok=True)
    ref = json.load(open(os.path.splitext(model)[0] + ".json"))
    out = os.path.join(work, "accuracy.json")
    logs = os.path.join(work, "logs")
    cmd = [kiln, "bench", model, "--mode", "accuracy", "--dataset", "fashion-mnist",
           "--scenario", "offline", "--batch", "64", "--json", out, "--log-dir", logs, "--quiet"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(r.stdout)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)}\n{r.stderr}")
        print("0 passed, 1 failed")
        return 1
    got = json.load(open(out))
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    check(got["samples"] == 10000, f"every test sample once ({got['samples']})")
    diff = abs(got["top1"] - ref["pytorch_top1"])
    print(f"kiln top-1 {got['top1']:.4%}, PyTorch {ref['pytorch_top1']:.4%}, |diff| {diff:.4%}")
    check(diff <= 0.0005, f"top-1 within 0.05% of PyTorch ({diff:.4%})")
    check(abs(got["top5"] - ref["pytorch_top5"]) <= 0.0005, "top-5 within 0.05% of PyTorch")
    # The accuracy log decodes to the same classes: every response is 5 little-endian int32.
    acc = json.load(open(os.path.join(logs, "mlperf_log_accuracy.json")))
    check(len(acc) == 10000, f"accuracy log has every sample ({len(acc)})")
    import gzip
    import numpy as np
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    top1 = sum(int.from_bytes(bytes.fromhex(e["data"])[:4], "little", signed=True) == labels[e["qsl_idx"]]
               for e in acc)
    check(top1 == got["top1_correct"], f"accuracy log decodes to the reported top-1 ({top1})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
