#!/usr/bin/env bash
# Automatic snapshots and retention (-o snapshot_interval=, keep=):
#   - bad combinations are usage errors (exit 2) that mount nothing: keep=
#     without snapshot_interval=, snapshot_interval= with ro, a bare rule
#     with no keep= before it, a bad interval or rule
#   - the ctl refuses a user snapshot named like an automatic one
#   - with snapshot_interval=1s,keep=last:3 and 8 s of writes (longer, up to
#     30 s, until at least 5 automatic snapshots were taken on a loaded
#     machine), exactly the 3 newest remain after the
#     unmount, the named snapshot taken before is untouched, gc ran after the
#     retention deletes, every snapshot left reads whole, fsck is clean
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
FSCK=$AMBERFS_BUILD/fsck.amberfs
vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 32M
mkdir -p "$mnt"

# usage_error WHAT TEXT OPTS: amberfs exits 2 naming TEXT, and mounts nothing.
usage_error() {
  local what=$1 text=$2 opts=$3 rc=0
  "$AMBERFS" -f "$vol" "$mnt" -o "$opts" >"$AMB_WORK/out" 2>&1 || rc=$?
  [[ $rc == 2 ]] || amb_fail "$what: exit $rc, want 2: $(cat "$AMB_WORK/out")"
  grep -qF -- "$text" "$AMB_WORK/out" || amb_fail "$what: output lacks '$text': $(cat "$AMB_WORK/out")"
  amb_is_mounted "$mnt" && amb_fail "$what: mounted anyway"
  amb_log "$what: $(head -1 "$AMB_WORK/out")"
}
usage_error "keep without interval" "give snapshot_interval= too" "keep=last:3"
usage_error "interval on a read-only mount" "needs a read-write mount" "ro,snapshot_interval=1h"
usage_error "rule without keep=" "belongs after keep=" "snapshot_interval=1h,hourly:3"
usage_error "zero interval" "snapshot interval '0s'" "snapshot_interval=0s"
usage_error "interval without unit" "the unit must be s, m, h or d" "snapshot_interval=10"
usage_error "bad rule" "retention rule 'hourly:x'" "snapshot_interval=1h,keep=last:3,hourly:x"
usage_error "rule twice" "given twice" "snapshot_interval=1h,keep=last:3,last:4"
"$AMBERFS" --help | grep -q 'snapshot_interval=DUR' || amb_fail "--help lacks snapshot_interval"

amb_log "a named snapshot first; automatic names are refused for it"
amb_mount "$vol" "$mnt"
head -c 4M /dev/urandom >"$AMB_WORK/named.data"
dd if="$AMB_WORK/named.data" of="$mnt/volume" bs=1M conv=fsync,notrunc status=none
"$AMBERCTL" snapshot "$mnt" keepme >/dev/null
rc=0
"$AMBERCTL" snapshot "$mnt" auto-20260101T000000Z >/dev/null 2>"$AMB_WORK/err" || rc=$?
[[ $rc == 1 ]] && grep -q "automatic snapshot's name" "$AMB_WORK/err" ||
  amb_fail "an automatic name was not refused (exit $rc): $(cat "$AMB_WORK/err")"
amb_umount "$mnt" || amb_fail "unmount exited non-zero"

amb_log "snapshot_interval=1s,keep=last:3 with 8 s of writes"
amb_mount "$vol" "$mnt" -o snapshot_interval=1s,keep=last:3
# 8 s of writes, longer (up to 30 s) if a loaded machine made the ticks
# overrun so that fewer than 5 automatic snapshots were taken by then.
start=$SECONDS i=0 ok=0
while ((SECONDS < start + 8 || (ok < 5 && SECONDS < start + 30))); do
  # a different MiB each time, past the named snapshot's data, fsynced
  dd if=/dev/urandom of="$mnt/volume" bs=1M count=1 seek=$((4 + i % 28)) conv=fsync,notrunc status=none
  i=$((i + 1))
  ok=$(amb_stat "$mnt" 'amberfs_auto_snapshots_total{result="ok"}')
done
failed=$(amb_stat "$mnt" 'amberfs_auto_snapshots_total{result="failed"}')
forgotten=$(amb_stat "$mnt" amberfs_auto_snapshot_forgotten_total)
gcs=$(amb_stat "$mnt" amberfs_auto_gc_runs_total)
last=$(amb_stat "$mnt" amberfs_snapshot_last_success_timestamp_seconds)
amb_log "$i writes in $((SECONDS - start)) s; automatic snapshots: $ok ok, $failed failed, $forgotten forgotten, $gcs gc runs"
((ok >= 5)) || amb_fail "only $ok automatic snapshots in $((SECONDS - start)) s at 1 s intervals"
((forgotten >= ok - 3 - 1)) || amb_fail "retention deleted only $forgotten of $ok"
((gcs >= 1)) || amb_fail "no gc after retention deletes"
now=$(date +%s)
awk -v t="$last" -v now="$now" 'BEGIN { exit !(now - t < 5) }' ||
  amb_fail "last successful snapshot at $last, now $now"
amb_umount "$mnt" || amb_fail "unmount exited non-zero"

# The 3 newest automatic snapshots the daemon took, by its log.
taken=$(sed -n 's/.*automatic snapshot \(auto-[0-9TZ]*\): .*/\1/p' "$AMB_WORK/daemon.log")
want=$( (echo "$taken" | tail -3; echo keepme) | sort)
have=$("$AMBERCTL" list --names "$vol" | sort)
[[ $have == "$want" ]] || amb_fail "snapshots left: $(echo $have), want $(echo $want) (taken: $(echo $taken))"
amb_log "left: $(echo $have)"

amb_log "every snapshot left reads whole; keepme is untouched; fsck is clean"
amb_mount "$vol" "$mnt"
cmp -n 4M "$mnt/snapshots/keepme" "$AMB_WORK/named.data" || amb_fail "keepme changed"
for s in $have; do
  cat "$mnt/snapshots/$s" >/dev/null || amb_fail "snapshot $s unreadable"
done
amb_umount "$mnt" || amb_fail "unmount exited non-zero"
"$FSCK" -n "$vol" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck: $(tail -5 "$AMB_WORK/fsck.out")"
echo "PASS"
