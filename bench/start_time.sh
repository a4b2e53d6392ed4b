#!/usr/bin/env bash
# Start-up cost of a command: median wall time (ms) and median peak RSS (MiB)
# of N runs (default 9), output discarded.
#   bench/start_time.sh [-n N] CMD [ARGS...]
#   bench/start_time.sh build/moco knn --help
set -euo pipefail
n=9
if [[ ${1:-} == -n ]]; then n=$2; shift 2; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [-n N] CMD [ARGS...]" >&2; exit 2; }
rss_file=$(mktemp)
trap 'rm -f "$rss_file"' EXIT
ms=() kb=()
for ((i = 0; i < n; ++i)); do
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$rss_file" "$@" >/dev/null 2>&1 || true
  t1=$EPOCHREALTIME
  ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)*1000}')")
  kb+=("$(tail -n1 "$rss_file")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
printf '%-50s %8.1f ms  %6.1f MiB  (median of %d)\n' "$*" "$(median "${ms[@]}")" \
  "$(awk -v k="$(median "${kb[@]}")" 'BEGIN{print k/1024}')" "$n"
