// The tree's operations: init, lookup, getattr, setattr, open, release,
// readdir, statfs (see frontend.h).
#include <sys/statvfs.h>

#include <cstring>

#include "amberfs/log.h"
#include "fuse/frontend.h"
#include "fuse/open_reply.h"

namespace amberfs::frontend {
namespace {

struct RootEntry {
  const char* name;
  fuse_ino_t ino;
};
constexpr RootEntry kRootEntries[] = {
    {"volume", kVolumeIno}, {"ctl", kCtlIno}, {"stats", kStatsIno}, {"snapshots", kSnapshotsIno}};

int LookupSnapshot(fuse_req_t req, const char* name) {
  Frontend& fe = From(req);
  for (const auto& [ino, file] : fe.Snapshots()) {
    if (file.name != name) continue;
    fuse_entry_param entry;
    std::memset(&entry, 0, sizeof entry);
    entry.ino = ino;
    entry.attr = fe.SnapshotAttr(ino, file);
    entry.attr_timeout = kAttrTimeout;  // a snapshot file never changes
    entry.entry_timeout = kSnapshotTimeout;
    fuse_reply_entry(req, &entry);
    return 0;
  }
  return ENOENT;
}

// Opens snapshots/NAME: pins the snapshot the inode stands for. If the name
// now belongs to another snapshot (deleted and taken again), the inode is
// stale: ESTALE makes the kernel look the name up again.
int OpenSnapshotFile(Frontend& fe, fuse_ino_t ino, std::shared_ptr<OpenFile>* file) {
  std::optional<SnapshotFile> snapshot;
  if (IsSnapshotIno(ino)) snapshot = fe.SnapshotByIno(ino);
  if (!snapshot) return ENOENT;
  Result<SnapshotHandle> handle = fe.volume().OpenSnapshot(snapshot->name);
  if (!handle.ok()) {
    if (handle.status().code() == ENOENT) return ESTALE;
    LOG_ERROR("open snapshot %s: %s", snapshot->name.c_str(), handle.status().ToString().c_str());
    return EIO;
  }
  if (handle->created_ns != snapshot->created_ns) return ESTALE;
  *file = std::make_shared<OpenFile>();
  (*file)->snapshot = std::move(handle).value();
  return 0;
}

}  // namespace

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* fe = static_cast<Frontend*>(userdata);
  conn->max_write = kMaxWrite;
  // libfuse insists that this equals the max_read mount option, if any.
  conn->max_read = fe->max_read();
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
  // libfuse refuses the INIT after this callback only for capabilities the
  // kernel lacks or a max_read that differs from the option (both settled
  // above); otherwise its reply completes the mount.
  if (conn->want & ~conn->capable) {
    LOG_ERROR("the kernel lacks FUSE capabilities 0x%x that the mount needs", conn->want & ~conn->capable);
    return;
  }
  fe->Mounted();
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (parent == kSnapshotsIno) return LookupSnapshot(req, name);
    if (parent != kRootIno) return ENOTDIR;
    for (const RootEntry& e : kRootEntries) {
      if (std::strcmp(name, e.name) != 0) continue;
      fuse_entry_param entry;
      std::memset(&entry, 0, sizeof entry);
      entry.ino = e.ino == kCtlIno ? fe.NextCtlIno() : e.ino;
      entry.attr = fe.Attr(entry.ino);
      entry.attr_timeout = kAttrTimeout;
      // ctl: looked up at every open, so every open has an inode of its own.
      entry.entry_timeout = e.ino == kCtlIno ? 0.0 : kAttrTimeout;
      fuse_reply_entry(req, &entry);
      return 0;
    }
    return ENOENT;
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (IsSnapshotIno(ino)) {
      std::optional<SnapshotFile> file = fe.SnapshotByIno(ino);
      if (!file) return ENOENT;
      struct stat st = fe.SnapshotAttr(ino, *file);
      fuse_reply_attr(req, &st, kAttrTimeout);
      return 0;
    }
    if (ino != kRootIno && !IsRootChild(ino) && !IsCtlIno(ino)) return ENOENT;
    struct stat st = fe.Attr(ino);
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
      if (ino != kVolumeIno && !IsCtlIno(ino)) return EINVAL;  // `> ctl` truncates; that is fine
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
    if (ino == kVolumeIno) {
      if (writing && fe.volume().options().read_only) return EROFS;
      if ((fi->flags & O_TRUNC) && fe.volume().size() != 0) {
        LOG_WARN("refused to open the volume with O_TRUNC: its size is fixed at mkfs");
        return EINVAL;
      }
      // The Conductor is the cache. Without the kernel's page cache in
      // front, data is copied once less and not cached twice; page_cache
      // turns it back on (mmap of volume needs it).
      fi->direct_io = fe.page_cache() ? 0 : 1;
    } else if (IsCtlIno(ino)) {
      file = std::make_shared<OpenFile>();
      fi->direct_io = 1;
    } else if (ino == kStatsIno) {
      if (writing) return EACCES;
      file = std::make_shared<OpenFile>();
      file->text = fe.RenderStats();
      fi->direct_io = 1;
    } else if (ino == kRootIno || ino == kSnapshotsIno) {
      return EISDIR;
    } else {
      if (writing) return IsSnapshotIno(ino) ? EACCES : ENOENT;
      if (int err = OpenSnapshotFile(fe, ino, &file); err != 0) return err;
      fi->direct_io = 1;
    }
    fi->fh = file ? fe.open_files().Add(std::move(file)) : 0;
    const uint64_t id = fi->fh;
    // Concurrent writes to volume reach the Conductor concurrently (it locks
    // per block); the other files keep the kernel's one-write-at-a-time.
    // The opener was interrupted: no release will come for this handle.
    if (ReplyOpen(req, *fi, ino == kVolumeIno) == -ENOENT) fe.open_files().Remove(id);
    return 0;
  });
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  if (fi->fh != 0) From(req).open_files().Remove(fi->fh);
  fuse_reply_err(req, 0);
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

}  // namespace amberfs::frontend
