#!/usr/bin/env bash
# Issue 14's S3 figures as a user meets them, through the FUSE mount and the
# real tools, against s3rver (test/node_modules) on 127.0.0.1, with the
# baselines measured in the same run on the same server:
#
#   upload   amberfs: a fresh volume of BENCH_S3_SIZE whose slow store is
#            s3://amberfs-rN on s3rver (mkfs.amberfs --slow, default mount
#            options), filled with BENCH_S3_SIZE random bytes (dd bs=1M
#            conv=fsync into MNT/volume, untimed), then timed from the start of
#            `echo snapshot s1 > MNT/ctl` until `echo drain > MNT/ctl`
#            returns (everything in the bucket): size / that time. Before
#            each round, the same with -o pack_size=BENCH_PACK_VARIANT, on a
#            fresh s3rver of its own whose files are removed before the round
#            proper: what the option buys, shown apart from the verdict,
#            which is the default's.
#            s3backer: --blockSize=128K -o big_writes into its own bucket
#            (path-style --baseURL=http://127.0.0.1:PORT/, aws4), the same
#            bytes written with dd bs=1M conv=fsync into its file, timed from
#            dd's start until the unmount returns and the s3backer process has
#            exited (it writes its dirty blocks back on the way out).
#   restore  amberfs: `mkfs.amberfs --restore s3://amberfs-rN?endpoint=... --volume UUID
#            --snapshot s1 NEWDIR` (nothing local: the volume directory is
#            removed first), timed until it returns; NEWDIR/image must equal
#            the written bytes (cmp, untimed).
#            restic: the same bytes as a file, `restic backup` (restic's
#            defaults, untimed) into a local repository whose files are then
#            PUT unchanged into the bucket restic-rN (s3rver cannot keep what
#            restic PUTs itself over plain http: see restic_restore below),
#            then `restic -r s3:http://127.0.0.1:PORT/restic-rN --no-lock
#            restore latest --target DIR` timed, with a fresh empty cache
#            (nothing local, as for amberfs); the file must equal the bytes.
#   clone    amberfs (issue 16): `mkfs.amberfs --clone s3://amberfs-rN?... --volume
#            UUID --snapshot s1 NEWDIR` timed until it returns (the clone directory's size is
#            shown), then NEWDIR mounted and `dd if=MNT/volume of=/dev/null
#            bs=1M` timed: every chunk fetched on first read, with read-ahead;
#            then MNT/volume must equal the written bytes (cmp, untimed).
#   objects  objects in each bucket per GiB written (files *._S3rver_object
#            in s3rver's --directory): amberfs's after its unmount, s3backer's
#            after its unmount, restic's repository's.
#   ceiling  what s3rver itself allows, measured against the same server in
#            the same round with curl as a null client (it hashes, encrypts
#            and writes nothing): the bytes as 16 MiB objects (amberfs's pack
#            size) PUT 4 at a time (amberfs's packs in flight), timed, then
#            GET to /dev/null 12 at a time (a restore's threads), timed. The
#            upload ceiling is size / (amberfs's snapshot time in that round +
#            the null client's PUT time): the drain can go no faster than the
#            server takes the bytes, and the snapshot comes before it. For
#            each amberfs run the CPU seconds of the daemon (or of
#            mkfs.amberfs) and of s3rver in the timed window are shown: on a
#            small machine their sum over the CPUs is a floor on the time.
#            Then the GET again with each object's bytes piped through
#            `openssl dgst -sha256` (12 at a time, a curl and an openssl
#            process an object; the digests compared with the bytes',
#            untimed): the cost of fetching and hashing every byte on these
#            CPUs, with no planning, no index and no writes, beside a
#            restore, which checks every byte too (the "checked GET" row).
#            Then the same PUT in amberfs's request shape: each 16 MiB object
#            followed by a 12,352-byte one (a full pack's index object: 256
#            entries of 48 bytes and the trailer, docs/FORMATS.md) under
#            packs/ and index/ names, 4 at a time: what the per-pack index
#            objects cost the server, shown beside the plain PUT. It runs
#            before the plain PUT in even rounds and after the GET in odd
#            ones, so the place in the round does not count as its cost.
#
#   bash bench/s3_pack_bench.sh [BUILD_DIR]                    (as root)
#
# Each round starts a fresh s3rver (its own --directory, removed after the
# round) and runs amberfs and the baselines once each, amberfs going first in
# odd rounds and the baselines in even ones; `sync; sleep 2` before every run.
# Each figure is the median of BENCH_ROUNDS rounds. The run's bytes are
# generated once (openssl rand, else /dev/urandom) and used by every run.
#
# Targets (issue 14), reported as met/missed, never failing:
#   upload >= 3x s3backer, restore >= 2x restic restore,
#   amberfs <= 200 slow-store objects per GiB;
#   (issue 16) clone of the snapshot under 3 s, a dd of the clone >= 0.5x the
#   restore's throughput.
#
# Environment (defaults in brackets):
#   BENCH_S3_SIZE [1G] volume and data size (a multiple of 128K)
#   BENCH_ROUNDS [3]  BENCH_DIR [/var/tmp] where the files go (volumes,
#   s3rver's data, restores)  BENCH_AMBER_OPTS extra amberfs -o options
#   BENCH_S3BACKER_BLOCK [128K] s3backer's --blockSize
#   BENCH_PACK_VARIANT [32M] the pack_size= of the second amberfs upload
# A baseline that is not installed prints SKIP and its column shows "-".
# Talks to nothing but s3rver on 127.0.0.1 (proxy variables are cleared);
# every mount and process it starts (s3rver's whole process group included)
# is undone, and its files removed, on every way out (EXIT trap).
set -uo pipefail
export LC_ALL=C  # decimal points in EPOCHREALTIME, printf and awk

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
size=${BENCH_S3_SIZE:-1G}
rounds=${BENCH_ROUNDS:-3}
bench_dir=${BENCH_DIR:-/var/tmp}
sb_block=${BENCH_S3BACKER_BLOCK:-128K}
pack_variant=${BENCH_PACK_VARIANT:-32M}
pack_tag=-p${pack_variant,,}  # a bucket-name part: -p32m
s3rver_bin=${AMBERFS_S3RVER:-$root/test/node_modules/.bin/s3rver}

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: s3_pack_bench needs root (FUSE mounts)"; exit 0; fi
build=$(cd "${1:-${AMBERFS_BUILD:-$root/build}}" 2>/dev/null && pwd) || build=${1:-${AMBERFS_BUILD:-$root/build}}
if [[ ! -x $build/amberfs || ! -x $build/mkfs.amberfs ]]; then
  echo "SKIP: s3_pack_bench: amberfs not built in $build"
  exit 0
