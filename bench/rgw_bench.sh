#!/usr/bin/env bash
# Upload and restore throughput against Ceph's RADOS Gateway on 127.0.0.1
# (test/support/rgw.sh: one monitor, one memstore OSD, radosgw), amberfs
# beside s3backer on the same gateway, measured in the same run:
#   upload   from the first byte written until the data is in the store:
#            amberfs  dd of RGW_BENCH_MB MiB into the volume (fsync),
#                     snapshot, drain
#            s3backer dd of the same bytes into its file (fsync), unmount
#                     (s3backer writes its dirty blocks back by then)
#   restore  from nothing local to an image file holding the data:
#            amberfs  mkfs.amberfs --restore (downloads every chunk)
#            s3backer a fresh mount, dd of its file into an image (fsync)
# Both restored images are compared with what was written. Each figure is the
# median of RGW_BENCH_RUNS runs (default 3), amberfs and s3backer taking turns
# at going first. amberfs uses 64 KiB chunks (its default), s3backer 128 KiB
# blocks; s3backer talks path-style to --baseURL=http://127.0.0.1:PORT/ (no
# --region, which would make it use virtual-host names).
#
# usage: bash bench/rgw_bench.sh [BUILD]     (as root, for the FUSE mounts)
# Knobs: RGW_BENCH_MB (default 128), RGW_BENCH_RUNS (default 3).
set -euo pipefail

