#!/usr/bin/env python3
"""Differential test: kiln must reproduce PyTorch's output on an exported torchvision model.

usage: diff_torchvision.py KILN FIXTURE_DIR OPSET [--tol 1e-5] [extra kiln args...]

Runs `kiln run FIXTURE_DIR/opsetN.onnx` on input_b1.npy and input_b4.npy and compares with
PyTorch's expected_b*.npy: relative L2 error <= tol and the same top-1 class for every sample
(a sample whose two best PyTorch logits are closer than the error bound allows is reported as a
tie, not as a pass). Exit 0 on success, 77 when the exporter could not produce this opset."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main():
    kiln, fx, opset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rest = sys.argv[4:]
    tol = 1e-5
    if rest[:1] == ["--tol"]:
        tol = float(rest[1])
        rest = rest[2:]
    meta = json.load(open(os.path.join(fx, "meta.json")))
    if opset not in meta["opsets"]:
        print(f"SKIPPED: the PyTorch exporter cannot export {meta['model']} at opset {opset}: "
              f"{meta.get('skipped', {}).get(str(opset), '?')}")
        return 77
    model = os.path.join(fx, f"opset{opset}.onnx")
    failed = 0
    for b in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.npy")
            cmd = [kiln, "run", model, "--input", "input=" + os.path.join(fx, f"input_b{b}.npy"),
                   "--output", out, "--quiet"] + rest
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL batch {b}: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
                failed += 1
                continue
            got = np.load(out).astype(np.float64)
        ref = np.load(os.path.join(fx, f"expected_b{b}.npy")).astype(np.float64)
        if got.shape != ref.shape:
            print(f"FAIL batch {b}: shape {got.shape}, expected {ref.shape}")
            failed += 1
            continue
        err = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)
        ok = np.isfinite(got).all() and err <= tol
        top_ref, top_got = ref.argmax(1), got.argmax(1)
        ties = 0
        for s in range(b):
            if top_ref[s] != top_got[s]:
                srt = np.sort(ref[s])
                if srt[-1] - srt[-2] <= 4 * tol * np.linalg.norm(ref[s]):
                    ties += 1
                else:
                    ok = False
        print(f"{meta['model']} opset {opset} batch {b}: rel L2 {err:.3e} (tol {tol:g}), "
              f"top-1 {'same' if (top_ref == top_got).all() else 'DIFFERENT'}"
              f"{f' ({ties} near-ties)' if ties else ''} -> {'ok' if ok else 'FAIL'}")
        failed += 0 if ok else 1
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
