#!/usr/bin/env bash
# Runs every test binary of a build tree through CTest, then prints each
# suite's doctest summary line so the test count is visible at the end.
set -uo pipefail
build=${1:-build}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
rc=$?
log="$build/Testing/Temporary/LastTest.log"
if [[ -f "$log" ]]; then
  echo "--- doctest summaries ---"
  grep -E '^\[doctest\] (test cases|assertions)' "$log" | sed 's/^/  /'
  total=$(grep -E '^\[doctest\] test cases' "$log" | awk -F'|' '{split($1,a,":"); s+=a[2]} END {print s+0}')
  echo "  total test cases: $total"
fi
exit $rc
