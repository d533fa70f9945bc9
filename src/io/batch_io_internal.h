// Pieces shared by the BatchIO backends (plain_io.cc, uring_io.cc) and the
// factory (batch_io.cc). Not part of the public contract.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "io/batch_io.h"
#include "amberfs/status.h"

namespace amberfs::io_internal {

// The plain backend, reporting `fallback_reason` (empty when plain was asked for).
std::unique_ptr<BatchIO> NewPlainIO(std::string fallback_reason);

inline Status ClosedError(const char* backend) {
  return Status::Error(ESHUTDOWN, std::string(backend) + " batch I/O is closed");
}

// A read that met end of file before its buffer was full.
inline Status ShortReadError(uint64_t offset) {
  return Status::Error(EIO, "short read at offset " + std::to_string(offset));
}

// A write that made no progress; the kernel never does this for a regular file
// or a block device, but looping on it would spin forever.
inline Status ZeroWriteError(uint64_t offset) {
  return Status::Error(EIO, "write made no progress at offset " + std::to_string(offset));
}

inline Status OpError(int err, const char* op, uint64_t offset) {
  return Status::FromErrno(err, std::string(op) + " at offset " + std::to_string(offset));
}

// Repeats `step(done, offset)` (a pread or pwrite of the rest) until `len`
// bytes are done; a signal interrupts nothing, end of file is an error.
template <typename Step>
Status TransferFully(bool is_read, size_t len, uint64_t offset, Step step) {
  size_t done = 0;
  while (done < len) {
    uint64_t at = offset + done;
    ssize_t n = step(done, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return OpError(errno, is_read ? "pread" : "pwrite", at);
    }
    if (n == 0) return is_read ? ShortReadError(at) : ZeroWriteError(at);
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace amberfs::io_internal
