#!/usr/bin/env bash
# tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]
# Builds the libFuzzer targets with clang, AddressSanitizer and UBSan in
# build-fuzz/ (MOCO_FUZZ_BUILD to change it) and runs TARGET for SECONDS,
# starting from its seed corpus fuzz/corpus/TARGET/. Inputs that reach new code
# go to runs/fuzz/TARGET/; a crash is written to runs/fuzz/TARGET-crash-* —
# fix it, then copy the input into fuzz/corpus/TARGET/ so that `make test`
# replays it from then on. Targets: image idx cifar stl10 safetensors json.
set -euo pipefail
usage="usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags] (targets: image idx cifar stl10 safetensors json)"
target=${1:?$usage}
secs=${2:?$usage}
shift 2
case "$target" in image|idx|cifar|stl10|safetensors|json) ;; *) echo "$usage" >&2; exit 2 ;; esac
command -v clang++ > /dev/null || { echo "tools/fuzz.sh needs clang: apt-get install clang libomp-dev" >&2; exit 2; }
build=${MOCO_FUZZ_BUILD:-build-fuzz}
cd "$(dirname "$0")/.."
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DMOCO_FUZZ=ON -DMOCO_SANITIZE=ON -DMOCO_CUDA=OFF -DMOCO_DNNL=OFF
fi
cmake --build "$build" -j "$(nproc)" --target "fuzz_$target"
mkdir -p "runs/fuzz/$target"
# Malloc limits: a reader must refuse a header that asks for gigabytes, not try.
exec "$build/fuzz_$target" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 \
  -print_final_stats=1 -artifact_prefix="runs/fuzz/$target-" "$@" "runs/fuzz/$target" "fuzz/corpus/$target"
