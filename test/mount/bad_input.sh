#!/usr/bin/env bash
# Bad input gets a clear error and changes nothing: ctl commands, writes past
# the end, truncation, a second mount, bad mount options, a corrupt config,
# and mkfs with bad arguments.
source "$(dirname "$0")/lib.sh"
amb_setup

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
amb_mount "$vol" "$mnt" -o cache_size=16M
size=$((64 << 20))
head -c 8192 /dev/urandom >"$AMB_WORK/tail"
dd if="$AMB_WORK/tail" of="$mnt/volume" bs=4096 seek=$((size / 4096 - 2)) conv=notrunc,fsync status=none
volume_sum() { sha256sum <"$mnt/volume"; }
before=$(volume_sum)

amb_log "ctl: unknown, malformed and failing commands"
amb_expect_fail "unknown ctl command" bash -c "echo frobnicate > '$mnt/ctl'"
grep -q "Invalid argument" "$AMB_WORK/err" || amb_fail "unknown command: expected EINVAL, got: $(cat "$AMB_WORK/err")"
exec 3<>"$mnt/ctl"
if echo frobnicate >&3 2>/dev/null; then amb_fail "unknown command accepted"; fi
reply=$(cat <&3)
[[ $reply == "error: unknown command 'frobnicate' (try 'help')" ]] || amb_fail "unexpected reply: $reply"
printf 'flush\nflush\n' >"$AMB_WORK/two"  # dd writes it with one write(2); printf would not
if dd if="$AMB_WORK/two" bs=64 status=none >&3 2>/dev/null; then amb_fail "two commands in one write accepted"; fi
[[ $(cat <&3) == *"one command per write"* ]] || amb_fail "no message for two commands in one write"
if echo loglevel shouting >&3 2>/dev/null; then amb_fail "bad loglevel accepted"; fi
[[ $(cat <&3) == *"unknown level 'shouting'"* ]] || amb_fail "no message for a bad loglevel"
if echo flush now >&3 2>/dev/null; then amb_fail "flush with an argument accepted"; fi
[[ $(cat <&3) == "error: usage: flush" ]] || amb_fail "no usage message"
echo flush >&3 || amb_fail "flush failed"
[[ $(cat <&3) == ok ]] || amb_fail "flush did not reply ok"
echo loglevel debug >&3 && [[ $(cat <&3) == "loglevel debug" ]] || amb_fail "loglevel debug"
echo loglevel info >&3 && cat <&3 >/dev/null
exec 3>&-
grep -q "ctl: unknown command 'frobnicate'" "$AMB_WORK/daemon.log" || amb_fail "ctl error not logged"
[[ $(amb_stat "$mnt" amberfs_ctl_errors_total) -ge 5 ]] || amb_fail "ctl errors not counted"

amb_log "writes past the end, truncation"
amb_expect_fail "write at the end" dd if=/dev/zero of="$mnt/volume" bs=4096 seek=$((size / 4096)) count=1 conv=notrunc status=none
grep -q "No space left" "$AMB_WORK/err" || amb_fail "write at the end: expected ENOSPC, got: $(cat "$AMB_WORK/err")"
amb_expect_fail "write far past the end" dd if=/dev/zero of="$mnt/volume" bs=1M seek=1000 count=1 conv=notrunc status=none
grep -q "No space left" "$AMB_WORK/err" || amb_fail "write past the end: expected ENOSPC"
amb_expect_fail "truncate to another size" truncate -s 1G "$mnt/volume"
grep -q "Invalid argument" "$AMB_WORK/err" || amb_fail "truncate: expected EINVAL, got: $(cat "$AMB_WORK/err")"
amb_expect_fail "shell truncation" bash -c ": > '$mnt/volume'"
truncate -s $size "$mnt/volume" || amb_fail "truncate to the same size should succeed"
[[ $(stat -c %s "$mnt/volume") == "$size" ]] || amb_fail "size changed"
amb_expect_fail "chmod" chmod 0666 "$mnt/volume"
amb_expect_fail "create a file" touch "$mnt/newfile"
echo flush >"$mnt/ctl"
[[ $(volume_sum) == "$before" ]] || amb_fail "refused operations changed the volume"
grep -q "size is fixed" "$AMB_WORK/daemon.log" || amb_fail "refused truncate not logged"

