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

# CPU seconds of a process, or of this shell's children.
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
# proc_cpu PID: its user + system CPU so far, in clock ticks (empty if gone).
proc_cpu() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
ticks_s() { awk -v t="$1" -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }'; }
# children_us VAR: VAR = user + system CPU of the waited-for children of this
# shell so far, in microseconds (bash's `times`, second line; not in a
# subshell, whose children's times start at zero). Uses the caller's $work.
# shellcheck disable=SC2154  # $work is the caller's
children_us() {
  times >"$work/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] }
    printf "%d", t * 1e6 }' "$work/times")"
}

# median FIGURES...: the middle one (the mean of the middle two for an even count);
# "fail" if any run failed, empty if there were none.
median() {
  local x
  for x in "$@"; do [[ $x =~ ^[0-9.]+$ ]] || { echo fail; return; }; done
  [[ $# -gt 0 ]] || return 0
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# wait_file PATH PID LOG: until PATH exists, while PID lives (else LOG's tail).
wait_file() {
  for _ in $(seq 300); do
    [[ -e $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { log "exited: $(tail -n 3 "$3")"; return 1; }
    sleep 0.05
  done
  log "timed out waiting for $1"
  return 1
}

# unmount MNT: unmounts and waits for its daemon to exit; returns its status
# (1 if it had to be killed). The caller keeps MNT's daemon pid in the
# associative array daemon_of.
unmount() {
  local m=$1 p=${daemon_of[$1]:-} rc=0
  fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  if [[ -n $p ]]; then
    for _ in $(seq 3000); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; rc=1; fi
    wait "$p" 2>/dev/null || rc=$?
  fi
  unset "daemon_of[$m]"
  return $rc
}
