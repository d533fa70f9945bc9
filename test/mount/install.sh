#!/usr/bin/env bash
# make install and what it installs, used for real:
#   - DESTDIR layout: stripped programs in $(PREFIX)/sbin (file(1) says so),
#     mount.amberfs in /sbin, the systemd unit, bash completion (and its
#     links), man pages (mandoc -T lint clean), examples; no empty bin/
#   - mount -t amberfs VOLDIR MNT -o OPTS through the installed mount.amberfs
#     (fstab-only options dropped, amberfs's applied), a bad option fails
#     with amberfs's message, and an fstab line mounts with mount -T FILE
#   - amberfs@NAME.service: systemd-analyze verify, then its ExecStartPre and
#     ExecStart lines run with NAME.conf as systemd would, and its stop
#     (SIGTERM to the main process): the volume is released clean
# mount(8) looks for helpers in /sbin only, so the test runs in a private
# mount namespace where an overlay adds the installed helper to /usr/sbin;
# nothing outside the test's scratch directory is changed.
if [[ -z ${AMB_IN_NAMESPACE:-} ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (mount namespace, FUSE mounts)"; exit 77; }
  command -v unshare >/dev/null || { echo "SKIP: unshare not installed (package util-linux)"; exit 77; }
  AMB_IN_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
amb_setup
for tool in make file mandoc; do command -v $tool >/dev/null || amb_skip "$tool not installed"; done
repo=$(cd "$(dirname "$0")/../.." && pwd)
AMBERCTL=$AMBERFS_BUILD/amberctl

amb_log "make install DESTDIR=..."
dest=$AMB_WORK/dest
make -s -C "$repo" BUILD="$AMBERFS_BUILD" DESTDIR="$dest" install >"$AMB_WORK/install.log" 2>&1 ||
  amb_fail "make install: $(tail -5 "$AMB_WORK/install.log")"
for f in usr/local/sbin/amberfs usr/local/sbin/mkfs.amberfs usr/local/sbin/fsck.amberfs usr/local/sbin/amberctl \
  sbin/mount.amberfs usr/local/lib/systemd/system/amberfs@.service \
  usr/local/share/bash-completion/completions/{amberfs,mkfs.amberfs,fsck.amberfs,amberctl} \
  usr/local/share/man/man8/{amberfs,mkfs.amberfs,fsck.amberfs,amberctl}.8 usr/local/share/man/man5/amberfs.5 \
  usr/local/share/doc/amberfs/examples/{fstab,mnt-vol1.mount,vol1.conf}; do
  [[ -e $dest/$f ]] || amb_fail "make install did not install $f"
done
[[ ! -e $dest/usr/local/bin ]] || amb_fail "make install made an empty $dest/usr/local/bin"
for p in amberfs mkfs.amberfs fsck.amberfs amberctl; do
  info=$(file -b "$dest/usr/local/sbin/$p")
  [[ $info == *", stripped"* ]] || amb_fail "$p is not stripped: $info"
  [[ -x $dest/usr/local/sbin/$p ]] || amb_fail "$p is not executable"
done
amb_log "installed programs: $(file -b "$dest/usr/local/sbin/amberctl" | grep -o 'stripped')"
[[ -x $dest/sbin/mount.amberfs ]] || amb_fail "mount.amberfs is not executable"
grep -qx 'AMBERFS=/usr/local/sbin/amberfs' "$dest/sbin/mount.amberfs" || amb_fail "mount.amberfs: amberfs path not filled in"
grep -qx 'ExecStart=/usr/local/sbin/amberfs $OPTIONS ${VOLDIR} ${MOUNTPOINT}' "$dest/usr/local/lib/systemd/system/amberfs@.service" ||
  amb_fail "unit: ExecStart not filled in"
grep -q '@[A-Z]*@' -r "$dest" --include='*.service' --include='*.conf' --include=mount.amberfs && amb_fail "a placeholder left unfilled"
[[ $(readlink "$dest/usr/local/share/bash-completion/completions/amberctl") == amberfs ]] || amb_fail "completion link"
for m in "$dest"/usr/local/share/man/man*/*; do
  lint=$(mandoc -T lint -W warning "$m" 2>&1 | grep -v mandoc.db || true)
  [[ -z $lint ]] || amb_fail "mandoc -T lint $m: $lint"
done

amb_log "make install PREFIX=... (real paths) for the mount tests"
prefix=$AMB_WORK/usr
make -s -C "$repo" BUILD="$AMBERFS_BUILD" PREFIX="$prefix" MOUNTHELPERDIR="$prefix/sbin" SYSCONFDIR="$AMB_WORK/etc" install \
  >"$AMB_WORK/install2.log" 2>&1 || amb_fail "make install PREFIX: $(tail -5 "$AMB_WORK/install2.log")"
# mount(8) finds helpers in /sbin (here /usr/sbin): lay the installed ones over it.
mount -t overlay overlay -o "lowerdir=$prefix/sbin:/usr/sbin" /usr/sbin || amb_skip "no overlay file system for the mount helper"
AMB_KERNEL_MOUNTS+=(/usr/sbin)
[[ -x /sbin/mount.amberfs ]] || amb_fail "the installed mount.amberfs is not in /sbin"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
mkdir -p "$mnt"
AMB_FUSE_MOUNTS+=("$mnt")

amb_log "mount -t amberfs"
mount -t amberfs "$vol" "$mnt" -o cache_size=32M,io=plain,noauto,nofail,_netdev,x-systemd.automount,comment=test ||
  amb_fail "mount -t amberfs failed"
amb_is_mounted "$mnt" || amb_fail "not mounted after mount -t amberfs"
findmnt -n -o FSTYPE,SOURCE "$mnt" | grep -qx "fuse.amberfs *$vol" || amb_fail "findmnt: $(findmnt -n "$mnt")"
[[ $(amb_stat "$mnt" amberfs_cache_budget_bytes) == $((32 << 20)) ]] || amb_fail "cache_size not applied"
grep -q '^amberfs_io_backend_info.*backend="plain"' "$mnt/stats" || amb_fail "io=plain not applied"
AMB_PIDS[$mnt]=$(awk '/^mount by pid/ { print $4 }' "$vol/lock")
head -c $((4 << 20)) /dev/urandom >"$AMB_WORK/data"
dd if="$AMB_WORK/data" of="$mnt/volume" bs=1M conv=notrunc status=none
"$AMBERCTL" umount "$mnt" || amb_fail "amberctl umount of a mount -t amberfs: exit $?"
unset "AMB_PIDS[$mnt]"
flock -n "$vol/lock" true || amb_fail "volume still locked after amberctl umount"
cmp <(head -c $((4 << 20)) "$vol/image") "$AMB_WORK/data" || amb_fail "data not in the image"

amb_log "mount -t amberfs with a bad option"
rc=0
mount -t amberfs "$vol" "$mnt" -o cache_size=lots 2>"$AMB_WORK/err" || rc=$?
[[ $rc != 0 ]] || amb_fail "a bad option mounted"
grep -q "cache_size" "$AMB_WORK/err" || amb_fail "no message about the bad option: $(cat "$AMB_WORK/err")"
grep -qs " $mnt fuse" /proc/mounts && amb_fail "mounted despite the bad option"
amb_log "bad option: exit $rc, $(head -1 "$AMB_WORK/err")"

amb_log "an fstab line"
echo "$vol  $mnt  amberfs  cache_size=16M,nofail  0 0" >"$AMB_WORK/fstab"
mount -T "$AMB_WORK/fstab" "$mnt" || amb_fail "mount from the fstab line"
[[ $(amb_stat "$mnt" amberfs_cache_budget_bytes) == $((16 << 20)) ]] || amb_fail "fstab options not applied"
AMB_PIDS[$mnt]=$(awk '/^mount by pid/ { print $4 }' "$vol/lock")
umount "$mnt"
# umount(8) returns before the daemon is done; amberctl waits for it.
"$AMBERCTL" umount "$vol" || amb_fail "amberctl umount VOLDIR after umount(8): exit $?"
unset "AMB_PIDS[$mnt]"
flock -n "$vol/lock" true || amb_fail "volume still locked"

amb_log "amberfs@NAME.service"
svc_mnt=$AMB_WORK/svc-mnt
unitdir=$prefix/lib/systemd/system
unit=$unitdir/amberfs@.service
mkdir -p "$AMB_WORK/etc/amberfs"
cat >"$AMB_WORK/etc/amberfs/t1.conf" <<EOF
VOLDIR=$vol
MOUNTPOINT=$svc_mnt
OPTIONS="-o cache_size=24M -o io=plain"
EOF
if command -v systemd-analyze >/dev/null; then
  cp "$unit" "$unitdir/amberfs@t1.service"
  systemd-analyze verify --man=no "$unitdir/amberfs@t1.service" >"$AMB_WORK/verify" 2>&1 || amb_fail "systemd-analyze verify: $(cat "$AMB_WORK/verify")"
  [[ ! -s $AMB_WORK/verify ]] || amb_fail "systemd-analyze verify warns: $(cat "$AMB_WORK/verify")"
  systemd-analyze verify --man=no "$prefix/share/doc/amberfs/examples/mnt-vol1.mount" >"$AMB_WORK/verify" 2>&1 ||
    amb_fail "systemd-analyze verify of the .mount example: $(cat "$AMB_WORK/verify")"
else
  amb_log "note: systemd-analyze not installed; the unit is run below but not verified"
fi
grep -q "^EnvironmentFile=$AMB_WORK/etc/amberfs/%i.conf$" "$unit" || amb_fail "unit: EnvironmentFile"
grep -q '^Type=forking$' "$unit" || amb_fail "unit: Type"
AMB_FUSE_MOUNTS+=("$svc_mnt")
# What systemd does for "start": the conf's variables, then each Exec line
# ($VAR split into words, ${VAR} one word: the same as a shell's for these values).
(
  set -a
  source "$AMB_WORK/etc/amberfs/t1.conf"
  set +a
  for key in ExecStartPre ExecStart; do
    line=$(sed -n "s/^$key=//p" "$unit")
    eval "$line" || exit 1
  done
) || amb_fail "the unit's start lines failed"
amb_is_mounted "$svc_mnt" || amb_fail "the unit did not mount"
[[ $(amb_stat "$svc_mnt" amberfs_cache_budget_bytes) == $((24 << 20)) ]] || amb_fail "the unit's OPTIONS not applied"
main=$(awk '/^mount by pid/ { print $4 }' "$vol/lock")
AMB_PIDS[$svc_mnt]=$main
dd if="$AMB_WORK/data" of="$svc_mnt/volume" bs=1M seek=8 conv=notrunc status=none
# "stop": KillMode=mixed, KillSignal=SIGTERM to the main process.
kill -TERM "$main"
for _ in $(seq 300); do kill -0 "$main" 2>/dev/null || break; sleep 0.05; done
kill -0 "$main" 2>/dev/null && amb_fail "the daemon did not exit on SIGTERM"
unset "AMB_PIDS[$svc_mnt]"
grep -qs " $svc_mnt fuse" /proc/mounts && amb_fail "still mounted after stop"
[[ ! -e $vol/mounted ]] || amb_fail "the unit's stop left the volume unclean"
cmp <(dd if="$vol/image" bs=1M skip=8 count=4 status=none) "$AMB_WORK/data" || amb_fail "data written before stop not in the image"
amb_log "ok"
