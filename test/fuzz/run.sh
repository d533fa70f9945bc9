#!/usr/bin/env bash
# Runs fuzz targets (test/fuzz/README.md) and says, per target, how many
# inputs it ran and whether any crashed, hung, leaked or blew its memory.
#
#   run.sh BUILD_DIR SECONDS TARGET...     (make fuzz calls it)
#
# Each target starts from its seeds in test/fuzz/corpus/<target>/ (read only)
# and the corpus it grew in earlier runs, BUILD_DIR/corpus/<target>/ (kept
# between runs, never committed). A hang is an input running over
# FUZZ_TIMEOUT seconds (default 10); a memory blow-up is going over
# FUZZ_RSS_MB (default 2048) in all or in one allocation. The first failure
# stops that target; its input is saved under BUILD_DIR/artifacts/<target>/
# and the end of its log is printed. FUZZ_PARALLEL=N runs N targets at once.
# Exit status: 0 only if every target ran its time with no failure.
set -u
cd "$(dirname "$0")/../.."

if [ $# -lt 3 ]; then
  echo "usage: $0 BUILD_DIR SECONDS TARGET..." >&2
  exit 2
fi
build=$1
seconds=$2
shift 2
# libFuzzer reads -max_total_time=0 as "no limit": a run would never end.
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "$0: SECONDS must be a whole number of at least 1, not '$seconds'" >&2
  exit 2
fi
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
parallel=${FUZZ_PARALLEL:-1}
results=$build/results
mkdir -p "$results"

run_one() {
  local t=$1
  local bin=$build/${t}_fuzz seeds=test/fuzz/corpus/$t grown=$build/corpus/$t art=$build/artifacts/$t
  local log=$build/logs/$t.log
  mkdir -p "$grown" "$art" "$build/logs" "$seeds"
  rm -f "$art"/*
  local opts=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb"
              -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$art/")
  [ -f "test/fuzz/dict/$t.dict" ] && opts+=(-dict="test/fuzz/dict/$t.dict")
  [ -f "test/fuzz/options/$t" ] && opts+=($(grep -v '^#' "test/fuzz/options/$t"))
  local start=$SECONDS
  "$bin" "${opts[@]}" "$grown" "$seeds" >"$log" 2>&1 &
  local pid=$!
  wait $pid
  local rc=$? took=$((SECONDS - start))
  # A run that crashed had no chance to remove its scratch directory.
  rm -rf /dev/shm/amberfs-fuzz-"$pid"-* /tmp/amberfs-fuzz-"$pid"-*
  local execs
  execs=$(grep -a 'stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
  [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  [ -n "$execs" ] || execs=0
  local crashes=0 hangs=0 leaks=0 ooms=0
  if grep -aq 'ERROR: libFuzzer: timeout' "$log"; then hangs=1
  elif grep -aqE 'ERROR: libFuzzer: (out-of-memory|malloc\(.*\) exceeds)' "$log"; then ooms=1
  elif grep -aq 'ERROR: LeakSanitizer' "$log"; then leaks=1
  elif [ $rc -ne 0 ]; then crashes=1
  fi
  local line="fuzz $t: $execs executions in ${took}s, $crashes crashes, $hangs hangs, $leaks leaks, $ooms out-of-memory"
  if [ $rc -ne 0 ]; then
    line="$line: FAILED (exit $rc; input in $art/, log $log)"
    { echo "---- end of $log"; grep -av '^#\|^\s*NEW_FUNC' "$log" | tail -40; echo "----"; } >&2
  fi
  echo "$line"
  echo "$rc $execs" >"$results/$t"
}

for t in "$@"; do
  if [ ! -x "$build/${t}_fuzz" ]; then
    echo "fuzz: no target $build/${t}_fuzz (targets are test/fuzz/*_fuzz.cc)" >&2
    exit 2
  fi
  rm -f "$results/$t"
done

running=0
for t in "$@"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=0 total=0
for t in "$@"; do
  read -r rc execs <"$results/$t" || { rc=1 execs=0; }
  total=$((total + execs))
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
done
if [ $failed -eq 0 ]; then
  echo "fuzz: $# targets, $total executions, ${seconds}s each: 0 crashes, 0 hangs, 0 leaks, 0 out-of-memory"
  exit 0
fi
echo "fuzz: FAILED: $failed of $# targets found a crash, hang, leak or memory blow-up (inputs under $build/artifacts/)"
exit 1
