// FaultFileOps: a FileOps (base/durable_file.h) that fails chosen system
// calls, for tests of what durable writes do on EIO, ENOSPC and the like.
//
//   Fail(call, errno, times, skip): after `skip` more calls of `call` reach
//     the system, the next `times` fail with errno (times < 0: until
//     Clear()); the others reach the system.
//   ShortWrites(bytes, times): the next `times` Pwrites that reach the
//     system write at most `bytes` (a short write, as a full disk or a
//     signal can make); the caller must come back for the rest.
//   HoldPwrites(n): the next n Pwrites that reach the system wait (the
//     mutex released) until ReleaseHeld(); Held() says how many wait now.
//     For a writer whose background thread must be stuck mid-write.
//   Calls(call): how many calls of `call` were made, failed or not.
// Install it for a scope with ScopedFileOps; it then applies to every thread,
// so keep background threads that write files out of such a scope.
//
// Header-only; thread-safe (one mutex, never held across a system call or a
// held Pwrite's wait).
#pragma once

#include <cerrno>
#include <condition_variable>
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
  void ShortWrites(size_t bytes, int times) {
    std::lock_guard<std::mutex> lock(mu_);
    short_bytes_ = bytes;
    short_times_ = times;
  }
  void HoldPwrites(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = n;
    released_ = false;
  }
  void ReleaseHeld() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = 0;
      released_ = true;
    }
    released_cv_.notify_all();
  }
  int Held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
    short_times_ = 0;
  }
  int Calls(Call call) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(call);
    return it == calls_.end() ? 0 : it->second;
  }

  ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset) override {
    if (int err = Take(Call::kPwrite)) return Failed(err);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (hold_ > 0) {
        --hold_;
        ++held_;
        released_cv_.wait(lock, [&] { return released_; });
        --held_;
      }
      if (short_times_ > 0 && size > short_bytes_) {
        --short_times_;
        size = short_bytes_;
      }
    }
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
  size_t short_bytes_ = 0;
  int short_times_ = 0;
  int hold_ = 0;   // Pwrites still to hold
  int held_ = 0;   // Pwrites waiting now
  bool released_ = false;
  std::condition_variable released_cv_;
};

}  // namespace amberfs::testing
