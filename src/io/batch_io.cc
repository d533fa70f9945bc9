// OpenBatchIO: picks the backend, and makes the io_uring -> plain fallback
// loud (a warning now, fallback_reason() for `stats` later).
#include <cstdlib>
#include <cstring>

#include "amberfs/log.h"
#include "io/batch_io_internal.h"

namespace amberfs {

std::unique_ptr<BatchIO> OpenBatchIO(IoBackend want, unsigned queue_depth) {
  if (want == IoBackend::kPlain) return OpenPlainIO();

  std::string reason;
  // Lets tests (and users on a kernel whose io_uring misbehaves) force the
  // fallback path without needing a seccomp profile.
  const char* disable = std::getenv("AMBERFS_DISABLE_URING");
  if (disable != nullptr && *disable != '\0' && std::strcmp(disable, "0") != 0) {
    reason = "io_uring disabled by AMBERFS_DISABLE_URING";
  } else {
    Result<std::unique_ptr<BatchIO>> uring = OpenUringIO(queue_depth);
    if (uring.ok()) return std::move(uring).value();
    reason = uring.status().message();
  }
  LOG_WARN("falling back to plain pread/pwrite I/O: %s", reason.c_str());
  return io_internal::NewPlainIO(std::move(reason));
}

}  // namespace amberfs
