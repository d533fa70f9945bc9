#!/usr/bin/env bash
# Upload backlog after a slow-store outage, against radosgw (test/support/rgw.sh)
# and s3rver, measured in the same run:
#   1. a volume with MB MiB of fresh data is snapshotted; the store is
#      stopped 1 s later and started again 5 s after that. MB is 128 for
#      s3rver and 512 for radosgw (OUTAGE_BENCH_MB sets both): the local
#      radosgw takes 128 MiB in about 3 s, too short a drain to measure;
#   2. "before": bytes uploaded in the second before the stop / that second;
#      "after": bytes uploaded from the moment the store answers again until
#      nothing is pending / that time (so the wait until the uploads notice
#      the store is back counts against it);
#   3. "baseline": the same amount drained with no outage into a bucket of
#      its own, sampled every 0.1 s: "normal" is its rate over the same part
#      of the drain as "after" (from the byte count the outage run had
#      reached at the restart to the end). A store gets slower as a bucket
#      fills (radosgw here: the first second runs at about twice the average),
#      so the first second alone flatters "before".
# Prints each run and the medians of OUTAGE_BENCH_RUNS runs (default 3) per
# store, with after/before and after/normal (target: >= 0.8x). Each run has
# a fresh store (radosgw keeps objects in memory) and fresh buckets.
#
# usage: bash bench/outage_bench.sh [BUILD]   (root: FUSE mounts)
#   OUTAGE_BENCH_STORES="rgw s3rver"   which stores to measure
set -uo pipefail

build=$(cd "${1:-${AMBERFS_BUILD:-build}}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${OUTAGE_BENCH_RUNS:-3}
stores=${OUTAGE_BENCH_STORES:-rgw s3rver}
amberfs=$build/amberfs mkfs=$build/mkfs.amberfs
[[ -x $amberfs && -x $mkfs ]] || { echo "SKIP: $build has no amberfs/mkfs.amberfs (make)"; exit 0; }
[[ $(id -u) == 0 && -c /dev/fuse ]] || { echo "SKIP: needs root and /dev/fuse"; exit 0; }

source "$root/test/support/rgw.sh"
source "$root/test/support/s3rver.sh"
work=$(mktemp -d /tmp/outage-bench-XXXXXX)
mnt=$work/mnt
daemon_pid=""
store=""
cleanup() {
  set +e
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || umount -l "$mnt"; fi
  [[ -n $daemon_pid ]] && { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; }
  s3rver_stop
  [[ -n $RGW_DIR ]] && rgw_stop
  [[ -n ${OUTAGE_BENCH_KEEP_LOGS:-} ]] && cp "$work"/daemon-*.log "$work"/baseline-* "$OUTAGE_BENCH_KEEP_LOGS"/ 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
stat_of() { awk -v n="$1" '$1 == n { print $2 }' "$mnt/stats"; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mibs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }

store_start() {  # the store of this pass, fresh
  case $store in
    rgw) rgw_start "$work/ceph" >"$work/rgw-start.log" 2>&1 || return $?
         export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
         endpoint=$RGW_ENDPOINT region=$RGW_REGION
         local b
         for b in base outage; do
           curl -sf -X PUT --aws-sigv4 "aws:amz:$RGW_REGION:s3" -u "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
             -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
             "$RGW_ENDPOINT/$b" >/dev/null || return 1
         done ;;
    s3rver) rm -rf "$work/s3data"
            # s3rver's keys (an rgw pass before this one exported its own)
            export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
            s3rver_start "$work/s3data" || return $?
            endpoint=$S3RVER_ENDPOINT region=us-east-1
            s3rver_make_bucket base && s3rver_make_bucket outage ;;
  esac
}
store_down() { case $store in rgw) rgw_stop_gateway ;; s3rver) s3rver_stop ;; esac; }
store_up() {
  case $store in
    rgw) rgw_start_gateway 60 >/dev/null 2>&1 ;;
    s3rver) s3rver_start "$work/s3data" "$S3RVER_PORT" ;;
  esac
}
store_stop() { case $store in rgw) rgw_stop >/dev/null 2>&1 ;; s3rver) s3rver_stop ;; esac; }

