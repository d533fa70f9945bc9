#include "volume/volume_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <ctime>

#include "base/durable_file.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

std::string MarkerPath(const std::string& voldir) { return VolumePath(voldir, kMountedMarker); }

// A small text file, or its error.
Result<std::string> ReadText(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, 4096);
  if (!bytes.ok()) return bytes.status();
  return std::string(bytes->begin(), bytes->end());
}

std::string NowUtc() {
  time_t now = time(nullptr);
  tm utc;
  gmtime_r(&now, &utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

}  // namespace

Result<VolumeLock> VolumeLock::Acquire(const std::string& voldir, const std::string& purpose) {
  const std::string path = VolumePath(voldir, kLockFile);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return Status::FromErrno(err, "flock " + path);
    Result<std::string> holder = ReadText(path);
    std::string who = holder.ok() && !holder->empty() ? " (" + TrimNewlines(*holder) + ")" : "";
    return Status::Error(EBUSY, voldir + " is in use by another process" + who +
                                    "; a volume can be mounted only once");
  }
  // Who holds it, for the message a second mount prints. Not durable on
  // purpose: it only matters while we live.
  std::string who = purpose + " by pid " + std::to_string(::getpid()) + " since " + NowUtc() + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), who.data(), who.size(), 0) < 0) {
    return Status::FromErrno(errno, "write " + path);
  }

  VolumeLock lock;
  lock.voldir_ = voldir;
  lock.fd_ = std::move(fd);
  Result<std::string> marker = ReadText(MarkerPath(voldir));
  if (marker.ok()) {
    lock.previous_unclean_ = true;
    lock.previous_marker_ = TrimNewlines(*marker);
  } else if (marker.status().code() != ENOENT) {
    return marker.status();
  }
  return lock;
}

Status VolumeLock::MarkMounted() {
  std::string text = "mounted by pid " + std::to_string(::getpid()) + " at " + NowUtc() + "\n";
  return WriteFileAtomic(voldir_, kMountedMarker, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         /*no_replace=*/false);
}

Status VolumeLock::MarkClean() {
  Status st = RemoveDurably(voldir_, kMountedMarker);
  if (!st.ok() && st.code() != ENOENT) return st;
  previous_unclean_ = false;
  previous_marker_.clear();
  return Status::OK();
}

}  // namespace amberfs
