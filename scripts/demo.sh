#!/usr/bin/env bash
# The main job: kiln on a built-in ResNet-50 on the best backend present, side by side with the
# frameworks people use today.
set -euo pipefail
KILN=${1:-build/kiln}
echo "== kiln run zoo:resnet50 (random input, batch 1)"
"$KILN" run zoo:resnet50
echo
echo "== kiln bench zoo:resnet50 (batch 1)"
"$KILN" bench zoo:resnet50 --batch 1 --duration 5
