#!/usr/bin/env bash
# Point-in-time under load: an ext4 on a loop device over volume, snapshotted
# in a loop while a tree is being copied in (and synced now and then). Each
# snapshot is a crash-consistent image, so `e2fsck -fn` passes on it, as on
# the image of a machine that lost power at that instant (the journal is
# replayed by e2fsck into a scratch copy first, as a mount would).
source "$(dirname "$0")/lib.sh"
amb_setup
for tool in losetup mkfs.ext4 e2fsck; do command -v $tool >/dev/null || amb_skip "$tool not installed"; done
[[ -e /dev/loop-control ]] || amb_skip "no loop devices (/dev/loop-control missing)"
losetup -f >/dev/null 2>&1 || amb_skip "no free loop device"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt ext=$AMB_WORK/ext src=$AMB_WORK/src
amb_mkfs "$vol" 256M
amb_mount "$vol" "$mnt" -o cache_size=32M
mkdir -p "$src/bin" "$ext"
cp -a /usr/include/linux "$src/"
for i in 1 2 3 4; do head -c $((8 << 20)) /dev/urandom >"$src/bin/blob$i"; done

loop=$(losetup -f --show "$mnt/volume") || amb_skip "losetup on the FUSE file failed (loop devices unusable here)"
AMB_LOOPS+=("$loop")
mkfs.ext4 -q -F "$loop"
mount "$loop" "$ext"
AMB_KERNEL_MOUNTS+=("$ext")

amb_log "copy the tree in while taking snapshots"
( for round in 1 2 3 4 5; do cp -a "$src/." "$ext/copy$round/" && sync -f "$ext" || exit 1; done ) &
copier=$!
n=0
while kill -0 $copier 2>/dev/null && ((n < 8)); do
  sleep 0.2
  echo snapshot "mid$n" >"$mnt/ctl" || amb_fail "snapshot mid$n failed"
  n=$((n + 1))
done
wait $copier || amb_fail "the copy failed"
((n >= 2)) || amb_log "note: the copy ended after $n snapshots"
umount "$ext"
AMB_KERNEL_MOUNTS=()
losetup -d "$loop"
AMB_LOOPS=()

for s in $(ls "$mnt/snapshots"); do
  amb_log "e2fsck -fn on a copy of snapshots/$s (journal replayed first)"
  cp "$mnt/snapshots/$s" "$AMB_WORK/snap.img"
  # Replaying the journal is what mounting the crash image would do; -fn alone
  # would report the not-yet-replayed transactions as damage.
  e2fsck -E journal_only -y "$AMB_WORK/snap.img" >"$AMB_WORK/replay.log" 2>&1 || true
  e2fsck -fn "$AMB_WORK/snap.img" >"$AMB_WORK/fsck.log" 2>&1 || { cat "$AMB_WORK/fsck.log"; amb_fail "e2fsck found problems in snapshot $s"; }
done
rm -f "$AMB_WORK/snap.img"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
