// BatchIO: positional reads, writes and fdatasync, submitted in batches.
//
// Two backends implement this contract:
//   - io_uring (liburing): a batch goes to the kernel with one io_uring_enter
//     where the ring has room; LinkedWriteFsync links the fdatasync behind the
//     writes with IOSQE_IO_LINK, so it runs only after every write succeeded,
//     and a cancelled fdatasync (because a write failed) is a failure.
//   - plain: pread/pwrite/fdatasync, one syscall per op.
//
// Every op is carried to completion: a short read or write is resubmitted for
// the remainder until done; a read that meets end of file is an error (EIO,
// "short read"), never silently zero-filled. Zero-length ops are allowed and do
// nothing. A batch returns the first error it met (with the op's offset in the
// message); ops of a failed batch may or may not have reached the file, as with
// any failed write(2).
//
// Thread-safety: every method may be called from many threads at once. The
// io_uring backend keeps a small pool of rings and lends one to each call, so
// concurrent callers do not queue behind one another's I/O.
//
// OpenBatchIO(kUring) falls back to plain when io_uring cannot be set up (old
// kernel, seccomp, io_uring_disabled sysctl, RLIMIT_MEMLOCK). The fallback is
// never silent: it is logged at warn level and its reason is kept in
// fallback_reason() for `stats`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "amberfs/io_backend.h"
#include "amberfs/status.h"

namespace amberfs {

struct ReadOp {
  void* buf;
  size_t len;
  uint64_t offset;
};

struct WriteOp {
  const void* buf;
  size_t len;
  uint64_t offset;
};

class BatchIO {
 public:
  virtual ~BatchIO() = default;

  // "io_uring" or "plain": the backend actually in use.
  virtual const char* name() const = 0;
  // Why io_uring was not used, or "" when it is (or plain was asked for).
  virtual const std::string& fallback_reason() const = 0;

  virtual Status PreadBatch(int fd, std::span<const ReadOp> ops) = 0;
  virtual Status PwriteBatch(int fd, std::span<const WriteOp> ops) = 0;
  // fdatasync(fd).
  virtual Status Fsync(int fd) = 0;
  // Writes every op, then fdatasyncs, as one linked chain where the backend
  // can: the fdatasync runs only if every write succeeded. OK means all of the
  // data is durable.
  virtual Status LinkedWriteFsync(int fd, std::span<const WriteOp> ops) = 0;
  // Releases the rings. Further calls return ESHUTDOWN. Idempotent.
  virtual void Close() = 0;
};

// Opens the wanted backend, falling back from io_uring to plain as above.
// queue_depth bounds the ops in flight per ring (batches larger than that are
// submitted in several rounds).
std::unique_ptr<BatchIO> OpenBatchIO(IoBackend want, unsigned queue_depth = 64);

// The plain backend alone (tests and benchmarks compare against it).
std::unique_ptr<BatchIO> OpenPlainIO();
// The io_uring backend alone, or the reason it cannot be set up here.
Result<std::unique_ptr<BatchIO>> OpenUringIO(unsigned queue_depth = 64);

}  // namespace amberfs
