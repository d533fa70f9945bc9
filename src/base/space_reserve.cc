#include "base/space_reserve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "amberfs/log.h"
#include "base/unique_fd.h"

namespace amberfs {

Result<std::unique_ptr<SpaceReserve>> SpaceReserve::Open(std::string path, uint64_t bytes) {
  if (path.empty()) return Status::Error(EINVAL, "space reserve: empty path");
  std::unique_ptr<SpaceReserve> reserve(new SpaceReserve(std::move(path), bytes));
  reserve->Replenish();
  return reserve;
}

uint64_t SpaceReserve::SizeLocked() const {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

SpaceReserve::Admission::~Admission() {
  if (reserve_ != nullptr) reserve_->in_flight_.fetch_sub(bytes_);
}

Result<SpaceReserve::Admission> SpaceReserve::AdmitData(SpaceReserve* reserve, uint64_t bytes, std::string_view what) {
  if (reserve == nullptr) return Admission();
  const uint64_t lacking = reserve->lacking_.load();
  if (lacking == 0) return Admission();
  const uint64_t in_flight = reserve->in_flight_.fetch_add(bytes) + bytes;
  Admission admitted(reserve, bytes);
  struct statvfs vfs;
  if (::statvfs(reserve->path_.c_str(), &vfs) != 0) return admitted;  // cannot tell: the write finds out
  // Root may use the blocks ext4 keeps for it; others may not.
  const uint64_t free_blocks = ::geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
  const uint64_t free_bytes = free_blocks * vfs.f_frsize;
  if (free_bytes >= lacking + in_flight) return admitted;
  return Status::Error(ENOSPC, std::string(what) + ": the file system is full (" + std::to_string(free_bytes) +
                                   " bytes free, " + std::to_string(lacking) + " kept for delete and gc in " +
                                   reserve->path_ + ")");
}

uint64_t SpaceReserve::held() const {
  std::lock_guard lock(mu_);
  return SizeLocked();
}

bool SpaceReserve::Release() {
  std::lock_guard lock(mu_);
  const uint64_t size = SizeLocked();
  if (size == 0) return false;
  const uint64_t slice = (bytes_ + kSlices - 1) / kSlices;
  const uint64_t keep = size > slice ? size - slice : 0;
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(keep)) != 0) {
    LOG_ERROR("space reserve %s: cannot release room: %s", path_.c_str(), std::strerror(errno));
    return false;
  }
  NoteSizeLocked(keep);
  // Commit the free, so the file system can hand the blocks out at once.
  ::fsync(fd.get());
  LOG_WARN("file system full: released %llu of the %llu bytes kept in %s for delete and gc",
           static_cast<unsigned long long>(size - keep), static_cast<unsigned long long>(bytes_), path_.c_str());
  return true;
}

void SpaceReserve::Replenish() {
  std::lock_guard lock(mu_);
  const uint64_t size = SizeLocked();
  NoteSizeLocked(size);
  if (size >= bytes_) return;
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    LOG_WARN("space reserve %s: cannot open: %s", path_.c_str(), std::strerror(errno));
    return;
  }
  if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(bytes_)) == 0) {
    ::fsync(fd.get());
    NoteSizeLocked(bytes_);
    if (size == 0) LOG_INFO("space reserve %s: %llu bytes kept for delete and gc", path_.c_str(),
                            static_cast<unsigned long long>(bytes_));
    return;
  }
  const int err = errno;
  // A failed fallocate may keep blocks past the end: give them back.
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    LOG_WARN("space reserve %s: truncate after a failed fallocate: %s", path_.c_str(), std::strerror(errno));
  LOG_WARN("space reserve %s: %s; holding %llu of %llu bytes until there is room", path_.c_str(), std::strerror(err),
           static_cast<unsigned long long>(size), static_cast<unsigned long long>(bytes_));
}

}  // namespace amberfs
