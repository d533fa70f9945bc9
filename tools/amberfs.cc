// amberfs: mounts a volume. See man/amberfs.8.
//
//   amberfs [-f] [-d] [-s] [-o OPT[,OPT...]] VOLDIR MOUNTPOINT
//
// Exit status: 0 after a clean unmount (everything flushed), 1 when the mount
// or the final flush failed, 2 for a usage error.
//
// Daemonizing: the process forks before anything starts a thread (the
// Conductor's writer, io_uring) and the child does all the work; the parent
// waits until the child reports that the mount is in place and exits 0, or
// sees it die and exits with its status, so a failed mount fails the command
// with the child's message on stderr. fuse_daemonize() cannot do this: it
// forks after the mount, where the Conductor's threads would not survive, and
// its parent always exits 0.
#define FUSE_USE_VERSION 312

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "amberfs/fuse_frontend.h"
#include "amberfs/log.h"
#include "amberfs/mount_options.h"
#include "amberfs/version.h"
#include "amberfs/volume.h"
#include "amberfs/volume_create.h"

namespace {

constexpr const char* kUsage =
    "usage: amberfs [-f] [-d] [-s] [-o OPT[,OPT...]] VOLDIR MOUNTPOINT\n"
    "\n"
    "Mounts the amberfs volume in VOLDIR at MOUNTPOINT, which then holds\n"
    "volume (the block volume), ctl (commands), stats (Prometheus text) and snapshots/.\n"
    "\n"
    "MOUNTPOINT must be an existing directory.\n"
    "\n"
    "  -f                 stay in the foreground (SIGINT/SIGTERM unmount cleanly)\n"
    "  -d                 FUSE debug output (implies -f)\n"
    "  -s                 single-threaded\n"
    "  -h, --help         this text\n"
    "  -V, --version      the version\n"
    "\n"
    "amberfs options (-o):\n"
    "  cache_size=SIZE    cache budget, K/M/G/T suffixes, 1.5G allowed (default 256M; at most half\n"
    "                     of the machine's or the memory cgroup's memory)\n"
    "  dirty_max=SIZE     dirty cap (default half of cache_size)\n"
    "  io=uring|plain     I/O backend (default uring; falls back to plain, see stats)\n"
    "  direct             open the image with O_DIRECT\n"
    "  direct_writeback   write scattered blocks back to the image with O_DIRECT (faster\n"
    "                     random writes; reading them back later skips the host page cache)\n"
    "  sync_delay=DUR     group-commit gathering delay, e.g. 200us or 1ms (default 0)\n"
    "  ro                 read-only\n"
    "  page_cache         let the kernel cache volume's pages (needed to mmap volume)\n"
    "  loglevel=LEVEL     error, warn, info or debug (default info)\n"
  "  upload_rate=SIZE   bytes per second to the slow store, all uploads together,\n"
    "                     e.g. 10M (default 0: no limit)\n"
    "  pack_size=SIZE     seal new packs at SIZE, 1M to 64M (default 16M): one PUT each,\n"
    "                     plus one for its index object; up to 4 upload at once, in memory\n"
    "  key_file=FILE      the passphrase file of an encrypted volume (mkfs.amberfs --key-file)\n"
    "  s3_credentials=FILE  AWS credentials file for an s3:// slow store (default:\n"
  "                     environment, then ~/.aws/credentials)\n"
    "  snapshot_interval=DUR  take a snapshot every DUR (30s, 15m, 1h, 1d), named\n"
    "                     auto-YYYYMMDDTHHMMSSZ (UTC); read-write mounts only\n"
    "  keep=RULE:N[,RULE:N...]  which automatic snapshots to keep (restic forget rules,\n"
    "                     UTC): last, hourly, daily, weekly, monthly, yearly; e.g.\n"
    "                     keep=last:3,hourly:24,daily:7 (default: all). gc runs after\n"
    "                     retention deletes. Named snapshots are never deleted by it.\n"
    "Any other -o option goes to FUSE: allow_other, default_permissions (always on),\n"
    "max_read=N, fsname=NAME, ...\n"
    "\n"
    "Unmount with: fusermount3 -u MOUNTPOINT (or umount MOUNTPOINT).\n";

enum Key { kForeground, kDebug, kSingle, kHelp, kVersion };

const fuse_opt kOptSpecs[] = {
    FUSE_OPT_KEY("-f", kForeground), FUSE_OPT_KEY("-d", kDebug),       FUSE_OPT_KEY("debug", kDebug),
    FUSE_OPT_KEY("-s", kSingle),     FUSE_OPT_KEY("-h", kHelp),        FUSE_OPT_KEY("--help", kHelp),
    FUSE_OPT_KEY("-V", kVersion),    FUSE_OPT_KEY("--version", kVersion), FUSE_OPT_END};

struct CommandLine {
  amberfs::MountOptions mount;
  std::vector<std::string> positional;
  std::vector<std::string> fuse_options;  // -o words for libfuse
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  bool help = false;
  bool version = false;
  std::string error;
};

int ProcessArg(void* data, const char* arg, int key, fuse_args*) {
  auto* cl = static_cast<CommandLine*>(data);
  switch (key) {
    case kForeground: cl->foreground = true; return 0;
    case kDebug: cl->debug = cl->foreground = true; return 0;
    case kSingle: cl->single_thread = true; return 0;
    case kHelp: cl->help = true; return 0;
    case kVersion: cl->version = true; return 0;
    case FUSE_OPT_KEY_NONOPT: cl->positional.push_back(arg); return 0;
    case FUSE_OPT_KEY_OPT: {
      if (arg[0] == '-') {
        cl->error = std::string("unknown option ") + arg;
        return -1;
      }
      amberfs::Result<amberfs::OptionOwner> owner = amberfs::ApplyMountOption(arg, &cl->mount);
      if (!owner.ok()) {
        cl->error = owner.status().message();
        return -1;
      }
      if (*owner != amberfs::OptionOwner::kAmberfs) cl->fuse_options.push_back(arg);
      return 0;
    }
  }
  return 1;
}

// fuse_opt splits -o values at commas; a backslash protects one.
std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "amberfs: %s\nTry 'amberfs --help'.\n", problem.c_str());
  return 2;
}

