// Durable-file helpers: the one set of routines amberfs uses to write files
// that must survive a crash, to read small files whole, and to name
// temporary files. Every caller gets the same crash behaviour:
//   PwriteAll / PreadFull finish short transfers and retry EINTR; an error is
//     a Status naming the path and the operation.
//   ReadSmallFile / ReadWholeFd read a whole file of at most max_size bytes
//     (EFBIG if larger); ReadSmallFile is ENOENT if the file is absent.
//   CreateSyncedFile writes `data` to a new file and fdatasyncs it. fdatasync
//     is enough: the file is new, so its size and block map (all that reading
//     it back needs) are written with the data; only timestamps are not.
//     From 1 MiB on, its whole 4 KiB blocks are written with O_DIRECT where
//     the file system allows it (no page-cache copy, no dirty pages that
//     other fsyncs on an ext4 must wait for).
//   WriteFileAndRename writes `data` to a temporary file in `dir` (named by
//     MakeTempName), syncs it and renames it to `name`. The rename is durable
//     only once the directory is synced: the caller does that, so that
//     several renames in one directory may share one FsyncDir.
//   WriteFileAtomic is WriteFileAndRename and FsyncDir: after a crash the file
//     holds the old bytes or the new bytes, never a mix and never nothing.
//     With no_replace the rename is RENAME_NOREPLACE and an existing `name` is
//     EEXIST with nothing changed.
//   RemoveDurably unlinks and fsyncs the directory (ENOENT if absent).
//   On any error the temporary file is removed again.
//
// Temporary names: MakeTempName gives ".tmp.<pid>.<counter>.<salt>", which no
// valid object name can take (blob names are hex, ref and snapshot names never
// start with '.') and no other writer (thread, process, host on NFS) picks.
// IsTempName recognises those and the ".tmp-<pid>-<n>" names of older
// versions, which existing volumes may still hold after a crash.
//
// Fault seam: every write, sync and rename here goes through FileOps. A test
// installs its own with ScopedFileOps to make some of them fail (EIO on
// fsync, ENOSPC on write, EXDEV on rename, ...); the rest call the system.
//
// Thread-safety: the functions are stateless; concurrent calls on different
// names are safe. Installing FileOps is for tests: one ScopedFileOps at a
// time, and the FileOps it installs must be safe for concurrent calls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "base/aligned_buffer.h"
#include "base/unique_fd.h"

namespace amberfs {

// The system calls behind durable writes, each with its system call's
// contract (-1 and errno on failure). The base class calls the system; a
// fault test overrides what it wants to fail.
class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual ssize_t Pwrite(int fd, const void* data, size_t size, off_t offset);
  virtual int Fsync(int fd);
  virtual int Fdatasync(int fd);
  virtual int Syncfs(int fd);
  virtual int Rename(const char* from, const char* to, unsigned flags);  // renameat2(2) in the cwd
};

// The FileOps in use: the system's unless a ScopedFileOps is alive.
FileOps& CurrentFileOps();

// Installs `ops` for its lifetime, then restores what was there (tests only).
class ScopedFileOps {
 public:
  explicit ScopedFileOps(FileOps* ops);
  ~ScopedFileOps();
  ScopedFileOps(const ScopedFileOps&) = delete;
  ScopedFileOps& operator=(const ScopedFileOps&) = delete;

 private:
  FileOps* const previous_;
};

inline constexpr size_t kNoSizeLimit = std::numeric_limits<size_t>::max();

Status PwriteAll(int fd, const void* data, size_t size, off_t offset, const std::string& what);
// Reads up to `size` bytes; returns how many were read (less only at end of file).
Result<size_t> PreadFull(int fd, void* data, size_t size, off_t offset, const std::string& what);
// Reads a whole file of at most max_size bytes (EFBIG if larger, ENOENT if absent).
Result<std::vector<uint8_t>> ReadSmallFile(const std::string& path, size_t max_size);
// Reads the open file from offset 0 to its end; `what` names it in errors.
Result<std::vector<uint8_t>> ReadWholeFd(int fd, size_t max_size, const std::string& what);
// A file opened to be read whole (O_RDONLY | O_CLOEXEC | extra_flags) and
// its size: ENOENT "<what> not found" if it is absent or not a regular file.
struct FileToRead {
  UniqueFd fd;
  uint64_t size = 0;
};
Result<FileToRead> OpenFileToRead(const std::string& path, int extra_flags, const std::string& what);
// Reads the whole file at `path` (at most max_size bytes: EBADMSG if larger;
// ENOENT "<what> not found" if absent) into *into, which is reused when it
// is large enough and replaced otherwise; returns the file's size, its bytes
// at into->data(). With O_DIRECT where the file system allows it: a file
// read once and sent on (a pack's upload) needs no page-cache copy, and a
// reused buffer no fresh pages (on a VM that hands free memory back to its
// host, touching a fresh GiB cost 0.7-1.1 s of CPU, a reused one 0.03 s).
Result<size_t> ReadFileInto(const std::string& path, size_t max_size, AlignedBuffer* into, const std::string& what);

// fdatasync / syncfs through FileOps; the error names `what`.
Status SyncFileData(int fd, const std::string& what);
Status SyncFilesystem(int fd, const std::string& what);
Status FsyncDir(const std::string& dir);
// Syncs the directory that holds `path` (made durable: its entry).
Status FsyncParentDir(const std::string& path);

// Creates `path` with mode 0600 (amberfs's files hold volume data and are
// private, like the volume directory; it must not exist; with
// replace_leftover an old file there is truncated instead), writes `data`
// and fdatasyncs it; returns the file, open for reading and writing. On an
// error the file is removed.
Result<UniqueFd> CreateSyncedFile(const std::string& path, std::span<const uint8_t> data,
                                  bool replace_leftover = false);
// renameat2 through FileOps; no_replace: EEXIST if `to` exists.
Status RenameFile(const std::string& from, const std::string& to, bool no_replace = false);
// Writes, syncs and renames into place; the caller then syncs `dir` (see above).
Status WriteFileAndRename(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                          bool no_replace);
Status WriteFileAtomic(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                       bool no_replace);
Status RemoveDurably(const std::string& dir, const std::string& name);

// A fresh temporary file name (no directory), see above.
std::string MakeTempName();
// Whether a directory entry is a temporary file (of this version or an older one).
bool IsTempName(std::string_view name);

}  // namespace amberfs
