// VolumeLock: one owner per volume directory, and a record of unclean shutdowns.
//
// Acquire() takes an exclusive flock(2) on VOLDIR/lock without waiting; while
// the returned object lives no other process can take it (a second mount or a
// mkfs --force of a mounted volume fails with EBUSY, naming the pid that holds
// it). The kernel drops the lock when the holder dies, so a crashed daemon
// never leaves the volume locked.
//
// The "mounted" marker (VOLDIR/mounted, holding the pid and time of the
// mount) is created durably by MarkMounted() and removed durably by
// MarkClean() after a clean shutdown. If Acquire() finds it, the previous
// owner died or failed its final flush: previous_unclean() is true and
// previous_marker() says who and when. A volume whose final flush failed
// keeps its marker on purpose.
//
// Thread-safety: not thread-safe; one owner thread (mount or mkfs).
#pragma once

#include <string>

#include "amberfs/status.h"
#include "base/unique_fd.h"

namespace amberfs {

class VolumeLock {
 public:
  // `purpose` is written into the lock file for the EBUSY message of others
  // ("mount", "mkfs").
  static Result<VolumeLock> Acquire(const std::string& voldir, const std::string& purpose);

  VolumeLock(VolumeLock&&) = default;
  VolumeLock& operator=(VolumeLock&&) = default;

  bool previous_unclean() const { return previous_unclean_; }
  const std::string& previous_marker() const { return previous_marker_; }

  Status MarkMounted();
  Status MarkClean();

 private:
  VolumeLock() = default;
  std::string voldir_;
  UniqueFd fd_;
  bool previous_unclean_ = false;
  std::string previous_marker_;
};

}  // namespace amberfs
