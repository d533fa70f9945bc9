// Durable small-file helpers: complete reads and writes, and atomic replace.
//
// The local metadata files of a volume (change-tracker state, catalog entries)
// are written with these so that every caller gets the same crash behaviour:
//   PwriteAll / PreadFull finish short transfers and retry EINTR; an error is
//     a Status naming the path and the operation.
//   WriteFileAtomic writes `data` to a temporary file in the same directory
//     (a name starting with ".tmp-", which no valid object name can take),
//     fsyncs it, renames it over `name` and fsyncs the directory, so after a
//     crash the file holds the old bytes or the new bytes, never a mix and
//     never nothing. With no_replace the rename is RENAME_NOREPLACE and an
//     existing `name` is EEXIST with nothing changed.
//   RemoveDurably unlinks and fsyncs the directory (ENOENT if absent).
//
// Thread-safety: stateless functions; concurrent calls on different names are
// safe; the temporary name includes the pid and a process-wide counter.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

Status PwriteAll(int fd, const void* data, size_t size, off_t offset, const std::string& what);
// Reads up to `size` bytes; returns how many were read (less only at end of file).
Result<size_t> PreadFull(int fd, void* data, size_t size, off_t offset, const std::string& what);
// Reads a whole file of at most max_size bytes (EFBIG if larger, ENOENT if absent).
Result<std::vector<uint8_t>> ReadSmallFile(const std::string& path, size_t max_size);
Status FsyncDir(const std::string& dir);
Status WriteFileAtomic(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                       bool no_replace);
Status RemoveDurably(const std::string& dir, const std::string& name);

}  // namespace amberfs
