// Device: the volume's backing image, a regular (usually sparse) file or a raw
// block device, opened read-write (or read-only) with optional O_DIRECT.
//
// The size is fixed at open: a regular file's st_size, a block device's
// BLKGETSIZE64. With O_DIRECT every buffer, offset and length handed to I/O on
// fd() must be a multiple of alignment() (the logical block size, at least
// 512; 4096 for regular files); callers use AlignedBuffer.
//
// Discard(offset, length) makes the range read back as zeros and frees its
// space: FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE on a file (any range); on a
// block device the same fallocate (a discard that guarantees zeroes), or
// BLKZEROOUT where the device cannot do that (zeroes written, nothing freed),
// and there the range must be a multiple of alignment() (EINVAL otherwise).
// Errors are returned, never dropped.
//
// Thread-safety: the object is immutable after Open; fd() may be used from
// many threads with positional I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "amberfs/status.h"
#include "base/unique_fd.h"

namespace amberfs {

struct DeviceOptions {
  bool direct = false;     // O_DIRECT
  bool read_only = false;  // O_RDONLY
  // When the image is opened without O_DIRECT and read-write: also open a
  // second descriptor with O_DIRECT, direct_fd(), for writes of scattered
  // blocks. Where the filesystem refuses O_DIRECT there is none (-1).
  bool direct_scattered_writes = false;
};

class Device {
 public:
  static Result<std::unique_ptr<Device>> Open(const std::string& path, const DeviceOptions& options);

  int fd() const { return fd_.get(); }
  // The same image opened with O_DIRECT, or -1 (see direct_scattered_writes).
  // Writes through it follow the O_DIRECT rules above. Linux keeps the page
  // cache of fd() coherent with them: a direct write first writes out and
  // afterwards drops the cached pages of its range.
  int direct_fd() const { return direct_fd_.get(); }
  uint64_t size() const { return size_; }
  bool is_block_device() const { return is_block_device_; }
  bool direct() const { return direct_; }
  bool read_only() const { return read_only_; }
  size_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }

  // Zeroes and frees [offset, offset+length). The range must lie inside the
  // device (EINVAL otherwise).
  Status Discard(uint64_t offset, uint64_t length) const;

 private:
  Device() = default;
  UniqueFd fd_;
  UniqueFd direct_fd_;
  uint64_t size_ = 0;
  bool is_block_device_ = false;
  bool direct_ = false;
  bool read_only_ = false;
  size_t alignment_ = 512;
  std::string path_;
};

}  // namespace amberfs
