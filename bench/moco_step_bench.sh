#!/usr/bin/env bash
# MoCo training-step benchmark: moco.cpp (`moco bench --method mocov2|mocov3`)
# beside the PyTorch reference (../shared/reference/moco_torch_bench.py, which
# defines the steps) on the same machine, in the same run:
#   mocov2  ResNet-18, small-image stem, 32x32, batch 256, queue 4096, SGD
#   mocov3  ViT-Tiny, patch 4, 32x32, batch 64 image pairs (the reference's default), AdamW
# with 1 and 2 threads under two OpenBLAS settings: "env" (the environment as
# it is) and "unset" (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE: OpenBLAS
# picks its own kernels; the reference's README found PyTorch's ViT step 3x
# faster so). Ours and the reference alternate run by run, so a change in the
# machine's load hits both sides alike; each JSON line records the load.
#
# Usage: bench/moco_step_bench.sh [BUILD_DIR] [OUT.jsonl]
#   STEPS (5) WARMUP (2): timed / untimed steps per run
#   CONFIGS ("mocov2:256 mocov3:64"), THREADS ("1 2"), BLAS ("env unset"): what to run
#   REFERENCE (../shared/reference/moco_torch_bench.py): the PyTorch side
# Appends every JSON line to OUT and prints the table (bench/moco_step_table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-bench/results/moco_step_$(date +%Y%m%d_%H%M%S).jsonl}
steps=${STEPS:-5}
warmup=${WARMUP:-2}
configs=${CONFIGS:-"mocov2:256 mocov3:64"}
threads=${THREADS:-"1 2"}
blas_settings=${BLAS:-"env unset"}
ref=${REFERENCE:-../shared/reference/moco_torch_bench.py}
py=/usr/bin/python3

[[ -x $build/moco ]] || { echo "no $build/moco: build it first (cmake --build $build --target moco)" >&2; exit 1; }
[[ -f $ref ]] || {
  echo "no PyTorch reference at $ref: it lives in the shared folder beside the repository" \
    "(/work/shared/reference/moco_torch_bench.py); set REFERENCE=PATH" >&2
  exit 1
}
$py -c "import torch, torchvision" 2>/dev/null || {
  echo "the PyTorch reference needs python3-torch and python3-torchvision: run tools/install-deps.sh --python" >&2
  exit 1
}
mkdir -p "$(dirname "$out")"

blas_env() {  # the environment prefix of one OpenBLAS setting
  case $1 in
    env) echo "env" ;;
    unset) echo "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" ;;
    *) echo "unknown OpenBLAS setting '$1' (env, unset)" >&2; exit 1 ;;
  esac
}

arch_of() {
  case $1 in
    mocov2) echo resnet18 ;;
    mocov3) echo vit_tiny ;;
    *) echo "unknown method '$1' in CONFIGS (mocov2, mocov3)" >&2; exit 1 ;;
  esac
}

# The last line of stdout is the run's JSON line; the reference's keys are
# renamed to ours so the table reads one schema.
tag() {  # impl blas
  $py -c '
import json, os, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
if not lines:
    sys.exit("no JSON line from the " + sys.argv[1] + " run")
d = json.loads(lines[-1])
for theirs, ours in (("mode", "method"), ("img_per_s", "images_per_sec"),
                     ("sec_per_step_median", "sec_per_step"), ("peak_rss_MiB", "peak_rss_mib")):
    if theirs in d:
        d[ours] = d.pop(theirs)
d["impl"], d["blas"] = sys.argv[1], sys.argv[2]
d["loadavg"] = float(open("/proc/loadavg").read().split()[0])
print(json.dumps(d))' "$1" "$2"
}

echo "# $(date -Is) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)," \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}," \
  "steps $steps after $warmup; results in $out" >&2
for cfg in $configs; do
  method=${cfg%%:*}
  batch=${cfg##*:}
  arch=$(arch_of "$method")
  for blas in $blas_settings; do
    e=$(blas_env "$blas")
    for t in $threads; do
      echo "## $method $arch batch $batch, OpenBLAS $blas, $t threads" >&2
      # Captured first, tagged after: `moco` picks its OpenMP wait policy from
      # the load when it starts, and a Python started beside it would count.
      res=$($e "$build/moco" bench --method "$method" --arch "$arch" --image-size 32 --batch-size "$batch" \
        --steps "$steps" --warmup "$warmup" --threads "$t" --json)
      echo "$res" | tag moco.cpp "$blas" | tee -a "$out" >&2
      $e $py "$ref" --mode "$method" --size 32 --batch "$batch" --steps "$steps" --warmup "$warmup" \
        --threads "$t" | tag pytorch "$blas" | tee -a "$out" >&2
    done
  done
done
$py bench/moco_step_table.py "$out"
