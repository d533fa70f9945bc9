# Shared helpers for the mount-level tests. Source it; it is not a test.
#
# A test calls amb_setup first: it makes a scratch directory and installs an
# EXIT trap that always unmounts what the test mounted (FUSE and kernel
# mounts), detaches its loop devices, kills its daemons and removes the
# scratch directory, on every path out of the test.
#
# Exit protocol (test/run_tests.sh): 0 pass, 77 skip (after "SKIP: why"),
# anything else fail.

set -euo pipefail

AMBERFS_BUILD=${AMBERFS_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
AMBERFS=$AMBERFS_BUILD/amberfs
MKFS=$AMBERFS_BUILD/mkfs.amberfs

AMB_WORK=""
declare -A AMB_PIDS=()   # mount point -> pid of its foreground daemon
AMB_FUSE_MOUNTS=()       # every FUSE mount point the test made
AMB_KERNEL_MOUNTS=()     # kernel mounts (ext4 on a loop device)
AMB_LOOPS=()             # loop devices to detach
AMB_WATCHDOG=""

amb_log() { echo "[$(date +%T)] $*"; }
amb_skip() { echo "SKIP: $*"; exit 77; }
amb_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

amb_cleanup() {
  local rc=$? m l p
  set +e
  [[ -n $AMB_WATCHDOG ]] && kill "$AMB_WATCHDOG" 2>/dev/null
  # An fd left open on the mount (exec 3<>ctl) would keep it busy.
  exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  for m in "${AMB_KERNEL_MOUNTS[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m"; }
  done
  for l in "${AMB_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  for m in "${AMB_FUSE_MOUNTS[@]}"; do
    if grep -qs " $m fuse" /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; fi
  done
  for p in "${AMB_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      # Give a daemon the chance to flush and exit before forcing it.
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null
    fi
  done
  [[ -n $AMB_WORK && -d $AMB_WORK ]] && rm -rf "$AMB_WORK"
  exit $rc
}

# Checks what every mount test needs, makes $AMB_WORK and installs the trap.
amb_setup() {
  [[ -x $AMBERFS && -x $MKFS ]] || amb_fail "binaries not built in $AMBERFS_BUILD (run make)"
  [[ $(id -u) -eq 0 ]] || amb_skip "mount tests need root (FUSE mounts, loop devices)"
  [[ -c /dev/fuse ]] || amb_skip "no /dev/fuse"
  command -v fusermount3 >/dev/null || amb_skip "fusermount3 not installed (package fuse3)"
  AMB_WORK=$(mktemp -d /tmp/amberfs-test-XXXXXX)
  trap amb_cleanup EXIT
  trap 'exit 130' INT
  trap 'echo "FAIL: timed out after ${AMB_TIMEOUT:-240}s" >&2; exit 124' TERM
  # A hung daemon must not hang the suite: the watchdog ends the test (and
  # so runs the cleanup) after AMB_TIMEOUT seconds. Killed by the cleanup, it
  # takes its sleep along, and it holds none of the test's output open: a
  # `test | tail` returns when the test does, not when the sleep would end.
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "${AMB_TIMEOUT:-240}" &
    nap=$!
    wait "$nap" && kill -TERM $$
  ) >/dev/null 2>&1 &
  AMB_WATCHDOG=$!
}

# amb_mkfs VOLDIR SIZE [mkfs args...]
amb_mkfs() {
  local vol=$1 size=$2
  shift 2
  "$MKFS" --size "$size" "$@" "$vol" >/dev/null
}

# True once MNT is an amberfs mount whose volume answers.
amb_is_mounted() { grep -qs " $1 fuse.amberfs " /proc/mounts && [[ -e $1/volume ]]; }

