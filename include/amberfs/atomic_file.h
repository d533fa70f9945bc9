// Small whole-file helpers for local metadata (config, markers).
//
// WriteFileAtomic(path, bytes): writes `path.tmp`, fsyncs it, renames it over
// `path` and fsyncs the directory, so after a crash `path` holds either the old
// or the new bytes. SyncDirectory fsyncs a directory (after a create, rename or
// unlink inside it). ReadSmallTextFile reads a whole file up to `max_bytes`
// (EFBIG beyond). Errors carry the path.
//
// Thread-safety: no shared state; concurrent writers of one path must be
// serialized by the caller (they share the .tmp name).
#pragma once

#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

Status WriteFileAtomic(const std::string& path, std::string_view bytes, int mode = 0644);
Status SyncDirectory(const std::string& dir);
Result<std::string> ReadSmallTextFile(const std::string& path, size_t max_bytes = 1 << 20);
// The directory part of a path ("." when there is none).
std::string DirName(const std::string& path);

}  // namespace amberfs
