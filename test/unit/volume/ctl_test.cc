#include "volume/ctl.h"

#include <doctest/doctest.h>

#include <atomic>

using namespace amberfs;

TEST_CASE("ctl: parsing one command per write") {
  CHECK(ParseCtlCommand("flush\n").value() == std::vector<std::string>{"flush"});
  CHECK(ParseCtlCommand("flush").value() == std::vector<std::string>{"flush"});
  CHECK(ParseCtlCommand("  snapshot\tnightly \n").value() == std::vector<std::string>{"snapshot", "nightly"});
  for (std::string_view bad : {std::string_view(""), std::string_view("\n"), std::string_view("   \n"),
                               std::string_view("flush\n\n"), std::string_view("flush\nsnapshot\n"),
                               std::string_view("flu\0sh", 6), std::string_view("flush\r\n"),
                               std::string_view("\x1b[A")}) {
    CAPTURE(bad);
    CHECK(ParseCtlCommand(bad).status().code() == EINVAL);
  }
  CHECK(ParseCtlCommand(std::string(kMaxCtlCommand + 1, 'a')).status().code() == EINVAL);
  CHECK(ParseCtlCommand(std::string(kMaxCtlCommand, 'a')).ok());
}

TEST_CASE("ctl: dispatch, arity, errors and replies") {
  CtlDispatcher ctl;
  std::atomic<int> flushes{0};
  ctl.Register("flush", "flush", 0, 0, [&](const std::vector<std::string>&) -> Result<std::string> {
    ++flushes;
    return std::string();
  });
  ctl.Register("snapshot", "snapshot [NAME]", 0, 1, [](const std::vector<std::string>& a) -> Result<std::string> {
    if (!a.empty() && a[0] == "taken") return Status::Error(EEXIST, "snapshot 'taken' exists");
    return "snapshot " + (a.empty() ? std::string("default") : a[0]) + " committed";
  });

  CtlOutcome ok = ctl.Execute("flush\n");
  CHECK(ok.status.ok());
  CHECK(ok.reply == "ok\n");
  CHECK(flushes == 1);

  CtlOutcome named = ctl.Execute("snapshot nightly\n");
  CHECK(named.reply == "snapshot nightly committed\n");

  CtlOutcome unknown = ctl.Execute("frobnicate\n");
  CHECK(unknown.status.code() == EINVAL);
  CHECK(unknown.reply == "error: unknown command 'frobnicate' (try 'help')\n");

  CtlOutcome arity = ctl.Execute("flush now\n");
  CHECK(arity.status.code() == EINVAL);
  CHECK(arity.reply == "error: usage: flush\n");
  CHECK(flushes == 1);  // a refused command did nothing

  CtlOutcome failed = ctl.Execute("snapshot taken");
  CHECK(failed.status.code() == EEXIST);
  CHECK(failed.reply == "error: snapshot: snapshot 'taken' exists\n");

  CtlOutcome help = ctl.Execute("help\n");
  CHECK(help.status.ok());
  CHECK(help.reply.find("snapshot [NAME]") != std::string::npos);
  CHECK(help.reply.find("flush") != std::string::npos);

  CHECK(ctl.Execute("\n").status.code() == EINVAL);
}
