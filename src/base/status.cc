#include "amberfs/status.h"

#include <cstring>

namespace amberfs {

Status Status::Error(int err, std::string message) {
  Status s;
  s.code_ = err > 0 ? err : EIO;
  s.message_ = std::move(message);
  return s;
}

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Error(err, std::move(msg));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  const char* name = strerrorname_np(code_);
  return message_ + " (errno " + std::to_string(code_) + " " + (name ? name : "?") + ")";
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Error(code_, std::move(msg));
}

}  // namespace amberfs
