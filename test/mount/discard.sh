#!/usr/bin/env bash
# Discard: fallocate --punch-hole and --zero-range read back as zeros at once,
# the data around them is untouched, and both stay so after a remount.
source "$(dirname "$0")/lib.sh"
amb_setup
command -v fallocate >/dev/null || amb_skip "fallocate (util-linux) not installed"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 256M
amb_mount "$vol" "$mnt" -o cache_size=16M

data=$AMB_WORK/data
head -c $((8 << 20)) /dev/urandom >"$data"
dd if="$data" of="$mnt/volume" bs=1M seek=16 conv=notrunc,fsync status=none

# region OFFSET LENGTH: the volume's bytes there.
region() { dd if="$mnt/volume" bs=64K iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none; }
zeros() { head -c "$1" /dev/zero; }
expected() { dd if="$data" bs=64K iflag=skip_bytes,count_bytes skip=$(($1 - (16 << 20))) count="$2" status=none; }

base=$((16 << 20))
# Unaligned on both ends: partial blocks must be zeroed, neighbours kept.
punch_off=$((base + (1 << 20) + 1000)) punch_len=$(( (2 << 20) + 3000 ))
zero_off=$((base + (5 << 20))) zero_len=$((1 << 20))

check_all() {
  local when=$1
  cmp -s <(region $punch_off $punch_len) <(zeros $punch_len) || amb_fail "$when: punched range is not zeros"
  cmp -s <(region $zero_off $zero_len) <(zeros $zero_len) || amb_fail "$when: zero range is not zeros"
  cmp -s <(region $base $((punch_off - base))) <(expected $base $((punch_off - base))) || amb_fail "$when: data before the hole changed"
  local after=$((punch_off + punch_len))
  cmp -s <(region $after $((zero_off - after))) <(expected $after $((zero_off - after))) || amb_fail "$when: data between the ranges changed"
  local tail_off=$((zero_off + zero_len))
  cmp -s <(region $tail_off $((base + (8 << 20) - tail_off))) <(expected $tail_off $((base + (8 << 20) - tail_off))) || amb_fail "$when: data after the ranges changed"
}

amb_log "punch hole and zero range"
cmp -s <(region $base $((8 << 20))) "$data" || amb_fail "data did not read back before the discard"
fallocate --punch-hole --offset $punch_off --length $punch_len "$mnt/volume"
fallocate --zero-range --keep-size --offset $zero_off --length $zero_len "$mnt/volume"
check_all "right after the discard"
[[ $(amb_stat "$mnt" amberfs_fuse_discards_total) == 2 ]] || amb_fail "stats did not count 2 discards"

# A punch past the end is clipped; growing the file with fallocate is refused.
fallocate --punch-hole --offset $(( (256 << 20) - 4096 )) --length $((1 << 20)) "$mnt/volume"
amb_expect_fail "fallocate growing the volume" fallocate --offset $(( (256 << 20) - 4096 )) --length $((1 << 20)) "$mnt/volume"
grep -q "No space left" "$AMB_WORK/err" || amb_fail "growing fallocate: expected ENOSPC, got: $(cat "$AMB_WORK/err")"

amb_log "unmount, remount"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
amb_mount "$vol" "$mnt" -o cache_size=16M
check_all "after remount"
amb_umount "$mnt" || amb_fail "final unmount did not exit 0"
amb_log "ok"
