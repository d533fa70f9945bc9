#!/usr/bin/env bash
# The RADOS Gateway harness (test/support/rgw.sh) itself: start a one-node
# Ceph cluster with radosgw on 127.0.0.1, then over S3 with curl's SigV4:
# the harness made no bucket; create one, PUT, GET whole and with a Range,
# ListObjectsV2, restart just the gateway and read back, delete. Then stop
# and check that no process it started, no listening port and no state
# directory is left. Each phase is timed. Skips if ceph is not installed.
AMB_TIMEOUT=${AMB_TIMEOUT:-110}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/rgw.sh"
rgw_check_installed || exit 77
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || amb_skip "curl has no --aws-sigv4 (need curl >= 7.75)"
amb_setup
# rgw_stop before lib.sh's cleanup, which reads the test's exit status from $?
# (set +e: under -e, "(exit $rc)" would end the trap there).
trap 'rc=$?; set +e; rgw_stop; (exit $rc); amb_cleanup' EXIT

phase_start=0
phase() { phase_start=$(date +%s%N); amb_log "$*"; }
phase_done() { amb_log "  ... $(awk -v a="$phase_start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')s"; }

EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# s3 EXPECTED_CODE OUTFILE CURL_ARGS...: one signed request; the payload hash
# is $SHA (default: that of an empty body). curl 7.88 does not send
# x-amz-content-sha256 by itself, and radosgw rejects a SigV4 request without it.
s3() {
  local want=$1 out=$2 code
  shift 2
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time "${S3_MAX_TIME:-20}" \
    --aws-sigv4 "aws:amz:$RGW_REGION:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
    -H "x-amz-content-sha256: ${SHA:-$EMPTY_SHA}" "$@") || amb_fail "curl $*: transport error"
  if [[ $code != "$want" ]]; then
    echo "response body:" >&2
    head -c 600 "$out" >&2
    echo >&2
    amb_fail "curl $*: HTTP $code, want $want"
  fi
}

# listening PORT: true if some socket listens on 127.0.0.1:PORT (or any address).
listening() {
  local hex f
  hex=$(printf '%04X' "$1")
  for f in /proc/net/tcp /proc/net/tcp6; do
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' "$f" && return 0
  done
  return 1
}

