// The plain BatchIO backend: one pread/pwrite/fdatasync per op, on the calling
// thread. It is the fallback when io_uring cannot be set up and the baseline
// the io_uring backend is measured against.
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "io/batch_io_internal.h"

namespace amberfs {
namespace {

using io_internal::ClosedError;
using io_internal::TransferFully;

Status ReadFully(int fd, const ReadOp& op) {
  auto* buf = static_cast<char*>(op.buf);
  return TransferFully(true, op.len, op.offset,
                       [&](size_t done, off_t at) { return ::pread(fd, buf + done, op.len - done, at); });
}

Status WriteFully(int fd, const WriteOp& op) {
  auto* buf = static_cast<const char*>(op.buf);
  return TransferFully(false, op.len, op.offset,
                       [&](size_t done, off_t at) { return ::pwrite(fd, buf + done, op.len - done, at); });
}

class PlainIO final : public BatchIO {
 public:
  explicit PlainIO(std::string fallback_reason) : fallback_reason_(std::move(fallback_reason)) {}

  const char* name() const override { return "plain"; }
  const std::string& fallback_reason() const override { return fallback_reason_; }

  Status PreadBatch(int fd, std::span<const ReadOp> ops) override {
    if (closed_.load(std::memory_order_acquire)) return ClosedError(name());
    for (const ReadOp& op : ops) AMBER_RETURN_IF_ERROR(ReadFully(fd, op));
    return Status::OK();
  }

  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override {
    if (closed_.load(std::memory_order_acquire)) return ClosedError(name());
    for (const WriteOp& op : ops) AMBER_RETURN_IF_ERROR(WriteFully(fd, op));
    return Status::OK();
  }

  Status Fsync(int fd) override {
    if (closed_.load(std::memory_order_acquire)) return ClosedError(name());
    while (::fdatasync(fd) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "fdatasync");
    }
    return Status::OK();
  }

  // Without a kernel-side link the same guarantee comes from program order:
  // the fdatasync is issued only after every write returned success.
  Status LinkedWriteFsync(int fd, std::span<const WriteOp> ops) override {
    AMBER_RETURN_IF_ERROR(PwriteBatch(fd, ops));
    return Fsync(fd);
  }

  void Close() override { closed_.store(true, std::memory_order_release); }

 private:
  const std::string fallback_reason_;
  std::atomic<bool> closed_{false};
};

}  // namespace

namespace io_internal {
std::unique_ptr<BatchIO> NewPlainIO(std::string fallback_reason) {
  return std::make_unique<PlainIO>(std::move(fallback_reason));
}
}  // namespace io_internal

std::unique_ptr<BatchIO> OpenPlainIO() { return io_internal::NewPlainIO(""); }

}  // namespace amberfs
