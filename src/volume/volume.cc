// Volume: opening, closing, I/O and ctl of one volume (see amberfs/volume.h).
#include "amberfs/volume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amberfs/log.h"
#include "amberfs/mount_options.h"
#include "amberfs/size_parse.h"
#include "amberfs/volume_create.h"
#include "amberfs/volume_resize.h"
#include "base/space_reserve.h"
#include "base/stats.h"
#include "base/unique_fd.h"
#include "cache/conductor.h"
#include "cache/conductor_metrics.h"
#include "volume/auto_snapshots.h"
#include "volume/volume_metrics.h"
#include "io/batch_io.h"
#include "io/device.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/hydrator.h"
#include "snapshot/rollback_intent.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/slow_packs.h"
#include "store/store_url.h"
#include "volume/ctl.h"
#include "volume/volume_build.h"
#include "volume/volume_key.h"
#include "volume/volume_lock.h"

namespace amberfs {
namespace {

// Whether two paths are on one file system (false if either cannot be seen).
bool SameFileSystem(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}


// The change tracker of the volume: opened, or created for a volume that has
// none yet. A new tracker starts empty only if the image holds no data (a
// fresh mkfs); an image that came with data has never been snapshotted, so
// every chunk is marked and the first snapshot reads it all.
Result<std::unique_ptr<ChangeTracker>> OpenTracker(const std::string& dir, const VolumeConfig& config) {
  const std::string path = VolumePath(dir, kChangesFile);
  if (::access(path.c_str(), F_OK) == 0) {
    ChangeTrackerOpenReport report;
    Result<std::unique_ptr<ChangeTracker>> t = ChangeTracker::Open(path, config.size, config.chunk_size, &report);
    if (t.ok() && report.bad_pages > 0) {
      LOG_WARN("change tracker %s: %llu damaged pages taken as all changed", path.c_str(),
               (unsigned long long)report.bad_pages);
    }
    return t;
  }
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<ChangeTracker> t, ChangeTracker::Create(path, config.size, config.chunk_size));
  const std::string image = config.ImagePath(dir);
  UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + image);
  const bool empty = ::lseek(fd.get(), 0, SEEK_DATA) < 0 && errno == ENXIO;
  Result<Pointer> base = ReadSnapshotBase(dir);
  if (!empty || !base.ok() || !base->IsNull()) {
    LOG_INFO("new change tracker for %s: every chunk marked (the image has data)", dir.c_str());
    AMBER_RETURN_IF_ERROR(t->MarkAll());
  }
  return t;
}

}  // namespace


Volume::Volume(std::string dir, VolumeConfig config, VolumeOptions options, std::unique_ptr<VolumeLock> lock)
    : dir_(std::move(dir)), config_(std::move(config)), options_(options), lock_(std::move(lock)) {}

Volume::~Volume() {
  if (!closed_) {
    Status st = Close();
    if (!st.ok()) LOG_ERROR("closing volume %s: %s", dir_.c_str(), st.ToString().c_str());
  }
}

Result<std::unique_ptr<Volume>> Volume::Open(const std::string& voldir, const VolumeOptions& options) {
  AMBER_RETURN_IF_ERROR(CheckVolumeMemory(options));
  // The allocation sites of big buffers return ENOMEM themselves; this catches
  // the rest, so that no allocation at startup aborts the process.
  try {
    return OpenUnguarded(voldir, options);
  } catch (const std::bad_alloc&) {
    return Status::Error(ENOMEM, "not enough memory to open the volume " + voldir + " (a smaller cache_size?)");
  }
}

