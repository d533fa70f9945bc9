#!/usr/bin/env bash
# The mount benchmark: four fio jobs on the same disk against
#   raw      a plain file,
#   qemu     qemu-storage-daemon's FUSE export of a qcow2,
#   amberfs  an amberfs volume's `volume`,
# all of the same size, printed side by side with ratios from this one run,
# plus the amberfs daemon's peak RSS (VmHWM) against cache_size + 64 MiB.
#
#   bash bench/mount_bench.sh [BUILD_DIR]       (as root; BENCH_SIZE=256M BENCH_RUNTIME=8;
#   BENCH_AMBER_OPTS adds mount options, e.g. direct)
#
# Jobs (throughput of 1 and 2 is bytes over wall time, so end_fsync counts):
#   1 seq-write    1 MiB sequential write, psync, end_fsync        MiB/s  target >= 0.8x raw
#   2 rand-write   4 KiB random write, io_uring qd32, end_fsync    IOPS   target >= 3x qemu
#   3 rand-read    4 KiB random read of written data, io_uring qd32 IOPS  target >= 1.2x qemu
#   4 fsync-write  4 KiB random write + fsync each, psync           IOPS   target >= 1x qemu
# A peer that is not installed prints SKIP and its column shows "-".
set -uo pipefail

build=$(cd "${1:-${AMBERFS_BUILD:-build}}" && pwd)
size=${BENCH_SIZE:-256M}
runtime=${BENCH_RUNTIME:-8}
cache_size=${BENCH_CACHE:-128M}

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: mount_bench needs root (FUSE mounts)"; exit 0; fi
command -v fio >/dev/null || { echo "SKIP: mount_bench needs fio"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: mount_bench needs jq to read fio's JSON"; exit 0; }

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/amberfs-mount-bench-XXXXXX")
qsd_pid="" amb_pid=""
cleanup() {
  set +e
  if [[ -n $amb_pid ]] && kill -0 "$amb_pid" 2>/dev/null; then
    fusermount3 -u "$work/amb-mnt" 2>/dev/null || umount -l "$work/amb-mnt"
    wait "$amb_pid"
  fi
  if [[ -n $qsd_pid ]] && kill -0 "$qsd_pid" 2>/dev/null; then
    kill "$qsd_pid"
    wait "$qsd_pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A result  # "<target>,<job>" -> number

# run_job TARGET JOB FILE: runs one job and records its figure.
run_job() {
  local target=$1 job=$2 file=$3 args=() unit
  local common=(--name="$job" --filename="$file" --size="$size" --output-format=json --randrepeat=1)
  case $job in
    seq-write) args=(--rw=write --bs=1M --ioengine=psync --end_fsync=1) ;;
    rand-write) args=(--rw=randwrite --bs=4k --ioengine=io_uring --iodepth=32 --direct=1 --end_fsync=1) ;;
    rand-read) args=(--rw=randread --bs=4k --ioengine=io_uring --iodepth=32 --direct=1 --time_based --runtime="$runtime") ;;
    fsync-write) args=(--rw=randwrite --bs=4k --ioengine=psync --fsync=1 --time_based --runtime="$runtime") ;;
  esac
  local start end json
  start=$(date +%s.%N)
  if ! json=$(fio "${common[@]}" "${args[@]}" 2>"$work/fio.err"); then
    echo "  $target $job: fio failed: $(head -3 "$work/fio.err")" >&2
    result[$target,$job]="fail"
    return
  fi
  end=$(date +%s.%N)
  local secs bytes
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  bytes=$(jq '.jobs[0].write.io_bytes + .jobs[0].read.io_bytes' <<<"$json")
  case $job in
    seq-write) result[$target,$job]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }') ;;
    rand-write) result[$target,$job]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / 4096 / s }') ;;
    rand-read) result[$target,$job]=$(jq '.jobs[0].read.iops | floor' <<<"$json") ;;
    fsync-write) result[$target,$job]=$(jq '.jobs[0].write.iops | floor' <<<"$json") ;;
  esac
  echo "  $target $job: ${result[$target,$job]}"
}

jobs=(seq-write rand-write rand-read fsync-write)
run_all() {
  local target=$1 file=$2
  for job in "${jobs[@]}"; do run_job "$target" "$job" "$file"; done
}

