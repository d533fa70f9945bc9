// Restore: rebuild a volume from a slow store alone (mkfs.amberfs --restore).
//
// Steps, each usable on its own:
//   ListStoredVolumes   every volume in the store (volumes/<uuid>/...) with its
//                       snapshots, their record pointers, names and times.
//   PlanRestore         picks the volume (the one given, or the only one;
//                       several and none given is EINVAL listing them) and the
//                       snapshot (the one given, else the newest; an unknown
//                       one is ENOENT listing the choices), fetches and checks
//                       its record, and the volume's published config text
//                       (volumes/<uuid>/config; empty when absent).
//   RestoreImage        walks the snapshot's index and downloads its chunks on
//                       `threads` threads, each verified by its SHA-256 (the
//                       store's Get) and by its length, writing them into an
//                       image that must read as zeros (a fresh sparse file):
//                       null chunks are skipped, so the image stays sparse.
//                       fdatasyncs the image. `progress` is called now and then
//                       (and once at the end) from one thread at a time.
//   InstallRestoredSnapshot  makes VOLDIR continue from the snapshot: a catalog
//                       entry for it, the snapshot base (snapshotter.h) so the
//                       next snapshot is incremental against it, and a change
//                       tracker with nothing marked (the image equals the base).
//
// Identity: a restored volume is the same volume continued. It keeps the uuid,
// so its next snapshot's record has the restored one as parent, its refs land
// beside the old ones in volumes/<uuid>/snapshots/, and unchanged chunks are
// shared. Restoring the same volume into two places that both keep taking
// snapshots into one slow store is the user's choice to avoid (their names
// would collide: EEXIST on the later one is possible only locally; the
// slow-store ref of a same-named snapshot is replaced).
//
// Errors: EINVAL (bad arguments, an ambiguous choice), ENOENT (nothing to
// restore, an unknown volume or snapshot), EBADMSG (a corrupt record, ref,
// node or chunk), store and file errors as they come.
//
// Thread-safety: functions without shared state; the Store must be
// thread-safe (every Store is).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/pointer.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/snapshotter.h"
#include "amberfs/status.h"
#include "store/store.h"

namespace amberfs {

struct StoredSnapshot {
  std::string name;
  Pointer record;
  uint64_t created_ns = 0;  // 0 until the record is read
};

struct StoredVolume {
  std::string uuid;
  bool has_config = false;
  std::vector<StoredSnapshot> snapshots;  // by name (created_ns not filled)
};

Result<std::vector<StoredVolume>> ListStoredVolumes(Store* store);

struct RestorePlan {
  std::string uuid;
  SnapshotRecord record;
  Pointer record_pointer;
  std::string config_text;  // volumes/<uuid>/config, "" if absent
};

Result<RestorePlan> PlanRestore(Store* store, const std::string& volume, const std::string& snapshot);

struct RestoreProgress {
  uint64_t chunks_done = 0;
  uint64_t chunks_total = 0;  // non-null chunks
  uint64_t bytes_done = 0;
};

struct RestoreStats {
  uint64_t chunks = 0;       // chunks in the volume
  uint64_t downloaded = 0;   // non-null chunks written
  uint64_t bytes = 0;        // bytes written
};

Result<RestoreStats> RestoreImage(Store* store, const SnapshotRecord& record, const std::string& image_path,
                                  int threads = 12,
                                  const std::function<void(const RestoreProgress&)>& progress = nullptr);

Status InstallRestoredSnapshot(const std::string& voldir, const RestorePlan& plan);

// All of it, as mkfs.amberfs --restore does: plan, create VOLDIR (as mkfs
// does, with the snapshot's size and chunk size, the published config's block
// size, `url` as the slow store, and the volume's uuid), restore the image,
// install. On failure after VOLDIR was created its config is removed, so no
// half-restored volume can be mounted (rerun with force).
struct RestoreVolumeOptions {
  std::string url;
  std::string credentials_file;
  std::string volume;    // uuid, "" = the only one
  std::string snapshot;  // "" = the newest
  std::string voldir;
  bool force = false;
  int threads = 12;
  std::function<void(const RestorePlan&)> planned;  // called once the plan is known
  std::function<void(const RestoreProgress&)> progress;
};

struct RestoreVolumeResult {
  RestorePlan plan;
  RestoreStats stats;
};

Result<RestoreVolumeResult> RestoreVolume(const RestoreVolumeOptions& options);

}  // namespace amberfs
