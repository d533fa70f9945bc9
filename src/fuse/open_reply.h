// ReplyOpen: answers an OPEN as fuse_reply_open does, optionally with
// FOPEN_PARALLEL_DIRECT_WRITES, which libfuse 3.14's fuse_file_info has no
// bit for.
//
// The kernel takes an inode's lock exclusively for each direct write unless
// the open reply carries FOPEN_PARALLEL_DIRECT_WRITES; with it (and
// FOPEN_DIRECT_IO, without which the kernel ignores it) a write that neither
// appends nor ends past EOF takes the lock shared, so concurrent writes to one
// file reach the daemon concurrently.
//
// libfuse 3.14's fuse_reply_open() is a zeroed `struct fuse_open_out` filled
// from fuse_file_info (fh; open_flags from direct_io, keep_cache,
// cache_readdir, nonseekable, noflush) sent by send_reply_ok(), and
// fuse_reply_buf() is send_reply_ok() of its bytes: sending our own
// fuse_open_out is the same message with one more flag. Its return value is
// fuse_reply_open's (-ENOENT: the opener was interrupted, no RELEASE follows).
//
// Header-only, so the benchmark's null server (bench/servers) uses it too.
#pragma once

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <linux/fuse.h>

#include <cstdint>
#include <cstring>

namespace amberfs::frontend {

// The open_flags of the reply to an open described by fi.
inline uint32_t OpenReplyFlags(const fuse_file_info& fi, bool parallel_direct_writes) {
  uint32_t flags = 0;
  if (fi.direct_io) flags |= FOPEN_DIRECT_IO;
  if (fi.keep_cache) flags |= FOPEN_KEEP_CACHE;
  if (fi.cache_readdir) flags |= FOPEN_CACHE_DIR;
  if (fi.nonseekable) flags |= FOPEN_NONSEEKABLE;
  if (fi.noflush) flags |= FOPEN_NOFLUSH;
  // Meaningless without direct I/O (the kernel drops it): only sent with it.
  if (parallel_direct_writes && fi.direct_io) flags |= FOPEN_PARALLEL_DIRECT_WRITES;
  return flags;
}

inline int ReplyOpen(fuse_req_t req, const fuse_file_info& fi, bool parallel_direct_writes) {
  fuse_open_out out;
  std::memset(&out, 0, sizeof out);
  out.fh = fi.fh;
  out.open_flags = OpenReplyFlags(fi, parallel_direct_writes);
  return fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof out);
}

}  // namespace amberfs::frontend
