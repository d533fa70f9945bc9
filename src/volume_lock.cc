#include "amberfs/volume_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <ctime>

#include "amberfs/atomic_file.h"

namespace amberfs {
namespace {

std::string MarkerPath(const std::string& voldir) { return voldir + "/mounted"; }

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
  const std::string path = voldir + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return Status::FromErrno(err, "flock " + path);
    Result<std::string> holder = ReadSmallTextFile(path, 4096);
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
  Result<std::string> marker = ReadSmallTextFile(MarkerPath(voldir), 4096);
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
  return WriteFileAtomic(MarkerPath(voldir_), text, 0644);
}

Status VolumeLock::MarkClean() {
  if (::unlink(MarkerPath(voldir_).c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "unlink " + MarkerPath(voldir_));
  }
  AMBER_RETURN_IF_ERROR(SyncDirectory(voldir_));
  previous_unclean_ = false;
  previous_marker_.clear();
  return Status::OK();
}

}  // namespace amberfs
