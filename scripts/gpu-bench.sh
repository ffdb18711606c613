#!/usr/bin/env bash
# gpu-bench.sh — kiln's CUDA engines against PyTorch on the same GPU, in the same device run.
# scripts/gpu-check.sh calls it as `gpu-bench.sh BUILD_DIR OUT_DIR` after the GPU tests, inside
# its time budget (the `timeout` it runs under ends it; every result is written as it comes).
#
# What runs is chosen with KILN_BENCH (comma list; default "r50"):
#   r50        ResNet-50 FP16 batch 256: cold build with a fresh timing cache, warm rebuild, plan
#              load; device time, end-to-end, 2 streams, memory, per-layer times; PyTorch FP16 +
#              CUDA graph at batch 256
#   r50b1      ResNet-50 FP16 batch 1 latency; PyTorch FP16 + CUDA graph and torch.compile
#              reduce-overhead at batch 1
#   r50fp32    ResNet-50 FP32 (TF32 off) batch 256; PyTorch eager FP32
#   compile    torch.compile max-autotune FP16 ResNet-50 batch 256 (minutes)
#   models     ResNet-18/34, GoogLeNet, DenseNet-121, MobileNetV2 FP16 at batch 1 and 256,
#              PyTorch FP16 + CUDA graph beside each
#   cli        `kiln bench` (the CLI, one context, host I/O) on ResNet-50 FP16 batch 256
# Results: OUT/bench-raw.jsonl (one JSON object per measurement, kiln and PyTorch) and
# OUT/bench.json (machine, versions, commit, and the kiln/peer pairs with ratios).
set -uo pipefail
BUILD=${1:?usage: gpu-bench.sh BUILD_DIR OUT_DIR}
OUT=${2:?usage: gpu-bench.sh BUILD_DIR OUT_DIR}
cd "$(dirname "$0")/.."
ROOT=$PWD
SETS=",${KILN_BENCH:-r50},"
KB=$BUILD/tests/kiln_cuda_bench
KILN=$BUILD/kiln
RAW=$OUT/bench-raw.jsonl
TC=$BUILD/bench-tcache
mkdir -p "$TC"
START=$SECONDS
# Own deadline: every step runs under `timeout` of what is left, so the aggregation at the end
# always happens (gpu-check's outer timeout is only a safety net).
BUDGET=${KILN_BENCH_BUDGET_S:-240}
left() { echo $((BUDGET - (SECONDS - START))); }
say() { echo "[gpu-bench $((SECONDS - START))s] $*"; }
want() { [[ "$SETS" == *",$1,"* ]]; }
[ -x "$KB" ] || { say "no $KB (CUDA engine not built)"; exit 1; }

kiln() { # kiln_cuda_bench with a label; appends its JSON line to RAW
  local label=$1; shift
  [ "$(left)" -gt 20 ] || { say "kiln $label: skipped (no time left)"; return 1; }
  say "kiln $label: $*"
  local line
  line=$(timeout "$(left)" "$KB" "$@" 2> >(tail -5 >&2)) || { say "kiln $label FAILED"; echo "{\"label\": \"$label\", \"framework\": \"kiln\", \"error\": \"failed\"}" >> "$RAW"; return 1; }
  echo "$line" | sed "s/^{/{\"label\": \"$label\", \"framework\": \"kiln\", /" >> "$RAW"
  echo "$line" | cut -c1-400
}

torch() { # torch_peer.py with a label
  local label=$1; shift
  [ "$(left)" -gt 20 ] || { say "torch $label: skipped (no time left)"; return 1; }
  say "torch $label: $*"
  timeout "$(left)" python3 bench/peers/torch_peer.py --device cuda "$@" 2>/dev/null |
    sed "s/^{/{\"label\": \"$label\", /" | tee -a "$RAW" | cut -c1-300
}

