#!/usr/bin/env bash
# fio --verify=crc32c on `volume`: random and sequential writes, several jobs,
# io_uring and psync, through a cache smaller than the data, with
# direct_writeback, so write-back runs both ways (scattered blocks with
# O_DIRECT, long runs through the page cache); then unmount, remount (plain
# I/O, kernel page cache on, default write-back), and fio --verify_only must
# still pass; random writes there are verified too and none is written back
# with O_DIRECT.
source "$(dirname "$0")/lib.sh"
amb_setup
command -v fio >/dev/null || amb_skip "fio not installed"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 512M
amb_mount "$vol" "$mnt" -o cache_size=32M,direct_writeback

# Four jobs, each on its own 96 MiB region so their verify headers never meet.
cat >"$AMB_WORK/verify.fio" <<JOB
[global]
filename=$mnt/volume
verify=crc32c
verify_fatal=1
# No local-*-verify.state files in the working directory.
verify_state_save=0
size=96m
group_reporting=1
[rand-uring]
rw=randwrite
bs=4k
ioengine=io_uring
iodepth=16
direct=1
offset=0
[rand-psync]
rw=randwrite
bs=16k
ioengine=psync
offset=96m
[seq-uring]
rw=write
bs=1m
ioengine=io_uring
iodepth=4
direct=1
offset=192m
[seq-psync]
rw=write
bs=256k
ioengine=psync
offset=288m
JOB

amb_log "fio write + verify"
fio --output="$AMB_WORK/fio-write.log" "$AMB_WORK/verify.fio" || { cat "$AMB_WORK/fio-write.log"; amb_fail "fio write/verify failed"; }
grep -q "err= 0" "$AMB_WORK/fio-write.log" || amb_fail "fio reported errors"
[[ $(amb_stat "$mnt" amberfs_cache_misses_total) -gt 0 ]] || amb_fail "the cache never missed: the test did not exercise eviction"
for kind in writeback fsync; do
  [[ $(amb_stat "$mnt" "amberfs_errors_total{kind=\"$kind\"}") == 0 ]] || amb_fail "$kind errors in stats"
done
echo flush >"$mnt/ctl" || amb_fail "ctl flush failed"
direct=$(amb_stat "$mnt" amberfs_writeback_direct_requests_total) all=$(amb_stat "$mnt" amberfs_writeback_requests_total)
[[ $direct -gt 0 && $all -gt $direct ]] ||
  amb_fail "write-back requests: $direct with O_DIRECT of $all; expected both kinds"
amb_log "write-back requests: $direct of $all with O_DIRECT"

amb_log "unmount, remount"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
[[ ! -e $vol/mounted ]] || amb_fail "clean unmount left the unclean marker"
amb_mount "$vol" "$mnt" -o cache_size=32M,io=plain,page_cache

amb_log "fio --verify_only"
fio --verify_only --output="$AMB_WORK/fio-verify.log" "$AMB_WORK/verify.fio" || { cat "$AMB_WORK/fio-verify.log"; amb_fail "verify after remount failed"; }
grep -q "err= 0" "$AMB_WORK/fio-verify.log" || amb_fail "fio verify_only reported errors"

amb_log "default write-back: random writes + verify"
fio --output="$AMB_WORK/fio-buffered.log" --section=rand-uring --section=rand-psync "$AMB_WORK/verify.fio" ||
  { cat "$AMB_WORK/fio-buffered.log"; amb_fail "fio write/verify with the default write-back failed"; }
grep -q "err= 0" "$AMB_WORK/fio-buffered.log" || amb_fail "fio reported errors with the default write-back"
echo flush >"$mnt/ctl" || amb_fail "ctl flush failed"
[[ $(amb_stat "$mnt" amberfs_writeback_requests_total) -gt 0 ]] || amb_fail "no write-back"
direct=$(amb_stat "$mnt" amberfs_writeback_direct_requests_total)
[[ $direct == 0 ]] || amb_fail "without direct_writeback, $direct write-back requests went with O_DIRECT"
amb_umount "$mnt" || amb_fail "second unmount did not exit 0"
amb_log "ok"
