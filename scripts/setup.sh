#!/usr/bin/env bash
# Install what kiln needs from Debian's packages (and ONNX Runtime from npm), only what is
# missing. Non-interactive and idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev zlib1g-dev   # ONNX import
  python3 python3-numpy python3-torch python3-torchvision python3-onnx  # fixtures and peers
  dataset-fashion-mnist                                          # real data for accuracy
  graphviz                                                       # kiln graph output renders in tests
)
# Node.js and npm run the ONNX Runtime peer. Any install will do (Debian's or NodeSource's, which
# conflicts with Debian's npm package), so look for the commands, not for packages.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: not root and no sudo; install these by hand: ${APT_PACKAGES[*]}" >&2; fi
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime (CPU) for the peer runner, pinned; node_modules stays out of git.
ORT_VERSION=1.30.0
if [ ! -f bench/peers/node_modules/onnxruntime-node/package.json ] ||
   ! grep -q "\"version\": \"$ORT_VERSION\"" bench/peers/node_modules/onnxruntime-node/package.json; then
  echo "setup: installing onnxruntime-node@$ORT_VERSION"
  # The CPU binaries ship in the npm package; its install script would only fetch CUDA ones.
  (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error "onnxruntime-node@$ORT_VERSION") ||
    echo "setup: onnxruntime-node could not be installed; the ONNX Runtime peer will be reported missing" >&2
fi
