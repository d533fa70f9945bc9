// Volume: an opened volume directory, what one mount serves, and the only
// door to its cache and snapshots for the layers above (the FUSE frontend,
// the tools, an embedding program).
//
// Open() loads VOLDIR/config, takes the volume lock (EBUSY if another process
// has the volume), logs a warning when the previous mount did not shut down
// cleanly, opens the image (its size must equal the config's), the batch I/O
// backend and the Conductor, and then (unless read-only) sets the "mounted"
// marker. Any failure undoes what was done and returns a Status whose message
// is fit for the user. A cache_size above what the machine can hold is EINVAL
// up front (CheckVolumeMemory, amberfs/mount_options.h); memory that cannot be
// had while opening is ENOMEM, never an abort.
//
// Close() closes the Conductor (everything dirty written back and fdatasynced)
// and, only if that succeeded, clears the marker. Its error is the mount's
// exit status. The destructor closes if Close() was not called.
//
// I/O: Read() reads through the cache; Write() and Discard() hold the
// snapshot write barrier when there is a snapshotter, so a snapshot's capture
// instant never falls inside one; Flush() writes back and fdatasyncs every
// write that returned before it (fsync; the invariant "acknowledged means
// durable"). Ranges must lie inside the volume.
//
// RegisterCtl() adds the volume's ctl commands (`flush`, `loglevel`, and
// unless read-only `snapshot [NAME]`, `drain [TIMEOUT]`, `delete NAME`,
// `rollback NAME`, `gc`); WriteMetrics() adds its families to `stats`.
// `drain` waits at most TIMEOUT (default kDefaultDrainTimeout, then
// ETIMEDOUT) and stops with EINTR when its request is cancelled.
//
// Automatic snapshots: with options.snapshot_interval, a read-write Open
// starts the AutoSnapshots thread last; Close stops it first (its running tick
// finishes). The ctl `snapshot` refuses the names it uses (EINVAL).
//
// Clones (mkfs.amberfs --clone): a volume whose chunks are partly still in
// the slow store. Read, Write and Discard fetch the remote chunks of their
// range into the image first (Hydrator::EnsureLocal; EIO when the slow store
// cannot give them); the ctl `hydrate` fetches all of them; the origin
// snapshot cannot be deleted until then. A read-only Open of a clone with
// remote chunks is refused (EROFS: fetching writes the image).
//
// Rollback: a rollback that a crash or an error left unfinished
// (VOLDIR/rollback-intent) is finished by a read-write Open before it
// returns; if that fails, Open logs it and the volume refuses writes until a
// rollback succeeds. A read-only Open refuses such a volume.
//
// Snapshots (read-write volumes only): Open also opens the change tracker
// (VOLDIR/changes; created if missing, with every chunk marked unless the
// image holds no data yet), the PairedStore (fast = VOLDIR/fast, slow = the
// config's URL, upload log VOLDIR/upload.log), the catalog and the
// Snapshotter, whose observer the Conductor calls. A read-only volume has no
// snapshots: has_snapshots() is false, ListSnapshots() is empty and
// ReadSnapshot() is ENOENT; the snapshot commands are not registered.
//
// Thread-safety: after Open, the I/O methods, the snapshot readers, the ctl
// handlers and WriteMetrics may be used from many threads; Close() must not
// race with them (the mount calls it after the FUSE loop has stopped).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/io_backend.h"
#include "amberfs/retention.h"
#include "amberfs/snapshot_info.h"
#include "amberfs/status.h"
#include "amberfs/volume_config.h"

