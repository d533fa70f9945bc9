#!/usr/bin/env bash
# amberctl's ctl commands, list and status against real mounts:
#   - usage errors exit 2 and say what to do; a TARGET that is no volume exits 1
#   - snapshot/delete/rollback/gc/drain/flush through the mount point and
#     through the volume directory print the daemon's reply; a failing command
#     prints the daemon's own message on stderr and exits 1
#   - list (table, --json, --names) mounted, unmounted and read-only mounted,
#     with stored and unique bytes that match the data written; it takes no
#     lock from the daemon and changes nothing in an unmounted volume, not
#     even the temp files a mount would clean up
#   - a snapshot whose record is gone: list still works and says why
#   - status summarizes stats and the catalog
#   - drain TIMEOUT returns after TIMEOUT while the slow store is unreachable
#     (and list says the upload state is unknown), and drains once it is back
source "$(dirname "$0")/lib.sh"
amb_setup
AMBERCTL=$AMBERFS_BUILD/amberctl
[[ -x $AMBERCTL ]] || amb_fail "amberctl not built in $AMBERFS_BUILD"
command -v python3 >/dev/null || amb_skip "python3 not installed (parses list --json)"

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M

# amb_ctl_fails WHAT EXPECTED-TEXT COMMAND...: exit 1, EXPECTED-TEXT on stderr.
amb_ctl_fails() {
  local what=$1 text=$2 rc=0
  shift 2
  "$@" >"$AMB_WORK/out" 2>"$AMB_WORK/err" || rc=$?
  [[ $rc == 1 ]] || amb_fail "$what: exit $rc, want 1 ($(cat "$AMB_WORK/err"))"
  grep -qF -- "$text" "$AMB_WORK/err" || amb_fail "$what: stderr lacks '$text': $(cat "$AMB_WORK/err")"
  amb_log "$what: $(head -1 "$AMB_WORK/err")"
}
# amb_usage_error WHAT COMMAND...: exit 2 with a hint.
amb_usage_error() {
  local what=$1 rc=0
  shift
  "$@" >/dev/null 2>"$AMB_WORK/err" || rc=$?
  [[ $rc == 2 ]] || amb_fail "$what: exit $rc, want 2"
  grep -q "Try 'amberctl --help'" "$AMB_WORK/err" || amb_fail "$what: no hint: $(cat "$AMB_WORK/err")"
}

amb_log "usage errors"
amb_usage_error "no command" "$AMBERCTL"
amb_usage_error "unknown command" "$AMBERCTL" frobnicate "$vol"
amb_usage_error "no target" "$AMBERCTL" gc
amb_usage_error "extra argument" "$AMBERCTL" gc "$vol" extra
amb_usage_error "option of another command" "$AMBERCTL" list --timeout 5 "$vol"
amb_usage_error "unknown option" "$AMBERCTL" list --bogus "$vol"
"$AMBERCTL" --help | grep -q 'umount \[--timeout SECONDS\] TARGET' || amb_fail "--help lacks umount"
amb_ctl_fails "not a volume" "neither an amberfs mount point nor a volume directory" "$AMBERCTL" list "$AMB_WORK"
amb_ctl_fails "ctl command, not mounted" "is not mounted" "$AMBERCTL" flush "$vol"
"$AMBERCTL" list "$vol" | grep -q '^no snapshots$' || amb_fail "list of a fresh volume"

amb_mount "$vol" "$mnt" -o cache_size=32M
amb_usage_error "bad drain timeout" "$AMBERCTL" drain "$mnt" soon

amb_log "snapshots through the mount point and through the volume directory"
head -c $((1 << 20)) /dev/urandom >"$AMB_WORK/a"
head -c $((512 << 10)) /dev/urandom >"$AMB_WORK/b"
dd if="$AMB_WORK/a" of="$mnt/volume" bs=64K conv=notrunc status=none
"$AMBERCTL" snapshot "$mnt" s1 >"$AMB_WORK/out" || amb_fail "snapshot s1"
grep -qx 'name s1' "$AMB_WORK/out" || amb_fail "snapshot reply: $(cat "$AMB_WORK/out")"
grep -q '^chunks_captured 16$' "$AMB_WORK/out" || amb_fail "snapshot s1 captured: $(cat "$AMB_WORK/out")"
dd if="$AMB_WORK/b" of="$mnt/volume" bs=64K conv=notrunc status=none
"$AMBERCTL" snapshot "$vol" s2 | grep -qx 'name s2' || amb_fail "snapshot s2 through the volume directory"
"$AMBERCTL" flush "$mnt" | grep -qx ok || amb_fail "flush reply"
"$AMBERCTL" drain "$vol" 60 | grep -qx drained || amb_fail "drain reply"

