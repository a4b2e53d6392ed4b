#!/usr/bin/env bash
# What `moco pretrain --log-every N` costs: `moco bench --log-every N` times
# training steps that alternate, in one process, between plain steps and steps
# that also measure MoCo's internals (contrastive/internals.h) and format their
# row. Configurations run round-robin ROUNDS times, so a change in the
# machine's load hits every configuration alike; each JSON line records it.
#   cpu-recipe  MoCo v2, ResNet-18 width 16, 28x28x1, batch 64, queue 4096, 2 BN splits (README's CPU recipe)
#   mocov2      MoCo v2, ResNet-18, 32x32x3, batch 64, queue 4096
#   mocov3      MoCo v3, ViT-Tiny, patch 4, 32x32x3, batch 64 pairs
#
# Usage: bench/internals_overhead.sh [BUILD_DIR] [OUT.jsonl]
#   ROUNDS (3), LOG_EVERY (20), THREADS (2)
# Prints one line per configuration: medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-bench/results/internals_overhead_$(date +%Y%m%d_%H%M%S).jsonl}
rounds=${ROUNDS:-3}
every=${LOG_EVERY:-20}
threads=${THREADS:-2}
[[ -x $build/moco ]] || { echo "no $build/moco: build it first (cmake --build $build --target moco)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
declare -A cfg=(
  [cpu-recipe]="--method mocov2 --width 16 --image-size 28 --channels 1 --batch-size 64 --moco-k 4096 --bn-splits 2 --warmup 2 --steps 20"
  [mocov2]="--method mocov2 --batch-size 64 --moco-k 4096 --warmup 1 --steps 6"
  [mocov3]="--method mocov3 --batch-size 64 --warmup 1 --steps 6"
)
for r in $(seq "$rounds"); do
  for name in cpu-recipe mocov2 mocov3; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086
    line=$("$build/moco" bench ${cfg[$name]} --threads "$threads" --log-every "$every" --json)
    echo "${line%\}}, \"config\": \"$name\", \"round\": $r, \"load\": $load}" | tee -a "$out"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for name in ("cpu-recipe", "mocov2", "mocov3"):
    rs = [r for r in rows if r["config"] == name]
    if not rs:
        continue
    med = lambda k: statistics.median(r[k] for r in rs)
    runs = ", ".join("%.3f%%" % (100 * r["internals_overhead"]) for r in rs)
    print(f"{name}: {len(rs)} runs, plain step {med('plain_step_sec'):.4f} s, logged step {med('logged_step_sec'):.4f} s, "
          f"internals {med('internals_sec') * 1000:.2f} ms, overhead at --log-every {rs[0]['log_every']}: "
          f"{100 * med('internals_overhead'):.3f}% (runs: {runs})")
PY
