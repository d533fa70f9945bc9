// The FUSE low-level operations of the mount. See fuse_frontend.h.
//
// The tree is fixed, so inodes are constants and lookup counts need no
// bookkeeping. Each callback runs its body through Reply(), which sends the
// error reply when the body returns an errno and turns an escaping exception
// into one, so every request is answered exactly once.
#define FUSE_USE_VERSION 312

#include "amberfs/fuse_frontend.h"

#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <map>
#include <new>
#include <optional>

#include "volume/ctl.h"
#include "amberfs/log.h"
#include "base/stats.h"
#include "fuse/open_file_table.h"

namespace amberfs {
namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kVolumeIno = 2;
constexpr fuse_ino_t kCtlIno = 3;
constexpr fuse_ino_t kStatsIno = 4;
constexpr fuse_ino_t kSnapshotsIno = 5;
// snapshots/NAME files get numbers from here up, one per (name, creation
// time), never reused while mounted, so a deleted and retaken name is a new file.
constexpr fuse_ino_t kFirstSnapshotIno = 1000;
// Snapshots come and go by ctl command; the kernel rechecks names this often.
constexpr double kSnapshotTimeout = 1.0;

constexpr unsigned kMaxWrite = 1u << 20;
// Attributes never change under the kernel's feet (the volume's size is fixed),
// so they may be cached for long.
constexpr double kAttrTimeout = 3600.0;

struct RootEntry {
  const char* name;
  fuse_ino_t ino;
};
constexpr RootEntry kRootEntries[] = {
    {"volume", kVolumeIno}, {"ctl", kCtlIno}, {"stats", kStatsIno}, {"snapshots", kSnapshotsIno}};

struct Counters {
  std::atomic<uint64_t> reads{0}, read_bytes{0}, writes{0}, write_bytes{0};
  std::atomic<uint64_t> fsyncs{0}, discards{0}, errors{0}, largest_write{0};
  std::atomic<uint64_t> ctl_commands{0}, ctl_errors{0};
};

// A snapshots/ file.
struct SnapshotFile {
  std::string name;
  uint64_t created_ns = 0;
};

// The state of one open of ctl, stats or a snapshots/ file, kept in the
// frontend's OpenFileTable (fi->fh is its id; the volume's opens have none).
// Handlers hold a shared reference while they run, so RELEASE on another
// thread never frees it under them.
struct OpenFile {
  explicit OpenFile(fuse_ino_t ino) : ino(ino) {}
  const fuse_ino_t ino;
  std::mutex mu;            // ctl: guards text and reply_base
  std::string text;         // ctl: the last command's reply; stats: rendered at open
  uint64_t reply_base = 0;  // ctl: file offset at which read(2) sees the reply's first byte
  SnapshotFile snapshot;    // snapshots/: the snapshot that was opened
};

class Frontend {
 public:
  Frontend(Volume& volume, bool page_cache) : volume_(volume), page_cache_(page_cache) {
    volume_.RegisterCtl(&ctl_);
    mount_time_ = time(nullptr);
  }

  Volume& volume() { return volume_; }
  bool page_cache() const { return page_cache_; }
  const CtlDispatcher& ctl() const { return ctl_; }
  Counters& counters() { return counters_; }
  OpenFileTable<OpenFile>& open_files() { return open_files_; }
  std::atomic<unsigned>& negotiated_max_write() { return max_write_; }

  struct stat Attr(fuse_ino_t ino) const {
    struct stat st;
    std::memset(&st, 0, sizeof st);
    st.st_ino = ino;
    st.st_uid = getuid();
    st.st_gid = getgid();
    st.st_atime = st.st_mtime = st.st_ctime = mount_time_;
    st.st_blksize = volume_.config().chunk_size;
    const bool ro = volume_.options().read_only;
    switch (ino) {
      case kRootIno: st.st_mode = S_IFDIR | 0755; st.st_nlink = 3; break;
      case kSnapshotsIno: st.st_mode = S_IFDIR | 0555; st.st_nlink = 2; break;
      case kVolumeIno:
        st.st_mode = S_IFREG | (ro ? 0400 : 0600);
        st.st_nlink = 1;
        st.st_size = static_cast<off_t>(volume_.size());
        st.st_blocks = static_cast<blkcnt_t>(volume_.size() / 512);
        break;
      case kCtlIno: st.st_mode = S_IFREG | 0600; st.st_nlink = 1; break;
      case kStatsIno: st.st_mode = S_IFREG | 0444; st.st_nlink = 1; break;
    }
    return st;
  }

