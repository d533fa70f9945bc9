#!/usr/bin/env bash
# pack_size=: the size at which new packs are sealed.
#   - a bad value (none, not a size, below 1M, above 64M) is a usage error
#     (exit 2) naming the option; --help lists it
#   - 6 MiB of new chunks under pack_size=1M: the snapshot's packs, in the
#     fast store and in the (file://) slow store, are 1 MiB to 1 MiB + one
#     chunk and its tail, and there are at least six of them
#   - remounted without the option, 6 MiB more go into one pack (the default
#     16M is not reached): the option is the mount's, not the volume's
#   - every byte reads back; fsck finds the volume clean
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
mkdir -p "$mnt"

amb_log "bad values"
amb_refuses_options "$vol" "$mnt" pack_size pack_size= pack_size=big pack_size=512K pack_size=65M pack_size=1G
"$AMBERFS" --help | grep -q '^  pack_size=SIZE' || amb_fail "--help lacks pack_size"

# pack_sizes DIR: the sizes of the pack files under DIR, one a line, sorted.
pack_sizes() { find "$1" -type f ! -name '.*' -printf '%s\n' | sort -n; }

head -c $((12 << 20)) /dev/urandom >"$AMB_WORK/data"

amb_log "pack_size=1M"
amb_mount "$vol" "$mnt" -o cache_size=32M,pack_size=1M
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M count=6 conv=notrunc,fsync status=none
"$AMBERCTL" snapshot "$mnt" small >/dev/null || amb_fail "snapshot small"
"$AMBERCTL" drain "$mnt" 60 >/dev/null || amb_fail "drain small"
amb_umount "$mnt" || amb_fail "unmount"
for dir in "$vol/fast/packs" "$vol/archive/packs"; do
  mapfile -t sizes < <(pack_sizes "$dir")
  amb_log "$dir: ${#sizes[@]} packs: ${sizes[*]}"
  ((${#sizes[@]} >= 6)) || amb_fail "$dir: ${#sizes[@]} packs for 6 MiB at pack_size=1M, want at least 6"
  # Every full pack: 1 MiB of chunks at least, at most one chunk more and its tail.
  full=0
  for s in "${sizes[@]}"; do
    ((s <= (1 << 20) + (64 << 10) + (16 << 10))) || amb_fail "$dir: a pack of $s bytes at pack_size=1M"
    ((s >= 1 << 20)) && full=$((full + 1))
  done
  ((full >= 5)) || amb_fail "$dir: only $full packs of 1 MiB or more"
done

amb_log "default pack size"
amb_mount "$vol" "$mnt" -o cache_size=32M
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M skip=6 seek=6 count=6 conv=notrunc,fsync status=none
"$AMBERCTL" snapshot "$mnt" big >/dev/null || amb_fail "snapshot big"
"$AMBERCTL" drain "$mnt" 60 >/dev/null || amb_fail "drain big"
largest=$(pack_sizes "$vol/fast/packs" | tail -1)
amb_log "largest fast pack now: $largest bytes"
((largest >= 6 << 20)) || amb_fail "the default mount sealed packs of at most $largest bytes (6 MiB of chunks in one batch)"
cmp -n $((12 << 20)) "$AMB_WORK/data" "$mnt/volume" || amb_fail "the volume does not read back"
amb_umount "$mnt" || amb_fail "unmount"

"$AMBERFS_BUILD/fsck.amberfs" -n "$vol" >"$AMB_WORK/fsck.out" 2>&1 || { cat "$AMB_WORK/fsck.out"; amb_fail "fsck -n: exit $?"; }
amb_log "PASS"
