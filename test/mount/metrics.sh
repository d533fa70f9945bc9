#!/usr/bin/env bash
# The stats file against a Prometheus text parser (python3-prometheus-client)
# and the metrics an administrator alerts on:
#   - every line of stats parses, read-write and read-only, before and after
#     snapshots, rollback, gc and drain; no family is declared twice
#   - durations are in seconds (no *_microseconds left), the I/O backend is
#     amberfs_io_backend_info, amberfs_build_info carries version and commit
#   - amberfs_snapshot_last_success_timestamp_seconds is the newest snapshot's
#     instant, also after a remount (read from the catalog)
#   - progress gauges: a drain that waits for an unreachable slow store shows
#     operation_running{drain} 1 with uploads to go; after each run of
#     snapshot, rollback and gc, done equals goal and equals the reply's count
#   - mkfs --restore prints its progress to stderr also when that is no terminal
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
# Debian's package installs into the system python; a pyenv python3 first in
# PATH would not see it.
PY=/usr/bin/python3
[[ -x $PY ]] || amb_skip "no /usr/bin/python3"
$PY -c 'from prometheus_client.parser import text_string_to_metric_families' 2>/dev/null ||
  amb_skip "python3-prometheus-client not installed (apt-get install python3-prometheus-client)"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M --chunk-size 64K

# parse_stats MNT: parses the whole file; prints "name{labels} value" per
# sample (labels sorted), fails on any parse error or a family seen twice.
parse_stats() {
  $PY - "$1/stats" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
seen = set()
count = 0
for fam in text_string_to_metric_families(text):
    if fam.name in seen:
        sys.exit("family declared twice: " + fam.name)
    seen.add(fam.name)
    if fam.type not in ("counter", "gauge"):
        sys.exit("family %s has type %s" % (fam.name, fam.type))
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, s.value))
        count += 1
# Every sample line of the file was parsed into a sample.
lines = [l for l in text.splitlines() if l and not l.startswith("#")]
if count != len(lines):
    sys.exit("parsed %d samples of %d lines" % (count, len(lines)))
PYEOF
}
# metric PARSED NAME{LABELS}: the value of one sample in parse_stats' output.
metric() { awk -v n="$2" '$1 == n { print $2 }' <<<"$1"; }

amb_mount "$vol" "$mnt" -o cache_size=16M
p=$(parse_stats "$mnt") || amb_fail "stats of a fresh mount does not parse: $p"
grep -q microseconds "$mnt/stats" && amb_fail "a metric is still in microseconds"
grep -q '^amberfs_io_backend{' "$mnt/stats" && amb_fail "amberfs_io_backend without _info"
grep -q '^amberfs_io_backend_info{backend="\(io_uring\|plain\)"' "$mnt/stats" || amb_fail "no amberfs_io_backend_info"
build=$(grep '^amberfs_build_info{' "$mnt/stats")
amb_log "$build"
version=$("$AMBERFS" --version | awk '{print $2}')
[[ $build == *"version=\"$version\""* ]] || amb_fail "build_info version: $build"
[[ $build == *'commit="'????????* && $build == *' 1' ]] || amb_fail "build_info commit: $build"
[[ $(metric "$p" 'amberfs_snapshot_last_success_timestamp_seconds{}') == 0.0 ]] ||
  amb_fail "last success timestamp of a volume without snapshots"

amb_log "snapshot: seconds, timestamp, progress"
head -c $((4 << 20)) /dev/urandom | dd of="$mnt/volume" bs=64K conv=notrunc status=none
before=$(date +%s)
reply=$("$AMBERCTL" snapshot "$mnt" s1) || amb_fail "snapshot s1"
chunks=$(awk '$1 == "chunks_captured" { print $2 }' <<<"$reply")
p=$(parse_stats "$mnt") || amb_fail "stats after a snapshot: $p"
ts=$(metric "$p" 'amberfs_snapshot_last_success_timestamp_seconds{}')
dur=$(metric "$p" 'amberfs_snapshot_last_duration_seconds{}')
amb_log "chunks $chunks, timestamp $ts, duration $dur s, barrier $(metric "$p" 'amberfs_snapshot_last_barrier_seconds{}') s"
$PY -c "import sys; t=float('$ts'); sys.exit(0 if $before - 1 <= t <= $(date +%s) + 1 and t != int(t) else 1)" ||
  amb_fail "last success timestamp $ts is not the snapshot's instant (about $before, with a fraction)"
$PY -c "import sys; sys.exit(0 if 0 < float('$dur') < 60 else 1)" || amb_fail "duration $dur is not in seconds"
[[ $chunks -ge 64 ]] || amb_fail "snapshot captured $chunks chunks"
[[ $(metric "$p" 'amberfs_operation_done{operation="snapshot"}') == "$chunks.0" &&
   $(metric "$p" 'amberfs_operation_goal{operation="snapshot"}') == "$chunks.0" &&
   $(metric "$p" 'amberfs_operation_running{operation="snapshot"}') == 0.0 ]] ||
  amb_fail "snapshot progress: $(grep operation= <<<"$p" | grep snapshot)"

