#!/usr/bin/python3
"""Reference numbers for kiln's model zoo, straight from torchvision (0.14).

Two modes:

  zoo_reference.py [-o FILE.json]
      For every zoo model print (or write) JSON:
        {"torch": "1.13.1", "torchvision": "0.14.1",
         "models": {"resnet18": {"params": N, "macs": M, "input": [1,3,224,224],
                                 "modules": {"Conv2d": c, "BatchNorm2d": b, "Linear": l, ...},
                                 "tensors": {"conv1.weight": [64,3,7,7], ...}}, ...}}
      params counts torchvision's parameters (not buffers); macs counts multiply-accumulates of
      Conv2d and Linear layers only (the thop/fvcore convention), from forward hooks at 1x3x224x224;
      modules counts forward calls per layer type; tensors lists the state_dict entries that a
      kiln graph holds as constants (num_batches_tracked left out).

  zoo_reference.py --check DUMP [DUMP ...]
      Each DUMP is a text description of a kiln zoo graph (written by tests/test_zoo_torch.c).
      Interpret that graph with torch.nn.functional, taking every constant named like a
      state_dict entry from the matching torchvision model (randomized, batch-norm statistics
      included): every activation must have the shape the dump declares (at the declared input
      size, on the meta device), and the logits must match the torchvision model's own forward
      pass on the same input (batch 2 at 64x64 where the network allows, else 1 at 224x224). Exits
      non-zero on any mismatch.

Debian's python (/usr/bin/python3) has torch and torchvision; the pyenv python on PATH does not.
"""
import argparse
import contextlib
import json
import sys

import torch
import torch.nn.functional as F
import torchvision

# kiln zoo name -> torchvision constructor arguments (eval-mode architectures, no aux heads).
MODELS = {
    "resnet18": {},
    "resnet34": {},
    "resnet50": {},
    "resnet101": {},
    "resnet152": {},
    "googlenet": {"aux_logits": False, "transform_input": False, "init_weights": True},
    "densenet121": {},
    "mobilenet_v2": {},
    "vgg16": {},
    "alexnet": {},
}


@contextlib.contextmanager
def no_init():
    """Construct without torchvision's weight init (seconds for VGG's 138M weights): callers
    either never read the values (reference mode runs on the meta device) or set them all."""
    names = ["uniform_", "normal_", "constant_", "zeros_", "ones_", "kaiming_uniform_",
             "kaiming_normal_", "trunc_normal_", "xavier_uniform_"]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def build(name):
    with no_init():
        m = getattr(torchvision.models, name)(weights=None, **MODELS[name])
    return m.eval()


