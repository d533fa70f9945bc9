# shellcheck shell=bash
# Shell helpers the bench scripts share; sourced, not a benchmark (run_bench.sh
# skips it). The caller keeps its background pids in the array helper_pids,
# which its EXIT trap kills.

log() { echo "  $*"; }
forget_pid() {
  local p keep=()
  for p in "${helper_pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  helper_pids=("${keep[@]}")
}
# bg_run LOG CMD...: CMD in the background (so a signal reaches the trap at
# once), stdout and stderr to LOG; returns its status.
bg_run() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  local p=$! rc=0
  helper_pids+=("$p")
  wait "$p" || rc=$?
  forget_pid "$p"
  return $rc
}
# stamp VAR: VAR = now in microseconds (no fork: the timings stay tight).
stamp() { local t=${EPOCHREALTIME/[.,]/}; printf -v "$1" '%d' "$((10#$t))"; }
secs() { awk -v d="$1" 'BEGIN { printf "%.3f", d / 1e6 }'; }
