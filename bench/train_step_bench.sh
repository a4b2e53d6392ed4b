#!/usr/bin/env bash
# Training-step benchmark: moco.cpp (`moco bench`) beside PyTorch
# (bench/torch_train_step.py) on the same machine, in the same run, for
#   ResNet-18, small-image stem, 32x32, batch 64 and 256 (SGD)
#   ViT-Tiny, patch 4, 32x32, batch 64 (AdamW)
# under both OpenBLAS settings of DESIGN.md ("haswell": OPENBLAS_CORETYPE=Haswell
# as the environment sets it; "native": OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# unset, the AVX-512 kernels). Both sides run with 2 and with 1 threads and
# each side's best counts (PyTorch's ViT is faster with 1 intra-op thread,
# its OpenBLAS keeping its own 2; see /work/shared/reference/README.md).
#
# Usage: bench/train_step_bench.sh [BUILD_DIR] [OUT.jsonl]
#   STEPS (5) WARMUP (2) timed/untimed steps; CONFIGS="resnet18:64 vit_tiny:64" to pick;
#   BLAS ("haswell native") the OpenBLAS settings to run.
# Prints a table (bench/train_step_table.py) and keeps every JSON line in OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-bench/results/train_step_$(date +%Y%m%d_%H%M%S).jsonl}
steps=${STEPS:-5}
warmup=${WARMUP:-2}
configs=${CONFIGS:-"resnet18:64 resnet18:256 vit_tiny:64"}
blas_settings=${BLAS:-"haswell native"}
py=/usr/bin/python3
mkdir -p "$(dirname "$out")"
[[ -x $build/moco ]] || { echo "no $build/moco: build it first (cmake --build $build --target moco)" >&2; exit 1; }

blas_env() {  # the environment prefix for one OpenBLAS setting
  case $1 in
    haswell) echo "env OPENBLAS_CORETYPE=Haswell" ;;
    native) echo "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" ;;
  esac
}

tag() {  # adds the setting's name to a JSON line
  $py -c 'import json,sys; d=json.loads(sys.stdin.readline()); d["blas"]=sys.argv[1]; print(json.dumps(d))' "$1"
}

echo "# $(date -Is) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}" >&2
for cfg in $configs; do
  model=${cfg%%:*}
  batch=${cfg##*:}
  for blas in $blas_settings; do
    e=$(blas_env $blas)
    echo "## $model batch $batch, $blas" >&2
    for t in 2 1; do
      # Captured first, tagged after: `moco` picks its OpenMP wait policy from
      # the load when it starts, and a Python started beside it would count.
      res=$($e "$build/moco" bench --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup" --threads $t \
        --json)
      echo "$res" | tag $blas | tee -a "$out" >&2
      $e $py bench/torch_train_step.py --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup" \
        --threads $t | tag $blas | tee -a "$out" >&2
    done
  done
done
$py bench/train_step_table.py "$out"