bench_r50() {
  rm -f "$TC/r50-fp16.tcache"
  kiln r50-fp16-b256-cold zoo:resnet50 --precision fp16 --batch 256 --timing-cache "$TC/r50-fp16.tcache" \
       --iters 30 --streams 2 --duration 4 --layers 12
  kiln r50-fp16-b256-warm zoo:resnet50 --precision fp16 --batch 256 --timing-cache "$TC/r50-fp16.tcache" \
       --iters 30 --streams 0 --save "$TC/r50-fp16-b256.plan"
  kiln r50-fp16-b256-plan "$TC/r50-fp16-b256.plan" --iters 30 --streams 0
  torch r50-fp16-b256 --model resnet50 --batch 256 --modes fp16,fp16-graph --duration 3 --min-iters 20
}
bench_r50b1() {
  kiln r50-fp16-b1 zoo:resnet50 --precision fp16 --batch 1 --timing-cache "$TC/r50-fp16.tcache" \
       --iters 300 --streams 0 --layers 8
  torch r50-fp16-b1 --model resnet50 --batch 1 --modes fp16-graph,compile-ro --duration 3 --min-iters 100
}
bench_r50fp32() {
  kiln r50-fp32-b256 zoo:resnet50 --precision fp32 --batch 256 --timing-cache "$TC/r50-fp32.tcache" \
       --iters 20 --streams 2 --duration 4 --layers 8
  torch r50-fp32-b256 --model resnet50 --batch 256 --modes fp32 --duration 3 --min-iters 10
}
bench_cli() {
  [ "$(left)" -gt 20 ] || return 0
  say "kiln bench (CLI)"
  timeout "$(left)" "$KILN" bench zoo:resnet50 --backend cuda --precision fp16 --batch 256 --timing-cache "$TC/r50-fp16.tcache" \
     --duration 4 --quiet --json "$OUT/cli.json" && sed 's/^{/{"label": "r50-fp16-b256-cli", "framework": "kiln-cli", /' "$OUT/cli.json" >> "$RAW"
  rm -f "$OUT/cli.json"
}
bench_models() {
  for m in ${KILN_BENCH_MODELS:-resnet18 resnet34 googlenet densenet121 mobilenet_v2}; do
    for b in 256 1; do
      it=$([ $b = 1 ] && echo 200 || echo 20)
      kiln "$m-fp16-b$b" zoo:$m --precision fp16 --batch $b --timing-cache "$TC/$m.tcache" --iters $it --streams 0 --layers 6
      torch "$m-fp16-b$b" --model $m --batch $b --modes fp16-graph --duration 2 --min-iters $it
    done
  done
}
bench_compile() {
  torch r50-fp16-b256-compile --model resnet50 --batch 256 --modes compile-ma --duration 3 --min-iters 20
}
# In the order KILN_BENCH lists them (what matters most first: the outer timeout may end the rest).
for set in ${SETS//,/ }; do
  case $set in
    r50|r50b1|r50fp32|cli|models|compile) "bench_$set" ;;
    *) say "unknown benchmark set '$set'" ;;
  esac
done

# ---- aggregate -----------------------------------------------------------------------------
python3 - "$OUT" "${KILN_COMMIT:-unknown}" <<'PY'
import json, os, re, subprocess, sys
out, commit = sys.argv[1:3]
rows = []
for line in open(os.path.join(out, "bench-raw.jsonl")):
    try: rows.append(json.loads(line))
    except Exception: pass
env = open(os.path.join(out, "env.txt")).read() if os.path.exists(os.path.join(out, "env.txt")) else ""
gpu = re.search(r"^name, driver_version.*\n(.*)$", env, re.M)
cudnn = ".".join(re.findall(r"define CUDNN_(?:MAJOR|MINOR|PATCHLEVEL) (\d+)", env)[:3])
nvcc = re.search(r"release ([0-9.]+)", env)
try:
    import torch
    tv = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
          "torch_cudnn": torch.backends.cudnn.version()}
except Exception as exc:
    tv = {"torch": str(exc)}
