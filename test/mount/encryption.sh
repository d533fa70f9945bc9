#!/usr/bin/env bash
# Encryption and compression (issue 15), on real mounts:
#   1. a volume made with --key-file (compress zstd by default), file:// slow
#      store: after a pattern and plain text are written, snapshotted and
#      drained, neither store (VOLDIR/fast, the slow directory) holds the
#      pattern, a line of the text, or the SHA-256 of any written chunk (as an
#      object name, raw or in hex);
#   2. the same with an S3 slow store on s3rver (its data directory grepped);
#   3. 64 MiB of repetitive data plus 64 MiB of plain text take at most
#      40 MiB in the slow store;
#   4. restore with the right key is byte-exact; with a wrong key or no key it
#      exits non-zero and leaves no volume;
#   5. mount without the key or with a wrong one exits 1 and says why; with
#      the right one it reads back exact;
#   6. fsck with the key is clean (also --slow --read-data); without it fails;
#   7. tampering (a flipped byte in a slow pack, in a fast pack, a snapshot
#      ref swapped for another's) is reported by fsck and refused by restore;
#   8. --change-key: the old passphrase no longer opens the volume or the slow
#      store's key, the new one does;
#   9. control: --compress none without a key leaves the pattern in clear in
#      both stores (so the greps of 1 can fail);
#  10. a clone reads sealed blobs back exact, and a tampered one fails the read;
#  11. a shared slow store: the original's gc keeps what its restored copy and
#      clone (same key) need; gc refuses ("refusing to collect") while the
#      store holds a volume it cannot read, and deletes nothing.
# Checks go on after a failed one where they can (each prints PASS or FAIL);
# the test fails if any did.
AMB_TIMEOUT=${AMB_TIMEOUT:-480}
source "$(dirname "$0")/lib.sh"
# s3rver whatever S3_BACKEND says: part 2 greps the files it keeps the objects in.
S3_BACKEND=s3rver
source "$(dirname "$0")/../support/s3_backend.sh"
amb_setup
FSCK=$AMBERFS_BUILD/fsck.amberfs
W=$AMB_WORK
MiB=$((1 << 20))

failures=0
pass() { echo "PASS: $*"; }
bad() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# show FILE: the first lines of a command's output, indented, for the log.
show() { sed -n 1,6p "$1" | sed 's/^/    | /'; }

# --- keys and data ------------------------------------------------------------
key=$W/key.txt wrong=$W/wrong.txt newkey=$W/newkey.txt
printf 'correct horse battery staple\n' >"$key"
printf 'incorrect horse battery staple\n' >"$wrong"
printf 'a new passphrase for the same master key\n' >"$newkey"

