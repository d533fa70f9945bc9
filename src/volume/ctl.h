// CtlDispatcher: the commands written to the mount's `ctl` file.
//
// One write(2) is one command: words separated by spaces or tabs, with at most
// one trailing newline (so `echo flush > ctl` works). Anything else that is a
// control character, an empty command, or more than kMaxCtlCommand bytes is
// malformed. Execute() returns the outcome and the reply text the frontend
// keeps for read(2) on the same open file: the handler's reply (or "ok") on
// success, "error: <message>" on failure; replies always end with a newline.
// An unknown command, a malformed one and a wrong number of arguments are
// EINVAL and change nothing; a handler's own error keeps its errno (EIO,
// ENOENT, EBUSY, ...). `help` is built in and lists the commands. Error
// messages quote the user's words through EscapeCtlText, so no control or
// high byte from a command reaches a reply or a log line.
//
// Waiting commands (`drain`) are registered with RegisterCancellable: their
// handler gets the request's CtlContext and stops waiting, with EINTR, once
// Cancelled() is true (the writer was interrupted by a signal, or the mount
// is going away). WaitCancellable does that for a handler that waits in
// slices; ParseCtlTimeout reads a TIMEOUT argument.
//
// Later layers add their commands (snapshot, drain, delete, rollback, gc) with
// Register() before the mount starts serving.
//
// Thread-safety: Register() only before Execute() is first called; Execute()
// may then run from many threads at once (handlers must be thread-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

inline constexpr size_t kMaxCtlCommand = 4096;

struct CtlOutcome {
  Status status;
  std::string reply;
};

// What a handler may ask about the request it serves. The default is never
// cancelled (a caller with no request behind it, such as a test).
class CtlContext {
 public:
  virtual ~CtlContext() = default;
  virtual bool Cancelled() const { return false; }
};

class CtlDispatcher {
 public:
  // args excludes the command name. The returned text is the reply ("" = "ok").
  using Handler = std::function<Result<std::string>(const std::vector<std::string>& args)>;
  using CancellableHandler =
      std::function<Result<std::string>(const std::vector<std::string>& args, const CtlContext& ctx)>;

  CtlDispatcher();
  // `usage` is shown by help and in arity errors, e.g. "snapshot [NAME]".
  void Register(const std::string& name, const std::string& usage, size_t min_args, size_t max_args,
                Handler handler);
  void RegisterCancellable(const std::string& name, const std::string& usage, size_t min_args, size_t max_args,
                           CancellableHandler handler);
  CtlOutcome Execute(std::string_view raw) const;
  CtlOutcome Execute(std::string_view raw, const CtlContext& ctx) const;

 private:
  struct Command {
    std::string usage;
    size_t min_args;
    size_t max_args;
    CancellableHandler handler;
  };
  std::map<std::string, Command, std::less<>> commands_;
};

// Splits one command into words, or says why it is malformed (EINVAL).
Result<std::vector<std::string>> ParseCtlCommand(std::string_view raw);

// `text` with every control byte (below 0x20, and 0x7f) and every byte from
// 0x80 up written as \xNN, for logs and replies. Printable ASCII, backslash
// included, stays as it is, so escaping escaped text changes nothing.
std::string EscapeCtlText(std::string_view text);

// The longest TIMEOUT a ctl command takes. A bound far below what a clock's
// time point can hold keeps "now + timeout" from overflowing.
inline constexpr std::chrono::milliseconds kMaxCtlTimeout = std::chrono::hours(24 * 7);

// A ctl TIMEOUT argument: a number of seconds ("30"), or a number with a unit
// "ms", "s" or "m" ("500ms", "2m"), at most kMaxCtlTimeout. EINVAL for
// anything else.
Result<std::chrono::milliseconds> ParseCtlTimeout(std::string_view text);

// Calls attempt(slice) with slices of at most `slice` until it returns
// anything but ETIMEDOUT, the timeout has passed (then its last ETIMEDOUT),
// or ctx is cancelled between two attempts (EINTR).
Status WaitCancellable(const CtlContext& ctx, std::chrono::milliseconds timeout,
                       const std::function<Status(std::chrono::milliseconds)>& attempt,
                       std::chrono::milliseconds slice = std::chrono::milliseconds(100));

}  // namespace amberfs
