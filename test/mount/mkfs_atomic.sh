#!/usr/bin/env bash
# mkfs.amberfs makes a volume appear whole or not at all, and --force replaces
# one at once. mkfs --restore, and mkfs --force over a volume that was in use,
# are killed (SIGKILL, via strace) before each rename and unlink they make,
# and before some of their removals. After every kill, VOLDIR is the old
# volume, the new one, or a leftover that mount and fsck -n refuse with a
# message naming the command to run; never a half volume that mounts. Rerunning the same command
# then succeeds, and the result mounts, reads back right and passes fsck.
source "$(dirname "$0")/lib.sh"
AMB_TIMEOUT=${AMB_TIMEOUT:-600}
amb_setup
command -v strace >/dev/null || amb_skip "strace not installed (it places the kills)"
FSCK=$AMBERFS_BUILD/fsck.amberfs

mnt=$AMB_WORK/mnt src=$AMB_WORK/src
uuid_of() { awk '/^uuid/ {print $2}' "$1/config"; }
identities() { ls "$1/volumes" 2>/dev/null | sort; }

# kill_before SYSCALL N CMD...: CMD, killed as its Nth call of SYSCALL starts
# (strace delivers the signal on entry, so that call never happens); exit 0
# if CMD finished first.
kill_before() {
  local call=$1 n=$2
  shift 2
  strace -f -qq -o /dev/null -e trace="$call" -e inject="$call:signal=SIGKILL:when=$n" "$@" >"$AMB_WORK/cmd.out" 2>&1 &
  wait $! 2>/dev/null  # (quietly: the shell would report the kill)
}
# kill_points CMD...: "SYSCALL N" for every call of the renames and unlink
# that CMD makes (it runs, untraced by kills), and a few of its unlinkat.
kill_points() {
  local call n
  strace -f -qq -o "$AMB_WORK/trace" -e trace=renameat,renameat2,unlink,unlinkat "$@" >/dev/null 2>&1 ||
    amb_fail "a run of $* failed"
  for call in renameat renameat2 unlink; do
    n=$(grep -c "^[0-9]* *$call(" "$AMB_WORK/trace" || true)
    for ((i = 1; i <= n; i++)); do echo "$call $i"; done
  done
  n=$(grep -c "^[0-9]* *unlinkat(" "$AMB_WORK/trace" || true)
  for i in 1 3 $((n / 2)); do ((i >= 1 && i <= n)) && echo "unlinkat $i"; done
  return 0
}

# refused_everywhere VOLDIR WORDS: mount and fsck -n both refuse VOLDIR and say WORDS.
refused_everywhere() {
  local vol=$1 words=$2 rc=0
  mkdir -p "$mnt"
  timeout 30 "$AMBERFS" -f "$vol" "$mnt" >"$AMB_WORK/m.err" 2>&1 && amb_fail "a leftover of a killed mkfs mounted ($vol)"
  grep -q "$words" "$AMB_WORK/m.err" || amb_fail "mount of the leftover does not say '$words': $(cat "$AMB_WORK/m.err")"
  "$FSCK" -n "$vol" >"$AMB_WORK/f.err" 2>&1 || rc=$?
  ((rc == 8)) || amb_fail "fsck -n of the leftover exited $rc (want 8): $(cat "$AMB_WORK/f.err")"
  grep -q "$words" "$AMB_WORK/f.err" || amb_fail "fsck of the leftover does not say '$words': $(cat "$AMB_WORK/f.err")"
}

# verify VOLDIR FILE SNAPSHOT: mounts, the volume starts with FILE and so does
# the snapshot; a clean unmount; fsck -n exits 0.
verify() {
  local vol=$1 data=$2 snap=$3 n
  n=$(stat -c %s "$data")
  amb_mount "$vol" "$mnt" -o cache_size=16M
  cmp <(head -c "$n" "$mnt/volume") "$data" || amb_fail "$vol: the volume differs from $data"
  cmp <(head -c "$n" "$mnt/snapshots/$snap") "$data" || amb_fail "$vol: snapshot $snap differs"
  amb_umount "$mnt" || amb_fail "$vol: unmount exited $?"
  "$FSCK" -n "$vol" >"$AMB_WORK/f.out" 2>&1 || amb_fail "fsck -n $vol: $(tail -5 "$AMB_WORK/f.out")"
}

