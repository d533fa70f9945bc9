// Device: opening the image and discarding ranges of it.
#include "io/device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>

namespace amberfs {
namespace {

constexpr size_t kFileAlignment = 4096;

std::string OpenContext(const std::string& path, const DeviceOptions& options) {
  std::string context = "open " + path;
  if (options.direct) context += " with O_DIRECT";
  return context;
}

}  // namespace

Result<std::unique_ptr<Device>> Device::Open(const std::string& path, const DeviceOptions& options) {
  if (path.empty()) return Status::Error(EINVAL, "device path is empty");
  int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (options.direct) flags |= O_DIRECT;
  // O_NONBLOCK so that a FIFO given by mistake cannot hang the open; it is
  // cleared again once the file is known to be a regular file or a disk.
  int raw = ::open(path.c_str(), flags | O_NONBLOCK);
  if (raw < 0) {
    int err = errno;
    if (err == EISDIR) return Status::Error(EINVAL, path + " is a directory, not an image file or block device");
    std::string context = OpenContext(path, options);
    if (err == EINVAL && options.direct) context += " (does the filesystem support O_DIRECT?)";
    return Status::FromErrno(err, context);
  }
  std::unique_ptr<Device> dev(new Device());
  dev->fd_.Reset(raw);
  dev->path_ = path;
  dev->direct_ = options.direct;
  dev->read_only_ = options.read_only;

  struct stat st;
  if (::fstat(raw, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
  if (S_ISREG(st.st_mode)) {
    dev->size_ = static_cast<uint64_t>(st.st_size);
    dev->alignment_ = kFileAlignment;
  } else if (S_ISBLK(st.st_mode)) {
    dev->is_block_device_ = true;
    uint64_t bytes = 0;
    if (::ioctl(raw, BLKGETSIZE64, &bytes) != 0) return Status::FromErrno(errno, "BLKGETSIZE64 " + path);
    int sector = 0;
    if (::ioctl(raw, BLKSSZGET, &sector) != 0) return Status::FromErrno(errno, "BLKSSZGET " + path);
    dev->size_ = bytes;
    dev->alignment_ = std::max<size_t>(512, static_cast<size_t>(sector));
  } else {
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return Status::Error(EINVAL, path + " is " + kind + ", not an image file or block device");
  }

  int fl = ::fcntl(raw, F_GETFL);
  if (fl < 0 || ::fcntl(raw, F_SETFL, fl & ~O_NONBLOCK) != 0)
    return Status::FromErrno(errno, "fcntl(F_SETFL) " + path);
  if (options.direct_scattered_writes && !options.direct && !options.read_only) {
    // Through /proc/self/fd, so it is the very file just checked even if
    // the path was renamed meanwhile. EINVAL: no O_DIRECT on this filesystem.
    const std::string self = "/proc/self/fd/" + std::to_string(raw);
    dev->direct_fd_.Reset(::open(self.c_str(), O_CLOEXEC | O_RDWR | O_DIRECT));
  }
  return dev;
}

Status Device::Discard(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return Status::Error(EINVAL, "discard [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                     ") is outside " + path_ + " (size " + std::to_string(size_) + ")");
  }
  if (length == 0) return Status::OK();
  if (read_only_) return Status::Error(EBADF, "discard on " + path_ + ", which is open read-only");

  if (!is_block_device_) {
    while (::fallocate(fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(length)) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "punch hole in " + path_);
    }
    return Status::OK();
  }

  if (offset % alignment_ != 0 || length % alignment_ != 0) {
    return Status::Error(EINVAL, "discard [" + std::to_string(offset) + ", +" + std::to_string(length) + ") on " +
                                     path_ + " is not aligned to its " + std::to_string(alignment_) +
                                     "-byte sectors");
  }
  // On a block device, PUNCH_HOLE is a discard that guarantees zeroes (write
  // zeroes with unmap allowed, no fallback); where the device cannot do that,
  // BLKZEROOUT writes the zeroes, which keeps the promise but frees nothing.
  // Both drop the page cache for the range. BLKDISCARD alone would not promise
  // zeroes.
  if (::fallocate(fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0)
    return Status::OK();
  if (errno != EOPNOTSUPP && errno != ENOTSUP)
    return Status::FromErrno(errno, "discard (punch hole) on " + path_);
  uint64_t range[2] = {offset, length};
  if (::ioctl(fd(), BLKZEROOUT, range) != 0) return Status::FromErrno(errno, "BLKZEROOUT on " + path_);
  return Status::OK();
}

}  // namespace amberfs