# amb_mount VOLDIR MNT [-o OPTS]: starts a foreground daemon (log in
# $AMB_WORK/daemon.log) and waits until the mount answers.
amb_mount() {
  local vol=$1 mnt=$2
  shift 2
  mkdir -p "$mnt"
  # Background jobs of a script start with SIGINT ignored, and libfuse leaves an
  # ignored signal alone; give the daemon the disposition a terminal would.
  env --default-signal=INT "$AMBERFS" -f "$vol" "$mnt" "$@" >>"$AMB_WORK/daemon.log" 2>&1 &
  local pid=$!
  AMB_PIDS[$mnt]=$pid
  AMB_FUSE_MOUNTS+=("$mnt")
  for _ in $(seq 200); do
    amb_is_mounted "$mnt" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -5 "$AMB_WORK/daemon.log" >&2; amb_fail "amberfs exited before mounting $mnt"; }
    sleep 0.05
  done
  amb_fail "timed out waiting for the mount at $mnt"
}

# amb_umount MNT: unmounts and waits for the daemon; returns its exit status.
amb_umount() {
  local mnt=$1 pid=${AMB_PIDS[$1]:-}
  fusermount3 -u "$mnt"
  [[ -n $pid ]] || return 0
  local rc=0
  wait "$pid" || rc=$?
  unset "AMB_PIDS[$mnt]"
  return $rc
}

# amb_kill9 MNT: kills the daemon mid-flight and clears the dead mount.
amb_kill9() {
  local mnt=$1 pid=${AMB_PIDS[$1]}
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  unset "AMB_PIDS[$mnt]"
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
}

# amb_small_fs SIZE DIR: an ext4 file system of SIZE (truncate syntax) on a loop
# device, mounted at DIR, e.g. a volume directory that can fill up (undone by
# the cleanup); skips the test where loop devices are missing.
amb_small_fs() {
  local size=$1 dir=$2 img=$AMB_WORK/small-fs-$RANDOM.img loop
  command -v mkfs.ext4 >/dev/null || amb_skip "mkfs.ext4 not installed"
  [[ -e /dev/loop-control ]] || amb_skip "no loop devices (/dev/loop-control missing)"
  truncate -s "$size" "$img"
  mkfs.ext4 -q -F "$img"
  mkdir -p "$dir"
  loop=$(losetup --find --show "$img") || amb_skip "no free loop device"
  AMB_LOOPS+=("$loop")
  mount "$loop" "$dir"
  AMB_KERNEL_MOUNTS+=("$dir")
}

# amb_free_bytes DIR: bytes available on DIR's file system.
amb_free_bytes() { df --output=avail -B1 "$1" | tail -1; }

# amb_stat MNT NAME: one sample's value from stats (NAME may carry labels).
amb_stat() { awk -v n="$2" '$1 == n { print $2 }' "$1/stats"; }

# amb_pack_in DIR HEX: "PACK OFFSET": the pack file under DIR (walked
# down: the fast store's packs/, or a file:// slow store's packs/<ab>/) that
# holds the blob HEX and the blob's offset in it, found through each pack's
# trailer and entry table (docs/FORMATS.md, "Packs"); fails if none does.
amb_pack_in() {
  python3 - "$1" "$2" <<'PY'
import os, struct, sys
top, blob = sys.argv[1], bytes.fromhex(sys.argv[2])
for root, dirs, files in sorted(os.walk(top)):
    for name in sorted(files):
        if name.startswith('.'):
            continue
        path = os.path.join(root, name)
        with open(path, 'rb') as f:
            f.seek(-64, 2)
            trailer = f.read(64)
            count, table = struct.unpack_from('<I', trailer, 16)[0], struct.unpack_from('<Q', trailer, 24)[0]
            f.seek(table)
            entries = f.read(48 * count)
        for i in range(count):
            if entries[48 * i:48 * i + 32] == blob:
                print(path, struct.unpack_from('<Q', entries, 48 * i + 32)[0])
                sys.exit(0)
sys.exit(1)
PY
}

# amb_pack_of VOLDIR HEX: amb_pack_in of the volume's fast store.
amb_pack_of() { amb_pack_in "$1/fast/packs" "$2"; }