amb_log "drain while the slow store is unreachable: running, with uploads to go"
mv "$vol/archive" "$AMB_WORK/archive.away"
head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=64K seek=200 conv=notrunc status=none
"$AMBERCTL" snapshot "$mnt" s2 >/dev/null || amb_fail "snapshot s2"
"$AMBERCTL" drain "$mnt" 60 >"$AMB_WORK/drain.out" 2>&1 &
drain_pid=$!
running=""
for _ in $(seq 100); do
  p=$(parse_stats "$mnt") || amb_fail "stats during a drain: $p"
  running=$(metric "$p" 'amberfs_operation_running{operation="drain"}')
  [[ $running == 1.0 ]] && break
  sleep 0.05
done
goal=$(metric "$p" 'amberfs_operation_goal{operation="drain"}')
done_=$(metric "$p" 'amberfs_operation_done{operation="drain"}')
amb_log "during the drain: running $running, done $done_ of $goal"
[[ $running == 1.0 ]] || amb_fail "drain not shown as running"
$PY -c "import sys; sys.exit(0 if float('$goal') > float('$done_') else 1)" || amb_fail "drain: nothing to go ($done_ of $goal)"
"$AMBERCTL" status "$mnt" | grep -q '^in progress  drain: [0-9]* of [0-9]*' || amb_fail "status does not show the drain"
mv "$AMB_WORK/archive.away" "$vol/archive"
wait "$drain_pid" || amb_fail "drain once the slow store is back: $(cat "$AMB_WORK/drain.out")"
p=$(parse_stats "$mnt") || amb_fail "stats after the drain: $p"
goal=$(metric "$p" 'amberfs_operation_goal{operation="drain"}')
amb_log "after the drain: done $(metric "$p" 'amberfs_operation_done{operation="drain"}') of $goal"
[[ $(metric "$p" 'amberfs_operation_running{operation="drain"}') == 0.0 &&
   $(metric "$p" 'amberfs_operation_done{operation="drain"}') == "$goal" && $goal != 0.0 ]] || amb_fail "drain progress after the drain"

amb_log "rollback and gc progress"
reply=$("$AMBERCTL" rollback "$mnt" s1) || amb_fail "rollback"
n=$(awk '$1 == "chunks_written" { w = $2 } $1 == "chunks_discarded" { d = $2 } END { print w + d }' <<<"$reply")
# s3 becomes the base, so s2's own blobs are garbage once it is deleted.
"$AMBERCTL" snapshot "$mnt" s3 >/dev/null || amb_fail "snapshot s3"
"$AMBERCTL" delete "$mnt" s2 >/dev/null || amb_fail "delete s2"
reply=$("$AMBERCTL" gc "$mnt") || amb_fail "gc"
# Blobs of s2 only: deleted from the slow store (their fast copies with them) and fast-only ones.
deleted=$(awk '$1 == "deleted_slow" { print $2 }' <<<"$reply")
p=$(parse_stats "$mnt") || amb_fail "stats after rollback and gc: $p"
amb_log "rollback: $n chunks; gc: $(tr '\n' ' ' <<<"$reply")"
[[ $n -ge 16 && $(metric "$p" 'amberfs_operation_done{operation="rollback"}') == "$n.0" &&
   $(metric "$p" 'amberfs_operation_goal{operation="rollback"}') == "$n.0" ]] ||
  amb_fail "rollback progress: $(grep 'operation="rollback"' <<<"$p")"
# The goal is the slow store's garbage and the fast store's own (none here: all was drained).
gc_done=$(metric "$p" 'amberfs_operation_done{operation="gc"}')
[[ $deleted -gt 0 && $gc_done == "$(metric "$p" 'amberfs_operation_goal{operation="gc"}')" &&
   ${gc_done%.0} -ge $deleted ]] || amb_fail "gc progress: $(grep 'operation="gc"' <<<"$p")"
ts=$(metric "$p" 'amberfs_snapshot_last_success_timestamp_seconds{}')  # s3's now
amb_umount "$mnt" || amb_fail "unmount"

amb_log "after a remount (read-only): the timestamp comes from the catalog"
amb_mount "$vol" "$mnt" -o ro
p=$(parse_stats "$mnt") || amb_fail "stats of a read-only mount: $p"
[[ $(metric "$p" 'amberfs_build_info{commit="'"$(sed -n 's/.*commit="\([^"]*\)".*/\1/p' <<<"$build")"'",version="'"$version"'"}') == 1.0 ]] ||
  amb_fail "no build info on a read-only mount"
amb_umount "$mnt" || amb_fail "unmount ro"
amb_mount "$vol" "$mnt"
p=$(parse_stats "$mnt") || amb_fail "stats after a remount: $p"
[[ $(metric "$p" 'amberfs_snapshot_last_success_timestamp_seconds{}') == "$ts" ]] ||
  amb_fail "timestamp after a remount: $(metric "$p" 'amberfs_snapshot_last_success_timestamp_seconds{}'), want $ts"
"$AMBERCTL" drain "$mnt" 60 >/dev/null || amb_fail "drain before restore"
amb_umount "$mnt" || amb_fail "unmount"

amb_log "mkfs --restore: progress on stderr without a terminal"
"$MKFS" --restore "file://$vol/archive" --snapshot s1 "$AMB_WORK/restored" >/dev/null 2>"$AMB_WORK/restore.err" ||
  amb_fail "restore: $(cat "$AMB_WORK/restore.err")"
cat "$AMB_WORK/restore.err"
grep -Eq '^  [0-9]+/[0-9]+ chunks, ' "$AMB_WORK/restore.err" || amb_fail "restore printed no progress"
grep -q $'\r' "$AMB_WORK/restore.err" && amb_fail "carriage returns in a log"
amb_log "PASS"
