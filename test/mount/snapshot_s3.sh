#!/usr/bin/env bash
# A volume whose slow store is s3:// (s3rver on 127.0.0.1): snapshot, drain,
# then `mkfs.amberfs --restore s3://...` on a fresh VOLDIR gives an image
# identical to the snapshot.
source "$(dirname "$0")/lib.sh"
amb_setup

amb_start_s3rver "$AMB_WORK/s3data" 0
s3pid=$AMB_S3PID port=$AMB_S3PORT
url="s3://amberfs-test/vols?endpoint=http://127.0.0.1:$port"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M --slow "$url"
amb_mount "$vol" "$mnt" -o cache_size=16M
head -c $((8 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=2 conv=notrunc status=none
echo snapshot A >"$mnt/ctl" || amb_fail "snapshot A failed"
head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=40 conv=notrunc status=none
fallocate --punch-hole --offset $((4 << 20)) --length $((1 << 20)) "$mnt/volume"
echo snapshot B >"$mnt/ctl" || amb_fail "snapshot B failed"
cp "$mnt/volume" "$AMB_WORK/copy-b"
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "snapshots/B differs from the volume"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"

amb_log "restore from $url"
"$MKFS" --restore "$url" "$AMB_WORK/restored" || amb_fail "restore failed"
cmp "$AMB_WORK/restored/image" "$AMB_WORK/copy-b" || amb_fail "restored image differs from B"
amb_mount "$AMB_WORK/restored" "$mnt"
cmp "$mnt/volume" "$AMB_WORK/copy-b" || amb_fail "restored volume differs from B"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
kill "$s3pid"
amb_log "ok"
