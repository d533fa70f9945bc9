#!/usr/bin/env bash
# A rollback that fails midway (one of the target's chunks is in no store):
#   - the kernel's cached pages of volume are dropped anyway (page_cache
#     mount: a read through a file opened before the rollback equals an
#     O_DIRECT read after the failure);
#   - the volume knows it is half rolled back: VOLDIR/rollback-intent exists,
#     stats says amberfs_rollback_unfinished 1, writes fail with EROFS and
#     snapshots with EBUSY;
#   - fsck reports it; a read-only mount refuses the volume;
#   - once the chunk is back, the next read-write mount finishes the rollback
#     (the volume is the snapshot) and fsck is clean again.
source "$(dirname "$0")/lib.sh"
amb_setup
FSCK=$AMBERFS_BUILD/fsck.amberfs

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
# No codec, so a chunk's blob is named by the SHA-256 of its bytes (found below).
amb_mkfs "$vol" 16M --compress none
chunk=$(awk '$1 == "chunk_size" { print $2 }' "$vol/config")
amb_mount "$vol" "$mnt" -o cache_size=8M,page_cache
head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/a"
dd if="$AMB_WORK/a" of="$mnt/volume" bs=1M conv=notrunc status=none
echo snapshot A >"$mnt/ctl" || amb_fail "snapshot A failed"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
head -c $((16 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc status=none
echo snapshot B >"$mnt/ctl" || amb_fail "snapshot B failed"
# An open file of volume kept across the rollback, as a VM's would be (each
# open drops the cached pages; reads through an open file do not), and B's
# pages in the kernel's page cache.
exec 4<"$mnt/volume"
cat "$mnt/volume" >/dev/null

# Chunk 100 of A (a blob named by its SHA-256) goes missing from both stores:
# its pack, in the fast store and in the slow one (the pack object; its
# index object stays, so the slow store still says where the blob was).
hex=$(dd if="$AMB_WORK/a" bs="$chunk" skip=100 count=1 status=none | sha256sum | cut -c1-64)
mkdir -p "$AMB_WORK/aside"
read -r pack _ < <(amb_pack_of "$vol" "$hex") || amb_fail "chunk 100 of A is in no pack of the fast store"
read -r f _ < <(amb_pack_in "$vol/archive/packs" "$hex") || amb_fail "chunk 100 of A is in no pack of the slow store"
mv "$pack" "$AMB_WORK/aside/fast"
mv "$f" "$AMB_WORK/aside/archive"
echo rollback A >"$mnt/ctl" 2>"$AMB_WORK/err" && amb_fail "the rollback succeeded without chunk 100"
amb_log "rollback failed as it should: $(cat "$AMB_WORK/err")"

cmp <(cat <&4) <(dd if="$mnt/volume" bs=1M iflag=direct status=none) \
  || amb_fail "after the failed rollback the page cache still holds the old volume"
exec 4<&-
cmp -s "$mnt/volume" "$AMB_WORK/a" && amb_fail "the volume is A although chunk 100 is missing"
[[ -e $vol/rollback-intent ]] || amb_fail "no rollback intent after the failed rollback"
[[ $(amb_stat "$mnt" amberfs_rollback_unfinished) == 1 ]] || amb_fail "stats does not say the rollback is unfinished"
dd if=/dev/zero of="$mnt/volume" bs=4096 count=1 conv=notrunc status=none 2>"$AMB_WORK/err" \
  && amb_fail "a write was accepted on a half rolled-back volume"
grep -q "Read-only file system" "$AMB_WORK/err" || amb_fail "write: $(cat "$AMB_WORK/err")"
echo snapshot C >"$mnt/ctl" 2>/dev/null && amb_fail "a snapshot of a half rolled-back volume was taken"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"

out=$("$FSCK" -n "$vol" 2>&1) && amb_fail "fsck is clean on a half rolled-back volume"
grep -q "rollback to A did not finish" <<<"$out" || amb_fail "fsck does not report the rollback: $out"
mkdir -p "$AMB_WORK/ro"
"$AMBERFS" -f -o ro "$vol" "$AMB_WORK/ro" >"$AMB_WORK/ro.out" 2>&1 && amb_fail "a read-only mount of a half rolled-back volume"
grep -q "did not finish" "$AMB_WORK/ro.out" || amb_fail "read-only mount: $(cat "$AMB_WORK/ro.out")"

amb_log "chunk 100 back; the next mount finishes the rollback"
mv "$AMB_WORK/aside/fast" "$pack"
mv "$AMB_WORK/aside/archive" "$f"
amb_mount "$vol" "$mnt" -o cache_size=8M,page_cache
cmp "$mnt/volume" "$AMB_WORK/a" || amb_fail "the mount did not finish the rollback to A"
[[ ! -e $vol/rollback-intent ]] || amb_fail "the rollback intent is still there"
echo snapshot C >"$mnt/ctl" || amb_fail "snapshot C after the finished rollback"
dd if=/dev/zero of="$mnt/volume" bs=4096 count=1 conv=notrunc,fsync status=none || amb_fail "write after the rollback"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
"$FSCK" -n "$vol" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck after the finished rollback: $(tail -3 "$AMB_WORK/fsck.out")"
grep -q "finished the rollback to A" "$AMB_WORK/daemon.log" || amb_fail "the mount did not log the finished rollback"
amb_log "ok"
