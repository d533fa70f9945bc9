#!/usr/bin/env bash
# Parallel direct writes: volume's open reply carries
# FOPEN_PARALLEL_DIRECT_WRITES, so synchronous direct writes of several
# threads reach the daemon at the same time (without it the kernel holds the
# inode lock across each one and the daemon never sees two at once), and the
# data they wrote reads back.
source "$(dirname "$0")/lib.sh"
amb_setup
command -v fio >/dev/null || amb_skip "fio not installed"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 256M
amb_mount "$vol" "$mnt" -o cache_size=32M

# Four threads of synchronous 4 KiB direct writes, each over 16 MiB of its
# own quarter, every block once, checked with crc32c once written.
amb_log "4 threads of psync direct writes"
fio --output="$AMB_WORK/fio.log" --name=pw --filename="$mnt/volume" --numjobs=4 \
  --offset_increment=64M --size=16M --rw=randwrite --bs=4k --ioengine=psync --direct=1 \
  --verify=crc32c --verify_fatal=1 --verify_state_save=0 --randrepeat=0 \
  || { cat "$AMB_WORK/fio.log"; amb_fail "fio failed"; }
grep -q "err= 0" "$AMB_WORK/fio.log" || amb_fail "fio reported errors"
writes=$(amb_stat "$mnt" amberfs_fuse_writes_total)
peak=$(amb_stat "$mnt" amberfs_fuse_writes_in_flight_peak)
amb_log "$writes writes, at most $peak at once"
[[ $writes -ge 16384 ]] || amb_fail "only $writes writes reached the daemon"
[[ $peak -ge 2 ]] || amb_fail "direct writes of 4 threads never overlapped in the daemon (peak $peak)"

amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