// The mount point must be an existing directory: FUSE would mount onto a
// regular file too, and the volume's files would then be unreachable. "" when
// it is fine, else what to do.
std::string CheckMountPoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return "mount point " + path + " does not exist: create it first (mkdir -p " + path + ")";
    if (err == ENOTCONN) return "mount point " + path + " is a dead mount: unmount it first (fusermount3 -u " + path + ")";
    return "mount point " + path + ": " + std::strerror(err);
  }
  if (!S_ISDIR(st.st_mode)) return "mount point " + path + " is not a directory: mount onto a directory";
  return "";
}

// The child's end of the daemonizing handshake.
class Detacher {
 public:
  explicit Detacher(int fd) : fd_(fd) {}
  void Ready() {
    if (fd_ < 0) return;
    // From here on nobody reads our stderr: log to syslog, drop the terminal.
    amberfs::LogToSyslog("amberfs");
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      if (null > STDERR_FILENO) ::close(null);
    }
    char ready = 'R';
    ssize_t n = ::write(fd_, &ready, 1);
    (void)n;  // If the parent is gone there is no one left to tell.
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Forks; the parent waits for the child's verdict and never returns.
int ForkAndWait() {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    std::perror("amberfs: pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("amberfs: fork");
    std::exit(1);
  }
  if (pid == 0) {
    ::close(pipefd[0]);
    ::setsid();
    return pipefd[1];
  }
  ::close(pipefd[1]);
  char ready = 0;
  ssize_t n;
  do {
    n = ::read(pipefd[0], &ready, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && ready == 'R') std::exit(0);
  // The child failed before mounting; it has printed why.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cl;
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  int parsed = fuse_opt_parse(&args, &cl, kOptSpecs, ProcessArg);
  fuse_opt_free_args(&args);
  if (parsed != 0) return Usage(cl.error.empty() ? "bad arguments" : cl.error);
  if (cl.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cl.version) {
    std::printf("amberfs %s (libfuse %s)\n", amberfs::kVersion, fuse_pkgversion());
    return 0;
  }
  if (cl.positional.size() != 2) return Usage("need VOLDIR and MOUNTPOINT");
  amberfs::Status st = amberfs::FinishMountOptions(cl.mount);
  if (!st.ok()) return Usage(st.message());
  amberfs::SetLogLevel(cl.mount.log_level);
  const std::string voldir = amberfs::AbsolutePath(cl.positional[0]);
  // The options, then the mount point, then the volume: nothing of the
  // volume is opened for a command line that cannot work.
  if (std::string bad = CheckMountPoint(amberfs::AbsolutePath(cl.positional[1])); !bad.empty()) return Usage(bad);
  // Options that depend on the volume are usage errors too, so they are
  // checked here, before the fork; a config that cannot be read is left to
  // Volume::Open, which says why.
  if (amberfs::Result<amberfs::VolumeConfig> config = amberfs::VolumeConfig::Load(voldir); config.ok()) {
    st = amberfs::CheckMountOptionsForVolume(cl.mount, *config);
    if (!st.ok()) return Usage(st.message());
  }

  amberfs::FuseServeOptions serve;
  serve.mountpoint = amberfs::AbsolutePath(cl.positional[1]);
  serve.single_thread = cl.single_thread;
  serve.page_cache = cl.mount.page_cache;
  serve.fuse_args = {"-o", "default_permissions", "-o", "fsname=" + EscapeOption(voldir), "-o", "subtype=amberfs"};
  for (const std::string& o : cl.fuse_options) {
    serve.fuse_args.push_back("-o");
    serve.fuse_args.push_back(o);
  }
  if (cl.debug) serve.fuse_args.push_back("-d");

  Detacher detacher(cl.foreground ? -1 : ForkAndWait());
  // Before the volume starts its threads: a signal must reach the FUSE loop.
  amberfs::BlockTerminationSignals();

  amberfs::Result<std::unique_ptr<amberfs::Volume>> volume = amberfs::Volume::Open(voldir, cl.mount.volume);
  if (!volume.ok()) {
    std::fprintf(stderr, "amberfs: %s\n", volume.status().message().c_str());
    return 1;
  }
  st = amberfs::ServeFuse(**volume, serve, [&] { detacher.Ready(); });
  if (!st.ok()) {
    LOG_ERROR("%s", st.message().c_str());
    // The mount never happened, so nothing was written: the setup error is the one to report.
    (*volume)->Close().IgnoreError();
    return 1;
  }
  st = (*volume)->Close();
  if (!st.ok()) {
    LOG_ERROR("unmounted, but the final flush failed: %s", st.ToString().c_str());
    return 1;
  }
  return 0;
}
