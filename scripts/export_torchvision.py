#!/usr/bin/env python3
"""Export a torchvision model to ONNX at several opsets, with PyTorch's own outputs as the
reference kiln must reproduce.

usage: export_torchvision.py OUTDIR MODEL [--opsets 11,13,17] [--seed N]

Writes OUTDIR/MODEL/opset{N}.onnx (dynamic batch axis named "batch"), input_b1.npy, input_b4.npy,
expected_b1.npy, expected_b4.npy and meta.json. Weights are torchvision's initialisation from a
fixed seed, with batch-norm statistics and affine parameters randomised so that folding them is
really exercised. Run with Debian's python3 (torch 1.13, torchvision 0.14)."""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision

INPUT_SIZE = {"inception_v3": 299}


def build(name, seed):
    torch.manual_seed(seed)
    kwargs = {}
    if name in ("googlenet", "inception_v3"):
        kwargs = {"aux_logits": False, "init_weights": True}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("model")
    ap.add_argument("--opsets", default="11,13,17")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    out = os.path.join(args.outdir, args.model)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = build(args.model, args.seed)
    size = INPUT_SIZE.get(args.model, 224)
    rng = np.random.default_rng(args.seed)
    meta = {"model": args.model, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "input_size": size, "opsets": []}
    for b in (1, 4):
        x = rng.standard_normal((b, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        np.save(os.path.join(out, f"input_b{b}.npy"), x)
        np.save(os.path.join(out, f"expected_b{b}.npy"), y.astype(np.float32))
    dummy = torch.from_numpy(rng.standard_normal((1, 3, size, size)).astype(np.float32))
    for opset in [int(o) for o in args.opsets.split(",")]:
        path = os.path.join(out, f"opset{opset}.onnx")
        try:
            torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"],
                              output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              do_constant_folding=True)
            meta["opsets"].append(opset)
        except Exception as exc:  # the exporter does not support every model at every opset
            print(f"{args.model}: opset {opset} not exportable: {exc}", file=sys.stderr)
            meta.setdefault("skipped", {})[str(opset)] = str(exc).splitlines()[0][:200]
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{args.model}: exported opsets {meta['opsets']}")


if __name__ == "__main__":
    main()
