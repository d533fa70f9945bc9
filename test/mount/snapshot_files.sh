#!/usr/bin/env bash
# snapshots/NAME files:
#   - an open snapshot file keeps reading the snapshot it opened after
#     `delete NAME; snapshot NAME` (or fails with ESTALE/EIO), never the new
#     one; a fresh open reads the new one;
#   - with -o allow_other another local user can reach the mount (stats) but
#     can neither list snapshots/ nor read a snapshot: they carry the volume's
#     owner and its mode without write bits.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 16M
amb_mount "$vol" "$mnt" -o cache_size=8M,allow_other
head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/a"
head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/b"

amb_log "an open snapshot file across delete and retake of its name"
dd if="$AMB_WORK/a" of="$mnt/volume" bs=1M conv=notrunc status=none
echo snapshot S >"$mnt/ctl" || amb_fail "snapshot S failed"
exec 3<"$mnt/snapshots/S"
cmp <(dd bs=1M count=1 status=none <&3) <(head -c $((1 << 20)) "$AMB_WORK/a") || amb_fail "first read of S"
dd if="$AMB_WORK/b" of="$mnt/volume" bs=1M conv=notrunc status=none
echo delete S >"$mnt/ctl" || amb_fail "delete S failed"
echo snapshot S >"$mnt/ctl" || amb_fail "second snapshot S failed"
# The rest of the open file, from where the first read left off.
if dd bs=1M status=none <&3 >"$AMB_WORK/rest" 2>"$AMB_WORK/err"; then
  cmp "$AMB_WORK/rest" <(tail -c +$(((1 << 20) + 1)) "$AMB_WORK/a") \
    || amb_fail "the open snapshot file switched content after delete and retake of its name"
  amb_log "the open file kept reading the first S"
else
  grep -qiE "stale|input/output" "$AMB_WORK/err" || amb_fail "the open snapshot file failed oddly: $(cat "$AMB_WORK/err")"
  amb_log "the open file failed with $(cat "$AMB_WORK/err")"
fi
exec 3<&-
cmp "$mnt/snapshots/S" "$AMB_WORK/b" || amb_fail "a fresh open of S does not read the new S"

amb_log "permissions with allow_other"
chmod 755 "$AMB_WORK"  # let the other user reach the mount point
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody cat "$mnt/stats" >/dev/null || amb_fail "nobody cannot read stats: the mount is not reachable, the test proves nothing"
as_nobody ls "$mnt/snapshots" >/dev/null 2>&1 && amb_fail "nobody can list snapshots/"
as_nobody head -c 4096 "$mnt/snapshots/S" >/dev/null 2>&1 && amb_fail "nobody can read a snapshot"
as_nobody head -c 4096 "$mnt/volume" >/dev/null 2>&1 && amb_fail "nobody can read the volume"
read -r vmode vuid vgid <<<"$(stat -c '%a %u %g' "$mnt/volume")"
read -r smode suid sgid <<<"$(stat -c '%a %u %g' "$mnt/snapshots/S")"
read -r dmode <<<"$(stat -c '%a' "$mnt/snapshots")"
amb_log "volume $vmode $vuid:$vgid, snapshots/S $smode $suid:$sgid, snapshots/ $dmode"
[[ $suid == "$vuid" && $sgid == "$vgid" ]] || amb_fail "snapshot owner $suid:$sgid is not the volume's $vuid:$vgid"
[[ $smode == 400 && $dmode == 500 ]] || amb_fail "snapshot mode $smode, directory $dmode (want 400 and 500 for a 600 volume)"
head -c 4096 "$mnt/snapshots/S" >/dev/null || amb_fail "the owner cannot read a snapshot"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
