// UniqueFd: owns one file descriptor and closes it on destruction.
//
// Move-only. close(2) errors on destruction are ignored because there is
// nothing left to do with them; code that must know whether data reached the
// disk calls fdatasync first, which reports the error. Close() exists for the
// places that want the close(2) result anyway.
#pragma once

#include <unistd.h>

#include <utility>

#include "amberfs/status.h"

namespace amberfs {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now and reports close(2)'s result.
  Status Close() {
    int fd = Release();
    if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno(errno, "close");
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

}  // namespace amberfs
