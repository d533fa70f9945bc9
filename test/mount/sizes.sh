#!/usr/bin/env bash
# Sizes: mkfs accepts exactly the geometry a mount accepts, and every size
# option a mount cannot honour (a cache larger than this machine can hold, or
# too small for the volume's blocks) is a message and exit status 2, before
# anything is mounted.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
mkdir -p "$mnt"

amb_log "mkfs refuses chunk sizes a mount would refuse (exit 2, nothing created)"
for chunk in 512 1K 2K 128M; do
  rc=0
  "$MKFS" --size 16M --block-size 512 --chunk-size "$chunk" "$AMB_WORK/small-$chunk" 2>"$AMB_WORK/err" >/dev/null || rc=$?
  ((rc == 2)) || amb_fail "mkfs --chunk-size $chunk exited $rc (want 2): $(cat "$AMB_WORK/err")"
  grep -q "chunk size" "$AMB_WORK/err" || amb_fail "mkfs --chunk-size $chunk: no message"
  [[ ! -e $AMB_WORK/small-$chunk ]] || amb_fail "mkfs --chunk-size $chunk created the directory"
done
amb_log "the smallest chunk mkfs accepts mounts"
"$MKFS" --size 16M --block-size 512 --chunk-size 4K "$vol" >/dev/null
amb_mount "$vol" "$mnt" -o cache_size=1M
head -c 65536 /dev/urandom >"$AMB_WORK/data"
dd if="$AMB_WORK/data" of="$mnt/volume" bs=64K conv=notrunc,fsync status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot on a 4K-chunk volume failed"
cmp <(head -c 65536 "$mnt/snapshots/s1") "$AMB_WORK/data" || amb_fail "snapshot s1 differs"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"

amb_log "mount refuses caches this machine cannot hold, naming the limit (exit 2)"
mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
for opts in cache_size=15T cache_size=1T "cache_size=$((mem_kib * 3 / 4 / 1024))M" cache_size=4K \
            dirty_max=1G,cache_size=64M cache_size=64M,dirty_max=lots; do
  for mode in -f ""; do
    rc=0
    # shellcheck disable=SC2086
    timeout 30 "$AMBERFS" $mode "$vol" "$mnt" -o "$opts" >"$AMB_WORK/err" 2>&1 || rc=$?
    ((rc == 2)) || amb_fail "mount ${mode:+$mode }-o $opts exited $rc (want 2): $(cat "$AMB_WORK/err")"
    grep -qs " $mnt " /proc/mounts && amb_fail "a refused mount (-o $opts) left a mount behind"
    grep -q "Try 'amberfs --help'" "$AMB_WORK/err" || amb_fail "mount -o $opts: no usage message: $(cat "$AMB_WORK/err")"
  done
  case $opts in
    cache_size=15T|cache_size=1T|cache_size=*M)
      grep -q "is more than this machine can hold: at most .* memory limit" "$AMB_WORK/err" ||
        amb_fail "mount -o $opts does not say the limit: $(cat "$AMB_WORK/err")" ;;
    cache_size=4K)
      grep -q "fewer than 16 of this volume's 512 blocks: use at least 8K" "$AMB_WORK/err" ||
        amb_fail "mount -o $opts: $(cat "$AMB_WORK/err")" ;;
  esac
done
pgrep -f "$AMBERFS .*$vol" >/dev/null && amb_fail "a refused mount left a daemon running"

amb_log "a cache too small for the volume's blocks is a usage error too"
"$MKFS" --size 16M --block-size 64K --chunk-size 64K "$AMB_WORK/big-blocks" >/dev/null
rc=0
timeout 30 "$AMBERFS" -f "$AMB_WORK/big-blocks" "$mnt" -o cache_size=512K 2>"$AMB_WORK/err" || rc=$?
((rc == 2)) || amb_fail "cache_size=512K with 64K blocks exited $rc (want 2): $(cat "$AMB_WORK/err")"
grep -q "use at least 1M" "$AMB_WORK/err" || amb_fail "cache_size=512K: $(cat "$AMB_WORK/err")"
amb_log "ok"
