# s3rver (test/node_modules) on 127.0.0.1 for mount tests and benchmarks that
# stop and restart it. Source it; it is not a test.
#
#   source test/support/s3rver.sh
#   s3rver_start DATADIR [PORT] || exit $?   # 77 (after "SKIP: ...") if missing
#   ... s3://BUCKET/...?endpoint=$S3RVER_ENDPOINT, keys S3RVER/S3RVER ...
#   s3rver_stop                              # the outage; data stays in DATADIR
#   s3rver_start DATADIR "$S3RVER_PORT"      # back on the same port
#   s3rver_make_bucket NAME
#
# It runs in its own session and s3rver_stop ends exactly that process
# group (the pid this file started). Exports AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (S3RVER) for amberfs.

S3RVER_BIN=${AMBERFS_S3RVER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.bin/s3rver}
S3RVER_PID=""
S3RVER_PORT=""
S3RVER_ENDPOINT=""
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

s3rver_start() {
  local data=$1 port=${2:-0} log
  [[ -x $S3RVER_BIN ]] || { echo "SKIP: s3rver not installed (cd test && npm install)"; return 77; }
  command -v node >/dev/null || { echo "SKIP: node not installed"; return 77; }
  mkdir -p "$data"
  log=$data.log
  : >"$log"
  NODE_OPTIONS=--openssl-legacy-provider setsid "$S3RVER_BIN" -d "$data" -a 127.0.0.1 -p "$port" \
    >"$log" 2>&1 &
  S3RVER_PID=$!
  for _ in $(seq 300); do
    S3RVER_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $S3RVER_PORT ]] && break
    kill -0 "$S3RVER_PID" 2>/dev/null || { echo "s3rver exited: $(tail -3 "$log")" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $S3RVER_PORT ]] || { echo "s3rver did not start" >&2; return 1; }
  S3RVER_ENDPOINT=http://127.0.0.1:$S3RVER_PORT
}

s3rver_stop() {
  [[ -n $S3RVER_PID ]] || return 0
  kill -- "-$S3RVER_PID" 2>/dev/null || true
  wait "$S3RVER_PID" 2>/dev/null || true
  S3RVER_PID=""
}

s3rver_make_bucket() {
  curl -sf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 -u S3RVER:S3RVER \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    "$S3RVER_ENDPOINT/$1" >/dev/null
}
