// Pieces shared by the BatchIO backends (plain_io.cc, uring_io.cc) and the
// factory (batch_io.cc). Not part of the public contract.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "amberfs/batch_io.h"
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

}  // namespace amberfs::io_internal
