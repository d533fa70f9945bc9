# One S3 server for a mount test, chosen by S3_BACKEND: s3rver (the default;
# npm, in test/node_modules) or rgw (a one-node Ceph cluster with radosgw,
# test/support/rgw.sh). Source it after lib.sh; it is not a test.
#
#   source test/support/s3_backend.sh
#   s3_test_setup || exit $?     # amb_setup, then the server in $AMB_WORK/s3;
#                                # 77 after "SKIP: ..." when it cannot run here
#   url=$(s3_url BUCKET/PREFIX)  # s3://BUCKET/PREFIX?endpoint=...&region=...
#   mkfs ... --slow "$url" --s3-credentials "$S3_CREDENTIALS"
#   s3_server_stop; ...; s3_server_start          # an outage: same port, same data
#   s3_backend_stop                                # also called by the EXIT trap it adds
#
# The server starts with no bucket (mkfs.amberfs creates it). Credentials are
# in $S3_CREDENTIALS, an AWS shared-credentials file; S3_ACCESS_KEY and
# S3_SECRET_KEY hold them too. S3_REGION is the region to put in URLs
# (s3rver: us-east-1; radosgw: its zonegroup's api_name, "default").
# s3_server_requests prints how many requests the server has logged so far,
# or nothing when the backend cannot tell (s3rver).
#
# Everything lives under the directory given to s3_backend_start; only the
# processes started here are stopped (by their pids).

S3_BACKEND=${S3_BACKEND:-s3rver}
S3_ENDPOINT="" S3_REGION="" S3_CREDENTIALS="" S3_ACCESS_KEY="" S3_SECRET_KEY="" S3_DIR=""
_S3_PID="" _S3_PORT=""

source "$(dirname "${BASH_SOURCE[0]}")/rgw.sh"

_s3_write_credentials() {
  S3_CREDENTIALS=$S3_DIR/credentials
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" \
    >"$S3_CREDENTIALS"
  chmod 600 "$S3_CREDENTIALS"
}

_s3rver_bin() { echo "${AMBERFS_S3RVER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.bin/s3rver}"; }

# Starts s3rver on _S3_PORT (0: it picks one) with data in S3_DIR/data.
_s3rver_start() {
  local bin log=$S3_DIR/s3rver.log port=""
  bin=$(_s3rver_bin)
  : >"$log"
  NODE_OPTIONS=--openssl-legacy-provider setsid "$bin" -d "$S3_DIR/data" -a 127.0.0.1 -p "${_S3_PORT:-0}" \
    >>"$log" 2>&1 &
  _S3_PID=$!
  AMB_PIDS[s3rver]=$_S3_PID
  for _ in $(seq 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $port ]] && break
    kill -0 "$_S3_PID" 2>/dev/null || { echo "s3rver exited: $(tail -3 "$log")" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "s3rver did not start" >&2; return 1; }
  _S3_PORT=$port
  S3_ENDPOINT=http://127.0.0.1:$port
}

# s3_backend_start DIR: starts the backend; 77 (after "SKIP: why") if it cannot run here.
s3_backend_start() {
  S3_DIR=$1
  mkdir -p "$S3_DIR"
  case $S3_BACKEND in
    s3rver)
      [[ -x $(_s3rver_bin) ]] || { echo "SKIP: s3rver not installed (cd test && npm install)"; return 77; }
      command -v node >/dev/null || { echo "SKIP: node not installed"; return 77; }
      mkdir -p "$S3_DIR/data"
      S3_ACCESS_KEY=S3RVER S3_SECRET_KEY=S3RVER S3_REGION=us-east-1
      _s3rver_start || return 1
      ;;
    rgw)
      local rc=0
      rgw_start "$S3_DIR/ceph" || rc=$?
      ((rc == 0)) || return $rc
      S3_ENDPOINT=$RGW_ENDPOINT S3_REGION=$RGW_REGION S3_ACCESS_KEY=$RGW_ACCESS_KEY S3_SECRET_KEY=$RGW_SECRET_KEY
      ;;
    *)
      echo "s3_backend_start: unknown S3_BACKEND '$S3_BACKEND' (s3rver or rgw)" >&2
      return 1
      ;;
  esac
  # Stop the server before lib.sh's cleanup, which reads the test's exit
  # status from $? (set +e: under -e, "(exit $rc)" would end the trap there).
  trap 'rc=$?; set +e; s3_backend_stop; (exit $rc); amb_cleanup' EXIT
  _s3_write_credentials
  amb_log "S3 backend $S3_BACKEND at $S3_ENDPOINT, region $S3_REGION"
}

# s3_test_setup: lib.sh's amb_setup, then s3_backend_start "$AMB_WORK/s3".
s3_test_setup() {
  amb_setup
  s3_backend_start "$AMB_WORK/s3"
}

# s3_url BUCKET[/PREFIX]
s3_url() { echo "s3://$1?endpoint=$S3_ENDPOINT&region=$S3_REGION"; }

# s3_server_stop / s3_server_start: the S3 endpoint goes away at once
# (SIGKILL: requests in flight are cut off) and comes back on the same port
# with the same objects (for rgw: radosgw only; the cluster stays).
s3_server_stop() {
  case $S3_BACKEND in
    s3rver)
      [[ -n $_S3_PID ]] || return 0
      kill -KILL -- "-$_S3_PID" 2>/dev/null
      wait "$_S3_PID" 2>/dev/null || true
      unset "AMB_PIDS[s3rver]"
      _S3_PID=""
      ;;
    rgw) rgw_kill_gateway ;;
  esac
}
s3_server_start() {
  case $S3_BACKEND in
    s3rver) _s3rver_start ;;
    rgw) rgw_start_gateway 60 ;;
  esac
}

# s3_server_requests: requests the server logged so far ("" if it cannot tell).
s3_server_requests() {
  case $S3_BACKEND in
    rgw) grep -c ' beast: .* "[A-Z]* /' "$RGW_DIR/log/radosgw.log" 2>/dev/null || echo 0 ;;
    *) echo "" ;;
  esac
}

s3_backend_stop() {
  case $S3_BACKEND in
    s3rver) s3_server_stop ;;
    rgw) rgw_stop ;;
  esac
}
