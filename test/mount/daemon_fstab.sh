#!/usr/bin/env bash
# The daemonized mount as fstab runs it: mount(8) -> mount.fuse3 -> amberfs
# VOLDIR MNT -o OPTS (the build tree is not on mount's PATH, so the test uses
# the "PROGRAM#SOURCE" form of type fuse; an installed amberfs is found by
# type fuse.amberfs), ctl and stats from a shell, `umount`, and the daemon
# flushes, releases the volume and leaves it marked clean.
source "$(dirname "$0")/lib.sh"
amb_setup
command -v mount.fuse3 >/dev/null || amb_skip "mount.fuse3 not installed (package fuse3)"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 128M
mkdir -p "$mnt"
AMB_FUSE_MOUNTS+=("$mnt")

amb_log "mount -t fuse $AMBERFS#$vol (daemonized)"
mount -t fuse "$AMBERFS#$vol" "$mnt" -o cache_size=32M,sync_delay=100us,io=plain
amb_is_mounted "$mnt" || amb_fail "not mounted after mount(8) returned"
daemon=$(awk '/^mount by pid/ { print $4 }' "$vol/lock")
kill -0 "$daemon" || amb_fail "no daemon holds the volume"
AMB_PIDS[$mnt]=$daemon  # so the trap can clean up

[[ $(stat -c %a "$mnt/volume") == 600 ]] || amb_fail "volume is not 0600"
[[ -d $mnt/snapshots && -z $(ls -A "$mnt/snapshots") ]] || amb_fail "snapshots/ missing or not empty"
grep -q '^amberfs_io_backend_info{backend="plain"' "$mnt/stats" || amb_fail "stats does not show io=plain"
[[ $(amb_stat "$mnt" amberfs_cache_budget_bytes) == $((32 << 20)) ]] || amb_fail "cache_size not applied"
[[ $(amb_stat "$mnt" amberfs_fuse_max_write_bytes) == $((1 << 20)) ]] || amb_fail "max_write is not 1 MiB"

head -c $((8 << 20)) /dev/urandom >"$AMB_WORK/data"
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M oflag=direct conv=notrunc status=none
[[ $(amb_stat "$mnt" amberfs_fuse_largest_write_bytes) == $((1 << 20)) ]] || amb_fail "1 MiB writes were split"
[[ $(amb_stat "$mnt" amberfs_dirty_bytes) -gt 0 ]] || amb_log "note: nothing dirty before flush"
echo flush >"$mnt/ctl"
[[ $(amb_stat "$mnt" amberfs_dirty_bytes) == 0 ]] || amb_fail "dirty bytes left after ctl flush"
flushes=$(amb_stat "$mnt" amberfs_flushes_total)
[[ $flushes -ge 1 ]] || amb_fail "flush not counted"
# Unflushed data must reach the image through umount alone.
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M seek=64 oflag=direct conv=notrunc status=none

amb_log "umount"
umount "$mnt"
for _ in $(seq 200); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.05; done
kill -0 "$daemon" 2>/dev/null && amb_fail "daemon still running 10 s after umount"
unset "AMB_PIDS[$mnt]"
[[ ! -e $vol/mounted ]] || amb_fail "volume left marked unclean after umount"
cmp <(dd if="$vol/image" bs=1M skip=64 count=8 status=none) "$AMB_WORK/data" || amb_fail "data written before umount is not in the image"
cmp <(head -c $((8 << 20)) "$vol/image") "$AMB_WORK/data" || amb_fail "flushed data is not in the image"
amb_log "ok"