# amb_slow_blobs DIR: how many distinct blobs the file:// slow store DIR
# holds, loose (blobs/) and in packs (their index objects, index/<ab>/).
amb_slow_blobs() {
  python3 - "$1" <<'PY'
import os, struct, sys
top = sys.argv[1]
ids = set()
for root, dirs, files in os.walk(os.path.join(top, 'blobs')):
    ids.update(bytes.fromhex(f) for f in files if not f.startswith('.'))
for root, dirs, files in os.walk(os.path.join(top, 'index')):
    for name in files:
        if name.startswith('.'):
            continue
        tail = open(os.path.join(root, name), 'rb').read()
        count = struct.unpack_from('<I', tail, len(tail) - 64 + 16)[0]
        ids.update(tail[48 * i:48 * i + 32] for i in range(count))
print(len(ids))
PY
}

# amb_flip_byte FILE OFFSET: changes the byte at OFFSET (xor 0x5a), in place.
amb_flip_byte() {
  local byte
  byte=$(od -An -tx1 -j"$2" -N1 "$1" | tr -d ' ')
  [[ -n $byte ]] || return 1
  printf "\\x$(printf '%02x' $((0x$byte ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# amb_expect_fail DESCRIPTION COMMAND...: the command must fail.
amb_expect_fail() {
  local what=$1
  shift
  if "$@" 2>"$AMB_WORK/err"; then amb_fail "$what: succeeded but should have failed"; fi
}

# amb_refuses_options VOLDIR MNT OPTION...: mounting with each -o OPTION is a
# usage error (exit 2) whose message names the option.
amb_refuses_options() {
  local vol=$1 mnt=$2 bad rc
  shift 2
  for bad in "$@"; do
    rc=0
    "$AMBERFS" "$vol" "$mnt" -o "$bad" 2>"$AMB_WORK/err" || rc=$?
    [[ $rc == 2 ]] || amb_fail "-o $bad: exit $rc, want 2"
    grep -q "option '$bad'" "$AMB_WORK/err" || amb_fail "-o $bad: $(cat "$AMB_WORK/err")"
  done
}

# amb_start_s3rver DATADIR PORT: starts s3rver (test/node_modules) on
# 127.0.0.1:PORT (0: any free port) with the bucket amberfs-test, serving
# DATADIR; sets AMB_S3PID and AMB_S3PORT, and exports the credentials. Skips
# the test if s3rver or node is missing.
amb_start_s3rver() {
  local data=$1 want=$2 s3rver
  s3rver=${AMBERFS_S3RVER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.bin/s3rver}
  [[ -x $s3rver ]] || amb_skip "s3rver not installed (cd test && npm install)"
  command -v node >/dev/null || amb_skip "node not installed"
  export NODE_OPTIONS=--openssl-legacy-provider AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
  mkdir -p "$data"
  setsid "$s3rver" -d "$data" -a 127.0.0.1 -p "$want" --configure-bucket amberfs-test >"$AMB_WORK/s3rver.log" 2>&1 &
  AMB_S3PID=$!
  AMB_PIDS[s3rver]=$AMB_S3PID
  AMB_S3PORT=""
  for _ in $(seq 200); do
    AMB_S3PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$AMB_WORK/s3rver.log" | head -1)
    [[ -n $AMB_S3PORT ]] && return 0
    kill -0 "$AMB_S3PID" 2>/dev/null || amb_fail "s3rver exited: $(tail -3 "$AMB_WORK/s3rver.log")"
    sleep 0.1
  done
  amb_fail "s3rver did not start"
}

# amb_stop_s3rver: stops the s3rver amb_start_s3rver started.
amb_stop_s3rver() {
  kill "$AMB_S3PID" 2>/dev/null
  wait "$AMB_S3PID" 2>/dev/null || true
  unset "AMB_PIDS[s3rver]"
}

