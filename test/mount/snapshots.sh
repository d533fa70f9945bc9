#!/usr/bin/env bash
# Snapshots through the mount: `echo snapshot A > ctl`, snapshots/A equals a
# copy of volume taken then, after overwrites and discards snapshots/B equals
# its copy; names are checked; rollback to A; delete A and gc leave exactly
# what B needs in the fast and slow stores; drain; restore from file:// into
# a fresh VOLDIR gives B's image, and that volume mounts and snapshots
# incrementally.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 128M
amb_mount "$vol" "$mnt" -o cache_size=16M

head -c $((24 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=4 conv=notrunc status=none
amb_log "snapshot A"
echo snapshot A >"$mnt/ctl" || amb_fail "snapshot A failed"
cp "$mnt/volume" "$AMB_WORK/copy-a"
[[ -f $mnt/snapshots/A ]] || amb_fail "snapshots/A missing"
[[ $(stat -c %s "$mnt/snapshots/A") == $((128 << 20)) ]] || amb_fail "snapshots/A has the wrong size"
cmp "$mnt/snapshots/A" "$AMB_WORK/copy-a" || amb_fail "snapshots/A differs from the volume at A"

head -c $((3 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=10 conv=notrunc status=none
fallocate --punch-hole --offset $((20 << 20)) --length $((2 << 20)) "$mnt/volume"
fallocate --punch-hole --offset $((5 << 20 + 1000)) --length 5000 "$mnt/volume"
head -c 100 /dev/urandom | dd of="$mnt/volume" bs=1 seek=$((100 << 20)) conv=notrunc status=none
amb_log "snapshot B, with the reply read from the same open file"
exec 3<>"$mnt/ctl"
echo snapshot B >&3 || amb_fail "snapshot B failed"
reply=$(cat <&3)
exec 3>&-
[[ $reply == *"name B"* && $reply == *"chunks_captured"* && $reply == *"root "* ]] || amb_fail "snapshot reply: $reply"
cp "$mnt/volume" "$AMB_WORK/copy-b"
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "snapshots/B differs from the volume at B"
cmp "$mnt/snapshots/A" "$AMB_WORK/copy-a" || amb_fail "snapshots/A changed after B"
ls -l "$mnt/snapshots/" | grep -q " A$" || amb_fail "ls snapshots/ does not list A"
[[ $(ls "$mnt/snapshots" | tr '\n' ' ') == "A B " ]] || amb_fail "snapshots/ lists: $(ls "$mnt/snapshots")"

amb_log "bad names and busy names"
amb_expect_fail "taken name" bash -c "echo snapshot A > '$mnt/ctl'"
grep -q "File exists" "$AMB_WORK/err" || amb_fail "taken name: expected EEXIST, got: $(cat "$AMB_WORK/err")"
amb_expect_fail "bad name" bash -c "echo snapshot .x > '$mnt/ctl'"
grep -q "Invalid argument" "$AMB_WORK/err" || amb_fail "bad name: expected EINVAL"
amb_expect_fail "unknown rollback" bash -c "echo rollback nope > '$mnt/ctl'"
grep -q "No such file" "$AMB_WORK/err" || amb_fail "unknown snapshot: expected ENOENT"
amb_expect_fail "write to a snapshot" bash -c "echo x > '$mnt/snapshots/A'"
echo snapshot >"$mnt/ctl" || amb_fail "snapshot with the default name failed"
[[ $(ls "$mnt/snapshots" | grep -c '^[0-9]\{8\}T[0-9]\{6\}Z$') == 1 ]] || amb_fail "no snapshot with a UTC default name"
[[ $(amb_stat "$mnt" amberfs_snapshots_total) == 3 ]] || amb_fail "stats: snapshots_total is not 3"
amb_stat "$mnt" amberfs_upload_pending | grep -q '^[0-9]' || amb_fail "stats: no upload queue depth"

amb_log "rollback A"
head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=60 conv=notrunc status=none
echo rollback A >"$mnt/ctl" || amb_fail "rollback failed"
cmp "$mnt/volume" "$AMB_WORK/copy-a" || amb_fail "volume differs from A after rollback"

amb_log "delete A, gc, drain"
for s in $(ls "$mnt/snapshots"); do [[ $s == B ]] || echo delete "$s" >"$mnt/ctl" || amb_fail "delete $s failed"; done
[[ $(ls "$mnt/snapshots") == B ]] || amb_fail "after delete snapshots/ lists: $(ls "$mnt/snapshots")"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
echo gc >"$mnt/ctl" || amb_fail "gc failed"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "snapshots/B damaged by gc"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
slow_blobs=$(amb_slow_blobs "$vol/archive")
[[ $slow_blobs -gt 0 ]] || amb_fail "the slow store holds no blobs"
# Both stores keep blobs in packs; fsck counts the fast store's live blobs.
# gc removes a pack once all its blobs are dead (a pack with a live blob
# keeps its dead ones until repacking), so the slow store holds at least
# those; with every reached blob in the slow one (exit 0) nothing is lost.
"$AMBERFS_BUILD/fsck.amberfs" --slow "$vol" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck --slow after gc: $(cat "$AMB_WORK/fsck.out")"
fast_blobs=$(sed -n 's/.* \([0-9][0-9]*\) blobs in the fast store.*/\1/p' "$AMB_WORK/fsck.out")
[[ -n $fast_blobs && $slow_blobs -ge $fast_blobs ]] ||
  amb_fail "the slow store holds fewer blobs than the fast one after gc (slow: $slow_blobs; $(grep 'in the fast store' "$AMB_WORK/fsck.out"))"
# Exactly B (and the base the next snapshot builds on, which is B's content
# rolled back to A's and therefore shares its blobs) remain: A's own chunk
# overwritten in B must be gone unless the base needs it.
[[ $(find "$vol/archive/volumes" -path '*/snapshots/*' -type f | wc -l) == 1 ]] || amb_fail "slow store holds other snapshot refs"

amb_log "restore from file:// into a fresh VOLDIR"
"$MKFS" --restore "file://$vol/archive" --snapshot B "$AMB_WORK/restored" >"$AMB_WORK/restore.out" || amb_fail "restore failed"
cmp "$AMB_WORK/restored/image" "$AMB_WORK/copy-b" || amb_fail "restored image differs from B"
grep -q "$(awk '/^uuid/ {print $2}' "$vol/config")" "$AMB_WORK/restored/config" && amb_fail "the restored copy kept the original's uuid"
amb_expect_fail "restore into an existing volume" "$MKFS" --restore "file://$vol/archive" "$AMB_WORK/restored"
amb_mount "$AMB_WORK/restored" "$mnt"
cmp "$mnt/snapshots/B" "$AMB_WORK/copy-b" || amb_fail "restored volume's snapshots/B differs"
head -c 100 /dev/urandom | dd of="$mnt/volume" bs=1 seek=$((3 << 20)) conv=notrunc status=none
exec 3<>"$mnt/ctl"
echo snapshot C >&3 || amb_fail "snapshot C on the restored volume failed"
reply=$(cat <&3)
exec 3>&-
[[ $reply == *"chunks_captured 1"* ]] || amb_fail "next snapshot after restore is not incremental: $reply"
cmp "$mnt/snapshots/C" "$mnt/volume" || amb_fail "snapshots/C differs from the volume"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_log "ok"
