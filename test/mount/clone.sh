#!/usr/bin/env bash
# Clones (mkfs.amberfs --clone, issue 16) through real mounts, against a
# file:// slow store (the origin's VOLDIR/archive):
#  a) a clone of a 96M snapshot with zero ranges is made fast, its directory
#     nearly empty (the image has no blocks), and its mount counts the
#     snapshot's non-null chunks as remote;
#  b) it reads back byte-exact; after the full read nothing is remote and
#     VOLDIR/remote and remote.log are gone;
#  c) a second clone writes 4K at odd offsets over remote chunks (the rest of
#     each chunk stays), reads back exact before and after a remount; clone
#     and origin each take a snapshot `s1` and each reads its own; fsck -n
#     of a clone with remote chunks is clean;
#  d) deleting the origin snapshot `base` in a clone with remote chunks is
#     refused (EBUSY, saying to hydrate); after `hydrate` it works;
#  e) the origin deletes `base` (after overwriting everything) and runs gc: a
#     clone that has fetched nothing yet still reads back exact;
#  f) kill -9 of a clone's daemon during `hydrate` (slowed by strace delays on
#     pwrite64): on the remount a snapshot is exact, a hydrate fetches what
#     was left, and the volume reads exact;
#  g) the slow store moved away: a read of a remote chunk fails with EIO and
#     counts a fetch error, local chunks still read and write; moved back, the
#     read works;
#  h) a read-only mount of a clone with remote chunks is refused;
#  i) stress: 4 random readers and 2 sequential readers (each checking what
#     it reads) and a writer on a fresh clone while `hydrate` runs;
#  j) a clone whose change tracker is lost (every chunk marked at the next
#     mount): its snapshot captures only the chunks that are not remote (the
#     remote ones are the base's), fetches nothing, and reads back exact;
# and mkfs.amberfs --clone usage errors (exit 2). Honors AMBERFS_BUILD: with
# a sanitizer build (build/tsan, build/asan) any report in the daemon's or
# mkfs's log fails the test.
source "$(dirname "$0")/lib.sh"
AMB_TIMEOUT=${AMB_TIMEOUT:-900}
amb_setup
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

FSCK=$AMBERFS_BUILD/fsck.amberfs
MIB=${CLONE_TEST_MIB:-96}  # at least 96: the parts use offsets up to 88M
SIZE=$((MIB << 20))
CHUNK=$((64 << 10))
orig=$AMB_WORK/orig om=$AMB_WORK/om data=$AMB_WORK/data
url=file://$orig/archive
T0=$SECONDS

