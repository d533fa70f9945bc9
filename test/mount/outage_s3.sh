#!/usr/bin/env bash
# The S3 slow store ($S3_BACKEND: s3rver by default; outage_rgw.sh runs this
# against radosgw) is down, then back:
#   1. down at mount time: the volume mounts (one warning naming the store
#      once), serves reads and writes, and a snapshot commits locally; the
#      server starts later, and drain completes; before that, a drain that
#      times out says why, naming the store URL once;
#   2. down in the middle of uploading 96 MiB: the server is killed 0.2 s
#      after the snapshot (uploads must still be waiting) and is back 3 s
#      later; drain completes. The mount's upload_rate=32M makes those
#      96 MiB take ~3 s, so the kill always finds uploads waiting: without a
#      limit radosgw once took all of them within the 0.2 s.
# No line of the daemon's log names the store URL more than once. Then fsck
# --slow is clean and a restore equals the last snapshot.
AMB_TIMEOUT=${AMB_TIMEOUT:-400}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/s3_backend.sh"
s3_test_setup || exit $?

url=$(s3_url amberfs-outage/v1) creds=$S3_CREDENTIALS vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
"$MKFS" --size 128M --slow "$url" --s3-credentials "$creds" "$vol" >/dev/null || amb_fail "mkfs failed"

amb_log "1. the store is down when the volume mounts"
s3_server_stop
start=$SECONDS
amb_mount "$vol" "$mnt" -o "cache_size=32M,s3_credentials=$creds,upload_rate=32M"
((SECONDS - start <= 8)) || amb_fail "the mount took $((SECONDS - start)) s with the store down"
warning=$(grep "slow store unusable for now" "$AMB_WORK/daemon.log") ||
  amb_fail "no warning that the store is down: $(tail -5 "$AMB_WORK/daemon.log")"
[[ $(grep -o "s3://amberfs-outage" <<<"$warning" | wc -l) == 1 ]] || amb_fail "the warning names the store more than once: $warning"
head -c $((4 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=1 conv=notrunc status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot s1 failed while the store is down"
cmp "$mnt/snapshots/s1" "$mnt/volume" || amb_fail "snapshots/s1 differs from the volume"
# A drain that cannot finish: its error (which quotes the last upload error)
# names the store exactly once.
exec 3<>"$mnt/ctl"
! echo "drain 1s" >&3 2>/dev/null || amb_fail "drain succeeded with the store down"
reply=$(cat <&3)
exec 3>&-
[[ $(grep -o -F "$url" <<<"$reply" | wc -l) == 1 ]] || amb_fail "the drain error does not name the store once: $reply"
amb_log "  drain with the store down: $reply"
s3_server_start || amb_fail "the S3 server did not start again"
echo drain >"$mnt/ctl" || amb_fail "drain after the store came up failed"
amb_log "  drained after the store came up"

amb_log "2. the store goes down in the middle of an upload"
head -c $((96 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=20 conv=notrunc status=none
cp "$mnt/volume" "$AMB_WORK/copy-s2"  # nothing writes until s2 is taken
echo snapshot s2 >"$mnt/ctl" || amb_fail "snapshot s2 failed"
sleep 0.2
s3_server_stop
pending=$(amb_stat "$mnt" amberfs_upload_pending)
amb_log "  the store went down with $pending uploads waiting"
((pending > 0)) || amb_fail "every upload was done before the store went down: the outage tested nothing"
sleep 3
s3_server_start || amb_fail "the S3 server did not start again"
start=$SECONDS
echo drain >"$mnt/ctl" || amb_fail "drain after the outage failed"
amb_log "  drained $((SECONDS - start)) s after the store came back"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
# No line of the daemon's log (outage warnings, upload and marker errors)
# names the store more than once.
while read -r line; do
  (($(grep -o -F "$url" <<<"$line" | wc -l) <= 1)) || amb_fail "a log line names the store more than once: $line"
done <"$AMB_WORK/daemon.log"
grep -q -F "$url" "$AMB_WORK/daemon.log" || amb_fail "no log line names the store: $(tail -5 "$AMB_WORK/daemon.log")"

"$AMBERFS_BUILD/fsck.amberfs" --slow --s3-credentials "$creds" "$vol" >"$AMB_WORK/fsck.out" ||
  amb_fail "fsck --slow after the outages: $(cat "$AMB_WORK/fsck.out")"
"$MKFS" --restore "$url" --s3-credentials "$creds" "$AMB_WORK/restored" >/dev/null || amb_fail "restore failed"
cmp "$AMB_WORK/restored/image" "$AMB_WORK/copy-s2" || amb_fail "restored image differs from s2"
amb_log "ok ($S3_BACKEND)"
