// Frontend: attributes, the snapshot files and stats (see frontend.h).
#include "fuse/frontend.h"

#include <unistd.h>

#include <cstring>

#include "amberfs/log.h"
#include "base/stats.h"

namespace amberfs::frontend {

Frontend::Frontend(Volume& volume, bool page_cache, std::string mountpoint, std::function<void()> on_mounted,
                   unsigned max_read)
    : volume_(volume),
      page_cache_(page_cache),
      mountpoint_(std::move(mountpoint)),
      on_mounted_(std::move(on_mounted)),
      max_read_(max_read) {
  volume_.RegisterCtl(&ctl_);
  mount_time_ = time(nullptr);
}

void Frontend::Mounted() {
  if (mounted_.exchange(true)) return;
  LOG_INFO("mounted %s at %s", volume_.dir().c_str(), mountpoint_.c_str());
  if (on_mounted_) on_mounted_();
}

struct stat Frontend::Attr(fuse_ino_t ino) const {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_ino = ino;
  st.st_uid = getuid();
  st.st_gid = getgid();
  st.st_atime = st.st_mtime = st.st_ctime = mount_time_;
  st.st_blksize = volume_.config().chunk_size;
  const bool ro = volume_.options().read_only;
  // A snapshot holds the volume's data, so it and its directory are for the
  // volume's owner only: read-only copies of volume's permissions.
  const mode_t volume_mode = ro ? 0400 : 0600;
  const mode_t snapshot_mode = volume_mode & 0444;
  switch (IsCtlIno(ino) ? kCtlIno : ino) {
    case kRootIno: st.st_mode = S_IFDIR | 0755; st.st_nlink = 3; break;
    case kSnapshotsIno:
      st.st_mode = S_IFDIR | snapshot_mode | (snapshot_mode >> 2);  // r -> r-x
      st.st_nlink = 2;
      break;
    case kVolumeIno:
      st.st_mode = S_IFREG | volume_mode;
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(volume_.size());
      st.st_blocks = static_cast<blkcnt_t>(volume_.size() / 512);
      break;
    case kCtlIno: st.st_mode = S_IFREG | 0600; st.st_nlink = 1; break;
    case kStatsIno: st.st_mode = S_IFREG | 0444; st.st_nlink = 1; break;
    default:
      if (IsSnapshotIno(ino)) {
        st.st_mode = S_IFREG | snapshot_mode;
        st.st_nlink = 1;
        st.st_size = static_cast<off_t>(volume_.size());
      }
      break;
  }
  return st;
}

struct stat Frontend::SnapshotAttr(fuse_ino_t ino, const SnapshotFile& file) const {
  struct stat st = Attr(ino);
  st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec = static_cast<time_t>(file.created_ns / 1000000000);
  st.st_atim.tv_nsec = st.st_mtim.tv_nsec = st.st_ctim.tv_nsec = static_cast<long>(file.created_ns % 1000000000);
  return st;
}

std::vector<std::pair<fuse_ino_t, SnapshotFile>> Frontend::Snapshots() {
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

std::optional<SnapshotFile> Frontend::SnapshotByIno(fuse_ino_t ino) {
  std::lock_guard<std::mutex> lock(snap_mu_);
  auto it = snap_files_.find(ino);
  if (it == snap_files_.end()) return std::nullopt;
  return it->second;
}

bool Frontend::SnapshotExists(const SnapshotFile& file) {
  Result<std::vector<SnapshotInfo>> list = volume_.ListSnapshots();
  if (!list.ok()) return true;  // unknown: do not claim it is gone
  for (const SnapshotInfo& info : *list) {
    if (info.name == file.name && info.created_ns == file.created_ns) return true;
  }
  return false;
}

std::string Frontend::RenderStats() {
  MetricsWriter w;
  volume_.WriteMetrics(&w);
  w.Counter("amberfs_fuse_reads_total", "read requests on volume.", counters_.reads);
  w.Counter("amberfs_fuse_read_bytes_total", "Bytes read from volume.", counters_.read_bytes);
  w.Counter("amberfs_fuse_writes_total", "write requests on volume.", counters_.writes);
  w.Counter("amberfs_fuse_write_bytes_total", "Bytes written to volume.", counters_.write_bytes);
  w.Counter("amberfs_fuse_fsyncs_total", "fsync and fdatasync requests on volume.", counters_.fsyncs);
  w.Counter("amberfs_fuse_discards_total", "fallocate punch-hole and zero-range requests.", counters_.discards);
  // By the request that failed: an fsync that failed because write-back to
  // the image did (ENOSPC, EIO) counts here as op="fsync", whatever the
  // image-level amberfs_errors_total kind.
  w.Family("amberfs_fuse_errors_total", "counter", "volume requests answered with an error, by request.");
  w.Sample("amberfs_fuse_errors_total", {{"op", "read"}}, counters_.read_errors);
  w.Sample("amberfs_fuse_errors_total", {{"op", "write"}}, counters_.write_errors);
  w.Sample("amberfs_fuse_errors_total", {{"op", "fsync"}}, counters_.fsync_errors);
  w.Sample("amberfs_fuse_errors_total", {{"op", "discard"}}, counters_.discard_errors);
  w.Counter("amberfs_ctl_commands_total", "ctl commands executed.", counters_.ctl_commands);
  w.Counter("amberfs_ctl_errors_total", "ctl commands that failed.", counters_.ctl_errors);
  w.Gauge("amberfs_fuse_max_write_bytes", "max_write negotiated with the kernel.", max_write_.load());
  w.Gauge("amberfs_fuse_largest_write_bytes", "Largest write request seen.", counters_.largest_write);
  w.Gauge("amberfs_fuse_writes_in_flight_peak", "Most write requests on volume served at once.",
          counters_.writes_in_flight_peak);
  return w.text();
}

}  // namespace amberfs::frontend