pass() { echo "PASS: $* ($((SECONDS - T0))s)"; }
# ctl MNT COMMAND...: the reply (or, on failure, the message and the
# write's error) on stdout, read from the same open file; fails when the
# command fails.
ctl() {
  local mnt=$1 rc=0
  shift
  exec 3<>"$mnt/ctl"
  echo "$*" >&3 2>"$AMB_WORK/ctl.err" || rc=$?
  cat <&3
  ((rc == 0)) || echo " [write: $(sed 's/.*: //' "$AMB_WORK/ctl.err")]"
  exec 3>&-
  return $rc
}
# must_ctl MNT COMMAND...: ctl that must work (gc retried while another
# volume's upload marker lingers).
must_ctl() {
  local mnt=$1 out
  shift
  for _ in $(seq 40); do
    out=$(ctl "$mnt" "$@") && { printf '%s\n' "$out"; return 0; }
    [[ $1 == gc && $out == *busy* ]] || break
    sleep 0.5
  done
  amb_fail "ctl $* on $mnt: $out; $(tail -3 "$AMB_WORK/daemon.log")"
}
stat_of() { amb_stat "$1" "$2"; }
clone() {
  "$MKFS" --clone "$url" --volume "$orig_uuid" --snapshot base "$@" >"$AMB_WORK/clone.out" 2>>"$AMB_WORK/mkfs.log" ||
    amb_fail "mkfs --clone $*: $(tail -3 "$AMB_WORK/mkfs.log")"
}
# cmp_range FILE EXPECT OFFSET LENGTH: the ranges are equal (reads with dd, 1M blocks).
cmp_range() {
  cmp <(dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$3" count="$4" status=none) \
      <(dd if="$2" bs=1M iflag=skip_bytes,count_bytes skip="$3" count="$4" status=none)
}
# pwrite_both VOLUME EXPECT OFFSET LENGTH...: random bytes at each offset, into both.
pwrite_both() {
  python3 - "$@" <<'PY'
import os, sys
vol, exp, pairs = sys.argv[1], sys.argv[2], list(map(int, sys.argv[3:]))
v, e = os.open(vol, os.O_WRONLY), os.open(exp, os.O_WRONLY)
for off, n in zip(pairs[::2], pairs[1::2]):
    b = os.urandom(n)
    assert os.pwrite(v, b, off) == n and os.pwrite(e, b, off) == n
os.fsync(v)
PY
}
sanitizer_check() {
  local n
  n=$(cat "$AMB_WORK/daemon.log" "$AMB_WORK/mkfs.log" "$AMB_WORK/ro.out" 2>/dev/null |
      grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' || true)
  if ((n > 0)); then
    grep -h -A 40 -m 3 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' \
      "$AMB_WORK/daemon.log" "$AMB_WORK/mkfs.log" "$AMB_WORK/ro.out" >&2
    amb_fail "$n sanitizer report(s) in the daemons' or mkfs's logs"
  fi
}
touch "$AMB_WORK/mkfs.log"

amb_log "usage errors"
for args in "--take-over-identity" "--size 64M" "--restore $url"; do
  rc=0
  # shellcheck disable=SC2086
  "$MKFS" --clone "$url" $args "$AMB_WORK/never" >/dev/null 2>"$AMB_WORK/err" || rc=$?
  ((rc == 2)) || amb_fail "mkfs --clone with $args exited $rc (want 2): $(cat "$AMB_WORK/err")"
  [[ $(head -1 "$AMB_WORK/err") == "mkfs.amberfs: "?* ]] || amb_fail "mkfs --clone with $args: no message"
  [[ ! -e $AMB_WORK/never ]] || amb_fail "mkfs --clone with $args created VOLDIR"
  amb_log "  --clone $args: $(head -1 "$AMB_WORK/err")"
done
pass "usage errors: --clone with --take-over-identity, --size, --restore exit 2 with a message"

amb_log "the origin: ${MIB}M of random data with zero ranges, snapshot base"
head -c "$SIZE" /dev/urandom >"$data"
# Zero ranges: [16M,20M) never written, [40M,41M) written as zeros, 4K of
# zeros inside a chunk at 50M+8K (that chunk stays non-null).
dd if=/dev/zero of="$data" bs=1M seek=16 count=4 conv=notrunc status=none
dd if=/dev/zero of="$data" bs=1M seek=40 count=1 conv=notrunc status=none
dd if=/dev/zero of="$data" bs=4K seek=$(((50 << 8) + 2)) count=1 conv=notrunc status=none
nonnull=$(python3 - "$data" "$CHUNK" <<'PY'
import sys
f, chunk = open(sys.argv[1], 'rb'), int(sys.argv[2])
zero, n = bytes(chunk), 0
while True:
    b = f.read(chunk)
    if not b:
        break
    n += b != zero[:len(b)]
print(n)
PY
)
amb_mkfs "$orig" "${MIB}M"
amb_mount "$orig" "$om" -o cache_size=16M
dd if="$data" of="$om/volume" bs=1M count=16 conv=notrunc,fsync status=none
dd if="$data" of="$om/volume" bs=1M skip=20 seek=20 conv=notrunc,fsync status=none
must_ctl "$om" snapshot base >/dev/null
must_ctl "$om" drain >/dev/null
amb_umount "$om"
# (the store holds the clones' identities too from the second clone on)
orig_uuid=$(awk '/^uuid/ {print $2}' "$orig/config")

amb_log "a) the clones (all of base, before the origin deletes it)"
t=$SECONDS
start_ns=$(date +%s%N)
clone "$AMB_WORK/c1"
ms=$((($(date +%s%N) - start_ns) / 1000000))
amb_log "  mkfs --clone: ${ms} ms; $(sed -n 2p "$AMB_WORK/clone.out")"
grep -q "$nonnull of $((SIZE / CHUNK)) chunks stay in the slow store" "$AMB_WORK/clone.out" ||
  amb_fail "mkfs --clone does not count $nonnull remote chunks: $(cat "$AMB_WORK/clone.out")"
((ms < 10000)) || amb_fail "mkfs --clone took ${ms} ms"
img_blocks=$(stat -c %b "$AMB_WORK/c1/image")
dir_kib=$(du -sk --exclude=reserve "$AMB_WORK/c1" | cut -f1)
amb_log "  clone dir: ${dir_kib} KiB (without the space reserve), image: $img_blocks blocks allocated"
((img_blocks == 0)) || amb_fail "the clone's image has $img_blocks blocks allocated"
((dir_kib < 2048)) || amb_fail "the clone's directory holds ${dir_kib} KiB: $(du -sk "$AMB_WORK/c1"/* | tr '\n' ' ')"
[[ -s $AMB_WORK/c1/remote && -e $AMB_WORK/c1/remote.log ]] || amb_fail "no remote/remote.log in the clone"
for c in c2 c3 c4 c5 c6 c7 c8 c9; do clone "$AMB_WORK/$c"; done
amb_log "  9 clones made in $((SECONDS - t)) s"
m1=$AMB_WORK/m1
amb_mount "$AMB_WORK/c1" "$m1" -o cache_size=16M
got=$(stat_of "$m1" amberfs_clone_remote_chunks)
((got == nonnull)) || amb_fail "amberfs_clone_remote_chunks $got, the snapshot has $nonnull non-null chunks"
pass "a) mkfs --clone in ${ms} ms, image 0 blocks, dir ${dir_kib} KiB, remote chunks $got = non-null chunks"

amb_log "b) the clone reads back exact"
t=$SECONDS
cmp "$m1/volume" "$data" || amb_fail "the clone differs from the origin's data"
got=$(stat_of "$m1" amberfs_clone_remote_chunks)
fetched=$(stat_of "$m1" amberfs_clone_fetched_chunks_total)
bytes=$(stat_of "$m1" amberfs_clone_fetched_bytes_total)
((got == 0)) || amb_fail "$got chunks remote after a full read"
((fetched == nonnull && bytes == nonnull * CHUNK)) || amb_fail "fetched $fetched chunks, $bytes bytes (want $nonnull)"
[[ ! -e $AMB_WORK/c1/remote && ! -e $AMB_WORK/c1/remote.log ]] || amb_fail "remote files left after the full read"
amb_umount "$m1"
pass "b) full read exact in $((SECONDS - t)) s, $fetched chunks / $bytes bytes fetched, remote 0, remote files gone"

amb_log "c) writes over remote chunks, a remount, snapshot s1 in the clone and in the origin"
m2=$AMB_WORK/m2 exp2=$AMB_WORK/exp2
cp "$data" "$exp2"
amb_mount "$AMB_WORK/c2" "$m2" -o cache_size=16M
# 4K at odd offsets: inside a chunk, across a chunk boundary, in the never
# written range, in the zeroed 4K, near the end; and 100 bytes at 3.
writes=($((7 * CHUNK + 1001)) 4096 $((100 * CHUNK - 2049)) 4096 $(((17 << 20) + 333)) 4096
        $(((50 << 20) + 8192 + 7)) 4096 $((SIZE - 4096 - 5)) 4096 3 100)
pwrite_both "$m2/volume" "$exp2" "${writes[@]}" || amb_fail "writes to the clone"
remote_left=$(stat_of "$m2" amberfs_clone_remote_chunks)
# Only the chunks the writes touched were fetched.
((remote_left >= nonnull - 8)) || amb_fail "writes fetched $((nonnull - remote_left)) chunks"
cmp_range "$m2/volume" "$exp2" $((7 * CHUNK)) $((2 * CHUNK)) || amb_fail "chunk 7 lost bytes beside the write"
reply=$(must_ctl "$m2" snapshot s1)
# The clone's snapshot builds on the origin's blobs: only the chunks written
# are captured and stored, with the index nodes above them and the record.
captured=$(awk '$1 == "chunks_captured" { print $2 }' <<<"$reply")
new_blobs=$(awk '$1 == "new_blobs" { print $2 }' <<<"$reply")
((captured <= 10 && new_blobs <= captured + 8)) ||
  amb_fail "the clone's s1 captured $captured chunks and stored $new_blobs blobs (the origin's should be reused)"
cp "$exp2" "$AMB_WORK/exp2-s1"
remote_at_s1=$(stat_of "$m2" amberfs_clone_remote_chunks)
cmp "$m2/volume" "$exp2" || amb_fail "the clone differs after the writes"
pwrite_both "$m2/volume" "$exp2" $((3 * CHUNK + 17)) 4096  # after s1: only in the volume
amb_umount "$m2"
amb_mount "$AMB_WORK/c2" "$m2" -o cache_size=16M
cmp "$m2/volume" "$exp2" || amb_fail "the clone differs after the remount"
# The origin: other writes, its own s1.
exp_o=$AMB_WORK/exp-orig
cp "$data" "$exp_o"
amb_mount "$orig" "$om" -o cache_size=16M
pwrite_both "$om/volume" "$exp_o" $((7 * CHUNK + 1001)) 4096 $((30 << 20)) 65536 || amb_fail "writes to the origin"
must_ctl "$om" snapshot s1 >/dev/null
must_ctl "$om" drain >/dev/null
must_ctl "$m2" drain >/dev/null
cmp "$m2/snapshots/s1" "$AMB_WORK/exp2-s1" || amb_fail "the clone's snapshots/s1 is not the clone's content at s1"
cmp "$om/snapshots/s1" "$exp_o" || amb_fail "the origin's snapshots/s1 is not the origin's content"
cmp "$m2/snapshots/base" "$data" || amb_fail "the clone's snapshots/base differs from the origin's base"
amb_umount "$m2"
# fsck compares the unmarked chunks with the base: remote ones are not
# differences (fsck -y used to mark them, and the next snapshot took the holes).
# (make check builds no sanitized fsck: then the release one, if built.)
[[ -x $FSCK ]] || FSCK=$(dirname "$0")/../../build/fsck.amberfs
[[ -x $FSCK ]] || amb_fail "fsck.amberfs not built (run make)"
for v in c2 c7; do
  "$FSCK" -n "$AMB_WORK/$v" >"$AMB_WORK/fsck.out" 2>&1 || amb_fail "fsck -n of clone $v: $(grep -E 'ERROR|WARN' "$AMB_WORK/fsck.out" | head -3)"
done
pass "c) writes over remote chunks exact (remote $remote_at_s1 at s1; s1 stored $new_blobs blobs for $captured chunks), exact after remount; s1 of clone and origin each their own; fsck -n of clones clean"

amb_log "d) the origin snapshot cannot be deleted while chunks are remote"
m3=$AMB_WORK/m3
amb_mount "$AMB_WORK/c3" "$m3" -o cache_size=16M
if out=$(ctl "$m3" delete base); then amb_fail "delete base in a clone with remote chunks worked"; fi
amb_log "  refused: $out"
[[ $out == *"[write: Device or resource busy]"* ]] || amb_fail "the refusal is not EBUSY: $out"
[[ $out == *hydrate* ]] || amb_fail "the refusal does not say to hydrate: $out"
reply=$(must_ctl "$m3" hydrate)
amb_log "  hydrate: $(echo $reply)"
[[ $reply =~ chunks\ ([0-9]+).*bytes\ ([0-9]+).*duration_ms\ ([0-9]+) ]] || amb_fail "hydrate reply: $reply"
((BASH_REMATCH[1] == nonnull && BASH_REMATCH[2] == nonnull * CHUNK)) || amb_fail "hydrate fetched: $reply"
[[ $(stat_of "$m3" amberfs_clone_remote_chunks) == 0 && $(stat_of "$m3" amberfs_clone_hydrating) == 0 ]] ||
  amb_fail "after hydrate: remote $(stat_of "$m3" amberfs_clone_remote_chunks), hydrating $(stat_of "$m3" amberfs_clone_hydrating)"
[[ ! -e $AMB_WORK/c3/remote ]] || amb_fail "remote file left after hydrate"
must_ctl "$m3" delete base >/dev/null
cmp "$m3/volume" "$data" || amb_fail "the hydrated clone differs"
reply=$(must_ctl "$m3" hydrate)
[[ $reply == *"chunks 0"* ]] || amb_fail "a second hydrate: $reply"
amb_umount "$m3"
pass "d) delete base refused while remote, hydrate fetched $nonnull chunks, then delete base worked"

amb_log "e) the origin overwrites everything, deletes base and s1, runs gc; a clone with every chunk remote reads exact"
head -c "$SIZE" /dev/urandom | dd of="$om/volume" bs=1M conv=notrunc,fsync iflag=fullblock status=none
must_ctl "$om" snapshot s2 >/dev/null
must_ctl "$om" delete s1 >/dev/null
must_ctl "$om" delete base >/dev/null
gc=$(must_ctl "$om" gc)
must_ctl "$om" drain >/dev/null
amb_log "  origin gc: $(echo $gc | cut -c1-200)"
amb_umount "$om"
m4=$AMB_WORK/m4
amb_mount "$AMB_WORK/c4" "$m4" -o cache_size=16M
((  $(stat_of "$m4" amberfs_clone_remote_chunks) == nonnull )) || amb_fail "c4 is not all remote"
cmp "$m4/volume" "$data" || amb_fail "a clone differs after the origin's gc"
amb_umount "$m4"
pass "e) after the origin's delete base + gc, a fully remote clone reads exact"

# f) needs strace to slow the hydrate down (a local store hydrates 96M in
# a fraction of a second) so that the kill lands half way.
kill_during_hydrate() {
  m5=$AMB_WORK/m5
  amb_mount "$AMB_WORK/c5" "$m5" -o cache_size=16M
  pid=${AMB_PIDS[$m5]}
  # Each chunk's pwrite64 into the image 20 ms late: hydrate takes seconds.
  strace -f -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:delay_enter=20000 -p "$pid" 2>/dev/null &
  tracer=$!
  for _ in $(seq 100); do
    [[ $(awk '/^TracerPid/ {print $2}' "/proc/$pid/status") != 0 ]] && break
    sleep 0.05
  done
  if [[ $(awk '/^TracerPid/ {print $2}' "/proc/$pid/status") == 0 ]]; then
    echo "SKIP: f) strace could not attach to the daemon (ptrace not allowed?)"
    amb_umount "$m5"
    wait "$tracer" 2>/dev/null || true
    return 0
  fi
  sleep 0.2  # every thread attached
  (exec 3<>"$m5/ctl"; echo hydrate >&3) 2>/dev/null &
  hydrate_job=$!
  seen=""
  for _ in $(seq 400); do
    f=$(stat_of "$m5" amberfs_clone_fetched_chunks_total) r=$(stat_of "$m5" amberfs_clone_remote_chunks)
    if ((f > 0 && r > 0)); then seen=$r hydrating=$(stat_of "$m5" amberfs_clone_hydrating); break; fi
    ((r == 0)) && break
    sleep 0.02
  done
  [[ -n $seen ]] || amb_fail "never saw hydrate half way (remote $r, fetched $f)"
  ((hydrating == 1)) || amb_fail "amberfs_clone_hydrating is $hydrating while hydrate runs"
  amb_kill9 "$m5"
  wait "$hydrate_job" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
  amb_mount "$AMB_WORK/c5" "$m5" -o cache_size=16M
  after=$(stat_of "$m5" amberfs_clone_remote_chunks)
  amb_log "  killed with $seen chunks remote; $after remote after the remount"
  ((after > 0 && after <= seen)) || amb_fail "remote after remount $after (saw $seen before the kill)"
  # A snapshot on the unclean mount, with chunks remote: they come from base.
  must_ctl "$m5" snapshot after-kill >/dev/null
  cmp "$m5/snapshots/after-kill" "$data" || amb_fail "a snapshot taken after the kill differs"
  reply=$(must_ctl "$m5" hydrate)
  [[ $reply =~ chunks\ ([0-9]+) ]] && ((BASH_REMATCH[1] == after)) || amb_fail "hydrate after remount: $reply (want chunks $after)"
  cmp "$m5/volume" "$data" || amb_fail "the clone differs after kill -9 during hydrate"
  [[ $(stat_of "$m5" amberfs_clone_remote_chunks) == 0 && ! -e $AMB_WORK/c5/remote ]] || amb_fail "remote chunks left"
  amb_umount "$m5"
  pass "f) kill -9 mid-hydrate ($seen remote at the kill, $after after): snapshot on the remount exact, hydrate finished, exact"
}
amb_log "f) kill -9 during hydrate"
if command -v strace >/dev/null; then kill_during_hydrate; else echo "SKIP: f) strace not installed"; fi

amb_log "g) slow store down"
m6=$AMB_WORK/m6 exp6=$AMB_WORK/exp6
cp "$data" "$exp6"
amb_mount "$AMB_WORK/c6" "$m6" -o cache_size=16M
cmp_range "$m6/volume" "$data" 0 $((1 << 20)) || amb_fail "first 1M differs"
# Let the read-ahead settle (it does not reach 80M).
prev=-1
for _ in $(seq 100); do
  cur=$(stat_of "$m6" amberfs_clone_fetched_chunks_total)
  [[ $cur == "$prev" ]] && break
  prev=$cur
  sleep 0.1
done
mv "$orig/archive" "$orig/archive.away"
rc=0
dd if="$m6/volume" of=/dev/null bs=64K skip=$((80 * 16)) count=1 iflag=direct 2>"$AMB_WORK/dd.err" || rc=$?
((rc != 0)) || amb_fail "reading a remote chunk with the slow store away worked"
grep -q "Input/output error" "$AMB_WORK/dd.err" || amb_fail "dd did not say EIO: $(cat "$AMB_WORK/dd.err")"
errors=$(stat_of "$m6" amberfs_clone_fetch_errors_total)
((errors > 0)) || amb_fail "amberfs_clone_fetch_errors_total is $errors"
cmp_range "$m6/volume" "$data" $((2 * CHUNK)) "$CHUNK" || amb_fail "a local chunk does not read with the store away"
pwrite_both "$m6/volume" "$exp6" $((3 * CHUNK + 5)) 4096 || amb_fail "a write to a local chunk failed with the store away"
cmp_range "$m6/volume" "$exp6" $((3 * CHUNK)) "$CHUNK" || amb_fail "the local write does not read back"
[[ ! -e $orig/archive ]] || amb_fail "something made $orig/archive again while it was away: $(ls -R "$orig/archive" | head)"
mv "$orig/archive.away" "$orig/archive"
dd if="$m6/volume" of=/dev/null bs=64K skip=$((80 * 16)) count=1 iflag=direct status=none ||
  amb_fail "the read still fails with the store back"
cmp "$m6/volume" "$exp6" || amb_fail "the clone differs after the outage"
amb_umount "$m6"
pass "g) store away: dd got EIO, $errors fetch error(s) counted, local chunks read and write; store back: exact"

amb_log "h) a read-only mount of a clone with remote chunks"
m7=$AMB_WORK/m7
mkdir -p "$m7"
AMB_FUSE_MOUNTS+=("$m7")
rc=0
timeout 20 "$AMBERFS" -f "$AMB_WORK/c7" "$m7" -o ro >"$AMB_WORK/ro.out" 2>&1 || rc=$?
amb_is_mounted "$m7" && amb_fail "the read-only mount of a clone with remote chunks mounted"
((rc != 0 && rc != 124)) || amb_fail "amberfs -o ro of a clone exited $rc"
grep -q "clone" "$AMB_WORK/ro.out" && grep -q "read-write" "$AMB_WORK/ro.out" ||
  amb_fail "the refusal does not say why: $(cat "$AMB_WORK/ro.out")"
amb_log "  $(grep -m1 clone "$AMB_WORK/ro.out")"
pass "h) amberfs -o ro of a clone with remote chunks refused (exit $rc) with a message"

amb_log "i) stress: readers and a writer while hydrate runs"
m8=$AMB_WORK/m8 exp8=$AMB_WORK/exp8
cp "$data" "$exp8"
amb_mount "$AMB_WORK/c8" "$m8" -o cache_size=16M
readers=()
for seed in 1 2 3 4; do
  python3 - "$m8/volume" "$data" "$seed" $(((MIB - 8) << 20)) <<'PY' &
import os, random, sys, time
vol, data, seed, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
v, d = os.open(vol, os.O_RDONLY), os.open(data, os.O_RDONLY)
end = time.time() + 6
n = 0
while time.time() < end or n < 200:
    size = rnd.choice([512, 4096, 65536, 131072, 262144, 1 << 20]) + rnd.choice([0, 0, 1, 777])
    off = rnd.randrange(0, limit - size)
    if rnd.random() < 0.5:
        off -= off % 4096
    got, want = os.pread(v, size, off), os.pread(d, size, off)
    if got != want:
        sys.exit("reader %d: %d bytes at %d differ" % (seed, size, off))
    n += 1
print("reader %d: %d reads" % (seed, n))
PY
  readers+=($!)
done
for start in 0 40; do
  (cmp <(dd if="$m8/volume" bs=1M skip=$start count=$((MIB - 8 - start)) status=none) \
       <(dd if="$data" bs=1M skip=$start count=$((MIB - 8 - start)) status=none) ||
     { echo "sequential reader from ${start}M: differs"; exit 1; }) &
  readers+=($!)
done
(python3 - "$m8/volume" "$exp8" $(((MIB - 8) << 20)) <<'PY'
import os, random, sys, time
vol, exp, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
v, e = os.open(vol, os.O_WRONLY), os.open(exp, os.O_WRONLY)
rnd = random.Random(9)
for i in range(300):
    off = base + rnd.randrange(0, (8 << 20) - 4096)
    b = os.urandom(4096)
    os.pwrite(v, b, off)
    os.pwrite(e, b, off)
os.fsync(v)
PY
) &
writer=$!
sleep 0.3
reply=$(must_ctl "$m8" hydrate)
amb_log "  hydrate during the readers: $(echo $reply)"
for p in "${readers[@]}"; do wait "$p" || amb_fail "a reader failed"; done
wait "$writer" || amb_fail "the writer failed"
cmp "$m8/volume" "$exp8" || amb_fail "the clone differs after the stress"
[[ $(stat_of "$m8" amberfs_clone_remote_chunks) == 0 ]] || amb_fail "chunks remote after the stress's hydrate"
amb_umount "$m8"
sanitizer_check
pass "i) 6 readers and a writer during hydrate: every read exact, the volume exact after; 0 sanitizer reports"
amb_log "j) a clone whose change tracker is lost: every chunk marked, remote ones not captured"
c9=$AMB_WORK/c9 m9=$AMB_WORK/m9
rm "$c9/changes"
amb_mount "$c9" "$m9" -o cache_size=16M
reply=$(must_ctl "$m9" snapshot j1)
captured=$(awk '$1 == "chunks_captured" { print $2 }' <<<"$reply")
# Every chunk is marked: the null ones (local, holes) are read, the remote ones not.
((captured == SIZE / CHUNK - nonnull)) ||
  amb_fail "the snapshot captured $captured chunks (want the $((SIZE / CHUNK - nonnull)) that are not remote)"
remote=$(stat_of "$m9" amberfs_clone_remote_chunks)
((remote == nonnull)) || amb_fail "the snapshot fetched chunks: $remote remote (want $nonnull)"
cmp "$m9/snapshots/j1" "$data" || amb_fail "snapshot j1 of the clone with a lost tracker differs from the origin's data"
amb_umount "$m9"
sanitizer_check
pass "j) lost tracker: snapshot j1 captured $captured chunks (none remote), fetched none ($remote remote), reads exact"
amb_log "ok in $((SECONDS - T0)) s"
