#!/usr/bin/env bash
# Issue 14's snapshot figures as a user meets them, through the FUSE mount,
# against restic backing up the same bytes in the same run:
#
#   first       amberfs: `echo snapshot s1 > MNT/ctl` of a volume just filled
#               with BENCH_SNAP_SIZE of random data (dd bs=1M conv=fsync into
#               MNT/volume of a fresh volume, default mount options);
#               restic: `restic backup FILE` of the same bytes as a plain file
#               on the same file system, into a fresh repository.
#   incremental then 5% of the 64 KiB chunks rewritten at random 64 KiB-aligned
#               offsets with new random bytes (python3 os.pwrite + os.fsync per
#               write, as a user's program would; the same offsets and bytes for
#               both and in every round, from BENCH_SEED), and timed again:
#               amberfs `echo snapshot s2 > MNT/ctl` with NO drain in between
#               (s1's upload to the slow store is still running: that is the
#               point), restic a second `restic backup FILE` (parent found).
#   drain       amberfs: `echo drain > MNT/ctl` after s2, until the slow store
#               (file://VOLDIR/archive, mkfs's default) holds everything.
#   files       after unmounting: regular files in the volume directory outside
#               VOLDIR/archive, and objects in the slow store (files under
#               VOLDIR/archive), each per GiB stored (the snapshots' new bytes,
#               s1's bytes_stored + s2's, from their ctl replies).
#
#   bash bench/restic_snapshot_bench.sh [BUILD_DIR]              (as root)
#
# Each figure is the median of BENCH_ROUNDS rounds; in each round amberfs and
# restic run once each, taking turns going first. Every run starts from
# nothing (mkfs / restic init, untimed) and its files are removed after it,
# then `sync; sleep 2` so write-back settles before the next run (no
# drop_caches: users' caches are warm). Timings are wall-clock of the command
# a user types (restic includes its start-up and repository open). restic runs
# with its defaults (its cache on, RESTIC_CACHE_DIR in the run's directory so
# runs are independent; TMPDIR, where it stages packs, there too, so both
# programs write only to the file system under test).
#
# Targets (issue 14), reported as met/missed, never failing:
#   first snapshot >= 5x restic's time, incremental >= 30x restic's time,
#   <= 300 files per GiB in the volume directory, <= 200 slow-store objects
#   per GiB. (At a small BENCH_SNAP_SIZE the per-GiB counts are inflated by
#   the volume's fixed files: the image, config, index, logs.)
#
# Environment (defaults in brackets):
#   BENCH_SNAP_SIZE [1G] volume and file size (a multiple of 64K)
#   BENCH_ROUNDS [3]  BENCH_CHANGE_PCT [5] percent of 64 KiB chunks rewritten
#   BENCH_SEED [14] seed of the rewrite offsets
#   BENCH_FS [host]  host: files in BENCH_DIR; ext4: a fresh journaled ext4
#     (mkfs.ext4 on a loop device over a sparse file in BENCH_DIR of
#     3x BENCH_SNAP_SIZE + 1G, fully initialized so no lazy init runs meanwhile)
#   BENCH_DIR [/var/tmp]  BENCH_AMBER_OPTS extra amberfs -o options
# A tool that is missing prints SKIP (restic: its column shows "-").
# Talks to nothing but local files; every mount, loop device and process it
# starts is undone on every way out (EXIT trap).
set -uo pipefail
export LC_ALL=C  # decimal points in EPOCHREALTIME, printf and awk

here=$(cd "$(dirname "$0")" && pwd)
size=${BENCH_SNAP_SIZE:-1G}
rounds=${BENCH_ROUNDS:-3}
change_pct=${BENCH_CHANGE_PCT:-5}
seed=${BENCH_SEED:-14}
bench_fs=${BENCH_FS:-host}
bench_dir=${BENCH_DIR:-/var/tmp}
chunk=65536

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: restic_snapshot_bench needs root (FUSE mounts, loop devices)"; exit 0; fi
build=$(cd "${1:-${AMBERFS_BUILD:-$here/../build}}" 2>/dev/null && pwd) || build=${1:-${AMBERFS_BUILD:-$here/../build}}
if [[ ! -x $build/amberfs || ! -x $build/mkfs.amberfs ]]; then
  echo "SKIP: restic_snapshot_bench: amberfs not built in $build"
  exit 0
