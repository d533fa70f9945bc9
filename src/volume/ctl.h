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
// ENOENT, EBUSY, ...). `help` is built in and lists the commands.
//
// Later layers add their commands (snapshot, drain, delete, rollback, gc) with
// Register() before the mount starts serving.
//
// Thread-safety: Register() only before Execute() is first called; Execute()
// may then run from many threads at once (handlers must be thread-safe).
#pragma once

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

class CtlDispatcher {
 public:
  // args excludes the command name. The returned text is the reply ("" = "ok").
  using Handler = std::function<Result<std::string>(const std::vector<std::string>& args)>;

  CtlDispatcher();
  // `usage` is shown by help and in arity errors, e.g. "snapshot [NAME]".
  void Register(const std::string& name, const std::string& usage, size_t min_args, size_t max_args,
                Handler handler);
  CtlOutcome Execute(std::string_view raw) const;

 private:
  struct Command {
    std::string usage;
    size_t min_args;
    size_t max_args;
    Handler handler;
  };
  std::map<std::string, Command, std::less<>> commands_;
};

// Splits one command into words, or says why it is malformed (EINVAL).
Result<std::vector<std::string>> ParseCtlCommand(std::string_view raw);

}  // namespace amberfs
