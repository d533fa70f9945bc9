#!/usr/bin/env bash
# Issue 15's throughput figures as a user meets them, through the FUSE mount:
# the same run with encryption and compression on against both off, on random
# data (incompressible: the codec must notice that cheaply).
#
#   A "both off"   mkfs.amberfs --size S --compress none --slow file://WORK/slow VOL
#                  (no key: no encryption), mounted with the default options.
#   B "enc+zstd"   mkfs.amberfs --size S --key-file K --slow file://WORK/slow VOL
#                  (compression left at its default, zstd; AES-256-GCM), mounted
#                  with -o key_file=K.
#
# Each run: mkfs (untimed), mount, dd of the run's random bytes into
# MNT/volume (bs=1M conv=fsync, untimed; the same bytes for A and B, made once
# per script run), then
#   snapshot  `echo snapshot s1 > MNT/ctl` timed from the open until the write
#             returns (the reply is read on the same fd): S / that time.
#   upload    from that same start until `echo drain > MNT/ctl` returns (every
#             blob in the slow store): S / that time.
# then unmount (waiting for the daemon to exit), the slow store's size (du -sb)
# noted, the volume directory removed (nothing local is left), and
#   restore   `mkfs.amberfs --restore file://WORK/slow [--key-file K] NEWDIR`
#             timed until it returns: S / that time (B's includes opening the
#             key: the scrypt derivation, as a user pays it). NEWDIR/image must
#             equal the bytes written (cmp, untimed), else the run fails.
#
#   bash bench/codec_bench.sh [BUILD_DIR]                      (as root)
#
# Rounds run A then B (A, B, A, B, ...); every figure is the median of
# CODEC_BENCH_ROUNDS rounds, and `sync; sleep 2` comes before every timed
# step's run (no drop_caches: users' caches are warm; the slow store is a
# directory on the same file system as the volume). Per round it also prints
# the snapshot reply's bytes_stored / bytes_logical; per round and as medians
# in the table, the slow store's size (du -sb), the daemon's CPU seconds over
# snapshot + drain (/proc/PID/stat) and the restore's (user + system).
#
# Target (issue 15), reported as met/missed, never failing: snapshot and
# restore throughput with encryption and compression on >= 0.8x the same run
# with both off. The upload (snapshot + drain) row carries the same target.
#
# Environment (defaults in brackets):
#   CODEC_BENCH_MIB [1024] volume and data size in MiB
#   CODEC_BENCH_ROUNDS [5]  BENCH_DIR [/var/tmp] where the files go
#   BENCH_AMBER_OPTS extra amberfs -o options (both volumes)
# Prints SKIP and exits 0 when the build has no --key-file (encryption not
# built yet), when not root, or without FUSE. Talks to nothing but local
# files; every mount and process it starts is undone, and its files removed,
# on every way out (EXIT trap).
set -uo pipefail
export LC_ALL=C  # decimal points in EPOCHREALTIME, printf and awk

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mib=${CODEC_BENCH_MIB:-1024}
rounds=${CODEC_BENCH_ROUNDS:-5}
bench_dir=${BENCH_DIR:-/var/tmp}

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: codec_bench needs root (FUSE mounts)"; exit 0; fi
build=$(cd "${1:-${AMBERFS_BUILD:-$root/build}}" 2>/dev/null && pwd) || build=${1:-${AMBERFS_BUILD:-$root/build}}
if [[ ! -x $build/amberfs || ! -x $build/mkfs.amberfs ]]; then
  echo "SKIP: codec_bench: amberfs not built in $build"
  exit 0
