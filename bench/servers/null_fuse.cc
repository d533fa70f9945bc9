// null_fuse: the FUSE ceiling for bench/mount_bench.sh. A low-level libfuse
// server with one regular file, `volume`, of a fixed size, that does no work:
// a write is answered at once (its data is never looked at, let alone copied),
// a read is answered with zeros from one static buffer, fsync at once.
//
// With --backing FILE it does the least a server that keeps the bytes can
// do: a write is one pwrite to FILE (through the page cache), a read one
// pread, fsync one fdatasync; FILE must exist and have the --size. That is
// the ceiling of any FUSE block store on this machine, amberfs included: the
// FUSE round trip plus one copy into the host's page cache.
//
//   null_fuse MOUNTPOINT --size 1G [--backing FILE] [--threads 16]
//             [--parallel-writes] [--clone-fd] [-o FUSE_OPT]... [-d]
//
// It negotiates what amberfs does (src/fuse/fuse_frontend.cc, OpInit):
// max_write 1 MiB, async direct I/O, no writeback cache, max_background 64,
// congestion_threshold 48, and opens `volume` direct_io. So the gap between
// amberfs and this server is amberfs's own work, and the gap between this
// server and a raw file is the FUSE round trip.
//
// --parallel-writes puts FOPEN_PARALLEL_DIRECT_WRITES in the open reply, as
// amberfs does for volume (src/fuse/open_reply.h: libfuse 3.14's
// fuse_file_info has no bit for it). The kernel (fs/fuse/iomode.c, file.c)
// drops the flag unless FOPEN_DIRECT_IO is also set, and even then takes the
// inode lock shared only for a write that is not O_APPEND and does not end
// past EOF (otherwise it falls back to the exclusive lock).
//
// --threads N is libfuse's max_threads (idle threads N/2, as amberfs).
// --clone-fd gives each worker its own /dev/fuse fd (fuse_loop_cfg_set_clone_fd).
//
// Runs in the foreground. SIGINT, SIGTERM, SIGHUP and `fusermount3 -u` end the
// loop and unmount; exit status 0 then. Prints "null_fuse: ready" on stderr
// once mounted.
#define FUSE_USE_VERSION 312

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuse/open_reply.h"

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kVolumeIno = 2;
constexpr const char* kVolumeName = "volume";
constexpr unsigned kMaxWrite = 1u << 20;
constexpr double kTimeout = 3600.0;

struct Config {
  uint64_t size = 0;
  bool parallel_writes = false;
  int backing_fd = -1;  // --backing: the file the bytes go to, or -1
};
Config g_config;

// Zeros for every read; a read is at most max_read, which the kernel caps at
// max_pages (1 MiB, the same as max_write) for direct I/O.
alignas(4096) char g_zeros[kMaxWrite];

struct stat Attr(fuse_ino_t ino) {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_ino = ino;
  st.st_uid = getuid();
  st.st_gid = getgid();
  if (ino == kRootIno) {
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
  } else {
    st.st_mode = S_IFREG | 0600;
    st.st_nlink = 1;
    st.st_size = static_cast<off_t>(g_config.size);
    st.st_blocks = static_cast<blkcnt_t>(g_config.size / 512);
    st.st_blksize = 4096;
  }
  return st;
}

void OpInit(void*, fuse_conn_info* conn) {
  conn->max_write = kMaxWrite;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  if (std::strcmp(name, kVolumeName) != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = kVolumeIno;
  e.attr = Attr(kVolumeIno);
  e.attr_timeout = kTimeout;
  e.entry_timeout = kTimeout;
  fuse_reply_entry(req, &e);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino != kRootIno && ino != kVolumeIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st = Attr(ino);
  fuse_reply_attr(req, &st, kTimeout);
}

// fio may ftruncate to the size it was given; only the volume's own size is accepted.
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  if (ino != kVolumeIno && ino != kRootIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) && static_cast<uint64_t>(attr->st_size) != g_config.size) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  struct stat st = Attr(ino);
  fuse_reply_attr(req, &st, kTimeout);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino == kRootIno) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (ino != kVolumeIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((fi->flags & O_TRUNC) && g_config.size != 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  fi->fh = 0;
  fi->direct_io = 1;
  amberfs::frontend::ReplyOpen(req, *fi, g_config.parallel_writes);
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino != kVolumeIno) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const uint64_t offset = static_cast<uint64_t>(off);
  size_t n = offset >= g_config.size ? 0 : std::min<uint64_t>({size, g_config.size - offset, sizeof g_zeros});
  if (g_config.backing_fd < 0) {
    fuse_reply_buf(req, g_zeros, n);
    return;
  }
  thread_local std::vector<char> buf(kMaxWrite);
  ssize_t got = pread(g_config.backing_fd, buf.data(), n, off);
  if (got < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_buf(req, buf.data(), static_cast<size_t>(got));
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off, fuse_file_info*) {
  if (ino != kVolumeIno) {
    fuse_reply_err(req, EBADF);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const uint64_t offset = static_cast<uint64_t>(off);
  if (offset >= g_config.size) {
    fuse_reply_err(req, ENOSPC);
    return;
  }
  size_t n = std::min<uint64_t>(size, g_config.size - offset);
  if (g_config.backing_fd >= 0) {
    ssize_t put = pwrite(g_config.backing_fd, data, n, off);
    if (put < 0) {
      fuse_reply_err(req, errno);
      return;
    }
    n = static_cast<size_t>(put);
  }
  fuse_reply_write(req, n);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, g_config.backing_fd >= 0 && fdatasync(g_config.backing_fd) != 0 ? errno : 0);
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int, off_t, off_t, fuse_file_info*) {
  fuse_reply_err(req, ino == kVolumeIno ? 0 : EOPNOTSUPP);
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs sv;
  std::memset(&sv, 0, sizeof sv);
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_blocks = g_config.size / 4096;
  sv.f_files = 2;
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  struct Item {
    const char* name;
    fuse_ino_t ino;
  };
  const Item items[] = {{".", kRootIno}, {"..", kRootIno}, {kVolumeName, kVolumeIno}};
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < 3; ++i) {
    struct stat st = Attr(items[i].ino);
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, items[i].name, &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

bool ParseSize(const char* text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text) return false;
  unsigned shift = 0;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    case 't': case 'T': shift = 40; ++end; break;
    default: return false;
  }
  if (*end == 'i' && shift != 0) ++end;   // Ki, Mi, ...
  if (*end == 'B' && shift != 0) ++end;   // KB, KiB, ...
  if (*end != '\0' || (shift != 0 && v > (~0ull >> shift))) return false;
  *out = static_cast<uint64_t>(v) << shift;
  return true;
}