Result<std::unique_ptr<Volume>> Volume::OpenUnguarded(const std::string& voldir, const VolumeOptions& options) {
  const std::string dir = AbsolutePath(voldir);
  // The lock before the config: mkfs --force swaps the whole directory while
  // holding it, so a config read under the lock is the volume's own.
  if (::access(VolumePath(dir, kConfigFile).c_str(), F_OK) != 0) {
    const bool missing = errno == ENOENT;
    if (std::string left = DescribeInterruptedBuild(dir); missing && !left.empty()) return Status::Error(ENOENT, left);
    return VolumeConfig::Load(dir).status();  // says what is wrong
  }
  AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(dir, "mount"));
  AMBER_RETURN_IF_ERROR(RefuseInterruptedInstall(dir));
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, VolumeConfig::Load(dir));
  if (std::string resize = DescribeInterruptedResize(dir, config); !resize.empty()) {
    if (options.read_only) {
      return Status::Error(EBUSY, "volume " + dir + ": " + resize + ": mount it read-write once (or run "
                                  "fsck.amberfs -y, or mkfs.amberfs --resize again) to settle it");
    }
    AMBER_RETURN_IF_ERROR(FinishInterruptedResize(dir, config).Annotate("settle an interrupted resize"));
  }
  if (options.read_only && ::access(VolumePath(dir, kRemoteChunksFile).c_str(), F_OK) == 0) {
    return Status::Error(EROFS, "volume " + dir + " is a clone whose chunks are partly still in the slow store, "
                                "and reading them writes them into the image: mount it read-write (`echo hydrate "
                                "> ctl` then fetches them all)");
  }
  if (options.read_only) {
    AMBER_ASSIGN_OR_RETURN(std::optional<RollbackIntent> intent, ReadRollbackIntent(dir));
    if (intent) {
      return Status::Error(EBUSY, "a rollback to " + intent->name + " did not finish, so the volume is half "
                                  "rolled back: mount it read-write once to finish it");
    }
  }
  // The key before anything else: a wrong or missing one changes nothing.
  std::vector<uint8_t> key_object;
  AMBER_ASSIGN_OR_RETURN(VolumeCodec codec, OpenVolumeCodec(dir, config, options.key_file, &key_object));
  if (lock.previous_unclean()) {
    LOG_WARN("volume %s was not shut down cleanly (%s); data not fsynced before then may be lost",
             dir.c_str(), lock.previous_marker().c_str());
  }

  const std::string image = config.ImagePath(dir);
  DeviceOptions dev_opts;
  dev_opts.direct = options.direct;
  dev_opts.direct_scattered_writes = options.direct_writeback;
  dev_opts.read_only = options.read_only;
  Result<std::unique_ptr<Device>> device = Device::Open(image, dev_opts);
  if (!device.ok()) return device.status().Annotate("open image");
  if ((*device)->size() != config.size) {
    return Status::Error(EINVAL, "image " + image + " has " + std::to_string((*device)->size()) +
                                     " bytes but the volume is " + std::to_string(config.size) +
                                     " bytes (was the image replaced or resized?)");
  }

  std::unique_ptr<Volume> volume(
      new Volume(dir, std::move(config), options, std::make_unique<VolumeLock>(std::move(lock))));
  volume->closed_ = true;  // until the Conductor is open there is nothing to close
  volume->codec_ = std::make_shared<const VolumeCodec>(std::move(codec));
  volume->key_object_ = std::move(key_object);
  ConductorOptions copts;
  if (!options.read_only) AMBER_RETURN_IF_ERROR(volume->OpenSnapshots(&copts));
  copts.cache_bytes = options.cache_bytes;
  copts.block_size = volume->config_.block_size;
  copts.dirty_max_bytes = options.dirty_max_bytes;
  copts.sync_delay = options.sync_delay;
  if (volume->space_reserve_ && SameFileSystem(image, dir)) copts.space_reserve = volume->space_reserve_.get();
  Result<std::unique_ptr<Conductor>> conductor =
      Conductor::Open(std::move(device).value(), OpenBatchIO(options.io), copts);
  if (!conductor.ok()) return conductor.status().Annotate("open cache");

  volume->conductor_ = std::move(conductor).value();
  volume->closed_ = false;
  if (volume->snapshotter_) volume->snapshotter_->Attach(volume->conductor_.get());
  if (!options.read_only) {
    Status st = volume->lock_->MarkMounted();
    if (!st.ok()) {
      volume->closed_ = true;  // nothing was written yet; do not clear a marker we never set
      volume->conductor_->Close().IgnoreError();  // the marker error is the one to report
      return st.Annotate("mark volume mounted");
    }
  }
  if (volume->snapshotter_) {
    // Marked mounted first: finishing a rollback writes the image.
    Status resumed = volume->snapshotter_->ResumeRollback();
    if (!resumed.ok()) LOG_ERROR("%s (writes are refused until a rollback succeeds)", resumed.ToString().c_str());
  }
  if (volume->snapshotter_ && options.snapshot_interval.count() > 0) {
    volume->auto_snapshots_ =
        std::make_unique<AutoSnapshots>(volume->snapshotter_.get(), options.snapshot_interval, options.keep);
    volume->auto_snapshots_->Start();
  }
  ConductorStats cs = volume->conductor_->Stats();
  LOG_INFO("volume %s (%s, %s) open: cache %s, dirty cap %s, io %s%s%s", volume->dir_.c_str(),
           volume->config_.uuid.c_str(), FormatSize(volume->config_.size).c_str(),
           FormatSize(cs.cache_budget_bytes).c_str(), FormatSize(cs.dirty_max_bytes).c_str(),
           cs.backend.c_str(), cs.backend_fallback_reason.empty() ? "" : " — fallback: ",
           cs.backend_fallback_reason.c_str());
  return volume;
}