namespace amberfs {

// Internal parts the Volume owns (src/); an embedding program needs none of
// their headers.
class AutoSnapshots;
class Catalog;
class ChangeTracker;
class Conductor;
class CtlDispatcher;
class Hydrator;
class MetricsWriter;
class PairedStore;
class Snapshotter;
class VolumeCodec;
class SpaceReserve;
class VolumeLock;
struct ConductorOptions;

// How long `drain` waits for the slow store when no TIMEOUT is given.
inline constexpr std::chrono::seconds kDefaultDrainTimeout{300};

// -o pack_size: its default (the pack writer's, PackWriterOptions) and
// bounds. Up to four packs are held in memory while they upload
// (UploadQueue::kMaxPacksInFlight), so the top bound keeps that to 256 MiB.
inline constexpr uint64_t kDefaultPackSize = uint64_t{16} << 20;
inline constexpr uint64_t kMinPackSize = uint64_t{1} << 20;
inline constexpr uint64_t kMaxPackSize = uint64_t{64} << 20;

struct VolumeOptions {
  uint64_t cache_bytes = 256ull << 20;
  uint64_t dirty_max_bytes = 0;  // 0 = half the cache
  IoBackend io = IoBackend::kUring;
  bool direct = false;  // O_DIRECT on the image
  // Scattered write-back (runs of a few blocks) with O_DIRECT through a second
  // descriptor of the image (-o direct_writeback); see Device::direct_fd.
  bool direct_writeback = false;
  std::chrono::microseconds sync_delay{0};
  bool read_only = false;
  std::string s3_credentials;  // AWS credentials file for an s3:// slow store ("" = environment)
  std::string key_file;        // an encrypted volume's passphrase file (-o key_file=FILE)
  uint64_t upload_rate = 0;    // bytes per second to the slow store; 0 = no limit
  // The size at which a new pack is sealed (-o pack_size; kMinPackSize ..
  // kMaxPackSize): one PUT per pack and one for its index object.
  uint64_t pack_bytes = kDefaultPackSize;
  // Automatic snapshots (read-write only; see src/volume/auto_snapshots.h):
  // 0 = none. `keep` applies to them alone; empty = keep them all.
  std::chrono::seconds snapshot_interval{0};
  RetentionPolicy keep;
};

class Volume {
 public:
  static Result<std::unique_ptr<Volume>> Open(const std::string& voldir, const VolumeOptions& options);
  ~Volume();

  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  const std::string& dir() const { return dir_; }
  const VolumeConfig& config() const { return config_; }
  const VolumeOptions& options() const { return options_; }
  uint64_t size() const { return config_.size; }

  Status Read(void* buf, size_t length, uint64_t offset);
  Status Write(const void* buf, size_t length, uint64_t offset);
  Status Discard(uint64_t offset, uint64_t length);
  Status Flush();

  bool has_snapshots() const { return snapshotter_ != nullptr; }
  // Sorted by creation time, then name.
  Result<std::vector<SnapshotInfo>> ListSnapshots() const;
  // The snapshot that has this name now (ENOENT if none); reads through the
  // handle keep reading that snapshot (see SnapshotHandle).
  Result<SnapshotHandle> OpenSnapshot(std::string_view name);
  // Reads [offset, offset+length) of a snapshot; the range must lie inside the volume.
  Status ReadSnapshot(const SnapshotHandle& snapshot, void* buf, size_t length, uint64_t offset);
  Status ReadSnapshot(std::string_view name, void* buf, size_t length, uint64_t offset);
  // Called after every rollback command, finished or failed, since either may
  // have changed the volume (the frontend drops the kernel's cached pages).
  // Set before serving.
  void SetAfterRollback(std::function<void()> fn) { after_rollback_ = std::move(fn); }

  void RegisterCtl(CtlDispatcher* ctl);
  void WriteMetrics(MetricsWriter* out) const;

  Status Close();

 private:
  Volume(std::string dir, VolumeConfig config, VolumeOptions options, std::unique_ptr<VolumeLock> lock);
  static Result<std::unique_ptr<Volume>> OpenUnguarded(const std::string& voldir, const VolumeOptions& options);
  Status OpenSnapshots(ConductorOptions* copts);
  void RegisterSnapshotCtl(CtlDispatcher* ctl);
  void RegisterCloneCtl(CtlDispatcher* ctl);

  std::string dir_;
  VolumeConfig config_;
  VolumeOptions options_;
  std::unique_ptr<VolumeLock> lock_;
  // How blobs and refs are stored (compressed, encrypted), and an encrypted
  // volume's key object; both settled before anything else opens.
  std::shared_ptr<const VolumeCodec> codec_;
  std::vector<uint8_t> key_object_;
  // Destroyed in reverse order: the Conductor (which calls the observer) first.
  std::unique_ptr<ChangeTracker> tracker_;
  // VOLDIR/reserve: room for delete and gc. Before paired_, so it outlives
  // the upload workers, whose pack PUTs into a local slow store ask it.
  std::unique_ptr<SpaceReserve> space_reserve_;
  std::unique_ptr<PairedStore> paired_;
  // A clone's remote chunks (hydrator.h); nullptr for any other volume.
  // After paired_, which it reads through.
  std::unique_ptr<Hydrator> hydrator_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Snapshotter> snapshotter_;
  std::unique_ptr<Conductor> conductor_;
  std::unique_ptr<AutoSnapshots> auto_snapshots_;  // stopped first at Close
  std::function<void()> after_rollback_;
  bool closed_ = false;
};

}  // namespace amberfs
