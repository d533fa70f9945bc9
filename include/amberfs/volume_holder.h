// Who has a volume, seen from another process (amberctl umount and status):
// the process that holds the flock(2) on VOLDIR/lock, and the unclean-shutdown
// marker VOLDIR/mounted. Both files are written by the holder (their formats
// are in docs/FORMATS.md, "lock and mounted"); these functions only read.
//
// FindVolumeHolder looks the lock's inode up in /proc/locks, so it finds the
// holder whatever the lock file says (a holder that died leaves its line
// behind; the kernel drops its lock). The pid is in the caller's pid
// namespace. It takes no lock itself: probing with flock would make a mount
// that starts at the same moment fail with EBUSY.
//
// Errors: ENOENT when VOLDIR has no lock file (never mounted, so nobody holds
// it: FindVolumeHolder returns nullopt for that), the errno of an unreadable
// /proc/locks or marker.
//
// Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "amberfs/status.h"

namespace amberfs {

struct VolumeHolder {
  pid_t pid = 0;
  std::string what;  // the lock file's line, e.g. "mount by pid 42 since 2026-01-02T03:04:05Z"
};

// The process holding VOLDIR/lock, or nullopt when nobody does.
Result<std::optional<VolumeHolder>> FindVolumeHolder(const std::string& voldir);

// VOLDIR/mounted's line ("mounted by pid N at TIME"), or nullopt when absent:
// the volume's last read-write mount shut down cleanly (or none ever ran).
Result<std::optional<std::string>> ReadMountedMarker(const std::string& voldir);

// The pid a lock line or marker line names ("... by pid N ..."), or 0.
pid_t PidNamedIn(std::string_view line);

}  // namespace amberfs