Status Volume::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  // Its running tick finishes first: retention applies to every automatic
  // snapshot taken, and nothing snapshots a closing cache.
  if (auto_snapshots_) auto_snapshots_->Stop();
  if (hydrator_) hydrator_->Stop();  // its read-ahead fetches finish
  Status st = conductor_->Close();
  if (!st.ok()) {
    LOG_ERROR("final flush of %s failed, the volume stays marked unclean: %s", dir_.c_str(),
              st.ToString().c_str());
    return st;
  }
  if (!options_.read_only) AMBER_RETURN_IF_ERROR(lock_->MarkClean());
  LOG_INFO("volume %s closed cleanly", dir_.c_str());
  return Status::OK();
}

void Volume::RegisterCtl(CtlDispatcher* ctl) {
  ctl->Register("flush", "flush", 0, 0, [this](const std::vector<std::string>&) -> Result<std::string> {
    AMBER_RETURN_IF_ERROR(Flush());
    return std::string("ok");
  });
  ctl->Register("loglevel", "loglevel [error|warn|info|debug]", 0, 1,
                [](const std::vector<std::string>& args) -> Result<std::string> {
                  if (!args.empty()) {
                    LogLevel level;
                    if (!ParseLogLevel(args[0], &level)) {
                      return Status::Error(EINVAL, "unknown level '" + args[0] + "' (error, warn, info or debug)");
                    }
                    SetLogLevel(level);
                  }
                  return std::string("loglevel ") + LogLevelName(GetLogLevel());
                });
  if (snapshotter_) RegisterSnapshotCtl(ctl);
  if (snapshotter_) RegisterCloneCtl(ctl);
}

void Volume::WriteMetrics(MetricsWriter* out) const {
  WriteBuildInfo(out);
  out->Gauge("amberfs_volume_size_bytes", "The volume's size.", config_.size);
  WriteConductorMetrics(conductor_->Stats(), out);
  if (snapshotter_) WriteSnapshotMetrics(snapshotter_->Stats(), out);
  if (auto_snapshots_) WriteAutoSnapshotMetrics(auto_snapshots_->Stats(), out);
  if (hydrator_) WriteCloneMetrics(hydrator_->Stats(), out);
}

