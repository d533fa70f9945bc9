#!/usr/bin/env bash
# What the daemon says, and when:
#   - `-o max_read=1`: the mount (daemonized) comes up and serves, or fails
#     with an exit status; it never reports success and then dies;
#   - an option the kernel refuses fails the mount and is named;
#   - "mounted" is logged only for a mount that serves;
#   - a ctl command with control or high bytes is logged escaped (\xNN),
#     never with its raw bytes.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 16M
mkdir -p "$mnt"
head -c $((1 << 20)) /dev/urandom >"$AMB_WORK/data"

amb_log "max_read=1, daemonized"
"$AMBERFS" -o max_read=1 "$vol" "$mnt" >"$AMB_WORK/out" 2>&1 || amb_fail "mount with max_read=1 failed: $(cat "$AMB_WORK/out")"
AMB_FUSE_MOUNTS+=("$mnt")
sleep 0.5  # a mount that reported success too early dies right after
amb_is_mounted "$mnt" || amb_fail "the max_read=1 mount reported success, then went away"
dd if="$AMB_WORK/data" of="$mnt/volume" conv=notrunc,nocreat,fsync status=none 2>"$AMB_WORK/err" \
  || amb_fail "the max_read=1 mount said it was mounted but does not serve: $(cat "$AMB_WORK/err")"
cmp <(head -c $((1 << 20)) "$mnt/volume") "$AMB_WORK/data" || amb_fail "max_read=1: read back differs"
fusermount3 -u "$mnt"
for _ in $(seq 100); do [[ -e $vol/mounted ]] || break; sleep 0.1; done

amb_log "an option the kernel refuses"
if "$AMBERFS" -f -o blksize=512 "$vol" "$mnt" >"$AMB_WORK/out" 2>&1; then amb_fail "blksize=512 mounted"; fi
grep -q "blksize=512" "$AMB_WORK/out" || amb_fail "the refused option is not named: $(cat "$AMB_WORK/out")"
grep -q "mounted" "$AMB_WORK/out" && amb_fail "a refused mount logged 'mounted': $(cat "$AMB_WORK/out")"
grep -qs " $mnt " /proc/mounts && amb_fail "still mounted after a refused mount"

amb_log "ctl commands with control and high bytes"
amb_mount "$vol" "$mnt"
printf 'fr\xc2\x9b31mob\n' >"$mnt/ctl" 2>/dev/null && amb_fail "an unknown command succeeded"
printf 'delete \xe2\x80\xae\x1b[2Jevil\n' >"$mnt/ctl" 2>/dev/null && amb_fail "a command with ESC succeeded"
printf 'delete \xe2\x80\xaeevil\n' >"$mnt/ctl" 2>/dev/null && amb_fail "delete of a bad name succeeded"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
grep -F 'fr\xc2\x9b31mob' "$AMB_WORK/daemon.log" >/dev/null || amb_fail "the unknown command is not logged escaped: $(grep ctl: "$AMB_WORK/daemon.log")"
if LC_ALL=C grep -n -P '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$AMB_WORK/daemon.log" >&2; then
  amb_fail "raw control or high bytes in the daemon's log"
fi
grep -c "ctl:" "$AMB_WORK/daemon.log" | grep -qx 3 || amb_fail "not 3 ctl errors logged: $(grep ctl: "$AMB_WORK/daemon.log")"
n=$(grep -c "info: mounted" "$AMB_WORK/daemon.log")
((n == 1)) || amb_fail "'mounted' logged $n times for one mount"
amb_log "ok"