amb_log "second mount of the same volume"
mkdir -p "$AMB_WORK/mnt2"
amb_expect_fail "second mount (foreground)" timeout 20 "$AMBERFS" -f "$vol" "$AMB_WORK/mnt2"
grep -q "a volume can be mounted only once" "$AMB_WORK/err" || amb_fail "second mount: no clear message: $(cat "$AMB_WORK/err")"
amb_expect_fail "second mount (daemon)" timeout 20 "$AMBERFS" "$vol" "$AMB_WORK/mnt2"
grep -q "in use by another process" "$AMB_WORK/err" || amb_fail "daemonized second mount: no message on stderr"
grep -qs " $AMB_WORK/mnt2 " /proc/mounts && amb_fail "a refused mount left a mount behind"
cmp <(tail -c 8192 "$mnt/volume") "$AMB_WORK/tail" || amb_fail "the first mount stopped working"

amb_log "mkfs with bad arguments changes nothing"
listing() { (cd "$AMB_WORK" && find vol -printf '%p %s %m\n' | sort && sha256sum vol/config); }
snap=$(listing)
for args in "--size 0 $vol" "--size 64M $vol" "--size 64M --force $vol" "--size 1G --chunk-size 3K $AMB_WORK/new" \
            "--size 100K $AMB_WORK/new" "--size 1G --block-size 1000 $AMB_WORK/new" "--size 1X $AMB_WORK/new" \
            "--size 1G --slow ftp://x $AMB_WORK/new" "--size 1G --bogus $AMB_WORK/new" "--size 1G" \
            "--size 1G --image $AMB_WORK/tail $AMB_WORK/new"; do
  # shellcheck disable=SC2086
  amb_expect_fail "mkfs.amberfs $args" "$MKFS" $args
  [[ -s $AMB_WORK/err ]] || amb_fail "mkfs.amberfs $args: no message"
  [[ ! -e $AMB_WORK/new ]] || amb_fail "mkfs.amberfs $args created $AMB_WORK/new"
done
[[ $(listing) == "$snap" ]] || amb_fail "a refused mkfs changed the volume directory"
"$MKFS" --restore file:///nowhere "$AMB_WORK/new" 2>"$AMB_WORK/err" && amb_fail "--restore succeeded"
grep -q "not implemented yet" "$AMB_WORK/err" || amb_fail "--restore: no message"

amb_umount "$mnt" || amb_fail "unmount did not exit 0"

amb_log "bad mount options, missing and corrupt volumes"
for opts in cache_size=0 cache_size=lots io=aio dirty_max=1G,cache_size=64M sync_delay=soon frobnicate; do
  amb_expect_fail "mount -o $opts" timeout 20 "$AMBERFS" -f "$vol" "$mnt" -o "$opts"
  [[ -s $AMB_WORK/err ]] || amb_fail "mount -o $opts: no message"
done
grep -qs " $mnt " /proc/mounts && amb_fail "a refused mount left a mount behind"
amb_expect_fail "mount of a missing volume" "$AMBERFS" "$AMB_WORK/nothing" "$mnt"
grep -q "not an amberfs volume" "$AMB_WORK/err" || amb_fail "missing volume: $(cat "$AMB_WORK/err")"
cp -a "$vol/config" "$AMB_WORK/config.good"
sed -i 's/^size .*/size 134217728/' "$vol/config"
amb_expect_fail "mount with an edited config" "$AMBERFS" "$vol" "$mnt"
grep -q "checksum mismatch" "$AMB_WORK/err" || amb_fail "edited config: $(cat "$AMB_WORK/err")"
cp -a "$AMB_WORK/config.good" "$vol/config"

amb_log "read-only mount refuses writes"
amb_mount "$vol" "$mnt" -o ro
amb_expect_fail "write on a ro mount" dd if=/dev/zero of="$mnt/volume" bs=4096 count=1 conv=notrunc status=none
grep -q "Read-only" "$AMB_WORK/err" || amb_fail "ro: expected EROFS, got: $(cat "$AMB_WORK/err")"
[[ $(volume_sum) == "$before" ]] || amb_fail "volume changed"
amb_umount "$mnt" || amb_fail "ro unmount did not exit 0"
amb_log "ok"
