#!/usr/bin/env bash
# kiln build / kiln graph / plans through the CLI: build a plan, run it inside and outside its
# batch profile, refuse a truncated plan, write DOT and render it with Graphviz when installed.
# usage: test_build_graph.sh KILN WORKDIR
set -u
kiln=$1
work=$2
mkdir -p "$work"
fails=0
check() { # check DESCRIPTION COMMAND... : the command must succeed
    local what=$1; shift
    if "$@" >"$work/out.txt" 2>&1; then echo "ok   $what"; else
        echo "FAIL $what"; sed 's/^/     /' "$work/out.txt"; fails=$((fails + 1)); fi
}
refuse() { # refuse DESCRIPTION PATTERN COMMAND... : the command must fail, saying PATTERN
    local what=$1 pat=$2; shift 2
    if "$@" >"$work/out.txt" 2>&1; then echo "FAIL $what (succeeded)"; fails=$((fails + 1));
    elif ! grep -q -- "$pat" "$work/out.txt"; then
        echo "FAIL $what (no '$pat' in:)"; sed 's/^/     /' "$work/out.txt"; fails=$((fails + 1));
    else echo "ok   $what"; fi
}

plan=$work/r18.plan
check "build a plan" "$kiln" build zoo:resnet18 -o "$plan" --min-batch 1 --max-batch 2 --json "$work/build.json" --quiet
cp "$work/out.txt" "$work/build.txt"
check "summary names the layers" grep -q "69 imported, 24 after optimization" "$work/build.txt"
check "build JSON" grep -q '"layers": 24' "$work/build.json"
check "run the plan at batch 2" "$kiln" run "$plan" --batch 2 --quiet
refuse "batch outside the profile" "outside the engine's profile" "$kiln" run "$plan" --batch 3 --quiet
head -c 5000 "$plan" >"$work/trunc.plan"
refuse "truncated plan" "truncated" "$kiln" run "$work/trunc.plan" --quiet
refuse "build without -o" "no output given" "$kiln" build zoo:resnet18
refuse "build from a plan" "already a plan" "$kiln" build "$plan" -o "$work/x.plan"

check "graph as imported" "$kiln" graph zoo:resnet50 -o "$work/r50.dot"
check "graph has BatchNormalization" grep -q 'BatchNormalization' "$work/r50.dot"
check "optimized graph" "$kiln" graph zoo:resnet50 --optimized -o "$work/r50opt.dot"
check "fused labels" grep -q 'conv1x1+bn+add+relu' "$work/r50opt.dot"
check "shapes on edges" grep -q 'label="1x256x56x56"' "$work/r50opt.dot"
if grep -q -E 'BatchNormalization|"Relu|"Add' "$work/r50opt.dot"; then
    echo "FAIL optimized resnet50 still has BatchNormalization/Relu/Add"; fails=$((fails + 1)); fi
if command -v dot >/dev/null 2>&1; then
    check "dot -Tsvg renders" dot -Tsvg "$work/r50opt.dot" -o "$work/r50opt.svg"
    check "googlenet graph" "$kiln" graph zoo:googlenet --optimized -o "$work/g.dot"
    check "dot -Tsvg renders googlenet" dot -Tsvg "$work/g.dot" -o "$work/g.svg"
else
    echo "skip rendering: Graphviz (dot) is not installed (scripts/setup.sh installs it)"
fi
echo "$fails failed"
[ "$fails" -eq 0 ]