amb_log "failing commands show the daemon's message"
amb_ctl_fails "snapshot, name taken" "snapshot s1 exists already" "$AMBERCTL" snapshot "$mnt" s1
amb_ctl_fails "delete, no such snapshot" "no snapshot named nope" "$AMBERCTL" delete "$mnt" nope
amb_ctl_fails "snapshot, bad name" "snapshot:" "$AMBERCTL" snapshot "$mnt" .hidden
grep -q 'Invalid argument\|File exists' "$AMB_WORK/err" && amb_fail "a bare strerror instead of the daemon's message"

amb_log "list, mounted"
"$AMBERCTL" list "$mnt" >"$AMB_WORK/list"
cat "$AMB_WORK/list"
head -1 "$AMB_WORK/list" | grep -q '^NAME .*CREATED (UTC) .*LOGICAL .*STORED .*UNIQUE .*UPLOADED$' || amb_fail "list header"
awk 'NR > 1 { print $1, $3, $4, $NF }' "$AMB_WORK/list" >"$AMB_WORK/cols"
printf 's1 64 MiB yes\ns2 64 MiB yes\n' | cmp -s - "$AMB_WORK/cols" || amb_fail "list rows: $(cat "$AMB_WORK/cols")"
[[ $("$AMBERCTL" list --names "$vol") == $'s1\ns2' ]] || amb_fail "list --names"
# Sizes: each snapshot reaches 16 chunks of 64 KiB (1 MiB) plus its record
# and two index nodes; s1 alone still has the 8 chunks s2 overwrote.
"$AMBERCTL" list --json "$mnt" >"$AMB_WORK/json"
python3 - "$AMB_WORK/json" "$vol" <<'EOF' || amb_fail "list --json: $(cat "$AMB_WORK/json")"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["volume"] == sys.argv[2], doc["volume"]
s = {x["name"]: x for x in doc["snapshots"]}
assert list(s) == ["s1", "s2"], list(s)
for x in s.values():
    assert x["logical_bytes"] == 64 << 20, x
    assert (1 << 20) < x["stored_bytes"] < (1 << 20) + (32 << 10), x
    assert x["uploaded"] is True and x["problem"] is None, x
    assert len(x["record"]) == 64 and x["created"].endswith("Z"), x
for x in s.values():
    assert (512 << 10) < x["unique_bytes"] < (512 << 10) + (32 << 10), x
EOF

amb_log "list takes no lock from the daemon"
mkdir -p "$AMB_WORK/mnt2"  # an existing mount point: the refusal must be the volume lock's
amb_expect_fail "a second mount while listing" "$AMBERFS" -f "$vol" "$AMB_WORK/mnt2"
grep -q 'in use' "$AMB_WORK/err" || amb_fail "second mount: $(cat "$AMB_WORK/err")"
"$AMBERCTL" snapshot "$mnt" s3 >/dev/null || amb_fail "snapshot after list"
"$AMBERCTL" delete "$mnt" s3 | grep -qx 'deleted s3' || amb_fail "delete reply"
"$AMBERCTL" gc "$mnt" | grep -q '^reachable ' || amb_fail "gc reply"

amb_log "status"
"$AMBERCTL" status "$mnt" >"$AMB_WORK/status"
cat "$AMB_WORK/status"
for want in "^volume  *$vol, 64 MiB, mounted at $mnt, daemon pid " '^cache  *.* of 32 MiB' '^dirty ' \
  '^write-back ' '^io ' '^errors  *write-back 0, fsync 0' '^snapshots  *3 taken since the mount, 0 failed' \
  '^uploads  *0 pending' '^catalog  *2, the newest s2 at '; do
  grep -q "$want" "$AMB_WORK/status" || amb_fail "status lacks /$want/"
done

amb_log "drain with a timeout gives up; the uploads go on"
mv "$vol/archive" "$AMB_WORK/archive.away"  # the slow store is unreachable
dd if="$AMB_WORK/b" of="$mnt/volume" bs=64K seek=100 conv=notrunc status=none
"$AMBERCTL" snapshot "$mnt" s4 >/dev/null || amb_fail "snapshot s4"
start=$SECONDS rc=0
out=$("$AMBERCTL" drain "$mnt" 2 2>&1) || rc=$?
amb_log "drain 2: exit $rc after $((SECONDS - start)) s: $out"
[[ $rc == 1 ]] || amb_fail "drain with an unreachable slow store: exit $rc, want 1"
((SECONDS - start <= 5)) || amb_fail "drain 2 took $((SECONDS - start)) s"
grep -q 'drain did not finish within 2 s' <<<"$out" || amb_fail "timeout message"
[[ $(amb_stat "$mnt" amberfs_upload_pending) -gt 0 ]] || amb_fail "nothing pending while the slow store is away"
[[ $("$AMBERCTL" list "$vol" | awk '$1 == "s4" { print $NF }') == '?' ]] || amb_fail "s4's upload state while the slow store is away"
mv "$AMB_WORK/archive.away" "$vol/archive"
"$AMBERCTL" drain "$mnt" 120 | grep -qx drained || amb_fail "drain once the slow store is back"
[[ $("$AMBERCTL" list "$vol" | awk '$1 == "s4" { print $NF }') == yes ]] || amb_fail "s4 not uploaded after drain"
"$AMBERCTL" delete "$mnt" s4 >/dev/null || amb_fail "delete s4"

