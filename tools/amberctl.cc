// amberctl: day-to-day control of amberfs volumes. See man/amberctl.8.
//
//   amberctl COMMAND [OPTIONS] TARGET [ARGS]
//
// TARGET is a mount point of amberfs or a volume directory. The ctl commands
// (snapshot, delete, rollback, gc, drain, flush, hydrate) go to the mounted daemon
// through TARGET/ctl and print its reply, or its error message on stderr;
// list and status read the volume directory too, mounted or not; umount
// unmounts and waits for the daemon to flush and exit.
//
// Exit status: 0 done, 1 the command failed, 2 usage error.
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "amberctl_ctl.h"
#include "amberctl_list.h"
#include "amberctl_status.h"
#include "amberctl_target.h"
#include "amberctl_umount.h"
#include "amberctl_util.h"
#include "amberfs/version.h"

namespace amberctl {
namespace {

constexpr const char* kUsage =
    "usage: amberctl COMMAND [OPTIONS] TARGET [ARGS]\n"
    "\n"
    "TARGET is an amberfs mount point or a volume directory (its mount is found).\n"
    "\n"
    "Sent to the mounted daemon (TARGET/ctl); the reply is printed:\n"
    "  snapshot TARGET [NAME]    take a snapshot (default name: the UTC time)\n"
    "  delete TARGET NAME        delete a snapshot (its blobs stay until gc)\n"
    "  rollback TARGET NAME      make the volume the snapshot's content\n"
    "                            (unmount what sits on the volume first)\n"
    "  gc TARGET                 delete the blobs no snapshot reaches\n"
    "  drain TARGET [TIMEOUT]    wait until the slow store has every blob; give up\n"
    "                            waiting after TIMEOUT (90, 90s, 5m, 2h; default none)\n"
    "  flush TARGET              write every dirty block back and sync it\n"
    "  hydrate TARGET            a clone: fetch every chunk still in the slow store\n"
    "\n"
    "Read from the volume directory, mounted or not:\n"
    "  list [--json | --names] [--s3-credentials FILE] [--key-file FILE] TARGET\n"
    "                            the snapshots: name, time (UTC), logical size,\n"
    "                            stored and unique bytes, uploaded to the slow store\n"
    "                            (an encrypted volume's sizes need its --key-file)\n"
    "  status TARGET             a summary of the mount's stats and the catalog\n"
    "\n"
    "  umount [--timeout SECONDS] TARGET\n"
    "                            unmount and return once the daemon has flushed and\n"
    "                            exited (default timeout 600 s; 0: no limit)\n"
    "\n"
    "  -h, --help, -V, --version\n"
    "\n"
    "Exit status: 0 done, 1 the command failed (why on stderr), 2 usage error.\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "amberctl: %s\nTry 'amberctl --help'.\n", problem.c_str());
  return kExitUsage;
}

struct CommandSpec {
  size_t min_args;  // after TARGET
  size_t max_args;
  const char* args;  // for the usage message
};

const std::map<std::string, CommandSpec>& Commands() {
  static const std::map<std::string, CommandSpec> commands = {
      {"snapshot", {0, 1, "TARGET [NAME]"}}, {"delete", {1, 1, "TARGET NAME"}},
      {"rollback", {1, 1, "TARGET NAME"}},   {"gc", {0, 0, "TARGET"}},
      {"drain", {0, 1, "TARGET [TIMEOUT]"}}, {"flush", {0, 0, "TARGET"}},
      {"hydrate", {0, 0, "TARGET"}},
      {"list", {0, 0, "[--json | --names] [--s3-credentials FILE] [--key-file FILE] TARGET"}},
      {"status", {0, 0, "TARGET"}},          {"umount", {0, 0, "[--timeout SECONDS] TARGET"}},
  };
  return commands;
}

struct Options {
  ListFormat format = ListFormat::kTable;
  std::string s3_credentials;
  std::string key_file;
  std::chrono::seconds timeout{600};
  std::vector<std::string> positional;  // TARGET and ARGS
};

// The longest wait a TIMEOUT or --timeout asks for: far below what
// "now + timeout" on the steady clock (nanoseconds in 64 bits) can hold.
constexpr unsigned long long kMaxTimeoutSeconds = 7 * 24 * 3600;

// "90", "90s", "5m", "2h" -> seconds, at most kMaxTimeoutSeconds; false for
// anything else.
bool ParseSeconds(const std::string& text, std::chrono::seconds* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || end == text.c_str() || errno != 0) return false;
  std::string unit = end;
  unsigned long long scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  if (scale == 0 || v > kMaxTimeoutSeconds / scale) return false;
  *out = std::chrono::seconds(v * scale);
  return true;
}

