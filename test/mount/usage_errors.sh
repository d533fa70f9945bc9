#!/usr/bin/env bash
# Usage errors of every program: exit 2 (fsck.amberfs: 16, fsck(8)'s usage
# code) with a message and a hint, what each man page's EXIT STATUS says;
# sizes with a fraction; the mount point and options checked before the
# volume is opened; no mount onto a regular file; --help lists every -o
# option amberfs knows; fsck counts "1 snapshot".
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
FSCK=$AMBERFS_BUILD/fsck.amberfs
here=$(dirname "$0")

# usage PROGRAM CODE WHAT ARGS...: exits CODE with "Try 'PROGRAM --help'".
usage() {
  local prog=$1 code=$2 what=$3 rc=0
  shift 3
  "$AMBERFS_BUILD/$prog" "$@" >/dev/null 2>"$AMB_WORK/err" || rc=$?
  [[ $rc == "$code" ]] || amb_fail "$prog $what: exit $rc, want $code ($(cat "$AMB_WORK/err"))"
  grep -q "Try '$prog --help'" "$AMB_WORK/err" || amb_fail "$prog $what: no hint: $(cat "$AMB_WORK/err")"
  amb_log "$prog $what: exit $rc: $(head -1 "$AMB_WORK/err")"
}
# man_exit PAGE CODE TEXT: the man page's EXIT STATUS gives CODE for TEXT.
man_exit() {
  awk '/^\.Sh EXIT STATUS/ { on = 1; next } /^\.Sh/ { on = 0 } on' "$here/../../man/$1" |
    grep -A1 "^\.It $2\$" | grep -qi "$3" || amb_fail "man/$1: EXIT STATUS does not give $2 for $3"
}

amb_log "man pages agree"
man_exit mkfs.amberfs.8 2 usage
man_exit amberfs.8 2 usage
man_exit amberctl.8 2 usage
man_exit fsck.amberfs.8 16 usage

amb_log "mkfs.amberfs"
usage mkfs.amberfs 2 "unknown option" --bogus "$AMB_WORK/v"
usage mkfs.amberfs 2 "no VOLDIR" --size 1G
usage mkfs.amberfs 2 "no --size" "$AMB_WORK/v"
usage mkfs.amberfs 2 "option without its value" "$AMB_WORK/v" --size
usage mkfs.amberfs 2 "bad suffix" --size 1.5X "$AMB_WORK/v"
usage mkfs.amberfs 2 "fraction of a byte" --size 0.0001K "$AMB_WORK/v"
usage mkfs.amberfs 2 "size not a multiple of the chunk" --size 100000 "$AMB_WORK/v"
usage mkfs.amberfs 2 "bad block size" --size 1G --block-size 3K "$AMB_WORK/v"
usage mkfs.amberfs 2 "bad slow store URL" --size 1G --slow ftp://x "$AMB_WORK/v"
usage mkfs.amberfs 2 "--restore with --size" --restore file:///x --size 1G "$AMB_WORK/v"
usage mkfs.amberfs 2 "VOLDIR is a regular file" --size 1G "$AMB_WORK/err"
[[ ! -e $AMB_WORK/v ]] || amb_fail "a refused mkfs left $AMB_WORK/v"
out=$("$MKFS" --size 1.5G "$AMB_WORK/v") || amb_fail "mkfs --size 1.5G"
grep -q 'size 1536M' <<<"$out" || amb_fail "1.5G is not 1536M: $out"

amb_log "fsck.amberfs"
usage fsck.amberfs 16 "unknown option" --bogus "$AMB_WORK/v"
usage fsck.amberfs 16 "no VOLDIR"
usage fsck.amberfs 16 "-n and -y" -n -y "$AMB_WORK/v"

amb_log "amberctl"
usage amberctl 2 "no command"
usage amberctl 2 "unknown command" frobnicate "$AMB_WORK/v"

amb_log "amberfs: options, then the mount point, then the volume"
touch "$AMB_WORK/file"
mkdir -p "$AMB_WORK/mnt"
usage amberfs 2 "no MOUNTPOINT" "$AMB_WORK/v"
usage amberfs 2 "bad option (before a bad mount point and a missing volume)" \
  -o cache_size=lots "$AMB_WORK/nothing" "$AMB_WORK/file"
grep -q "cache_size=lots" "$AMB_WORK/err" || amb_fail "the option error does not name the option"
usage amberfs 2 "mount point is a regular file (before a missing volume)" "$AMB_WORK/nothing" "$AMB_WORK/file"
grep -q "is not a directory" "$AMB_WORK/err" || amb_fail "regular file: $(cat "$AMB_WORK/err")"
listing() { find "$AMB_WORK/v" -printf '%p %s %T@ %C@\n' | sort; }
before=$(listing)
AMB_FUSE_MOUNTS+=("$AMB_WORK/file")  # for the cleanup, should the refusal fail
usage amberfs 2 "mount point is a regular file" "$AMB_WORK/v" "$AMB_WORK/file"
grep -qs " $AMB_WORK/file " /proc/mounts && amb_fail "a mount onto a regular file was made"
usage amberfs 2 "missing mount point" "$AMB_WORK/v" "$AMB_WORK/nowhere"
grep -q "mkdir -p $AMB_WORK/nowhere" "$AMB_WORK/err" || amb_fail "missing mount point: no hint to create it"
usage amberfs 2 "bad option" -o io=aio "$AMB_WORK/v" "$AMB_WORK/mnt"
# Nothing of the volume was opened: no file created, changed or touched.
[[ $(listing) == "$before" ]] || amb_fail "a refused mount touched the volume: $(diff <(echo "$before") <(listing))"
rc=0
"$AMBERFS" "$AMB_WORK/nothing" "$AMB_WORK/mnt" 2>"$AMB_WORK/err" || rc=$?
[[ $rc == 1 ]] || amb_fail "missing volume: exit $rc, want 1"

amb_log "--help lists every -o option amberfs knows"
keys=$(grep -o 'key == "[a-z_0-9]*"' "$here/../../src/volume/mount_options.cc" | cut -d'"' -f2 | sort -u)
[[ $(wc -w <<<"$keys") -ge 10 ]] || amb_fail "found only $(wc -w <<<"$keys") option keys in mount_options.cc"
help=$("$AMBERFS" --help)
for k in $keys; do
  [[ $k == rw ]] && continue  # the default, the opposite of ro
  grep -qE "^  $k([= ]|\$)" <<<"$help" || amb_fail "amberfs --help lacks -o $k"
  grep -q "^\.It Cm $k\b" "$here/../../man/amberfs.8" || amb_fail "amberfs(8) lacks -o $k"
done

amb_log "fsck counts one snapshot in the singular"
amb_mount "$AMB_WORK/v" "$AMB_WORK/mnt" -o cache_size=16M
"$AMBERCTL" snapshot "$AMB_WORK/mnt" one >/dev/null || amb_fail "snapshot"
amb_umount "$AMB_WORK/mnt" || amb_fail "unmount"
out=$("$FSCK" "$AMB_WORK/v") || amb_fail "fsck: $out"
grep -q '^1 snapshot, ' <<<"$out" || amb_fail "fsck: $(grep snapshot <<<"$out")"
amb_log "PASS"
