#!/usr/bin/env bash
# Installs the Debian packages moco.cpp needs, only those that are missing.
# Safe to run again: on a ready machine it checks and returns at once.
#   tools/install-deps.sh            build + test dependencies
#   tools/install-deps.sh --python   also python3-torch/torchvision (parity fixtures, reference bench)
set -euo pipefail

pkgs=(g++ cmake make pkg-config libfmt-dev doctest-dev libstb-dev libopenblas-dev libopenblas-openmp-dev libdnnl-dev zlib1g-dev nlohmann-json3-dev libopenmpi-dev openmpi-bin
      dataset-fashion-mnist gnuplot-nox)
if [[ "${1:-}" == "--python" ]]; then
  pkgs+=(python3-torch python3-torchvision python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
