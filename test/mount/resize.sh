#!/usr/bin/env bash
# mkfs.amberfs --resize: an offline grow. A 64M volume with data grows to
# 128M; the data stays, the new end is writable, a snapshot after the grow
# covers the new size, fsck -n is clean. Shrinking, an odd size and a mounted
# volume are refused (exit 2, 2, 1), and so (for now) is a volume with
# snapshots (exit 1). A resize killed (SIGKILL via strace) before each of its
# renames, fdatasyncs and its ftruncate leaves a volume that fsck -n flags
# (or finds clean) and that mounts at 64M or 128M with its data, settled by
# the mount or by fsck -y.
source "$(dirname "$0")/lib.sh"
AMB_TIMEOUT=${AMB_TIMEOUT:-600}
amb_setup
FSCK=$AMBERFS_BUILD/fsck.amberfs
mnt=$AMB_WORK/mnt vol=$AMB_WORK/vol
head -c $((3 << 20)) /dev/urandom >"$AMB_WORK/pattern"

# fresh VOLDIR: a 64M volume, mounted once, with the pattern at offset 0.
fresh() {
  rm -rf "$1"
  amb_mkfs "$1" 64M
  amb_mount "$1" "$mnt" -o cache_size=16M
  dd if="$AMB_WORK/pattern" of="$mnt/volume" conv=notrunc,fsync status=none
  amb_umount "$mnt" || amb_fail "unmount exited $?"
}
# expect_rc RC WORDS CMD...: CMD exits RC and says WORDS on stderr.
expect_rc() {
  local want=$1 words=$2 rc=0
  shift 2
  "$@" >"$AMB_WORK/out" 2>"$AMB_WORK/err" || rc=$?
  ((rc == want)) || amb_fail "$* exited $rc (want $want): $(cat "$AMB_WORK/err")"
  grep -q "$words" "$AMB_WORK/err" || amb_fail "$* does not say '$words': $(cat "$AMB_WORK/err")"
}
# mounted_size VOLDIR SIZE: mounts, checks the volume's size and the pattern, unmounts.
check_volume() {
  local v=$1 want=$2 got
  amb_mount "$v" "$mnt" -o cache_size=16M
  got=$(stat -c %s "$mnt/volume")
  ((got == want)) || amb_fail "$v: the volume is $got bytes (want $want)"
  cmp <(head -c $((3 << 20)) "$mnt/volume") "$AMB_WORK/pattern" || amb_fail "$v: the old data differs"
  amb_umount "$mnt" || amb_fail "$v: unmount exited $?"
}

amb_log "refusals"
fresh "$vol"
expect_rc 2 "shrinking is not supported" "$MKFS" --resize 32M "$vol"
expect_rc 2 "not a multiple of the chunk size" "$MKFS" --resize $(((128 << 20) + 4096)) "$vol"
expect_rc 2 "takes no other option" "$MKFS" --resize 128M --size 1G "$vol"
expect_rc 2 "unknown suffix" "$MKFS" --resize 1E "$vol"
amb_mount "$vol" "$mnt" -o cache_size=16M
expect_rc 1 "in use\|busy\|mount" "$MKFS" --resize 128M "$vol"
amb_umount "$mnt"
[[ $(awk '/^size/ {print $2}' "$vol/config") == $((64 << 20)) ]] || amb_fail "a refusal changed the config"

amb_log "grow 64M -> 128M"
out=$("$MKFS" --resize 128M "$vol") || amb_fail "resize exited $?"
echo "  $out"
[[ $out == *"from 64M to 128M"* ]] || amb_fail "resize says: $out"
check_volume "$vol" $((128 << 20))
amb_mount "$vol" "$mnt" -o cache_size=16M
head -c $((1 << 20)) /dev/urandom >"$AMB_WORK/tail"
dd if="$AMB_WORK/tail" of="$mnt/volume" bs=1M seek=100 conv=notrunc,fsync status=none
echo snapshot s2 >"$mnt/ctl"
[[ $(stat -c %s "$mnt/snapshots/s2") == $((128 << 20)) ]] || amb_fail "snapshot s2 is not 128M"
cmp <(tail -c +$(((100 << 20) + 1)) "$mnt/snapshots/s2" | head -c $((1 << 20))) "$AMB_WORK/tail" ||
  amb_fail "snapshot s2 lacks the data past the old end"
