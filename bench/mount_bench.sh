#!/usr/bin/env bash
# The mount benchmark: fio jobs through the mount, on the same disk, against
#   raw      a plain file,
#   qemu     qemu-storage-daemon's FUSE export of a qcow2,
#   null     build/bench-servers/null_fuse: a FUSE server that does no work
#            (the ceiling of the FUSE path with amberfs's negotiation),
#   null+pw  the same with FOPEN_PARALLEL_DIRECT_WRITES in its open reply,
#   pass     null_fuse --backing: the least a FUSE server that keeps the bytes
#            can do (one pwrite to a file per write, one fdatasync per fsync),
#            with parallel writes as amberfs; the ceiling of any FUSE block store,
#   amberfs  an amberfs volume's `volume`,
# all of the same size, printed side by side with ratios from this one run,
# plus the amberfs daemon's peak RSS (VmHWM) against cache_size + 64 MiB.
# A target above the ceiling (pass against raw or null, the column "ceil") is
# marked "blocked": no FUSE server can meet it on this machine.
#
#   bash bench/mount_bench.sh [BUILD_DIR]                   (as root)
#
# Each figure is the median of BENCH_ROUNDS (3) runs, the targets' runs
# interleaved (raw, qemu, null, null+pw, amberfs, raw, qemu, ...), write-back
# settled before every run (amberfs: `echo flush > ctl`, then wait until
# amberfs_dirty_bytes is 0; then sync for everyone).
#
# Jobs (IOPS and MiB/s are fio's, whose runtime includes the end_fsync):
#   seq-write    1 MiB sequential write of the whole file, psync, end_fsync   MiB/s
#   seq-read     1 MiB sequential read of the whole file, psync                MiB/s
#                (amberfs: 4x its cache, so every block is a cache miss; no target,
#                shown against pass, the FUSE ceiling)
#                (working set BENCH_SIZE = 4x amberfs's cache BENCH_CACHE)
#   rand-write   4 KiB random write, io_uring qd32, direct, end_fsync         IOPS
#   rand-read    4 KiB random read of written data, io_uring qd32, direct     IOPS
#   fsync-write  4 KiB random write + fsync each, psync                       IOPS
#   snapshot     amberfs only: a 4 KiB random-write psync writer's p99 and max
#                latency while `snapshot s1` runs on a volume filled just before
#                (cache_size 7x, dirty_max 5x the volume, so it starts all dirty),
#                the writer running from before the snapshot to after it;
#                against the same writer, as long, without a snapshot;
#                BENCH_SNAP_PAIRS (2) interleaved pairs, median.
#
# Environment (defaults in brackets):
#   BENCH_SIZE [1G]  BENCH_CACHE [256M]  BENCH_RUNTIME [3] seconds per time-based job
#   BENCH_ROUNDS [3]  BENCH_TARGETS ["raw qemu null nullpw pass amberfs"]
#   BENCH_JOBS ["seq-write seq-read rand-write rand-read fsync-write snapshot"]
#   BENCH_SNAP_SIZE [1G] the snapshot job's volume  BENCH_SNAP_AT [0.3] seconds
#   into the writer  BENCH_SNAP_TAIL [1] seconds of writer after the snapshot
#   BENCH_SNAP_PAIRS [2]
#   BENCH_AMBER_OPTS extra amberfs -o options (e.g. direct)
#   BENCH_NULL_OPTS extra null_fuse arguments (e.g. "--threads 32 --clone-fd")
#   BENCH_NULL_REF [best]  the null column amberfs/null divides by: plain, pw or best
#   BENCH_DIR  where the files go (must be on the disk under test) [/var/tmp]
# A peer that is not installed prints SKIP and its column shows "-".
# Talks to nothing but local files; every mount and process it starts is
# undone on every way out (EXIT trap).
set -uo pipefail