fi
[[ -c /dev/fuse ]] || { echo "SKIP: restic_snapshot_bench: no /dev/fuse"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP: restic_snapshot_bench needs fusermount3 (package fuse3)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: restic_snapshot_bench needs python3"; exit 0; }
case $bench_fs in
  host) ;;
  ext4)
    command -v mkfs.ext4 >/dev/null || { echo "SKIP: BENCH_FS=ext4 needs mkfs.ext4 (package e2fsprogs)"; exit 0; }
    if ! command -v losetup >/dev/null || [[ ! -e /dev/loop-control ]]; then
      echo "SKIP: BENCH_FS=ext4 needs loop devices (losetup, /dev/loop-control)"
      exit 0
    fi
    ;;
  *) echo "restic_snapshot_bench: BENCH_FS must be host or ext4, not $bench_fs"; exit 2 ;;
esac
have_restic=1
command -v restic >/dev/null || { echo "SKIP restic: not installed (package restic)"; have_restic=0; }

bytes=$(numfmt --from=iec "$size") || exit 2
if ((bytes <= 0 || bytes % chunk != 0)); then
  echo "restic_snapshot_bench: BENCH_SNAP_SIZE $size is not a positive multiple of 64K"
  exit 2
fi
nchunks=$((bytes / chunk))
nchange=$(((nchunks * change_pct + 50) / 100))
((nchange >= 1)) || nchange=1

t_start=$(date +%s)
work=$(mktemp -d "$bench_dir/amberfs-restic-bench-XXXXXX") || exit 1
daemon_pid=""    # the amberfs daemon of the run in progress
daemon_mnt=""    # its mount point
helper_pids=()   # dd, python3, restic running in the background
kmount=""        # BENCH_FS=ext4: the ext4 mount point
loopdev=""       # and its loop device
ctl_fd=""        # an open ctl of the run in progress