// Parses the options after COMMAND; "" or the usage problem.
std::string ParseOptions(const std::string& command, int argc, char** argv, Options* o) {
  enum { kJson = 1, kNames, kCredentials, kTimeout, kKeyFile };
  static const option kLong[] = {{"json", no_argument, nullptr, kJson},
                                 {"names", no_argument, nullptr, kNames},
                                 {"s3-credentials", required_argument, nullptr, kCredentials},
                                 {"timeout", required_argument, nullptr, kTimeout},
                                 {"key-file", required_argument, nullptr, kKeyFile},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;
  optind = 1;
  int c, index = -1;
  while ((c = getopt_long(argc, argv, "", kLong, &index)) != -1) {
    const bool for_list = c == kJson || c == kNames || c == kCredentials || c == kKeyFile;
    if ((for_list && command != "list") || (c == kTimeout && command != "umount")) {
      return std::string("option --") + kLong[index].name + " does not apply to " + command;
    }
    switch (c) {
      case kJson: o->format = ListFormat::kJson; break;
      case kNames: o->format = ListFormat::kNames; break;
      case kCredentials: o->s3_credentials = optarg; break;
      case kKeyFile: o->key_file = optarg; break;
      case kTimeout:
        if (!ParseSeconds(optarg, &o->timeout)) return std::string("bad --timeout '") + optarg + "' (seconds, e.g. 600; at most 7 days)";
        break;
      default: return std::string("unknown option ") + argv[optind - 1];
    }
  }
  for (int i = optind; i < argc; ++i) o->positional.emplace_back(argv[i]);
  return "";
}

// The ctl commands: send, print the reply or the error.
int RunCtl(const std::string& command, const Target& t, const Options& o) {
  if (t.mountpoint.empty()) {
    return Fail(t.voldir + " is not mounted; " + command + " needs the mounted volume (amberfs " + t.voldir +
                " MOUNTPOINT)");
  }
  std::string line = command;
  std::chrono::seconds timeout(0);
  if (command == "drain" && o.positional.size() == 2) {
    if (!ParseSeconds(o.positional[1], &timeout) || timeout.count() == 0) {
      return Usage("bad TIMEOUT '" + o.positional[1] + "' (seconds, or with s, m or h: 90, 5m, 2h; at most 7 days)");
    }
  } else {
    for (size_t i = 1; i < o.positional.size(); ++i) line += " " + o.positional[i];
  }
  auto reply = SendCtl(t.mountpoint, line, timeout);
  if (!reply.ok()) return Fail(reply.status().message());
  if (reply->err != 0) return Fail(reply->text);
  std::printf("%s\n", reply->text.c_str());
  return kExitOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage("no command given");
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "-V" || command == "--version") {
    std::printf("amberctl %s\n", amberfs::kVersion);
    return kExitOk;
  }
  auto spec = Commands().find(command);
  if (spec == Commands().end()) return Usage("unknown command '" + command + "'");
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: amberctl %s %s\n(amberctl --help lists every command)\n", command.c_str(), spec->second.args);
      return kExitOk;
    }
  }
  Options o;
  std::string problem = ParseOptions(command, argc - 1, argv + 1, &o);
  if (!problem.empty()) return Usage(problem);
  const size_t extra = o.positional.empty() ? 0 : o.positional.size() - 1;
  if (o.positional.empty() || extra < spec->second.min_args || extra > spec->second.max_args) {
    return Usage((o.positional.empty() ? "no TARGET given" : "wrong number of arguments") +
                 std::string("; usage: amberctl ") + command + " " + spec->second.args);
  }
  auto target = ResolveTarget(o.positional[0]);
  if (!target.ok()) return Fail(target.status().message());
  if (command == "list") return RunList(target->voldir, o.format, o.s3_credentials, o.key_file);
  if (command == "status") return RunStatus(target->voldir, target->mountpoint);
  if (command == "umount") return RunUmount(target->voldir, target->mountpoint, o.timeout);
  return RunCtl(command, *target, o);
}

}  // namespace
}  // namespace amberctl

int main(int argc, char** argv) { return amberctl::Main(argc, argv); }
