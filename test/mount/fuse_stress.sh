#!/usr/bin/env bash
# The daemon survives concurrent opens, reads, writes and closes of ctl,
# stats, snapshot files and the volume while snapshots, deletes and gc run,
# and a long series of snapshots of small changes.
#
# After a FUSE reply is sent the kernel may deliver RELEASE on another thread
# at once; a handler that still touched the open's state crashed the daemon
# within seconds here. Run against a sanitizer build (AMBERFS_BUILD=build/asan
# or build/tsan, as `make check` does), any sanitizer report fails the test.
#
# Phases: (1) 2 control clients x STRESS_CYCLES cycles (default 3000) of ctl
# help + stats read + snapshot-file read, each file opened, read and closed,
# beside two volume writers; (2) the same clients, writers and a snapshotter
# (snapshot, delete, gc, drain) for STRESS_SECONDS (default 40); (3)
# STRESS_SNAPSHOTS snapshots of small changes (default 200).
source "$(dirname "$0")/lib.sh"
AMB_TIMEOUT=${AMB_TIMEOUT:-900}
amb_setup

cycles=${STRESS_CYCLES:-3000}
seconds=${STRESS_SECONDS:-40}
snapshots=${STRESS_SNAPSHOTS:-200}
stress=${STRESS_TOOL:-$AMBERFS_BUILD/test-tools/fuse_stress}
[[ -x $stress ]] || amb_fail "$stress not built (run make)"

# Sanitizer reports go to the daemon's log; keep going after one so the run
# ends and the log is read below.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
# Encrypted (and compressed, the default), so the snapshots of the stress run
# the whole codec under the sanitizers (make check).
echo "fuse stress passphrase" >"$AMB_WORK/key"
amb_mkfs "$vol" 64M --key-file "$AMB_WORK/key"
amb_mount "$vol" "$mnt" -o cache_size=16M,key_file="$AMB_WORK/key"
pid=${AMB_PIDS[$mnt]}

sanitizer_reports() {
  grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$AMB_WORK/daemon.log" || true
}

echo "snapshot first" >"$mnt/ctl"
total_ops=0
# run_stress LABEL ARGS...: one run of the stress client; fails on any error
# it reports or if the daemon died.
run_stress() {
  local label=$1 start=$SECONDS
  shift
  amb_log "$label"
  "$stress" "$mnt" "$@" | tee "$AMB_WORK/stress.out" \
    || amb_fail "$label: the stress client reported errors (daemon log: $(tail -3 "$AMB_WORK/daemon.log"))"
  kill -0 "$pid" 2>/dev/null || amb_fail "$label: the daemon died: $(tail -5 "$AMB_WORK/daemon.log")"
  total_ops=$((total_ops + $(sed -n 's/.* \([0-9]*\) operations.*/\1/p' "$AMB_WORK/stress.out")))
  amb_log "$label: $((SECONDS - start))s"
}

run_stress "phase 1: 2 control clients x $cycles cycles beside 2 volume writers" \
  --clients 2 --cycles "$cycles" --seconds 1800 --no-snapshots
done_cycles=$(sed -n 's/.* \([0-9]*\) control cycles.*/\1/p' "$AMB_WORK/stress.out")
[[ $done_cycles -eq $((2 * cycles)) ]] || amb_fail "phase 1 made $done_cycles control cycles, not $((2 * cycles))"
run_stress "phase 2: control clients, volume writers and snapshot/delete/gc/drain for ${seconds}s" \
  --clients 3 --seconds "$seconds"

amb_log "$snapshots snapshots of small changes"
start=$SECONDS
for i in $(seq "$snapshots"); do
  printf 'change %08d' "$i" | dd of="$mnt/volume" bs=512 seek=$((i % 4096)) conv=notrunc,fsync status=none
  echo "snapshot small-$i" >"$mnt/ctl" || amb_fail "snapshot small-$i failed"
  if ((i > 3)); then echo "delete small-$((i - 3))" >"$mnt/ctl" || amb_fail "delete small-$((i - 3)) failed"; fi
  if ((i % 50 == 0)); then echo gc >"$mnt/ctl" || amb_fail "gc failed"; fi
done
kill -0 "$pid" 2>/dev/null || amb_fail "daemon died during the snapshots: $(tail -5 "$AMB_WORK/daemon.log")"
got=$(dd if="$mnt/snapshots/small-$snapshots" bs=512 skip=$((snapshots % 4096)) count=1 status=none | head -c 15)
[[ $got == "$(printf 'change %08d' "$snapshots")" ]] || amb_fail "last snapshot holds '$got'"
amb_log "snapshot phase took $((SECONDS - start))s"

rc=0
amb_umount "$mnt" || rc=$?
reports=$(sanitizer_reports)
if [[ $reports != 0 ]]; then
  grep -A 30 -m 3 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$AMB_WORK/daemon.log" >&2
  amb_fail "$reports sanitizer report(s) in the daemon's log"
fi
[[ $rc == 0 ]] || amb_fail "daemon exited $rc after unmount: $(tail -5 "$AMB_WORK/daemon.log")"
amb_log "ok: $((2 * cycles)) control cycles, $total_ops stress operations, $snapshots snapshots, 0 sanitizer reports"