cleanup() {
  local rc=$? p
  set +e
  trap - INT TERM
  [[ -n $ctl_fd ]] && exec {ctl_fd}>&-
  for p in "${helper_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${helper_pids[@]}"; do wait "$p" 2>/dev/null; done
  # The FUSE mount first: its volume directory may be on the ext4 below.
  if [[ -n $daemon_mnt ]] && grep -qs " $daemon_mnt fuse" /proc/mounts; then
    fusermount3 -u "$daemon_mnt" 2>/dev/null || umount -l "$daemon_mnt" 2>/dev/null
  fi
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill "$daemon_pid" 2>/dev/null
    # amberfs flushes on the way out; give it time before forcing it.
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  if [[ -n $kmount ]] && mountpoint -q "$kmount" 2>/dev/null; then
    umount "$kmount" 2>/dev/null || umount -l "$kmount" 2>/dev/null
  fi
  [[ -n $loopdev ]] && losetup -d "$loopdev" 2>/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

# --- where the runs' files go -------------------------------------------------
if [[ $bench_fs == ext4 ]]; then
  img=$work/ext4.img
  # Allocated up front and read and written with direct I/O, as a disk is:
  # a sparse image made the first round allocate on the host file system as
  # it went (5 s fills against 1.2 s later), and a cached one makes every
  # flush of the ext4 write back the host's page cache of the whole image.
  fallocate -l $((3 * bytes + (1 << 30))) "$img" || exit 1
  loopdev=$(losetup -f --show --direct-io=on "$img") || { echo "SKIP: BENCH_FS=ext4: no free loop device"; loopdev=""; exit 0; }
  # Fully initialized now, so no ext4lazyinit writes behind the runs.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loopdev" || exit 1
  kmount=$work/fs
  mkdir -p "$kmount"
  mount "$loopdev" "$kmount" || { kmount=""; exit 1; }
  data=$kmount
else
  data=$work/runs
  mkdir -p "$data"
fi

# --- the bytes: written once per script run ----------------------------------
# rand.bin: the volume's / file's first contents; new.bin: the rewrite's new
# chunks, in order; offsets.txt: the chunk numbers rewritten, in write order.
gen_random() {  # FILE BYTES
  if ! openssl rand -out "$1" "$2" 2>/dev/null || [[ $(stat -c %s "$1") != "$2" ]]; then
    head -c "$2" /dev/urandom >"$1"
  fi
}
command -v openssl >/dev/null || gen_random() { head -c "$2" /dev/urandom >"$1"; }
gen_random "$work/rand.bin" "$bytes" || exit 1
gen_random "$work/new.bin" $((nchange * chunk)) || exit 1
python3 - "$nchunks" "$nchange" "$seed" >"$work/offsets.txt" <<'PY' || exit 1
import random, sys
n, k, seed = map(int, sys.argv[1:4])
print('\n'.join(str(c) for c in random.Random(seed).sample(range(n), k)))
PY
cat >"$work/rewrite.py" <<'PY'
# rewrite.py TARGET NEW OFFSETS: chunk i of NEW to chunk OFFSETS[i] of TARGET,
# one 64 KiB pwrite + fsync each.
import os, sys
target, new, offsets = sys.argv[1:4]
CHUNK = 65536
chunks = [int(x) for x in open(offsets).read().split()]
with open(new, 'rb') as src:
    fd = os.open(target, os.O_WRONLY)
    try:
        for i, c in enumerate(chunks):
            buf = src.read(CHUNK)
            assert len(buf) == CHUNK, 'new bytes file too short'
            n = os.pwrite(fd, buf, c * CHUNK)
            assert n == CHUNK, 'short write'
            os.fsync(fd)
    finally:
        os.close(fd)
PY

declare -A runs=()  # "<figure>" -> space-separated figures of the runs

amb_stat() { awk -v n="$2" '$1 == n { print $2 }' "$1/stats"; }
reply_field() { awk -v n="$2" '$1 == n { print $2 }' <<<"$1"; }

# ctl_timed MNT COMMAND: `echo COMMAND > MNT/ctl`, timed from the open to the
# write's return; sets ctl_us (empty on failure) and ctl_reply.
ctl_timed() {
  local m=$1 cmd=$2 t0 t1
  ctl_us="" ctl_reply=""
  stamp t0
  exec {ctl_fd}<>"$m/ctl" || { ctl_fd=""; return 1; }
  if echo "$cmd" >&"$ctl_fd"; then
    stamp t1
    ctl_us=$((t1 - t0))
    # The reply is readable on the fd that wrote the command, after it.
    ctl_reply=$(cat <&"$ctl_fd")
  fi
  exec {ctl_fd}>&-
  ctl_fd=""
  [[ -n $ctl_us ]]
}

# settle: what a run made is gone and write-back has settled.
settle() {
  rm -rf "$1"
  sync
  sleep 2
}

# run_amberfs ROUND
run_amberfs() {
  local r=$1 d=$data/amberfs-$1
  local vol=$d/vol mnt=$d/mnt
  local first=fail incr=fail drain=fail files=fail objects=fail note="" t0 t1 stored=""
  mkdir -p "$mnt"
  if ! "$build/mkfs.amberfs" --size "$size" "$vol" >"$d/mkfs.log" 2>&1; then
    log "amberfs round $r: mkfs failed: $(tail -2 "$d/mkfs.log")"
    runs[a_first]+="fail " runs[a_incr]+="fail " runs[a_drain]+="fail " runs[a_files]+="fail " runs[a_objects]+="fail "
    settle "$d"
    return
  fi
  local -a opts=()
  [[ -n ${BENCH_AMBER_OPTS:-} ]] && opts=(-o "$BENCH_AMBER_OPTS")
  # A background job starts with SIGINT ignored; give the daemon the default.
  env --default-signal=INT "$build/amberfs" -f "$vol" "$mnt" "${opts[@]}" >"$d/daemon.log" 2>&1 &
  daemon_pid=$! daemon_mnt=$mnt
  local up=0
  for _ in $(seq 300); do
    if grep -qs " $mnt fuse" /proc/mounts && [[ -e $mnt/volume ]]; then up=1; break; fi
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.05
  done
  if ((up)); then
    stamp t0
    if bg_run "$d/dd.log" dd if="$work/rand.bin" of="$mnt/volume" bs=1M conv=fsync,notrunc status=none; then
      stamp t1
      note="fill $(secs $((t1 - t0))) s"
      if ctl_timed "$mnt" "snapshot s1"; then
        first=$(secs "$ctl_us")
        stored=$(reply_field "$ctl_reply" bytes_stored)
        note+=", s1: $(reply_field "$ctl_reply" chunks_captured) chunks, $(reply_field "$ctl_reply" duration_ms) ms in the daemon"
        note+=", $(amb_stat "$mnt" amberfs_upload_pending) uploads pending after it"
      else
        log "amberfs round $r: snapshot s1 failed"
      fi
      stamp t0
      if bg_run "$d/rewrite.log" python3 "$work/rewrite.py" "$mnt/volume" "$work/new.bin" "$work/offsets.txt"; then
        stamp t1
        note+=", rewrite $(secs $((t1 - t0))) s"
        note+=", $(amb_stat "$mnt" amberfs_upload_pending) uploads pending at s2"
        if ctl_timed "$mnt" "snapshot s2"; then
          incr=$(secs "$ctl_us")
          [[ -n $stored ]] && stored=$((stored + $(reply_field "$ctl_reply" bytes_stored)))
          note+=", s2: $(reply_field "$ctl_reply" chunks_captured) chunks, $(reply_field "$ctl_reply" duration_ms) ms in the daemon"
        else
          log "amberfs round $r: snapshot s2 failed"
        fi
      else
        log "amberfs round $r: rewrite failed: $(tail -2 "$d/rewrite.log")"
      fi
      if ctl_timed "$mnt" drain; then drain=$(secs "$ctl_us"); else log "amberfs round $r: drain failed"; fi
    else
      log "amberfs round $r: dd failed: $(tail -2 "$d/dd.log")"
    fi
  else
    log "amberfs round $r: no mount: $(tail -3 "$d/daemon.log")"
  fi
  if grep -qs " $mnt fuse" /proc/mounts; then fusermount3 -u "$mnt" || umount -l "$mnt"; fi
  if kill -0 "$daemon_pid" 2>/dev/null; then
    for _ in $(seq 600); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$daemon_pid" 2>/dev/null && kill -9 "$daemon_pid"
  fi
  wait "$daemon_pid" 2>/dev/null || log "amberfs round $r: daemon exited non-zero: $(tail -2 "$d/daemon.log")"
  daemon_pid="" daemon_mnt=""
  if [[ $drain != fail ]]; then
    # Per GiB of what the snapshots stored; the volume's size if the replies lacked it.
    local gib
    [[ -n $stored && $stored -gt 0 ]] || stored=$((bytes + nchange * chunk))
    gib=$(awk -v b="$stored" 'BEGIN { printf "%.6f", b / 1073741824 }')
    local nf no
    nf=$(find "$vol" -path "$vol/archive" -prune -o -type f -print | wc -l)
    no=$(find "$vol/archive" -type f | wc -l)
    files=$(awk -v n="$nf" -v g="$gib" 'BEGIN { printf "%.1f", n / g }')
    objects=$(awk -v n="$no" -v g="$gib" 'BEGIN { printf "%.1f", n / g }')
    note+=", $nf files + $no slow objects for $(awk -v g="$gib" 'BEGIN { printf "%.3f", g }') GiB stored"
  fi
  runs[a_first]+="$first " runs[a_incr]+="$incr " runs[a_drain]+="$drain " runs[a_files]+="$files " runs[a_objects]+="$objects "
  printf '  amberfs round %d: first %s s, incremental %s s, drain %s s; %s\n' "$r" "$first" "$incr" "$drain" "$note"
  settle "$d"
}

# run_restic ROUND
run_restic() {
  local r=$1 d=$data/restic-$1
  local first=fail incr=fail repofiles=fail note="" t0 t1
  mkdir -p "$d/tmp" "$d/cache"
  local -a env_=(env RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$d/cache" TMPDIR="$d/tmp")
  # The same bytes as a plain file on the same file system, written untimed.
  if ! bg_run "$d/cp.log" dd if="$work/rand.bin" of="$d/data.bin" bs=1M conv=fsync status=none; then
    log "restic round $r: writing the file failed: $(tail -2 "$d/cp.log")"
  elif ! bg_run "$d/init.log" "${env_[@]}" restic -r "$d/repo" init; then
    log "restic round $r: init failed: $(tail -2 "$d/init.log")"
  else
    stamp t0
    if bg_run "$d/backup1.log" "${env_[@]}" restic -r "$d/repo" backup "$d/data.bin"; then
      stamp t1
      first=$(secs $((t1 - t0)))
      note="1st: $(grep -m1 -o 'Added to the repo[^:]*: .*' "$d/backup1.log")"
    else
      log "restic round $r: first backup failed: $(tail -2 "$d/backup1.log")"
    fi
    stamp t0
    if bg_run "$d/rewrite.log" python3 "$work/rewrite.py" "$d/data.bin" "$work/new.bin" "$work/offsets.txt"; then
      stamp t1
      note+=", rewrite $(secs $((t1 - t0))) s"
      stamp t0
      if bg_run "$d/backup2.log" "${env_[@]}" restic -r "$d/repo" backup "$d/data.bin"; then
        stamp t1
        incr=$(secs $((t1 - t0)))
        note+=", 2nd: $(grep -m1 -o 'Added to the repo[^:]*: .*' "$d/backup2.log")"
        grep -q 'using parent snapshot' "$d/backup2.log" || note+=" (no parent snapshot found!)"
        local gib nf
        gib=$(awk -v b=$((bytes + nchange * chunk)) 'BEGIN { printf "%.6f", b / 1073741824 }')
        nf=$(find "$d/repo" -type f | wc -l)
        repofiles=$(awk -v n="$nf" -v g="$gib" 'BEGIN { printf "%.1f", n / g }')
        note+=", $nf repository files"
      else
        log "restic round $r: second backup failed: $(tail -2 "$d/backup2.log")"
      fi
    else
      log "restic round $r: rewrite failed: $(tail -2 "$d/rewrite.log")"
    fi
  fi
  runs[r_first]+="$first " runs[r_incr]+="$incr " runs[r_files]+="$repofiles "
  printf '  restic  round %d: first %s s, incremental %s s; %s\n' "$r" "$first" "$incr" "$note"
  settle "$d"
}

# median FIGURES...: the middle one (the mean of the middle two for an even count);
# "fail" if any run failed, empty if there were none.
median() {
  local x
  for x in "$@"; do [[ $x =~ ^[0-9.]+$ ]] || { echo fail; return; }; done
  [[ $# -gt 0 ]] || return 0
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "restic_snapshot_bench: $size of random data, $change_pct% of its 64 KiB chunks ($nchange of $nchunks) rewritten" \
  "(seed $seed), median of $rounds rounds (amberfs and restic taking turns going first), BENCH_FS=$bench_fs"
echo "  on $(nproc) CPUs ($cpu_model), load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)," \
  "files in $data ($(df --output=source,fstype "$data" | tail -1 | tr -s ' '))"
echo "  $("$build/amberfs" --version 2>/dev/null | head -1)," \
  "source $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown);" \
  "$( ((have_restic)) && restic version 2>/dev/null | head -1 || echo "no restic")"
[[ -n ${BENCH_AMBER_OPTS:-} ]] && echo "  BENCH_AMBER_OPTS=$BENCH_AMBER_OPTS"
sync
sleep 2

for r in $(seq "$rounds"); do
  if ((r % 2 == 1)) || ((!have_restic)); then
    run_amberfs "$r"
    ((have_restic)) && run_restic "$r"
  else
    run_restic "$r"
    run_amberfs "$r"
  fi
done

# --- the table ---------------------------------------------------------------
declare -A med=()
for k in a_first a_incr a_drain a_files a_objects r_first r_incr r_files; do
  # shellcheck disable=SC2086  # a list of figures
  med[$k]=$(median ${runs[$k]:-})
  # seconds to the millisecond, counts per GiB to a tenth
  if [[ ${med[$k]} =~ ^[0-9.]+$ ]]; then
    case $k in
      *files | *objects) med[$k]=$(printf '%.1f' "${med[$k]}") ;;
      *) med[$k]=$(printf '%.3f' "${med[$k]}") ;;
    esac
  fi
done
num() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { if num "${1:-}" && num "${2:-}" && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo -; fi; }
# verdict VALUE OP LIMIT: met / missed / - (VALUE like "7.10x" or a number)
verdict() {
  local v=${1%x}
  num "$v" || { echo -; return; }
  awk -v v="$v" -v op="$2" -v l="$3" 'BEGIN { ok = op == ">=" ? v >= l : v <= l; print ok ? "met" : "missed" }'
}

echo
row() { printf '%-30s %10s %10s %15s  %-24s %s\n' "$@"; }
row figure amberfs restic restic/amberfs target verdict
rf=$(ratio "${med[r_first]}" "${med[a_first]}")
row "first snapshot s" "${med[a_first]:--}" "${med[r_first]:--}" "$rf" ">= 5x restic" "$(verdict "$rf" ">=" 5)"
ri=$(ratio "${med[r_incr]}" "${med[a_incr]}")
row "after $change_pct% changed s" "${med[a_incr]:--}" "${med[r_incr]:--}" "$ri" ">= 30x restic" "$(verdict "$ri" ">=" 30)"
row "amberfs drain s" "${med[a_drain]:--}" "" "" "" ""
row "files per GiB (volume dir)" "${med[a_files]:--}" "${med[r_files]:--}" "" "<= 300" "$(verdict "${med[a_files]}" "<=" 300)"
row "slow-store objects per GiB" "${med[a_objects]:--}" "" "" "<= 200" "$(verdict "${med[a_objects]}" "<=" 200)"
echo "(medians of $rounds rounds; restic's files per GiB: its repository's files, for comparison; per GiB" \
  "of the bytes stored, $size + $change_pct% for restic)"
echo "restic_snapshot_bench took $(($(date +%s) - t_start)) s"
