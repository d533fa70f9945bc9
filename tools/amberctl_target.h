// amberctl's TARGET: a mount point of amberfs or a volume directory, resolved
// to both through /proc/self/mountinfo.
//
// amberfs mounts with fsname=VOLDIR (absolute) and subtype amberfs, so a
// mount's line in mountinfo says "fuse.amberfs VOLDIR". A TARGET that is such
// a mount point names that volume; a TARGET holding a `config` file is a
// volume directory, mounted where a line's source is the same directory
// (compared by realpath). When a volume appears more than once (a dead mount
// left behind over a live one), the last line, the newest mount, wins.
#pragma once

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "amberfs/status.h"
#include "amberfs/volume_create.h"

namespace amberctl {

struct MountEntry {
  std::string mountpoint;
  std::string source;
  std::string options;  // per-mount options ("rw,nosuid,...")
};

struct Target {
  std::string voldir;      // absolute
  std::string mountpoint;  // "" when the volume is not mounted
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
inline std::string UnescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t j) { return s[j] >= '0' && s[j] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Every fuse.amberfs mount, in mountinfo's order (oldest first).
inline amberfs::Result<std::vector<MountEntry>> AmberfsMounts() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return amberfs::Status::FromErrno(errno, "open /proc/self/mountinfo");
  std::vector<MountEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string id, parent, dev, root, mountpoint, options, word;
    if (!(words >> id >> parent >> dev >> root >> mountpoint >> options)) continue;
    while (words >> word && word != "-") {
    }
    std::string fstype, source;
    if (!(words >> fstype >> source) || fstype != "fuse.amberfs") continue;
    out.push_back({UnescapeMountField(mountpoint), UnescapeMountField(source), options});
  }
  return out;
}

// realpath(3), or the lexical absolute path when it fails (a dead FUSE
// mount point cannot be resolved).
inline std::string CanonicalPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  return amberfs::AbsolutePath(path);
}

inline bool IsVolumeDir(const std::string& path) {
  struct stat st;
  return ::stat((path + "/config").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The newest mount of the volume in voldir, or nullptr.
inline const MountEntry* MountOfVolume(const std::vector<MountEntry>& mounts, const std::string& voldir) {
  const std::string want = CanonicalPath(voldir);
  const MountEntry* found = nullptr;
  for (const MountEntry& m : mounts) {
    if (m.source == voldir || CanonicalPath(m.source) == want) found = &m;
  }
  return found;
}

// The mount point is matched by its lexical path first: resolving it would
// stat the mount, which hangs when its daemon does (and keeps it busy).
inline amberfs::Result<Target> ResolveTarget(const std::string& arg) {
  AMBER_ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, AmberfsMounts());
  auto mounted_at = [&](const std::string& path) -> const MountEntry* {
    const MountEntry* at = nullptr;
    for (const MountEntry& m : mounts) {
      if (m.mountpoint == path) at = &m;
    }
    return at;
  };
  const std::string lexical = amberfs::AbsolutePath(arg);
  const MountEntry* at = mounted_at(lexical);
  if (!at) {
    const std::string canonical = CanonicalPath(arg);
    at = mounted_at(canonical);
    if (!at && IsVolumeDir(canonical)) {
      const MountEntry* m = MountOfVolume(mounts, canonical);
      return Target{canonical, m ? m->mountpoint : std::string()};
    }
  }
  if (at) return Target{at->source, at->mountpoint};
  return amberfs::Status::Error(ENOENT, arg + " is neither an amberfs mount point nor a volume directory (no " +
                                            lexical + "/config)");
}

}  // namespace amberctl
