// ServeFuse: the session around the operations (see amberfs/fuse_frontend.h
// and fuse/frontend.h): options, mount, loop, unmount.
#include "amberfs/fuse_frontend.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "amberfs/log.h"
#include "fuse/frontend.h"

namespace amberfs {
namespace frontend {

std::vector<std::string> FuseOptions(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view list;
    if (args[i] == "-o" && i + 1 < args.size()) {
      list = args[++i];
    } else if (args[i].rfind("-o", 0) == 0 && args[i].size() > 2) {
      list = std::string_view(args[i]).substr(2);
    } else {
      continue;
    }
    std::string option;
    for (size_t k = 0; k < list.size(); ++k) {
      if (list[k] == '\\' && k + 1 < list.size()) {
        option += list[++k];
      } else if (list[k] == ',') {
        if (!option.empty()) out.push_back(std::move(option));
        option.clear();
      } else {
        option += list[k];
      }
    }
    if (!option.empty()) out.push_back(std::move(option));
  }
  return out;
}

unsigned MaxReadOption(const std::vector<std::string>& options) {
  unsigned max_read = 0;
  for (const std::string& o : options) {
    if (o.rfind("max_read=", 0) != 0) continue;
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(o.c_str() + 9, &end, 10);
    max_read = (errno == 0 && end != o.c_str() + 9 && *end == '\0' && v <= UINT_MAX) ? static_cast<unsigned>(v) : 0;
  }
  return max_read;
}

}  // namespace frontend

namespace {

using frontend::Frontend;
using frontend::FuseOptions;
using frontend::MaxReadOption;

fuse_lowlevel_ops MakeOps() {
  using namespace frontend;
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.open = OpOpen;
  ops.release = OpRelease;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.statfs = OpStatfs;
  ops.readdir = OpReaddir;
  return ops;
}

std::string Joined(const std::vector<std::string>& options) {
  std::string out;
  for (const std::string& o : options) out += (out.empty() ? "" : ",") + o;
  return out;
}

// Owns the C objects of a session, released in the right order on every path.
class Session {
 public:
  ~Session() {
    if (se_ == nullptr) return;
    if (mounted_) fuse_session_unmount(se_);
    if (signals_) fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
  }
  fuse_session* se_ = nullptr;
  bool signals_ = false;
  bool mounted_ = false;
};

// The signals that end the session (libfuse's handlers: fuse_set_signal_handlers).
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t termination = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &termination, nullptr);
}

Status ServeFuse(Volume& volume, const FuseServeOptions& options, const std::function<void()>& on_mounted) {
  const std::vector<std::string> fuse_options = FuseOptions(options.fuse_args);
  Frontend frontend(volume, options.page_cache, options.mountpoint, on_mounted, MaxReadOption(fuse_options));
  std::vector<std::string> words = {"amberfs"};
  words.insert(words.end(), options.fuse_args.begin(), options.fuse_args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  static const fuse_lowlevel_ops kOps = MakeOps();
  Session s;
  s.se_ = fuse_session_new(&args, &kOps, sizeof kOps, &frontend);
  fuse_opt_free_args(&args);
  if (s.se_ == nullptr) return Status::Error(EINVAL, "bad FUSE options (libfuse said why above)");
  frontend.set_session(s.se_);
  if (fuse_set_signal_handlers(s.se_) != 0) return Status::Error(EIO, "cannot install signal handlers");
  s.signals_ = true;
  // The loop's own thread takes the signals (BlockTerminationSignals).
  sigset_t termination = TerminationSignals();
  pthread_sigmask(SIG_UNBLOCK, &termination, nullptr);
  if (fuse_session_mount(s.se_, options.mountpoint.c_str()) != 0) {
    return Status::Error(EIO, "the kernel refused to mount at " + options.mountpoint + " with -o " +
                                  Joined(fuse_options) + " (libfuse said why above)");
  }
  s.mounted_ = true;
  // After a rollback the kernel must not serve volume's old pages (they
  // exist only with page_cache, but are dropped either way).
  fuse_session* se = s.se_;
  volume.SetAfterRollback([se] {
    int rc = fuse_lowlevel_notify_inval_inode(se, frontend::kVolumeIno, 0, 0);
    if (rc != 0 && rc != -ENOENT) LOG_WARN("invalidate volume pages after rollback: %s", std::strerror(-rc));
  });
  struct ClearHook {
    Volume& v;
    ~ClearHook() { v.SetAfterRollback(nullptr); }
  } clear_hook{volume};

  // "mounted" is said (and on_mounted runs) from the INIT request, once the
  // kernel's handshake has been accepted (frontend::OpInit).
  int rc;
  if (options.single_thread) {
    rc = fuse_session_loop(s.se_);
  } else {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, options.max_threads);
    fuse_loop_cfg_set_idle_threads(cfg, options.max_threads / 2);
    rc = fuse_session_loop_mt(s.se_, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  if (!frontend.mounted()) {
    // The kernel's handshake failed: libfuse said why above.
    return Status::Error(rc < 0 ? -rc : EPROTO, "the FUSE handshake for the mount at " + options.mountpoint +
                                                    " failed with -o " + Joined(fuse_options) +
                                                    " (libfuse said why above)");
  }
  // A signal ends the loop with its number; an unmount ends it with 0.
  if (rc < 0) return Status::Error(-rc, "FUSE session loop failed: " + std::string(std::strerror(-rc)));
  LOG_INFO("unmounting %s", options.mountpoint.c_str());
  return Status::OK();
}

}  // namespace amberfs
