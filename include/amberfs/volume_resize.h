// ResizeVolume: what mkfs.amberfs --resize does, as a library call: an
// offline grow of a volume that is not mounted.
//
// Steps, each durable before the next; the config is the commit point:
//   1. VOLDIR/changes.resize: the change tracker at the new size, with the
//      old file's marks (skipped when the volume has no tracker yet: the
//      first read-write mount creates one at the config's size).
//   2. The image grows: a regular file by ftruncate (sparse, then fsync); a
//      block device must already have exactly the new size (grow it first).
//   3. VOLDIR/config with the new size (atomic, checksummed).
//   4. changes.resize is renamed over VOLDIR/changes.
// A crash leaves the old volume (before 3) or the new one (after 3), with
// changes.resize as the sign of the half state. FinishInterruptedResize,
// which every read-write mount, fsck -y and ResizeVolume itself run under the
// volume lock, settles it: a changes.resize of the config's geometry is
// renamed into place (the resize committed); otherwise it is removed and an
// image file grown past the config is cut back to the config's size (the
// resize did not commit, and nothing but the resize wrote past the old end).
//
// Refusals, all before anything changes: EINVAL for a new size that is not
// larger than the current one, breaks the geometry rules
// (ValidateVolumeGeometry) or that a block-device image does not have; EBUSY
// while the volume is mounted (its lock is held), while a rollback is
// unfinished or a build is interrupted; ENOTSUP for a volume with snapshots
// (their records still take the volume's size) — delete them or restore
// into a new volume of the new size.
//
// Thread-safety: one caller per VOLDIR (the volume lock makes others fail).
#pragma once

#include <cstdint>
#include <string>

#include "amberfs/status.h"
#include "amberfs/volume_config.h"

namespace amberfs {

struct ResizeVolumeResult {
  uint64_t old_size = 0;
  VolumeConfig config;  // as written, new size
};

Result<ResizeVolumeResult> ResizeVolume(const std::string& voldir, uint64_t new_size);

// Settles an interrupted resize of the volume in `dir` (absolute), whose
// config is `config`; the caller holds the volume lock. Sets *what (when not
// null) to a sentence saying what it did, empty when there was nothing to do.
Status FinishInterruptedResize(const std::string& dir, const VolumeConfig& config, std::string* what = nullptr);

// A sentence describing an interrupted resize (for fsck -n and a read-only
// mount, which change nothing), empty when there is none.
std::string DescribeInterruptedResize(const std::string& dir, const VolumeConfig& config);

}  // namespace amberfs
