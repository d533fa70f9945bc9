#include "crypto/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace amberfs {

Result<SecretBytes> ReadKeyFile(const std::string& path) {
  const std::string what = "key file " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, what);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, what);
  if (S_ISDIR(st.st_mode)) return Status::Error(EISDIR, what + ": is a directory");
  // Read into a fixed buffer one byte larger than the limit (a pipe or a
  // growing file has no trustworthy st_size), so no reallocation copies it.
  SecretBytes buf(kMaxKeyFileBytes + 1);
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd.get(), buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxKeyFileBytes)
    return Status::Error(EFBIG, what + ": over " + std::to_string(kMaxKeyFileBytes) + " bytes, not a passphrase file");
  if (got > 0 && buf.data()[got - 1] == '\n') --got;  // one trailing newline, as `echo` writes it
  if (got == 0) return Status::Error(EINVAL, what + ": the passphrase is empty");
  SecretBytes pass(std::span<const uint8_t>(buf.data(), got));
  return pass;
}

}  // namespace amberfs