W=$AMB_WORK
phase "start the cluster"
rc=0
rgw_start "$W/ceph" || rc=$?
[[ $rc -eq 77 ]] && exit 77
[[ $rc -eq 0 ]] || amb_fail "rgw_start failed ($rc)"
phase_done
amb_log "startup: ${RGW_STARTUP_SECONDS}s; endpoint $RGW_ENDPOINT region $RGW_REGION key $RGW_ACCESS_KEY"
sed 's/^/    /' "$RGW_DIR/log/phases"
dir=$RGW_DIR mon_port=$RGW_MON_PORT port=$RGW_PORT
mapfile -t pids < <(rgw_pids)
[[ ${#pids[@]} -ge 3 ]] || amb_fail "expected mon, osd and radosgw pids, got: ${pids[*]}"
for p in "${pids[@]}"; do
  [[ $(readlink "/proc/$p/exe") =~ /(ceph-mon|ceph-osd|ceph-mgr|radosgw)$ ]] ||
    amb_fail "pid $p is not a ceph daemon: $(readlink "/proc/$p/exe")"
done
# Every socket they listen on is on 127.0.0.1.
inodes=" "
for p in "${pids[@]}"; do
  for fd in /proc/"$p"/fd/*; do
    l=$(readlink "$fd" 2>/dev/null) || continue
    [[ $l == socket:\[*\] ]] && inodes+="${l//[!0-9]/} "
  done
done
nlisten=0
while read -r laddr inode; do
  [[ $inodes == *" $inode "* ]] || continue
  nlisten=$((nlisten + 1))
  [[ $laddr == 0100007F:* ]] || amb_fail "a daemon listens on $laddr (hex), not 127.0.0.1"
done < <(awk '$4 == "0A" { print $2, $10 }' /proc/net/tcp /proc/net/tcp6)
((nlisten >= 3)) || amb_fail "expected the mon, OSD and radosgw listening, found $nlisten sockets"
amb_log "the daemons listen on $nlisten sockets, all on 127.0.0.1"

phase "the harness made no bucket; create one"
s3 200 "$W/list" "$RGW_ENDPOINT/"
grep -q '<Buckets></Buckets>' "$W/list" || amb_fail "a fresh cluster already has buckets: $(cat "$W/list")"
b=rgw-smoke
s3 200 "$W/out" -X PUT "$RGW_ENDPOINT/$b"
s3 200 "$W/out" -I "$RGW_ENDPOINT/$b"
s3 404 "$W/out" -I "$RGW_ENDPOINT/no-such-bucket"
phase_done

phase "PUT two objects, GET one whole and with a Range"
head -c $((3 << 20)) /dev/urandom >"$W/obj"
obj_sha=$(sha256sum "$W/obj" | cut -d' ' -f1)
SHA=$obj_sha s3 200 "$W/out" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$W/obj" \
  "$RGW_ENDPOINT/$b/dir/obj1"
echo small >"$W/small"
SHA=$(sha256sum "$W/small" | cut -d' ' -f1) s3 200 "$W/out" -X PUT --data-binary "@$W/small" "$RGW_ENDPOINT/$b/other"
s3 200 "$W/got" "$RGW_ENDPOINT/$b/dir/obj1"
cmp "$W/obj" "$W/got" || amb_fail "GET returned other bytes than the PUT"
s3 206 "$W/range" -H 'Range: bytes=1000000-1065535' "$RGW_ENDPOINT/$b/dir/obj1"
dd if="$W/obj" of="$W/want-range" bs=65536 iflag=skip_bytes,count_bytes skip=1000000 count=65536 status=none
cmp "$W/want-range" "$W/range" || amb_fail "ranged GET returned other bytes"
s3 404 "$W/out" "$RGW_ENDPOINT/$b/dir/missing"
phase_done

phase "ListObjectsV2"
# curl 7.88 signs the query as written: keep the parameters sorted.
s3 200 "$W/list" "$RGW_ENDPOINT/$b?list-type=2&prefix=dir%2F"
grep -q '<KeyCount>1</KeyCount>' "$W/list" && grep -q '<Key>dir/obj1</Key>' "$W/list" &&
  grep -q "<Size>$((3 << 20))</Size>" "$W/list" || amb_fail "ListObjectsV2 prefix=dir/: $(cat "$W/list")"
s3 200 "$W/list" "$RGW_ENDPOINT/$b?list-type=2&max-keys=1"
grep -q '<IsTruncated>true</IsTruncated>' "$W/list" && grep -q '<NextContinuationToken>' "$W/list" ||
  amb_fail "ListObjectsV2 max-keys=1 not truncated: $(cat "$W/list")"
phase_done

phase "restart the gateway only; the objects are still there"
old=$(rgw_pids | sort)
rgw_restart_gateway 60 || amb_fail "the gateway did not come back"
[[ $(rgw_pids | sort) != "$old" ]] || amb_fail "rgw_restart_gateway kept the same pids"
s3 200 "$W/got" "$RGW_ENDPOINT/$b/dir/obj1"
cmp "$W/obj" "$W/got" || amb_fail "GET after the gateway restart returned other bytes"
rgw_stop_gateway
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$RGW_ENDPOINT/" || true)
[[ $code == 000 ]] || amb_fail "the endpoint answered ($code) with the gateway stopped"
rgw_start_gateway 60 || amb_fail "the gateway did not start again"
phase_done

phase "DELETE objects and bucket"
s3 204 "$W/out" -X DELETE "$RGW_ENDPOINT/$b/dir/obj1"
s3 204 "$W/out" -X DELETE "$RGW_ENDPOINT/$b/other"
s3 200 "$W/list" "$RGW_ENDPOINT/$b?list-type=2"
grep -q '<KeyCount>0</KeyCount>' "$W/list" || amb_fail "bucket not empty after deletes: $(cat "$W/list")"
# The bucket's delete notifies every gateway watching its metadata, and the
# gateways stopped above left their watches behind: the OSD drops a stale
# watch only after its timeout (30 s), so this request may take that long
# (measured 25-30 s on the 2-core box; it failed at curl's 20 s before).
S3_MAX_TIME=120 s3 204 "$W/out" -X DELETE "$RGW_ENDPOINT/$b"
s3 404 "$W/out" -I "$RGW_ENDPOINT/$b"
phase_done

phase "stop"
mapfile -t pids < <(rgw_pids)
rgw_stop || amb_fail "rgw_stop failed"
phase_done
rgw_stop || amb_fail "a second rgw_stop failed"
for p in "${pids[@]}"; do
  [[ -e /proc/$p ]] && amb_fail "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still exists after rgw_stop"
done
# Nothing at all (a radosgw-admin or ceph CLI included) still names the dir.
for c in /proc/[0-9]*/cmdline; do
  cmd=$({ tr '\0' ' ' <"$c"; } 2>/dev/null) || continue  # gone meanwhile
  [[ $cmd == *"$dir/"* ]] && amb_fail "process ${c//[!0-9]/} still runs from the cluster dir: $cmd"
done
listening "$port" && amb_fail "port $port still listens after rgw_stop"
listening "$mon_port" && amb_fail "monitor port $mon_port still listens after rgw_stop"
[[ -e $dir ]] && amb_fail "$dir still exists after rgw_stop"
amb_log "ok (startup ${RGW_STARTUP_SECONDS}s)"