def reference(name):
    m = build(name)
    macs = 0
    modules = {}

    def hook(mod, inp, out):
        nonlocal macs
        kind = type(mod).__name__
        modules[kind] = modules.get(kind, 0) + 1
        if isinstance(mod, torch.nn.Conv2d):
            w = mod.weight
            macs += out.numel() * (w.shape[1] * w.shape[2] * w.shape[3])
        elif isinstance(mod, torch.nn.Linear):
            macs += out.numel() * mod.in_features

    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d, torch.nn.MaxPool2d,
             torch.nn.AvgPool2d)
    for mod in m.modules():
        if isinstance(mod, kinds):
            mod.register_forward_hook(hook)
    # Shapes are all the hooks need: run on the meta device (no memory, no arithmetic).
    m = m.to("meta")
    with torch.no_grad():
        m(torch.zeros(1, 3, 224, 224, device="meta"))
    tensors = {k: list(v.shape) for k, v in m.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    return {
        "params": sum(p.numel() for p in m.parameters()),
        "macs": macs,
        "input": [1, 3, 224, 224],
        "modules": modules,
        "tensors": tensors,
    }


# ---- --check: interpret a dumped kiln graph with torch ------------------------------------------

def parse_dump(path):
    """Lines: 'model NAME' | 'input NAME d0 d1 ...' | 'output NAME'
    | 'const NAME d0 ... ; v0 v1 ...' (values only for constants not in the state_dict)
    | 'act NAME d0 d1 ...' (the shape kiln's zoo builder declares, batch 1)
    | 'node OP NAME ; in0 in1 ... ; out0 ... ; key=v1,v2 ...'"""
    d = {"consts": {}, "acts": {}, "nodes": [], "inputs": [], "outputs": []}
    with open(path) as f:
        for line in f:
            parts = [p.strip() for p in line.rstrip("\n").split(";")]
            head = parts[0].split()
            if not head:
                continue
            kind = head[0]
            if kind == "model":
                d["model"] = head[1]
            elif kind == "input":
                d["inputs"].append((head[1], [int(v) for v in head[2:]]))
            elif kind == "output":
                d["outputs"].append(head[1])
            elif kind == "const":
                shape = [int(v) for v in head[2:]]
                vals = [float(v) for v in parts[1].split()] if len(parts) > 1 and parts[1] else None
                d["consts"][head[1]] = (shape, vals)
            elif kind == "act":
                d["acts"][head[1]] = [int(v) for v in head[2:]]
            elif kind == "node":
                attrs = {}
                for kv in parts[3].split():
                    k, v = kv.split("=")
                    attrs[k] = [float(x) for x in v.split(",")]
                d["nodes"].append((head[1], head[2], parts[1].split(), parts[2].split(), attrs))
            else:
                raise ValueError(f"{path}: bad line {line!r}")
    return d


def ints(a, k):
    return [int(v) for v in a[k]]


def pad2d(x, a):
    """Explicit ONNX pads (begin h, begin w, end h, end w) -> torch's symmetric padding, or an
    explicit F.pad when they differ."""
    pb, pe = ints(a, "pad_begin"), ints(a, "pad_end")
    if pb == pe:
        return x, pb
    return F.pad(x, (pb[1], pe[1], pb[0], pe[0])), [0, 0]


def run_node(op, ins, a):
    if op == "Conv":
        x, p = pad2d(ins[0], a)
        return F.conv2d(x, ins[1], ins[2] if len(ins) > 2 else None, ints(a, "stride"), p,
                        ints(a, "dilation"), int(a["group"][0]))
    if op == "BatchNormalization":
        x, g, b, m, v = ins
        return F.batch_norm(x, m, v, g, b, False, 0.0, a["epsilon"][0])
    if op == "Relu":
        return F.relu(ins[0])
    if op == "Clip":
        return torch.clamp(ins[0], ins[1].item(), ins[2].item())
    if op == "MaxPool":
        assert ints(a, "pad_begin") == ints(a, "pad_end")
        return F.max_pool2d(ins[0], ints(a, "kernel"), ints(a, "stride"), ints(a, "pad_begin"),
                            ints(a, "dilation"), bool(a["ceil_mode"][0]))
    if op == "AveragePool":
        assert ints(a, "pad_begin") == ints(a, "pad_end")
        return F.avg_pool2d(ins[0], ints(a, "kernel"), ints(a, "stride"), ints(a, "pad_begin"),
                            bool(a["ceil_mode"][0]), bool(a["count_include_pad"][0]))
    if op == "GlobalAveragePool":
        return ins[0].mean(dim=(2, 3), keepdim=True)
    if op == "Concat":
        return torch.cat(ins, int(a["axis"][0]))
    if op == "Add":
        return ins[0] + ins[1]
    if op == "Flatten":
        ax = int(a["axis"][0])
        return ins[0].reshape(int(torch.tensor(ins[0].shape[:ax]).prod()), -1)
    if op == "Gemm":
        A, B = ins[0], ins[1]
        if a["trans_a"][0]:
            A = A.t()
        if a["trans_b"][0]:
            B = B.t()
        y = a["alpha"][0] * (A @ B)
        if len(ins) > 2:
            y = y + a["beta"][0] * ins[2]
        return y
    if op in ("Dropout", "Identity"):
        return ins[0]
    raise ValueError(f"operator {op} not handled by the checker")


# Numeric comparison input side: small where the network is size-agnostic; VGG and AlexNet end in
# an adaptive pool that kiln's graph (like the exporter's at 224) has as the identity, so 224.
CHECK_SIDE = {"vgg16": 224, "alexnet": 224}
SMALL_SIDE = 64


def randomize(m):
    """Set every parameter and buffer of a model built under no_init(): He-uniform weights,
    small biases, non-trivial batch-norm statistics (so their wiring matters)."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                bound = (6.0 / mod.weight[0].numel()) ** 0.5
                mod.weight.uniform_(-bound, bound, generator=g)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.1, 0.1, generator=g)
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.0, generator=g)
                mod.bias.uniform_(-0.1, 0.1, generator=g)
                mod.running_mean.uniform_(-0.1, 0.1, generator=g)
                mod.running_var.uniform_(0.5, 1.5, generator=g)


def interpret(d, consts, x, check_shapes, errors):
    env = dict(consts)
    (iname, _), = d["inputs"]
    env[iname] = x
    for op, nname, ins, outs, attrs in d["nodes"]:
        y = run_node(op, [env[i] for i in ins], attrs)
        env[outs[0]] = y
        want = d["acts"].get(outs[0])
        if check_shapes and want is not None and list(y.shape) != want:
            errors.append(f"{nname} ({op}): shape {list(y.shape)}, kiln declares {want}")
    return env[d["outputs"][0]]


def check(path):
    d = parse_dump(path)
    name = d["model"]
    m = build(name)
    randomize(m)
    sd = m.state_dict()
    errors = []
    used = set()
    consts = {}
    for cname, (shape, vals) in d["consts"].items():
        if cname in sd:
            if list(sd[cname].shape) != shape:
                errors.append(f"{cname}: kiln {shape}, torchvision {list(sd[cname].shape)}")
            consts[cname] = sd[cname].float()
            used.add(cname)
        elif vals is not None:
            consts[cname] = torch.tensor(vals, dtype=torch.float32).reshape(shape)
        else:
            errors.append(f"{cname}: constant not in torchvision's state_dict")
    missing = [k for k in sd if k not in used and not k.endswith("num_batches_tracked")]
    if missing:
        errors.append(f"state_dict entries kiln lacks: {missing[:5]}")
    if errors:
        return report(name, d, used, errors)
    (_, ishape), = d["inputs"]
    with torch.no_grad():
        # Every activation's shape at the declared input size, on the meta device (free).
        meta = {k: v.to("meta") if k in used else v for k, v in consts.items()}  # Clip bounds stay
        interpret(d, meta, torch.empty(*ishape, device="meta"), True, errors)
        # The numbers, against torchvision's own forward pass.
        side = CHECK_SIDE.get(name, SMALL_SIDE)
        batch = 1 if side > SMALL_SIDE else 2  # VGG-16 at 224 costs 15 GMACs per image
        x = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(7))
        out = interpret(d, consts, x, False, errors)
        ref = m(x)
    if out.shape != ref.shape:
        errors.append(f"output shape {list(out.shape)} vs torchvision {list(ref.shape)}")
    else:
        rel = ((out - ref).norm() / ref.norm()).item()
        if not rel < 1e-4:
            errors.append(f"output at {side}x{side} differs from torchvision: rel L2 {rel:g}")
    return report(name, d, used, errors)


def report(name, d, used, errors):
    status = "ok" if not errors else "FAIL"
    print(f"{name}: {status} ({len(d['nodes'])} nodes, {len(used)} state_dict tensors)")
    for err in errors[:10]:
        print(f"  {name}: {err}")
    return not errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", help="write the JSON here instead of stdout")
    ap.add_argument("--check", nargs="+", metavar="DUMP", help="check kiln graph dumps")
    ap.add_argument("--models", help="comma-separated subset (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the machine is shared; OpenMP spinning hurts more than it helps
    if args.check:
        ok = all([check(p) for p in args.check])
        return 0 if ok else 1
    names = args.models.split(",") if args.models else list(MODELS)
    doc = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "models": {n: reference(n) for n in names}}
    text = json.dumps(doc, indent=1)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