Status Volume::OpenSnapshots(ConductorOptions* copts) {
  AMBER_ASSIGN_OR_RETURN(tracker_, OpenTracker(dir_, config_));
  PackedDiskStoreOptions fast_options;
  fast_options.disk.exclusive = true;  // the volume lock makes us its only user
  // An encrypted volume's pack tables are sealed: the fast store writes and
  // reads them, the slow store's pack map reads them.
  const std::shared_ptr<const PackTableCodec> pack_tables = codec_->PackTables();
  fast_options.pack.tables = pack_tables;
  fast_options.pack.target_bytes = options_.pack_bytes;
  Result<std::unique_ptr<PackedDiskStore>> fast = PackedDiskStore::Open(VolumePath(dir_, kFastStoreDir), fast_options);
  if (!fast.ok()) return fast.status().Annotate("open fast store");
  // Room for delete and gc on a full VOLDIR: bulk writes on its file system
  // (the fast store's blobs, a local slow store's, the image's write-back)
  // leave what the reserve lacks (base/space_reserve.h).
  AMBER_ASSIGN_OR_RETURN(space_reserve_, SpaceReserve::Open(VolumePath(dir_, kSpaceReserveFile), kSpaceReserveBytes));
  (*fast)->set_space_reserve(space_reserve_.get());
  // The volume is local: it mounts while the slow store is down, and its
  // uploads wait for the store (kProbe only warns).
  Result<std::unique_ptr<Store>> slow = OpenStoreUrl(config_.slow_url, options_.s3_credentials, StoreCheck::kProbe);
  if (!slow.ok()) return slow.status().Annotate("open slow store");
  GivePackTables(slow->get(), pack_tables);
  Store* slow_raw = slow->get();
  if (auto* packs = dynamic_cast<SlowPacks*>(slow_raw)) slow_raw = &packs->raw();
  if (auto* local = dynamic_cast<DiskStore*>(slow_raw); local != nullptr && SameFileSystem(local->root(), dir_)) {
    local->set_space_reserve(space_reserve_.get());
  }
  PairedOptions paired_options;
  paired_options.lock_owner = config_.uuid;  // other volumes may share the slow store
  paired_options.upload_rate = options_.upload_rate;
  Result<std::unique_ptr<PairedStore>> paired = PairedStore::Open(std::move(fast).value(), std::move(slow).value(),
                                                                  VolumePath(dir_, kUploadLogFile), paired_options);
  if (!paired.ok()) return paired.status().Annotate("open blob store");
  paired_ = std::move(paired).value();
  AMBER_ASSIGN_OR_RETURN(catalog_, Catalog::Open(dir_));
  Result<std::unique_ptr<Hydrator>> hydrator = Hydrator::Open(dir_, config_.ImagePath(dir_), paired_.get(), HydratorOptions{.codec = *codec_});
  if (!hydrator.ok()) return hydrator.status().Annotate("open the clone's remote chunks");
  hydrator_ = std::move(hydrator).value();
  SnapshotterOptions so;
  if (hydrator_) {
    so.pinned_snapshot = [h = hydrator_.get()] { return h->PinnedSnapshot(); };
    so.is_remote = [h = hydrator_.get()](uint64_t chunk) { return h->IsRemote(chunk); };
  }
  so.space_reserve = space_reserve_.get();
  so.voldir = dir_;
  so.volume_uuid = config_.uuid;
  so.volume_size = config_.size;
  so.chunk_size = config_.chunk_size;
  so.config_text = config_.Serialize();
  so.codec = *codec_;
  so.key_object = key_object_;
  // Writers' old copies during a snapshot are volume data held in memory, as
  // the cache is: a quarter of the cache's size for them (at least the
  // default). Past it a writer hashes and stores its copy inline, which on
  // the test VM set the writer's p99 during a snapshot.
  so.cow_memory_bytes = std::max<uint64_t>(so.cow_memory_bytes, options_.cache_bytes / 4);
  Result<std::unique_ptr<Snapshotter>> snap = Snapshotter::Open(tracker_.get(), paired_.get(), catalog_.get(), so);
  if (!snap.ok()) return snap.status().Annotate("open snapshots");
  snapshotter_ = std::move(snap).value();
  copts->observer = snapshotter_->observer();
  return Status::OK();
}

// A clone's remote chunks reach the image before the cache sees the range.
Status Volume::Read(void* buf, size_t length, uint64_t offset) {
  if (hydrator_) AMBER_RETURN_IF_ERROR(hydrator_->EnsureLocal(offset, length));
  return conductor_->ReadAt(buf, length, offset);
}

Status Volume::Write(const void* buf, size_t length, uint64_t offset) {
  if (hydrator_) AMBER_RETURN_IF_ERROR(hydrator_->EnsureLocal(offset, length));
  return snapshotter_ ? snapshotter_->Write(buf, length, offset) : conductor_->WriteAt(buf, length, offset);
}

Status Volume::Discard(uint64_t offset, uint64_t length) {
  if (hydrator_) AMBER_RETURN_IF_ERROR(hydrator_->EnsureLocal(offset, length));
  return snapshotter_ ? snapshotter_->Discard(offset, length) : conductor_->Discard(offset, length);
}

