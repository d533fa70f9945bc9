#!/usr/bin/env bash
# Crash during writes and during snapshots: kill -9 the daemon while a writer
# streams and snapshots are being taken; remount. Snapshots committed before
# are untouched (A equals its copy, the others read back, hash-verified), and
# the next snapshot is complete: its file equals the volume.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 128M
amb_mount "$vol" "$mnt" -o cache_size=32M,dirty_max=24M
head -c $((16 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc status=none
echo snapshot A >"$mnt/ctl" || amb_fail "snapshot A failed"
cp "$mnt/snapshots/A" "$AMB_WORK/copy-a"

for round in 1 2; do
  amb_log "round $round: writer and snapshots, then kill -9"
  ( while :; do head -c $((2 << 20)) /dev/urandom; done | dd of="$mnt/volume" bs=64K seek=$((round * 200)) conv=notrunc status=none 2>/dev/null ) &
  writer=$!
  ( for i in $(seq 50); do echo snapshot "r$round-$i" >"$mnt/ctl" 2>/dev/null || exit 0; done ) &
  snapper=$!
  sleep "1.$((RANDOM % 9))"
  amb_kill9 "$mnt"
  wait $writer 2>/dev/null || true
  wait $snapper 2>/dev/null || true
  amb_mount "$vol" "$mnt" -o cache_size=32M
  cmp "$mnt/snapshots/A" "$AMB_WORK/copy-a" || amb_fail "snapshot A changed after the crash"
  for s in $(ls "$mnt/snapshots"); do
    cat "$mnt/snapshots/$s" >/dev/null || amb_fail "snapshot $s unreadable after the crash"
  done
  echo snapshot "after$round" >"$mnt/ctl" || amb_fail "snapshot after the crash failed"
  cmp "$mnt/snapshots/after$round" "$mnt/volume" || amb_fail "the first snapshot after the crash differs from the volume"
  amb_log "round $round: $(ls "$mnt/snapshots" | wc -l) snapshots, all readable"
done
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
