#include "volume/ctl.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace amberfs {

Result<std::vector<std::string>> ParseCtlCommand(std::string_view raw) {
  if (raw.size() > kMaxCtlCommand) {
    return Status::Error(EINVAL, "command longer than " + std::to_string(kMaxCtlCommand) + " bytes");
  }
  if (!raw.empty() && raw.back() == '\n') raw.remove_suffix(1);
  std::vector<std::string> words;
  std::string word;
  for (char ch : raw) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else if (c < 0x20 || c == 0x7f) {
      return Status::Error(EINVAL, c == '\n' ? "one command per write, please (found a newline inside)"
                                             : "command contains a control character");
    } else {
      word += ch;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty()) return Status::Error(EINVAL, "empty command (try 'help')");
  return words;
}

std::string EscapeCtlText(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::chrono::milliseconds> ParseCtlTimeout(std::string_view text) {
  auto bad = [&] {
    return Status::Error(EINVAL, "bad timeout '" + EscapeCtlText(text) +
                                     "' (seconds, or a number with ms, s or m; at most 7 days)");
  };
  const uint64_t max_ms = static_cast<uint64_t>(kMaxCtlTimeout.count());
  size_t digits = 0;
  uint64_t n = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    n = n * 10 + static_cast<uint64_t>(text[digits] - '0');
    if (n > max_ms) return bad();  // over the maximum in any unit; stops before n can overflow
    ++digits;
  }
  if (digits == 0) return bad();
  const std::string_view unit = text.substr(digits);
  uint64_t ms_per_unit;
  if (unit.empty() || unit == "s") ms_per_unit = 1000;
  else if (unit == "ms") ms_per_unit = 1;
  else if (unit == "m") ms_per_unit = 60 * 1000;
  else return bad();
  if (n > max_ms / ms_per_unit) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(n * ms_per_unit));
}

Status WaitCancellable(const CtlContext& ctx, std::chrono::milliseconds timeout,
                       const std::function<Status(std::chrono::milliseconds)>& attempt,
                       std::chrono::milliseconds slice) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (ctx.Cancelled()) return Status::Error(EINTR, "interrupted");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    Status st = attempt(std::clamp(left, std::chrono::milliseconds(0), slice));
    if (st.code() != ETIMEDOUT) return st;
    if (Clock::now() >= deadline) return st;
  }
}

CtlDispatcher::CtlDispatcher() {
  Register("help", "help", 0, 0, [this](const std::vector<std::string>&) -> Result<std::string> {
    std::string text = "commands:";
    for (const auto& [name, cmd] : commands_) text += "\n  " + cmd.usage;
    return text;
  });
}

void CtlDispatcher::Register(const std::string& name, const std::string& usage, size_t min_args,
                             size_t max_args, Handler handler) {
  RegisterCancellable(name, usage, min_args, max_args,
                      [handler = std::move(handler)](const std::vector<std::string>& args, const CtlContext&) {
                        return handler(args);
                      });
}

void CtlDispatcher::RegisterCancellable(const std::string& name, const std::string& usage, size_t min_args,
                                        size_t max_args, CancellableHandler handler) {
  commands_[name] = Command{usage, min_args, max_args, std::move(handler)};
}

CtlOutcome CtlDispatcher::Execute(std::string_view raw) const { return Execute(raw, CtlContext()); }

CtlOutcome CtlDispatcher::Execute(std::string_view raw, const CtlContext& ctx) const {
  auto fail = [](Status st) { return CtlOutcome{st, "error: " + EscapeCtlText(st.message()) + "\n"}; };
  Result<std::vector<std::string>> words = ParseCtlCommand(raw);
  if (!words.ok()) return fail(words.status());
  const std::string& name = words->front();
  auto it = commands_.find(name);
  if (it == commands_.end()) {
    return fail(Status::Error(EINVAL, "unknown command '" + EscapeCtlText(name) + "' (try 'help')"));
  }
  std::vector<std::string> args(words->begin() + 1, words->end());
  const Command& cmd = it->second;
  if (args.size() < cmd.min_args || args.size() > cmd.max_args) {
    return fail(Status::Error(EINVAL, "usage: " + cmd.usage));
  }
  Result<std::string> reply = cmd.handler(args, ctx);
  if (!reply.ok()) {
    const Status& st = reply.status();
    return fail(Status::Error(st.code(), name + ": " + EscapeCtlText(st.message())));
  }
  std::string text = reply->empty() ? "ok" : *reply;
  if (text.back() != '\n') text += '\n';
  return CtlOutcome{Status::OK(), std::move(text)};
}

}  // namespace amberfs
