#!/usr/bin/env bash
# `make bench`: every benchmark, moco.cpp beside PyTorch on this machine in
# the same run. Needs Debian's python3-torch/torchvision for the reference
# side (tools/install-deps.sh --python installs them).
#   bench/run.sh [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if ! /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
  echo "bench: the PyTorch reference needs python3-torch and python3-torchvision: run tools/install-deps.sh --python" >&2
  exit 1
fi
echo "== training steps (bench/train_step_bench.sh) =="
bench/train_step_bench.sh "$build"
echo "== data pipeline (bench/data_bench.sh) =="
bench/data_bench.sh "$build"