fi
[[ -c /dev/fuse ]] || { echo "SKIP: codec_bench: no /dev/fuse"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP: codec_bench needs fusermount3 (package fuse3)"; exit 0; }
mkfs_help=$("$build/mkfs.amberfs" --help 2>&1)
if ! grep -q -- '--key-file' <<<"$mkfs_help"; then
  echo "SKIP: codec_bench: this mkfs.amberfs has no --key-file (encryption and compression, issue 15, not built)"
  exit 0
fi
grep -q -- '--compress' <<<"$mkfs_help" || { echo "SKIP: codec_bench: this mkfs.amberfs has no --compress"; exit 0; }
if ! [[ $mib =~ ^[0-9]+$ ]] || ((mib < 1)); then
  echo "codec_bench: CODEC_BENCH_MIB must be a positive whole number of MiB, not $mib"
  exit 2
fi
if ! [[ $rounds =~ ^[0-9]+$ ]] || ((rounds < 1)); then
  echo "codec_bench: CODEC_BENCH_ROUNDS must be a positive whole number, not $rounds"
  exit 2
fi
bytes=$((mib << 20))
size=${mib}M

t_start=$(date +%s)
work=$(mktemp -d "$bench_dir/amberfs-codec-bench-XXXXXX") || exit 1
declare -A daemon_of=()  # FUSE mount point -> its amberfs daemon's pid
helper_pids=()           # dd, mkfs, ctl writers running in the background

cleanup() {
  local rc=$? p m
  set +e
  trap - INT TERM
  for p in "${helper_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${helper_pids[@]}"; do wait "$p" 2>/dev/null; done
  for m in "${!daemon_of[@]}"; do
    if grep -qs " $m fuse" /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; fi
  done
  for m in "${!daemon_of[@]}"; do
    p=${daemon_of[$m]}
    kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; continue; }
    kill "$p" 2>/dev/null
    # amberfs flushes on the way out; give it time before forcing it.
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
mibps() { awk -v b="$bytes" -v d="$1" 'BEGIN { printf "%.1f", b / 1048576 / (d / 1e6) }'; }
settle() { sync; sleep 2; }

# ctl MNT COMMAND OUT: `echo COMMAND > MNT/ctl`, its reply (readable on the fd
# that wrote it) in OUT; in the background so a signal reaches the trap.
# shellcheck disable=SC2016  # $1 and $2 are the inner bash's
ctl() { bg_run "$3" bash -c 'exec 3<>"$1" && echo "$2" >&3 && cat <&3' _ "$1/ctl" "$2"; }
reply_field() { awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null; }


declare -A runs=()  # "<figure>_<A|B>" -> space-separated figures of the runs
add() { runs[$1]+="$2 "; }

key=$work/passphrase
printf 'codec bench passphrase %s\n' "$RANDOM$RANDOM" >"$key"
chmod 600 "$key"

# run MODE ROUND: MODE A (both off) or B (enc+zstd); one volume's whole life.
run() {
  local mode=$1 r=$2 d=$work/$1$2
  local vol=$d/vol mnt=$d/mnt slow=$d/slow snap=fail up=fail rest=fail stored=fail dcpu=fail rcpu=fail note="" t0 ts t1 c0 c1
  local -a mk=(--compress none) mopts=() keyopt=()
  if [[ $mode == B ]]; then mk=(--key-file "$key"); keyopt=(--key-file "$key"); mopts=(-o "key_file=$key"); fi
  [[ -n ${BENCH_AMBER_OPTS:-} ]] && mopts+=(-o "$BENCH_AMBER_OPTS")
  mkdir -p "$mnt"
  if ! bg_run "$d/mkfs.log" "$build/mkfs.amberfs" --size "$size" "${mk[@]}" --slow "file://$slow" "$vol"; then
    log "$mode round $r: mkfs failed: $(tail -n 2 "$d/mkfs.log")"
    add "snap_$mode" fail; add "up_$mode" fail; add "rest_$mode" fail; add "stored_$mode" fail
    add "dcpu_$mode" fail; add "rcpu_$mode" fail
    rm -rf "$d"
    return
  fi
  # A background job starts with SIGINT ignored; give the daemon the default.
  env --default-signal=INT "$build/amberfs" -f "$vol" "$mnt" "${mopts[@]}" >"$d/daemon.log" 2>&1 &
  local pid=$!
  daemon_of[$mnt]=$pid
  if wait_file "$mnt/volume" "$pid" "$d/daemon.log"; then
    stamp t0
    if bg_run "$d/dd.log" dd if="$work/data.bin" of="$mnt/volume" bs=1M conv=fsync,notrunc status=none; then
      stamp t1
      note="fill $(secs $((t1 - t0))) s (untimed)"
      settle
      c0=$(proc_cpu "$pid")
      stamp t0
      if ctl "$mnt" "snapshot s1" "$d/snap.out"; then
        stamp ts
        snap=$(mibps $((ts - t0)))
        note+=", snapshot $(secs $((ts - t0))) s (bytes_stored $(reply_field "$d/snap.out" bytes_stored),"
        note+=" bytes_logical $(reply_field "$d/snap.out" bytes_logical))"
        if ctl "$mnt" drain "$d/drain.out"; then
          stamp t1
          c1=$(proc_cpu "$pid")
          up=$(mibps $((t1 - t0)))
          note+=" + drain $(secs $((t1 - ts))) s = $(secs $((t1 - t0))) s"
          if [[ -n $c0 && -n $c1 ]]; then
            dcpu=$(ticks_s $((c1 - c0)))
            note+=", daemon CPU $dcpu s"
          fi
        else
          log "$mode round $r: drain failed: $(tail -n 2 "$d/drain.out")"
        fi
      else
        log "$mode round $r: snapshot s1 failed: $(tail -n 2 "$d/snap.out")"
      fi
    else
      log "$mode round $r: dd failed: $(tail -n 2 "$d/dd.log")"
    fi
  fi
  unmount "$mnt" || log "$mode round $r: daemon exited non-zero: $(tail -n 2 "$d/daemon.log")"
  if [[ $up != fail ]]; then
    stored=$(du -sb "$slow" | cut -f1)
    note+="; slow store $stored B (du -sb)"
    # Nothing local is left for the restore.
    rm -rf "$vol"
    settle
    children_us c0
    stamp t0
    if bg_run "$d/restore.log" "$build/mkfs.amberfs" --restore "file://$slow" "${keyopt[@]}" "$d/restored"; then
      stamp t1
      children_us c1
      if cmp -s "$work/data.bin" "$d/restored/image"; then
        rest=$(mibps $((t1 - t0)))
        rcpu=$(secs $((c1 - c0)))
        note+="; restore $(secs $((t1 - t0))) s, CPU $rcpu s, image equal to the bytes written"
      else
        note+="; the restored image DIFFERS from the bytes written"
      fi
    else
      note+="; mkfs.amberfs --restore failed: $(tail -n 2 "$d/restore.log")"
    fi
  fi
  add "snap_$mode" "$snap"; add "up_$mode" "$up"; add "rest_$mode" "$rest"; add "stored_$mode" "$stored"
  add "dcpu_$mode" "$dcpu"; add "rcpu_$mode" "$rcpu"
  rm -rf "$d"
  printf '  %s round %d: snapshot %s, upload %s, restore %s MiB/s; %s\n' "$mode" "$r" "$snap" "$up" "$rest" "$note"
}


cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "codec_bench: $size of random data per run, slow store file:// on the same file system," \
  "median of $rounds rounds (A both off, then B enc+zstd, each round)"
echo "  on $(nproc) CPUs ($cpu_model), load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)," \
  "files in $work ($(df --output=source,fstype "$work" | tail -1 | tr -s ' '))"
echo "  $("$build/amberfs" --version 2>/dev/null | head -1), source $(git -C "$here" describe --always --dirty 2>/dev/null ||
  echo unknown)"