cmp <(head -c $((3 << 20)) "$mnt/snapshots/s2") "$AMB_WORK/pattern" || amb_fail "snapshot s2 lacks the old data"
amb_umount "$mnt"
"$FSCK" -n "$vol" >"$AMB_WORK/f.out" 2>&1 || amb_fail "fsck -n after the grow: $(tail -5 "$AMB_WORK/f.out")"
expect_rc 1 "has snapshots" "$MKFS" --resize 256M "$vol"

command -v strace >/dev/null || amb_skip "strace not installed (it places the kills; the rest passed)"
amb_log "resize killed at each rename, fdatasync, fsync and ftruncate"
fresh "$AMB_WORK/probe"
strace -f -qq -o "$AMB_WORK/trace" -e trace=rename,renameat,renameat2,fdatasync,fsync,ftruncate \
  "$MKFS" --resize 128M "$AMB_WORK/probe" >/dev/null 2>&1 || amb_fail "a traced resize failed"
points=()
for call in renameat renameat2 rename fdatasync fsync ftruncate; do
  n=$(grep -c "^[0-9]* *$call(" "$AMB_WORK/trace" || true)
  for ((i = 1; i <= n; i++)); do points+=("$call $i"); done
done
((${#points[@]} >= 5)) || amb_fail "too few kill points: ${points[*]}"
new=0 old=0 half=0
for p in "${points[@]}"; do
  read -r call n <<<"$p"
  fresh "$vol"
  strace -f -qq -o /dev/null -e trace="$call" -e inject="$call:signal=SIGKILL:when=$n" \
    "$MKFS" --resize 128M "$vol" >/dev/null 2>&1 &
  wait $! 2>/dev/null || true  # (killed: 137)
  size=$(awk '/^size/ {print $2}' "$vol/config")
  rc=0
  "$FSCK" -n "$vol" >"$AMB_WORK/f.out" 2>&1 || rc=$?
  if [[ -e $vol/changes.resize ]]; then
    ((rc != 0)) || amb_fail "kill at $p: fsck -n exits 0 with a resize half done"
    grep -q "interrupted mkfs.amberfs --resize" "$AMB_WORK/f.out" || amb_fail "kill at $p: fsck -n says $(cat "$AMB_WORK/f.out")"
  fi
  settled=mount
  if [[ -e $vol/changes.resize ]] && ((++half % 2 == 0)); then  # every other half state: fsck -y settles it
    "$FSCK" -y "$vol" >"$AMB_WORK/f.out" 2>&1 || true
    [[ ! -e $vol/changes.resize ]] || amb_fail "kill at $p: fsck -y left changes.resize: $(cat "$AMB_WORK/f.out")"
    settled="fsck -y"
  fi
  check_volume "$vol" "$size"
  [[ ! -e $vol/changes.resize ]] || amb_fail "kill at $p: the mount left changes.resize"
  "$FSCK" -n "$vol" >"$AMB_WORK/f.out" 2>&1 || amb_fail "kill at $p, then a mount: fsck -n: $(tail -5 "$AMB_WORK/f.out")"
  if ((size == 128 << 20)); then ((++new)); else ((++old)); fi
  echo "  kill at $p: $((size >> 20))M, fsck -n exited $rc, settled by $settled"
done
((new > 0 && old > 0)) || amb_fail "the kills left only one side (old $old, new $new)"
amb_log "PASS (${#points[@]} kill points: $old old, $new new)"