PATTERN=AMBERFS-SECRET-PATTERN-0123456789
LINE="Everyone is permitted to copy and distribute verbatim copies"
gpl3=/usr/share/common-licenses/GPL-3 gpl2=/usr/share/common-licenses/GPL-2
[[ -r $gpl3 && -r $gpl2 ]] || amb_skip "no $gpl3 / $gpl2 (package base-files) to use as plain text"
grep -qF "$LINE" "$gpl3" || amb_fail "the distinctive line is not in $gpl3"
# repeat_to BYTES FILE...: the files' contents one after the other, repeated, cut to BYTES.
repeat_to() {
  local n=$1
  shift
  python3 - "$n" "$@" <<'PY'
import sys
n = int(sys.argv[1])
t = b''.join(open(f, 'rb').read() for f in sys.argv[2:])
sys.stdout.buffer.write((t * (n // len(t) + 1))[:n])
PY
}
# data1: 1 MiB of the pattern, then 4 MiB of GPL-3 (snapshot a); data2: 1 MiB
# of GPL-2 written 8 MiB further on (snapshot b).
echo "$PATTERN" >"$W/pattern-line"
{
  repeat_to $MiB "$W/pattern-line"
  repeat_to $((4 * MiB)) "$gpl3"
} >"$W/data1"
repeat_to $MiB "$gpl2" >"$W/data2"

# write_at FILE MNT MIB_OFFSET
write_at() { dd if="$1" of="$2/volume" bs=1M seek="$3" conv=notrunc,fsync status=none; }
uuid_of() { awk '$1 == "uuid" { print $2 }' "$1/config"; }
# ctl MNT COMMAND...: one ctl command; the reply in $W/ctl.reply.
ctl() {
  local mnt=$1
  shift
  exec 3<>"$mnt/ctl"
  if ! echo "$@" >&3 2>"$W/ctl.err"; then
    cat <&3 >"$W/ctl.reply" 2>/dev/null || true
    exec 3>&-
    amb_fail "ctl $* on $mnt: $(cat "$W/ctl.reply" "$W/ctl.err"); $(tail -3 "$W/daemon.log")"
  fi
  cat <&3 >"$W/ctl.reply"
  exec 3>&-
}
reply_value() { awk -v k="$1" '$1 == k { print $2 }' "$W/ctl.reply"; }

# try_mount VOLDIR MNT [OPTIONS...]: a mount that may fail. Sets TRY_RC to the
# daemon's exit status, or "mounted" (it was unmounted again), or "hung";
# its output in $W/try.log.
try_mount() {
  local vol=$1 mnt=$2 pid
  shift 2
  mkdir -p "$mnt"
  env --default-signal=INT "$AMBERFS" -f "$vol" "$mnt" "$@" >"$W/try.log" 2>&1 &
  pid=$!
  AMB_PIDS[$mnt]=$pid
  AMB_FUSE_MOUNTS+=("$mnt")
  TRY_RC=hung
  for _ in $(seq 400); do
    if ! kill -0 "$pid" 2>/dev/null; then
      TRY_RC=0
      wait "$pid" || TRY_RC=$?
      unset "AMB_PIDS[$mnt]"
      return 0
    fi
    if amb_is_mounted "$mnt"; then
      TRY_RC=mounted
      amb_umount "$mnt" || true
      return 0
    fi
    sleep 0.05
  done
}

# run_rc OUTFILE COMMAND...: runs it, output (both streams) in OUTFILE, sets RC.
run_rc() {
  local out=$1
  shift
  RC=0
  "$@" >"$out" 2>&1 || RC=$?
}

# no_leftover DIR: neither DIR nor its staging directory exists.
no_leftover() {
  local d=$1
  [[ ! -e $d && ! -e $(dirname "$d")/.$(basename "$d").amberfs-new ]]
}

# check_stores LABEL EXPECT DATAFILE... -- DIR...: greps DIRs for the pattern and
# the text's line and looks for the SHA-256 of every non-zero 64 KiB chunk of
# the DATAFILEs (as a 64-hex name in a path, as raw bytes or hex in a file).
# EXPECT "absent": all must be absent (PASS/FAIL lines); "clear": the pattern
# must be found (the control), the rest is printed.
check_stores() {
  local label=$1 expect=$2 files=() dirs=() d found bytes nfiles
  shift 2
  while [[ $1 != -- ]]; do files+=("$1"); shift; done
  shift
  dirs=("$@")
  for d in "${dirs[@]}"; do
    nfiles=$(find "$d" -type f | wc -l)
    bytes=$(du -sb "$d" | cut -f1)
    amb_log "$label: $d holds $nfiles files, $bytes bytes"
    ((nfiles > 0 && bytes > 100000)) || bad "$label: $d is nearly empty ($nfiles files, $bytes bytes): nothing to check"
  done
  found=$(grep -rlaF -e "$PATTERN" "${dirs[@]}" || true)
  if [[ $expect == absent ]]; then
    if [[ -z $found ]]; then pass "$label: the pattern is in no stored file"; else
      bad "$label: the pattern is in clear in: $(head -5 <<<"$found" | tr '\n' ' ')"
    fi
    found=$(grep -rlaF -e "$LINE" "${dirs[@]}" || true)
    if [[ -z $found ]]; then pass "$label: the text's line is in no stored file"; else
      bad "$label: the text's line is in clear in: $(head -5 <<<"$found" | tr '\n' ' ')"
    fi
  else
    if [[ -n $found ]]; then pass "$label: the pattern is in clear in $(wc -l <<<"$found") stored files (as expected without a key)"; else
      bad "$label: the pattern is nowhere in the stores: the grep cannot see plaintext"
    fi
  fi
  local hits
  hits=$(python3 - "${files[@]}" -- "${dirs[@]}" <<'PY'
import hashlib, os, re, sys
args = sys.argv[1:]
files, dirs = args[:args.index('--')], args[args.index('--') + 1:]
digests = set()
for f in files:
    with open(f, 'rb') as fh:
        while True:
            b = fh.read(65536)
            if not b:
                break
            if b.strip(b'\0'):
                digests.add(hashlib.sha256(b.ljust(65536, b'\0')).digest())
hexes = {d.hex() for d in digests}
hits = []
for top in dirs:
    for root, _, names in os.walk(top):
        for n in names:
            p = os.path.join(root, n)
            for h in re.findall(r'[0-9a-f]{64}', p):
                if h in hexes:
                    hits.append('named by a chunk SHA-256: ' + p)
            with open(p, 'rb') as fh:
                data = fh.read()
            for d in digests:
                if d in data:
                    hits.append('a chunk SHA-256 (raw) inside ' + p)
                if d.hex().encode() in data:
                    hits.append('a chunk SHA-256 (hex) inside ' + p)
print('%d chunk digests' % len(digests))
for h in hits:
    print(h)
PY
)
  local ndig nhits
  ndig=$(head -1 <<<"$hits")
  nhits=$(($(wc -l <<<"$hits") - 1))
  if [[ $expect == absent ]]; then
    if ((nhits == 0)); then pass "$label: no SHA-256 of written chunks ($ndig) in names or contents"; else
      bad "$label: $nhits traces of plaintext chunk SHA-256s: $(sed -n 2,4p <<<"$hits" | tr '\n' ' ')"
    fi
  else
    amb_log "$label (info): $nhits traces of plaintext chunk SHA-256s ($ndig)"
  fi
}

# no_clear LABEL DIR...: neither the pattern nor the text's line is in DIRs.
no_clear() {
  local label=$1 found
  shift
  found=$(grep -rlaF -e "$PATTERN" -e "$LINE" "$@" || true)
  if [[ -z $found ]]; then pass "$label: neither the pattern nor the text's line in $(du -sb "$@" | awk '{ n += $1 } END { print n }') bytes"; else
    bad "$label: plaintext in: $(head -3 <<<"$found" | tr '\n' ' ')"
  fi
}

# fsck_expect LABEL WANT ARGS...: fsck.amberfs ARGS; WANT "clean" (exit 0) or "fail" (non-zero).
fsck_expect() {
  local label=$1 want=$2
  shift 2
  run_rc "$W/fsck.out" "$FSCK" --no-progress "$@"
  if [[ $want == clean ]]; then
    if ((RC == 0)); then pass "$label: fsck exit 0"; else
      bad "$label: fsck exit $RC: $(grep -iE 'error|corrupt|damag|problem|key' "$W/fsck.out" | head -5 | tr '\n' ' ')"
    fi
  else
    if ((RC != 0)); then
      pass "$label: fsck exit $RC"
      { grep -iE 'error|corrupt|damag|tamper|problem|key|sealed|another|tag' "$W/fsck.out" || true; } | sed -n 1,4p | sed 's/^/    | /'
    else
      bad "$label: fsck exit 0 (want non-zero): $(tail -3 "$W/fsck.out" | tr '\n' ' ')"
    fi
  fi
}

# ==============================================================================
amb_log "1. encrypted volume (compress zstd by default), file:// slow store"
v1=$W/v1 s1=$W/slow1 m1=$W/m1
run_rc "$W/mkfs.out" "$MKFS" --size 64M --slow "file://$s1" --key-file "$key" "$v1"
((RC == 0)) || amb_fail "mkfs --key-file exit $RC: $(cat "$W/mkfs.out")"
uuid1=$(uuid_of "$v1")
if grep -qx 'amberfs-volume 3' "$v1/config" && grep -qx 'compress zstd' "$v1/config" &&
  grep -qx 'encryption aes-256-gcm' "$v1/config"; then
  pass "config: amberfs-volume 3, compress zstd (the default), encryption aes-256-gcm"
else
  bad "config lacks the version/compress/encryption lines: $(grep -vE '^(uuid|checksum)' "$v1/config" | tr '\n' ' ')"
fi
if [[ -f $v1/key && $(stat -c %s "$v1/key") == 148 && $(head -c 8 "$v1/key") == AMBRKEYS ]]; then
  pass "VOLDIR/key: 148 bytes, magic AMBRKEYS"
else
  bad "VOLDIR/key missing or not a 148-byte AMBRKEYS object"
fi
amb_mount "$v1" "$m1" -o cache_size=16M,key_file="$key"
write_at "$W/data1" "$m1" 0
ctl "$m1" snapshot a
cp "$m1/volume" "$W/copy-a"
write_at "$W/data2" "$m1" 8
ctl "$m1" snapshot b
amb_log "snapshot b: bytes_stored $(reply_value bytes_stored), bytes_logical $(reply_value bytes_logical)"
cp "$m1/volume" "$W/copy-b"
ctl "$m1" drain
amb_umount "$m1" || bad "unmount of v1 did not exit 0"
check_stores "file:// store" absent "$W/data1" "$W/data2" -- "$v1/fast" "$s1"
# amberctl list shows what the snapshot takes in the stores (compressed and
# sealed), not its logical size.
"$AMBERFS_BUILD/amberctl" list --json --key-file "$key" "$v1" >"$W/list.json" 2>"$W/list.err" ||
  bad "amberctl list --key-file exit $?: $(cat "$W/list.err")"
listed=$(python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["snapshots"]:
    if s["name"] == "b":
        print(s["stored_bytes"], s["logical_bytes"])' "$W/list.json")
read -r listed_stored listed_logical <<<"$listed"
# What b holds in plaintext: its non-zero chunks (64 KiB each).
plain_b=$(python3 -c '
import sys
n = 0
with open(sys.argv[1], "rb") as f:
    while (b := f.read(65536)):
        n += len(b) if b.strip(b"\0") else 0
print(n)' "$W/copy-b")
if [[ -n ${listed_stored:-} ]] && ((listed_stored > 0 && listed_stored * 2 < plain_b)); then
  pass "amberctl list: snapshot b stores $listed_stored bytes for $plain_b bytes of non-zero chunks (compressed sizes)"
else
  bad "amberctl list: snapshot b stored '$listed_stored' for $plain_b bytes of non-zero chunks ($(head -c 300 "$W/list.json"))"
fi
if [[ -f $s1/volumes/$uuid1/key ]] && cmp -s "$s1/volumes/$uuid1/key" "$v1/key"; then
  pass "the slow store holds volumes/<uuid>/key, the same bytes as VOLDIR/key"
else
  bad "the slow store's volumes/$uuid1/key is missing or differs from VOLDIR/key"
fi
# Pack tables sealed: every pack and index object, here and in the slow
# store, ends in a version 2 trailer (its table is a sealed box, so no blob
# id, offset or length is in the clear).
pack_versions() {
  python3 - "$@" <<'PY'
import os, struct, sys, collections
seen = collections.Counter()
for top in sys.argv[1:]:
    for root, _, names in os.walk(top):
        for n in names:
            if len(n) != 64:
                continue
            with open(os.path.join(root, n), 'rb') as fh:
                fh.seek(0, 2)
                if fh.tell() < 64:
                    continue
                fh.seek(-64, 2)
                t = fh.read(64)
            if t[:8] == b'AMBRPACK':
                seen[struct.unpack('<I', t[8:12])[0]] += 1
print(' '.join('v%d:%d' % kv for kv in sorted(seen.items())))
PY
}
versions=$(pack_versions "$v1/fast/packs" "$s1/packs" "$s1/index")
if [[ $versions =~ ^v2:[0-9]+$ ]]; then
  pass "every pack and index object of the encrypted volume has a sealed table ($versions)"
else
  bad "packs and index objects by version: $versions (want only v2)"
fi

# ==============================================================================
amb_log "4. restore"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/r1"
if ((RC == 0)); then
  if cmp -s "$W/r1/image" "$W/copy-b"; then pass "restore with the key: image byte-exact"; else
    bad "restore with the key: image differs from the source"
  fi
  grep -qx 'encryption aes-256-gcm' "$W/r1/config" && [[ -f $W/r1/key ]] &&
    pass "the restored volume is encrypted too (config, VOLDIR/key)" ||
    bad "the restored volume's config or key: $(grep -E '^(compress|encryption)' "$W/r1/config" | tr '\n' ' ')"
  amb_mount "$W/r1" "$W/mr1" -o key_file="$key"
  cmp -s "$W/mr1/volume" "$W/copy-b" && pass "restored volume mounted with the key: byte-exact" ||
    bad "restored volume differs when mounted"
  cmp -s "$W/mr1/snapshots/b" "$W/copy-b" || bad "restored volume's snapshots/b differs"
  amb_umount "$W/mr1" || bad "unmount of the restored volume did not exit 0"
  no_clear "the restored volume's fast store" "$W/r1/fast"
else
  bad "restore with the right key exit $RC: $(tail -3 "$W/restore.out" | tr '\n' ' ')"
fi
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$wrong" "$W/r2"
if ((RC == 1)) && no_leftover "$W/r2"; then pass "restore with a wrong key: exit 1, no volume"; show "$W/restore.out"; else
  bad "restore with a wrong key: exit $RC, $(no_leftover "$W/r2" && echo 'no volume' || echo 'a volume was left'): $(tail -2 "$W/restore.out" | tr '\n' ' ')"
fi
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" "$W/r3"
if ((RC != 0)) && no_leftover "$W/r3"; then pass "restore without --key-file: exit $RC, no volume"; show "$W/restore.out"; else
  bad "restore without --key-file: exit $RC, $(no_leftover "$W/r3" && echo 'no volume' || echo 'a volume was left'): $(tail -2 "$W/restore.out" | tr '\n' ' ')"
fi

# ==============================================================================
amb_log "5. mount"
try_mount "$v1" "$m1"
if [[ $TRY_RC == 1 ]] && grep -qiE 'encrypt|key' "$W/try.log"; then pass "mount without key_file: exit 1"; show "$W/try.log"; else
  bad "mount without key_file: $TRY_RC: $(tail -2 "$W/try.log" | tr '\n' ' ')"
fi
try_mount "$v1" "$m1" -o key_file="$wrong"
if [[ $TRY_RC == 1 ]] && grep -qiE 'passphrase|key' "$W/try.log"; then pass "mount with a wrong key: exit 1"; show "$W/try.log"; else
  bad "mount with a wrong key: $TRY_RC: $(tail -2 "$W/try.log" | tr '\n' ' ')"
fi
# The passphrase is the key file's content less one trailing newline.
printf '%s' "$(cat "$key")" >"$W/key-no-newline.txt"
amb_mount "$v1" "$m1" -o key_file="$W/key-no-newline.txt"
if cmp -s "$m1/volume" "$W/copy-b" && cmp -s "$m1/snapshots/a" "$W/copy-a" && cmp -s "$m1/snapshots/b" "$W/copy-b"; then
  pass "mount with the key (its file without the trailing newline): volume and snapshots a, b read back exact"
else
  bad "mount with the key: the volume or a snapshot differs"
fi
run_rc "$W/ck.out" "$MKFS" --change-key --key-file "$key" --new-key-file "$newkey" "$v1"
if ((RC != 0)) && cmp -s "$v1/key" "$s1/volumes/$uuid1/key"; then pass "--change-key of a mounted volume: refused, exit $RC"; else
  bad "--change-key of a mounted volume: exit $RC"
fi
amb_umount "$m1" || bad "unmount of v1 did not exit 0"

# ==============================================================================
amb_log "6. fsck"
fsck_expect "fsck --key-file" clean --key-file "$key" "$v1"
fsck_expect "fsck --key-file --slow --read-data" clean --key-file "$key" --slow --read-data "$v1"
run_rc "$W/fsck.out" "$FSCK" --no-progress "$v1"
if ((RC != 0)) && grep -qiE 'key' "$W/fsck.out"; then pass "fsck without the key: exit $RC, names the key"; show "$W/fsck.out"; else
  bad "fsck without the key: exit $RC: $(tail -2 "$W/fsck.out" | tr '\n' ' ')"
fi

# ==============================================================================
amb_log "7. tampering"
# flip_in PACKDIR: flips one byte of the largest pack under PACKDIR, the first
# non-zero byte from its middle (a byte of a stored blob, not padding);
# prints "FILE OFFSET".
largest_pack() {
  local f
  f=$(find "$1" -type f ! -name '.*' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
  [[ -n $f ]] || amb_fail "no pack under $1"
  echo "$f"
}
flip_in() {
  local f off
  f=$(largest_pack "$1")
  off=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
i = len(d) // 2
while i < len(d) and d[i] == 0:
    i += 1
print(i)' "$f")
  amb_flip_byte "$f" "$off"
  echo "$f $off"
}
read -r spack soff < <(flip_in "$s1/packs")
amb_log "flipped byte $soff of slow pack ${spack#"$W"/}"
fsck_expect "slow pack tampered: fsck --key-file --slow --read-data" fail --key-file "$key" --slow --read-data "$v1"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/t1"
if ((RC != 0)) && no_leftover "$W/t1"; then pass "slow pack tampered: restore exit $RC, no volume"; show "$W/restore.out"; else
  bad "slow pack tampered: restore exit $RC$([[ -e $W/t1/image ]] && cmp -s "$W/t1/image" "$W/copy-b" && echo ' (image intact: the flipped blob was not read?)'), $(no_leftover "$W/t1" && echo 'no volume' || echo 'a volume was made')"
fi
amb_flip_byte "$spack" "$soff"

read -r fpack foff < <(flip_in "$v1/fast/packs")
amb_log "flipped byte $foff of fast pack ${fpack#"$W"/}"
fsck_expect "fast pack tampered: fsck --key-file --slow --read-data" fail --key-file "$key" --slow --read-data "$v1"
amb_flip_byte "$fpack" "$foff"
fsck_expect "both bytes flipped back" clean --key-file "$key" --slow --read-data "$v1"

refs=$s1/volumes/$uuid1/snapshots
cp "$refs/a" "$W/ref-a"
cat "$refs/b" >"$refs/a"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --snapshot a --key-file "$key" "$W/t2"
if ((RC != 0)) && no_leftover "$W/t2" && grep -qiE 'another name|sealed for|swapped' "$W/restore.out"; then
  pass "ref a swapped for b's body: restore of a exit $RC, says so"
  show "$W/restore.out"
else
  bad "ref a swapped for b's body: restore of a exit $RC, $(no_leftover "$W/t2" && echo 'no volume' || echo 'a volume was made'): $(tail -2 "$W/restore.out" | tr '\n' ' ')"
fi
fsck_expect "ref a swapped: fsck --key-file --slow" fail --key-file "$key" --slow "$v1"
cp "$W/ref-a" "$refs/a"
fsck_expect "ref a put back" clean --key-file "$key" --slow "$v1"

vref=$s1/volumes/$uuid1
cp "$refs/b" "$W/ref-b"
truncate -s 20 "$refs/b"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/t3"
if ((RC != 0)) && no_leftover "$W/t3"; then pass "ref b truncated: restore exit $RC, no volume"; show "$W/restore.out"; else
  bad "ref b truncated: restore exit $RC"
fi
fsck_expect "ref b truncated: fsck --key-file --slow" fail --key-file "$key" --slow "$v1"
cp "$W/ref-b" "$refs/b"

cp "$vref/config" "$W/ref-config"
cp "$refs/a" "$vref/config"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/t4"
if ((RC != 0)) && no_leftover "$W/t4"; then pass "config ref swapped for a snapshot ref: restore exit $RC, no volume"; show "$W/restore.out"; else
  bad "config ref swapped for a snapshot ref: restore exit $RC"
fi
fsck_expect "config ref swapped for a snapshot ref: fsck --key-file --slow" fail --key-file "$key" --slow "$v1"
cp "$W/ref-config" "$vref/config"

cp "$vref/key" "$W/slow-key"
amb_flip_byte "$vref/key" 70
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/t5"
if ((RC == 1)) && no_leftover "$W/t5"; then pass "slow store's key object damaged: restore exit 1, no volume"; show "$W/restore.out"; else
  bad "slow store's key object damaged: restore exit $RC"
fi
fsck_expect "slow store's key object damaged: fsck --key-file --slow" fail --key-file "$key" --slow "$v1"
cp "$W/slow-key" "$vref/key"

spack=$(largest_pack "$s1/packs")
cp "$spack" "$W/pack-orig"
truncate -s $(($(stat -c %s "$spack") / 2)) "$spack"
amb_log "truncated slow pack ${spack#"$W"/} to half its size"
fsck_expect "slow pack truncated: fsck --key-file --slow --read-data" fail --key-file "$key" --slow --read-data "$v1"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/t6"
if ((RC != 0)) && no_leftover "$W/t6"; then pass "slow pack truncated: restore exit $RC, no volume"; show "$W/restore.out"; else
  bad "slow pack truncated: restore exit $RC"
fi
cp "$W/pack-orig" "$spack"
fsck_expect "every object put back" clean --key-file "$key" --slow --read-data "$v1"

# ==============================================================================
amb_log "8. --change-key"
run_rc "$W/ck.out" "$MKFS" --change-key --key-file "$wrong" --new-key-file "$newkey" "$v1"
if ((RC == 1)) && grep -qi passphrase "$W/ck.out" && cmp -s "$v1/key" "$s1/volumes/$uuid1/key" && cmp -s "$v1/key" "$W/slow-key"; then
  pass "--change-key with a wrong old key: exit 1, both key objects unchanged"
  show "$W/ck.out"
else
  bad "--change-key with a wrong old key: exit $RC: $(head -2 "$W/ck.out" | tr '\n' ' ')"
fi
run_rc "$W/ck.out" "$MKFS" --change-key --key-file "$key" --new-key-file "$newkey" "$v1"
if ((RC == 0)); then pass "--change-key exit 0"; show "$W/ck.out"; else bad "--change-key exit $RC: $(cat "$W/ck.out")"; fi
if cmp -s "$v1/key" "$s1/volumes/$uuid1/key"; then pass "--change-key: the slow store's key is the new one too"; else
  bad "--change-key: the slow store's volumes/<uuid>/key differs from VOLDIR/key"
fi
try_mount "$v1" "$m1" -o key_file="$key"
if [[ $TRY_RC == 1 ]]; then pass "after --change-key the old key does not mount: exit 1"; else
  bad "after --change-key the old key: $TRY_RC: $(tail -2 "$W/try.log" | tr '\n' ' ')"
fi
amb_mount "$v1" "$m1" -o key_file="$newkey"
cmp -s "$m1/volume" "$W/copy-b" && pass "after --change-key the new key mounts, byte-exact" ||
  bad "after --change-key: the volume differs"
amb_umount "$m1" || bad "unmount of v1 did not exit 0"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$newkey" "$W/r4"
if ((RC == 0)) && cmp -s "$W/r4/image" "$W/copy-b"; then pass "after --change-key restore with the new key: byte-exact"; else
  bad "after --change-key restore with the new key: exit $RC: $(tail -2 "$W/restore.out" | tr '\n' ' ')"
fi
run_rc "$W/restore.out" "$MKFS" --restore "file://$s1" --volume "$uuid1" --key-file "$key" "$W/r5"
if ((RC == 1)) && no_leftover "$W/r5"; then pass "after --change-key restore with the old key: exit 1, no volume"; else
  bad "after --change-key restore with the old key: exit $RC"
fi

# ==============================================================================
amb_log "10. clone: its reads fetch sealed blobs from the slow store"
run_rc "$W/clone.out" "$MKFS" --clone "file://$s1" --volume "$uuid1" --snapshot b --key-file "$newkey" "$W/c1"
if ((RC == 0)); then
  amb_mount "$W/c1" "$W/mc1" -o key_file="$newkey"
  if cmp -s "$W/mc1/volume" "$W/copy-b"; then pass "clone with the key: reads back exact (chunks fetched and opened)"; else
    bad "clone with the key: the volume differs from the source"
  fi
  amb_umount "$W/mc1" || bad "unmount of the clone did not exit 0"
  no_clear "the clone's fast store after reading it all" "$W/c1/fast"
else
  bad "clone with the key: exit $RC: $(tail -2 "$W/clone.out" | tr '\n' ' ')"
fi
run_rc "$W/clone.out" "$MKFS" --clone "file://$s1" --volume "$uuid1" --snapshot b "$W/c2"
if ((RC != 0)) && no_leftover "$W/c2"; then pass "clone without --key-file: exit $RC, no volume"; else
  bad "clone without --key-file: exit $RC, $(no_leftover "$W/c2" && echo 'no volume' || echo 'a volume was made')"
fi
read -r spack soff < <(flip_in "$s1/packs")
amb_log "flipped byte $soff of slow pack ${spack#"$W"/} again"
run_rc "$W/clone.out" "$MKFS" --clone "file://$s1" --volume "$uuid1" --snapshot b --key-file "$newkey" "$W/c3"
if ((RC != 0)); then
  pass "slow pack tampered: clone refused, exit $RC"
  show "$W/clone.out"
else
  amb_mount "$W/c3" "$W/mc3" -o key_file="$newkey"
  if cat "$W/mc3/volume" >/dev/null 2>"$W/read.err"; then
    bad "slow pack tampered: the clone's whole volume read without an error"
  else
    pass "slow pack tampered: a read of the clone fails: $(head -1 "$W/read.err")"
  fi
  amb_umount "$W/mc3" || true
fi
amb_flip_byte "$spack" "$soff"
found=$(grep -rlaF -e 'amberfs-volume' -e "$uuid1" "$s1/volumes" || true)
if [[ -z $found ]]; then pass "after restores and clones no ref in the slow store holds a config or uuid in clear"; else
  bad "refs in clear in the slow store: $(head -3 <<<"$found" | tr '\n' ' ')"
fi
rm -rf "$W/r1" "$W/r4" "$W/t1" "$W/t2" "$W/c1" "$W/c3"

# ==============================================================================
amb_log "2. encrypted volume, S3 slow store (s3rver)"
s3rc=0
s3_backend_start "$W/s3" || s3rc=$?
if ((s3rc == 77)); then
  bad "the S3 part could not run (s3rver missing: cd test && npm ci)"
elif ((s3rc != 0)); then
  bad "s3rver did not start"
else
  url=$(s3_url amberfs-test/vols) creds=$S3_CREDENTIALS v2=$W/v2 m2=$W/m2
  run_rc "$W/mkfs.out" "$MKFS" --size 64M --slow "$url" --s3-credentials "$creds" --key-file "$key" "$v2"
  ((RC == 0)) || amb_fail "mkfs with S3 and a key exit $RC: $(cat "$W/mkfs.out")"
  amb_mount "$v2" "$m2" -o cache_size=16M,s3_credentials="$creds",key_file="$key"
  write_at "$W/data1" "$m2" 0
  write_at "$W/data2" "$m2" 8
  ctl "$m2" snapshot s
  cp "$m2/volume" "$W/copy-s"
  ctl "$m2" drain
  amb_umount "$m2" || bad "unmount of v2 did not exit 0"
  check_stores "S3 store" absent "$W/data1" "$W/data2" -- "$v2/fast" "$S3_DIR/data"
  run_rc "$W/restore.out" "$MKFS" --restore "$url" --s3-credentials "$creds" --key-file "$key" "$W/r6"
  if ((RC == 0)) && cmp -s "$W/r6/image" "$W/copy-s"; then pass "restore from S3 with the key: byte-exact"; else
    bad "restore from S3 with the key: exit $RC: $(tail -2 "$W/restore.out" | tr '\n' ' ')"
  fi
  rm -rf "$W/r6"
  s3_backend_stop
fi

# ==============================================================================
amb_log "3. size: 64 MiB repetitive + 64 MiB plain text"
v3=$W/v3 s3dir=$W/slow3 m3=$W/m3
amb_mkfs "$v3" 128M --slow "file://$s3dir" --key-file "$key"
amb_mount "$v3" "$m3" -o cache_size=32M,key_file="$key"
repeat_to 4096 "$gpl3" >"$W/block4k"
repeat_to $((64 * MiB)) "$W/block4k" | dd of="$m3/volume" bs=1M iflag=fullblock conv=notrunc,fsync status=none
texts=()
for n in Apache-2.0 Artistic BSD GFDL-1.3 GPL-2 GPL-3 LGPL-2.1 LGPL-3 MPL-1.1 MPL-2.0; do
  [[ -r /usr/share/common-licenses/$n ]] && texts+=("/usr/share/common-licenses/$n")
done
repeat_to $((64 * MiB)) "${texts[@]}" | dd of="$m3/volume" bs=1M seek=64 iflag=fullblock conv=notrunc,fsync status=none
ctl "$m3" snapshot big
stored=$(reply_value bytes_stored) logical=$(reply_value bytes_logical)
amb_log "snapshot big: bytes_stored $stored, bytes_logical $logical, duration_ms $(reply_value duration_ms)"
if [[ -n $stored && -n $logical ]] && ((logical > stored)); then
  pass "snapshot reply: bytes_logical $logical > bytes_stored $stored"
else
  bad "snapshot reply lacks bytes_logical or shows no compression: stored '$stored', logical '$logical'"
fi
new_blobs=$(reply_value new_blobs)
# 1 block repeated (1 chunk blob) + 1024 distinct text chunks + 9 index nodes + 1 record.
if [[ -n $new_blobs ]] && ((new_blobs <= 1040)); then pass "dedup still works: $new_blobs new blobs for 1025 distinct chunks"; else
  bad "dedup: $new_blobs new blobs for 1025 distinct chunks (want <= 1040)"
fi
grep -q '^amberfs_snapshot_logical_bytes_total ' "$m3/stats" && pass "stats has amberfs_snapshot_logical_bytes_total" ||
  bad "stats lacks amberfs_snapshot_logical_bytes_total"
ctl "$m3" drain
amb_umount "$m3" || bad "unmount of v3 did not exit 0"
size=$(du -sb "$s3dir" | cut -f1)
amb_log "slow store: $size bytes ($((size / 1024)) KiB) for 128 MiB written; fast store: $(du -sb "$v3/fast" | cut -f1) bytes"
if ((size <= 40 * MiB)); then pass "128 MiB (64 repetitive + 64 text) take $size bytes in the slow store (<= 40 MiB)"; else
  bad "the slow store takes $size bytes, more than 40 MiB"
fi

# ==============================================================================
amb_log "9. control: --compress none, no key"
v9=$W/v9 s9=$W/slow9 m9=$W/m9
amb_mkfs "$v9" 64M --slow "file://$s9" --compress none
if grep -qx 'compress none' "$v9/config" && grep -qx 'encryption none' "$v9/config"; then
  pass "control config: compress none, encryption none"
else
  bad "control config: $(grep -E '^(compress|encryption)' "$v9/config" | tr '\n' ' ')"
fi
amb_mount "$v9" "$m9" -o cache_size=16M
write_at "$W/data1" "$m9" 0
ctl "$m9" snapshot c
ctl "$m9" drain
amb_umount "$m9" || bad "unmount of v9 did not exit 0"
check_stores "control" clear "$W/data1" -- "$v9/fast" "$s9"
versions=$(pack_versions "$v9/fast/packs" "$s9/packs" "$s9/index")
if [[ $versions =~ ^v1:[0-9]+$ ]]; then pass "control: its packs keep clear tables ($versions)"; else
  bad "control: packs and index objects by version: $versions (want only v1)"
fi

amb_log "9b. --compress none with a key: sealed, not compressed"
v8=$W/v8 s8=$W/slow8 m8=$W/m8
amb_mkfs "$v8" 64M --slow "file://$s8" --compress none --key-file "$key"
amb_mount "$v8" "$m8" -o cache_size=16M,key_file="$key"
write_at "$W/data1" "$m8" 0
ctl "$m8" snapshot n
amb_log "snapshot n: bytes_stored $(reply_value bytes_stored), bytes_logical $(reply_value bytes_logical)"
ctl "$m8" drain
cp "$m8/volume" "$W/copy-n"
amb_umount "$m8" || bad "unmount of v8 did not exit 0"
check_stores "compress none + key" absent "$W/data1" -- "$v8/fast" "$s8"
run_rc "$W/restore.out" "$MKFS" --restore "file://$s8" --key-file "$key" "$W/r8"
if ((RC == 0)) && cmp -s "$W/r8/image" "$W/copy-n"; then pass "compress none + key: restore byte-exact"; else
  bad "compress none + key: restore exit $RC: $(tail -2 "$W/restore.out" | tr '\n' ' ')"
fi

# ==============================================================================
amb_log "11. a shared slow store: gc with a restored copy and a clone, then with an unencrypted neighbour"
v11=$W/v11 s11=file://$W/slow11 m11=$W/m11
amb_mkfs "$v11" 64M --slow "$s11" --key-file "$key"
u11=$(uuid_of "$v11")
head -c $((4 * MiB)) /dev/urandom >"$W/rand4"
amb_mount "$v11" "$m11" -o cache_size=16M,key_file="$key"
write_at "$W/rand4" "$m11" 0
ctl "$m11" snapshot a
ctl "$m11" drain
amb_umount "$m11" || bad "unmount of v11 did not exit 0"
run_rc "$W/restore.out" "$MKFS" --restore "$s11" --volume "$u11" --key-file "$key" "$W/copy11"
((RC == 0)) || bad "restore of v11 into its own store: exit $RC: $(tail -2 "$W/restore.out" | tr '\n' ' ')"
run_rc "$W/clone.out" "$MKFS" --clone "$s11" --volume "$u11" --key-file "$key" "$W/clone11"
((RC == 0)) || bad "clone of v11 into its own store: exit $RC: $(tail -2 "$W/clone.out" | tr '\n' ' ')"
amb_mount "$v11" "$m11" -o cache_size=16M,key_file="$key"
head -c $((2 * MiB)) /dev/urandom | dd of="$m11/volume" bs=1M conv=notrunc,fsync status=none
ctl "$m11" snapshot b
ctl "$m11" delete a
ctl "$m11" drain
# gc waits (EBUSY) while an upload marker of this store is fresh.
gc_ok=""
for _ in $(seq 30); do
  exec 3<>"$m11/ctl"
  if echo gc >&3 2>/dev/null; then gc_ok=1; cat <&3 >"$W/ctl.reply"; exec 3>&-; break; fi
  cat <&3 >"$W/ctl.reply" || true
  exec 3>&-
  grep -qE 'EBUSY|busy|in flight' "$W/ctl.reply" || break
  sleep 0.5
done
if [[ -n $gc_ok ]] && (($(reply_value other_volume_snapshots) >= 2)); then
  pass "gc of the original beside its copy and clone: deleted_slow $(reply_value deleted_slow), other_volume_snapshots $(reply_value other_volume_snapshots)"
else
  bad "gc of the original beside its copy and clone: $(tr '\n' ' ' <"$W/ctl.reply")"
fi
ctl "$m11" drain
amb_umount "$m11" || bad "unmount of v11 did not exit 0"
for v in copy11 clone11; do
  fsck_expect "after the original's gc: $v" clean --key-file "$key" --slow --read-data "$W/$v"
done
amb_mount "$W/clone11" "$W/mclone11" -o key_file="$key"
cmp -s <(head -c $((4 * MiB)) "$W/mclone11/volume") "$W/rand4" && pass "the clone reads back a after the original's gc" ||
  bad "the clone's data differs after the original's gc"
amb_umount "$W/mclone11" || bad "unmount of clone11 did not exit 0"

v12=$W/v12 m12=$W/m12
amb_mkfs "$v12" 64M --slow "$s11"
amb_mount "$v12" "$m12" -o cache_size=16M
write_at "$W/data2" "$m12" 0
ctl "$m12" snapshot p
ctl "$m12" drain
amb_mount "$v11" "$m11" -o cache_size=16M,key_file="$key"
for m in "$m11" "$m12"; do
  rc=0
  for _ in $(seq 30); do
    rc=0
    exec 3<>"$m/ctl"
    echo gc >&3 2>/dev/null || rc=$?
    cat <&3 >"$W/ctl.reply" || true
    exec 3>&-
    grep -qE 'EBUSY|busy|in flight' "$W/ctl.reply" || break
    sleep 0.5
  done
  if ((rc != 0)) && grep -q 'refusing to collect' "$W/ctl.reply"; then
    pass "mixed store: gc on ${m#"$W"/} refuses"
    show "$W/ctl.reply"
  else
    bad "mixed store: gc on ${m#"$W"/}: $(tr '\n' ' ' <"$W/ctl.reply")"
  fi
done
amb_umount "$m11" || bad "unmount of v11 did not exit 0"
amb_umount "$m12" || bad "unmount of v12 did not exit 0"
fsck_expect "mixed store after the refused gcs: v11" clean --key-file "$key" --slow --read-data "$v11"
fsck_expect "mixed store after the refused gcs: copy11" clean --key-file "$key" --slow --read-data "$W/copy11"
fsck_expect "mixed store after the refused gcs: v12 (unencrypted)" clean --slow --read-data "$v12"

if ((failures > 0)); then
  echo "FAIL: $failures checks failed"
  exit 1
fi
amb_log "ok: every check passed"