build=$(cd "${1:-${AMBERFS_BUILD:-build}}" && pwd)
size=${BENCH_SIZE:-1G}
cache_size=${BENCH_CACHE:-256M}
runtime=${BENCH_RUNTIME:-3}
rounds=${BENCH_ROUNDS:-3}
read -r -a targets <<<"${BENCH_TARGETS:-raw qemu null nullpw pass amberfs}"
read -r -a jobs <<<"${BENCH_JOBS:-seq-write seq-read rand-write rand-read fsync-write snapshot}"
snap_size=${BENCH_SNAP_SIZE:-1G}
snap_tail=${BENCH_SNAP_TAIL:-1}
snap_at=${BENCH_SNAP_AT:-0.3}
snap_pairs=${BENCH_SNAP_PAIRS:-2}
null_ref=${BENCH_NULL_REF:-best}

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: mount_bench needs root (FUSE mounts)"; exit 0; fi
command -v fio >/dev/null || { echo "SKIP: mount_bench needs fio"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: mount_bench needs jq to read fio's JSON"; exit 0; }

t_start=$(date +%s)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/amberfs-mount-bench-XXXXXX")
declare -A pid_of=()   # target -> daemon pid
declare -A mnt_of=()   # target -> FUSE mount point
declare -A file_of=()  # target -> the file fio works on
declare -A hwm_of=()   # amberfs mount -> VmHWM in KiB, sampled before unmount
helper_pids=()         # fio and ctl writers running in the background

cleanup() {
  local rc=$? t p m
  set +e
  trap - INT TERM
  for p in "${helper_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${helper_pids[@]}"; do wait "$p" 2>/dev/null; done
  for t in "${!mnt_of[@]}"; do
    m=${mnt_of[$t]}
    if grep -qs " $m fuse" /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; fi
  done
  for t in "${!pid_of[@]}"; do
    p=${pid_of[$t]}
    kill -0 "$p" 2>/dev/null || continue
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

# wait_for_fuse MNT PID LOG: until MNT is a FUSE mount with its file in place.
wait_for_fuse() {
  local m=$1 p=$2 logf=$3 file=${4:-}
  for _ in $(seq 300); do
    if grep -qs " $m fuse" /proc/mounts && [[ -z $file || -e $file ]]; then return 0; fi
    kill -0 "$p" 2>/dev/null || { echo "  exited: $(tail -3 "$logf")"; return 1; }
    sleep 0.05
  done
  echo "  timed out waiting for the mount at $m"
  return 1
}

# stop_daemon TARGET: unmounts TARGET and waits for its daemon.
stop_daemon() {
  local t=$1 m=${mnt_of[$1]:-} p=${pid_of[$1]:-}
  if [[ $t == qemu ]]; then
    kill "$p"  # qemu-storage-daemon outlives an unmount of its export; SIGTERM ends both
  elif [[ -n $m ]]; then
    fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  fi
  if [[ -n $p ]]; then
    for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
    wait "$p" 2>/dev/null || echo "  $t: daemon exited non-zero"
  fi
  unset "pid_of[$t]" "mnt_of[$t]"
}

start_raw() {
  file_of[raw]=$work/raw.img
}

start_qemu() {
  if ! command -v qemu-storage-daemon >/dev/null || ! command -v qemu-img >/dev/null; then
    echo "SKIP qemu: qemu-storage-daemon not installed (packages qemu-utils qemu-system-common)"
    return 1
  fi
  qemu-img create -q -f qcow2 "$work/disk.qcow2" "$size" || return 1
  touch "$work/qemu-export"
  qemu-storage-daemon \
    --blockdev node-name=file,driver=file,filename="$work/disk.qcow2" \
    --blockdev node-name=fmt,driver=qcow2,file=file \
    --export type=fuse,id=exp,node-name=fmt,mountpoint="$work/qemu-export",writable=on \
    >"$work/qsd.log" 2>&1 &
  pid_of[qemu]=$! mnt_of[qemu]=$work/qemu-export file_of[qemu]=$work/qemu-export
  wait_for_fuse "$work/qemu-export" "${pid_of[qemu]}" "$work/qsd.log" || { echo "SKIP qemu: no export"; return 1; }
}

# start_null TARGET [ARGS...]
start_null() {
  local t=$1
  shift
  local bin=$build/bench-servers/null_fuse
  [[ -x $bin ]] || { echo "SKIP $t: $bin not built (make bench builds it)"; return 1; }
  mkdir -p "$work/$t-mnt"
  # shellcheck disable=SC2086  # BENCH_NULL_OPTS is a word list
  "$bin" "$work/$t-mnt" --size "$size" "$@" ${BENCH_NULL_OPTS:-} >"$work/$t.log" 2>&1 &
  pid_of[$t]=$! mnt_of[$t]=$work/$t-mnt file_of[$t]=$work/$t-mnt/volume
  wait_for_fuse "$work/$t-mnt" "${pid_of[$t]}" "$work/$t.log" "$work/$t-mnt/volume" || { echo "SKIP $t"; return 1; }
}

# start_amberfs TARGET VOLSIZE CACHE [EXTRA_OPTS]
start_amberfs() {
  local t=$1 vsize=$2 cache=$3 extra=${4:-}
  if [[ ! -x $build/amberfs || ! -x $build/mkfs.amberfs || ! -c /dev/fuse ]]; then
    echo "SKIP $t: amberfs not built in $build"
    return 1
  fi
  "$build/mkfs.amberfs" --size "$vsize" "$work/$t-vol" >/dev/null || return 1
  mkdir -p "$work/$t-mnt"
  local opts=cache_size=$cache${extra:+,$extra}${BENCH_AMBER_OPTS:+,$BENCH_AMBER_OPTS}
  # A background job starts with SIGINT ignored; give the daemon the default.
  env --default-signal=INT "$build/amberfs" -f "$work/$t-vol" "$work/$t-mnt" -o "$opts" >"$work/$t.log" 2>&1 &
  pid_of[$t]=$! mnt_of[$t]=$work/$t-mnt file_of[$t]=$work/$t-mnt/volume
  wait_for_fuse "$work/$t-mnt" "${pid_of[$t]}" "$work/$t.log" "$work/$t-mnt/volume" || { echo "SKIP $t"; return 1; }
  log "$t: amberfs -o $opts ($(grep -o 'amberfs_io_backend_info{[^}]*}' "$work/$t-mnt/stats"))"
}

amb_stat() { awk -v n="$2" '$1 == n { print $2 }' "$1/stats"; }

# settle TARGET: no write-back of an earlier run may overlap the next one.
settle() {
  local t=$1 m=${mnt_of[$1]:-} d
  if [[ $t == amberfs* && -n $m ]]; then
    echo flush >"$m/ctl" || echo "  $t: ctl flush failed"
    for _ in $(seq 1200); do
      d=$(amb_stat "$m" amberfs_dirty_bytes)
      [[ $d == 0 ]] && break
      sleep 0.1
    done
    [[ $d == 0 ]] || echo "  $t: still $d dirty bytes after 120 s"
  fi
  sync
}

# run_fio OUT ARGS...: fio in the background so a signal reaches the trap at once.
run_fio() {
  local out=$1
  shift
  fio --output-format=json --output="$out" "$@" 2>"$out.err" &
  local p=$!
  helper_pids+=("$p")
  wait "$p"
  local rc=$?
  forget_pid "$p"
  [[ $rc -eq 0 ]] || echo "  fio failed: $(head -3 "$out.err")"
  return $rc
}

declare -A runs=()   # "<target>,<job>" -> space-separated figures of the runs

# run_job TARGET JOB ROUND: one run of a job, its figure appended to runs[].
run_job() {
  local t=$1 job=$2 r=$3 args=()
  local out=$work/fio-$t-$job-$r.json
  case $job in
    seq-write) args=(--rw=write --bs=1M --ioengine=psync --end_fsync=1) ;;
    seq-read) args=(--rw=read --bs=1M --ioengine=psync) ;;
    rand-write) args=(--rw=randwrite --bs=4k --ioengine=io_uring --iodepth=32 --direct=1 --end_fsync=1
                      --time_based --runtime="$runtime") ;;
    rand-read) args=(--rw=randread --bs=4k --ioengine=io_uring --iodepth=32 --direct=1
                     --time_based --runtime="$runtime") ;;
    fsync-write) args=(--rw=randwrite --bs=4k --ioengine=psync --fsync=1 --time_based --runtime="$runtime") ;;
  esac
  settle "$t"
  local v
  if run_fio "$out" --name="$job" --filename="${file_of[$t]}" --size="$size" --randrepeat=1 "${args[@]}"; then
    case $job in
      seq-write) v=$(jq '.jobs[0].write.bw_bytes / 1048576 | floor' "$out") ;;
      seq-read) v=$(jq '.jobs[0].read.bw_bytes / 1048576 | floor' "$out") ;;
      rand-read) v=$(jq '.jobs[0].read.iops | floor' "$out") ;;
      *) v=$(jq '.jobs[0].write.iops | floor' "$out") ;;
    esac
  else
    v=fail
  fi
  runs[$t,$job]+="$v "
  printf '  %-8s %-12s run %d: %s (fio runtime %s ms)\n' "$t" "$job" "$r" "$v" \
    "$(jq '.jobs[0].job_runtime' "$out" 2>/dev/null)"
}