  // The snapshots as files (empty without a snapshotter), numbering new ones.
  std::vector<std::pair<fuse_ino_t, SnapshotFile>> Snapshots() {
    std::vector<std::pair<fuse_ino_t, SnapshotFile>> out;
    if (!volume_.has_snapshots()) return out;
    Result<std::vector<SnapshotInfo>> list = volume_.ListSnapshots();
    if (!list.ok()) {
      LOG_ERROR("list snapshots: %s", list.status().ToString().c_str());
      return out;
    }
    std::lock_guard<std::mutex> lock(snap_mu_);
    for (const SnapshotInfo& info : *list) {
      auto [it, added] = snap_inos_.try_emplace({info.name, info.created_ns}, next_snap_ino_);
      if (added) snap_files_[next_snap_ino_++] = SnapshotFile{info.name, info.created_ns};
      out.emplace_back(it->second, SnapshotFile{info.name, info.created_ns});
    }
    return out;
  }

  std::optional<SnapshotFile> SnapshotByIno(fuse_ino_t ino) {
    std::lock_guard<std::mutex> lock(snap_mu_);
    auto it = snap_files_.find(ino);
    if (it == snap_files_.end()) return std::nullopt;
    return it->second;
  }

  struct stat SnapshotAttr(fuse_ino_t ino, const SnapshotFile& file) const {
    struct stat st = Attr(kStatsIno);
    st.st_ino = ino;
    st.st_mode = S_IFREG | 0444;
    st.st_size = static_cast<off_t>(volume_.size());
    st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec = static_cast<time_t>(file.created_ns / 1000000000);
    st.st_atim.tv_nsec = st.st_mtim.tv_nsec = st.st_ctim.tv_nsec = static_cast<long>(file.created_ns % 1000000000);
    return st;
  }

  std::string RenderStats() {
    MetricsWriter w;
    volume_.WriteMetrics(&w);
    w.Counter("amberfs_fuse_reads_total", "read requests on volume.", counters_.reads);
    w.Counter("amberfs_fuse_read_bytes_total", "Bytes read from volume.", counters_.read_bytes);
    w.Counter("amberfs_fuse_writes_total", "write requests on volume.", counters_.writes);
    w.Counter("amberfs_fuse_write_bytes_total", "Bytes written to volume.", counters_.write_bytes);
    w.Counter("amberfs_fuse_fsyncs_total", "fsync and fdatasync requests on volume.", counters_.fsyncs);
    w.Counter("amberfs_fuse_discards_total", "fallocate punch-hole and zero-range requests.", counters_.discards);
    w.Counter("amberfs_fuse_errors_total", "volume requests answered with an error.", counters_.errors);
    w.Counter("amberfs_ctl_commands_total", "ctl commands executed.", counters_.ctl_commands);
    w.Counter("amberfs_ctl_errors_total", "ctl commands that failed.", counters_.ctl_errors);
    w.Gauge("amberfs_fuse_max_write_bytes", "max_write negotiated with the kernel.", max_write_.load());
    w.Gauge("amberfs_fuse_largest_write_bytes", "Largest write request seen.", counters_.largest_write);
    return w.text();
  }

