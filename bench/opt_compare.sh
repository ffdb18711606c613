#!/usr/bin/env bash
# opt_compare.sh — what kiln's optimizer and memory planner buy, measured side by side in one run:
# for each batch size, build MODEL twice (as imported: --no-optimize; and optimized), then time
# both engines in alternating rounds (so machine load hits both alike) and write one JSON with
# layers before/after, activation memory before/after planning, and the speed-up.
#
# usage: bench/opt_compare.sh [--kiln PATH] [--model MODEL] [--batches "1 8"] [--backend cpu]
#                             [--duration SECONDS] [--rounds N] [--threads N] [--out FILE.json]
# default: zoo:resnet50 on the CPU at batch 1 and 8, 3 rounds of 5 s per engine, written to
# bench/results/opt_compare_<model>_<backend>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-build/kiln}
MODEL=zoo:resnet50
BATCHES="1 8"
BACKEND=cpu
DURATION=5
ROUNDS=3
THREADS=0
OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --kiln) KILN=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "opt_compare: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$KILN" ] || { echo "opt_compare: no kiln at $KILN (build it, or pass --kiln)" >&2; exit 1; }
name=$(echo "$MODEL" | sed 's/^zoo://; s/\.onnx$//; s#.*/##')
OUT=${OUT:-bench/results/opt_compare_${name}_${BACKEND}.json}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for b in $BATCHES; do
  for mode in unoptimized optimized; do
    flag=; [ $mode = unoptimized ] && flag=--no-optimize
    echo "[opt_compare] build $MODEL batch $b ($mode)" >&2
    "$KILN" build "$MODEL" -o "$work/$mode-$b.plan" --batch "$b" --backend "$BACKEND" \
      --threads "$THREADS" $flag --quiet --json "$work/build-$mode-$b.json" >&2
  done
  for r in $(seq 1 "$ROUNDS"); do
    for mode in unoptimized optimized; do
      echo "[opt_compare] batch $b round $r: $mode" >&2
      "$KILN" bench "$work/$mode-$b.plan" --batch "$b" --duration "$DURATION" --warmup 2 \
        --quiet --json "$work/bench-$mode-$b-$r.json" >/dev/null
    done
  done
done

"$PY" - "$work" "$OUT" "$MODEL" "$BACKEND" "$ROUNDS" "$DURATION" $BATCHES <<'EOF'
import json, os, platform, statistics, sys, time
work, out, model, backend, rounds, duration = sys.argv[1:7]
batches = [int(b) for b in sys.argv[7:]]
rounds = int(rounds)
def load(p):
    with open(os.path.join(work, p)) as f:
        return json.load(f)
def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
res = {"model": model, "backend": backend, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
       "host": platform.node(), "cpu": cpu_name(),
       "cores": os.cpu_count(), "load_average_at_end": os.getloadavg(),
       "method": "each batch: both engines built with kiln build (--no-optimize vs default), "
                 "then %d alternating rounds of kiln bench --duration %s; latency = median of "
                 "the rounds' medians; activation memory from the memory planner at that batch "
                 "(unplanned = one buffer per activation)" % (rounds, duration),
       "batches": []}
for b in batches:
    row = {"batch": b}
    for mode in ("unoptimized", "optimized"):
        bj = load("build-%s-%d.json" % (mode, b))
        act = [a for a in bj["activations"] if a["batch"] == b][0]
        med = [load("bench-%s-%d-%d.json" % (mode, b, r))["latency_ms"]["median"]
               for r in range(1, rounds + 1)]
        row[mode] = {"layers": bj["layers"], "weight_bytes": bj["weight_bytes"],
                     "activation_bytes_unplanned": act["unplanned_bytes"],
                     "activation_bytes_planned": act["planned_bytes"],
                     "activation_bytes_lower_bound": act["lower_bound_bytes"],
                     "latency_ms_median": statistics.median(med), "latency_ms_rounds": med,
                     "throughput_per_s": b * 1000.0 / statistics.median(med)}
    u, o = row["unoptimized"], row["optimized"]
    row["layers_before_after"] = [u["layers"], o["layers"]]
    row["peak_activation_bytes_before_after_planning"] = [
        u["activation_bytes_unplanned"], o["activation_bytes_planned"]]
    row["speedup_optimized_over_unoptimized"] = u["latency_ms_median"] / o["latency_ms_median"]
    res["batches"].append(row)
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    json.dump(res, f, indent=2)
    f.write("\n")
print("%s on %s (%s, %s cores)" % (model, backend, res["cpu"], res["cores"]))
print("%5s  %15s  %31s  %25s  %8s" % ("batch", "layers", "activations unplanned -> planned",
                                       "latency ms unopt -> opt", "speed-up"))
for r in res["batches"]:
    u, o = r["unoptimized"], r["optimized"]
    print("%5d  %6d -> %5d  %9.1f MB -> %5.1f MB (%5.1f)  %10.2f -> %10.2f  %7.2fx" % (
        r["batch"], u["layers"], o["layers"], u["activation_bytes_unplanned"] / 1e6,
        o["activation_bytes_planned"] / 1e6, u["activation_bytes_planned"] / 1e6,
        u["latency_ms_median"], o["latency_ms_median"], r["speedup_optimized_over_unoptimized"]))
print("(in parentheses: the unoptimized graph's planned activation memory)")
print("wrote " + out)
EOF