# median FIGURES...: the middle one (the mean of the middle two for an even count);
# "fail" if any run failed, empty if there were none.
median() {
  local x
  for x in "$@"; do [[ $x =~ ^[0-9.]+$ ]] || { echo fail; return; }; done
  [[ $# -gt 0 ]] || return 0
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

has() { local x want=$1; shift; for x in "$@"; do [[ $x == "$want" ]] && return 0; done; return 1; }

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "mount_bench: file $size, amberfs cache_size $cache_size (working set $(awk -v a="$(numfmt --from=iec "$size")" \
  -v b="$(numfmt --from=iec "$cache_size")" 'BEGIN { printf "%.1f", a / b }')x cache), ${runtime}s per time-based job," \
  "median of $rounds interleaved runs"
echo "  on $(nproc) CPUs ($cpu_model), load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r), $(fio --version)," \
  "files in $work ($(df --output=source "$work" | tail -1))"
echo "  $("$build/amberfs" --version 2>/dev/null || echo "amberfs not built")," \
  "source $(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo unknown);" \
  "$(qemu-storage-daemon --version 2>/dev/null | head -1 || echo "no qemu-storage-daemon")"
[[ -n ${BENCH_AMBER_OPTS:-} ]] && echo "  BENCH_AMBER_OPTS=$BENCH_AMBER_OPTS"
[[ -n ${BENCH_NULL_OPTS:-} ]] && echo "  BENCH_NULL_OPTS=$BENCH_NULL_OPTS"

# --- the four throughput jobs, all targets mounted side by side -------------
main_jobs=()
for j in seq-write seq-read rand-write rand-read fsync-write; do has "$j" "${jobs[@]}" && main_jobs+=("$j"); done
live=()
if [[ ${#main_jobs[@]} -gt 0 ]]; then
  for t in "${targets[@]}"; do
    case $t in
      raw) start_raw ;;
      qemu) start_qemu ;;
      null) start_null null ;;
      nullpw) start_null nullpw --parallel-writes ;;
      pass) truncate -s "$size" "$work/pass.img" && start_null pass --backing "$work/pass.img" --parallel-writes ;;
      amberfs) start_amberfs amberfs "$size" "$cache_size" ;;
      *) echo "unknown target $t"; false ;;
    esac && live+=("$t")
  done
  # Every file is written once before the first timed run, so no run pays for
  # first allocation (the raw file's and the qcow2's blocks, amberfs's sparse
  # image) and rand-read reads written data whichever jobs run.
  for t in "${live[@]}"; do
    run_fio "$work/layout-$t.json" --name=layout --filename="${file_of[$t]}" --size="$size" --rw=write --bs=1M \
      --ioengine=psync --end_fsync=1 >/dev/null
  done
  log "files laid out ($(($(date +%s) - t_start)) s so far)"
  for job in "${main_jobs[@]}"; do
    for r in $(seq "$rounds"); do
      for t in "${live[@]}"; do run_job "$t" "$job" "$r"; done
    done
  done
  if [[ -n ${pid_of[amberfs]:-} ]]; then
    hwm_of[amberfs]=$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid_of[amberfs]}/status")
    amb_backend=$(grep -o 'amberfs_io_backend_info{[^}]*}' "${mnt_of[amberfs]}/stats")
  fi
  for t in "${live[@]}"; do [[ $t == raw ]] || stop_daemon "$t"; done
  rm -rf "$work/raw.img" "$work/disk.qcow2" "$work/amberfs-vol" "$work/pass.img"
