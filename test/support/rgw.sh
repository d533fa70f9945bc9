# A throwaway single-node Ceph cluster with a RADOS Gateway (S3) on 127.0.0.1,
# for tests. Source it; it is not a test.
#
#   source test/support/rgw.sh
#   rgw_start "$DIR" || exit $?     # 77 (after "SKIP: ...") if ceph is missing
#   trap rgw_stop EXIT              # or call rgw_stop from your own cleanup
#   ... talk S3 to $RGW_ENDPOINT with $RGW_ACCESS_KEY/$RGW_SECRET_KEY,
#       signing SigV4 for region $RGW_REGION ...
#   rgw_restart_gateway             # radosgw only, e.g. for outage tests
#   rgw_stop_gateway; ...; rgw_start_gateway
#   rgw_kill_gateway; ...; rgw_start_gateway   # radosgw killed with SIGKILL
#   rgw_stop                        # stops what it started, removes $DIR
#
# Call these in the test's own shell, not in $(...) or a pipeline: the pids
# of the daemons are kept in shell variables (and in DIR/run/NAME.pid, which
# `rgw_stop DIR` reads when called from another shell).
#
# The cluster is one monitor, one memstore OSD (objects live in the OSD's
# memory; no disk) and radosgw. No manager: the S3 path does not need one,
# the cluster stays HEALTH_OK without one (mon_mgr_mkfs_grace is raised), and
# ceph-mgr spends >10 s of CPU loading its python modules. RGW_WITH_MGR=1
# starts one anyway. Every file (config, mon store, logs, pid files, admin
# sockets; there is no keyring, as nothing authenticates) lives under DIR,
# which must be empty or missing and which rgw_stop removes; nothing in
# /etc/ceph or /var/lib/ceph is read or written. Every daemon binds to
# 127.0.0.1 only (the monitor to one port, the OSD to four in 6800-7300,
# radosgw to RGW_PORT). No bucket is created; the S3 user is "test" with the
# keys below.
#
# Debian 12 packages (apt-get install --no-install-recommends):
#   ceph-mon ceph-osd radosgw ceph-common curl   (+ ceph-mgr for RGW_WITH_MGR=1)
#
# Knobs (environment, read by rgw_start):
#   RGW_PORT            S3 port; default: a free port picked at start
#   RGW_ACCESS_KEY      default AMBERTESTACCESSKEY1
#   RGW_SECRET_KEY      default amber-test-secret-key-0123456789abcdef
#   RGW_WITH_MGR=1      also run a ceph-mgr (needs package ceph-mgr)
#   RGW_START_TIMEOUT   seconds for the whole start (default 90)
#   RGW_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (default 5)
#   RGW_MEMSTORE_BYTES  size the OSD reports (objects are kept in RAM); 2 GiB
#   RGW_KEEP_DIR=1      rgw_stop leaves DIR in place (to read the logs)
#
# Set by rgw_start: RGW_DIR RGW_ENDPOINT RGW_HOST RGW_PORT RGW_REGION
# RGW_ACCESS_KEY RGW_SECRET_KEY RGW_MON_PORT RGW_CONF RGW_STARTUP_SECONDS, and
# exports AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_DEFAULT_REGION only if
# RGW_EXPORT_AWS=1.
#
# Region: radosgw computes a SigV4 signature with whatever region the client
# put in its credential scope, so any region string signs correctly. What it
# does check is a CreateBucket LocationConstraint body: that must be absent or
# equal the zonegroup's api_name, which for the zonegroup radosgw makes on
# first start is "default". RGW_REGION is that api_name, read back from the
# cluster; a client that sends a LocationConstraint only outside "us-east-1"
# (as AWS SDKs and amberfs do) works with either "us-east-1" or RGW_REGION,
# and fails (InvalidLocationConstraint) with any other region.
#
# Addressing: path-style (http://127.0.0.1:PORT/BUCKET/KEY) always works.
# rgw_dns_name is "localhost", so Host: BUCKET.localhost:PORT is taken as
# virtual-hosted style too (if the client can resolve that name).
#
# curl's --aws-sigv4 (7.88) does not send x-amz-content-sha256 by itself, and
# radosgw rejects a SigV4 request without it (SignatureDoesNotMatch): add
# -H "x-amz-content-sha256: <sha256 of the body, or UNSIGNED-PAYLOAD>".
#
# Every function returns non-zero on failure, 77 when the packages are
# missing; none of them exits the caller's shell.