Status Volume::Flush() { return conductor_->Flush(); }

Result<std::vector<SnapshotInfo>> Volume::ListSnapshots() const {
  if (!snapshotter_) return std::vector<SnapshotInfo>();
  return snapshotter_->List();
}

Result<SnapshotHandle> Volume::OpenSnapshot(std::string_view name) {
  if (!snapshotter_) return Status::Error(ENOENT, "a read-only volume has no snapshots");
  return snapshotter_->OpenSnapshot(name);
}

Status Volume::ReadSnapshot(const SnapshotHandle& snapshot, void* buf, size_t length, uint64_t offset) {
  if (!snapshotter_) return Status::Error(ENOENT, "a read-only volume has no snapshots");
  return snapshotter_->ReadSnapshot(snapshot, buf, length, offset);
}

Status Volume::ReadSnapshot(std::string_view name, void* buf, size_t length, uint64_t offset) {
  if (!snapshotter_) return Status::Error(ENOENT, "a read-only volume has no snapshots");
  return snapshotter_->ReadSnapshot(name, buf, length, offset);
}

void Volume::RegisterSnapshotCtl(CtlDispatcher* ctl) {
  Snapshotter* snap = snapshotter_.get();
  ctl->Register("snapshot", "snapshot [NAME]", 0, 1, [snap](const std::vector<std::string>& args) -> Result<std::string> {
    if (!args.empty() && IsAutoSnapshotName(args[0])) {
      return Status::Error(EINVAL, "'" + args[0] + "' is an automatic snapshot's name (auto-YYYYMMDDTHHMMSSZ): pick another");
    }
    AMBER_ASSIGN_OR_RETURN(SnapshotReply r, snap->Snapshot(args.empty() ? std::string() : args[0]));
    LOG_INFO("snapshot %s: %llu chunks, %llu new blobs, %llu bytes, %.1f ms", r.name.c_str(),
             (unsigned long long)r.chunks_captured, (unsigned long long)r.new_blobs,
             (unsigned long long)r.bytes_stored, r.duration.count() / 1e6);
    return r.ToString();
  });
  ctl->RegisterCancellable("drain", "drain [TIMEOUT]", 0, 1,
                           [snap](const std::vector<std::string>& args, const CtlContext& ctx) -> Result<std::string> {
                             std::chrono::milliseconds timeout = kDefaultDrainTimeout;
                             if (!args.empty()) {
                               AMBER_ASSIGN_OR_RETURN(timeout, ParseCtlTimeout(args[0]));
                             }
                             AMBER_RETURN_IF_ERROR(WaitCancellable(ctx, timeout, [snap](std::chrono::milliseconds slice) {
                               return snap->Drain(slice);
                             }));
                             return std::string("drained");
                           });
  ctl->Register("delete", "delete NAME", 1, 1, [snap](const std::vector<std::string>& args) -> Result<std::string> {
    AMBER_RETURN_IF_ERROR(snap->Delete(args[0]));
    return "deleted " + args[0];
  });
  ctl->Register("rollback", "rollback NAME", 1, 1, [this, snap](const std::vector<std::string>& args) -> Result<std::string> {
    Result<RollbackReply> r = snap->Rollback(args[0]);
    if (after_rollback_) after_rollback_();  // a failed rollback may have changed the volume too
    if (!r.ok()) return r.status();
    return r->ToString();
  });
  ctl->Register("gc", "gc", 0, 0, [snap](const std::vector<std::string>&) -> Result<std::string> {
    AMBER_ASSIGN_OR_RETURN(GcReply r, snap->Gc());
    return r.ToString();
  });
}

void Volume::RegisterCloneCtl(CtlDispatcher* ctl) {
  ctl->RegisterCancellable("hydrate", "hydrate", 0, 0,
                           [this](const std::vector<std::string>&, const CtlContext& ctx) -> Result<std::string> {
                             if (!hydrator_) return HydrateReply().ToString();  // nothing is remote
                             AMBER_ASSIGN_OR_RETURN(HydrateReply r,
                                                    hydrator_->HydrateAll([&ctx] { return ctx.Cancelled(); }));
                             return r.ToString();
                           });
}

}  // namespace amberfs
