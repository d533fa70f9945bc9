#!/usr/bin/env bash
# A foreground daemon stopped with SIGTERM or SIGINT unmounts, writes every
# dirty block to the image, clears its unclean marker and exits 0.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/data"

for sig in TERM INT; do
  amb_log "SIG$sig"
  # A large dirty cap keeps the data in the cache until the signal.
  amb_mount "$vol" "$mnt" -o cache_size=64M,dirty_max=60M
  pid=${AMB_PIDS[$mnt]}
  [[ -e $vol/mounted ]] || amb_fail "no unclean marker while mounted"
  dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M conv=notrunc status=none
  kill -s "$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  unset "AMB_PIDS[$mnt]"
  [[ $rc == 0 ]] || amb_fail "SIG$sig: daemon exited $rc"
  grep -qs " $mnt " /proc/mounts && amb_fail "SIG$sig: still mounted"
  [[ ! -e $vol/mounted ]] || amb_fail "SIG$sig: unclean marker left"
  cmp <(head -c $((16 << 20)) "$vol/image") "$AMB_WORK/data" || amb_fail "SIG$sig: data not in the image"
  head -c $((16 << 20)) /dev/urandom >"$AMB_WORK/data"
done
amb_log "ok"