RGW_DIR=${RGW_DIR:-}
RGW_CONF=""
RGW_HOST=127.0.0.1
RGW_ENDPOINT=""
RGW_REGION=""
RGW_MON_PORT=""
RGW_STARTUP_SECONDS=""
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-AMBERTESTACCESSKEY1}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-amber-test-secret-key-0123456789abcdef}
RGW_PORT=${RGW_PORT:-}
# name -> "pid starttime" of every daemon this file started and not yet reaped.
declare -gA RGW_PIDS=()

_rgw_log() { echo "[rgw $(date +%T)] $*" >&2; }
_rgw_err() { echo "rgw: ERROR: $*" >&2; }

# rgw_check_installed: 0 if every program is there, else prints
# "SKIP: ceph packages not installed (...)" and returns 77.
rgw_check_installed() {
  local -
  set +e
  local p missing=()
  local progs=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl)
  [[ ${RGW_WITH_MGR:-0} == 1 ]] && progs+=(ceph-mgr)
  for p in "${progs[@]}"; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "SKIP: ceph packages not installed (missing ${missing[*]}; apt-get install --no-install-recommends" \
      "ceph-mon ceph-osd radosgw ceph-common curl)"
    return 77
  fi
}

# _rgw_free_ports N: prints N distinct TCP ports that no socket on this
# machine uses right now, from 20000-32767: below Linux's ephemeral range
# (32768-60999), so no outgoing connection takes one meanwhile. (Pure bash:
# a python3 start costs a second on a busy machine.)
_rgw_free_ports() {
  local n=$1 used port i f laddr rest
  used=" "
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] || continue
    # Field 2 is local_address HEX_IP:HEX_PORT.
    while read -r rest laddr rest; do
      if [[ $laddr == *:* ]]; then used+="$((16#${laddr##*:})) "; fi
    done <"$f"
  done
  for ((i = 0; i < 1000 && n > 0; i++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
    if [[ $used != *" $port "* ]]; then
      echo "$port"
      used+="$port "
      n=$((n - 1))
    fi
  done
  ((n == 0)) || { _rgw_err "no free port found"; return 1; }
}

# The start time of PID in clock ticks since boot (field 22 of /proc/PID/stat),
# so a recycled PID is never mistaken for ours.
_rgw_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }  # the fields after "(comm) "
  local -a f
  read -ra f <<<"$stat"
  echo "${f[19]}"
}

# True while PID is the process we started (same start time) and not a zombie.
_rgw_alive() {
  local pid=$1 start=$2 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  local -a f
  read -ra f <<<"$stat"
  [[ ${f[0]} != Z && ${f[19]} == "$start" ]]
}

# _rgw_spawn NAME PROG ARGS...: starts a foreground daemon in its own session,
# output to $RGW_DIR/log/NAME.out, and records its pid.
_rgw_spawn() {
  local name=$1
  shift
  # setsid runs the daemon in place (a background job is no group leader),
  # so $! is the daemon's own pid.
  setsid "$@" </dev/null >>"$RGW_DIR/log/$name.out" 2>&1 &
  local pid=$! start
  start=$(_rgw_starttime "$pid") || start=gone
  RGW_PIDS[$name]="$pid $start"
  echo "$pid $start" >"$RGW_DIR/run/$name.pid"
}