amb_log "rollback"
"$AMBERCTL" rollback "$mnt" s1 | grep -qx 'rolled back to s1' || amb_fail "rollback reply"
cmp <(head -c $((1 << 20)) "$mnt/volume") "$AMB_WORK/a" || amb_fail "rollback did not restore s1"
amb_umount "$mnt" || amb_fail "unmount"

amb_log "list of an unmounted volume changes nothing"
# Temp files a mount (Catalog::Open, DiskStore::Open) would remove, two days old.
for d in catalog fast/blobs/00 fast/packs archive/blobs/00; do
  echo x >"$vol/$d/.tmp.1.0.0123456789abcdef"
  touch -d '2 days ago' "$vol/$d/.tmp.1.0.0123456789abcdef"
done
snapshot_tree() {
  (cd "$vol" && find . -printf '%p %s %m %T@ %C@\n' | sort && find . -type f -print0 | sort -z | xargs -0 md5sum)
}
snapshot_tree >"$AMB_WORK/before"
"$AMBERCTL" list "$vol" >"$AMB_WORK/list2"
"$AMBERCTL" list --json "$vol" >/dev/null
"$AMBERCTL" status "$vol" >"$AMB_WORK/status2"
snapshot_tree >"$AMB_WORK/after"
diff "$AMB_WORK/before" "$AMB_WORK/after" || amb_fail "list or status changed the volume directory"
cmp -s "$AMB_WORK/list" "$AMB_WORK/list2" || amb_fail "list differs unmounted: $(cat "$AMB_WORK/list2")"
grep -q '^volume  *.*, not mounted' "$AMB_WORK/status2" || amb_fail "status, unmounted: $(cat "$AMB_WORK/status2")"
for d in catalog fast/blobs/00 fast/packs archive/blobs/00; do rm "$vol/$d/.tmp.1.0.0123456789abcdef"; done

amb_log "read-only mount: snapshots/ is empty, list still shows them"
amb_mount "$vol" "$mnt" -o ro
[[ -z $(ls -A "$mnt/snapshots") ]] || amb_fail "snapshots/ not empty on a read-only mount"
[[ $("$AMBERCTL" list --names "$mnt") == $'s1\ns2' ]] || amb_fail "list on a read-only mount"
amb_ctl_fails "snapshot on a read-only mount" "mounted read-only" "$AMBERCTL" snapshot "$mnt" s9
"$AMBERCTL" status "$mnt" | grep -q "mounted at $mnt read-only" || amb_fail "status does not say read-only"
amb_umount "$mnt" || amb_fail "unmount read-only"

amb_log "a snapshot whose record is gone"
rec=$(python3 -c 'import json,sys; print([x for x in json.load(open(sys.argv[1]))["snapshots"] if x["name"]=="s2"][0]["record"])' "$AMB_WORK/json")
# Both copies sit in packs (the fast store's and the slow store's copy of
# the same pack): flip the record's first byte in each.
read -r pack offset < <(amb_pack_of "$vol" "$rec") || amb_fail "record $rec not found in any pack"
amb_flip_byte "$pack" "$offset" || amb_fail "flip a byte of $pack"
read -r pack offset < <(amb_pack_in "$vol/archive/packs" "$rec") || amb_fail "record $rec not found in any slow pack"
amb_flip_byte "$pack" "$offset" || amb_fail "flip a byte of $pack"
"$AMBERCTL" list "$vol" >"$AMB_WORK/list3" || amb_fail "list with a missing record"
cat "$AMB_WORK/list3"
grep -q '^s2 .* ? .* ? .* ? ' "$AMB_WORK/list3" || amb_fail "unknown sizes not shown as ?"
grep -q "^note: s2: sizes unknown: .*$rec" "$AMB_WORK/list3" || amb_fail "no note why s2's sizes are unknown"
"$AMBERCTL" list --json "$vol" | python3 -c '
import json, sys
s = {x["name"]: x for x in json.load(sys.stdin)["snapshots"]}
assert s["s2"]["stored_bytes"] is None and s["s2"]["problem"], s["s2"]
assert s["s1"]["stored_bytes"] > 0 and s["s1"]["unique_bytes"] is None, s["s1"]
' || amb_fail "list --json with a missing record"
amb_log "ok"