[[ -n ${BENCH_AMBER_OPTS:-} ]] && echo "  BENCH_AMBER_OPTS=$BENCH_AMBER_OPTS"

# The bytes: written once, used by every run.
if ! { command -v openssl >/dev/null && openssl rand -out "$work/data.bin" "$bytes" 2>/dev/null &&
  [[ $(stat -c %s "$work/data.bin") == "$bytes" ]]; }; then
  head -c "$bytes" /dev/urandom >"$work/data.bin" || exit 1
fi

for r in $(seq "$rounds"); do
  run A "$r"
  run B "$r"
done

# --- the table -------------------------------------------------------------------
declare -A med=()
for k in snap up rest stored dcpu rcpu; do
  for m in A B; do
    # shellcheck disable=SC2086  # a list of figures
    med[${k}_$m]=$(median ${runs[${k}_$m]:-})
    if [[ ${med[${k}_$m]} =~ ^[0-9.]+$ ]]; then
      case $k in
        stored) med[${k}_$m]=$(awk -v b="${med[${k}_$m]}" 'BEGIN { printf "%.1f", b / 1048576 }') ;;
        dcpu | rcpu) med[${k}_$m]=$(printf '%.2f' "${med[${k}_$m]}") ;;
        *) med[${k}_$m]=$(printf '%.1f' "${med[${k}_$m]}") ;;
      esac
    fi
  done
done
num() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { if num "${1:-}" && num "${2:-}" && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo -; fi; }
# verdict RATIO LIMIT: met / missed / - (RATIO like "0.93x")
verdict() {
  local v=${1%x}
  num "$v" || { echo -; return; }
  awk -v v="$v" -v l="$2" 'BEGIN { print (v >= l ? "met" : "missed") }'
}

echo
row() { printf '%-26s %14s %14s %8s  %-14s %s\n' "$@"; }
row figure "both off" "enc+zstd" ratio target verdict
for k in snap up rest; do
  case $k in
    snap) label="snapshot MiB/s" ;;
    up) label="upload MiB/s (snap+drain)" ;;
    rest) label="restore MiB/s" ;;
  esac
  rt=$(ratio "${med[${k}_B]}" "${med[${k}_A]}")
  row "$label" "${med[${k}_A]:--}" "${med[${k}_B]:--}" "$rt" ">= 0.8x" "$(verdict "$rt" 0.8)"
done
row "slow store MiB (du -sb)" "${med[stored_A]:--}" "${med[stored_B]:--}" "$(ratio "${med[stored_B]}" "${med[stored_A]}")" "" ""
row "daemon CPU s (snap+drain)" "${med[dcpu_A]:--}" "${med[dcpu_B]:--}" "$(ratio "${med[dcpu_B]}" "${med[dcpu_A]}")" "" ""
row "restore CPU s" "${med[rcpu_A]:--}" "${med[rcpu_B]:--}" "$(ratio "${med[rcpu_B]}" "${med[rcpu_A]}")" "" ""
echo "(medians of $rounds rounds of $size random bytes; snapshot: echo snapshot > ctl; upload: from the snapshot's start" \
  "until echo drain > ctl returns; restore: mkfs.amberfs --restore file://SLOW [--key-file K] NEWDIR, image checked with cmp;" \
  "slow store: du -sb of its directory before the restore; CPU: user + system seconds; ratio: enc+zstd / both off)"
echo "codec_bench took $(($(date +%s) - t_start)) s"
