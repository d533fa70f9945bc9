#!/usr/bin/env bash
# make torture [CYCLES=N]: the crash-torture harness.
#
# Each cycle mounts the volume, runs `torture run` (a writer of self-describing
# blocks with fsyncs at random points, journaling what was acknowledged outside
# the volume, and a controller that takes, deletes, rolls back and gc's
# snapshots at random times), kill -9s the daemon at a random moment, remounts,
# and runs `torture verify`: every acknowledged block holds its generation or
# a newer one, every snapshot that exists reads completely within its bounds.
# Then a clean unmount must exit 0 and fsck.amberfs -n must exit 0.
#
# Special cycles, in rotation:
#   every 5th    the daemon-side stress (fuse_stress) runs beside the writer
#   every 7th    mkfs.amberfs --restore of a committed snapshot is killed
#                midway: the half-restored directory must not mount, rerunning
#                the same restore must succeed, the result must match
#   every 9th    a cycle that runs gc back to back, killed while it runs
#   every 4th    (from the 2nd) a rollback is killed midway: after a snapshot and
#                a burst of writes, `rollback` runs and the daemon is killed
#                within 0.4 s; the remounted volume must be all before it or all
#                after it (the mount finishes a rollback it finds unfinished)
# and at the end, ENOSPC cycles (ENOSPC_CYCLES, default 3): a volume directory
# on a small loop file system fills up; writers get ENOSPC, nothing
# acknowledged is lost.
#
# Several runs may go side by side (each has its own scratch directory and
# loop device); give each its own SEED_BASE so their writers' seeds differ
# (a cycle's seed is SEED_BASE + its number).
#
# Prints one line per cycle and a closing line:
#   torture: N cycles, N failed, N lost acknowledged bytes, N unreadable snapshots, N fsck errors
# and exits 1 if anything failed.
source "$(dirname "$0")/../mount/lib.sh"
CYCLES=${CYCLES:-20}
ENOSPC_CYCLES=${ENOSPC_CYCLES:-3}
SEED_BASE=${SEED_BASE:-0}
AMB_TIMEOUT=${AMB_TIMEOUT:-$((CYCLES * 60 + ENOSPC_CYCLES * 90 + 300))}
amb_setup
# A cycle's failure is counted and the run goes on; nothing here may end it early.
set +e

TORTURE=$AMBERFS_BUILD/test-tools/torture
STRESS=$AMBERFS_BUILD/test-tools/fuse_stress
FSCK=$AMBERFS_BUILD/fsck.amberfs
[[ -x $TORTURE && -x $STRESS && -x $FSCK ]] || amb_fail "torture tools not built in $AMBERFS_BUILD (run make)"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt state=$AMB_WORK/state
failed=0 lost_bytes=0 bad_snapshots=0 fsck_errors=0
amb_mkfs "$vol" 64M
mkdir -p "$state"

# cycle_fail WHAT: counts a failure and keeps the evidence.
cycle_fail() {
  echo "  FAIL: $*"
  failed=$((failed + 1))
  mkdir -p "$AMB_WORK/failures"
  cp "$AMB_WORK/daemon.log" "$AMB_WORK/failures/daemon.log.$cycle" 2>/dev/null || true
  if [[ -n ${TORTURE_KEEP:-} ]]; then cp -a "$AMB_WORK" "$TORTURE_KEEP/cycle-$cycle" 2>/dev/null || true; fi
}

# tally VERIFY_OUTPUT: adds its lost bytes and snapshot failures to the totals.
tally() {
  local out=$1 n
  n=$(sed -n 's/.*volume: [0-9]* blocks (\([0-9]*\) bytes) older.*/\1/p' <<<"$out" | head -1)
  lost_bytes=$((lost_bytes + ${n:-0}))
  bad_snapshots=$((bad_snapshots + $(grep -c 'FAIL: snapshot' <<<"$out" || true)))
}

mount_opts() {
  local opts=(cache_size=$((4 + RANDOM % 28))M)
  ((RANDOM % 4 == 0)) && opts+=(io=plain)
  ((RANDOM % 5 == 0)) && opts+=(sync_delay=200us)
  local IFS=,
  echo "${opts[*]}"
}

