// VolumeBuild: how mkfs (and mkfs --restore) makes a volume appear in VOLDIR
// at once, whole, or not at all.
//
// A volume is built in a staging directory beside VOLDIR and then put in
// place by one rename. For VOLDIR = P/B:
//   P/.B.amberfs-new      the staging directory (StagingDir()). It holds the
//                         new volume while it is built, its `lock` (flocked
//                         by the builder) and `mkfs.pending` (what is being
//                         built, one line).
//   VOLDIR/mkfs.pending   after the rename: the new volume is in place, but
//                         the replaced one (now at the staging name) may
//                         still hold the archive to carry over.
//
// Begin(voldir, force, what) checks VOLDIR, before anything is changed:
//   absent, or an empty directory: a volume may be made there;
//   holds a volume (a config, or only names a volume has): only with force
//     (unless its install was interrupted: that volume was never mounted),
//     and never while it is in use (its lock is taken and held: EBUSY naming
//     the holder);
//   holds other files: EEXIST, also with force (--force replaces a volume,
//     it never deletes what is not one);
//   a mount point: EXDEV (it cannot be renamed; make the volume in a
//     directory inside it); not a directory: EINVAL.
// It first finishes what an interrupted mkfs left (FinishInterruptedMkfs),
// then makes the staging directory, locks it and writes its mkfs.pending.
// A staging directory whose lock is held is another mkfs at work: EBUSY.
//
// Install() puts the staging directory in place: its marker is rewritten to
// say it is installing, then rename(staging, VOLDIR) (RENAME_NOREPLACE when
// VOLDIR is absent, else RENAME_EXCHANGE, which swaps the two directories
// atomically), a sync of P, then the finishing steps below. A file system
// without RENAME_EXCHANGE: EOPNOTSUPP, nothing changed.
//
// Finishing (FinishInterruptedMkfs, which Install() ends with and which mkfs
// and fsck -y run on a leftover): if VOLDIR holds mkfs.pending, the replaced
// volume's archive/ (the default slow store, which --force keeps) is moved
// into VOLDIR unless VOLDIR has a non-empty one, mkfs.pending is removed
// durably, and then whatever is at the staging name is removed. Without
// mkfs.pending in VOLDIR, a staging directory nobody holds is an
// interrupted build: it is removed. Every step is idempotent, so a crash at
// any point leaves the old volume or the new one, plus a leftover that the
// next mkfs, or fsck -y, finishes.
//
// Mount and fsck -n refuse a VOLDIR with mkfs.pending (InterruptedInstall)
// and explain a VOLDIR without a config that has a staging directory beside
// it (InterruptedBuild); both messages name the command to run.
//
// The destructor of a build that was not installed removes the staging
// directory (a failed mkfs changes nothing).
//
// Thread-safety: one VolumeBuild per VOLDIR, used by one thread; the locks
// exclude other processes.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "amberfs/status.h"
#include "volume/volume_lock.h"

namespace amberfs {

inline constexpr const char* kPendingMarker = "mkfs.pending";

// P/.B.amberfs-new for VOLDIR = P/B (an absolute path).
std::string StagingDir(const std::string& voldir);

// Whether VOLDIR is an installed volume whose mkfs was interrupted, and the
// error a mount (or fsck -n) gives then; OK otherwise.
Status RefuseInterruptedInstall(const std::string& voldir);
// For a VOLDIR without a config: what an interrupted build left beside it, as
// a message naming the command to rerun; "" when there is none.
std::string DescribeInterruptedBuild(const std::string& voldir);

// What FinishInterruptedMkfs did, for messages ("" when nothing was left).
Result<std::string> FinishInterruptedMkfs(const std::string& voldir);

class VolumeBuild {
 public:
  // `what` describes the command for mkfs.pending and for messages about an
  // interrupted build ("mkfs.amberfs --restore URL ...").
  static Result<std::unique_ptr<VolumeBuild>> Begin(const std::string& voldir, bool force, const std::string& what);
  ~VolumeBuild();
  VolumeBuild(const VolumeBuild&) = delete;
  VolumeBuild& operator=(const VolumeBuild&) = delete;

  // Where to build (the staging directory) and where it goes.
  const std::string& dir() const { return staging_; }
  const std::string& voldir() const { return voldir_; }
  // VOLDIR has an archive/ that Install() carries over: do not make one.
  bool keeps_archive() const { return keeps_archive_; }
  // The description an interrupted build of this VOLDIR left, if any (read
  // before it was removed; restore uses it to resume with the same identity).
  const std::string& previous_what() const { return previous_what_; }
  bool installed() const { return installed_; }

  // Rewrites the staging directory's mkfs.pending (once the command's
  // details are settled, e.g. the uuid a restore resumes with).
  Status Describe(const std::string& what);
  Status Install();

 private:
  VolumeBuild() = default;
  Status MakeParents();  // the missing directories above VOLDIR
  std::string voldir_, staging_, previous_what_;
  std::string created_parents_;  // the topmost of them, removed again if not installed
  bool voldir_exists_ = false;
  bool keeps_archive_ = false;
  bool installed_ = false;
  std::optional<VolumeLock> old_lock_;  // VOLDIR's, held while it is replaced
  std::optional<VolumeLock> new_lock_;  // the staging directory's
};

}  // namespace amberfs
