#include "volume/ctl.h"

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

CtlDispatcher::CtlDispatcher() {
  Register("help", "help", 0, 0, [this](const std::vector<std::string>&) -> Result<std::string> {
    std::string text = "commands:";
    for (const auto& [name, cmd] : commands_) text += "\n  " + cmd.usage;
    return text;
  });
}

void CtlDispatcher::Register(const std::string& name, const std::string& usage, size_t min_args,
                             size_t max_args, Handler handler) {
  commands_[name] = Command{usage, min_args, max_args, std::move(handler)};
}

CtlOutcome CtlDispatcher::Execute(std::string_view raw) const {
  auto fail = [](Status st) { return CtlOutcome{st, "error: " + st.message() + "\n"}; };
  Result<std::vector<std::string>> words = ParseCtlCommand(raw);
  if (!words.ok()) return fail(words.status());
  const std::string& name = words->front();
  auto it = commands_.find(name);
  if (it == commands_.end()) {
    return fail(Status::Error(EINVAL, "unknown command '" + name + "' (try 'help')"));
  }
  std::vector<std::string> args(words->begin() + 1, words->end());
  const Command& cmd = it->second;
  if (args.size() < cmd.min_args || args.size() > cmd.max_args) {
    return fail(Status::Error(EINVAL, "usage: " + cmd.usage));
  }
  Result<std::string> reply = cmd.handler(args);
  if (!reply.ok()) return fail(reply.status().Annotate(name));
  std::string text = reply->empty() ? "ok" : *reply;
  if (text.back() != '\n') text += '\n';
  return CtlOutcome{Status::OK(), std::move(text)};
}

}  // namespace amberfs