fi
[[ -c /dev/fuse ]] || { echo "SKIP: s3_pack_bench: no /dev/fuse"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP: s3_pack_bench needs fusermount3 (package fuse3)"; exit 0; }
[[ -x $s3rver_bin ]] || { echo "SKIP: s3_pack_bench: s3rver not installed (cd test && npm install)"; exit 0; }
command -v node >/dev/null || { echo "SKIP: s3_pack_bench: node not installed (s3rver needs it)"; exit 0; }
command -v curl >/dev/null || { echo "SKIP: s3_pack_bench needs curl (bucket creation)"; exit 0; }
have_s3backer=1 have_restic=1
command -v s3backer >/dev/null || { echo "SKIP s3backer: not installed (package s3backer)"; have_s3backer=0; }
command -v restic >/dev/null || { echo "SKIP restic: not installed (package restic)"; have_restic=0; }

bytes=$(numfmt --from=iec "$size") || exit 2
sb_bytes=$(numfmt --from=iec "$sb_block") || exit 2
if ((bytes <= 0 || bytes % 131072 != 0 || bytes % sb_bytes != 0)); then
  echo "s3_pack_bench: BENCH_S3_SIZE $size is not a positive multiple of 128K and of $sb_block"
  exit 2
fi
gib=$(awk -v b="$bytes" 'BEGIN { printf "%.6f", b / 1073741824 }')

# Only 127.0.0.1: no proxy may take the requests elsewhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY AWS_SESSION_TOKEN AWS_PROFILE
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
region=us-east-1
empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

t_start=$(date +%s)
work=$(mktemp -d "$bench_dir/amberfs-s3pack-bench-XXXXXX") || exit 1
s3rver_pid=""    # the round's s3rver (a session leader: its pid is its process group)
s3data=""        # its --directory
endpoint=""      # http://127.0.0.1:PORT
declare -A daemon_of=()  # FUSE mount point -> its daemon's pid (amberfs, s3backer)
helper_pids=()   # dd, mkfs, restic, curl, ctl writers running in the background

cleanup() {
  local rc=$? p m
  set +e
  trap - INT TERM
  for p in "${helper_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${helper_pids[@]}"; do wait "$p" 2>/dev/null; done
  # The mounts first, while s3rver still answers, so the daemons can exit.
  for m in "${!daemon_of[@]}"; do
    if grep -qs " $m fuse" /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; fi
  done
  for m in "${!daemon_of[@]}"; do
    p=${daemon_of[$m]}
    kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; continue; }
    kill "$p" 2>/dev/null
    # Both write back on the way out; give them time before forcing them.
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ -n $s3rver_pid ]]; then
    kill -- "-$s3rver_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$s3rver_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$s3rver_pid" 2>/dev/null
    wait "$s3rver_pid" 2>/dev/null
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
mibps() { awk -v b="$bytes" -v d="$1" 'BEGIN { printf "%.1f", b / 1048576 / (d / 1e6) }'; }
per_gib() { awk -v n="$1" -v g="$gib" 'BEGIN { printf "%.1f", n / g }'; }
settle() { sync; sleep 2; }

# ctl MNT COMMAND OUT: `echo COMMAND > MNT/ctl`, its reply (readable on the fd
# that wrote it) in OUT; in the background so a signal reaches the trap.
# shellcheck disable=SC2016  # $1 and $2 are the inner bash's
ctl() { bg_run "$3" bash -c 'exec 3<>"$1" && echo "$2" >&3 && cat <&3' _ "$1/ctl" "$2"; }
reply_field() { awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null; }

