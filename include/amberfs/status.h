// Status: the result of an operation that can fail, as an errno plus a message.
//
// The core never throws across module boundaries; every fallible call returns a
// Status (or a Result<T>, which is a Status or a value). The errno is what the
// FUSE frontend hands back to the kernel (negated), so pick it to mean
// something to the caller: EINVAL for bad input, ENOENT for a missing object,
// EIO for a device failure, ESHUTDOWN for a closed object, and so on.
// The message says what failed and where, for logs and for the ctl reply.
//
// Thread-safety: a Status is a value; copies are independent.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace amberfs {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status OK() { return Status(); }
  // An error with the given errno (must be > 0) and message.
  static Status Error(int err, std::string message);
  // An error from a failed syscall: "<context>: <strerror(err)>".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }  // errno; 0 when ok
  const std::string& message() const { return message_; }
  // "OK" or "<message> (errno N NAME)".
  std::string ToString() const;

  // Returns a copy of this error whose message is prefixed with "<context>: ".
  Status Annotate(std::string_view context) const;

  // Marks a Status as deliberately ignored, with a reason in the code.
  void IgnoreError() const {}

 private:
  int code_ = 0;
  std::string message_;
};

// A value or an error. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Error(EINVAL, "Result built from an OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace amberfs

// Returns from the enclosing function if the expression is an error.
#define AMBER_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::amberfs::Status _amber_st = (expr);      \
    if (!_amber_st.ok()) return _amber_st;     \
  } while (0)

#define AMBER_CONCAT_INNER(a, b) a##b
#define AMBER_CONCAT(a, b) AMBER_CONCAT_INNER(a, b)
// AMBER_ASSIGN_OR_RETURN(auto x, MakeX()) — declares x from a Result or returns its error.
#define AMBER_ASSIGN_OR_RETURN(decl, expr) \
  AMBER_ASSIGN_OR_RETURN_IMPL(AMBER_CONCAT(_amber_res_, __LINE__), decl, expr)
#define AMBER_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  decl = std::move(tmp).value()
