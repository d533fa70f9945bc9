#!/usr/bin/env bash
# A volume whose slow store is S3 on 127.0.0.1 ($S3_BACKEND: s3rver by
# default; snapshot_rgw.sh runs this against radosgw), on a server that has no
# bucket yet: mkfs creates the bucket; mount, snapshot, drain; fsck --slow is
# clean and costs at most N/100 + snapshots x 10 requests for N objects (as
# fsck counts them, and on radosgw as its access log counts them); delete +
# gc keeps what the other snapshot needs; a restore on a fresh VOLDIR gives an
# image identical to the snapshot, and mounts.
AMB_TIMEOUT=${AMB_TIMEOUT:-300}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/s3_backend.sh"
s3_test_setup || exit $?

url=$(s3_url amberfs-test/vols) creds=$S3_CREDENTIALS vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt

"$MKFS" --size 64M --slow "$url" --s3-credentials "$creds" "$vol" >"$AMB_WORK/mkfs.out" ||
  amb_fail "mkfs failed: $(cat "$AMB_WORK/mkfs.out")"
grep -q "slow store $url (bucket amberfs-test created)" "$AMB_WORK/mkfs.out" ||
  amb_fail "mkfs did not say it created the bucket: $(cat "$AMB_WORK/mkfs.out")"

amb_mount "$vol" "$mnt" -o "cache_size=16M,s3_credentials=$creds"
head -c $((8 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=2 conv=notrunc status=none
echo snapshot A >"$mnt/ctl" || amb_fail "snapshot A failed"
cp "$mnt/volume" "$AMB_WORK/copy-a"
head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=40 conv=notrunc status=none
head -c $((2 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=3 conv=notrunc status=none
fallocate --punch-hole --offset $((6 << 20)) --length $((1 << 20)) "$mnt/volume"
echo snapshot B >"$mnt/ctl" || amb_fail "snapshot B failed"
cp "$mnt/volume" "$AMB_WORK/copy-b"
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "snapshots/B differs from the volume"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"

# fsck_slow NAME: fsck --slow must be clean and within its request bound.
fsck_slow() {
  local before after out=$AMB_WORK/fsck-$1.json
  before=$(s3_server_requests)
  "$AMBERFS_BUILD/fsck.amberfs" --slow --json --s3-credentials "$creds" "$vol" >"$out" ||
    amb_fail "fsck --slow ($1) exit $?: $(cat "$out")"
  after=$(s3_server_requests)
  local requests listed snapshots packs bound
  requests=$(sed -n 's/.*"slow_requests": \([0-9]*\).*/\1/p' "$out")
  listed=$(sed -n 's/.*"slow_blobs_listed": \([0-9]*\).*/\1/p' "$out")
  snapshots=$(sed -n 's/.*"snapshots": \([0-9]*\).*/\1/p' "$out")
  packs=$(sed -n 's/.*"slow_packs": \([0-9]*\).*/\1/p' "$out")
  [[ -n $requests && -n $listed && -n $snapshots && -n $packs ]] || amb_fail "fsck --json lacks the counts: $(cat "$out")"
  # Listings cost one request per 1000 names (N/100 is generous), each pack
  # one GET of its index object (the map of where blobs lie; packs/ and
  # index/ are two more listings), each snapshot a few reads.
  bound=$((listed / 100 + packs + 2 + snapshots * 10))
  local logged=""
  [[ -n $before ]] && logged=", $((after - before)) in the server log"
  amb_log "fsck --slow ($1): $requests requests (fsck's count)$logged, $listed blobs listed," \
    "$snapshots snapshots, bound $bound"
  ((listed > 100)) || amb_fail "fsck listed only $listed blobs"
  ((requests > 0 && requests <= bound)) || amb_fail "fsck --slow made $requests requests, more than $bound"
  if [[ -n $before ]]; then
    ((after - before <= bound)) || amb_fail "the server logged $((after - before)) requests, more than $bound"
  fi
}
fsck_slow "after drain"

amb_log "delete A, gc: B's blobs stay"
amb_mount "$vol" "$mnt" -o "cache_size=16M,s3_credentials=$creds"
echo delete A >"$mnt/ctl" || amb_fail "delete A failed"
exec 3<>"$mnt/ctl"
echo gc >&3 || amb_fail "gc failed"
amb_log "gc: $(cat <&3)"
exec 3>&-
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "snapshots/B changed after gc"
[[ ! -e $mnt/snapshots/A ]] || amb_fail "snapshots/A still listed after delete"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
fsck_slow "after gc"

amb_log "restore from $url"
"$MKFS" --restore "$url" --s3-credentials "$creds" "$AMB_WORK/restored" || amb_fail "restore failed"
cmp "$AMB_WORK/restored/image" "$AMB_WORK/copy-b" || amb_fail "restored image differs from B"
amb_mount "$AMB_WORK/restored" "$mnt" -o "s3_credentials=$creds"
cmp "$mnt/volume" "$AMB_WORK/copy-b" || amb_fail "restored volume differs from B"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok ($S3_BACKEND)"