fi

# --- writer latency during a snapshot of an all-dirty volume ----------------
declare -A snap=()  # "with|without,p99|max" -> space-separated ms figures
# snap_run WITH(0|1) I: fill the volume, start the writer at once. With a
# snapshot: `snapshot s1` BENCH_SNAP_AT seconds in, the writer stopped (SIGINT:
# fio reports what it did) BENCH_SNAP_TAIL seconds after the snapshot returned,
# its runtime kept in snap_ms; without: the writer runs as long.
snap_ms=6000  # set by each with-snapshot run for its pair
snap_run() {
  local with=$1 i=$2 m=${mnt_of[amberfs-snap]} out=$work/snap-$1-$2.json
  settle amberfs-snap
  local f0 f1 dirty_fill
  f0=$(date +%s%N)
  run_fio "$work/fill.json" --name=fill --filename="$m/volume" --size="$snap_size" --rw=write --bs=1M \
    --ioengine=psync >/dev/null || return 1
  f1=$(date +%s%N)
  dirty_fill=$(amb_stat "$m" amberfs_dirty_bytes)
  local limit=${snap_ms}ms
  [[ $with == 1 ]] && limit=600s
  fio --output-format=json --output="$out" --name=writer --filename="$m/volume" --size="$snap_size" \
    --rw=randwrite --bs=4k --ioengine=psync --direct=1 --time_based --runtime="$limit" \
    --lat_percentiles=1 --percentile_list=50:99:99.9 2>"$out.err" &
  local fio_pid=$!
  helper_pids+=("$fio_pid")
  local note="fill took $(((f1 - f0) / 1000000)) ms, left $((dirty_fill / 1048576)) MiB dirty"
  if [[ $with == 1 ]]; then
    sleep "$snap_at"
    local dirty_snap t0 t1 reply="" fd
    dirty_snap=$(amb_stat "$m" amberfs_dirty_bytes)
    # The reply is readable on the fd that wrote the command, after it.
    exec {fd}<>"$m/ctl"
    t0=$(date +%s%N)
    if echo snapshot s1 >&"$fd"; then reply=$(cat <&"$fd"); else echo "  snapshot failed"; fi
    t1=$(date +%s%N)
    exec {fd}>&-
    reply=$(awk '$1 ~ /^(chunks_captured|cow_chunks|cow_blocks|bytes_stored|duration_ms|barrier_ms)$/ { printf "%s%s %s", sep, $1, $2; sep = ", " }' <<<"$reply")
    note+=", $((dirty_snap / 1048576)) MiB dirty at the snapshot, which took $(((t1 - t0) / 1000000)) ms ($reply)"
    sleep "$snap_tail"
    kill -INT "$fio_pid" 2>/dev/null
  fi
  local rc=0
  wait "$fio_pid" || rc=$?
  forget_pid "$fio_pid"
  # Stopped by SIGINT, fio exits non-zero and puts "fio: terminating on signal 2"
  # in front of its JSON.
  sed -i -n '/^{/,$p' "$out"
  if ! jq -e '.jobs[0].write.total_ios > 0' "$out" >/dev/null 2>&1; then
    echo "  writer failed (fio exit $rc): $(head -3 "$out.err")"
    return 1
  fi
  if [[ $with == 1 ]]; then
    echo "delete s1" >"$m/ctl" || echo "  delete s1 failed"
    snap_ms=$(jq '.jobs[0].job_runtime' "$out")
  fi
  local w=without p99 mx
  [[ $with == 1 ]] && w=with
  p99=$(jq '.jobs[0].write.lat_ns.percentile["99.000000"] / 1e6' "$out")
  mx=$(jq '.jobs[0].write.lat_ns.max / 1e6' "$out")
  snap[$w,p99]+="$p99 " snap[$w,max]+="$mx "
  printf '  snapshot %-7s pair %d: p99 %.2f ms, max %.2f ms, %s IOPS over %s s; %s\n' "$w" "$i" "$p99" "$mx" \
    "$(jq '.jobs[0].write.iops | floor' "$out")" "$(jq '.jobs[0].job_runtime / 1000' "$out")" "$note"
}
if has snapshot "${jobs[@]}" && has amberfs "${targets[@]}"; then
  echo "snapshot job: volume $snap_size, cache_size 7x and dirty_max 5x the volume; writer until ${snap_tail}s after" \
    "the snapshot (started ${snap_at}s in) returns, and as long without; $snap_pairs pairs"
  # Write-back starts at writeback_start_ratio (1/4) of dirty_max, and dirty_max
  # is clamped to 3/4 of cache_size: with dirty_max = 5x and cache_size = 7x the
  # volume, the start mark (1.25x) is out of reach and only age (2 s) starts
  # write-back, so the fill leaves the volume all dirty.
  snap_bytes=$(numfmt --from=iec "$snap_size")
  snap_cache=$((snap_bytes * 7))
  if start_amberfs amberfs-snap "$snap_size" "$snap_cache" "dirty_max=$((snap_bytes * 5))"; then
    # Once untimed: the first fill also faults in the cache's memory.
    run_fio "$work/fill.json" --name=warm --filename="${mnt_of[amberfs-snap]}/volume" --size="$snap_size" \
      --rw=write --bs=1M --ioengine=psync >/dev/null
    for i in $(seq "$snap_pairs"); do
      snap_run 1 "$i"
      snap_run 0 "$i"
    done
    hwm_of[amberfs-snap]=$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid_of[amberfs-snap]}/status")
    stop_daemon amberfs-snap
    # Its blob stores hold tens of thousands of files: remove them here, so
    # the time it takes shows up in the total below.
    rm -rf "$work/amberfs-snap-vol"
  fi
