// FindVolumeHolder and ReadMountedMarker (amberfs/volume_holder.h).
#include "amberfs/volume_holder.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <limits>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/durable_file.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

// A one-line text file without its line end, or its error.
Result<std::string> ReadLine(const std::string& path) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadSmallFile(path, 4096));
  std::string text(bytes.begin(), bytes.end());
  size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text;
}

struct FlockLine {
  pid_t pid = 0;
  unsigned dev_major = 0, dev_minor = 0;
  unsigned long long ino = 0;
};

// The granted flock(2) locks of /proc/locks: "N: FLOCK  ADVISORY  WRITE PID
// MAJ:MIN:INO 0 EOF" (device numbers in hex). Waiters ("N: -> FLOCK ...")
// and other lock kinds are skipped.
Result<std::vector<FlockLine>> GrantedFlocks() {
  std::ifstream in("/proc/locks");
  if (!in) return Status::FromErrno(errno, "open /proc/locks");
  std::vector<FlockLine> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string ordinal, kind, mode, access, where;
    long long pid = 0;
    if (!(words >> ordinal >> kind) || kind != "FLOCK") continue;
    if (!(words >> mode >> access >> pid >> where) || pid <= 0) continue;
    FlockLine l;
    l.pid = static_cast<pid_t>(pid);
    if (std::sscanf(where.c_str(), "%x:%x:%llu", &l.dev_major, &l.dev_minor, &l.ino) != 3) continue;
    out.push_back(l);
  }
  return out;
}

}  // namespace

pid_t PidNamedIn(std::string_view line) {
  size_t at = line.find("by pid ");
  if (at == std::string_view::npos) return 0;
  // Only the digits right there: no blanks or sign skipped, and a number
  // too big for a pid is none (cut short or wrapped it would name another).
  long long pid = 0;
  for (size_t i = at + 7; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    pid = pid * 10 + (line[i] - '0');
    if (pid > std::numeric_limits<pid_t>::max()) return 0;
  }
  return static_cast<pid_t>(pid);
}

Result<std::optional<VolumeHolder>> FindVolumeHolder(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kLockFile);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<VolumeHolder>();
    return Status::FromErrno(errno, "stat " + path);
  }
  AMBER_ASSIGN_OR_RETURN(std::vector<FlockLine> locks, GrantedFlocks());
  Result<std::string> what = ReadLine(path);
  const std::string text = what.ok() ? *what : std::string();
  // The inode identifies the lock. The device must match too, except on
  // file systems (overlay, FUSE) whose stat(2) device is not the one the lock
  // is recorded under: there the pid the holder wrote must match instead.
  std::optional<VolumeHolder> found;
  for (const FlockLine& l : locks) {
    if (l.ino != st.st_ino) continue;
    const bool same_dev = l.dev_major == major(st.st_dev) && l.dev_minor == minor(st.st_dev);
    if (!same_dev && l.pid != PidNamedIn(text)) continue;
    found = VolumeHolder{l.pid, text};
    if (same_dev) break;
  }
  return found;
}

Result<std::optional<std::string>> ReadMountedMarker(const std::string& voldir) {
  Result<std::string> line = ReadLine(VolumePath(voldir, kMountedMarker));
  if (line.ok()) return std::optional<std::string>(*line);
  if (line.status().code() == ENOENT) return std::optional<std::string>();
  return line.status();
}

}  // namespace amberfs
