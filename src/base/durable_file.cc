#include "base/durable_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "base/unique_fd.h"

namespace amberfs {

Status PwriteAll(int fd, const void* data, size_t size, off_t offset, const std::string& what) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, offset);
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

Result<std::vector<uint8_t>> ReadSmallFile(const std::string& path, size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (static_cast<uint64_t>(st.st_size) > max_size)
    return Status::Error(EFBIG, path + " is " + std::to_string(st.st_size) + " bytes, more than the " +
                                    std::to_string(max_size) + " allowed");
  // One byte more than expected tells us if the file grew under us.
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size) + 1);
  AMBER_ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), data.data(), data.size(), 0, path));
  if (n > max_size) return Status::Error(EFBIG, path + " grew past " + std::to_string(max_size) + " bytes");
  data.resize(n);
  return data;
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

Status WriteFileAtomic(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                       bool no_replace) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = dir + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string path = dir + "/" + name;
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::FromErrno(errno, "create " + tmp);
    Status st = PwriteAll(fd.get(), data.data(), data.size(), 0, tmp);
    if (st.ok() && ::fsync(fd.get()) != 0) st = Status::FromErrno(errno, "fsync " + tmp);
    if (st.ok()) st = fd.Close();
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  unsigned flags = no_replace ? RENAME_NOREPLACE : 0;
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), flags) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return Status::Error(EEXIST, path + " exists already");
    return Status::FromErrno(err, "rename " + tmp + " to " + path);
  }
  return FsyncDir(dir);
}

Status RemoveDurably(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "remove " + path);
  return FsyncDir(dir);
}

}  // namespace amberfs
