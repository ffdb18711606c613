#!/usr/bin/env python3
"""Train a small residual CNN on Fashion-MNIST (Debian's dataset-fashion-mnist) and export it.

usage: train_fashion_mnist.py [--epochs 10] [--out models/fashion_mnist_resnet.onnx]

CPU only (Debian's python3-torch 1.13), a few minutes on 2 cores. The exported model takes raw
pixels scaled to [0, 1] (N x 1 x 28 x 28, float32; normalisation is inside the model) and returns
10 logits; the batch axis is dynamic. Beside the model, a JSON file records PyTorch's own test
accuracy, which kiln's accuracy mode must reproduce."""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 24, 3, 1, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.layers = nn.Sequential(Block(24, 48, 2), Block(48, 96, 2))
        self.fc = nn.Linear(96, 10)

    def forward(self, x):
        x = (x - MEAN) / STD
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def evaluate(model, x, y):
    model.eval()
    correct1 = correct5 = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            logits = model(x[i:i + 1000])
            top5 = logits.topk(5, 1).indices
            correct1 += (top5[:, 0] == y[i:i + 1000]).sum().item()
            correct5 += (top5 == y[i:i + 1000, None]).any(1).sum().item()
    return correct1 / len(x), correct5 / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="models/fashion_mnist_resnet.onnx")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    xtr = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255)[:, None]
    ytr = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz").astype(np.float32) / 255)[:, None]
    yte = torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    steps = args.epochs * (len(xtr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr) - 127, 128):
            idx = perm[i:i + 128]
            xb = xtr[idx]
            flip = torch.rand(len(xb)) < 0.5  # horizontal flips: clothes are left-right symmetric
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        top1, _ = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.3f} test top-1 {top1:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    top1, top5 = evaluate(model, xte, yte)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    torch.onnx.export(model, xte[:1], args.out, opset_version=13, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    meta = {"model": os.path.basename(args.out), "dataset": "fashion-mnist test (10000)",
            "input": "N x 1 x 28 x 28 float32, pixels / 255 (normalisation is in the model)",
            "pytorch_top1": top1, "pytorch_top5": top5, "pytorch_correct_top1": round(top1 * 10000),
            "torch": torch.__version__, "epochs": args.epochs, "seed": args.seed,
            "train_seconds": round(time.time() - t0, 1),
            "params": sum(p.numel() for p in model.parameters())}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