# _rgw_kill NAME...: SIGTERM the named daemons, SIGKILL what is left after
# RGW_STOP_TIMEOUT seconds, reap them, forget them.
_rgw_kill() {
  local -
  set +e
  local name pid start left deadline
  local -a live=()
  for name in "$@"; do
    [[ -n ${RGW_PIDS[$name]:-} ]] || continue
    read -r pid start <<<"${RGW_PIDS[$name]}"
    if _rgw_alive "$pid" "$start"; then
      kill -TERM "$pid" 2>/dev/null
      live+=("$name")
    fi
  done
  deadline=$((SECONDS + ${RGW_STOP_TIMEOUT:-5}))
  while ((${#live[@]})); do
    left=()
    for name in "${live[@]}"; do
      read -r pid start <<<"${RGW_PIDS[$name]}"
      _rgw_alive "$pid" "$start" && left+=("$name")
    done
    live=("${left[@]}")
    ((${#live[@]})) || break
    if ((SECONDS >= deadline)); then
      for name in "${live[@]}"; do
        read -r pid start <<<"${RGW_PIDS[$name]}"
        _rgw_log "$name (pid $pid) ignored SIGTERM for ${RGW_STOP_TIMEOUT:-5}s; SIGKILL"
        _rgw_alive "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
      done
      deadline=$((SECONDS + 5))  # SIGKILL cannot be ignored; this only bounds the loop
      local tries=0
      while ((${#live[@]})) && ((tries++ < 50)); do
        left=()
        for name in "${live[@]}"; do
          read -r pid start <<<"${RGW_PIDS[$name]}"
          _rgw_alive "$pid" "$start" && left+=("$name")
        done
        live=("${left[@]}")
        ((${#live[@]})) && sleep 0.1
      done
      break
    fi
    sleep 0.1
  done
  for name in "$@"; do
    [[ -n ${RGW_PIDS[$name]:-} ]] || continue
    read -r pid start <<<"${RGW_PIDS[$name]}"
    # Reap it if it is our child (a no-op, with an error we drop, if not).
    wait "$pid" 2>/dev/null || true
    unset "RGW_PIDS[$name]"
    [[ -n $RGW_DIR ]] && rm -f "$RGW_DIR/run/$name.pid"
  done
  return 0
}

# rgw_logs_tail [N]: the last N lines (default 15) of each log, to stderr:
# radosgw's first, then the OSD's, the monitor's, then the rest.
rgw_logs_tail() {
  local -
  set +e
  local n=${1:-15} f seen=" "
  [[ -n $RGW_DIR && -d $RGW_DIR/log ]] || return 0
  for f in "$RGW_DIR"/log/{radosgw.log,client.rgw.out,osd.0.log,osd.0.out,mon.a.log,mon.a.out,cluster.log,phases} \
    "$RGW_DIR"/log/*; do
    [[ -s $f && $seen != *" $f "* ]] || continue
    seen+="$f "
    echo "----- tail of $f" >&2
    tail -n "$n" "$f" >&2
  done
}

# _rgw_ceph ARGS...: the ceph CLI against this cluster, bounded in time.
_rgw_ceph() { timeout 30 ceph -c "$RGW_CONF" --connect-timeout 20 "$@"; }
_rgw_admin() { timeout 60 radosgw-admin -c "$RGW_CONF" "$@"; }

_rgw_write_conf() {
  local d=$RGW_DIR fsid=$1
  cat >"$RGW_CONF" <<EOF
# Written by test/support/rgw.sh; everything lives under $d.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$RGW_MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# No cephx. A mon client's default mode ("secure crc") needs cephx, so
# without this radosgw and the CLI never get past the monitor.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
run dir = $d/run
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.daemon-pid
log file = $d/log/\$name.log
mon cluster log file = $d/log/cluster.log
crash dir = $d/crash
log to syslog = false
err to syslog = false
debug ms = 0
mon data = $d/\$name
osd data = $d/\$name
mgr data = $d/\$name
rgw data = $d/\$name
# One OSD, nothing replicated, few PGs, no autoscaler.
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE_BYTES:-2147483648}
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# Each map change waits this long for company (1 s by default); radosgw's
# first start makes ~10 of them, serially.
paxos propose interval = 0.1
mon data avail warn = 1
mon data avail crit = 0
# No manager modules that open ports (restful would listen on 8003). Without
# a manager the cluster is HEALTH_OK for mon_mgr_mkfs_grace, then MGR_DOWN.
mon mgr initial modules = iostat
mon mgr mkfs grace = 86400
# Nothing authenticates, so global_id reclaim is moot.
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# Modest threads: the machine is shared.
osd op num shards = 2
osd op num threads per shard = 1

# The CLI and radosgw-admin run as client.admin, sometimes two at once.
[client.admin]
admin socket =

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = localhost
rgw thread pool size = 16
rgw exit timeout secs = 5
rgw enable usage log = false
rgw enable ops log = false
rgw enable apis = s3, admin
log file = $d/log/radosgw.log
EOF
}

# rgw_start DIR: builds and starts the cluster and radosgw in DIR, makes the
# S3 user, waits until the endpoint answers. Returns 77 (after "SKIP: ...")
# when the packages are missing, 1 on failure (after the logs' tails; the
# daemons it started are stopped again, DIR stays until rgw_stop).
rgw_start() {
  local -
  set +e
  local dir=${1:?rgw_start DIR} abs
  rgw_check_installed || return $?
  if ((${#RGW_PIDS[@]})); then
    _rgw_err "rgw_start: a cluster is already running in $RGW_DIR"
    return 1
  fi
  _RGW_T0=$(date +%s%N)
  mkdir -p "$dir" || return 1
  abs=$(cd "$dir" && pwd) || return 1
  # Not ours to use, nor (by rgw_stop) to remove.
  if [[ -n $(ls -A "$abs") ]]; then
    _rgw_err "rgw_start: $abs is not empty"
    return 1
  fi
  # A unix socket path must fit in 108 bytes.
  if ((${#abs} > 70)); then
    _rgw_err "rgw_start: $abs is too long a path for the admin sockets (max 70 chars)"
    return 1
  fi
  RGW_DIR=$abs
  # rgw_stop removes only a directory that carries this mark.
  : >"$RGW_DIR/.rgw-harness" || return 1
  mkdir -p "$RGW_DIR"/{log,run,crash,mon.a,osd.0,client.rgw} || return 1
  RGW_CONF=$RGW_DIR/ceph.conf
  local -a ports
  mapfile -t ports < <(_rgw_free_ports 2)
  ((${#ports[@]} == 2)) || return 1
  RGW_MON_PORT=${ports[0]}
  _RGW_PORT_PICKED=0
  if [[ -z $RGW_PORT ]]; then
    RGW_PORT=${ports[1]}
    _RGW_PORT_PICKED=1
  fi
  RGW_ENDPOINT=http://$RGW_HOST:$RGW_PORT
  local fsid osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  _rgw_write_conf "$fsid"
  _rgw_phase "config written"

  if ! _rgw_bootstrap "$fsid" "$osd_uuid"; then
    rgw_logs_tail 20
    _rgw_kill client.rgw mgr.x osd.0 mon.a
    return 1
  fi
  RGW_STARTUP_SECONDS=$(awk -v a="$_RGW_T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  _rgw_log "up in ${RGW_STARTUP_SECONDS}s: $RGW_ENDPOINT region $RGW_REGION (dir $RGW_DIR)"
  if [[ ${RGW_EXPORT_AWS:-0} == 1 ]]; then
    export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY AWS_DEFAULT_REGION=$RGW_REGION
  fi
  export RGW_DIR RGW_ENDPOINT RGW_PORT RGW_REGION RGW_ACCESS_KEY RGW_SECRET_KEY
  return 0
}

# _rgw_phase WHAT: notes the seconds since rgw_start began, in log/phases.
_rgw_phase() {
  awk -v a="$_RGW_T0" -v b="$(date +%s%N)" -v w="$1" 'BEGIN { printf "%6.2fs %s\n", (b - a) / 1e9, w }' \
    >>"$RGW_DIR/log/phases"
}

_rgw_bootstrap() {
  local fsid=$1 osd_uuid=$2 d=$RGW_DIR deadline=$((SECONDS + ${RGW_START_TIMEOUT:-90}))
  # The monitor: no keyring is needed, as nothing authenticates.
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$RGW_MON_PORT]" --enable-all-features \
    --set-min-mon-release pacific "$d/monmap" >"$d/log/monmaptool.out" 2>&1 ||
    { _rgw_err "monmaptool failed: $(tail -3 "$d/log/monmaptool.out")"; return 1; }
  ceph-mon -c "$RGW_CONF" -i a --mkfs --monmap "$d/monmap" >"$d/log/mon.a.mkfs.out" 2>&1 ||
    { _rgw_err "ceph-mon --mkfs failed: $(tail -3 "$d/log/mon.a.mkfs.out")"; return 1; }
  _rgw_spawn mon.a ceph-mon -c "$RGW_CONF" -i a -f
  _rgw_phase "ceph-mon started (port $RGW_MON_PORT)"

  # Registers the OSD (this waits for the monitor to answer), makes its
  # store (memstore: a few small files; the objects will live in memory).
  local id
  id=$(_rgw_ceph osd new "$osd_uuid" 0 2>"$d/log/osd-new.out") ||
    { _rgw_err "the monitor did not answer (ceph osd new failed: $(tail -3 "$d/log/osd-new.out"))"; return 1; }
  [[ $id == 0 ]] || { _rgw_err "ceph osd new gave id '$id', not 0"; return 1; }
  _rgw_phase "monitor answered; osd.0 registered"
  ceph-osd -c "$RGW_CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$d/log/osd.0.mkfs.out" 2>&1 ||
    { _rgw_err "ceph-osd --mkfs failed: $(tail -3 "$d/log/osd.0.mkfs.out")"; return 1; }
  _rgw_spawn osd.0 ceph-osd -c "$RGW_CONF" -i 0 -f
  _rgw_phase "ceph-osd started"
  if [[ ${RGW_WITH_MGR:-0} == 1 ]]; then
    mkdir -p "$d/mgr.x"
    _rgw_spawn mgr.x ceph-mgr -c "$RGW_CONF" -i x -f
    _rgw_phase "ceph-mgr started"
  fi
  # radosgw waits by itself for the OSD to boot, then makes its pools.
  rgw_start_gateway $((deadline - SECONDS)) || return 1
  _rgw_phase "radosgw answers on $RGW_ENDPOINT"

  # The S3 user, and (at the same time) the region as radosgw sees it.
  _rgw_admin zonegroup get >"$d/log/zonegroup.json" 2>"$d/log/zonegroup.err" &
  local zg=$!
  _rgw_admin user create --uid test --display-name "amberfs test" \
    --access-key "$RGW_ACCESS_KEY" --secret-key "$RGW_SECRET_KEY" >"$d/log/user-create.out" 2>&1 ||
    { wait "$zg"; _rgw_err "radosgw-admin user create failed: $(tail -3 "$d/log/user-create.out")"; return 1; }
  wait "$zg"
  RGW_REGION=$(sed -n 's/^ *"api_name": "\([^"]*\)",*$/\1/p' "$d/log/zonegroup.json" | head -1)
  [[ -n $RGW_REGION ]] || { _rgw_err "could not read the zonegroup's api_name: $(tail -3 "$d/log/zonegroup.err")"; return 1; }
  _rgw_phase "user test made; zonegroup api_name $RGW_REGION"
  return 0
}

# rgw_wait_ready [TIMEOUT]: polls the endpoint until an anonymous GET / gets
# an S3 answer (200 ListAllMyBucketsResult or 403 AccessDenied), TIMEOUT
# seconds at most (default 60). On failure: an error and the logs' tails.
rgw_wait_ready() {
  local -
  set +e
  local timeout=${1:-60} deadline code pid start
  deadline=$((SECONDS + timeout))
  while :; do
    code=$(curl -s -o "$RGW_DIR/run/ready.body" -w '%{http_code}' --max-time 2 "$RGW_ENDPOINT/" 2>/dev/null)
    if [[ $code == 200 || $code == 403 ]] && grep -qE 'ListAllMyBucketsResult|AccessDenied' "$RGW_DIR/run/ready.body"; then
      rm -f "$RGW_DIR/run/ready.body"
      return 0
    fi
    if [[ -n ${RGW_PIDS[client.rgw]:-} ]]; then
      read -r pid start <<<"${RGW_PIDS[client.rgw]}"
      if ! _rgw_alive "$pid" "$start"; then
        _rgw_err "radosgw (pid $pid) exited before $RGW_ENDPOINT answered"
        rgw_logs_tail 20
        return 1
      fi
    fi
    if ((SECONDS >= deadline)); then
      _rgw_err "$RGW_ENDPOINT did not answer an S3 GET / within ${timeout}s (last HTTP code '$code')"
      rgw_logs_tail 20
      return 1
    fi
    sleep 0.2
  done
}

# rgw_start_gateway [TIMEOUT]: starts radosgw (on the same port) and waits
# until it answers.
rgw_start_gateway() {
  local -
  set +e
  local timeout=${1:-60}
  if [[ -n ${RGW_PIDS[client.rgw]:-} ]]; then
    _rgw_err "radosgw is already running"
    return 1
  fi
  [[ -n $RGW_CONF && -f $RGW_CONF ]] || { _rgw_err "no cluster (call rgw_start first)"; return 1; }
  _rgw_spawn client.rgw radosgw -c "$RGW_CONF" -n client.rgw -f
  rgw_wait_ready "$timeout"
}

# rgw_stop_gateway: stops radosgw only (SIGTERM, then SIGKILL).
rgw_stop_gateway() { _rgw_kill client.rgw; }

# rgw_kill_gateway: radosgw dies at once (SIGKILL), as in a crash: requests
# in flight are cut off.
rgw_kill_gateway() {
  local -
  set +e
  local pid start
  [[ -n ${RGW_PIDS[client.rgw]:-} ]] || return 0
  read -r pid start <<<"${RGW_PIDS[client.rgw]}"
  _rgw_alive "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
  _rgw_kill client.rgw  # reaps it and forgets it
}

# rgw_restart_gateway [TIMEOUT]: stops radosgw and starts it again.
rgw_restart_gateway() {
  local -
  set +e
  rgw_stop_gateway
  rgw_start_gateway "${1:-60}"
}

# rgw_stop [DIR]: stops every daemon rgw_start started (radosgw first, the
# monitor last), then removes DIR. Safe to call twice, or without a start.
# From a shell other than rgw_start's, give DIR: the pids are then read from
# DIR/run/NAME.pid (each checked against its recorded start time).
rgw_stop() {
  local -
  set +e
  local f name pid start
  if [[ -n ${1:-} ]] && ((${#RGW_PIDS[@]} == 0)) && [[ -d $1/run ]]; then
    RGW_DIR=$(cd "$1" && pwd)
    for f in "$RGW_DIR"/run/*.pid; do
      [[ -f $f ]] || continue
      name=$(basename "$f" .pid)
      read -r pid start <"$f"
      [[ $pid =~ ^[0-9]+$ && -n $start ]] && RGW_PIDS[$name]="$pid $start"
    done
  fi
  _rgw_kill client.rgw
  _rgw_kill mgr.x osd.0
  _rgw_kill mon.a
  if [[ -n $RGW_DIR && -f $RGW_DIR/.rgw-harness && ${RGW_KEEP_DIR:-0} != 1 ]]; then
    rm -rf "$RGW_DIR"
  fi
  RGW_DIR=""
  RGW_CONF=""
  # A port rgw_start picked is picked anew by the next rgw_start.
  if [[ ${_RGW_PORT_PICKED:-0} == 1 ]]; then
    RGW_PORT=""
    _RGW_PORT_PICKED=0
  fi
  return 0
}

# rgw_pids: the pids of the daemons still running (one per line).
rgw_pids() {
  local name pid start
  for name in "${!RGW_PIDS[@]}"; do
    read -r pid start <<<"${RGW_PIDS[$name]}"
    echo "$pid"
  done
}
