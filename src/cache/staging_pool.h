// StagingPool: write-back staging buffers, kept for reuse. A fresh
// multi-megabyte allocation per round costs page faults on every round.
//
// Get(size) returns a buffer of at least `size` bytes, uninitialized: a kept
// one when size fits the pool's buffer size, else a new one. Put keeps a
// buffer of exactly the pool's size while fewer than two are kept, and frees
// any other.
//
// Thread-safety: Get and Put may be called from any thread; the pool's mutex
// is a leaf.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "base/aligned_buffer.h"

namespace amberfs {

class StagingPool {
 public:
  // Room for the two kept buffers up front: Put, called from a round's
  // destructor, then never allocates.
  StagingPool(size_t bytes, size_t alignment) : bytes_(bytes), alignment_(alignment) { free_.reserve(kKept); }
  StagingPool(const StagingPool&) = delete;
  StagingPool& operator=(const StagingPool&) = delete;

  AlignedBuffer Get(size_t size) {
    if (size <= bytes_) {
      std::lock_guard l(mu_);
      if (!free_.empty()) {
        AlignedBuffer b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    return AlignedBuffer::Uninitialized(std::max(size, bytes_), alignment_);
  }
  void Put(AlignedBuffer b) {
    std::lock_guard l(mu_);
    if (b.size() == bytes_ && free_.size() < kKept) free_.push_back(std::move(b));
  }

 private:
  static constexpr size_t kKept = 2;
  const size_t bytes_, alignment_;
  std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

}  // namespace amberfs
