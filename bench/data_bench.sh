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
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

echo "# data pipeline: MoCo v2 two views; images/s (wall) and CPU ms per image (all threads/processes)"
echo "# $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| size | workers | moco.cpp img/s | torchvision img/s (tv blur / MoCo PIL blur) | ratio | moco.cpp CPU ms/img | torchvision CPU ms/img (tv / PIL blur) |"
echo "|------|---------|----------------|---------------------------------------------|-------|---------------------|----------------------------------------|"
for size in 32 224; do
  for w in 1 2; do
    if [[ $size == 32 ]]; then
      ours=$("$moco" bench-data --dataset "cifar10:$data" --size 32 --workers $w --batch 256 --seconds "$secs")
      args=(--format cifar --dir "$data/cifar-10-batches-bin" --size 32 --batch 256)
    else
      ours=$("$moco" bench-data --dataset "folder:$data/jpeg" --size 224 --workers $w --batch 64 --seconds "$secs")
      args=(--format folder --dir "$data/jpeg" --size 224 --batch 64)
    fi
    tv=$($py bench/data_bench_torchvision.py "${args[@]}" --workers $w --seconds "$secs" --blur torchvision 2>/dev/null)
    pil=$($py bench/data_bench_torchvision.py "${args[@]}" --workers $w --seconds "$secs" --blur pil 2>/dev/null)
    o=$(field images_per_s <<<"$ours"); t=$(field images_per_s <<<"$tv"); p=$(field images_per_s <<<"$pil")
    ratio=$(awk -v a="$o" -v b="$t" -v c="$p" 'BEGIN { m = b > c ? b : c; printf "%.1fx", a / m }')
    echo "| $size | $w | $o | $t / $p | $ratio | $(field cpu_ms_per_image <<<"$ours") | $(field cpu_ms_per_image <<<"$tv") / $(field cpu_ms_per_image <<<"$pil") |"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# ratio: moco.cpp images/s over the faster of the two torchvision variants, same machine, same files"