 private:
  Volume& volume_;
  const bool page_cache_;
  CtlDispatcher ctl_;
  Counters counters_;
  OpenFileTable<OpenFile> open_files_;
  std::atomic<unsigned> max_write_{0};
  time_t mount_time_;
  std::mutex snap_mu_;
  std::map<std::pair<std::string, uint64_t>, fuse_ino_t> snap_inos_;  // guarded by snap_mu_
  std::map<fuse_ino_t, SnapshotFile> snap_files_;                     // guarded by snap_mu_
  fuse_ino_t next_snap_ino_ = kFirstSnapshotIno;                       // guarded by snap_mu_
};

Frontend& From(fuse_req_t req) { return *static_cast<Frontend*>(fuse_req_userdata(req)); }

// Runs a callback body. The body either replies itself and returns 0, or
// returns an errno for Reply to send.
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

// An error from the volume's I/O, logged once here and counted.
int VolumeError(Frontend& fe, const char* op, const Status& st) {
  fe.counters().errors.fetch_add(1, std::memory_order_relaxed);
  LOG_ERROR("%s on volume: %s", op, st.ToString().c_str());
  return st.code();
}

bool IsRootChild(fuse_ino_t ino) { return ino >= kVolumeIno && ino <= kSnapshotsIno; }
bool IsSnapshotIno(fuse_ino_t ino) { return ino >= kFirstSnapshotIno; }

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* fe = static_cast<Frontend*>(userdata);
  conn->max_write = kMaxWrite;
  // No writeback_cache: a write(2) that returned must have reached the Conductor.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  // Async direct I/O requests count as background requests; the default of
  // 12 would cap an iodepth-32 workload.
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  fe->negotiated_max_write() = conn->max_write;
  if (conn->max_write < kMaxWrite) {
    LOG_WARN("kernel limits FUSE writes to %u bytes (wanted %u)", conn->max_write, kMaxWrite);
  }
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Reply(req, [&] {
    if (parent == kSnapshotsIno) {
      for (const auto& [ino, file] : From(req).Snapshots()) {
        if (file.name != name) continue;
        fuse_entry_param entry;
        std::memset(&entry, 0, sizeof entry);
        entry.ino = ino;
        entry.attr = From(req).SnapshotAttr(ino, file);
        entry.attr_timeout = kAttrTimeout;  // a snapshot file never changes
        entry.entry_timeout = kSnapshotTimeout;
        fuse_reply_entry(req, &entry);
        return 0;
      }
      return ENOENT;
    }
    if (parent != kRootIno) return ENOTDIR;
    for (const RootEntry& e : kRootEntries) {
      if (std::strcmp(name, e.name) == 0) {
        fuse_entry_param entry;
        std::memset(&entry, 0, sizeof entry);
        entry.ino = e.ino;
        entry.attr = From(req).Attr(e.ino);
        entry.attr_timeout = kAttrTimeout;
        entry.entry_timeout = kAttrTimeout;
        fuse_reply_entry(req, &entry);
        return 0;
      }
    }
    return ENOENT;
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Reply(req, [&] {
    if (IsSnapshotIno(ino)) {
      std::optional<SnapshotFile> file = From(req).SnapshotByIno(ino);
      if (!file) return ENOENT;
      struct stat st = From(req).SnapshotAttr(ino, *file);
      fuse_reply_attr(req, &st, kAttrTimeout);
      return 0;
    }
    if (ino != kRootIno && !IsRootChild(ino)) return ENOENT;
    struct stat st = From(req).Attr(ino);
    fuse_reply_attr(req, &st, kAttrTimeout);
    return 0;
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (IsSnapshotIno(ino)) return EPERM;  // snapshots are read-only
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) return EPERM;
    if (to_set & FUSE_SET_ATTR_SIZE) {
      uint64_t want = static_cast<uint64_t>(attr->st_size);
      if (ino == kVolumeIno && want != fe.volume().size()) {
        LOG_WARN("refused to change the volume's size to %llu bytes: it is fixed at mkfs (%llu)",
                 static_cast<unsigned long long>(want), static_cast<unsigned long long>(fe.volume().size()));
        return EINVAL;
      }
      if (ino != kVolumeIno && ino != kCtlIno) return EINVAL;  // `> ctl` truncates; that is fine
    }
    // Time changes (touch) are accepted and forgotten: the tree is synthetic.
    struct stat st = fe.Attr(ino);
    fuse_reply_attr(req, &st, kAttrTimeout);
    return 0;
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    std::shared_ptr<OpenFile> file;
    switch (ino) {
      case kVolumeIno:
        if (writing && fe.volume().options().read_only) return EROFS;
        if ((fi->flags & O_TRUNC) && fe.volume().size() != 0) {
          LOG_WARN("refused to open the volume with O_TRUNC: its size is fixed at mkfs");
          return EINVAL;
        }
        // The Conductor is the cache. Without the kernel's page cache in
        // front, data is copied once less and not cached twice; page_cache
        // turns it back on (mmap of volume needs it).
        fi->direct_io = fe.page_cache() ? 0 : 1;
        break;
      case kCtlIno:
        file = std::make_shared<OpenFile>(ino);
        fi->direct_io = 1;
        break;
      case kStatsIno:
        if (writing) return EACCES;
        file = std::make_shared<OpenFile>(ino);
        file->text = fe.RenderStats();
        fi->direct_io = 1;
        break;
      case kRootIno:
      case kSnapshotsIno:
        return EISDIR;
      default: {
        std::optional<SnapshotFile> snapshot;
        if (IsSnapshotIno(ino)) snapshot = fe.SnapshotByIno(ino);
        if (!snapshot) return ENOENT;
        if (writing) return EACCES;
        file = std::make_shared<OpenFile>(ino);
        file->snapshot = std::move(*snapshot);
        fi->direct_io = 1;
        break;
      }
    }
    fi->fh = file ? fe.open_files().Add(std::move(file)) : 0;
    const uint64_t id = fi->fh;
    // The opener was interrupted: no release will come for this handle.
    if (fuse_reply_open(req, fi) == -ENOENT) fe.open_files().Remove(id);
    return 0;
  });
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  if (fi->fh != 0) From(req).open_files().Remove(fi->fh);
  fuse_reply_err(req, 0);
}

// The bytes of `text` a read at `offset` of `size` sees.
std::string_view TextAt(const std::string& text, uint64_t offset, size_t size) {
  if (offset >= text.size()) return {};
  return std::string_view(text).substr(offset, size);
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    const uint64_t offset = static_cast<uint64_t>(off);
    if (ino == kCtlIno) {
      std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
      if (!file) return EBADF;
      // Copy, then reply with no lock held: once the reply is sent, the
      // reader may close and RELEASE may run at once.
      std::string slice;
      {
        std::lock_guard<std::mutex> lock(file->mu);
        uint64_t rel = offset >= file->reply_base ? offset - file->reply_base : offset;
        slice = TextAt(file->text, rel, size);
      }
      fuse_reply_buf(req, slice.data(), slice.size());
      return 0;
    }
    if (ino == kStatsIno) {
      std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
      if (!file) return EBADF;
      std::string_view slice = TextAt(file->text, offset, size);  // immutable after open
      fuse_reply_buf(req, slice.data(), slice.size());
      return 0;
    }
    std::shared_ptr<OpenFile> snapshot;
    if (IsSnapshotIno(ino)) {
      snapshot = fe.open_files().Find(fi->fh);
      if (!snapshot) return EBADF;
    } else if (ino != kVolumeIno) {
      return EISDIR;
    }
    const uint64_t vsize = fe.volume().size();
    if (off < 0) return EINVAL;
    if (offset >= vsize || size == 0) {
      fuse_reply_buf(req, nullptr, 0);
      return 0;
    }
    size_t n = std::min<uint64_t>(size, vsize - offset);
    // One buffer per worker thread, grown to the largest request it has served
    // (at most max_read); avoids a 1 MiB allocation per request.
    thread_local std::unique_ptr<char[]> buffer;
    thread_local size_t capacity = 0;
    if (capacity < n) {
      buffer.reset(new char[n]);
      capacity = n;
    }
    if (snapshot) {
      const std::string& name = snapshot->snapshot.name;
      Status st = fe.volume().ReadSnapshot(name, buffer.get(), n, offset);
      if (!st.ok()) {
        LOG_ERROR("read snapshot %s: %s", name.c_str(), st.ToString().c_str());
        return st.code() == ENOENT ? ENOENT : EIO;
      }
      fuse_reply_buf(req, buffer.get(), n);
      return 0;
    }
    Status st = fe.volume().Read(buffer.get(), n, offset);
    if (!st.ok()) return VolumeError(fe, "read", st);
    fe.counters().reads.fetch_add(1, std::memory_order_relaxed);
    fe.counters().read_bytes.fetch_add(n, std::memory_order_relaxed);
    fuse_reply_buf(req, buffer.get(), n);
    return 0;
  });
}

