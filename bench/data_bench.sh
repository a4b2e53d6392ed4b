#!/usr/bin/env bash
# Data pipeline benchmark: images/s of the MoCo v2 (aug-plus) two-view
# pipeline at 32 px (CIFAR-10-format binary, no decoding) and 224 px (JPEG
# ImageFolder, 500x375 photos-like images), 1 and 2 workers, moco.cpp beside
# torchvision on the same files and the same machine.
#   bench/data_bench.sh [BUILD_DIR=build] [SECONDS=8]
# A sample is one source image and its two views. The data (made once by
# bench/data_bench_make.py) lives in $MOCO_BENCH_DATA (default /tmp/moco-bench-data).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-8}
data=${MOCO_BENCH_DATA:-/tmp/moco-bench-data}
py=/usr/bin/python3
moco="$build/moco"
[[ -x "$moco" ]] || { echo "data_bench: $moco not built (make build)" >&2; exit 1; }
if [[ ! -f "$data/cifar-10-batches-bin/data_batch_5.bin" || ! -d "$data/jpeg/class9" ]]; then
  $py bench/data_bench_make.py "$data" 10000 400
fi
rate() { grep -o 'images_per_s=[0-9.]*' | cut -d= -f2; }

echo "# data pipeline: MoCo v2 two views, images/s ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| %-6s | %-7s | %-10s | %-19s | %-24s | %-12s |\n" size workers moco.cpp "torchvision (tv blur)" "torchvision (MoCo PIL blur)" "ratio (vs best tv)"
printf "|--------|---------|------------|---------------------|--------------------------|--------------|\n"
for size in 32 224; do
  for w in 1 2; do
    if [[ $size == 32 ]]; then
      ours=$("$moco" bench-data --dataset "cifar10:$data" --size 32 --workers $w --batch 256 --seconds "$secs" | rate)
      args=(--format cifar --dir "$data/cifar-10-batches-bin" --size 32 --batch 256)
    else
      ours=$("$moco" bench-data --dataset "folder:$data/jpeg" --size 224 --workers $w --batch 64 --seconds "$secs" | rate)
      args=(--format folder --dir "$data/jpeg" --size 224 --batch 64)
    fi
    tv=$($py bench/data_bench_torchvision.py "${args[@]}" --workers $w --seconds "$secs" --blur torchvision 2>/dev/null | rate)
    pil=$($py bench/data_bench_torchvision.py "${args[@]}" --workers $w --seconds "$secs" --blur pil 2>/dev/null | rate)
    ratio=$(awk -v a="$ours" -v b="$tv" -v c="$pil" 'BEGIN { m = b > c ? b : c; printf "%.1fx", a / m }')
    printf "| %-6s | %-7s | %-10s | %-21s | %-26s | %-12s |\n" "$size" "$w" "$ours" "$tv" "$pil" "$ratio"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
