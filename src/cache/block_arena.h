// BlockArena: the Conductor's block buffers, fixed-size slots carved out of
// one anonymous mapping, so the cache's memory is bounded by construction and
// buffers are page-aligned for O_DIRECT.
//
// Init maps blocks * block_size bytes (MAP_NORESERVE: untouched slots cost no
// memory) and frees every slot; memory it cannot have is ENOMEM, not an abort. Take hands out a free slot (false when none
// is left), Give returns one; data(slot) is its buffer. The mapping lives as
// long as the arena.
//
// Thread-safety: Take, Give and used() may be called from any thread; they
// take the arena's own mutex, a leaf (the Conductor calls them under a shard
// lock). Init must come first, on one thread. data() and capacity() take no
// lock: they read what Init set.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

class BlockArena {
 public:
  BlockArena() = default;
  ~BlockArena() {
    if (base_ != nullptr) munmap(base_, bytes_);
  }
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;

  Status Init(size_t blocks, size_t block_size) {
    bytes_ = blocks * block_size;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap block cache");
    base_ = static_cast<uint8_t*>(p);
    block_size_ = block_size;
    try {
      free_.reserve(blocks);
    } catch (const std::bad_alloc&) {
      return Status::Error(ENOMEM, "not enough memory for the free list of " + std::to_string(blocks) +
                                       " cache blocks");
    }
    for (size_t i = blocks; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
    capacity_ = blocks;
    return Status::OK();
  }
  bool Take(uint32_t* slot) {
    std::lock_guard l(mu_);
    if (free_.empty()) return false;
    *slot = free_.back();
    free_.pop_back();
    return true;
  }
  void Give(uint32_t slot) {
    std::lock_guard l(mu_);
    free_.push_back(slot);
  }
  size_t used() const {
    std::lock_guard l(mu_);
    return capacity_ - free_.size();
  }
  size_t capacity() const { return capacity_; }
  uint8_t* data(uint32_t slot) const { return base_ + size_t{slot} * block_size_; }

 private:
  mutable std::mutex mu_;
  std::vector<uint32_t> free_;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  size_t block_size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace amberfs