# --- s3rver --------------------------------------------------------------------
# start_s3rver DIR: a fresh s3rver serving DIR/data; sets s3rver_pid, s3data, endpoint.
start_s3rver() {
  local d=$1 port=""
  s3data=$d/data
  mkdir -p "$s3data"
  : >"$d/s3rver.log"  # there before the first look below
  NODE_OPTIONS=--openssl-legacy-provider setsid "$s3rver_bin" -d "$s3data" -a 127.0.0.1 -p 0 --silent \
    >"$d/s3rver.log" 2>&1 &
  s3rver_pid=$!
  for _ in $(seq 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/s3rver.log" | head -1)
    [[ -n $port ]] && break
    kill -0 "$s3rver_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    log "s3rver did not start: $(tail -n 3 "$d/s3rver.log")"
    return 1
  fi
  endpoint=http://127.0.0.1:$port
}
stop_s3rver() {
  [[ -n $s3rver_pid ]] || return 0
  kill -- "-$s3rver_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$s3rver_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 -- "-$s3rver_pid" 2>/dev/null
  wait "$s3rver_pid" 2>/dev/null
  s3rver_pid="" endpoint=""
}
s3_curl() {  # OUT METHOD PATH [curl args...] (PATH "": the URLs are in the args)
  local out=$1 method=$2 path=$3
  shift 3
  local -a url=()
  [[ -n $path ]] && url=("$endpoint/$path")
  bg_run "$out" curl -sSf -X "$method" --aws-sigv4 "aws:amz:$region:s3" -u S3RVER:S3RVER "$@" "${url[@]}"
}
make_bucket() { s3_curl "$2" PUT "$1" -H "x-amz-content-sha256: $empty_sha"; }
# Node compiles its hot paths during the first requests: 64 PUTs and GETs of
# 1 MiB into a bucket of its own, untimed, so no run meets a cold server.
warm_s3rver() {
  local d=$1
  head -c $((1 << 20)) /dev/urandom >"$d/warm.bin"
  make_bucket warmup "$d/warm.log" &&
    s3_curl "$d/warm-put.log" PUT "warmup/w[1-64]" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$d/warm.bin" &&
    s3_curl "$d/warm-get.log" GET "warmup/w[1-64]" -H "x-amz-content-sha256: $empty_sha" -o "$d/warm-get-#1"
  local rc=$?
  rm -f "$d"/warm-get-* "$d/warm.bin"
  return $rc
}
# objects BUCKET: objects s3rver holds in BUCKET.
objects() { find "$s3data/$1" -type f -name '*._S3rver_object' 2>/dev/null | wc -l; }
# object_kinds BUCKET: "packs 64, index 64, ..." by the keys' first part.
object_kinds() {
  find "$s3data/$1" -type f -name '*._S3rver_object' 2>/dev/null | sed "s|^$s3data/$1/||" |
    awk -F/ '{ k = NF > 1 ? $1 : "top"; n[k]++ } END { for (k in n) { printf "%s%s %d", sep, k, n[k]; sep = ", " } }'
}


declare -A runs=()  # figure -> space-separated figures of the runs
declare -A uploaded=()  # round -> 1 once amberfs's upload of it succeeded
declare -A uuid_of=()   # round -> the uploaded volume's uuid (the restore publishes a second volume)
declare -A snap_us=()   # round -> amberfs's snapshot time (us), for the upload ceiling
declare -A put_us=()    # round -> the null client's PUT time (us)
add() { runs[$1]+="$2 "; }

# --- amberfs -------------------------------------------------------------------
# amber_url ROUND [TAG]: the bucket of that round's amberfs upload (TAG: a
# variant's, see amberfs_upload).
amber_url() { echo "s3://amberfs${2:-}-r$1?endpoint=$endpoint&region=$region"; }

# amberfs_upload ROUND [TAG MOUNT_OPTIONS]: mkfs, mount, fill (untimed),
# snapshot s1 + drain (timed). With TAG, a variant: mounted with
# MOUNT_OPTIONS as well, into bucket amberfsTAG-rN, its figures kept apart
# (a_upTAG, a_objsTAG); the restore and clone read the plain upload's.
amberfs_upload() {
  local r=$1 tag=${2:-} extra=${3:-} d=$work/r$1/amberfs${2:-} url
  local vol=$d/vol mnt=$d/mnt up=fail objs=fail note="" t0 t1 ts
  url=$(amber_url "$r" "$tag")
  mkdir -p "$mnt"
  settle
  if ! bg_run "$d/mkfs.log" "$build/mkfs.amberfs" --size "$size" --slow "$url" "$vol"; then
    log "amberfs round $r: mkfs failed: $(tail -n 2 "$d/mkfs.log")"
    add "a_up$tag" fail; add "a_objs$tag" fail
    return
  fi
  local -a opts=()
  local o=${BENCH_AMBER_OPTS:-}${BENCH_AMBER_OPTS:+${extra:+,}}$extra
  [[ -n $o ]] && opts=(-o "$o")
  # A background job starts with SIGINT ignored; give the daemon the default.
  env --default-signal=INT "$build/amberfs" -f "$vol" "$mnt" "${opts[@]}" >"$d/daemon.log" 2>&1 &
  daemon_of[$mnt]=$!
  if wait_file "$mnt/volume" "${daemon_of[$mnt]}" "$d/daemon.log"; then
    stamp t0
    if bg_run "$d/dd.log" dd if="$work/data.bin" of="$mnt/volume" bs=1M conv=fsync,notrunc status=none; then
      stamp t1
      note="fill $(secs $((t1 - t0))) s (untimed)"
      local dcpu scpu
      dcpu=$(proc_cpu "${daemon_of[$mnt]}") scpu=$(proc_cpu "$s3rver_pid")
      stamp t0
      if ctl "$mnt" "snapshot s1" "$d/snap.out"; then
        stamp ts
        if ctl "$mnt" drain "$d/drain.out"; then
          stamp t1
          up=$(mibps $((t1 - t0)))
          [[ -z $tag ]] && snap_us[$r]=$((ts - t0))
          note+=", snapshot $(secs $((ts - t0))) s ($(reply_field "$d/snap.out" chunks_captured) chunks)"
          note+=" + drain $(secs $((t1 - ts))) s = $(secs $((t1 - t0))) s"
          note+=" (CPU: daemon $(ticks_s $(($(proc_cpu "${daemon_of[$mnt]}") - dcpu))) s,"
          note+=" s3rver $(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu))) s)"
        else
          log "amberfs round $r: drain failed: $(tail -n 2 "$d/drain.out")"
        fi
      else
        log "amberfs round $r: snapshot s1 failed: $(tail -n 2 "$d/snap.out")"
      fi
    else
      log "amberfs round $r: dd failed: $(tail -n 2 "$d/dd.log")"
    fi
  fi
  unmount "$mnt" || log "amberfs round $r: daemon exited non-zero: $(tail -n 2 "$d/daemon.log")"
  if [[ $up != fail ]]; then
    local n
    n=$(objects "amberfs$tag-r$r")
    objs=$(per_gib "$n")
    note+="; bucket: $n objects ($(object_kinds "amberfs$tag-r$r"))"
  fi
  add "a_up$tag" "$up"; add "a_objs$tag" "$objs"
  if [[ -z $tag ]]; then
    [[ $up != fail ]] && uploaded[$r]=1
    uuid_of[$r]=$(awk '$1 == "uuid" { print $2 }' "$vol/config" 2>/dev/null)
  fi
  # Nothing local is left for the restore.
  rm -rf "$vol"
  printf '  amberfs  round %d upload%s: %s MiB/s; %s\n' "$r" "${extra:+ ($extra)}" "$up" "$note"
}

# amberfs_restore ROUND
amberfs_restore() {
  local r=$1 d=$work/r$1/amberfs url rest=fail note="" t0 t1
  url=$(amber_url "$r")
  if [[ -z ${uploaded[$r]:-} ]]; then
    log "amberfs round $r: no restore (the upload failed)"
    add a_rest fail
    return
  fi
  settle
  local scpu mcpu c0 c1
  scpu=$(proc_cpu "$s3rver_pid")
  children_us c0
  stamp t0
  if bg_run "$d/restore.log" "$build/mkfs.amberfs" --restore "$url" --volume "${uuid_of[$r]:-}" --snapshot s1 "$d/restored"; then
    stamp t1
    children_us c1
    scpu=$(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu)))
    mcpu=$(secs $((c1 - c0)))
    if cmp -s "$work/data.bin" "$d/restored/image"; then
      rest=$(mibps $((t1 - t0)))
      note="$(secs $((t1 - t0))) s, image equal to the bytes written (CPU: mkfs.amberfs $mcpu s, s3rver $scpu s)"
    else
      note="the restored image DIFFERS from the bytes written"
    fi
  else
    note="mkfs.amberfs --restore failed: $(tail -n 2 "$d/restore.log")"
  fi
  add a_rest "$rest"
  rm -rf "$d"
  printf '  amberfs  round %d restore: %s MiB/s; %s\n' "$r" "$rest" "$note"
}

