#!/usr/bin/env bash
# One call on a machine with an NVIDIA GPU: configure with CUDA, build with all
# cores, run the CUDA test suite (every op on the GPU against the CPU), then
# on machines with 2 GPUs or more check data-parallel training over NCCL, then
# time training steps with `moco bench --device cuda` beside PyTorch eager
# float32 on the same GPU (bench/moco_torch_bench_gpu.py), and print a short
# table last. Meant to finish within 8 minutes on an H100.
#
# Usage: tools/gpu-check.sh [--no-build] [--quick]
#   --no-build  use the binaries already in build-cuda/
#   --quick     benchmarks with fewer steps (warmup 2, steps 5)
# Environment:
#   BUILD_DIR (build-cuda)   where to build
#   OUT                      folder for the logs and JSON lines (default: $BUILD_DIR/gpu-check)
#   BATCH (256)              images per step of every benchmark
#   MOCO_CUDA_TF32           1: TF32 on both sides (default off: true float32 on both)
#   PYTHON                   the interpreter with a CUDA PyTorch (default: the first of
#                            python3, /usr/bin/python3 whose torch sees a GPU)
# Exit status: 0 when the build and the tests passed on the GPU (a test skipped
# for want of a GPU fails it; so does a failed NCCL check; the benchmarks never do).
set -uo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
build=${BUILD_DIR:-build-cuda}
out=${OUT:-$build/gpu-check}
batch=${BATCH:-256}
warmup=3
steps=10
do_build=1
for arg in "$@"; do
  case $arg in
    --no-build) do_build=0 ;;
    --quick) warmup=2; steps=5 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
elapsed() { echo $((SECONDS - t_start)); }
say() { echo "[gpu-check $(elapsed)s] $*"; }

# ---- the GPU ----
gpu_name="unknown GPU"
arch=90
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L | tee "$out/nvidia-smi.txt"
  gpu_name=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  [[ $cc =~ ^[0-9]+$ ]] && arch=$cc
else
  say "nvidia-smi not found: is there a GPU? (continuing; test_cuda will say)"
fi
say "GPU: $gpu_name (building for sm_$arch)"