kiln = {r["label"]: r for r in rows if r.get("framework") == "kiln" and "error" not in r}
peer = {}
for r in rows:
    if r.get("framework") == "pytorch" and "error" not in r:
        peer[(r["label"], r["mode"])] = r
pairs = []
def pair(what, klabel, kfig, plabel, pmode, pfig, higher_better=True):
    k, p = kiln.get(klabel), peer.get((plabel, pmode))
    if not k: return
    kv = k.get(kfig)
    pv = (p or {}).get(pfig) if pfig != "latency_ms" else ((p or {}).get("latency_ms") or {}).get("median")
    ratio = None
    if kv and pv: ratio = kv / pv if higher_better else pv / kv
    pairs.append({"what": what, "kiln": kv, "kiln_figure": kfig, "peer": pv,
                  "peer_mode": pmode, "ratio_kiln_over_peer": ratio})
pair("ResNet-50 FP16 b256 img/s (device time)", "r50-fp16-b256-cold", "device_img_s", "r50-fp16-b256", "fp16-graph", "throughput")
pair("ResNet-50 FP16 b256 img/s (2 streams, host I/O)", "r50-fp16-b256-cold", "streams_img_s", "r50-fp16-b256", "fp16-graph", "throughput")
pair("ResNet-50 FP16 b256 vs torch.compile max-autotune", "r50-fp16-b256-cold", "device_img_s", "r50-fp16-b256-compile", "compile-ma", "throughput")
pair("ResNet-50 FP16 b1 latency ms (device)", "r50-fp16-b1", "device_ms", "r50-fp16-b1", "compile-ro", "latency_ms", False)
pair("ResNet-50 FP16 b1 latency ms (end to end)", "r50-fp16-b1", "e2e_ms", "r50-fp16-b1", "compile-ro", "latency_ms", False)
pair("ResNet-50 FP16 b1 latency ms vs FP16+graph", "r50-fp16-b1", "device_ms", "r50-fp16-b1", "fp16-graph", "latency_ms", False)
pair("ResNet-50 FP32 b256 img/s (device)", "r50-fp32-b256", "device_img_s", "r50-fp32-b256", "fp32", "throughput")
pair("ResNet-50 FP16 b256 GPU MiB vs eager peak (peer/kiln)", "r50-fp16-b256-cold", "device_mib", "r50-fp16-b256", "fp16", "peak_mem_mib", False)
for m in ["resnet18", "resnet34", "googlenet", "densenet121", "mobilenet_v2"]:
    pair(f"{m} FP16 b256 img/s (device)", f"{m}-fp16-b256", "device_img_s", f"{m}-fp16-b256", "fp16-graph", "throughput")
    pair(f"{m} FP16 b1 latency ms (device)", f"{m}-fp16-b1", "device_ms", f"{m}-fp16-b1", "fp16-graph", "latency_ms", False)
builds = {l: {k: kiln[l].get(k) for k in ("build_s", "cudnn_plans_compiled", "cudnn_plans_restored")}
          for l in ("r50-fp16-b256-cold", "r50-fp16-b256-warm", "r50-fp16-b256-plan") if l in kiln}
res = {"date": subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip(),
       "commit": commit, "device": gpu.group(1) if gpu else None, "cudnn_headers": cudnn,
       "nvcc": nvcc.group(1) if nvcc else None, **tv, "builds": builds, "pairs": pairs}
json.dump(res, open(os.path.join(out, "bench.json"), "w"), indent=1)
print("\n%-52s %12s %12s %8s" % ("benchmark", "kiln", "peer", "ratio"))
for p in pairs:
    f = lambda v: "-" if v is None else ("%.4g" % v)
    print("%-52s %12s %12s %8s" % (p["what"][:52], f(p["kiln"]), f(p["peer"]), f(p["ratio_kiln_over_peer"])))
for l, b in builds.items(): print("build", l, b)
PY
