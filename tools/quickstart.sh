#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root, from the repository:
#
#   sudo bash tools/quickstart.sh
#
# installs the packages the build needs (only the missing ones), builds,
# creates a 1 GiB demo volume (local sparse image, local archive as the slow
# store) and mounts it. Running it again with the demo mounted says so and
# changes nothing. Override the places with AMBERFS_DEMO_DIR, AMBERFS_DEMO_MNT
# and AMBERFS_DEMO_SIZE.
set -euo pipefail

voldir=${AMBERFS_DEMO_DIR:-/var/lib/amberfs/demo}
mnt=${AMBERFS_DEMO_MNT:-/mnt/amberfs-demo}
size=${AMBERFS_DEMO_SIZE:-1G}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build

say() { echo "quickstart: $*"; }
die() {
  echo "quickstart: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "run me as root (sudo bash tools/quickstart.sh)"
if ! grep -qs '^VERSION_ID="12"' /etc/os-release; then
  say "warning: written for Debian 12; trying anyway"
fi

show_where() {
  cat <<TEXT

amberfs demo volume $voldir is mounted at $mnt:
  $mnt/volume     the block volume (e.g. losetup -f --show $mnt/volume, then mkfs.ext4)
  $mnt/ctl        commands: echo flush > $mnt/ctl
  $mnt/stats      counters: cat $mnt/stats
  $mnt/snapshots  snapshots (none yet)
Unmount (flushes everything): fusermount3 -u $mnt
Mount again:                  $build/amberfs $voldir $mnt
Run the tests:                bash .ci/run
TEXT
}

if grep -qs " $mnt fuse.amberfs " /proc/mounts; then
  if stat "$mnt/volume" >/dev/null 2>&1; then
    say "the demo is already mounted; nothing to do"
    show_where
    exit 0
  fi
  say "$mnt is a dead amberfs mount (its daemon is gone); clearing it"
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
fi

packages=(build-essential pkg-config libfuse3-dev fuse3 liburing-dev libssl-dev libxxhash-dev libzstd-dev
          doctest-dev libcurl4-openssl-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  say "all build packages are installed"
fi
[[ -c /dev/fuse ]] || modprobe fuse || die "no /dev/fuse and 'modprobe fuse' failed: FUSE is not available here"

say "building"
make -C "$repo" -j"$(nproc)" >/dev/null

if [[ -e $voldir/config ]]; then
  say "using the existing volume in $voldir"
else
  say "creating a $size demo volume in $voldir"
  "$build/mkfs.amberfs" --size "$size" "$voldir"
fi

mkdir -p "$mnt"
say "mounting at $mnt"
"$build/amberfs" -o cache_size=256M "$voldir" "$mnt"
show_where
