#!/usr/bin/env bash
# Op micro-benchmark, moco.cpp (bench/ops_bench.cpp) beside PyTorch
# (bench/ops_bench_torch.py), single-threaded, interleaved over ROUNDS rounds
# so that a background job on a shared machine hits every side alike; each
# side's best over all rounds counts.
#   bench/ops_bench.sh [BUILD_DIR=build] [BASELINE_BUILD_DIR]
# BASELINE_BUILD_DIR: another build's ops_bench (say, of the previous commit)
# run in the same rounds, as a "before" column. Build with
#   cmake --build BUILD_DIR --target ops_bench
# ROUNDS (5), REPS (10) per round, THREADS (1), OPS="relu gelu ..." to pick.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
base=${2:-}
rounds=${ROUNDS:-5}
reps=${REPS:-10}
ops=${OPS:-}
export OMP_NUM_THREADS=${THREADS:-1} OPENBLAS_NUM_THREADS=${THREADS:-1}
[[ -x $build/ops_bench ]] || { echo "no $build/ops_bench: cmake --build $build --target ops_bench" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
for ((r = 0; r < rounds; ++r)); do
  [[ -n $base ]] && "$base/ops_bench" "$reps" $ops >> "$tmp/before"
  "$build/ops_bench" "$reps" $ops >> "$tmp/after"
  ((have_torch)) && /usr/bin/python3 bench/ops_bench_torch.py "$reps" $ops >> "$tmp/torch"
done
/usr/bin/python3 - "$tmp" <<'PY'
import os, sys
tmp = sys.argv[1]
cols = [c for c in ("before", "after", "torch") if os.path.exists(os.path.join(tmp, c))]
best, order = {}, []
for c in cols:
    for line in open(os.path.join(tmp, c)):
        op, kind, ms = line.split()
        key = (op, kind)
        if key not in order:
            order.append(key)
        best[(c, key)] = min(best.get((c, key), float("inf")), float(ms))
names = {"before": "before ms", "after": "moco ms", "torch": "PyTorch ms"}
print("| op | pass | " + " | ".join(names[c] for c in cols) + (" | moco / PyTorch |" if "torch" in cols else " |"))
print("|---|---|" + "---:|" * (len(cols) + ("torch" in cols)))
for key in order:
    row = [f"{best[(c, key)]:.2f}" if (c, key) in best else "-" for c in cols]
    if "torch" in cols and ("after", key) in best and ("torch", key) in best:
        row.append(f"{best[('after', key)] / best[('torch', key)]:.2f}x")
    print(f"| {key[0]} | {key[1]} | " + " | ".join(row) + " |")
PY
