#!/usr/bin/env bash
# S3 upload throughput into one s3rver on 127.0.0.1, measured in the same run:
#   amberfs  S3Store puts of distinct 64 KiB, 128 KiB (s3backer's object size)
#            and 1 MiB blobs from 16 threads (build/bench/s3_bench);
#   s3backer --blockSize=128K -o big_writes, fio writing the same number of
#            bytes sequentially in 1 MiB requests to its file, timed until the
#            unmount returns (s3backer writes its dirty blocks back by then).
# Each figure is the median of S3_BENCH_RUNS runs (default 3) of S3_BENCH_MB
# MiB (default 64), after an untimed warm-up of s3rver. Prints a table of
# bytes/s and the ratio to s3backer.
#
# usage: bash bench/s3_bench.sh [BUILD]     (run as root for the FUSE mount)
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${S3_BENCH_MB:-64}
runs=${S3_BENCH_RUNS:-3}
threads=16
bytes=$((mb << 20))

s3rver=$root/test/node_modules/.bin/s3rver
bench=$build/bench/s3_bench
if [[ ! -x $s3rver ]]; then echo "SKIP: s3rver not installed (cd test && npm install)"; exit 0; fi
if [[ ! -x $bench ]]; then echo "SKIP: $bench not built (make $bench)"; exit 0; fi
have_s3backer=1
if ! command -v s3backer >/dev/null || ! command -v fio >/dev/null || [[ ! -c /dev/fuse ]]; then
  echo "note: s3backer, fio or /dev/fuse missing: amberfs figures only"
  have_s3backer=0
fi

work=$(mktemp -d /tmp/s3-bench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
s3rver_pid=
s3backer_pid=
cleanup() {
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
  if [[ -n $s3backer_pid ]]; then kill "$s3backer_pid" 2>/dev/null || true; wait "$s3backer_pid" 2>/dev/null || true; fi
  # s3rver runs in its own session: kill its whole process group.
  if [[ -n $s3rver_pid ]]; then kill -- "-$s3rver_pid" 2>/dev/null || true; wait "$s3rver_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

NODE_OPTIONS=--openssl-legacy-provider setsid "$s3rver" -d "$work/data" -a 127.0.0.1 -p 0 --silent \
  >"$work/s3rver.log" 2>&1 &
s3rver_pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/s3rver.log")
  [[ -n $port ]] && break
  kill -0 "$s3rver_pid" 2>/dev/null || { cat "$work/s3rver.log"; echo "s3rver died"; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "s3rver did not start"; exit 1; }
endpoint=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

make_bucket() {
  curl -sf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 -u S3RVER:S3RVER -H "x-amz-content-sha256: $empty_sha" \
    "$endpoint/$1" >/dev/null
}

now() { date +%s.%N; }

# One s3backer run into a fresh bucket; prints bytes/s.
s3backer_run() {
  local bucket=s3backer-bench-$1
  make_bucket "$bucket"
  s3backer -f --baseURL="$endpoint/" --authVersion=aws4 --blockSize=128K \
    --size="${mb}M" --accessId=S3RVER --accessKey=S3RVER "$bucket" "$mnt" -o big_writes \
    >"$work/s3backer.log" 2>&1 &
  s3backer_pid=$!
  for _ in $(seq 100); do [[ -e $mnt/file ]] && break; sleep 0.1; done
  [[ -e $mnt/file ]] || { cat "$work/s3backer.log" >&2; echo "s3backer did not mount" >&2; exit 1; }
  local t0 t1
  t0=$(now)
  fio --name=seq --filename="$mnt/file" --rw=write --bs=1M --size="${mb}M" --ioengine=psync \
    --end_fsync=1 --randrepeat=0 --output="$work/fio.out" >/dev/null
  umount "$mnt"
  wait "$s3backer_pid" || true
  s3backer_pid=
  t1=$(now)
  awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.0f\n", b / (z - a) }'
}

amberfs_run() {  # blob size, run number
  "$bench" --endpoint "$endpoint" --bucket amberfs-bench --prefix "run$2-$1" --blob-size "$1" \
    --total "$bytes" --threads "$threads" --create-bucket | sed -n 's/.*bytes_per_s=\([0-9]*\).*/\1/p'
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm s3rver up first (node compiles its hot paths during the first few
# hundred requests), so that no writer is timed against a cold server; and
# alternate whether s3backer goes first or last in a run.
"$bench" --endpoint "$endpoint" --bucket amberfs-bench --prefix warmup --blob-size 65536 --total $((16 << 20)) \
  --threads "$threads" --create-bucket >/dev/null
a64=() a128=() a1m=() sb=()
for r in $(seq "$runs"); do
  if [[ $have_s3backer == 1 && $((r % 2)) == 0 ]]; then sb+=("$(s3backer_run "$r")"); fi
  a64+=("$(amberfs_run 65536 "$r")")
  a128+=("$(amberfs_run 131072 "$r")")
  a1m+=("$(amberfs_run 1048576 "$r")")
  if [[ $have_s3backer == 1 && $((r % 2)) == 1 ]]; then sb+=("$(s3backer_run "$r")"); fi
  echo "run $r: amberfs 64K ${a64[-1]}, 128K ${a128[-1]}, 1M ${a1m[-1]} B/s${sb:+; s3backer ${sb[-1]} B/s}"
done

m64=$(echo "${a64[*]}" | median)
m128=$(echo "${a128[*]}" | median)
m1m=$(echo "${a1m[*]}" | median)
msb=$( ((${#sb[@]})) && echo "${sb[*]}" | median || echo 0)
echo
echo "S3 upload to s3rver, ${mb} MiB per run, median of $runs runs"
printf '%-44s %14s %10s %8s\n' "writer" "bytes/s" "MiB/s" "ratio"
row() {  # name, bytes/s
  local ratio=-
  [[ $msb != 0 ]] && ratio=$(awk -v a="$2" -v b="$msb" 'BEGIN { printf "%.2fx", a / b }')
  printf '%-44s %14s %10s %8s\n' "$1" "$2" "$(awk -v a="$2" 'BEGIN { printf "%.1f", a / 1048576 }')" "$ratio"
}
[[ $msb != 0 ]] && row "s3backer 128K blocks, fio 1M seq write" "$msb"
row "amberfs S3Store, 64 KiB blobs, $threads threads" "$m64"
row "amberfs S3Store, 128 KiB blobs, $threads threads" "$m128"
row "amberfs S3Store, 1 MiB blobs, $threads threads" "$m1m"
