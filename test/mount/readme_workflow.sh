#!/usr/bin/env bash
# README.md's "The whole workflow" runs as written: the block between
# <!-- workflow:begin --> and <!-- workflow:end --> is extracted, its /srv/
# and /mnt/ paths moved into the scratch directory (nothing else changed),
# and run with `bash -e` and the built programs first in PATH. Every step
# that fails (a missing mount point, a cmp of a snapshot against a volume
# that moved on, a restore of a snapshot the volume does not have, an fsck
# that finds errors) fails the test; so the README cannot rot.
AMB_TIMEOUT=${AMB_TIMEOUT:-600}  # cmp reads the 1 GiB volume twice through FUSE
source "$(dirname "$0")/lib.sh"
amb_setup
for tool in fsfreeze losetup mkfs.ext4 cmp; do
  command -v "$tool" >/dev/null || amb_skip "$tool not installed"
done
[[ -e /dev/loop-control ]] || amb_skip "no loop devices (/dev/loop-control missing)"
readme=$(dirname "$0")/../../README.md

awk '/^<!-- workflow:begin -->$/ { on = 1; next } /^<!-- workflow:end -->$/ { on = 0 } on' "$readme" |
  sed 's/^    //' >"$AMB_WORK/workflow.raw"
[[ $(grep -c . "$AMB_WORK/workflow.raw") -ge 20 ]] || amb_fail "no workflow block in README.md"
sed -e "s#/srv/#$AMB_WORK/srv/#g" -e "s#/mnt/#$AMB_WORK/mnt/#g" "$AMB_WORK/workflow.raw" >"$AMB_WORK/workflow.sh"
if grep -nE '(^|[^A-Za-z0-9_.-])/(srv|mnt)(/|$)' "$AMB_WORK/workflow.sh"; then
  amb_fail "the workflow uses a path outside /srv/ and /mnt/ that the test cannot move"
fi
mkdir -p "$AMB_WORK/srv"
# Cleanup for a run that fails half-way (lib.sh undoes what it knows of).
AMB_KERNEL_MOUNTS+=("$AMB_WORK/mnt/data")
AMB_FUSE_MOUNTS+=("$AMB_WORK/mnt/vol1")
detach_loops() {
  local l
  for l in $(losetup -j "$AMB_WORK/mnt/vol1/volume" -O NAME -n 2>/dev/null); do losetup -d "$l" 2>/dev/null; done
}

amb_log "running the README workflow ($(grep -cv '^ *\(#.*\)\?$' "$AMB_WORK/workflow.raw") commands)"
rc=0
(cd "$AMB_WORK" && PATH=$AMBERFS_BUILD:$PATH bash -e -o pipefail -x "$AMB_WORK/workflow.sh") \
  >"$AMB_WORK/workflow.log" 2>&1 || rc=$?
if [[ $rc != 0 ]]; then
  tail -25 "$AMB_WORK/workflow.log" >&2
  mountpoint -q "$AMB_WORK/mnt/data" && umount -l "$AMB_WORK/mnt/data"
  detach_loops
  amb_fail "the README workflow failed (exit $rc); its last lines are above"
fi
grep -E '^(restored|created) amberfs volume|^rolled back|^[0-9]+ snapshots?,|^deleted' "$AMB_WORK/workflow.log" | head
# What the workflow promises at its end: the volume unmounted by amberctl umount, the copy in place.
grep -qs " $AMB_WORK/mnt/vol1 " /proc/mounts && amb_fail "the volume is still mounted after amberctl umount"
[[ -f $AMB_WORK/srv/vol1-copy/config ]] || amb_fail "no restored volume"
amb_log "PASS"