# One cycle: write, kill, remount, verify, clean unmount, fsck.
crash_cycle() {
  local extra=$1 opts pid tpid spid="" out
  opts=$(mount_opts)
  amb_mount "$vol" "$mnt" -o "$opts"
  pid=${AMB_PIDS[$mnt]}
  local run_args=(--seconds 60 --seed "$((SEED_BASE + ${cycle#enospc-}))")
  "$TORTURE" run "$mnt" "$state" "${run_args[@]}" >"$AMB_WORK/run.out" 2>&1 &
  tpid=$!
  if [[ $extra == stress ]]; then
    "$STRESS" "$mnt" --clients 2 --seconds 60 --writers 0 --no-snapshots >"$AMB_WORK/stress.out" 2>&1 &
    spid=$!
  elif [[ $extra == gc ]]; then
    # (the redirection's own error, once the daemon is killed, is not news)
    ( for _ in $(seq 200); do { echo gc >"$mnt/ctl"; } 2>/dev/null || true; done ) &
    spid=$!
  fi
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  kill -0 "$pid" 2>/dev/null || { cycle_fail "the daemon died before the kill: $(tail -3 "$AMB_WORK/daemon.log")"; }
  amb_kill9 "$mnt"
  wait "$tpid" || cycle_fail "torture run: $(tail -2 "$AMB_WORK/run.out")"
  [[ -n $spid ]] && { wait "$spid" 2>/dev/null || true; }
  echo "  $(tail -1 "$AMB_WORK/run.out") [$opts${extra:+, $extra}]"

  amb_mount "$vol" "$mnt" -o "$(mount_opts)"
  out=$("$TORTURE" verify "$mnt" "$state" --rebase 2>&1)
  local rc=$?
  echo "  $(tail -1 <<<"$out")"
  tally "$out"
  ((rc == 0)) || cycle_fail "verify: $(grep FAIL <<<"$out" | head -3)"
}

# After a cycle: a clean unmount exits 0 and fsck finds nothing.
clean_unmount_and_fsck() {
  local rc=0 out
  amb_umount "$mnt" || rc=$?
  ((rc == 0)) || cycle_fail "clean unmount exited $rc: $(tail -2 "$AMB_WORK/daemon.log")"
  out=$("$FSCK" -n "$vol" 2>&1) || { fsck_errors=$((fsck_errors + 1)); cycle_fail "fsck: $(tail -3 <<<"$out")"; }
}

# A committed snapshot of the journal, or "".
some_snapshot() { ls "$mnt/snapshots" 2>/dev/null | shuf -n 1; }

# mkfs --restore killed midway: the directory must not mount; a rerun works.
# Runs on the mounted volume a crash cycle leaves behind; leaves it mounted.
restore_cycle() {
  local name restored=$AMB_WORK/restored rmnt=$AMB_WORK/rmnt rpid out uuid
  name=rs$cycle
  # Each restore adds a volume (its own identity) to the store: name the source.
  uuid=$(awk '/^uuid/ {print $2}' "$vol/config")
  "$TORTURE" snapshot "$mnt" "$state" "$name" || { cycle_fail "snapshot for the restore cycle failed"; return; }
  echo drain >"$mnt/ctl" || cycle_fail "drain failed"
  amb_umount "$mnt" || cycle_fail "unmount before restore"
  rm -rf "$restored"
  "$MKFS" --restore "file://$vol/archive" --volume "$uuid" --snapshot "$name" "$restored" >"$AMB_WORK/restore.out" 2>&1 &
  rpid=$!
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  kill -9 "$rpid" 2>/dev/null
  local rrc=0
  wait "$rpid" 2>/dev/null || rrc=$?
  # A restore that was cut off must leave nothing mountable behind.
  mkdir -p "$rmnt"
  "$AMBERFS" -f "$restored" "$rmnt" >"$AMB_WORK/rmount.out" 2>&1 &
  local mpid=$!
  for _ in $(seq 40); do
    amb_is_mounted "$rmnt" && break
    kill -0 "$mpid" 2>/dev/null || break
    sleep 0.05
  done
  if amb_is_mounted "$rmnt"; then
    ((rrc == 0)) || cycle_fail "a half-restored volume mounted (the restore was killed, exit $rrc)"
    fusermount3 -u "$rmnt"
  fi
  wait "$mpid" 2>/dev/null
  "$MKFS" --restore "file://$vol/archive" --volume "$uuid" --snapshot "$name" --force "$restored" >"$AMB_WORK/restore.out" 2>&1 \
    || { cycle_fail "rerunning the restore failed: $(tail -2 "$AMB_WORK/restore.out")"; amb_mount "$vol" "$mnt"; return; }
  amb_mount "$restored" "$rmnt"
  out=$("$TORTURE" check-file "$rmnt/volume" "$state" "$name" 2>&1) || cycle_fail "restored volume: $out"
  echo "  restore killed and rerun: $out"
  amb_umount "$rmnt" || cycle_fail "unmount of the restored volume"
  "$FSCK" -n "$restored" >/dev/null 2>&1 || { fsck_errors=$((fsck_errors + 1)); cycle_fail "fsck of the restored volume"; }
  rm -rf "$restored"
  amb_mount "$vol" "$mnt"
}

