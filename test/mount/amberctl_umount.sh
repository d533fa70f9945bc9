#!/usr/bin/env bash
# amberctl umount returns only once the daemon has flushed, released the
# volume and exited, with an exit status that says how it ended:
#   - 64 MiB dirty: after umount returns the daemon is gone, the lock is
#     free, the volume is clean, and fsck and a new mount work at once
#   - a daemon that cannot finish (SIGSTOP): --timeout gives up with a clear
#     message and exit 1; "amberctl umount VOLDIR" waits for it again, exit 0
#   - a daemon killed while flushing: exit 1, "without a clean shutdown"
#   - a busy mount (loop device on volume): exit 1, says what to look for,
#     stays mounted
#   - a dead mount (daemon killed before): a ctl command says the daemon is
#     gone; umount clears the mount and exits 1, pointing at fsck
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
FSCK=$AMBERFS_BUILD/fsck.amberfs
[[ -x $AMBERCTL ]] || amb_fail "amberctl not built in $AMBERFS_BUILD"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 256M
head -c $((64 << 20)) /dev/urandom >"$AMB_WORK/data"

# amb_forget MNT: the test reaps the daemon itself (it was our child).
amb_forget() {
  local pid=${AMB_PIDS[$1]}
  wait "$pid" 2>/dev/null || true
  unset "AMB_PIDS[$1]"
}
lock_is_free() { flock -n "$vol/lock" true; }
# In the mount table? (Unlike amb_is_mounted this does not touch the mount,
# which would hang on a stopped daemon and keep the mount busy.)
in_mount_table() { grep -qs " $1 fuse.amberfs " /proc/mounts; }

amb_log "umount waits for the flush of 64 MiB"
amb_mount "$vol" "$mnt" -o cache_size=256M,dirty_max=128M
pid=${AMB_PIDS[$mnt]}
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M conv=notrunc status=none
[[ $(amb_stat "$mnt" amberfs_dirty_bytes) -gt 0 ]] || amb_log "note: nothing dirty before umount"
"$AMBERCTL" umount "$mnt" || amb_fail "amberctl umount: exit $?"
kill -0 "$pid" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$pid/stat") != Z ]] && amb_fail "daemon still running after umount returned"
lock_is_free || amb_fail "the volume is still locked after umount returned"
[[ ! -e $vol/mounted ]] || amb_fail "volume marked unclean after umount returned"
amb_is_mounted "$mnt" && amb_fail "still mounted"
amb_forget "$mnt"
"$FSCK" "$vol" >"$AMB_WORK/fsck" || amb_fail "fsck right after umount: $(tail -3 "$AMB_WORK/fsck")"
cmp <(head -c $((64 << 20)) "$vol/image") "$AMB_WORK/data" || amb_fail "data not in the image"

amb_log "--timeout gives up on a daemon that cannot finish; umount VOLDIR waits again"
amb_mount "$vol" "$mnt"
pid=${AMB_PIDS[$mnt]}
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M seek=64 conv=notrunc status=none
kill -STOP "$pid"
start=$SECONDS
rc=0
"$AMBERCTL" umount --timeout 2 "$mnt" 2>"$AMB_WORK/err" || rc=$?
cat "$AMB_WORK/err"
[[ $rc == 1 ]] || amb_fail "umount of a stopped daemon: exit $rc, want 1"
((SECONDS - start <= 6)) || amb_fail "--timeout 2 took $((SECONDS - start)) s"
grep -q "daemon (pid $pid) is still flushing after 2 s" "$AMB_WORK/err" || amb_fail "timeout message"
grep -q "amberctl umount $vol" "$AMB_WORK/err" || amb_fail "the timeout message does not say how to wait again"
in_mount_table "$mnt" && amb_fail "still mounted after the timeout"
"$AMBERCTL" umount "$vol" 2>"$AMB_WORK/err" &
waiter=$!
sleep 1
kill -0 "$waiter" 2>/dev/null || amb_fail "umount VOLDIR returned while the daemon was stopped"
kill -CONT "$pid"
wait "$waiter" || amb_fail "umount VOLDIR after SIGCONT: exit $?, $(cat "$AMB_WORK/err")"
lock_is_free || amb_fail "locked after umount VOLDIR returned"
[[ ! -e $vol/mounted ]] || amb_fail "unclean after umount VOLDIR"
amb_forget "$mnt"
cmp <(dd if="$vol/image" bs=1M skip=64 count=64 status=none) "$AMB_WORK/data" || amb_fail "data not in the image"

amb_log "a daemon killed while unmounting: exit 1"
amb_mount "$vol" "$mnt"
pid=${AMB_PIDS[$mnt]}
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M count=8 conv=notrunc status=none
kill -STOP "$pid"
"$AMBERCTL" umount "$mnt" 2>"$AMB_WORK/err" &
waiter=$!
for _ in $(seq 100); do in_mount_table "$mnt" || break; sleep 0.05; done
kill -9 "$pid"
rc=0
wait "$waiter" || rc=$?
cat "$AMB_WORK/err"
[[ $rc == 1 ]] || amb_fail "umount of a killed daemon: exit $rc, want 1"
grep -q "daemon (pid $pid) exited without a clean shutdown" "$AMB_WORK/err" || amb_fail "verdict message"
grep -q "fsck.amberfs $vol" "$AMB_WORK/err" || amb_fail "the verdict does not point at fsck"
amb_forget "$mnt"

amb_log "a busy mount stays mounted"
amb_mount "$vol" "$mnt"
loop=$(losetup -f --show "$mnt/volume") || amb_skip "no loop device"
AMB_LOOPS+=("$loop")
rc=0
"$AMBERCTL" umount --timeout 5 "$mnt" 2>"$AMB_WORK/err" || rc=$?
cat "$AMB_WORK/err"
[[ $rc == 1 ]] || amb_fail "umount of a busy mount: exit $rc, want 1"
grep -q "is busy.*losetup -j $mnt/volume" "$AMB_WORK/err" || amb_fail "busy message"
amb_is_mounted "$mnt" || amb_fail "a busy mount was detached"
losetup -d "$loop"
"$AMBERCTL" umount "$mnt" || amb_fail "umount once no longer busy"
amb_forget "$mnt"

amb_log "a dead mount"
amb_mount "$vol" "$mnt"
kill -9 "${AMB_PIDS[$mnt]}"
amb_forget "$mnt"
rc=0
"$AMBERCTL" flush "$mnt" 2>"$AMB_WORK/err" || rc=$?
[[ $rc == 1 ]] && grep -q "the amberfs daemon is gone" "$AMB_WORK/err" || amb_fail "flush on a dead mount: $(cat "$AMB_WORK/err")"
rc=0
"$AMBERCTL" umount "$mnt" 2>"$AMB_WORK/err" || rc=$?
cat "$AMB_WORK/err"
[[ $rc == 1 ]] && grep -q "no daemon had $vol.*run fsck.amberfs" "$AMB_WORK/err" || amb_fail "umount of a dead mount"
grep -qs " $mnt fuse" /proc/mounts && amb_fail "the dead mount is still there"
amb_log "ok"