# amberfs_clone ROUND: mkfs --clone (timed), then a dd of the mounted clone (timed).
amberfs_clone() {
  local r=$1 d=$work/r$1/clone url took=fail rd=fail note="" t0 t1
  local mnt=$d/mnt
  url=$(amber_url "$r")
  if [[ -z ${uploaded[$r]:-} ]]; then
    log "amberfs round $r: no clone (the upload failed)"
    add c_time fail; add c_read fail
    return
  fi
  mkdir -p "$mnt"
  settle
  stamp t0
  if ! bg_run "$d/clone.log" "$build/mkfs.amberfs" --clone "$url" --volume "${uuid_of[$r]:-}" --snapshot s1 "$d/vol"; then
    log "amberfs round $r: mkfs.amberfs --clone failed: $(tail -n 2 "$d/clone.log")"
    add c_time fail; add c_read fail
    rm -rf "$d"
    return
  fi
  stamp t1
  took=$(secs $((t1 - t0)))
  note="clone $took s, its directory $(du -sh "$d/vol" | cut -f1)"
  env --default-signal=INT "$build/amberfs" -f "$d/vol" "$mnt" >"$d/daemon.log" 2>&1 &
  daemon_of[$mnt]=$!
  if wait_file "$mnt/volume" "${daemon_of[$mnt]}" "$d/daemon.log"; then
    settle
    stamp t0
    if bg_run "$d/dd.log" dd if="$mnt/volume" of=/dev/null bs=1M status=none; then
      stamp t1
      if cmp -s "$work/data.bin" "$mnt/volume"; then
        rd=$(mibps $((t1 - t0)))
        note+="; dd of the clone $(secs $((t1 - t0))) s, $(awk '/^amberfs_clone_fetched_chunks_total/ { print $2 }' \
          "$mnt/stats") chunks fetched, volume equal to the bytes written"
      else
        note+="; the clone's volume DIFFERS from the bytes written"
      fi
    else
      note+="; dd of the clone failed: $(tail -n 2 "$d/dd.log")"
    fi
  fi
  unmount "$mnt" || log "amberfs round $r: clone daemon exited non-zero: $(tail -n 2 "$d/daemon.log")"
  add c_time "$took"; add c_read "$rd"
  rm -rf "$d"
  printf '  amberfs  round %d clone: %s s, read %s MiB/s; %s\n' "$r" "$took" "$rd" "$note"
}

