#!/usr/bin/env bash
# gpu-check.sh — everything the GPU machine should do in ONE device call: build kiln (Release,
# CUDA on), record the machine, run the GPU tests, then the CPU suite while time allows, then the
# GPU benchmarks when there are any. Logs and a JSON summary go to $OUT (at most 8 files, flat),
# and a short table ends the output (the device tool returns the tail of stdout).
#
# How to call it (from the development machine):
#   1. scripts/prepare-carry.sh            # protoc-c output + protobuf-c/zlib files -> .carry/
#                                          # (the GPU machine has no package registry)
#   2. device tool `run` with carry [".carry"] and command:
#          scripts/gpu-check.sh
#      optional environment (put it in front of the command):
#          KILN_GPU_BUDGET_S=420   seconds this script may use in total (default 420: a call is
#                                  limited to 600 s and machine start-up counts against it)
#          KILN_GPU_CPU_SUITE=0    skip the CPU suite; KILN_GPU_CPU_MAX_S=150 caps its time
#          KILN_GPU_TESTS=REGEX    only the GPU tests matching REGEX (ctest -R)
#          KILN_GPU_JOBS=16        build parallelism; KILN_GPU_BUILD_DIR=build-gpu
#          KILN_CUDNN_ROOT=DIR|pip another cuDNN (include/, lib/) instead of the system's; "pip"
#                                  takes the nvidia-cudnn wheel of the machine's python3 (the
#                                  cuDNN PyTorch runs with there: 9.19, the system's is 9.14)
#          KILN_COMMIT=SHA         recorded in summary.json (the device copy may have no .git)
#   3. read the table at the end; full logs are under the files the tool fetched.
#
# Files written to $OUT: env.txt (machine, driver, toolkit, cuDNN), build.log, gpu-tests.log,
# summary.json, and cpu-tests.log / bench.log when those ran (6 at most: two runs with different
# OUT subfolders fit the device tool's 8-file limit when the CPU suite is skipped in one).
# Builds in build-gpu/ with warnings not fatal (CI here checks -Werror; a different compiler
# there must not stop the GPU check) and keeps going past files that fail to compile, so the
# tests that did build still run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
BUDGET=${KILN_GPU_BUDGET_S:-420}
JOBS=${KILN_GPU_JOBS:-16}
BUILD=$ROOT/${KILN_GPU_BUILD_DIR:-build-gpu}
START=$SECONDS
left() { echo $((BUDGET - (SECONDS - START))); }
say() { echo "[gpu-check $((SECONDS - START))s] $*"; }
COMMIT=${KILN_COMMIT:-$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)}
CUDNN_ROOT=${KILN_CUDNN_ROOT:-}
if [ "$CUDNN_ROOT" = pip ]; then
  CUDNN_ROOT=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  [ -n "$CUDNN_ROOT" ] || say "KILN_CUDNN_ROOT=pip: no nvidia-cudnn wheel found; using the system cuDNN"
fi
# cuDNN loads its sub-libraries at run time: make them come from the same installation.
[ -n "$CUDNN_ROOT" ] && export LD_LIBRARY_PATH="$CUDNN_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- the machine ----------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $COMMIT"
  echo "cudnn root: ${CUDNN_ROOT:-system}"
  echo "host: $(uname -a)"
  echo "--- nvidia-smi"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1
  echo "--- nvcc"
  (command -v nvcc || ls /usr/local/cuda/bin/nvcc) 2>&1
  (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>&1 | tail -2
  echo "--- cuDNN headers / libraries"
  for d in ${CUDNN_ROOT:+$CUDNN_ROOT/include} /usr/include/x86_64-linux-gnu /usr/include /usr/local/cuda/include; do
    [ -f "$d/cudnn_version.h" ] && { echo "$d/cudnn_version.h:"; grep -E "define CUDNN_(MAJOR|MINOR|PATCHLEVEL) " "$d/cudnn_version.h"; }
  done
  ls -l /usr/lib/x86_64-linux-gnu/libcudnn*.so* /usr/local/cuda/lib64/libcublasLt.so* 2>&1 | head -20
  echo "--- tools"
  cmake --version 2>&1 | head -1
  cc --version 2>&1 | head -1
  command -v ninja >/dev/null && echo "ninja $(ninja --version)"
  echo "protoc-c: $(command -v protoc-c || echo missing); carry: $([ -d .carry ] && echo present || echo absent)"
} > "$OUT/env.txt" 2>&1
say "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"

