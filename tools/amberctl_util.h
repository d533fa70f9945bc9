// Small helpers shared by amberctl's commands: an owned file descriptor,
// UTC times (sizes: amberfs/text_format.h), and the message conventions
// (errors on stderr as "amberctl: ...", exit 1; usage errors exit 2).
//
// amberctl is one program made of header-only parts (tools/amberctl_*.h),
// each included once by tools/amberctl.cc: the build makes one program of
// each tools/*.cc.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include "amberfs/text_format.h"

namespace amberctl {

using amberfs::HumanBytes;
using amberfs::JsonString;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Prints "amberctl: <message>" on stderr and returns kExitFailed.
inline int Fail(const std::string& message) {
  std::fprintf(stderr, "amberctl: %s\n", message.c_str());
  return kExitFailed;
}

// UTC "YYYY-MM-DDTHH:MM:SSZ" of nanoseconds since 1970.
inline std::string UtcTime(uint64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000ull);
  tm utc;
  gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace amberctl
