// FaultFileOps: a FileOps (base/durable_file.h) that fails chosen system
// calls, for tests of what durable writes do on EIO, ENOSPC and the like.
//
//   Fail(call, errno, times, skip): after `skip` more calls of `call` reach
//     the system, the next `times` fail with errno (times < 0: until
//     Clear()); the others reach the system.
//   Calls(call): how many calls of `call` were made, failed or not.
// Install it for a scope with ScopedFileOps; it then applies to every thread,
// so keep background threads that write files out of such a scope.
//
// Header-only; thread-safe (one mutex, never held across a system call).
#pragma once

#include <cerrno>
#include <map>
#include <mutex>

#include "base/durable_file.h"

namespace amberfs::testing {

class FaultFileOps : public FileOps {
 public:
  enum class Call { kPwrite, kFsync, kFdatasync, kSyncfs, kRename };

  void Fail(Call call, int err, int times = -1, int skip = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[call] = Fault{err, times, skip};
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
  }
  int Calls(Call call) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(call);
    return it == calls_.end() ? 0 : it->second;
  }

  ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset) override {
    if (int err = Take(Call::kPwrite)) return Failed(err);
    return FileOps::Pwrite(fd, data, size, offset);
  }
  int Fsync(int fd) override {
    if (int err = Take(Call::kFsync)) return Failed(err);
    return FileOps::Fsync(fd);
  }
  int Fdatasync(int fd) override {
    if (int err = Take(Call::kFdatasync)) return Failed(err);
    return FileOps::Fdatasync(fd);
  }
  int Syncfs(int fd) override {
    if (int err = Take(Call::kSyncfs)) return Failed(err);
    return FileOps::Syncfs(fd);
  }
  int Rename(const char* from, const char* to, unsigned flags) override {
    if (int err = Take(Call::kRename)) return Failed(err);
    return FileOps::Rename(from, to, flags);
  }

 private:
  struct Fault {
    int err = 0;
    int times = 0;
    int skip = 0;
  };

  // The errno to fail this call with, or 0 to let it through.
  int Take(Call call) {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_[call];
    auto it = faults_.find(call);
    if (it == faults_.end() || it->second.times == 0) return 0;
    if (it->second.skip > 0) {
      --it->second.skip;
      return 0;
    }
    if (it->second.times > 0) --it->second.times;
    return it->second.err;
  }
  static int Failed(int err) {
    errno = err;
    return -1;
  }

  mutable std::mutex mu_;
  std::map<Call, Fault> faults_;
  std::map<Call, int> calls_;
};

}  // namespace amberfs::testing
