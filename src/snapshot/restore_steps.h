// Restore steps: rebuilding a volume's snapshot state from a slow store,
// each step usable on its own (RestoreVolume, amberfs/restore.h, runs them
// all; tests run them one by one).
//   ListStoredVolumes   every volume in the store (volumes/<uuid>/...) with its
//                       snapshots, their record pointers, names and times.
//   PlanRestore         picks the volume (the one given, or the only one;
//                       several and none given is EINVAL listing them) and the
//                       snapshot (the one given, else the newest; an unknown
//                       one is ENOENT listing the choices), fetches and checks
//                       its record, and the volume's published config text
//                       (volumes/<uuid>/config; empty when absent).
//   ForEachChunk        calls fn(chunk, pointer) for each non-null chunk of the
//                       snapshot, in no particular order, one call at a time:
//                       the index read a level at a time, each level's nodes
//                       fetched by pack ranges on `threads` threads
//                       (restore_downloads.h), so a 1 TiB snapshot's 65,536
//                       leaves cost a few dozen requests, not 65,536.
//   RestoreImage        walks the snapshot's index (ForEachChunk) and downloads its chunks on
//                       `threads` threads, each verified by its SHA-256 (the
//                       store's Get) and by its length, writing them into an
//                       image that must read as zeros (a fresh sparse file):
//                       null chunks are skipped, so the image stays sparse.
//                       One write at a time (the others wait asleep, not
//                       spinning in the kernel). fdatasyncs the image. `progress` is called now and then
//                       (and once at the end) from one thread at a time.
//   AdoptRestoredSnapshot  gives the restored volume its own identity: a copy
//                       of the snapshot's record with the new uuid (parent
//                       null: it is this volume's first snapshot; root, name,
//                       time and geometry unchanged, so every blob is shared),
//                       put into the new volume's own PairedStore, with the
//                       refs volumes/<uuid>/snapshots/<name> and
//                       volumes/<uuid>/config queued behind it: uploaded by
//                       its workers, or, if they cannot yet (another volume's
//                       gc marker), by the volume's mount. First it writes
//                       locks/upload/<uuid> (so no other volume's gc sweeps
//                       from then on; the PairedStore keeps it while anything
//                       is pending) and checks that the source ref still
//                       names the restored record (ESTALE otherwise: the
//                       snapshot was deleted while downloading and its blobs
//                       may be gone). Idempotent: the same restore with the
//                       same uuid queues the same record.
//   CheckIdentityUnused  for a restore that keeps the source's uuid: EBUSY
//                       while the source's upload or gc marker is younger
//                       than kIdentityQuietSeconds (the volume looks alive;
//                       markers are what a live volume leaves in the store).
//   InstallRestoredSnapshot  makes VOLDIR continue from the snapshot: a catalog
//                       entry for it (pointing at `record`: the adopted
//                       record, or the source's own when the identity is
//                       taken over), the snapshot base (snapshot_pointers.h)
//                       so the next snapshot is incremental against it, and a
//                       change tracker with nothing marked (the image equals
//                       the base).
//
// Errors: as amberfs/restore.h says.
//
// Thread-safety: functions without shared state; the Store must be
// thread-safe (every Store is).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "amberfs/restore.h"
#include "amberfs/status.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_codec.h"
#include "store/paired_store.h"
#include "store/pointer.h"
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
  bool encrypted = false;                 // volumes/<uuid>/key is there
  std::vector<StoredSnapshot> snapshots;  // by name (record and created_ns not filled)
};

Result<std::vector<StoredVolume>> ListStoredVolumes(Store* store);

struct RestorePlan {
  std::string uuid;
  SnapshotRecord record;
  Pointer record_pointer;
  std::string config_text;  // volumes/<uuid>/config, opened; "" if absent
  VolumeCodec codec;        // the source volume's (from its config and key)
  std::vector<uint8_t> key_object;  // volumes/<uuid>/key; empty: not encrypted

  RestoreChoice Choice() const;
};

// passphrase: an encrypted volume's (its key file's content); empty for one
// that is not. EACCES for an encrypted volume without it or with a wrong
// one; EINVAL for a passphrase and a volume that is not encrypted.
Result<RestorePlan> PlanRestore(Store* store, const std::string& volume, const std::string& snapshot,
                                std::span<const uint8_t> passphrase = {});

Status ForEachChunk(Store* store, const SnapshotRecord& record, int threads,
                    const std::function<void(uint64_t chunk, const Pointer& pointer)>& fn,
                    const VolumeCodec& codec = VolumeCodec());

Result<RestoreStats> RestoreImage(Store* store, const SnapshotRecord& record, const std::string& image_path,
                                  int threads = 12,
                                  const std::function<void(const RestoreProgress&)>& progress = nullptr,
                                  const VolumeCodec& codec = VolumeCodec());

inline constexpr int64_t kIdentityQuietSeconds = 3600;

Status CheckIdentityUnused(Store* store, const std::string& uuid);
Result<Pointer> AdoptRestoredSnapshot(PairedStore* store, const RestorePlan& plan, const std::string& uuid,
                                      const std::string& config_text);
Status InstallRestoredSnapshot(const std::string& voldir, const RestorePlan& plan, const Pointer& record);

}  // namespace amberfs
