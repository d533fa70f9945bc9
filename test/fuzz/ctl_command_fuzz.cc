// Fuzz target: the control file's commands (ParseCtlCommand and
// CtlDispatcher::Execute), the bytes any local process may write to ctl.
//
// Invariants: a parse gives non-empty words free of blanks and control
// characters, and joining them with single spaces parses back to the same
// words; Execute's reply always ends with a newline, starts with "error: "
// exactly when the status is an error, and every malformed command, unknown
// command or wrong argument count is EINVAL. The dispatcher carries the
// mount's command table with handlers that run the real argument checks
// (snapshot names, log levels, the drain TIMEOUT through ParseCtlTimeout and
// WaitCancellable). Each word is also fed to ParseCtlTimeout on its own: it
// is EINVAL or a duration of at most kMaxCtlTimeout that the digits and unit
// spell.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "snapshot/snapshot_record.h"
#include "volume/ctl.h"

using namespace amberfs;

namespace {

Result<std::string> NameArg(const std::vector<std::string>& args) {
  if (args.empty()) return std::string("unnamed");
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(args[0]));
  return args[0];
}

const CtlDispatcher& Dispatcher() {
  static CtlDispatcher* d = [] {
    auto* ctl = new CtlDispatcher();
    ctl->Register("flush", "flush", 0, 0, [](const std::vector<std::string>&) -> Result<std::string> { return std::string(); });
    ctl->Register("loglevel", "loglevel [error|warn|info|debug]", 0, 1,
                  [](const std::vector<std::string>& args) -> Result<std::string> {
                    LogLevel level;
                    if (!args.empty() && !ParseLogLevel(args[0], &level))
                      return Status::Error(EINVAL, "unknown level '" + args[0] + "'");
                    return std::string("loglevel info\n");
                  });
    ctl->Register("snapshot", "snapshot [NAME]", 0, 1, NameArg);
    // As the mount's drain: the real TIMEOUT parser, then the real wait
    // (its deadline is now + timeout), with a slow store already drained.
    ctl->RegisterCancellable("drain", "drain [TIMEOUT]", 0, 1,
                             [](const std::vector<std::string>& args, const CtlContext& ctx) -> Result<std::string> {
                               std::chrono::milliseconds timeout(300000);
                               if (!args.empty()) {
                                 AMBER_ASSIGN_OR_RETURN(timeout, ParseCtlTimeout(args[0]));
                               }
                               AMBER_RETURN_IF_ERROR(WaitCancellable(ctx, timeout, [](std::chrono::milliseconds slice) {
                                 FUZZ_CHECK(slice.count() >= 0, "a negative wait slice");
                                 return Status::OK();
                               }));
                               return std::string("drained");
                             });
    ctl->Register("delete", "delete NAME", 1, 1, NameArg);
    ctl->Register("rollback", "rollback NAME", 1, 1, NameArg);
    ctl->Register("gc", "gc", 0, 0, [](const std::vector<std::string>&) -> Result<std::string> {
      return Status::Error(EBUSY, "busy");
    });
    return ctl;
  }();
  return *d;
}

bool Blank(char c) { return c == ' ' || c == '\t'; }

// What ParseCtlTimeout must make of `text`, worked out apart: the digits
// (no sign, no blank) and one of the units; nullopt for anything else.
std::optional<long double> ExpectedTimeoutMs(std::string_view text) {
  size_t digits = 0;
  long double n = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') n = n * 10 + (text[digits++] - '0');
  if (digits == 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  if (unit.empty() || unit == "s") return n * 1000;
  if (unit == "ms") return n;
  if (unit == "m") return n * 60000;
  return std::nullopt;
}

void CheckTimeout(std::string_view text) {
  Result<std::chrono::milliseconds> t = ParseCtlTimeout(text);
  const std::optional<long double> want = ExpectedTimeoutMs(text);
  if (!t.ok()) {
    FUZZ_CHECK(t.status().code() == EINVAL, "ParseCtlTimeout: " + t.status().ToString());
    FUZZ_CHECK(!want || *want > kMaxCtlTimeout.count(), "a well-formed timeout within the maximum was refused");
    for (char c : t.status().message()) FUZZ_CHECK(c >= 0x20 && c < 0x7f, "an unescaped byte in a timeout error");
    return;
  }
  FUZZ_CHECK(want.has_value(), "a malformed timeout was accepted");
  FUZZ_CHECK(t->count() >= 0 && *t <= kMaxCtlTimeout, "a timeout over the maximum was accepted");
  FUZZ_CHECK(static_cast<long double>(t->count()) == *want, "a timeout parsed to the wrong value");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  const std::string_view raw = fuzz::AsText({data, size});

  Result<std::vector<std::string>> words = ParseCtlCommand(raw);
  if (words.ok()) {
    FUZZ_CHECK(!words->empty(), "a parsed command has no words");
    size_t total = 0;
    std::string joined;
    for (const std::string& w : *words) {
      FUZZ_CHECK(!w.empty(), "an empty word");
      for (char c : w) {
        unsigned char u = static_cast<unsigned char>(c);
        FUZZ_CHECK(!Blank(c) && u >= 0x20 && u != 0x7f, "a blank or control character inside a word");
      }
      total += w.size();
      joined += (joined.empty() ? "" : " ") + w;
    }
    FUZZ_CHECK(total <= raw.size(), "words longer than the command");
    for (const std::string& w : *words) CheckTimeout(w);
    Result<std::vector<std::string>> again = ParseCtlCommand(joined);
    FUZZ_CHECK(again.ok() && *again == *words, "joined words do not parse back to themselves");
  } else {
    FUZZ_CHECK(words.status().code() == EINVAL, "a malformed command is not EINVAL: " + words.status().ToString());
  }

  CtlOutcome out = Dispatcher().Execute(raw);
  FUZZ_CHECK(!out.reply.empty() && out.reply.back() == '\n', "a reply without its final newline");
  FUZZ_CHECK(out.status.ok() != out.reply.starts_with("error: "), "reply and status disagree: " + out.reply);
  if (!words.ok()) FUZZ_CHECK(out.status.code() == EINVAL, "a malformed command was not refused with EINVAL");
  if (!out.status.ok() && out.status.code() != EINVAL)
    FUZZ_CHECK(words.ok() && words->front() == "gc", "only a handler's own error may be other than EINVAL");
  return 0;
}
