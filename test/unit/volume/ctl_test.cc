#include "volume/ctl.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

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

TEST_CASE("ctl: user bytes in messages and logs are escaped") {
  CHECK(EscapeCtlText("snapshot a-b_c.1 \\x41") == "snapshot a-b_c.1 \\x41");
  CHECK(EscapeCtlText(std::string_view("a\x1b[2Jb\x7f\x9b\xff\n\0", 11)) == "a\\x1b[2Jb\\x7f\\x9b\\xff\\x0a\\x00");
  CHECK(EscapeCtlText(EscapeCtlText("\x01\xc3\xa9")) == EscapeCtlText("\x01\xc3\xa9"));  // idempotent

  CtlDispatcher ctl;
  ctl.Register("delete", "delete NAME", 1, 1, [](const std::vector<std::string>& a) -> Result<std::string> {
    return Status::Error(ENOENT, "no snapshot '" + a[0] + "'");
  });
  CtlOutcome unknown = ctl.Execute("fr\xc2\x9b" "31mob\n");
  CHECK(unknown.status.code() == EINVAL);
  CHECK(unknown.status.message() == "unknown command 'fr\\xc2\\x9b31mob' (try 'help')");
  CHECK(unknown.reply == "error: unknown command 'fr\\xc2\\x9b31mob' (try 'help')\n");
  CtlOutcome failed = ctl.Execute("delete \xe2\x80\xae" "evil\n");
  CHECK(failed.status.code() == ENOENT);
  CHECK(failed.status.message() == "delete: no snapshot '\\xe2\\x80\\xaeevil'");
  for (const std::string& text : {unknown.reply, failed.reply, failed.status.message()}) {
    for (char c : text) CHECK((c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)));
  }
}

TEST_CASE("ctl: TIMEOUT arguments") {
  using std::chrono::milliseconds;
  CHECK(ParseCtlTimeout("30").value() == milliseconds(30000));
  CHECK(ParseCtlTimeout("30s").value() == milliseconds(30000));
  CHECK(ParseCtlTimeout("500ms").value() == milliseconds(500));
  CHECK(ParseCtlTimeout("2m").value() == milliseconds(120000));
  CHECK(ParseCtlTimeout("0").value() == milliseconds(0));
  for (std::string_view bad : {"", "s", "-1", "1.5s", "10h", "1 s", "99999999999999999999", "5sec"}) {
    CAPTURE(bad);
    CHECK(ParseCtlTimeout(bad).status().code() == EINVAL);
  }
}

TEST_CASE("ctl: a TIMEOUT is at most 7 days, so now + timeout cannot overflow") {
  using std::chrono::milliseconds;
  CHECK(ParseCtlTimeout("604800").value() == kMaxCtlTimeout);
  CHECK(ParseCtlTimeout("10080m").value() == kMaxCtlTimeout);
  CHECK(ParseCtlTimeout("604800000ms").value() == kMaxCtlTimeout);
  // Each of these once parsed to a wait whose deadline overflowed the
  // steady clock (4294967295m is 2.6e21 ns).
  for (std::string_view bad : {"604801", "10081m", "604800001ms", "4294967295m", "42949672950s", "9999999999"}) {
    CAPTURE(bad);
    CHECK(ParseCtlTimeout(bad).status().code() == EINVAL);
  }
}

namespace {

class FlagContext : public CtlContext {
 public:
  bool Cancelled() const override { return cancelled.load(); }
  std::atomic<bool> cancelled{false};
};

}  // namespace

TEST_CASE("ctl: a waiting command stops when cancelled, and within its timeout") {
  using namespace std::chrono;
  FlagContext ctx;
  std::atomic<int> attempts{0};
  auto never_done = [&](milliseconds slice) {
    ++attempts;
    std::this_thread::sleep_for(slice);
    return Status::Error(ETIMEDOUT, "still waiting");
  };
  auto start = steady_clock::now();
  Status timed_out = WaitCancellable(ctx, milliseconds(300), never_done, milliseconds(50));
  auto took = steady_clock::now() - start;
  CHECK(timed_out.code() == ETIMEDOUT);
  CHECK(took >= milliseconds(300));
  CHECK(took < milliseconds(2000));
  CHECK(attempts >= 5);

  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(200));
    ctx.cancelled = true;
  });
  start = steady_clock::now();
  Status interrupted = WaitCancellable(ctx, hours(1), never_done, milliseconds(50));
  took = steady_clock::now() - start;
  canceller.join();
  CHECK(interrupted.code() == EINTR);
  CHECK(took < milliseconds(2000));

  ctx.cancelled = false;
  attempts = 0;
  Status done = WaitCancellable(ctx, hours(1), [&](milliseconds) {
    return ++attempts < 3 ? Status::Error(ETIMEDOUT, "not yet") : Status::OK();
  });
  CHECK(done.ok());
  CHECK(attempts == 3);
  CHECK(WaitCancellable(ctx, hours(1), [](milliseconds) { return Status::Error(EIO, "lost"); }).code() == EIO);

  // Through the dispatcher: the handler sees the request's context.
  CtlDispatcher ctl;
  ctl.RegisterCancellable("wait", "wait [TIMEOUT]", 0, 1,
                          [&](const std::vector<std::string>& args, const CtlContext& c) -> Result<std::string> {
                            milliseconds timeout = hours(1);
                            if (!args.empty()) {
                              AMBER_ASSIGN_OR_RETURN(timeout, ParseCtlTimeout(args[0]));
                            }
                            AMBER_RETURN_IF_ERROR(WaitCancellable(c, timeout, never_done, milliseconds(20)));
                            return std::string("done");
                          });
  CHECK(ctl.Execute("wait 100ms\n").status.code() == ETIMEDOUT);
  CHECK(ctl.Execute("wait soon\n").status.code() == EINVAL);
  ctx.cancelled = true;
  CtlOutcome out = ctl.Execute("wait\n", ctx);
  CHECK(out.status.code() == EINTR);
  CHECK(out.reply == "error: wait: interrupted\n");
}
