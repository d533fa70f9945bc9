#!/usr/bin/env bash
# upload_rate=: the uploads of a snapshot to the slow store keep to the rate.
#   - a bad value is a usage error (exit 2); upload_rate=0 is no limit
#   - 12 MiB of new chunks at upload_rate=3M: from the snapshot's start to
#     the end of its drain the slow store receives bytes at 3 MiB/s +-20%
#   - the same without the option drains well above that rate (so the
#     measurement would see a limit that did not work)
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 128M
mkdir -p "$mnt"

amb_log "bad values"
amb_refuses_options "$vol" "$mnt" upload_rate upload_rate=fast upload_rate=-1 upload_rate=1.5X
"$AMBERFS" --help | grep -q '^  upload_rate=SIZE' || amb_fail "--help lacks upload_rate"

# measure OPTS SEEK: writes 12 MiB of new data at SEEK MiB, snapshots and drains;
# prints the bytes per second the slow store received meanwhile.
measure() {
  amb_mount "$vol" "$mnt" -o "cache_size=32M${1:+,$1}"
  head -c $((12 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek="$2" conv=notrunc,fsync status=none
  "$AMBERCTL" drain "$mnt" 60 >/dev/null || amb_fail "drain before measuring"
  local b0 b1 t0 t1
  # From before the snapshot to the drain's end: the snapshot's one pack
  # starts uploading at its commit and, unlimited, is in the slow store
  # before a look after the snapshot could count it. The snapshot's own
  # hashing (~0.1 s) is a few percent of the limited run's 4 s.
  b0=$(amb_stat "$mnt" amberfs_uploaded_bytes_total)
  t0=$(date +%s.%N)
  "$AMBERCTL" snapshot "$mnt" >/dev/null || amb_fail "snapshot"
  "$AMBERCTL" drain "$mnt" 120 >/dev/null || amb_fail "drain"
  t1=$(date +%s.%N)
  b1=$(amb_stat "$mnt" amberfs_uploaded_bytes_total)
  amb_umount "$mnt" || amb_fail "unmount"
  awk -v b=$((b1 - b0)) -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d %.2f %.0f\n", b, t1 - t0, b / (t1 - t0) }'
}

amb_log "upload_rate=3M"
read -r bytes secs rate < <(measure upload_rate=3M 0)
amb_log "limited: $bytes bytes in $secs s = $rate B/s (want 3145728 +-20%)"
((bytes >= 6 << 20)) || amb_fail "only $bytes bytes uploaded during the drain (too few to measure)"
((rate >= 3145728 * 8 / 10 && rate <= 3145728 * 12 / 10)) || amb_fail "rate $rate B/s is not 3 MiB/s +-20%"

amb_log "no limit (upload_rate=0)"
read -r bytes secs rate < <(measure upload_rate=0 32)
amb_log "unlimited: $bytes bytes in $secs s = $rate B/s"
((rate > 3145728 * 3 / 2)) || amb_fail "the unlimited drain ($rate B/s) is not clearly faster than the limit"
amb_log "PASS"
