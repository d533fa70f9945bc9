#!/usr/bin/env bash
# The volume directory on a small file system that fills up: an fsync of
# volume that fails with ENOSPC is counted as a failed fsync request
# (amberfs_fuse_errors_total{op="fsync"}), beside the image-level write-back
# error it came from (amberfs_errors_total{kind="writeback"}).
source "$(dirname "$0")/lib.sh"
amb_setup
smallmnt=$AMB_WORK/small
amb_small_fs 40M "$smallmnt"

vol=$smallmnt/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
# Everything written stays dirty in the cache until the fsync.
amb_mount "$vol" "$mnt" -o cache_size=64M,dirty_max=62M
pid=${AMB_PIDS[$mnt]}
head -c $((56 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc status=none \
  || amb_fail "writes into the cache failed"
sync "$mnt/volume" 2>"$AMB_WORK/err" && amb_fail "fsync succeeded on a full file system"
grep -q "No space left" "$AMB_WORK/err" || amb_fail "fsync failed, but not with ENOSPC: $(cat "$AMB_WORK/err")"
fsync_errors=$(amb_stat "$mnt" 'amberfs_fuse_errors_total{op="fsync"}')
writeback_errors=$(amb_stat "$mnt" 'amberfs_errors_total{kind="writeback"}')
amb_log "fuse fsync errors: ${fsync_errors:-none}, image write-back errors: ${writeback_errors:-none}"
[[ ${fsync_errors:-0} -ge 1 ]] || amb_fail "the failed fsync is not counted as a failed fsync request"
[[ ${writeback_errors:-0} -ge 1 ]] || amb_fail "the write-back error behind it is not counted"
# The final flush cannot succeed either; the daemon must still end.
fusermount3 -u "$mnt"
rc=0
wait "$pid" || rc=$?
unset "AMB_PIDS[$mnt]"
amb_log "daemon exited $rc (the final flush cannot succeed on a full file system)"
amb_log "ok"
