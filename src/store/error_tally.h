// ErrorTally: how many errors the background work of a PairedStore has met
// (uploads, the upload marker, the upload log, eviction) and the last one,
// for Stats and for the errors the store returns (EAGAIN, ETIMEDOUT and EIO
// name the last one).
//
// Thread-safety: safe for concurrent calls. Its mutex is a leaf: the parts
// record errors while holding their own locks, and nothing else is ever
// taken under it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "amberfs/status.h"

namespace amberfs {

class ErrorTally {
 public:
  void Record(const Status& error) {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    last_ = error.ToString();
  }
  uint64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  // The last error, "" if none.
  std::string last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  // The last error, or "none", for a message.
  std::string LastForMessage() const {
    std::string last_error = last();
    return last_error.empty() ? "none" : last_error;
  }

 private:
  mutable std::mutex mu_;
  uint64_t count_ = 0;
  std::string last_;
};

}  // namespace amberfs
