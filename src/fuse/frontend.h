// The FUSE frontend's internals, shared by its source files (the contract is
// in amberfs/fuse_frontend.h):
//   frontend.cc      Frontend: attributes, the snapshot files, stats
//   ops_tree.cc      init, lookup, getattr, setattr, open, release, readdir, statfs
//   ops_io.cc        read, write, fsync, fallocate of volume and snapshot files
//   ops_ctl.cc       read and write of ctl (commands, interrupts)
//   fuse_frontend.cc the session: mount, loop, unmount
//
// Inodes: the tree is fixed, so its inodes are constants and lookup counts
// need no bookkeeping. snapshots/NAME files get numbers from
// kFirstSnapshotIno up, one per (name, creation time), never reused while
// mounted, so a deleted and retaken name is a new file. Each lookup of ctl
// gets a number of its own from kFirstCtlIno up (entry timeout 0, so every
// open looks it up): the kernel serialises writes, and truncation by
// `echo cmd > ctl`, per inode, so with one inode a command that waits (drain)
// would hold every later command up; with one inode per open nothing shares
// that lock. The numbers are never reused and hold no state.
//
// Thread-safety: Frontend's methods may be called from any worker thread.
#pragma once

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amberfs/snapshot_info.h"
#include "amberfs/volume.h"
#include "fuse/open_file_table.h"
#include "volume/ctl.h"

namespace amberfs::frontend {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kVolumeIno = 2;
constexpr fuse_ino_t kCtlIno = 3;  // in readdir; lookups give kFirstCtlIno and up
constexpr fuse_ino_t kStatsIno = 4;
constexpr fuse_ino_t kSnapshotsIno = 5;
constexpr fuse_ino_t kFirstSnapshotIno = 1000;
constexpr fuse_ino_t kFirstCtlIno = fuse_ino_t{1} << 48;

// Snapshots come and go by ctl command; the kernel rechecks names this often.
constexpr double kSnapshotTimeout = 1.0;
// Attributes never change under the kernel's feet (the volume's size is fixed),
// so they may be cached for long.
constexpr double kAttrTimeout = 3600.0;
constexpr unsigned kMaxWrite = 1u << 20;

inline bool IsCtlIno(fuse_ino_t ino) { return ino == kCtlIno || ino >= kFirstCtlIno; }
inline bool IsSnapshotIno(fuse_ino_t ino) { return ino >= kFirstSnapshotIno && ino < kFirstCtlIno; }
inline bool IsRootChild(fuse_ino_t ino) { return ino >= kVolumeIno && ino <= kSnapshotsIno; }

struct Counters {
  std::atomic<uint64_t> reads{0}, read_bytes{0}, writes{0}, write_bytes{0};
  std::atomic<uint64_t> fsyncs{0}, discards{0}, largest_write{0};
  // Writes to volume being served now, and the most ever served at once.
  std::atomic<uint64_t> writes_in_flight{0}, writes_in_flight_peak{0};
  // Requests on volume answered with an error, by request.
  std::atomic<uint64_t> read_errors{0}, write_errors{0}, fsync_errors{0}, discard_errors{0};
  std::atomic<uint64_t> ctl_commands{0}, ctl_errors{0};
};

// A snapshots/ file: which snapshot its inode stands for.
struct SnapshotFile {
  std::string name;
  uint64_t created_ns = 0;
};

// The state of one open of ctl, stats or a snapshots/ file, kept in the
// frontend's OpenFileTable (fi->fh is its id; the volume's opens have none).
// Handlers hold a shared reference while they run, so RELEASE on another
// thread never frees it under them.
struct OpenFile {
  OpenFile() = default;
  std::mutex mu;            // ctl: guards text and reply_base
  std::string text;         // ctl: the last command's reply; stats: rendered at open
  uint64_t reply_base = 0;  // ctl: file offset at which read(2) sees the reply's first byte
  SnapshotHandle snapshot;  // snapshots/: the snapshot that was opened (immutable after open)
};

class Frontend {
 public:
  Frontend(Volume& volume, bool page_cache, std::string mountpoint, std::function<void()> on_mounted,
           unsigned max_read);