build=$(cd "${1:-${AMBERFS_BUILD:-build}}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${RGW_BENCH_MB:-128}
runs=${RGW_BENCH_RUNS:-3}
bytes=$((mb << 20))

source "$root/test/support/rgw.sh"
rgw_check_installed >/dev/null || { echo "SKIP: ceph packages not installed (ceph-mon ceph-osd radosgw ceph-common)"; exit 0; }
for t in amberfs mkfs.amberfs; do
  [[ -x $build/$t ]] || { echo "SKIP: $build/$t not built"; exit 0; }
done
[[ $(id -u) == 0 && -c /dev/fuse ]] || { echo "SKIP: needs root and /dev/fuse for the mounts"; exit 0; }
have_s3backer=1
command -v s3backer >/dev/null || { echo "note: s3backer not installed: amberfs figures only"; have_s3backer=0; }

work=$(mktemp -d /tmp/rgw-bench-XXXXXX)
mnt=$work/mnt
amberfs_pid= s3backer_pid=
cleanup() {
  set +e
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  for p in $amberfs_pid $s3backer_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rgw_stop
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt"
# Every run's objects stay in the OSD's memory: room for all of them.
RGW_MEMSTORE_BYTES=$(((4 * runs * mb + 1024) << 20)) rgw_start "$work/ceph" >/dev/null 2>"$work/rgw-start.log" ||
  { cat "$work/rgw-start.log"; echo "radosgw did not start"; exit 1; }
creds=$work/credentials
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" >"$creds"
head -c "$bytes" /dev/urandom >"$work/data"

now() { date +%s.%N; }
rate() { awk -v b="$bytes" -v a="$1" -v z="$2" 'BEGIN { printf "%.1f\n", b / (z - a) / 1048576 }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

wait_mounted() {  # path to wait for, pid
  for _ in $(seq 200); do
    [[ -e $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# amberfs_run N: sets up_rate and restore_rate (MiB/s), and split (where the
# upload time went).
amberfs_run() {
  local url="s3://amberfs-bench-$1/v?endpoint=$RGW_ENDPOINT&region=$RGW_REGION" vol=$work/vol$1 t0 t1 t2 t3
  "$build/mkfs.amberfs" --size "${mb}M" --slow "$url" --s3-credentials "$creds" "$vol" >/dev/null
  "$build/amberfs" -f "$vol" "$mnt" -o "s3_credentials=$creds" >>"$work/amberfs.log" 2>&1 &
  amberfs_pid=$!
  wait_mounted "$mnt/ctl" "$amberfs_pid" || { tail "$work/amberfs.log" >&2; exit 1; }
  local tw ts
  t0=$(now)
  dd if="$work/data" of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
  tw=$(now)
  echo snapshot s >"$mnt/ctl"
  ts=$(now)
  echo drain >"$mnt/ctl"
  t1=$(now)
  split=$(awk -v a="$t0" -v w="$tw" -v s="$ts" -v d="$t1" \
    'BEGIN { printf "write %.1f s, snapshot %.1f s, drain %.1f s", w - a, s - w, d - s }')
  umount "$mnt"
  wait "$amberfs_pid"
  amberfs_pid=
  t2=$(now)
  "$build/mkfs.amberfs" --restore "$url" --s3-credentials "$creds" "$work/restored$1" >/dev/null 2>&1
  t3=$(now)
  cmp "$work/data" "$work/restored$1/image" || { echo "amberfs: the restored image differs" >&2; exit 1; }
  rm -rf "$vol" "$work/restored$1"
  up_rate=$(rate "$t0" "$t1") restore_rate=$(rate "$t2" "$t3")
}

s3backer_mount() {  # bucket
  s3backer -f --baseURL="$RGW_ENDPOINT/" --authVersion=aws4 --blockSize=128K --size="${mb}M" \
    --accessId="$RGW_ACCESS_KEY" --accessKey="$RGW_SECRET_KEY" "$1" "$mnt" -o big_writes >>"$work/s3backer.log" 2>&1 &
  s3backer_pid=$!
  wait_mounted "$mnt/file" "$s3backer_pid" || { tail "$work/s3backer.log" >&2; exit 1; }
}
s3backer_umount() {
  umount "$mnt"
  wait "$s3backer_pid" || true
  s3backer_pid=
}

# s3backer_run N: sets up_rate and restore_rate (MiB/s).
s3backer_run() {
  local bucket=s3backer-bench-$1 t0 t1 t2 t3
  curl -sSf -X PUT --aws-sigv4 "aws:amz:$RGW_REGION:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    "$RGW_ENDPOINT/$bucket" >/dev/null
  s3backer_mount "$bucket"
  t0=$(now)
  dd if="$work/data" of="$mnt/file" bs=1M conv=notrunc,fsync status=none
  s3backer_umount
  t1=$(now)
  t2=$(now)  # a fresh mount: nothing cached
  s3backer_mount "$bucket"
  dd if="$mnt/file" of="$work/s3backer-image" bs=1M conv=fsync status=none
  t3=$(now)
  s3backer_umount
  cmp "$work/data" "$work/s3backer-image" || { echo "s3backer: the image read back differs" >&2; exit 1; }
  rm -f "$work/s3backer-image"
  up_rate=$(rate "$t0" "$t1") restore_rate=$(rate "$t2" "$t3")
}

au=() ar=() su=() sr=()
one_s3backer() { s3backer_run "$1"; su+=("$up_rate") sr+=("$restore_rate"); }
for r in $(seq "$runs"); do
  if [[ $have_s3backer == 1 && $((r % 2)) == 0 ]]; then one_s3backer "$r"; fi
  amberfs_run "$r"
  au+=("$up_rate") ar+=("$restore_rate")
  if [[ $have_s3backer == 1 && $((r % 2)) == 1 ]]; then one_s3backer "$r"; fi
  echo "run $r: amberfs upload ${au[-1]} ($split) restore ${ar[-1]} MiB/s${su:+; s3backer upload ${su[-1]} restore ${sr[-1]} MiB/s}"
done

mau=$(echo "${au[*]}" | median) mar=$(echo "${ar[*]}" | median)
echo
echo "Ceph RGW (radosgw, memstore OSD) on 127.0.0.1, ${mb} MiB per run, median of $runs runs" \
  "(load average $(cut -d' ' -f1 /proc/loadavg) at the end)"
printf '%-40s %14s %15s\n' "" "upload MiB/s" "restore MiB/s"
if [[ $have_s3backer == 1 ]]; then
  msu=$(echo "${su[*]}" | median) msr=$(echo "${sr[*]}" | median)
  printf '%-40s %14s %15s\n' "s3backer 1.5 (128K blocks)" "$msu" "$msr"
  printf '%-40s %14s %15s\n' "amberfs (64K chunks)" "$mau" "$mar"
  printf '%-40s %13sx %14sx\n' "amberfs / s3backer" "$(awk -v a="$mau" -v b="$msu" 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a="$mar" -v b="$msr" 'BEGIN { printf "%.2f", a / b }')"
else
  printf '%-40s %14s %15s\n' "amberfs (64K chunks)" "$mau" "$mar"
fi
