#!/usr/bin/env bash
# mkfs.amberfs with an S3 slow store ($S3_BACKEND: s3rver by default;
# mkfs_rgw.sh runs this against radosgw) checks the store before it makes
# anything: it creates a missing bucket and says so, finds an existing one,
# and fails with exit 1, one clear line naming the store URL once, and no
# VOLDIR when the store cannot be used: an endpoint that does not answer,
# unknown credentials (HTTP 403), no credentials at all, and (radosgw) a
# region the store does not serve. fsck and restore errors name the URL once
# too.
AMB_TIMEOUT=${AMB_TIMEOUT:-240}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/s3_backend.sh"
s3_test_setup || exit $?

# refused WHAT WANT_TEXT URL [mkfs args...]: mkfs must fail with exit 1, say
# WANT_TEXT on one line that names URL exactly once, and leave no VOLDIR.
refused() {
  local what=$1 want=$2 url=$3 rc=0 vol=$AMB_WORK/refused
  shift 3
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$AMB_WORK" \
    "$MKFS" --size 16M --slow "$url" "$@" "$vol" >"$AMB_WORK/out" 2>"$AMB_WORK/err" || rc=$?
  [[ $rc == 1 ]] || amb_fail "$what: mkfs exit $rc, want 1: $(cat "$AMB_WORK/out" "$AMB_WORK/err")"
  local line
  line=$(grep -F "$want" "$AMB_WORK/err") || amb_fail "$what: no \"$want\" in: $(cat "$AMB_WORK/err")"
  [[ $(grep -o -F "$url" <<<"$line" | wc -l) == 1 ]] || amb_fail "$what: the URL is not named exactly once: $line"
  [[ ! -e $vol ]] || amb_fail "$what: mkfs left $vol behind"
  amb_log "$what: $line"
}

down="s3://amb?endpoint=http://127.0.0.1:1&region=$S3_REGION"
refused "endpoint down" "Couldn't connect to server" "$down" --s3-credentials "$S3_CREDENTIALS"
bad_creds=$AMB_WORK/bad-credentials
printf '[default]\naws_access_key_id = NOSUCHKEY\naws_secret_access_key = wrong\n' >"$bad_creds"
refused "unknown credentials" "check the S3 credentials" "$(s3_url amb-denied)" --s3-credentials "$bad_creds"
refused "no credentials" "no S3 credentials" "$(s3_url amb-nocreds)"
if [[ $S3_BACKEND == rgw ]]; then
  wrong_region="s3://amb-region?endpoint=$S3_ENDPOINT&region=eu-west-1"
  refused "a region the store does not serve" "InvalidLocationConstraint" "$wrong_region" --s3-credentials "$S3_CREDENTIALS"
else
  amb_log "(s3rver takes any region: the wrong-region case runs in mkfs_rgw.sh)"
fi

url=$(s3_url amb-ok/v1)
"$MKFS" --size 16M --slow "$url" --s3-credentials "$S3_CREDENTIALS" "$AMB_WORK/v1" >"$AMB_WORK/out" ||
  amb_fail "mkfs failed: $(cat "$AMB_WORK/out")"
grep -qF "slow store $url (bucket amb-ok created)" "$AMB_WORK/out" || amb_fail "mkfs output: $(cat "$AMB_WORK/out")"
"$MKFS" --size 16M --slow "$(s3_url amb-ok/v2)" --s3-credentials "$S3_CREDENTIALS" "$AMB_WORK/v2" >"$AMB_WORK/out" ||
  amb_fail "mkfs on an existing bucket failed: $(cat "$AMB_WORK/out")"
grep -qF "(bucket amb-ok exists)" "$AMB_WORK/out" || amb_fail "mkfs output: $(cat "$AMB_WORK/out")"

# With the store down, fsck --slow and a restore fail naming the URL once.
s3_server_stop
rc=0
"$AMBERFS_BUILD/fsck.amberfs" --slow --s3-credentials "$S3_CREDENTIALS" "$AMB_WORK/v1" >"$AMB_WORK/out" 2>&1 || rc=$?
((rc != 0)) || amb_fail "fsck --slow with the store down exited 0"
while read -r line; do
  n=$(grep -o -F "$url" <<<"$line" | wc -l)
  ((n <= 1)) || amb_fail "fsck names the store $n times: $line"
done <"$AMB_WORK/out"
grep -qF "$url" "$AMB_WORK/out" || amb_fail "fsck does not name the store: $(cat "$AMB_WORK/out")"
rc=0
"$MKFS" --restore "$url" --s3-credentials "$S3_CREDENTIALS" "$AMB_WORK/restored" 2>"$AMB_WORK/err" || rc=$?
[[ $rc == 1 ]] || amb_fail "restore with the store down: exit $rc"
[[ $(grep -o -F "$url" "$AMB_WORK/err" | wc -l) == 1 ]] || amb_fail "restore error: $(cat "$AMB_WORK/err")"
amb_log "ok ($S3_BACKEND)"
