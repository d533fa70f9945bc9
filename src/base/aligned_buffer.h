// AlignedBuffer: a heap buffer whose address is aligned for O_DIRECT I/O.
//
// Move-only owner of memory from posix_memalign, freed on destruction.
// Contents start zeroed, except from Uninitialized() (for buffers that are
// about to be filled whole, where zeroing would only cost time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace amberfs {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(size_t size, size_t alignment = 4096) : AlignedBuffer(size, alignment, true) {}
  static AlignedBuffer Uninitialized(size_t size, size_t alignment = 4096) { return AlignedBuffer(size, alignment, false); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  AlignedBuffer(size_t size, size_t alignment, bool zero) : size_(size) {
    if (size == 0) return;
    void* p = nullptr;
    if (posix_memalign(&p, alignment, size) != 0) throw std::bad_alloc();
    if (zero) std::memset(p, 0, size);
    data_ = static_cast<uint8_t*>(p);
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace amberfs