int Usage(const char* problem) {
  std::fprintf(stderr,
               "null_fuse: %s\n"
               "usage: null_fuse MOUNTPOINT --size SIZE [--backing FILE] [--threads N] [--parallel-writes]\n"
               "                 [--clone-fd] [-o FUSE_OPT]... [-d]\n",
               problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mountpoint;
  unsigned threads = 16;
  bool clone_fd = false, debug = false;
  std::string backing;
  std::vector<std::string> fuse_opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "null_fuse: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--size") {
      if (!ParseSize(value("--size"), &g_config.size)) return Usage("bad --size");
    } else if (a == "--threads") {
      const char* v = value("--threads");
      char* end = nullptr;
      unsigned long n = std::strtoul(v, &end, 10);
      if (*end != '\0' || n < 1 || n > 1024) return Usage("bad --threads (1..1024)");
      threads = static_cast<unsigned>(n);
    } else if (a == "--backing") {
      backing = value("--backing");
    } else if (a == "--parallel-writes") {
      g_config.parallel_writes = true;
    } else if (a == "--clone-fd") {
      clone_fd = true;
    } else if (a == "-o") {
      fuse_opts.push_back(value("-o"));
    } else if (a == "-d") {
      debug = true;
    } else if (a == "-h" || a == "--help") {
      Usage("help");
      return 0;
    } else if (!a.empty() && a[0] != '-' && mountpoint.empty()) {
      mountpoint = a;
    } else {
      return Usage(("unknown argument " + a).c_str());
    }
  }
  if (mountpoint.empty()) return Usage("need MOUNTPOINT");
  if (g_config.size == 0) return Usage("need --size");
  if (!backing.empty()) {
    g_config.backing_fd = open(backing.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st;
    if (g_config.backing_fd < 0 || fstat(g_config.backing_fd, &st) != 0) {
      std::fprintf(stderr, "null_fuse: %s: %s\n", backing.c_str(), std::strerror(errno));
      return 1;
    }
    if (static_cast<uint64_t>(st.st_size) != g_config.size) return Usage("--backing FILE must have the --size");
  }

  std::vector<std::string> words = {"null_fuse", "-o", "fsname=null_fuse", "-o", "subtype=null_fuse"};
  for (const std::string& o : fuse_opts) {
    words.push_back("-o");
    words.push_back(o);
  }
  if (debug) words.push_back("-d");
  std::vector<char*> args_v;
  for (std::string& w : words) args_v.push_back(w.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(args_v.size()), args_v.data());

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

  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&args);
  if (se == nullptr) return 1;
  // A background job of a shell script starts with SIGINT ignored, and
  // fuse_set_signal_handlers leaves an ignored signal alone: restore the
  // default first so SIGINT unmounts as SIGTERM does.
  signal(SIGINT, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return 1;
  }
  std::fprintf(stderr, "null_fuse: ready at %s (size %llu, threads %u%s%s)\n", mountpoint.c_str(),
               static_cast<unsigned long long>(g_config.size), threads,
               g_config.parallel_writes ? ", parallel-writes" : "", clone_fd ? ", clone-fd" : "");

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, threads);
  fuse_loop_cfg_set_idle_threads(cfg, std::max(1u, threads / 2));
  fuse_loop_cfg_set_clone_fd(cfg, clone_fd ? 1 : 0);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);

  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  // A signal ends the loop with its number (a clean stop); an unmount with 0.
  return rc < 0 ? 1 : 0;
}
