#!/usr/bin/env bash
# prepare-carry.sh — collect, on this machine, what the build takes from protoc-c, protobuf-c and
# zlib, for machines that have a compiler but not those packages (the GPU machine has no package
# registry). Writes a git-ignored folder (default .carry/) that CMake uses with
# -DKILN_CARRY_DIR=.carry (cmake/carry.cmake):
#   gen/onnx/onnx.pb-c.{c,h}  protoc-c output for the system's onnx.proto
#   proto/onnx/onnx.proto     that proto
#   include/protobuf-c/protobuf-c.h, lib/libprotobuf-c.a
#   include/zlib.h, include/zconf.h, lib/libz.a
#   fashion-mnist/t10k-*.gz   the Fashion-MNIST test split (for accuracy runs there)
#   onnx/MODEL/opset17.onnx   four exported torchvision fixtures (test_cuda_engine_onnx there)
# Nothing is vendored into the repository: the folder is rebuilt from installed packages
# (scripts/setup.sh installs them) each time this runs.
#
#   scripts/prepare-carry.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.carry}

find_first() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
lib_path() { # the static library gcc would link, or nothing
  local p; p=$(${CC:-cc} -print-file-name="$1"); [ -f "$p" ] && echo "$p"
}

proto=$(find_first /usr/include/onnx/onnx.proto /usr/local/include/onnx/onnx.proto) ||
  { echo "prepare-carry: onnx.proto not found (install libonnx-dev: scripts/setup.sh)" >&2; exit 1; }
command -v protoc-c >/dev/null || { echo "prepare-carry: protoc-c not found (protobuf-c-compiler)" >&2; exit 1; }
pbc_h=$(find_first /usr/include/protobuf-c/protobuf-c.h /usr/local/include/protobuf-c/protobuf-c.h) ||
  { echo "prepare-carry: protobuf-c.h not found (libprotobuf-c-dev)" >&2; exit 1; }
pbc_a=$(lib_path libprotobuf-c.a) || { echo "prepare-carry: libprotobuf-c.a not found" >&2; exit 1; }
zlib_h=$(find_first /usr/include/zlib.h /usr/local/include/zlib.h) ||
  { echo "prepare-carry: zlib.h not found (zlib1g-dev)" >&2; exit 1; }
zconf_h=$(find_first "$(dirname "$zlib_h")/zconf.h" /usr/include/x86_64-linux-gnu/zconf.h) ||
  { echo "prepare-carry: zconf.h not found" >&2; exit 1; }
libz_a=$(lib_path libz.a) || { echo "prepare-carry: libz.a not found" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest/gen" "$dest/proto/onnx" "$dest/include/protobuf-c" "$dest/lib"
cp "$proto" "$dest/proto/onnx/onnx.proto"
protoc-c --c_out="$dest/gen" -I"$dest/proto" "$dest/proto/onnx/onnx.proto"
cp "$pbc_h" "$dest/include/protobuf-c/"
cp "$pbc_a" "$dest/lib/libprotobuf-c.a"
cp "$zlib_h" "$zconf_h" "$dest/include/"
cp "$libz_a" "$dest/lib/libz.a"
# The Fashion-MNIST test split (accuracy runs of every precision on the GPU): Debian's
# dataset-fashion-mnist is not installable there.
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/t10k-images-idx3-ubyte.gz" ]; then
  mkdir -p "$dest/fashion-mnist"
  cp "$fm"/t10k-*-ubyte.gz "$dest/fashion-mnist/"
fi
# Four exported torchvision fixtures for test_cuda_engine_onnx (hard swish and squeeze-excitation,
# channel shuffle, ceil-mode pools, grouped convolutions; 52 MB, within the device tool's 64 MiB
# carry), when `make test` has exported them; gpu-check.sh points the test at them.
fx=build/fixtures/torchvision
for m in squeezenet1_1 shufflenet_v2_x1_0 mobilenet_v3_large regnet_y_400mf; do
  if [ -f "$fx/$m/opset17.onnx" ]; then
    mkdir -p "$dest/onnx/$m"
    cp "$fx/$m/opset17.onnx" "$dest/onnx/$m/"
  fi
done
echo "prepare-carry: wrote $dest ($(du -sh "$dest" | cut -f1)); protoc-c $(protoc-c --version 2>&1 | head -1)"