# --- the null client ------------------------------------------------------------
# null_client ROUND: the bytes as 16 MiB objects PUT (4 at a time), then GET
# to /dev/null (12 at a time), by curl into bucket ceiling-rN, each timed.
null_client() {
  local r=$1 d=$work/r$1/ceiling bucket=ceiling-r$1 put=fail get=fail checked=fail shape=fail note="" t0 t1 scpu
  local -a parts
  mkdir -p "$d"
  mapfile -t parts < <(find "$work/parts" -type f -printf '%f\n' | sort)
  settle
  if ! make_bucket "$bucket" "$d/bucket.log"; then
    log "null client round $r: bucket creation failed: $(tail -n 2 "$d/bucket.log")"
  else
    local list
    list=$(IFS=,; echo "${parts[*]}")
    # The shaped PUT goes first in even rounds, last in odd ones: a PUT right
    # after the GET ran ~30% slower in every round when it always went last
    # (4.5-4.7 s against 3.1-3.5), while alternated on one s3rver, with
    # nothing between, the two differ by 5-7%.
    if ((r % 2 == 0)); then shaped_put "$r" "$d" parts; fi
    scpu=$(proc_cpu "$s3rver_pid")
    stamp t0
    if s3_curl "$d/put.log" PUT "" --parallel --parallel-max 4 -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      -T "$work/parts/{$list}" "$endpoint/$bucket/"; then
      stamp t1
      put=$(mibps $((t1 - t0)))
      put_us[$r]=$((t1 - t0))
      note="PUT $(secs $((t1 - t0))) s (s3rver CPU $(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu))) s)"
      settle
      scpu=$(proc_cpu "$s3rver_pid")
      stamp t0
      if s3_curl "$d/get.log" GET "" --parallel --parallel-max 12 -H "x-amz-content-sha256: $empty_sha" \
        "$endpoint/$bucket/{$list}" -o /dev/null; then
        stamp t1
        get=$(mibps $((t1 - t0)))
        note+=", GET $(secs $((t1 - t0))) s (s3rver CPU $(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu))) s)"
      else
        log "null client round $r: GET failed: $(tail -n 2 "$d/get.log")"
      fi
      checked_get "$r" "$d" "$bucket" parts
      if ((r % 2 == 1)); then shaped_put "$r" "$d" parts; fi
    else
      log "null client round $r: PUT failed: $(tail -n 2 "$d/put.log")"
    fi
  fi
  local ceil=fail
  if [[ $put != fail && -n ${snap_us[$r]:-} ]]; then
    ceil=$(mibps $((snap_us[$r] + put_us[$r])))
    note+="; with amberfs's snapshot of this round: $(secs $((snap_us[$r] + put_us[$r]))) s"
  fi
  add n_put "$put"; add n_get "$get"; add n_up "$ceil"; add n_shape "$shape"; add n_check "$checked"
  rm -rf "$d"
  printf '  curl     round %d null client: PUT %s MiB/s, GET %s MiB/s, checked GET %s MiB/s, PUT with index objects %s MiB/s; %s\n' \
    "$r" "$put" "$get" "$checked" "$shape" "$note"
}

# checked_get ROUND DIR BUCKET PARTS_ARRAY_NAME: null_client's GET again, each
# object through `openssl dgst -sha256` (12 at a time), timed; the digests
# must be the parts' (untimed). Sets checked and adds to note (null_client's
# locals).
checked_get() {
  local r=$1 d=$2 bucket=$3 t0 t1 scpu
  local -n names=$4
  if ! command -v openssl >/dev/null; then
    log "null client round $r: SKIP checked GET: no openssl command (package openssl)"
    return
  fi
  printf '%s\n' "${names[@]}" >"$d/names"
  settle
  scpu=$(proc_cpu "$s3rver_pid")
  stamp t0
  # shellcheck disable=SC2016  # $0, $1 and $2 are the inner shells'
  if bg_run "$d/checked.log" xargs -a "$d/names" -P 12 -I '{}' bash -o pipefail -c \
    'curl -sSf --aws-sigv4 "aws:amz:$0:s3" -u S3RVER:S3RVER -H "x-amz-content-sha256: $1" "$2/{}" | openssl dgst -sha256 -r' \
    "$region" "$empty_sha" "$endpoint/$bucket"; then
    stamp t1
    if [[ $(awk '{ print $1 }' "$d/checked.log" | sort) == "$(cat "$work/parts.sha256")" ]]; then
      checked=$(mibps $((t1 - t0)))
      note+=", checked GET $(secs $((t1 - t0))) s (s3rver CPU $(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu))) s)"
    else
      log "null client round $r: the checked GET's digests are not the bytes'"
    fi
  else
    log "null client round $r: checked GET failed: $(tail -n 2 "$d/checked.log")"
  fi
}