amb_log "the source: a volume with snapshot s1"
amb_mkfs "$src" 64M
head -c $((6 << 20)) /dev/urandom >"$AMB_WORK/s1"
amb_mount "$src" "$mnt" -o cache_size=16M
dd if="$AMB_WORK/s1" of="$mnt/volume" conv=notrunc,fsync status=none
echo snapshot s1 >"$mnt/ctl"
echo drain >"$mnt/ctl"
amb_umount "$mnt"
url=file://$src/archive
# --volume: every restore below adds a volume (its new identity) to the store.
restore=("$MKFS" --restore "$url" --volume "$(uuid_of "$src")" --snapshot s1)

amb_log "mkfs --restore into a new VOLDIR, killed before each rename and removal"
dst=$AMB_WORK/dst
mapfile -t points < <(kill_points "${restore[@]}" "$dst")
rm -rf "$dst"
for point in "${points[@]}"; do
  before=$(identities "$src/archive")
  # shellcheck disable=SC2086
  if kill_before $point "${restore[@]}" "$dst"; then
    state=done
  elif [[ -e $dst/mkfs.pending ]]; then
    state=installing
    refused_everywhere "$dst" "fsck.amberfs -y $dst"
  elif [[ -e $dst ]]; then
    state=complete
    verify "$dst" "$AMB_WORK/s1" s1  # never a half volume
  else
    state=absent
    refused_everywhere "$dst" "not an amberfs volume"
  fi
  # The same command again (a complete volume needs --force, as any volume does).
  extra=()
  [[ $state == complete || $state == done ]] && extra=(--force)
  "${restore[@]}" "${extra[@]}" "$dst" >"$AMB_WORK/rerun.out" 2>&1 ||
    amb_fail "killed at $point ($state): rerunning the restore failed: $(cat "$AMB_WORK/rerun.out")"
  [[ ! -e $AMB_WORK/.dst.amberfs-new ]] || amb_fail "killed at $point: the rerun left the staging directory"
  verify "$dst" "$AMB_WORK/s1" s1
  # The killed run and its rerun are one identity: no stray volumes/<uuid> is left.
  added=$(comm -13 <(echo "$before") <(identities "$src/archive") | tr '\n' ' ')
  if [[ $state == absent || $state == installing ]] && [[ $added != "$(uuid_of "$dst") " ]]; then
    amb_fail "killed at $point ($state): identities added: '$added', the volume is $(uuid_of "$dst")"
  fi
  echo "  killed before $point: $state; rerun ok"
  rm -rf "$dst"
done

