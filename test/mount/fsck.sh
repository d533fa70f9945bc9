#!/usr/bin/env bash
# fsck.amberfs on a real volume: clean after mkfs and after a mount; a mounted
# volume is checked read-only and -y is refused (exit 8); a missing image is
# exit 4; the progress bar appears only on a terminal. When the mount takes
# snapshots (ctl "snapshot"), also: --read-data clean, a flipped byte found
# with --read-data and repaired from the slow store, and an image changed
# behind amberfs's back found and its chunk marked by -y.
source "$(dirname "$0")/lib.sh"
amb_setup
FSCK=$AMBERFS_BUILD/fsck.amberfs
[[ -x $FSCK ]] || amb_fail "fsck.amberfs not built"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt out=$AMB_WORK/fsck.out

# fsck_expect CODE ARGS...: runs fsck.amberfs, which must exit CODE.
fsck_expect() {
  local want=$1 rc=0
  shift
  "$FSCK" --no-progress "$@" >"$out" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || { cat "$out" >&2; amb_fail "fsck.amberfs $* exited $rc, expected $want"; }
}

amb_log "fresh volume"
amb_mkfs "$vol" 64M
fsck_expect 0 "$vol"
grep -q "No errors were found on the volume." "$out" || amb_fail "no clean summary"
fsck_expect 0 --json "$vol"
grep -q '"exit_code": 0' "$out" || amb_fail "JSON lacks exit_code 0"
fsck_expect 16 -n -y "$vol"
fsck_expect 8 "$AMB_WORK"

amb_log "mounted: read-only check works, repair is refused"
amb_mount "$vol" "$mnt"
head -c $((4 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
fsck_expect 0 "$vol"
grep -q "mounted: checked read-only" "$out" || amb_fail "the report does not say the volume is mounted"
fsck_expect 8 -y "$vol"
grep -q "is mounted" "$out" || amb_fail "refusal does not say why"

snapshots=0
if exec 3<>"$mnt/ctl" && echo "snapshot one" >&3 2>/dev/null; then snapshots=1; fi
exec 3>&-
if [[ $snapshots -eq 1 ]]; then
  echo drain >"$mnt/ctl"
  head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=8 conv=notrunc,fsync status=none
  echo "snapshot two" >"$mnt/ctl"
  echo drain >"$mnt/ctl"
fi
amb_umount "$mnt" || amb_fail "unmount failed"
fsck_expect 0 -y "$vol"
fsck_expect 0 --read-data --slow "$vol"

if [[ $snapshots -eq 1 ]]; then
  amb_log "snapshots: a flipped byte in a blob in a pack, found only with --read-data"
  # The first blob of the largest pack starts at offset 0 (docs/FORMATS.md, "Packs").
  pack=$(find "$vol/fast/packs" -type f ! -name '.*' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
  [[ -n $pack ]] || amb_fail "no pack in the fast store"
  amb_flip_byte "$pack" 100 || amb_fail "flip a byte of $pack"
  fsck_expect 0 "$vol"
  fsck_expect 4 --read-data "$vol"
  grep -q "ERROR corrupt-blob" "$out" || amb_fail "no corrupt-blob line"
  fsck_expect 1 -y --read-data "$vol"
  fsck_expect 0 --read-data "$vol"

  amb_log "snapshots: the image changed behind amberfs's back"
  head -c 65536 /dev/urandom | dd of="$vol/image" bs=64K seek=3 conv=notrunc status=none
  fsck_expect 4 "$vol"
  grep -q "ERROR change-tracking" "$out" || amb_fail "no change-tracking line"
  fsck_expect 1 -y "$vol"
  fsck_expect 0 "$vol"
else
  echo "SKIP: fsck snapshot damage at mount level (this mount has no 'snapshot' ctl command yet; covered by unit tests)"
fi

amb_log "progress bar on a terminal only"
"$FSCK" "$vol" >/dev/null 2>"$AMB_WORK/err" || amb_fail "fsck failed"
if grep -q '\[#' "$AMB_WORK/err"; then amb_fail "progress bar drawn without a terminal"; fi
if command -v script >/dev/null; then
  script -qec "$FSCK --read-data $vol" /dev/null >"$AMB_WORK/tty" 2>&1 || true
  grep -q 'trees' "$AMB_WORK/tty" || amb_fail "no progress bar on a terminal"
fi

amb_log "missing and wrong-size image"
mv "$vol/image" "$AMB_WORK/image.saved"
fsck_expect 4 "$vol"
grep -q "image is missing" "$out" || amb_fail "missing image not named"
truncate -s 32M "$vol/image"
fsck_expect 4 -y "$vol"
grep -q "image is 33554432 bytes but the volume is 67108864 bytes" "$out" || amb_fail "wrong size not named"
mv "$AMB_WORK/image.saved" "$vol/image"
fsck_expect 0 "$vol"
amb_log "ok"
