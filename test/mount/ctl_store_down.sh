#!/usr/bin/env bash
# The control file while the slow store (s3rver) is down:
#   - `snapshot s2` commits locally and queues its uploads;
#   - a `drain` waits, and meanwhile `help`, `stats` and `snapshot s3` answer
#     within a second or two (the kernel serialises writes and truncation per
#     inode; a drain must not hold any other command up);
#   - the waiting drain gives up with EINTR when its writer gets SIGINT;
#   - `drain 2s` gives up with ETIMEDOUT after about 2 s;
#   - SIGTERM to the daemon ends it within 20 s even with a drain waiting,
#     with the volume's data flushed (clean marker);
#   - after s3rver is back, a remount and a drain upload everything: a
#     restore of s1, s2 and s3 gives the volume as it was at each.
source "$(dirname "$0")/lib.sh"
amb_setup

CTL=$AMBERFS_BUILD/test-tools/ctl_client
[[ -x $CTL ]] || amb_fail "$CTL not built (run make)"

# within SECONDS WHAT COMMAND...: the command must succeed within SECONDS.
# It runs in the background and is polled: a writer stuck on the kernel's
# inode lock cannot even be killed, and waiting for it would hang the test
# (the cleanup's kill of the daemon frees it).
within() {
  local limit=$1 what=$2 start=$EPOCHREALTIME cpid ms
  shift 2
  "$@" >"$AMB_WORK/within.out" 2>&1 &
  cpid=$!
  for _ in $(seq $((limit * 20 + 20))); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
  ms=$(( (${EPOCHREALTIME/./} - ${start/./}) / 1000 ))
  kill -0 "$cpid" 2>/dev/null && amb_fail "$what: no answer after ${ms} ms (limit ${limit} s)"
  wait "$cpid" || amb_fail "$what failed: $(cat "$AMB_WORK/within.out")"
  amb_log "$what: ${ms} ms"
  ((ms <= limit * 1000)) || amb_fail "$what took ${ms} ms (limit ${limit} s)"
}

amb_start_s3rver "$AMB_WORK/s3data" 0
port=$AMB_S3PORT
url="s3://amberfs-test/vols?endpoint=http://127.0.0.1:$port"
vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 32M --slow "$url"
amb_mount "$vol" "$mnt" -o cache_size=16M
pid=${AMB_PIDS[$mnt]}
head -c $((4 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M conv=notrunc status=none
echo snapshot s1 >"$mnt/ctl" || amb_fail "snapshot s1 failed"
cp "$mnt/volume" "$AMB_WORK/copy-s1"
# Uploaded before s3rver goes: killed in the middle of a PUT, s3rver leaves
# a truncated object behind and then fails every listing (HTTP 500).
echo drain >"$mnt/ctl" || amb_fail "drain of s1 failed"

amb_log "s3rver stopped"
amb_stop_s3rver
head -c $((2 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=8 conv=notrunc,fsync status=none
within 2 "snapshot s2 with the store down" bash -c "echo snapshot s2 >'$mnt/ctl'"
cp "$mnt/volume" "$AMB_WORK/copy-s2"
head -c $((1 << 20)) /dev/urandom | dd of="$mnt/volume" bs=1M seek=16 conv=notrunc,fsync status=none
"$CTL" "$mnt" drain >"$AMB_WORK/drain.out" 2>&1 &
drain_pid=$!
sleep 1
kill -0 "$drain_pid" 2>/dev/null || amb_fail "drain returned with the store down: $(cat "$AMB_WORK/drain.out")"

within 1 "help while a drain waits" "$CTL" "$mnt" help
within 1 "echo help > ctl while a drain waits" bash -c "echo help >'$mnt/ctl'"
within 1 "stats while a drain waits" cat "$mnt/stats"
within 2 "snapshot s3 while a drain waits" bash -c "echo snapshot s3 >'$mnt/ctl'"
cp "$mnt/volume" "$AMB_WORK/copy-s3"
pending=$(amb_stat "$mnt" amberfs_upload_pending)
amb_log "uploads pending: $pending"
((pending > 0)) || amb_fail "nothing pending with the store down"

amb_log "SIGINT to the waiting drain's writer"
kill -INT "$drain_pid"
for _ in $(seq 30); do kill -0 "$drain_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$drain_pid" 2>/dev/null && amb_fail "the drain did not give up 3 s after SIGINT to its writer"
wait "$drain_pid" || true
grep -q "drain: EINTR" "$AMB_WORK/drain.out" || amb_fail "interrupted drain: $(cat "$AMB_WORK/drain.out")"
amb_log "$(cat "$AMB_WORK/drain.out")"

out=$("$CTL" "$mnt" drain 2s) && amb_fail "drain 2s succeeded with the store down"
grep -q "drain 2s: ETIMEDOUT after [23][0-9][0-9][0-9] ms" <<<"$out" || amb_fail "drain 2s: $out"
amb_log "$out"

amb_log "SIGTERM to the daemon while a drain waits"
"$CTL" "$mnt" drain >"$AMB_WORK/drain2.out" 2>&1 &
drain_pid=$!
sleep 0.5
start=$SECONDS
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && amb_fail "the daemon is still alive 20 s after SIGTERM"
rc=0
wait "$pid" || rc=$?
unset "AMB_PIDS[$mnt]"
amb_log "daemon exited $rc after $((SECONDS - start)) s"
((rc == 0)) || amb_fail "daemon exited $rc: $(tail -3 "$AMB_WORK/daemon.log")"
wait "$drain_pid" || true
amb_log "the waiting drain: $(cat "$AMB_WORK/drain2.out")"
grep -qs " $mnt " /proc/mounts && { umount -l "$mnt" 2>/dev/null || true; }
[[ ! -e $vol/mounted ]] || amb_fail "unclean marker left after SIGTERM"
cmp "$vol/image" "$AMB_WORK/copy-s3" || amb_fail "the image is not what was written before SIGTERM"

amb_log "s3rver back on port $port; remount and drain"
amb_start_s3rver "$AMB_WORK/s3data" "$port"
amb_mount "$vol" "$mnt"
"$CTL" "$mnt" drain 60s >"$AMB_WORK/drain3.out" || amb_fail "drain after the store came back: $(cat "$AMB_WORK/drain3.out")"
amb_umount "$mnt" || amb_fail "unmount did not exit 0"
# Each restore is a volume of its own in the store: name the source.
uuid=$(awk '/^uuid/ {print $2}' "$vol/config")
for s in s1 s2 s3; do
  "$MKFS" --restore "$url" --volume "$uuid" --snapshot "$s" "$AMB_WORK/restored-$s" >/dev/null || amb_fail "restore of $s failed"
  cmp "$AMB_WORK/restored-$s/image" "$AMB_WORK/copy-$s" || amb_fail "restored $s differs from the volume at $s"
done
amb_stop_s3rver
amb_log "ok"
