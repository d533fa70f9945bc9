#!/usr/bin/env bash
# A real file system on the volume: losetup, mkfs.ext4, kernel mount, copy a
# tree in, unmount, e2fsck -fn clean; then an amberfs remount and the files
# read back identical.
source "$(dirname "$0")/lib.sh"
amb_setup
for tool in losetup mkfs.ext4 e2fsck; do command -v $tool >/dev/null || amb_skip "$tool not installed"; done
[[ -e /dev/loop-control ]] || amb_skip "no loop devices (/dev/loop-control missing)"
probe=$(losetup -f 2>/dev/null) || amb_skip "no free loop device"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt ext=$AMB_WORK/ext src=$AMB_WORK/src
amb_mkfs "$vol" 512M
amb_mount "$vol" "$mnt" -o cache_size=32M

# The tree: real source files plus incompressible data larger than the cache.
mkdir -p "$src/bin" "$ext"
cp -a /usr/include/linux "$src/"
for i in 1 2 3; do head -c $((16 << 20)) /dev/urandom >"$src/bin/blob$i"; done
mkdir -p "$src/deep/a/b/c/d" && echo "bottom" >"$src/deep/a/b/c/d/file"
ln -s ../bin/blob1 "$src/deep/link"

loop=$(losetup -f --show "$mnt/volume") || amb_skip "losetup on the FUSE file failed (loop devices unusable here)"
AMB_LOOPS+=("$loop")
amb_log "mkfs.ext4 on $loop"
mkfs.ext4 -q -F "$loop"
mount "$loop" "$ext"
AMB_KERNEL_MOUNTS+=("$ext")
amb_log "copy $(du -sh "$src" | cut -f1) in"
cp -a "$src/." "$ext/"
umount "$ext"
sync
amb_log "e2fsck -fn"
e2fsck -fn "$loop" >"$AMB_WORK/fsck.log" 2>&1 || { cat "$AMB_WORK/fsck.log"; amb_fail "e2fsck found problems"; }
losetup -d "$loop"
AMB_LOOPS=()

amb_log "unmount, remount"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_mount "$vol" "$mnt" -o cache_size=32M
loop=$(losetup -f --show -r "$mnt/volume")
AMB_LOOPS+=("$loop")
mount -o ro "$loop" "$ext"
diff -r --no-dereference -x lost+found "$src" "$ext" >"$AMB_WORK/diff.log" 2>&1 || { head "$AMB_WORK/diff.log"; amb_fail "files differ after remount"; }
[[ $(readlink "$ext/deep/link") == ../bin/blob1 ]] || amb_fail "symlink lost"
umount "$ext"
AMB_KERNEL_MOUNTS=()
losetup -d "$loop"
AMB_LOOPS=()
amb_umount "$mnt" || amb_fail "final unmount did not exit 0"
amb_log "ok"