fi

# --- the table ---------------------------------------------------------------
declare -A med=()
for job in "${main_jobs[@]}"; do
  for t in raw qemu null nullpw pass amberfs; do
    # shellcheck disable=SC2086  # a list of figures
    med[$t,$job]=$(median ${runs[$t,$job]:-})
  done
done

num() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { if num "${1:-}" && num "${2:-}" && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo -; fi; }
# verdict VALUE OP LIMIT: ok / MISS / - (VALUE like "0.93x" or a number)
verdict() {
  local v=${1%x}
  num "$v" || { echo -; return; }
  awk -v v="$v" -v op="$2" -v l="$3" 'BEGIN { ok = op == ">=" ? v >= l : op == "<=" ? v <= l : v < l; print ok ? "ok" : "MISS" }'
}

null_for() {  # the null figure amberfs/null divides by
  local a=${med[null,$1]:-} b=${med[nullpw,$1]:-}
  case $null_ref in
    plain) echo "$a" ;;
    pw) echo "$b" ;;
    *) if num "$a" && num "$b"; then awk -v a="$a" -v b="$b" 'BEGIN { print (a > b ? a : b) }'; elif num "$a"; then echo "$a"; else echo "$b"; fi ;;
  esac
}

echo
fmt='%-11s %-5s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s  %-26s %s\n'
printf "$fmt" job unit raw qemu null null+pw pass amberfs amb/raw amb/null amb/qemu amb/pass ceil target verdict
# blocked_or VERDICT CEILING LIMIT: a miss whose ceiling is below the limit is "blocked".
blocked_or() {
  if [[ $1 == MISS && $(verdict "$2" ">=" "$3") == MISS ]]; then echo "blocked (ceiling $2)"; else echo "$1"; fi
}
for job in "${main_jobs[@]}"; do
  a=${med[amberfs,$job]:-} p=${med[pass,$job]:-}
  r_raw=$(ratio "$a" "${med[raw,$job]:-}") r_null=$(ratio "$a" "$(null_for "$job")") r_qemu=$(ratio "$a" "${med[qemu,$job]:-}")
  r_pass=$(ratio "$a" "$p")
  case $job in
    seq-write) unit=MiB/s target=">= 0.9x raw (4x cache)" c=$(ratio "$p" "${med[raw,$job]:-}")
               v=$(blocked_or "$(verdict "$r_raw" ">=" 0.9)" "$c" 0.9) ;;
    rand-write) unit=IOPS target=">= 0.85x null" c=$(ratio "$p" "$(null_for "$job")")
                v=$(blocked_or "$(verdict "$r_null" ">=" 0.85)" "$c" 0.85) ;;
    seq-read) unit=MiB/s target="(none; see amb/pass)" c=- v=- ;;
    rand-read) unit=IOPS target=">= 1.4x qemu (1.4-1.9x)" c=- v=$(verdict "$r_qemu" ">=" 1.4) ;;
    fsync-write) unit=IOPS target=">= 0.8x raw" c=$(ratio "$p" "${med[raw,$job]:-}")
                 v=$(blocked_or "$(verdict "$r_raw" ">=" 0.8)" "$c" 0.8) ;;
  esac
  printf "$fmt" "$job" "$unit" "${med[raw,$job]:--}" "${med[qemu,$job]:--}" "${med[null,$job]:--}" \
    "${med[nullpw,$job]:--}" "${p:--}" "${a:--}" "$r_raw" "$r_null" "$r_qemu" "$r_pass" "$c" "$target" "$v"