void NoteLargest(std::atomic<uint64_t>& largest, uint64_t n) {
  uint64_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    const uint64_t offset = static_cast<uint64_t>(off);
    if (ino == kCtlIno) {
      std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
      if (!file) return EBADF;
      CtlOutcome out = fe.ctl().Execute(std::string_view(buf, size));
      fe.counters().ctl_commands.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(file->mu);
        file->text = std::move(out.reply);
        file->reply_base = out.status.ok() ? offset + size : offset;
      }
      if (!out.status.ok()) {
        fe.counters().ctl_errors.fetch_add(1, std::memory_order_relaxed);
        LOG_WARN("ctl: %s", out.status.ToString().c_str());
        return out.status.code();
      }
      fuse_reply_write(req, size);
      return 0;
    }
    if (ino != kVolumeIno) return EBADF;
    const uint64_t vsize = fe.volume().size();
    if (off < 0) return EINVAL;
    if (offset >= vsize) return ENOSPC;
    size_t n = std::min<uint64_t>(size, vsize - offset);
    Status st = fe.volume().Write(buf, n, offset);
    if (!st.ok()) return VolumeError(fe, "write", st);
    fe.counters().writes.fetch_add(1, std::memory_order_relaxed);
    fe.counters().write_bytes.fetch_add(n, std::memory_order_relaxed);
    NoteLargest(fe.counters().largest_write, size);
    fuse_reply_write(req, n);
    return 0;
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  // close(2) does not imply durability; fsync does.
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (ino != kVolumeIno) {
      fuse_reply_err(req, 0);  // ctl and stats hold nothing to make durable
      return 0;
    }
    fe.counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
    Status st = fe.volume().Flush();
    if (!st.ok()) return VolumeError(fe, "fsync", st);
    fuse_reply_err(req, 0);
    return 0;
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t length, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (ino != kVolumeIno) return EOPNOTSUPP;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) return EOPNOTSUPP;
    if (off < 0 || length <= 0) return EINVAL;
    const uint64_t vsize = fe.volume().size();
    const uint64_t start = static_cast<uint64_t>(off);
    const uint64_t len = static_cast<uint64_t>(length);
    if (len > UINT64_MAX - start) return EFBIG;
    uint64_t end = start + len;
    if (end > vsize && !(mode & FALLOC_FL_KEEP_SIZE)) return ENOSPC;  // it would grow the file
    if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
      // Plain allocation: every byte of the volume is already addressable.
      // Space in a sparse image is not reserved; see amberfs(8).
      fuse_reply_err(req, 0);
      return 0;
    }
    end = std::min(end, vsize);
    if (start < end) {
      Status st = fe.volume().Discard(start, end - start);
      if (!st.ok()) return VolumeError(fe, "discard", st);
      fe.counters().discards.fetch_add(1, std::memory_order_relaxed);
    }
    fuse_reply_err(req, 0);
    return 0;
  });
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    struct statvfs sv;
    std::memset(&sv, 0, sizeof sv);
    sv.f_bsize = fe.volume().config().block_size;
    sv.f_frsize = fe.volume().config().block_size;
    // The volume fills the file system; nothing more can be created in it.
    sv.f_blocks = fe.volume().size() / sv.f_frsize;
    sv.f_files = 5;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
    return 0;
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (ino != kRootIno && ino != kSnapshotsIno) return ENOTDIR;
    struct Item {
      const char* name;
      fuse_ino_t ino;
    };
    std::vector<Item> items = {{".", ino}, {"..", kRootIno}};
    if (ino == kRootIno) {
      for (const RootEntry& e : kRootEntries) items.push_back({e.name, e.ino});
    }
    // Listed afresh for each call; an offset is an index into this list, so
    // a snapshot taken or deleted between calls may shift a name (as in any
    // directory changed during a listing).
    std::vector<std::pair<fuse_ino_t, SnapshotFile>> snapshots;
    if (ino == kSnapshotsIno) {
      snapshots = fe.Snapshots();
      for (const auto& [sino, file] : snapshots) items.push_back({file.name.c_str(), sino});
    }
    std::string buf(size, '\0');
    size_t used = 0;
    for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < items.size(); ++i) {
      struct stat st = IsSnapshotIno(items[i].ino) ? fe.SnapshotAttr(items[i].ino, snapshots[i - 2].second)
                                                   : fe.Attr(items[i].ino);
      size_t need = fuse_add_direntry(req, buf.data() + used, size - used, items[i].name, &st,
                                      static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
    return 0;
  });
}

