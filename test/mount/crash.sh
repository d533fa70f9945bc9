#!/usr/bin/env bash
# Crash: write and fsync known data, kill -9 the daemon while more writes
# stream in, clear the dead mount, remount: everything fsynced before the kill
# is intact, and the unclean shutdown is noticed and logged.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 256M
# A large dirty cap and a slow background age keep plenty of unsynced data
# in flight when the kill lands.
amb_mount "$vol" "$mnt" -o cache_size=64M,dirty_max=48M

synced=$AMB_WORK/synced
head -c $((24 << 20)) /dev/urandom >"$synced"
amb_log "write 24M with fsync (dd conv=fsync), then 8M more synced through ctl flush"
dd if="$synced" of="$mnt/volume" bs=1M count=16 conv=notrunc,fsync status=none
dd if="$synced" of="$mnt/volume" bs=1M skip=16 seek=16 count=8 conv=notrunc status=none
echo flush >"$mnt/ctl"

amb_log "stream unsynced writes and kill -9 the daemon"
( while :; do head -c $((4 << 20)) /dev/urandom; done | dd of="$mnt/volume" bs=64K seek=512 conv=notrunc status=none 2>/dev/null ) &
writer=$!
sleep 1.5
[[ $(amb_stat "$mnt" amberfs_dirty_bytes) -gt 0 ]] || amb_log "note: no dirty data at kill time"
amb_kill9 "$mnt"
wait $writer 2>/dev/null || true
[[ -e $vol/mounted ]] || amb_fail "the unclean marker is missing after kill -9"

amb_log "remount"
: >"$AMB_WORK/daemon.log"
amb_mount "$vol" "$mnt" -o cache_size=64M
grep -q "was not shut down cleanly" "$AMB_WORK/daemon.log" || amb_fail "the unclean shutdown was not logged"
cmp <(head -c $((24 << 20)) "$mnt/volume") "$synced" || amb_fail "fsynced data lost or corrupted by the crash"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
[[ ! -e $vol/mounted ]] || amb_fail "a clean unmount left the marker behind"

amb_log "remount after the clean unmount logs nothing unclean"
: >"$AMB_WORK/daemon.log"
amb_mount "$vol" "$mnt"
if grep -q "not shut down cleanly" "$AMB_WORK/daemon.log"; then amb_fail "clean shutdown reported as unclean"; fi
amb_umount "$mnt" || amb_fail "final unmount did not exit 0"
amb_log "ok"