# A fresh volume with $mb MiB of new data, mounted; the snapshot is taken by the caller.
volume_ready() {  # bucket
  local vol=$work/vol-$1
  "$mkfs" --size $((2 * mb))M --slow "s3://$1/vol?endpoint=$endpoint&region=$region" "$vol" >/dev/null ||
    return 1
  mkdir -p "$mnt"
  env --default-signal=INT "$amberfs" -f "$vol" "$mnt" -o cache_size=64M >>"$work/daemon-$store.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do [[ -e $mnt/stats ]] && break; sleep 0.05; done
  head -c $((mb << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
}
volume_done() {  # name
  fusermount3 -u "$mnt"
  wait "$daemon_pid" 2>/dev/null
  daemon_pid=""
  rm -rf "$work/vol-$1"
}
# Waits until nothing is pending; sets drained_at and drained_bytes, and
# appends "time bytes" samples to $1 if given.
until_drained() {
  while [[ $(stat_of amberfs_upload_pending) != 0 ]]; do
    [[ -n ${1:-} ]] && echo "$(now) $(stat_of amberfs_uploaded_bytes_total)" >>"$1"
    sleep 0.1
  done
  drained_at=$(now)
  drained_bytes=$(stat_of amberfs_uploaded_bytes_total)
  [[ -n ${1:-} ]] && echo "$drained_at $drained_bytes" >>"$1"
}

# One run (in this shell: it stops and starts the store); sets result to
# "before after baseline" in bytes/s, then MiB uploaded after and seconds.
one_run() {  # run number
  local r=$1 t0 t1 b1 t2 b2 samples=$work/baseline-$r
  volume_ready base || return 1
  echo snapshot s1 >"$mnt/ctl"
  echo "$(now) 0" >"$samples"
  until_drained "$samples"
  volume_done base

  volume_ready outage || return 1
  echo snapshot s1 >"$mnt/ctl"
  t0=$(now)
  sleep 1
  b1=$(stat_of amberfs_uploaded_bytes_total)
  t1=$(now)
  store_down
  sleep 5
  store_up || { echo "the store did not come back" >&2; return 1; }
  t2=$(now)
  b2=$(stat_of amberfs_uploaded_bytes_total)
  until_drained
  volume_done outage
  # The baseline's rate from where it passed b2 bytes to its end.
  local normal
  normal=$(awk -v from="$b2" '{ t[NR] = $1; b[NR] = $2 } END {
             for (i = 1; i <= NR && b[i] < from; ++i) {}
             if (i >= NR) i = 1
             printf "%.0f", (b[NR] - b[i]) / (t[NR] - t[i]) }' "$samples")
  result=$(awk -v b1="$b1" -v t0="$t0" -v t1="$t1" -v b2="$b2" -v t2="$t2" -v b3="$drained_bytes" \
      -v t3="$drained_at" -v normal="$normal" \
      'BEGIN { printf "%.0f %.0f %.0f %.1f %.1f\n", b1 / (t1 - t0), (b3 - b2) / (t3 - t2), normal, \
               (b3 - b2) / 1048576, t3 - t2 }')
}

summary=()
for store in $stores; do
  mb=${OUTAGE_BENCH_MB:-$([[ $store == rgw ]] && echo 512 || echo 128)}
  echo "=== $store: $mb MiB snapshot, store stopped 1 s after it for 5 s, $runs runs"
  befores=() afters=() bases=() r1=() r2=()
  for r in $(seq "$runs"); do
    rc=0
    store_start || rc=$?
    if [[ $rc != 0 ]]; then
      echo "SKIP $store: could not start it (exit $rc)"
      tail -3 "$work/rgw-start.log" 2>/dev/null
      break
    fi
    one_run "$r" || { echo "run $r failed"; store_stop; continue; }
    store_stop
    read -r before after base left took <<<"$result"
    befores+=("$before") afters+=("$after") bases+=("$base")
    r1+=("$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }')")
    r2+=("$(awk -v a="$after" -v b="$base" 'BEGIN { printf "%.2f", a / b }')")
    echo "run $r: before $(mibs "$before" 1) MiB/s, after $(mibs "$after" 1) MiB/s (${left} MiB in ${took} s)," \
         "normal $(mibs "$base" 1) MiB/s; after/before ${r1[-1]}x, after/normal ${r2[-1]}x"
  done
  ((${#r1[@]})) || continue
  line=$(printf '%-8s before %6s MiB/s  after %6s MiB/s  normal %6s MiB/s  after/before %5sx  after/normal %5sx' \
    "$store" "$(mibs "$(echo "${befores[*]}" | median)" 1)" "$(mibs "$(echo "${afters[*]}" | median)" 1)" \
    "$(mibs "$(echo "${bases[*]}" | median)" 1)" "$(echo "${r1[*]}" | median)" "$(echo "${r2[*]}" | median)")
  summary+=("$line")
done
echo
echo "Backlog drain after a 5 s outage, medians of $runs runs (target after/before >= 0.8x)"
for l in "${summary[@]}"; do echo "$l"; done