# shaped_put ROUND DIR PARTS_ARRAY_NAME: null_client's PUT again, into bucket
# shape-rN, each part followed by an index-object-sized one; sets shape and
# adds to note (null_client's locals).
shaped_put() {
  local r=$1 d=$2 bucket=shape-r$1 t0 t1 scpu p
  local -n names=$3
  head -c 12352 /dev/urandom >"$d/index.bin"
  for p in "${names[@]}"; do
    printf 'url = "%s/%s/packs/%s"\nupload-file = "%s"\n' "$endpoint" "$bucket" "$p" "$work/parts/$p"
    printf 'url = "%s/%s/index/%s"\nupload-file = "%s"\n' "$endpoint" "$bucket" "$p" "$d/index.bin"
  done >"$d/shape.cfg"
  if ! make_bucket "$bucket" "$d/shape-bucket.log"; then
    log "null client round $r: bucket $bucket: $(tail -n 2 "$d/shape-bucket.log")"
    return
  fi
  settle
  scpu=$(proc_cpu "$s3rver_pid")
  stamp t0
  if s3_curl "$d/shape.log" PUT "" --parallel --parallel-max 4 -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -K "$d/shape.cfg"; then
    stamp t1
    shape=$(mibps $((t1 - t0)))
    note+=", PUT with index objects $(secs $((t1 - t0))) s (s3rver CPU $(ticks_s $(($(proc_cpu "$s3rver_pid") - scpu))) s)"
  else
    log "null client round $r: PUT with index objects failed: $(tail -n 2 "$d/shape.log")"
  fi
}

# --- s3backer ------------------------------------------------------------------
s3backer_upload() {
  local r=$1 d=$work/r$1/s3backer bucket=s3backer-r$1 up=fail objs=fail note="" t0 t1 tw
  local mnt=$d/mnt
  mkdir -p "$mnt"
  settle
  if ! make_bucket "$bucket" "$d/bucket.log"; then
    log "s3backer round $r: bucket creation failed: $(tail -n 2 "$d/bucket.log")"
    add s_up fail; add s_objs fail
    return
  fi
  s3backer -f --baseURL="$endpoint/" --authVersion=aws4 --blockSize="$sb_block" --size="$size" \
    --accessId=S3RVER --accessKey=S3RVER "$bucket" "$mnt" -o big_writes >"$d/s3backer.log" 2>&1 &
  daemon_of[$mnt]=$!
  if wait_file "$mnt/file" "${daemon_of[$mnt]}" "$d/s3backer.log"; then
    stamp t0
    if bg_run "$d/dd.log" dd if="$work/data.bin" of="$mnt/file" bs=1M conv=fsync,notrunc status=none; then
      stamp tw
      if unmount "$mnt"; then
        stamp t1
        up=$(mibps $((t1 - t0)))
        note="dd $(secs $((tw - t0))) s + unmount $(secs $((t1 - tw))) s = $(secs $((t1 - t0))) s"
      else
        log "s3backer round $r: s3backer exited non-zero: $(tail -n 2 "$d/s3backer.log")"
      fi
    else
      log "s3backer round $r: dd failed: $(tail -n 2 "$d/dd.log")"
    fi
  fi
  [[ -n ${daemon_of[$mnt]:-} ]] && unmount "$mnt"
  if [[ $up != fail ]]; then
    local n
    n=$(objects "$bucket")
    objs=$(per_gib "$n")
    note+="; bucket: $n objects"
  fi
  add s_up "$up"; add s_objs "$objs"
  rm -rf "$d"
  printf '  s3backer round %d upload: %s MiB/s; %s\n' "$r" "$up" "$note"
}

