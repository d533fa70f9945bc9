#include "base/durable_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cstdio>
#include <random>

#include "base/aligned_buffer.h"

namespace amberfs {

namespace {

constexpr std::string_view kTempPrefix = ".tmp.";
// What versions before MakeTempName wrote (WriteFileAtomic's ".tmp-<pid>-<n>").
constexpr std::string_view kOldTempPrefix = ".tmp-";

FileOps& SystemFileOps() {
  static FileOps ops;
  return ops;
}

std::atomic<FileOps*> g_installed_ops{nullptr};

}  // namespace

ssize_t FileOps::Pwrite(int fd, const void* data, size_t size, off_t offset) {
  return ::pwrite(fd, data, size, offset);
}
int FileOps::Fsync(int fd) { return ::fsync(fd); }
int FileOps::Fdatasync(int fd) { return ::fdatasync(fd); }
int FileOps::Syncfs(int fd) { return ::syncfs(fd); }
int FileOps::Rename(const char* from, const char* to, unsigned flags) {
  return ::renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
}

FileOps& CurrentFileOps() {
  FileOps* installed = g_installed_ops.load(std::memory_order_acquire);
  return installed != nullptr ? *installed : SystemFileOps();
}

ScopedFileOps::ScopedFileOps(FileOps* ops) : previous_(g_installed_ops.exchange(ops, std::memory_order_acq_rel)) {}
ScopedFileOps::~ScopedFileOps() { g_installed_ops.store(previous_, std::memory_order_release); }

Status PwriteAll(int fd, const void* data, size_t size, off_t offset, const std::string& what) {
  FileOps& ops = CurrentFileOps();
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ops.Pwrite(fd, p, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    if (n == 0) return Status::Error(EIO, "write " + what + ": wrote nothing");
    p += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return Status::OK();
}

Result<size_t> PreadFull(int fd, void* data, size_t size, off_t offset, const std::string& what) {
  auto* p = static_cast<uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, p + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + what);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<FileToRead> OpenFileToRead(const std::string& path, int extra_flags, const std::string& what) {
  FileToRead file;
  file.fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags));
  if (!file.fd.valid()) {
    if (errno == ENOENT) return Status::Error(ENOENT, what + " not found");
    return Status::FromErrno(errno, "open " + path);
  }
  struct stat st;
  if (::fstat(file.fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return Status::Error(ENOENT, what + " not found (" + path + " is not a file)");
  file.size = static_cast<uint64_t>(st.st_size);
  return file;
}

Result<size_t> ReadFileInto(const std::string& path, size_t max_size, AlignedBuffer* into, const std::string& what) {
  constexpr size_t kAlign = 4096;
  bool direct = true;
  Result<FileToRead> file = OpenFileToRead(path, O_DIRECT, what);
  if (file.status().code() == EINVAL) {  // a file system without O_DIRECT
    direct = false;
    file = OpenFileToRead(path, 0, what);
  }
  if (!file.ok()) return file.status();
  UniqueFd& fd = file->fd;
  const size_t size = static_cast<size_t>(file->size);
  if (size > max_size)
    return Status::Error(EBADMSG, what + ": " + std::to_string(size) + " bytes, more than the " +
                                      std::to_string(max_size) + " allowed");
  // Whole aligned blocks: an O_DIRECT read ends at the end of the file.
  const size_t span = (size + kAlign - 1) / kAlign * kAlign;
  if (into->size() < span) *into = AlignedBuffer::Uninitialized(span, kAlign);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd.get(), into->data() + done, span - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && direct) {
      // The open took O_DIRECT but the reads are refused (or a short read
      // left an unaligned offset): the rest through the page cache.
      direct = false;
      fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
      continue;
    }
    if (n < 0) return Status::FromErrno(errno, "read " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (done != size) return Status::Error(EBADMSG, what + " changed size while read");
  return size;
}

Result<std::vector<uint8_t>> ReadWholeFd(int fd, size_t max_size, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + what);
  if (static_cast<uint64_t>(st.st_size) > max_size)
    return Status::Error(EFBIG, what + " is " + std::to_string(st.st_size) + " bytes, more than the " +
                                    std::to_string(max_size) + " allowed");
  // Read to the end even if the file grew since the fstat; one byte more
  // than the size says tells us that it did.
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  while (true) {
    AMBER_ASSIGN_OR_RETURN(size_t n, PreadFull(fd, data.data() + done, data.size() - done,
                                               static_cast<off_t>(done), what));
    done += n;
    if (done > max_size) return Status::Error(EFBIG, what + " grew past " + std::to_string(max_size) + " bytes");
    if (done < data.size()) break;  // end of file
    data.resize(data.size() + std::max<size_t>(data.size() / 2, 4096));
  }
  data.resize(done);
  return data;
}

Result<std::vector<uint8_t>> ReadSmallFile(const std::string& path, size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  return ReadWholeFd(fd.get(), max_size, path);
}

Status SyncFileData(int fd, const std::string& what) {
  if (CurrentFileOps().Fdatasync(fd) != 0) return Status::FromErrno(errno, "fdatasync " + what);
  return Status::OK();
}

Status SyncFilesystem(int fd, const std::string& what) {
  if (CurrentFileOps().Syncfs(fd) != 0) return Status::FromErrno(errno, "syncfs " + what);
  return Status::OK();
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open directory " + dir);
  if (CurrentFileOps().Fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

Status FsyncParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  return FsyncDir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
}

namespace {

// From this size on CreateSyncedFile writes the whole 4 KiB blocks with
// O_DIRECT. A slow store's 16 MiB pack written through the page cache cost
// the test VM more CPU than hashing it; and on ext4 (data=ordered) every
// small fsync elsewhere on the file system (a snapshot's catalog entry)
// waited for those dirty pages: 110 ms for a base file's fdatasync.
constexpr size_t kDirectWriteMin = size_t{1} << 20;
constexpr size_t kDirectAlign = 4096;
constexpr size_t kDirectBounce = size_t{1} << 20;

// Writes data at 0 of the new file `path` (fd open on it): the aligned part
// through a second, O_DIRECT descriptor from an aligned bounce buffer, the
// rest through fd. Where O_DIRECT is refused (tmpfs; EINVAL at any write,
// perhaps after part of it went through) everything from the refused piece
// on goes through fd.
Status WriteNewFile(int fd, const std::string& path, std::span<const uint8_t> data) {
  size_t done = 0;
  if (data.size() >= kDirectWriteMin) {
    UniqueFd direct(::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
    if (direct.valid()) {
      const size_t aligned = data.size() / kDirectAlign * kDirectAlign;
      AlignedBuffer bounce = AlignedBuffer::Uninitialized(kDirectBounce, kDirectAlign);
      while (done < aligned) {
        const size_t n = std::min(kDirectBounce, aligned - done);
        std::memcpy(bounce.data(), data.data() + done, n);
        Status st = PwriteAll(direct.get(), bounce.data(), n, static_cast<off_t>(done), path);
        if (st.code() == EINVAL) break;  // refused after all: the rest through fd
        AMBER_RETURN_IF_ERROR(st);
        done += n;
      }
    }
  }
  return PwriteAll(fd, data.data() + done, data.size() - done, static_cast<off_t>(done), path);
}

}  // namespace

Result<UniqueFd> CreateSyncedFile(const std::string& path, std::span<const uint8_t> data, bool replace_leftover) {
  const int create = replace_leftover ? O_CREAT | O_TRUNC : O_CREAT | O_EXCL;
  UniqueFd fd(::open(path.c_str(), O_RDWR | create | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "create " + path);
  Status st = WriteNewFile(fd.get(), path, data);
  if (st.ok()) st = SyncFileData(fd.get(), path);
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  return fd;
}

Status RenameFile(const std::string& from, const std::string& to, bool no_replace) {
  if (CurrentFileOps().Rename(from.c_str(), to.c_str(), no_replace ? RENAME_NOREPLACE : 0) == 0) return Status::OK();
  if (errno == EEXIST) return Status::Error(EEXIST, to + " exists already");
  return Status::FromErrno(errno, "rename " + from + " to " + to);
}

Status WriteFileAndRename(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                          bool no_replace) {
  const std::string temp = dir + "/" + MakeTempName();
  {
    AMBER_ASSIGN_OR_RETURN(UniqueFd fd, CreateSyncedFile(temp, data));
    if (Status closed = fd.Close(); !closed.ok()) {
      ::unlink(temp.c_str());
      return closed.Annotate(temp);
    }
  }
  Status renamed = RenameFile(temp, dir + "/" + name, no_replace);
  if (!renamed.ok()) ::unlink(temp.c_str());
  return renamed;
}

Status WriteFileAtomic(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                       bool no_replace) {
  AMBER_RETURN_IF_ERROR(WriteFileAndRename(dir, name, data, no_replace));
  return FsyncDir(dir);
}

Status RemoveDurably(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "remove " + path);
  return FsyncDir(dir);
}

std::string MakeTempName() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}() * 0x9e3779b97f4a7c15ull ^ std::random_device{}();
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*s%d.%llu.%016llx", static_cast<int>(kTempPrefix.size()), kTempPrefix.data(),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(salt));
  return buf;
}

bool IsTempName(std::string_view name) { return name.starts_with(kTempPrefix) || name.starts_with(kOldTempPrefix); }

}  // namespace amberfs