# ---- configure + build ----------------------------------------------------------------------
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
CARRY=()
[ -d "$ROOT/.carry" ] && CARRY=(-DKILN_CARRY_DIR="$ROOT/.carry")
# Exported ONNX fixtures carried by prepare-carry.sh (the GPU machine cannot export them).
[ -d "$ROOT/.carry/onnx" ] && [ -z "${KILN_CUDA_ONNX_DIR:-}" ] && export KILN_CUDA_ONNX_DIR="$ROOT/.carry/onnx"
[ -n "$CUDNN_ROOT" ] && CARRY+=(-DKILN_CUDNN_ROOT="$CUDNN_ROOT")
build_ok=0
{
  cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON \
        -DKILN_WERROR=OFF "${CARRY[@]}" &&
  if [ ${#GEN[@]} -gt 0 ]; then cmake --build "$BUILD" -j"$JOBS" -- -k 0; else cmake --build "$BUILD" -j"$JOBS" -- -k; fi
} > "$OUT/build.log" 2>&1 && build_ok=1
say "build: $([ $build_ok = 1 ] && echo ok || echo 'FAILED (see build.log; running what was built)')"
grep -E "error:|FAILED:|CMake Error" "$OUT/build.log" | head -20

# ---- GPU tests ------------------------------------------------------------------------------
gpu_rc=1
if [ -d "$BUILD" ]; then
  (cd "$BUILD" && timeout $(( $(left) > 30 ? $(left) - 20 : 10 )) \
     ctest -L gpu ${KILN_GPU_TESTS:+-R "$KILN_GPU_TESTS"} -V --timeout 300 \
           --output-junit "$BUILD/gpu-tests.xml") > "$OUT/gpu-tests.log" 2>&1
  gpu_rc=$?
fi
say "GPU tests: exit $gpu_rc"

# ---- CPU suite (informational, bounded by the time left) ------------------------------------
cpu_rc=skipped
if [ "${KILN_GPU_CPU_SUITE:-1}" != 0 ] && [ "$(left)" -gt 90 ]; then
  cap=$(( $(left) - 60 )); max=${KILN_GPU_CPU_MAX_S:-150}; [ "$cap" -gt "$max" ] && cap=$max
  (cd "$BUILD" && timeout "$cap" ctest -LE gpu -j"$JOBS" --timeout 120 --output-on-failure) \
    > "$OUT/cpu-tests.log" 2>&1
  cpu_rc=$?
  say "CPU suite: exit $cpu_rc"
else
  say "CPU suite: skipped ($(left) s left)"
fi

# ---- benchmarks (scripts/gpu-bench.sh, when it exists) --------------------------------------
bench_rc=none
if [ -x "$ROOT/scripts/gpu-bench.sh" ] && [ "$(left)" -gt 60 ]; then
  KILN_BENCH_BUDGET_S=$(( $(left) - 40 )) timeout $(( $(left) - 30 )) "$ROOT/scripts/gpu-bench.sh" "$BUILD" "$OUT" > "$OUT/bench.log" 2>&1
  bench_rc=$?
  say "benchmarks: exit $bench_rc"
fi

# ---- summary --------------------------------------------------------------------------------
python3 - "$OUT" "$build_ok" "$gpu_rc" "$cpu_rc" "$bench_rc" "$BUILD" "$COMMIT" "${CUDNN_ROOT:-system}" <<'PY' || echo "(summary.json not written)"
import json, os, re, sys, xml.etree.ElementTree as ET
out, build_ok, gpu_rc, cpu_rc, bench_rc, build, commit, cudnn_root = sys.argv[1:9]
tests = []
try:
    for tc in ET.parse(os.path.join(build, "gpu-tests.xml")).getroot().iter("testcase"):
        st = ("failed" if tc.find("failure") is not None else
              "skipped" if tc.find("skipped") is not None else
              "passed" if tc.get("status") in (None, "run") else tc.get("status"))
        tests.append({"name": tc.get("name"), "status": st, "seconds": float(tc.get("time") or 0)})
except Exception as exc:
    tests.append({"name": "(junit unreadable)", "status": str(exc), "seconds": 0})
env = open(os.path.join(out, "env.txt")).read()
gpu = re.search(r"^name, driver_version.*\n(.*)$", env, re.M)
cudnn = re.findall(r"define CUDNN_(?:MAJOR|MINOR|PATCHLEVEL) (\d+)", env)[:3]
cpu = {}
try:
    m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)",
                  open(os.path.join(out, "cpu-tests.log")).read())
    if m: cpu = {"failed": int(m.group(2)), "total": int(m.group(3))}
except OSError:
    pass
summary = {"build_ok": build_ok == "1", "gpu": gpu.group(1) if gpu else None,
           "commit": commit, "cudnn_root": cudnn_root, "cudnn_headers": ".".join(cudnn),
           "gpu_tests_exit": int(gpu_rc), "gpu_tests": tests, "cpu_suite_exit": cpu_rc,
           "cpu_suite": cpu, "bench_exit": bench_rc}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print("\n%-28s %-8s %8s" % ("GPU test", "result", "seconds"))
for t in tests:
    print("%-28s %-8s %8.1f" % (t["name"], t["status"], t["seconds"]))
print("build ok: %s; GPU tests exit %s; CPU suite %s %s; benchmarks %s" %
      (summary["build_ok"], gpu_rc, cpu_rc, cpu, bench_rc))
PY

# The tail of each failing GPU test's output, so the reply shows why.
grep -E "^[0-9]+: .*(FAIL|fused|UNFUSED|refused|gemm |summary|fastest|restore|device:|signature|GB/s|passed,|parity|onnx |plan load|two threads)" \
  "$OUT/gpu-tests.log" | cut -c1-220 | tail -90
exit $(( gpu_rc != 0 || build_ok != 1 ))