# A rollback killed midway. Runs on the mounted volume a crash cycle leaves
# behind (verified and rebased); leaves it mounted and verified.
rollback_cycle() {
  local name=rb$cycle out pid rpid
  "$TORTURE" snapshot "$mnt" "$state" "$name" || { cycle_fail "snapshot for the rollback cycle failed"; return; }
  "$TORTURE" run "$mnt" "$state" --seconds 1.5 --seed "$((SEED_BASE + cycle + 1000))" --no-snapshots >"$AMB_WORK/run.out" 2>&1 \
    || cycle_fail "torture run before the rollback: $(tail -2 "$AMB_WORK/run.out")"
  pid=${AMB_PIDS[$mnt]}
  "$TORTURE" rollback "$mnt" "$state" "$name" >"$AMB_WORK/rollback.out" 2>&1 &
  rpid=$!
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  amb_kill9 "$mnt"
  wait "$rpid" || cycle_fail "torture rollback: $(tail -2 "$AMB_WORK/rollback.out")"
  echo "  $(tail -1 "$AMB_WORK/rollback.out")"
  amb_mount "$vol" "$mnt" -o "$(mount_opts)"
  grep -h "rollback to $name" "$AMB_WORK/daemon.log" | sed 's/^/  /'
  out=$("$TORTURE" verify "$mnt" "$state" --rebase 2>&1)
  local rc=$?
  echo "  $(tail -1 <<<"$out")"
  tally "$out"
  ((rc == 0)) || cycle_fail "verify after the killed rollback: $(grep FAIL <<<"$out" | head -3)"
}

start=$SECONDS
for cycle in $(seq "$CYCLES"); do
  echo "cycle $cycle/$CYCLES"
  : >"$AMB_WORK/daemon.log"
  extra=""
  ((cycle % 5 == 0)) && extra=stress
  ((cycle % 9 == 0)) && extra=gc
  crash_cycle "$extra"
  ((cycle % 7 == 0)) && restore_cycle
  ((cycle % 4 == 2)) && rollback_cycle
  clean_unmount_and_fsck
done

# ENOSPC: the volume directory on a small file system.
if ((ENOSPC_CYCLES > 0)); then
  smallmnt=$AMB_WORK/small
  amb_small_fs 96M "$smallmnt"
  vol=$smallmnt/vol state=$AMB_WORK/state-enospc
  rm -rf "$state"
  mkdir -p "$state"
  amb_mkfs "$vol" 64M
  for e in $(seq "$ENOSPC_CYCLES"); do
    cycle=enospc-$e
    echo "cycle $cycle"
    : >"$AMB_WORK/daemon.log"
    crash_cycle ""
    echo "  file system: $(df -h --output=used,avail "$smallmnt" | tail -1)"
    clean_unmount_and_fsck
  done
fi

echo "torture: $CYCLES cycles + $ENOSPC_CYCLES ENOSPC cycles in $((SECONDS - start))s, $failed failed," \
  "$lost_bytes lost acknowledged bytes, $bad_snapshots unreadable snapshots, $fsck_errors fsck errors"
((failed == 0))
