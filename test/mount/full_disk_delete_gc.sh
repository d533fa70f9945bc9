#!/usr/bin/env bash
# Delete and gc on a full file system, with nothing freed first: they are how
# a user frees space, so their own writes (the gc marker, upload-log records)
# must find room. The room comes from VOLDIR/reserve (base/space_reserve.h).
# The delete of the snapshot that is the base is the documented exception:
# ENOSPC, nothing changed. Gc gives the fast store's space back while the
# volume stays mounted: the packs none of whose blobs is live are removed
# (fast/packs/ holds fewer files, du of fast/ shrinks), then, with room
# again, the base is deleted too and gc run again.
source "$(dirname "$0")/lib.sh"
amb_setup
fs=$AMB_WORK/fs mnt=$AMB_WORK/mnt vol=$AMB_WORK/fs/vol
amb_small_fs 96M "$fs"
amb_mkfs "$vol" 256M
ctl() { echo "$*" >"$mnt/ctl" 2>"$AMB_WORK/ctl.err"; }
packs() { ls "$vol/fast/packs" | grep -cE '^[0-9a-f]{64}$' || true; }
fast_bytes() { du -s --block-size=1 "$vol/fast" | cut -f1; }

amb_log "s1 and s2 over the same 8M, s1's blobs only s1 reaches"
head -c $((8 << 20)) /dev/urandom >"$AMB_WORK/a"
head -c $((8 << 20)) /dev/urandom >"$AMB_WORK/b"
amb_mount "$vol" "$mnt" -o cache_size=16M
dd if="$AMB_WORK/a" of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
ctl snapshot s1 || amb_fail "snapshot s1 failed"
dd if="$AMB_WORK/b" of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
ctl snapshot s2 || amb_fail "snapshot s2 failed"
ctl drain || amb_fail "drain failed"

amb_log "fill the file system with a filler file beside the volume"
dd if=/dev/zero of="$fs/filler" bs=4k status=none 2>/dev/null && amb_fail "the filler did not fill the file system"
for i in $(seq 64); do : >"$fs/filler.$i" 2>/dev/null && echo x >>"$fs/filler.$i" 2>/dev/null || break; done
before=$(amb_free_bytes "$fs")
amb_log "file system full: $before bytes free"
packs0=$(packs) fast0=$(fast_bytes)
amb_log "fast store: $packs0 packs, $fast0 bytes"
((before < (1 << 20))) || amb_fail "the file system is not full ($before bytes free)"

amb_log "delete of the base snapshot s2: ENOSPC, nothing changed"
ctl delete s2 && amb_fail "deleting the base snapshot on a full disk succeeded"
grep -q "No space left" "$AMB_WORK/ctl.err" || amb_fail "delete s2: not ENOSPC: $(cat "$AMB_WORK/ctl.err")"
grep -q "delete other snapshots and run gc first" "$AMB_WORK/daemon.log" ||
  amb_fail "delete s2: the log does not say what to do: $(grep 'ctl: delete' "$AMB_WORK/daemon.log" | tail -1)"
[[ -e $mnt/snapshots/s2 ]] || amb_fail "the refused delete removed s2"

amb_log "delete s1 and gc, with nothing freed first"
ctl delete s1 || amb_fail "delete s1 on a full disk failed: $(cat "$AMB_WORK/ctl.err"); $(tail -2 "$AMB_WORK/daemon.log")"
ctl gc || amb_fail "gc on a full disk failed: $(cat "$AMB_WORK/ctl.err"); $(grep 'ctl: gc' "$AMB_WORK/daemon.log" | tail -1)"
after=$(amb_free_bytes "$fs")
amb_log "free: $before -> $after bytes"
# What gc freed is taken at once by what waited for room (write-back, uploads,
# the reserve), so count what it deleted: s1's 8M of chunks, in both stores.
swept=$(sed -n 's/.*gc: [0-9]* blobs reachable, \([0-9]*\) deleted from the slow store.*/\1/p' "$AMB_WORK/daemon.log" | tail -1)
((${swept:-0} >= 128)) || amb_fail "gc deleted ${swept:-no} blobs of s1's 128 chunks: $(grep 'gc:' "$AMB_WORK/daemon.log" | tail -1)"
((after > before)) || amb_fail "delete and gc freed nothing ($before -> $after)"
[[ $(stat -c %s "$vol/reserve") -eq $((4 << 20)) ]] || amb_fail "gc did not make the reserve whole: $(stat -c %s "$vol/reserve")"
packs1=$(packs) fast1=$(fast_bytes)
amb_log "fast store after delete s1 and gc, still mounted: $packs0 -> $packs1 packs, $fast0 -> $fast1 bytes"
((packs1 < packs0)) || amb_fail "gc removed no pack from fast/packs ($packs0 -> $packs1)"
# s1's 8M of chunks: at least 4M of it must be gone from fast/.
((fast1 + (4 << 20) <= fast0)) || amb_fail "gc did not shrink fast/ ($fast0 -> $fast1 bytes)"
freed=$(sed -n 's/.*gc: .* from the fast store, \([0-9]*\) slow-store and \([0-9]*\) fast-store bytes freed.*/\1 \2/p' "$AMB_WORK/daemon.log" | tail -1)
read -r freed_slow freed_fast <<<"$freed"
((${freed_fast:-0} >= (4 << 20))) || amb_fail "gc reports ${freed_fast:-no} fast-store bytes freed: $(grep 'gc:' "$AMB_WORK/daemon.log" | tail -1)"
# s1's pack goes from the slow store too (it is the same pack).
((${freed_slow:-0} >= (4 << 20))) || amb_fail "gc reports ${freed_slow:-no} slow-store bytes freed: $(grep 'gc:' "$AMB_WORK/daemon.log" | tail -1)"

cmp <(head -c $((8 << 20)) "$mnt/volume") "$AMB_WORK/b" || amb_fail "acknowledged data differs after gc"
cmp <(head -c $((8 << 20)) "$mnt/snapshots/s2") "$AMB_WORK/b" || amb_fail "snapshot s2 differs after gc"
[[ ! -e $mnt/snapshots/s1 ]] || amb_fail "s1 still listed"

amb_log "room again: delete the base s2 too (every snapshot gone) and gc, still mounted"
rm -f "$fs"/filler*
ctl delete s2 || amb_fail "delete s2 failed: $(cat "$AMB_WORK/ctl.err")"
ctl gc || amb_fail "gc failed: $(cat "$AMB_WORK/ctl.err")"
packs2=$(packs) fast2=$(fast_bytes)
amb_log "fast store after deleting every snapshot and gc: $packs0 -> $packs2 packs, $fast0 -> $fast2 bytes"
((packs2 <= packs1 && packs2 < packs0)) || amb_fail "packs after deleting every snapshot: $packs0 -> $packs1 -> $packs2"
((fast2 < fast0)) || amb_fail "fast/ did not shrink: $fast0 -> $fast2 bytes"
cmp <(head -c $((8 << 20)) "$mnt/volume") "$AMB_WORK/b" || amb_fail "acknowledged data differs after the second gc"
amb_umount "$mnt" || amb_fail "unmount did not exit 0: $(tail -3 "$AMB_WORK/daemon.log")"
"$AMBERFS_BUILD/fsck.amberfs" -n "$vol" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck: $(tail -5 "$AMB_WORK/fsck.out")"
grep -q "orphan pack" "$AMB_WORK/fsck.out" && amb_fail "fsck finds orphan packs gc left: $(grep 'orphan pack' "$AMB_WORK/fsck.out" | head -2)"
amb_log "ok"
