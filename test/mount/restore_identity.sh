#!/usr/bin/env bash
# A restored copy is a volume of its own: it gets a new uuid and its own refs,
# so the original and the copy can share one slow store. Both take a snapshot
# of the same name, the original deletes the snapshot the copy was restored
# from and runs gc, and fsck --slow of the copy (and of the original) finds 0
# errors. --take-over-identity keeps the original's uuid, and is refused while
# the original's upload marker is fresh.
source "$(dirname "$0")/lib.sh"
amb_setup
FSCK=$AMBERFS_BUILD/fsck.amberfs
orig=$AMB_WORK/orig copy=$AMB_WORK/copy m1=$AMB_WORK/m1 m2=$AMB_WORK/m2
uuid_of() { awk '/^uuid/ {print $2}' "$1/config"; }
# ctl MNT COMMAND: one ctl command; gc is retried while another volume's
# upload marker lingers (EBUSY for up to a few seconds after its drain).
ctl() {
  local mnt=$1
  shift
  for _ in $(seq 30); do
    echo "$@" >"$mnt/ctl" 2>"$AMB_WORK/ctl.err" && return 0
    [[ $1 == gc ]] || break
    sleep 0.5
  done
  amb_fail "ctl $* on $mnt: $(cat "$AMB_WORK/ctl.err"); $(tail -3 "$AMB_WORK/daemon.log")"
}
write_at() { dd if="$1" of="$2/volume" bs=1M seek="$3" conv=notrunc,fsync status=none; }

amb_log "the original: snapshot base1"
for f in a x y; do head -c $((4 << 20)) /dev/urandom >"$AMB_WORK/$f"; done
amb_mkfs "$orig" 64M
amb_mount "$orig" "$m1" -o cache_size=16M
write_at "$AMB_WORK/a" "$m1" 0
ctl "$m1" snapshot base1
ctl "$m1" drain
amb_umount "$m1"
orig_uuid=$(uuid_of "$orig")
url=file://$orig/archive

amb_log "restore a copy into the same slow store"
"$MKFS" --restore "$url" --snapshot base1 "$copy" >"$AMB_WORK/restore.out" || amb_fail "restore failed"
copy_uuid=$(uuid_of "$copy")
grep -q "restored amberfs volume $copy_uuid" "$AMB_WORK/restore.out" || amb_fail "mkfs does not name the new uuid"

amb_log "both take a snapshot named 'same' (the copy first), the original deletes base1 and runs gc"
amb_mount "$orig" "$m1" -o cache_size=16M
amb_mount "$copy" "$m2" -o cache_size=16M
write_at "$AMB_WORK/y" "$m2" 8
ctl "$m2" snapshot same
ctl "$m2" drain
write_at "$AMB_WORK/x" "$m1" 8
ctl "$m1" snapshot same
ctl "$m1" drain
ctl "$m1" delete base1
ctl "$m1" gc
ctl "$m1" drain
amb_umount "$m1"
amb_umount "$m2"

amb_log "fsck --slow of the copy and of the original"
for v in "$copy" "$orig"; do
  rc=0
  "$FSCK" -n --slow "$v" >"$AMB_WORK/fsck.out" 2>&1 || rc=$?
  grep -E "errors?" "$AMB_WORK/fsck.out" | tail -2 | sed 's/^/  /'
  ((rc == 0)) || amb_fail "fsck --slow $v exited $rc: $(grep -iE 'error|missing|incomplete' "$AMB_WORK/fsck.out" | head -5)"
done
amb_mount "$copy" "$m2" -o cache_size=16M
cmp <(head -c $((4 << 20)) "$m2/snapshots/base1") "$AMB_WORK/a" || amb_fail "the copy's base1 differs after the original's gc"
cmp <(head -c $((4 << 20)) "$m2/snapshots/same") "$AMB_WORK/a" || amb_fail "the copy's 'same' differs (first 4M)"
cmp <(tail -c +$(((8 << 20) + 1)) "$m2/snapshots/same" | head -c $((4 << 20))) "$AMB_WORK/y" ||
  amb_fail "the copy's 'same' is not its own"
