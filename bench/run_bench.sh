#!/usr/bin/env bash
# make bench: runs every benchmark program (build/bench/*) and script
# (bench/*.sh but this one and the shared lib.sh). Each prints its own table with ratios
# against a baseline measured in the same run. Benchmarks never fail the
# build on a missed target; they report.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
export AMBERFS_BUILD=$(cd "$build" && pwd)
export BENCH_DIR=${BENCH_DIR:-$AMBERFS_BUILD/bench-tmp}
mkdir -p "$BENCH_DIR"
for b in "$AMBERFS_BUILD"/bench/*; do
  [[ -x $b && -f $b ]] || continue
  echo "=== $(basename "$b")"
  "$b" --dir "$BENCH_DIR" || echo "$(basename "$b") failed (exit $?)"
done
for s in "$here"/*.sh; do
  [[ $(basename "$s") == run_bench.sh || $(basename "$s") == lib.sh ]] && continue
  echo "=== $(basename "$s" .sh)"
  bash "$s" || echo "$(basename "$s") failed (exit $?)"
done
rm -rf "$BENCH_DIR"
