#!/usr/bin/env bash
# The slow store (s3rver) goes away under a mounted volume and comes back:
#   - the outage is a handful of log lines ("unreachable since", "reachable
#     again"), not one per upload, and stats say so (amberfs_slow_store_up 0,
#     amberfs_slow_store_down_since_seconds, amberfs_upload_pending);
#   - a snapshot taken during the outage commits locally and is uploaded
#     once the store is back; drain then says done and the restore is exact;
#   - the backlog goes at once when the store is back (no backoff left over).
AMB_TIMEOUT=${AMB_TIMEOUT:-200}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/s3rver.sh"
amb_setup
trap 'rc=$?; set +e; s3rver_stop; (exit $rc); amb_cleanup' EXIT

rc=0
s3rver_start "$AMB_WORK/s3data" || rc=$?
[[ $rc -eq 77 ]] && exit 77
[[ $rc -eq 0 ]] || amb_fail "s3rver did not start"
s3rver_make_bucket amberfs-test || amb_fail "could not create the bucket"
url="s3://amberfs-test/vols?endpoint=$S3RVER_ENDPOINT"
log=$AMB_WORK/daemon.log

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 128M --slow "$url"
amb_mount "$vol" "$mnt" -o cache_size=32M
head -c $((16 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc,fsync status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot s1 failed"
echo drain >"$mnt/ctl" || amb_fail "drain failed"
[[ $(amb_stat "$mnt" amberfs_slow_store_up) == 1 ]] || amb_fail "slow store not up before the outage"

amb_log "stop s3rver; snapshot s2 while it is down"
s3rver_stop
lines_before=$(wc -l <"$log")
head -c $((16 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=32 conv=notrunc,fsync status=none
echo snapshot s2 >"$mnt/ctl" || amb_fail "snapshot s2 failed with the store down"
cp "$mnt/volume" "$AMB_WORK/copy-s2"
for _ in $(seq 300); do
  [[ $(amb_stat "$mnt" amberfs_slow_store_up) == 0 ]] && break
  sleep 0.1
done
[[ $(amb_stat "$mnt" amberfs_slow_store_up) == 0 ]] || amb_fail "stats never said the slow store is down"
since=$(amb_stat "$mnt" amberfs_slow_store_down_since_seconds)
now=$(date +%s)
((since > now - 120 && since <= now)) || amb_fail "down since $since, now $now"
pending=$(amb_stat "$mnt" amberfs_upload_pending)
((pending > 0)) || amb_fail "no uploads waiting during the outage"
sleep 10
outage_lines=$(tail -n +"$((lines_before + 1))" "$log")
amb_log "log during 10+ s of outage:"
echo "$outage_lines" | sed 's/^/    /'
n_unreachable=$(grep -c 'unreachable since' <<<"$outage_lines" || true)
n_failed=$(grep -c 'failed (attempt' <<<"$outage_lines" || true)
n_total=$(grep -c . <<<"$outage_lines" || true)
[[ $n_unreachable == 1 ]] || amb_fail "$n_unreachable 'unreachable since' lines, want 1"
((n_failed <= 1)) || amb_fail "$n_failed lines of single failed uploads, want at most 1"
((n_total <= 6)) || amb_fail "$n_total log lines during the outage"
grep -q "uploads waiting" <<<"$outage_lines" || amb_fail "the outage line does not say how much is waiting"

amb_log "restart s3rver; drain"
s3rver_start "$AMB_WORK/s3data" "$S3RVER_PORT" || amb_fail "s3rver did not start again"
t0=$(date +%s.%N)
echo drain >"$mnt/ctl" || amb_fail "drain after the outage failed"
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
amb_log "drained ${pending} waiting uploads ${took}s after the store came back"
awk -v t="$took" 'BEGIN { exit !(t < 20) }' || amb_fail "drain took ${took}s after the store came back"
[[ $(amb_stat "$mnt" amberfs_slow_store_up) == 1 ]] || amb_fail "stats still say the store is down"
[[ $(amb_stat "$mnt" amberfs_slow_store_down_since_seconds) == 0 ]] || amb_fail "down_since not cleared"
grep -q 'reachable again after' "$log" || amb_fail "no 'reachable again' line"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"

amb_log "restore s2 from $url"
"$MKFS" --restore "$url" --snapshot s2 "$AMB_WORK/restored" >/dev/null ||
  amb_fail "restore failed"
cmp "$AMB_WORK/restored/image" "$AMB_WORK/copy-s2" || amb_fail "restored image differs from s2"
amb_log "ok"
