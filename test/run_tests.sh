#!/usr/bin/env bash
# Runs the unit tests, then every mount-level test (test/mount/*.sh), and ends
# with one line "N passed, N failed, N skipped".
#
# A mount-level test exits 0 for pass, 77 for skip (after printing "SKIP: why"),
# anything else for fail. Unit test cases are counted from doctest's summary.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
export AMBERFS_BUILD=$(cd "$build" && pwd)
passed=0 failed=0 skipped=0

unit_log=$(mktemp)
"$AMBERFS_BUILD/unit_tests" 2>&1 | tee "$unit_log"
unit_rc=${PIPESTATUS[0]}
summary=$(grep -E '^\[doctest\] test cases:' "$unit_log" | tail -1)
if [[ $summary =~ ([0-9]+)\ passed.*\|[[:space:]]*([0-9]+)\ failed ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
else
  echo "unit tests: no doctest summary (exit $unit_rc)"; failed=$((failed + 1))
fi
if [[ $unit_rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi
skipped=$((skipped + $(grep -c '^SKIP' "$unit_log" || true)))
rm -f "$unit_log"

for t in "$here"/mount/*.sh; do
  [[ -e $t ]] || continue
  name=$(basename "$t" .sh)
  [[ $name == lib ]] && continue  # shared helpers, not a test
  echo "=== mount test: $name"
  start=$SECONDS
  timeout --kill-after=10 900 bash "$t"
  rc=$?
  case $rc in
    0) passed=$((passed + 1)); echo "--- PASS $name ($((SECONDS - start))s)" ;;
    77) skipped=$((skipped + 1)); echo "--- SKIP $name" ;;
    *) failed=$((failed + 1)); echo "--- FAIL $name (exit $rc, $((SECONDS - start))s)" ;;
  esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
