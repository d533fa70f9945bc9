#include "volume/volume_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
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

std::vector<uint8_t> PaddedMarker(const std::string& text) {
  std::vector<uint8_t> bytes(VolumeLock::kMarkerBytes, 0);
  std::copy_n(text.begin(), std::min(text.size(), bytes.size()), bytes.begin());
  return bytes;
}

// Overwrites the first kMarkerBytes of an existing file and fdatasyncs it:
// the file's blocks exist already, so this needs no free space.
Status RewriteInPlace(const std::string& path, const std::vector<uint8_t>& bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  AMBER_RETURN_IF_ERROR(PwriteAll(fd.get(), bytes.data(), bytes.size(), 0, path));
  AMBER_RETURN_IF_ERROR(SyncFileData(fd.get(), path));
  return fd.Close();
}

}  // namespace

std::string VolumeLock::MarkerText(const std::vector<uint8_t>& bytes) {
  std::string text(bytes.begin(), std::find(bytes.begin(), bytes.end(), uint8_t{0}));
  return TrimNewlines(std::move(text));
}

Status VolumeLock::CreateSpareMarker(const std::string& voldir) {
  Result<UniqueFd> fd = CreateSyncedFile(VolumePath(voldir, kSpareMarker), PaddedMarker(""));
  AMBER_RETURN_IF_ERROR(fd.status());
  return FsyncDir(voldir);
}

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
  // Who holds it, for the message a second user gets. Not durable on
  // purpose: it only matters while we live. Written over the old text and
  // then cut to length (truncating first would give up the block it needs),
  // and best effort: a full disk must not stop a mount.
  std::string who = purpose + " by pid " + std::to_string(::getpid()) + " since " + NowUtc() + "\n";
  if (::pwrite(fd.get(), who.data(), who.size(), 0) == static_cast<ssize_t>(who.size())) {
    if (::ftruncate(fd.get(), static_cast<off_t>(who.size())) != 0) {
      // Only the message of a second user is at stake.
    }
  }

  VolumeLock lock;
  lock.voldir_ = voldir;
  lock.fd_ = std::move(fd);
  Result<std::vector<uint8_t>> marker = ReadSmallFile(MarkerPath(voldir), 4096);
  if (marker.ok()) {
    lock.previous_unclean_ = true;
    lock.previous_marker_ = MarkerText(*marker);
    if (lock.previous_marker_.empty()) lock.previous_marker_ = "the marker is unreadable";
  } else if (marker.status().code() != ENOENT) {
    return marker.status();
  }
  return lock;
}

Status VolumeLock::MarkMounted() {
  const std::vector<uint8_t> bytes =
      PaddedMarker("mounted by pid " + std::to_string(::getpid()) + " at " + NowUtc() + "\n");
  const std::string marker = MarkerPath(voldir_), spare = VolumePath(voldir_, kSpareMarker);
  if (::access(marker.c_str(), F_OK) == 0) return RewriteInPlace(marker, bytes);  // left by a crash
  if (::access(spare.c_str(), F_OK) != 0) {
    if (errno != ENOENT) return Status::FromErrno(errno, "access " + spare);
    // A volume made before spares existed: make one now (this needs space once).
    AMBER_RETURN_IF_ERROR(CreateSyncedFile(spare, bytes, /*replace_leftover=*/true).status());
  } else {
    AMBER_RETURN_IF_ERROR(RewriteInPlace(spare, bytes));
  }
  AMBER_RETURN_IF_ERROR(RenameFile(spare, marker));
  return FsyncDir(voldir_);
}

Status VolumeLock::MarkClean() {
  Status st = RenameFile(MarkerPath(voldir_), VolumePath(voldir_, kSpareMarker));
  if (st.ok()) st = FsyncDir(voldir_);
  if (!st.ok() && st.code() != ENOENT) return st;
  previous_unclean_ = false;
  previous_marker_.clear();
  return Status::OK();
}

}  // namespace amberfs