fuse_lowlevel_ops MakeOps() {
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

}  // namespace

Status ServeFuse(Volume& volume, const FuseServeOptions& options, const std::function<void()>& on_mounted) {
  Frontend frontend(volume, options.page_cache);
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
  if (fuse_set_signal_handlers(s.se_) != 0) return Status::Error(EIO, "cannot install signal handlers");
  s.signals_ = true;
  if (fuse_session_mount(s.se_, options.mountpoint.c_str()) != 0) {
    return Status::Error(EIO, "cannot mount at " + options.mountpoint + " (libfuse said why above)");
  }
  s.mounted_ = true;
  LOG_INFO("mounted %s at %s", volume.dir().c_str(), options.mountpoint.c_str());
  // After a rollback the kernel must not serve volume's old pages (they
  // exist only with page_cache, but are dropped either way).
  fuse_session* se = s.se_;
  volume.SetAfterRollback([se] {
    int rc = fuse_lowlevel_notify_inval_inode(se, kVolumeIno, 0, 0);
    if (rc != 0 && rc != -ENOENT) LOG_WARN("invalidate volume pages after rollback: %s", std::strerror(-rc));
  });
  struct ClearHook {
    Volume& v;
    ~ClearHook() { v.SetAfterRollback(nullptr); }
  } clear_hook{volume};
  on_mounted();

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
  // A signal ends the loop with its number; an unmount ends it with 0.
  if (rc < 0) return Status::Error(-rc, "FUSE session loop failed: " + std::string(std::strerror(-rc)));
  LOG_INFO("unmounting %s", options.mountpoint.c_str());
  return Status::OK();
}

}  // namespace amberfs