amb_umount "$m2"
[[ $copy_uuid != "$orig_uuid" ]] || amb_fail "the restored copy kept the original's uuid"

amb_log "a restore while another volume's gc marker is live: the copy's refs wait for its mount"
# The marker a gc killed mid-sweep leaves (uploads of other volumes wait for it).
gc_marker=$orig/archive/locks/gc/$orig_uuid
mkdir -p "$(dirname "$gc_marker")"
echo "amberfs gc marker, unix time $(date +%s)" >"$gc_marker"
copy2=$AMB_WORK/copy2
"$MKFS" --restore "$url" --volume "$orig_uuid" --snapshot same "$copy2" >"$AMB_WORK/restore.out" 2>&1 ||
  amb_fail "restore beside a live gc marker failed: $(cat "$AMB_WORK/restore.out")"
grep -q "its mount uploads them" "$AMB_WORK/restore.out" || amb_fail "no note about the waiting refs: $(cat "$AMB_WORK/restore.out")"
copy2_uuid=$(uuid_of "$copy2")
[[ -e $orig/archive/locks/upload/$copy2_uuid ]] || amb_fail "the copy's upload marker is not there to hold off gc"
amb_mount "$copy2" "$m2" -o cache_size=16M
cmp <(tail -c +$(((8 << 20) + 1)) "$m2/snapshots/same" | head -c $((4 << 20))) "$AMB_WORK/x" || amb_fail "copy2's 'same' differs"
rm "$gc_marker"  # that gc is over
ctl "$m2" drain
[[ -e $orig/archive/volumes/$copy2_uuid/snapshots/same ]] || amb_fail "the mount did not upload the copy's ref"
amb_umount "$m2"
"$FSCK" -n --slow "$copy2" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck --slow of copy2: $(tail -5 "$AMB_WORK/fsck.out")"

amb_log "--take-over-identity: refused while the original's upload marker is fresh"
amb_mount "$orig" "$m1" -o cache_size=16M
write_at "$AMB_WORK/y" "$m1" 16
ctl "$m1" snapshot t1
amb_kill9 "$m1"  # at once: the marker stays for 2 s after the queue empties
marker=$orig/archive/locks/upload/$orig_uuid
[[ -e $marker ]] || amb_fail "no upload marker after kill -9 right after a snapshot"
taken=$AMB_WORK/taken
# (t1's upload was cut off by the kill; "same" is the newest snapshot in the store.)
take_over=("$MKFS" --restore "$url" --volume "$orig_uuid" --snapshot same --take-over-identity "$taken")
"${take_over[@]}" 2>"$AMB_WORK/err" &&
  amb_fail "--take-over-identity succeeded while the original's marker is fresh"
grep -q "looks alive" "$AMB_WORK/err" || amb_fail "refusal does not say why: $(cat "$AMB_WORK/err")"
grep -q "locks/upload/$orig_uuid" "$AMB_WORK/err" || amb_fail "refusal does not name the marker: $(cat "$AMB_WORK/err")"
[[ ! -e $taken && ! -e $AMB_WORK/.taken.amberfs-new ]] || amb_fail "a refused restore created something"
amb_log "the original gone for good: its marker deleted as the message says, the take-over works"
rm "$marker"
"${take_over[@]}" >/dev/null || amb_fail "take-over failed"
[[ $(uuid_of "$taken") == "$orig_uuid" ]] || amb_fail "--take-over-identity did not keep the uuid"
amb_mount "$taken" "$m2" -o cache_size=16M
cmp <(tail -c +$(((8 << 20) + 1)) "$m2/snapshots/same" | head -c $((4 << 20))) "$AMB_WORK/x" || amb_fail "'same' differs"
ctl "$m2" snapshot t2
amb_umount "$m2"
"$FSCK" -n --slow "$taken" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck --slow of the taken-over volume: $(tail -5 "$AMB_WORK/fsck.out")"
amb_log "ok"