# --- restic --------------------------------------------------------------------
# s3rver 3.7.1 stores an aws-chunked PUT body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
# which restic's minio-go sends over plain http) with its chunk framing left
# in, so a repository restic writes into it cannot be opened again ("Unmarshal:
# invalid character 'b'"). So restic backs up into a local repository, and its
# files are PUT unchanged into the bucket (one curl, sigv4) under the same keys
# restic's S3 backend uses; the restore then reads the bucket over plain http
# like the others, with --no-lock (a lock would be a PUT).
restic_restore() {
  local r=$1 d=$work/r$1/restic rest=fail objs=fail note="" t0 t1 f
  local bucket=restic-r$1
  mkdir -p "$d/tmp" "$d/cache" "$d/cache2"
  local -a env_=(env RESTIC_PASSWORD=bench TMPDIR="$d/tmp") put=()
  settle
  if ! bg_run "$d/init.log" "${env_[@]}" RESTIC_CACHE_DIR="$d/cache" restic -r "$d/repo" init; then
    log "restic round $r: init failed: $(tail -n 2 "$d/init.log")"
  else
    stamp t0
    if ! bg_run "$d/backup.log" "${env_[@]}" RESTIC_CACHE_DIR="$d/cache" restic -r "$d/repo" backup "$work/data.bin"; then
      log "restic round $r: backup failed: $(tail -n 2 "$d/backup.log")"
    else
      stamp t1
      note="backup $(secs $((t1 - t0))) s (untimed, local repository)"
      while IFS= read -r f; do put+=(-T "$d/repo/$f" "$endpoint/$bucket/$f"); done < <(cd "$d/repo" && find . -type f -printf '%P\n')
      if ! make_bucket "$bucket" "$d/bucket.log" ||
        ! s3_curl "$d/put.log" PUT "" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${put[@]}"; then
        log "restic round $r: uploading the repository failed: $(tail -n 2 "$d/bucket.log" "$d/put.log")"
      else
        local n
        n=$(objects "$bucket")
        objs=$(per_gib "$n")
        note+=", bucket: $n objects"
        rm -rf "$d/cache" "$d/repo"
        settle
        stamp t0
        # A fresh, empty cache: nothing local, as for amberfs's restore.
        if bg_run "$d/restore.log" "${env_[@]}" RESTIC_CACHE_DIR="$d/cache2" restic -r "s3:$endpoint/$bucket" --no-lock \
          restore latest --target "$d/target"; then
          stamp t1
          if cmp -s "$work/data.bin" "$d/target$work/data.bin"; then
            rest=$(mibps $((t1 - t0)))
            note+="; restore $(secs $((t1 - t0))) s, file equal to the bytes"
          else
            note+="; the restored file DIFFERS from the bytes"
          fi
        else
          note+="; restore failed: $(tail -n 2 "$d/restore.log")"
        fi
      fi
    fi
  fi
  add r_rest "$rest"; add r_objs "$objs"
  rm -rf "$d"
  printf '  restic   round %d restore: %s MiB/s; %s\n' "$r" "$rest" "$note"
}


cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "s3_pack_bench: $size of random data per run, s3rver $(node "$s3rver_bin" --version 2>/dev/null) on 127.0.0.1" \
  "(fresh each round), median of $rounds rounds (amberfs and the baselines taking turns going first)"
echo "  on $(nproc) CPUs ($cpu_model), load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)," \
  "files in $work ($(df --output=source,fstype "$work" | tail -1 | tr -s ' '))"
echo "  $("$build/amberfs" --version 2>/dev/null | head -1), source $(git -C "$here" describe --always --dirty 2>/dev/null ||
  echo unknown); $(if ((have_s3backer)); then { s3backer --version 2>&1 || true; } | head -1; else echo "no s3backer"; fi);" \
  "$(if ((have_restic)); then { restic version 2>/dev/null || true; } | head -1; else echo "no restic"; fi)"
[[ -n ${BENCH_AMBER_OPTS:-} ]] && echo "  BENCH_AMBER_OPTS=$BENCH_AMBER_OPTS"

# The bytes: written once, used by every run.
if ! { command -v openssl >/dev/null && openssl rand -out "$work/data.bin" "$bytes" 2>/dev/null &&
  [[ $(stat -c %s "$work/data.bin") == "$bytes" ]]; }; then
  head -c "$bytes" /dev/urandom >"$work/data.bin" || exit 1
fi