echo "mount_bench: size $size, runtime ${runtime}s for time-based jobs, amberfs cache_size $cache_size"

echo "raw file:"
run_all raw "$work/raw.img"
rm -f "$work/raw.img"

if command -v qemu-storage-daemon >/dev/null && command -v qemu-img >/dev/null; then
  echo "qemu-storage-daemon FUSE export of a qcow2:"
  qemu-img create -q -f qcow2 "$work/disk.qcow2" "$size"
  touch "$work/qemu-export"
  qemu-storage-daemon \
    --blockdev node-name=file,driver=file,filename="$work/disk.qcow2" \
    --blockdev node-name=fmt,driver=qcow2,file=file \
    --export type=fuse,id=exp,node-name=fmt,mountpoint="$work/qemu-export",writable=on \
    >"$work/qsd.log" 2>&1 &
  qsd_pid=$!
  for _ in $(seq 100); do grep -qs " $work/qemu-export " /proc/mounts && break; sleep 0.1; done
  if grep -qs " $work/qemu-export " /proc/mounts; then
    run_all qemu "$work/qemu-export"
  else
    echo "SKIP: qemu-storage-daemon did not export: $(head -3 "$work/qsd.log")"
  fi
  kill "$qsd_pid" && wait "$qsd_pid"
  qsd_pid=""
  rm -f "$work/disk.qcow2"
else
  echo "SKIP: qemu-storage-daemon not installed (packages qemu-utils qemu-system-common)"
fi

if [[ -x $build/amberfs && -x $build/mkfs.amberfs && -c /dev/fuse ]]; then
  echo "amberfs:"
  "$build/mkfs.amberfs" --size "$size" "$work/amb-vol" >/dev/null
  mkdir -p "$work/amb-mnt"
  "$build/amberfs" -f "$work/amb-vol" "$work/amb-mnt" -o cache_size="$cache_size"${BENCH_AMBER_OPTS:+,$BENCH_AMBER_OPTS} >"$work/amb.log" 2>&1 &
  amb_pid=$!
  for _ in $(seq 100); do [[ -e $work/amb-mnt/volume ]] && break; sleep 0.1; done
  run_all amberfs "$work/amb-mnt/volume"
  backend=$(grep -o 'amberfs_io_backend_info{[^}]*}' "$work/amb-mnt/stats")
  hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$amb_pid/status")
  fusermount3 -u "$work/amb-mnt"
  wait "$amb_pid" || echo "amberfs exited non-zero: $(tail -3 "$work/amb.log")"
  amb_pid=""
else
  echo "SKIP: amberfs not built in $build"
fi

ratio() {
  local a=${result[$1]:-} b=${result[$2]:-}
  if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ && $b -gt 0 ]]; then awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }'; else echo "-"; fi
}

echo
printf '%-12s %-6s %10s %10s %10s %12s %12s  %s\n' job unit raw qemu amberfs amberfs/raw amberfs/qemu target
for job in "${jobs[@]}"; do
  case $job in
    seq-write) unit=MiB/s target=">=0.8x raw" ;;
    rand-write) unit=IOPS target=">=3x qemu" ;;
    rand-read) unit=IOPS target=">=1.2x qemu" ;;
    fsync-write) unit=IOPS target=">=1x qemu" ;;
  esac
  printf '%-12s %-6s %10s %10s %10s %12s %12s  %s\n' "$job" "$unit" "${result[raw,$job]:--}" \
    "${result[qemu,$job]:--}" "${result[amberfs,$job]:--}" "$(ratio "amberfs,$job" "raw,$job")" \
    "$(ratio "amberfs,$job" "qemu,$job")" "$target"
done
if [[ -n ${hwm_kib:-} ]]; then
  cache_mib=$(numfmt --from=iec "$cache_size" | awk '{ print int($1 / 1048576) }')
  echo
  echo "amberfs peak RSS (VmHWM): $((hwm_kib / 1024)) MiB; limit cache_size + 64 MiB = $((cache_mib + 64)) MiB;" \
       "$([[ $((hwm_kib / 1024)) -le $((cache_mib + 64)) ]] && echo within || echo OVER)"
  echo "amberfs I/O backend: $backend"
fi
