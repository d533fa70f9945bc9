#!/usr/bin/env bash
# The stores' files on a real mount:
#   - a file:// slow store, the fast store and upload.log are private to the
#     owner (0700 directories, 0600 files), like the volume directory;
#   - after a kill -9 in the middle of a snapshot, the next mount removes the
#     temp files it left (packs being written) with one log line for all of
#     them (not one each).
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt archive=$AMB_WORK/archive
chmod 755 "$AMB_WORK"
amb_mkfs "$vol" 256M --slow "file://$archive"
amb_mount "$vol" "$mnt" -o cache_size=32M
head -c $((8 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot failed"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
open=$(find "$archive" "$vol/fast" "$vol/upload.log" -perm /077 | sed -n 1,5p)
[[ -z $open ]] || amb_fail "readable by others: $open"
[[ $(stat -c %a "$archive") == 700 ]] || amb_fail "slow store directory is $(stat -c %a "$archive")"
[[ $(stat -c %a "$vol/upload.log") == 600 ]] || amb_fail "upload.log is $(stat -c %a "$vol/upload.log")"
amb_log "file:// store, fast store and upload.log: nothing open to others"

temps() { find "$vol/fast" -name '.*' -type f | wc -l; }
left=0
for attempt in 1 2 3; do
  head -c $((96 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=16 conv=notrunc,fsync status=none
  (echo snapshot "k$attempt" >"$mnt/ctl") 2>/dev/null &
  snap_pid=$!
  # The snapshot's blobs go into packs: a few temp files (the packs being
  # written), each there from its first blob until the commit seals it.
  for _ in $(seq 500); do
    (($(temps) >= 1)) && break
    sleep 0.01
  done
  amb_kill9 "$mnt"
  wait "$snap_pid" || true
  left=$(temps)
  amb_log "attempt $attempt: the kill left $left temp files"
  lines_before=$(wc -l <"$AMB_WORK/daemon.log")
  amb_mount "$vol" "$mnt" -o cache_size=32M
  ((left > 0)) && break
done
((left > 0)) || amb_skip "no kill -9 landed while the snapshot had temp files (3 tries)"
new_lines=$(tail -n +"$((lines_before + 1))" "$AMB_WORK/daemon.log")
n=$(grep -c 'temp file' <<<"$new_lines" || true)
[[ $n == 1 ]] || amb_fail "$n log lines about temp files, want 1: $(grep 'temp file' <<<"$new_lines" | head -3)"
grep -q "removed $left leftover temp files" <<<"$new_lines" || amb_fail "the line does not give the count $left"
(($(temps) == 0)) || amb_fail "temp files left after the mount"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