# The null client's objects: the same bytes in 16 MiB pieces, and their SHA-256s.
mkdir -p "$work/parts" && split -b 16M -a 4 "$work/data.bin" "$work/parts/p" || exit 1
sha256sum "$work"/parts/* | awk '{ print $1 }' | sort >"$work/parts.sha256" || exit 1

for r in $(seq "$rounds"); do
  # The pack_size variant first, on an s3rver of its own, its files gone
  # before the round proper: what follows an upload into the same s3rver,
  # or the round's leftovers, runs slower (one trial run: the default
  # upload placed third ran at 161 MiB/s against 204 placed first).
  if start_s3rver "$work/r$r-variant"; then
    warm_s3rver "$work/r$r-variant" || log "round $r: warming s3rver up failed: $(tail -n 2 "$work/r$r-variant"/warm*.log)"
    amberfs_upload "$r" "$pack_tag" "pack_size=$pack_variant"
    stop_s3rver
  else
    add "a_up$pack_tag" fail; add "a_objs$pack_tag" fail
  fi
  rm -rf "$work/r$r-variant" "$work/r$r/amberfs$pack_tag"
  mkdir -p "$work/r$r/amberfs" "$work/r$r/s3backer" "$work/r$r/restic"
  if ! start_s3rver "$work/r$r"; then
    add a_up fail; add a_objs fail; add a_rest fail; add c_time fail; add c_read fail
    add n_put fail; add n_get fail; add n_up fail; add n_shape fail; add n_check fail
    ((have_s3backer)) && { add s_up fail; add s_objs fail; }
    ((have_restic)) && { add r_rest fail; add r_objs fail; }
    continue
  fi
  warm_s3rver "$work/r$r" || log "round $r: warming s3rver up failed: $(tail -n 2 "$work/r$r"/warm*.log)"
  log "round $r: s3rver at $endpoint"
  if ((r % 2 == 1)); then
    amberfs_upload "$r"
    ((have_s3backer)) && s3backer_upload "$r"
    amberfs_restore "$r"
    amberfs_clone "$r"
    ((have_restic)) && restic_restore "$r"
  else
    ((have_s3backer)) && s3backer_upload "$r"
    amberfs_upload "$r"
    ((have_restic)) && restic_restore "$r"
    amberfs_clone "$r"
    amberfs_restore "$r"
  fi
  null_client "$r"
  stop_s3rver
  rm -rf "$work/r$r"
done

# --- the table -------------------------------------------------------------------
declare -A med=()
for k in a_up "a_up$pack_tag" "a_objs$pack_tag" a_rest a_objs s_up s_objs r_rest r_objs c_time c_read n_put n_get n_up n_shape n_check; do
  # shellcheck disable=SC2086  # a list of figures
  med[$k]=$(median ${runs[$k]:-})
  [[ ${med[$k]} =~ ^[0-9.]+$ ]] && med[$k]=$(printf '%.1f' "${med[$k]}")
done
num() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { if num "${1:-}" && num "${2:-}" && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo -; fi; }
# verdict VALUE OP LIMIT: met / missed / - (VALUE like "3.10x" or a number)
verdict() {
  local v=${1%x}
  num "$v" || { echo -; return; }
  awk -v v="$v" -v op="$2" -v l="$3" 'BEGIN { ok = op == ">=" ? v >= l : v <= l; print ok ? "met" : "missed" }'
}

echo
row() { printf '%-22s %9s %9s %9s %16s  %-26s %s\n' "$@"; }
row figure amberfs s3backer restic ratio target verdict
ru=$(ratio "${med[a_up]}" "${med[s_up]:-}")
row "upload MiB/s" "${med[a_up]:--}" "${med[s_up]:--}" "" "$ru vs s3backer" ">= 3x s3backer" "$(verdict "$ru" ">=" 3)"
rv=$(ratio "${med[a_up$pack_tag]}" "${med[s_up]:-}")
row "  pack_size=$pack_variant" "${med[a_up$pack_tag]:--}" "" "" "$rv vs s3backer" "-o pack_size (not default)" \
  "${med[a_objs$pack_tag]:--} objects/GiB"
rr=$(ratio "${med[a_rest]}" "${med[r_rest]:-}")
row "restore MiB/s" "${med[a_rest]:--}" "" "${med[r_rest]:--}" "$rr vs restic" ">= 2x restic restore" "$(verdict "$rr" ">=" 2)"
rn=$(ratio "${med[n_up]}" "${med[s_up]:-}")
row "  ceiling MiB/s" "${med[n_up]:--}" "" "" "$rn vs s3backer" "snapshot + null-client PUT" ""
rs=$(ratio "${med[n_shape]}" "${med[n_put]}")
row "  null PUT + index" "${med[n_shape]:--}" "" "" "$rs vs plain PUT" "amberfs's request shape" ""
rg=$(ratio "${med[n_get]}" "${med[r_rest]:-}")
row "  null-client GET MiB/s" "${med[n_get]:--}" "" "" "$rg vs restic" "s3rver serving, no client work" ""
rk=$(ratio "${med[n_check]}" "${med[r_rest]:-}")
row "  checked GET MiB/s" "${med[n_check]:--}" "" "" "$rk vs restic" "curl | openssl sha256" ""
row "objects per GiB" "${med[a_objs]:--}" "${med[s_objs]:--}" "${med[r_objs]:--}" "" "amberfs <= 200" \
  "$(verdict "${med[a_objs]}" "<=" 200)"
rc=$(ratio "${med[c_read]}" "${med[a_rest]}")
row "clone s" "${med[c_time]:--}" "" "" "" "< 3 s (1 GiB)" "$(verdict "${med[c_time]}" "<=" 3)"
row "clone read MiB/s" "${med[c_read]:--}" "" "" "$rc vs restore" ">= 0.5x amberfs restore" "$(verdict "$rc" ">=" 0.5)"
echo "(medians of $rounds rounds of $size; upload: amberfs snapshot + drain, s3backer $sb_block blocks dd + unmount;" \
  "ceiling: amberfs's snapshot + curl PUT of the bytes as 16 MiB objects, curl GET of them to /dev/null;" \
  "checked GET: the GET through openssl dgst -sha256;" \
  "null PUT + index: the same PUT with a 12,352-byte object after each 16 MiB one;" \
  "pack_size=$pack_variant: amberfs's upload mounted with that option, not in the verdict;" \
  "restore: mkfs.amberfs --restore, restic restore; clone: mkfs.amberfs --clone, then dd of the mounted clone; objects in each bucket per GiB written)"
echo "s3_pack_bench took $(($(date +%s) - t_start)) s"
