// VolumeLock: one owner per volume directory, and a record of unclean shutdowns.
//
// Acquire() takes an exclusive flock(2) on VOLDIR/lock without waiting; while
// the returned object lives no other process can take it (a second mount or a
// mkfs --force of a mounted volume fails with EBUSY, naming the pid that holds
// it). The kernel drops the lock when the holder dies, so a crashed daemon
// never leaves the volume locked.
//
// The "mounted" marker (VOLDIR/mounted, holding the pid and time of the
// mount) appears durably by MarkMounted() and goes durably by MarkClean()
// after a clean shutdown. If Acquire() finds it, the previous owner died or
// failed its final flush: previous_unclean() is true and previous_marker()
// says who and when. A volume whose final flush failed keeps its marker on
// purpose.
//
// A full disk must not keep a consistent volume from mounting (the user
// mounts to free space), so marking takes no new space: while the volume is
// clean the marker's file is kept as VOLDIR/mounted.spare (kMarkerBytes,
// made by CreateSpareMarker at mkfs). MarkMounted rewrites its bytes in place,
// fdatasyncs, and renames it to "mounted" (a marker left by a crash is
// rewritten in place); MarkClean renames it back. Both renames are followed
// by an fsync of VOLDIR. A volume without a spare (made by an older mkfs)
// gets one at its first mount. The marker's text is NUL-padded; a torn
// rewrite can only make a marker unreadable, which reads as "unclean".
//
// The lock file's "who holds it" text is written in place and is best
// effort: a full disk does not stop a mount.
//
// Thread-safety: not thread-safe; one owner thread (mount or mkfs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

  static constexpr size_t kMarkerBytes = 512;
  // VOLDIR/mounted.spare, kMarkerBytes of NUL, durable (mkfs).
  static Status CreateSpareMarker(const std::string& voldir);
  // A marker's text as written (NUL padding and the final newline dropped).
  static std::string MarkerText(const std::vector<uint8_t>& bytes);

 private:
  VolumeLock() = default;
  std::string voldir_;
  UniqueFd fd_;
  bool previous_unclean_ = false;
  std::string previous_marker_;
};

}  // namespace amberfs
