#!/usr/bin/env bash
# A full volume directory: the volume lives on a small loop file system that
# its writes fill up. The daemon is killed there (and, a second time,
# unmounted cleanly while full); the volume must still mount, serve what was
# acknowledged, and let the user free space: discard in the volume, delete a
# snapshot, gc.
source "$(dirname "$0")/lib.sh"
amb_setup
fs=$AMB_WORK/fs mnt=$AMB_WORK/mnt
amb_small_fs 96M "$fs"
vol=$fs/vol
amb_mkfs "$vol" 256M

amb_log "16M acknowledged, snapshot s1, then fill the file system"
head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/acked"
amb_mount "$vol" "$mnt" -o cache_size=16M
dd if="$AMB_WORK/acked" of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot s1 failed"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
# Random data past the acknowledged part until the image cannot grow.
dd if=/dev/urandom of="$mnt/volume" bs=1M seek=16 count=200 conv=notrunc,fsync status=none 2>"$AMB_WORK/dd.err" &&
  amb_fail "filling the file system did not fail"
grep -q "No space left" "$AMB_WORK/dd.err" || amb_fail "the filling writer did not get ENOSPC: $(cat "$AMB_WORK/dd.err")"
amb_log "file system full: $(amb_free_bytes "$fs") bytes free; kill -9"
amb_kill9 "$mnt"

check_mount() {
  local what=$1
  : >"$AMB_WORK/daemon.log"
  amb_mount "$vol" "$mnt" -o cache_size=16M
  cmp <(head -c $((16 << 20)) "$mnt/volume") "$AMB_WORK/acked" || amb_fail "$what: acknowledged data differs"
  cmp <(head -c $((16 << 20)) "$mnt/snapshots/s1") "$AMB_WORK/acked" || amb_fail "$what: snapshot s1 differs"
}
amb_log "mount the full volume after the kill"
check_mount "after kill -9 on a full disk"
amb_log "unmount it cleanly while full, mount again"
amb_umount "$mnt" || amb_fail "clean unmount of the full volume exited $?: $(tail -3 "$AMB_WORK/daemon.log")"
[[ ! -e $vol/mounted ]] || amb_fail "a clean unmount left the unclean marker"
check_mount "after a clean unmount on a full disk"

amb_log "free space: discard the filler, delete s1, gc"
before=$(amb_free_bytes "$fs")
fallocate -p -o $((16 << 20)) -l $((200 << 20)) "$mnt/volume" || amb_fail "discard in the volume failed"
echo flush >"$mnt/ctl" || amb_fail "flush failed"
echo delete s1 >"$mnt/ctl" || amb_fail "delete s1 failed"
echo gc >"$mnt/ctl" || amb_fail "gc failed: $(tail -3 "$AMB_WORK/daemon.log")"
after=$(amb_free_bytes "$fs")
amb_log "free: $before -> $after bytes"
((after > before + (16 << 20))) || amb_fail "discard, delete and gc freed too little ($before -> $after)"
cmp <(head -c $((16 << 20)) "$mnt/volume") "$AMB_WORK/acked" || amb_fail "acknowledged data differs after gc"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
"$AMBERFS_BUILD/fsck.amberfs" -n "$vol" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck: $(tail -5 "$AMB_WORK/fsck.out")"
amb_log "ok"
