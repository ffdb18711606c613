#!/usr/bin/env bash
# The main job: kiln compare on the built-in ResNet-50, on the best backend present (CUDA when a
# GPU is there, else the CPU), side by side with PyTorch and ONNX Runtime. The table goes to the
# terminal; JSON and an SVG bar chart go to build/demo/.
set -euo pipefail
KILN=${1:-build/kiln}
OUT=$(dirname "$KILN")/demo
mkdir -p "$OUT"
"$KILN" compare zoo:resnet50 --batch "${KILN_DEMO_BATCH:-1}" \
    --json "$OUT/compare.json" --chart "$OUT/compare.svg"
echo
echo "written: $OUT/compare.json, $OUT/compare.svg"