# ---- configure and build ----
build_status="skipped (--no-build)"
if ((do_build)); then
  if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc PATH="/usr/local/cuda/bin:$PATH"
  fi
  cmake_args=(-S . -B "$build" -DMOCO_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch")
  # cuDNN from a pip wheel (nvidia-cudnn-cu*) when the CUDA toolkit has none.
  if [[ ! -e /usr/local/cuda/include/cudnn.h ]]; then
    cudnn_root=$(python3 -c "import nvidia.cudnn as m; print(m.__path__[0])" 2>/dev/null || true)
    if [[ -n $cudnn_root && -e $cudnn_root/include/cudnn.h ]]; then
      say "cuDNN from $cudnn_root"
      cmake_args+=(-DMOCO_CUDNN_ROOT="$cudnn_root")
      lib=$(ls "$cudnn_root"/lib/libcudnn.so* 2>/dev/null | head -1)
      [[ -n $lib ]] && cmake_args+=(-DCUDNN_LIBRARY="$lib")
      export LD_LIBRARY_PATH="$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
  fi
  say "configure: cmake ${cmake_args[*]}"
  if ! cmake "${cmake_args[@]}" >"$out/configure.log" 2>&1; then
    tail -30 "$out/configure.log"
    say "FAILED: configure (log: $out/configure.log)"
    exit 1
  fi
  say "build with $(nproc) jobs"
  if ! cmake --build "$build" -j "$(nproc)" --target test_cuda moco >"$out/build.log" 2>&1; then
    grep -E "error|Error" -A3 "$out/build.log" | head -40
    say "FAILED: build (log: $out/build.log)"
    exit 1
  fi
  build_status="OK ($(elapsed)s)"
fi
say "build: $build_status"

# ---- the CUDA tests ----
t0=$SECONDS
timeout 300 "$build/test_cuda" >"$out/test_cuda.log" 2>&1
test_rc=$?
grep -vE "^\[doctest\] (doctest version|run with)" "$out/test_cuda.log" | tail -60
test_summary=$(grep -E "^\[doctest\] test cases" "$out/test_cuda.log" | sed 's/\[doctest\] //')
[[ -z $test_summary ]] && test_summary="no summary (exit $test_rc; log: $out/test_cuda.log)"
skipped=$(grep -c "skipped: no CUDA GPU" "$out/test_cuda.log")
if ((skipped > 0)); then  # on a GPU machine a skip is a failure: the tests did not see the GPU
  test_summary="$test_summary -- $skipped cases SKIPPED: no GPU seen"
  test_rc=1
fi
say "test_cuda: exit $test_rc in $((SECONDS - t0))s: $test_summary"

# ---- data-parallel over GPUs (NCCL), on machines with 2 GPUs or more ----
# A ViT (no BatchNorm) trained with SGD on 2 GPUs (mpirun, --dist-backend nccl,
# the ranks' weights checked after every step) must end with the weights of one
# process on one GPU with the global batch, as tests/dist checks on CPUs.
nccl_status="skipped"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if ((ngpu < 2)); then
  nccl_status="skipped: $ngpu GPU(s), needs 2"
elif ! command -v mpirun >/dev/null 2>&1; then
  nccl_status="skipped: no mpirun (install OpenMPI; MPI starts the ranks and hands out NCCL's id)"
else
  nccl_root=$(python3 -c "import nvidia.nccl as m; print(m.__path__[0])" 2>/dev/null || true)
  [[ -n $nccl_root ]] && export LD_LIBRARY_PATH="$nccl_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # A small generated ImageFolder (the GPU machine may have no data set): 4 classes of 64 noisy 16 px images.
  python3 - "$out/nccl-data" <<'EOF'
import os, random, sys
from PIL import Image
random.seed(0)
for split, n in (("train", 64), ("val", 16)):
    for c in range(4):
        os.makedirs(f"{sys.argv[1]}/{split}/c{c}", exist_ok=True)
        for i in range(n):
            im = Image.new("RGB", (16, 16))
            im.putdata([tuple(min(255, max(0, int(random.gauss(60 * c + 40, 40)))) for _ in range(3)) for _ in range(256)])
            im.save(f"{sys.argv[1]}/{split}/c{c}/{i}.png")
EOF
  vit=(train --dataset folder --data "$out/nccl-data" --arch vit_tiny --vit-dim 64 --vit-depth 2 --vit-heads 2
       --optimizer sgd --batch-size 32 --epochs 2 --threads 2 --seed 3 --workers 0 --overwrite)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  if timeout 300 "$build/moco" "${vit[@]}" --device cuda --out "$out/nccl1" >"$out/nccl1.log" 2>&1 &&
    timeout 300 mpirun -np 2 --bind-to none "$build/moco" "${vit[@]}" --device cuda --dist-backend nccl \
      --check-sync-every 1 --out "$out/nccl2" >"$out/nccl2.log" 2>&1; then
    nccl_status=$(python3 tools/compare_checkpoints.py "$out/nccl1" "$out/nccl2" 1e-4)
  else
    nccl_status="FAILED: see $out/nccl1.log, $out/nccl2.log"
    tail -5 "$out/nccl2.log"
  fi
fi
say "NCCL (2 GPUs = 1 GPU on the global batch): $nccl_status"

# ---- benchmarks ----
py=${PYTHON:-}
if [[ -z $py ]]; then
  for cand in python3 /usr/bin/python3; do
    if timeout 120 "$cand" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      py=$cand
      break
    fi
  done
fi
[[ -z $py ]] && say "no Python with a CUDA PyTorch: the PyTorch column stays empty"
tf32_flag=()
[[ ${MOCO_CUDA_TF32:-0} != 0 ]] && tf32_flag=(--tf32)
results="$out/bench.jsonl"
: >"$results"
budget=450  # seconds: past this, the remaining benchmarks are skipped to stay within 8 minutes

# run_one LABEL SIDE TIMEOUT CMD...  (appends {"label", "side", ...the command's JSON line} to bench.jsonl)
run_one() {
  local label=$1 side=$2 limit=$3
  shift 3
  if (($(elapsed) > budget)); then
    say "skip $label / $side: over the time budget"
    return
  fi
  local log="$out/bench_${label// /_}_$side.log"
  say "bench $label / $side: $*"
  timeout "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local line
  line=$(grep -E '^\{' "$log" | tail -1)
  if [[ $rc -ne 0 || -z $line ]]; then
    say "  failed (exit $rc): $(tail -2 "$log" | tr '\n' ' ' | cut -c1-300)"
    echo "{\"label\": \"$label\", \"side\": \"$side\", \"error\": \"exit $rc, see $log\"}" >>"$results"
  else
    echo "{\"label\": \"$label\", \"side\": \"$side\", \"result\": $line}" >>"$results"
  fi
}

moco_bench=("$build/moco" bench --device cuda --batch "$batch" --size 32 --warmup "$warmup" --steps "$steps" --threads 4 --json)
torch_bench=("$py" bench/moco_torch_bench_gpu.py --device cuda --batch "$batch" --size 32 --warmup "$warmup"
             --steps "$steps" --threads 4 ${tf32_flag[@]+"${tf32_flag[@]}"})

run_one "ResNet-18 supervised" moco 150 "${moco_bench[@]}" --model resnet18
[[ -n $py ]] && run_one "ResNet-18 supervised" torch 150 "${torch_bench[@]}" --mode sup
run_one "ViT-Tiny supervised" moco 150 "${moco_bench[@]}" --model vit_tiny --patch 4
[[ -n $py ]] && run_one "ViT-Tiny supervised" torch 150 "${torch_bench[@]}" --mode sup_vit
# MoCo steps: PyTorch's now; ours when `moco bench` learns them (--model mocov2_resnet18 / mocov3_vit_tiny).
if "$build/moco" bench --help 2>&1 | grep -q "mocov2"; then
  run_one "MoCo v2 ResNet-18" moco 150 "${moco_bench[@]}" --model mocov2_resnet18
  run_one "MoCo v3 ViT-Tiny" moco 150 "${moco_bench[@]}" --model mocov3_vit_tiny
fi
[[ -n $py ]] && run_one "MoCo v2 ResNet-18" torch 150 "${torch_bench[@]}" --mode mocov2
[[ -n $py ]] && run_one "MoCo v3 ViT-Tiny" torch 150 "${torch_bench[@]}" --mode mocov3

# ---- the table ----
echo
echo "== moco.cpp GPU check: $gpu_name, $(date -u +%Y-%m-%dT%H:%MZ), $(elapsed)s =="
echo "build: $build_status"
echo "tests: $test_summary"
echo "NCCL: $nccl_status"
echo "float32, TF32 $([[ ${MOCO_CUDA_TF32:-0} != 0 ]] && echo on || echo off) on both sides; batch $batch, 32x32 px; median of $steps steps after $warmup"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$results" <<'EOF'
import json, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r["label"] not in rows:
        rows[r["label"]] = {}
        order.append(r["label"])
    res = r.get("result") or {}
    ips = res.get("images_per_sec", res.get("img_per_s"))
    rows[r["label"]][r["side"]] = ips if ips is not None else "error"
def cell(v):
    return "n/a" if v is None else ("error" if v == "error" else f"{v:.1f}")
print("| training step | moco.cpp img/s | PyTorch img/s | ratio |")
print("|---|---:|---:|---:|")
for label in order:
    m, t = rows[label].get("moco"), rows[label].get("torch")
    ratio = f"{m / t:.2f}" if isinstance(m, (int, float)) and isinstance(t, (int, float)) and t > 0 else "-"
    print(f"| {label} | {cell(m)} | {cell(t)} | {ratio} |")
EOF
else
  cat "$results"
fi
echo "(logs and JSON lines: $out)"
[[ $nccl_status == FAILED* ]] && exit 1
exit $test_rc
