#!/usr/bin/env python3
"""PyTorch peer for kiln compare / the GPU benchmarks: runs the same torchvision architecture as
a kiln zoo model, with random weights and random input, and prints one JSON object per mode.

usage: torch_peer.py --model resnet50 [--batch 1] [--device cpu|cuda] [--modes LIST]
                     [--duration 3] [--warmup 3] [--min-iters 10] [--input-size 224]
                     [--threads N] [--export FILE.onnx]

modes (comma separated; default: fp32 on cpu, every mode on cuda):
  fp32           eager, float32 (TF32 off on CUDA)
  tf32           eager, TF32 matmul/conv (CUDA)
  fp16           eager, float16, channels_last (CUDA)
  fp16-graph     float16 channels_last captured in a CUDA graph (CUDA)
  compile-ro     torch.compile mode=reduce-overhead, float16 (CUDA, PyTorch 2)
  compile-ma     torch.compile mode=max-autotune, float16 (CUDA, PyTorch 2)
--export writes the model as ONNX (opset 13, dynamic batch) for the ONNX Runtime peer and exits.
Timing: CUDA events around each run on GPU (median of many), wall clock on CPU. Each JSON line:
{"framework": "pytorch", "version", "device", "mode", "precision", "batch", "runs",
 "latency_ms": {median, mean, min, p90, p99, max}, "throughput", "peak_mem_mib"?}"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision

KILN_NAMES = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "googlenet",
              "densenet121", "mobilenet_v2", "vgg16", "alexnet"}


def build(name):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    try:
        m = getattr(torchvision.models, name)(weights=None, **kwargs)
    except TypeError:  # older torchvision
        m = getattr(torchvision.models, name)(pretrained=False, **kwargs)
    return m.eval()


def stats(times_s, batch):
    t = sorted(times_s)
    n = len(t)
    pick = lambda p: t[min(n - 1, max(0, int(p * n + 0.999999) - 1))]
    med = pick(0.5)
    return {"median": med * 1e3, "mean": sum(t) / n * 1e3, "min": t[0] * 1e3,
            "p90": pick(0.9) * 1e3, "p99": pick(0.99) * 1e3, "max": t[-1] * 1e3}, batch / med


def time_cpu(fn, args):
    for _ in range(args.warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < args.min_iters or time.perf_counter() - start < args.duration:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_cuda(fn, args):
    for _ in range(args.warmup):
        fn()
    torch.cuda.synchronize()
    times, start = [], time.perf_counter()
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    while len(times) < args.min_iters or time.perf_counter() - start < args.duration:
        ev0.record()
        fn()
        ev1.record()
        ev1.synchronize()
        times.append(ev0.elapsed_time(ev1) / 1e3)
    return times


def run_mode(mode, model, args):
    dev = torch.device(args.device)
    shape = (args.batch, 3, args.input_size, args.input_size)
    gen = torch.Generator().manual_seed(1)
    x32 = (torch.rand(shape, generator=gen) * 2 - 1)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    m = model.to(dev)
    if mode in ("fp32", "tf32"):
        x, prec = x32.to(dev), mode
    else:
        if not cuda:
            raise RuntimeError(f"mode {mode} needs CUDA")
        m = m.half().to(memory_format=torch.channels_last)
        x, prec = x32.to(dev).half().to(memory_format=torch.channels_last), "fp16"
    with torch.inference_mode():
        if mode in ("fp32", "tf32", "fp16"):
            fn = lambda: m(x)
        elif mode == "fp16-graph":
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    m(x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                out = m(x)
            fn = g.replay
        elif mode in ("compile-ro", "compile-ma"):
            cm = torch.compile(m, mode="reduce-overhead" if mode == "compile-ro" else "max-autotune")
            for _ in range(3):
                cm(x)
            fn = lambda: cm(x)
        else:
            raise RuntimeError(f"unknown mode {mode}")
        times = time_cuda(fn, args) if cuda else time_cpu(fn, args)
    lat, thr = stats(times, args.batch)
    res = {"framework": "pytorch", "version": torch.__version__, "device": args.device_name,
           "model": args.model, "mode": mode, "precision": prec, "batch": args.batch,
           "runs": len(times), "latency_ms": lat, "throughput": thr}
    if cuda:
        res["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default=None)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-iters", type=int, default=10)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--export", default=None)
    args = ap.parse_args()
    # Use every core unless told otherwise: some builds start with one OpenMP thread (Debian's
    # torch 1.13 here does), which would make the CPU comparison unfair to PyTorch.
    if args.device == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    model = build(args.model)
    if args.export:
        x = torch.rand(1, 3, args.input_size, args.input_size)
        torch.onnx.export(model, x, args.export, opset_version=13, input_names=["input"],
                          output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"framework": "pytorch", "error": "no CUDA device"}))
        return 1
    args.device_name = (torch.cuda.get_device_name() if args.device == "cuda"
                        else f"cpu ({torch.get_num_threads()} threads)")
    modes = args.modes.split(",") if args.modes else (
        ["fp32"] if args.device == "cpu" else
        ["fp32", "tf32", "fp16", "fp16-graph", "compile-ro", "compile-ma"])
    rc = 0
    for mode in modes:
        try:
            print(json.dumps(run_mode(mode, build(args.model), args)), flush=True)
        except Exception as exc:  # report and go on: one failing mode must not hide the others
            print(json.dumps({"framework": "pytorch", "mode": mode, "batch": args.batch,
                              "error": str(exc).splitlines()[0][:300]}), flush=True)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