done
if [[ -n ${snap[without,p99]:-} ]]; then
  # shellcheck disable=SC2086
  {
    p_wo=$(median ${snap[without,p99]}) p_w=$(median ${snap[with,p99]:-})
    m_wo=$(median ${snap[without,max]}) m_w=$(median ${snap[with,max]:-})
    worst=$(printf '%s\n' ${snap[with,max]:-} | sort -g | tail -1)
  }
  r=$(ratio "$p_w" "$p_wo")
  sfmt='%-11s %-5s %-44s %8s %8s %-17s %-26s %s\n'
  printf "$sfmt" snap-p99 ms "amberfs writer: without $(printf '%.2f' "$p_wo"), with snapshot:" \
    "$(printf '%.2f' "$p_w")" "$r" "(with/without)" "<= 2x without" "$(verdict "$r" "<=" 2)"
  printf "$sfmt" snap-max ms "amberfs writer: without $(printf '%.2f' "$m_wo"), with snapshot:" \
    "$(printf '%.2f' "$m_w")" "" "(worst $(printf '%.1f' "$worst"))" "< 50 ms" "$(verdict "$m_w" "<" 50)"
fi
[[ ${#main_jobs[@]} -gt 0 ]] && echo "(medians of $rounds runs; amb/null divides by the ${null_ref/best/faster} null column;" \
  "ceil is pass against the target's reference, raw or null)"
[[ -n ${snap[without,p99]:-} ]] && echo "(snapshot rows: medians of $snap_pairs pairs)"

cache_mib=$(($(numfmt --from=iec "$cache_size") / 1048576))
if [[ -n ${hwm_of[amberfs]:-} ]]; then
  hwm=$((hwm_of[amberfs] / 1024))
  echo "amberfs peak RSS (VmHWM): $hwm MiB; limit cache_size + 64 MiB = $((cache_mib + 64)) MiB;" \
    "$([[ $hwm -le $((cache_mib + 64)) ]] && echo within || echo OVER)"
  echo "amberfs I/O backend: ${amb_backend:-?}"
fi
if [[ -n ${hwm_of[amberfs-snap]:-} ]]; then
  echo "amberfs (snapshot job, volume $snap_size, cache_size $((snap_cache / 1048576)) MiB) peak RSS:" \
    "$((hwm_of[amberfs-snap] / 1024)) MiB"
fi
echo "mount_bench took $(($(date +%s) - t_start)) s"