amb_log "mkfs --force over a volume that was in use, killed before each rename and removal"
used=$AMB_WORK/used
head -c $((2 << 20)) /dev/urandom >"$AMB_WORK/o1"
make_used() {
  rm -rf "$used" "$AMB_WORK/.used.amberfs-new"
  amb_mkfs "$used" 32M
  amb_mount "$used" "$mnt" -o cache_size=16M
  dd if="$AMB_WORK/o1" of="$mnt/volume" conv=notrunc,fsync status=none
  echo snapshot o1 >"$mnt/ctl"
  echo drain >"$mnt/ctl"
  amb_umount "$mnt"
  for f in changes snapshot-base upload.log; do [[ -e $used/$f ]] || amb_fail "the used volume has no $f"; done
  old_uuid=$(uuid_of "$used")
}
make_used
force=("$MKFS" --force --size 64M)
mapfile -t points < <(kill_points "${force[@]}" "$used")
for point in "${points[@]}"; do
  make_used
  # shellcheck disable=SC2086
  kill_before $point "${force[@]}" "$used" && state=done || state=new
  if [[ -e $used/mkfs.pending ]]; then
    state=installing
    refused_everywhere "$used" "fsck.amberfs -y $used"
    rc=0
    "$FSCK" -y "$used" >"$AMB_WORK/f.out" 2>&1 || rc=$?
    ((rc <= 1)) || amb_fail "fsck -y did not finish the interrupted mkfs (exit $rc): $(tail -5 "$AMB_WORK/f.out")"
  elif [[ $(uuid_of "$used") == "$old_uuid" ]]; then
    state=old
    verify "$used" "$AMB_WORK/o1" o1  # untouched
  fi
  [[ -e $used/archive/volumes/$old_uuid/snapshots/o1 ]] || amb_fail "killed at $point ($state): the archive was lost"
  amb_mount "$used" "$mnt" -o cache_size=16M
  [[ $state == old ]] || [[ $(uuid_of "$used") != "$old_uuid" ]] || amb_fail "killed at $point: neither old nor new"
  amb_umount "$mnt"
  "${force[@]}" "$used" >"$AMB_WORK/rerun.out" 2>&1 || amb_fail "killed at $point ($state): rerun failed: $(cat "$AMB_WORK/rerun.out")"
  [[ ! -e $AMB_WORK/.used.amberfs-new ]] || amb_fail "killed at $point: the rerun left the staging directory"
  [[ -e $used/archive/volumes/$old_uuid/snapshots/o1 ]] || amb_fail "killed at $point: the rerun lost the archive"
  for f in changes snapshot-base upload.log; do
    [[ ! -e $used/$f ]] || amb_fail "killed at $point: the new volume kept the old $f"
  done
  amb_mount "$used" "$mnt" -o cache_size=16M
  amb_umount "$mnt" || amb_fail "unmount of the replaced volume"
  echo "  killed before $point: $state; rerun ok"
done

amb_log "mkfs --restore --force into a directory that was mounted before"
make_used
"${restore[@]}" "$used" >"$AMB_WORK/out" 2>&1 && amb_fail "restore over a volume without --force succeeded"
grep -q "use --force" "$AMB_WORK/out" || amb_fail "no --force hint: $(cat "$AMB_WORK/out")"
[[ $(uuid_of "$used") == "$old_uuid" ]] || amb_fail "a refused restore changed the volume"
"${restore[@]}" --force "$used" >"$AMB_WORK/out" 2>&1 || amb_fail "restore --force failed: $(cat "$AMB_WORK/out")"
verify "$used" "$AMB_WORK/s1" s1
[[ -e $used/archive/volumes/$old_uuid/snapshots/o1 ]] || amb_fail "restore --force lost VOLDIR/archive"

amb_log "refusals change nothing: a mounted volume, a directory with other files"
make_used
amb_mount "$used" "$mnt" -o cache_size=16M
listing() { (cd "$AMB_WORK" && find used -printf '%p %s\n' | grep -v '^used/lock ' | sort); }
snap=$(listing)
rc=0
"${force[@]}" "$used" 2>"$AMB_WORK/err" || rc=$?
((rc == 1)) || amb_fail "mkfs --force of a mounted volume exited $rc"
grep -q "in use" "$AMB_WORK/err" || amb_fail "mkfs --force of a mounted volume: $(cat "$AMB_WORK/err")"
[[ $(listing) == "$snap" && ! -e $AMB_WORK/.used.amberfs-new ]] || amb_fail "a refused mkfs --force changed something"
amb_umount "$mnt"
mkdir -p "$AMB_WORK/other" && echo precious >"$AMB_WORK/other/notes.txt"
"${force[@]}" "$AMB_WORK/other" 2>"$AMB_WORK/err" && amb_fail "mkfs --force over a directory of other files succeeded"
grep -q "notes.txt" "$AMB_WORK/err" || amb_fail "the refusal does not name the foreign file: $(cat "$AMB_WORK/err")"
[[ $(cat "$AMB_WORK/other/notes.txt") == precious && $(ls -A "$AMB_WORK/other" | wc -l) == 1 ]] ||
  amb_fail "a refused mkfs touched a directory of other files"
amb_log "ok"