  Volume& volume() { return volume_; }
  bool page_cache() const { return page_cache_; }
  const CtlDispatcher& ctl() const { return ctl_; }
  Counters& counters() { return counters_; }
  OpenFileTable<OpenFile>& open_files() { return open_files_; }
  std::atomic<unsigned>& negotiated_max_write() { return max_write_; }
  unsigned max_read() const { return max_read_; }

  // The session, once made (for interrupts and exit checks); null before.
  void set_session(fuse_session* se) { session_.store(se); }
  fuse_session* session() const { return session_.load(); }
  // Called once, when the kernel's INIT has been accepted: logs "mounted"
  // and runs the caller's on_mounted.
  void Mounted();
  bool mounted() const { return mounted_.load(); }

  struct stat Attr(fuse_ino_t ino) const;
  struct stat SnapshotAttr(fuse_ino_t ino, const SnapshotFile& file) const;
  fuse_ino_t NextCtlIno() { return next_ctl_ino_.fetch_add(1); }

  // The snapshots as files (empty without a snapshotter), numbering new ones.
  std::vector<std::pair<fuse_ino_t, SnapshotFile>> Snapshots();
  std::optional<SnapshotFile> SnapshotByIno(fuse_ino_t ino);
  // Whether the snapshot is still listed with its creation time.
  bool SnapshotExists(const SnapshotFile& file);

  std::string RenderStats();

 private:
  Volume& volume_;
  const bool page_cache_;
  const std::string mountpoint_;
  const std::function<void()> on_mounted_;
  const unsigned max_read_;
  CtlDispatcher ctl_;
  Counters counters_;
  OpenFileTable<OpenFile> open_files_;
  std::atomic<unsigned> max_write_{0};
  std::atomic<fuse_session*> session_{nullptr};
  std::atomic<bool> mounted_{false};
  std::atomic<fuse_ino_t> next_ctl_ino_{kFirstCtlIno};
  time_t mount_time_;
  std::mutex snap_mu_;
  std::map<std::pair<std::string, uint64_t>, fuse_ino_t> snap_inos_;  // guarded by snap_mu_
  std::map<fuse_ino_t, SnapshotFile> snap_files_;                     // guarded by snap_mu_
  fuse_ino_t next_snap_ino_ = kFirstSnapshotIno;                       // guarded by snap_mu_
};

// The -o options among FUSE arguments, split at unescaped commas as fuse_opt
// splits them ("-o a,b\\,c" and "-oa" alike), for messages and max_read.
std::vector<std::string> FuseOptions(const std::vector<std::string>& args);
// The value of the last max_read=N among them; 0 if absent or not a number
// (fuse_session_new then refuses it). The INIT reply must carry this value.
unsigned MaxReadOption(const std::vector<std::string>& options);

inline Frontend& From(fuse_req_t req) { return *static_cast<Frontend*>(fuse_req_userdata(req)); }

// Runs a callback body. The body either replies itself and returns 0, or
// returns an errno for Reply to send; an escaping exception becomes ENOMEM or
// EIO, so every request is answered exactly once.
template <typename Body>
void Reply(fuse_req_t req, Body&& body) {
  int err;
  try {
    err = body();
  } catch (const std::bad_alloc&) {
    err = ENOMEM;
  } catch (...) {
    err = EIO;
  }
  if (err != 0) fuse_reply_err(req, err);
}

// The operations (one file each group, see above).
void OpInit(void* userdata, fuse_conn_info* conn);
void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpStatfs(fuse_req_t req, fuse_ino_t ino);
void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi);
void OpFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t length, fuse_file_info* fi);
// ctl's read and write (ops_ctl.cc), called by OpRead and OpWrite.
int CtlRead(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
int CtlWrite(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi);

}  // namespace amberfs::frontend
