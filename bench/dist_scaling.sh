#!/usr/bin/env bash
# Data-parallel scaling on this machine, in one run: `moco train` (ResNet-18,
# width 16, Fashion-MNIST, global batch 128) as 1 process with 1 thread, 1
# process with 2 threads, and `mpirun -np 2` with 1 thread per process. The
# figure is images/s of epoch 2 (epoch 1 warms up), the median of REPEATS
# runs of each, interleaved so that the machine's drift hits each alike.
#   bench/dist_scaling.sh [BUILD_DIR=build] [REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-3}
moco=$build/moco
command -v mpirun > /dev/null || { echo "dist_scaling: needs mpirun (apt-get install libopenmpi-dev openmpi-bin)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(train --arch resnet18 --width 16 --batch-size 128 --label-fraction 0.05 --epochs 2 --val-samples 200
       --workers 1 --eval-batch-size 256)
export OMP_WAIT_POLICY=PASSIVE OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ips() { sed -n 2p "$1/metrics.jsonl" | sed 's/.*"images_per_sec": \([0-9.e+]*\).*/\1/'; }
declare -A runs
for ((r = 0; r < repeats; ++r)); do
  OMP_NUM_THREADS=1 "$moco" "${flags[@]}" --threads 1 --out "$out/p1t1-$r" > /dev/null
  runs[p1t1]+="$(ips "$out/p1t1-$r") "
  OMP_NUM_THREADS=2 "$moco" "${flags[@]}" --threads 2 --out "$out/p1t2-$r" > /dev/null
  runs[p1t2]+="$(ips "$out/p1t2-$r") "
  OMP_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np 2 "$moco" "${flags[@]}" --threads 1 --out "$out/p2t1-$r" > /dev/null
  runs[p2t1]+="$(ips "$out/p2t1-$r") "
done
median() { printf '%s\n' $1 | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
base=$(median "${runs[p1t1]}")
echo "moco train, ResNet-18 width 16, 28x28 Fashion-MNIST, global batch 128; images/s of epoch 2, median of $repeats ($(nproc) cores)"
printf '| %-34s | %9s | %7s |\n' "configuration" "images/s" "speed-up"
printf '|%s|%s|%s|\n' "------------------------------------" "-----------" "---------"
for k in p1t1 p1t2 p2t1; do
  case $k in
    p1t1) name="1 process, 1 thread" ;;
    p1t2) name="1 process, 2 threads" ;;
    p2t1) name="mpirun -np 2, 1 thread each" ;;
  esac
  m=$(median "${runs[$k]}")
  printf '| %-34s | %9.0f | %6.2fx |\n' "$name" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN{print a/b}')"
done
