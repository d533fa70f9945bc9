// Restore: rebuild a volume from a slow store alone (mkfs.amberfs --restore).
//
// RestoreVolume picks the volume (the one given, or the only one in the
// store; several and none given is EINVAL listing them) and its snapshot (the
// one given, else the newest; an unknown one is ENOENT listing the choices),
// creates VOLDIR as mkfs does (the snapshot's size and chunk size, the
// published config's block size, `url` as the slow store, the volume's uuid),
// downloads the snapshot's chunks into the image on `threads` threads (each
// verified by its SHA-256 and its length; null chunks are skipped, so the
// image stays sparse; fdatasynced), and makes VOLDIR continue from the
// snapshot: a catalog entry for it, the snapshot base, so the next snapshot
// is incremental against it, and a change tracker with nothing marked.
// `planned` is called once the choice is made; `progress` now and then (and
// once at the end), from one thread at a time.
//
// Crash and failure: on failure after VOLDIR was created its config is
// removed, so no half-restored volume can be mounted (rerun with force).
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
// Thread-safety: no shared state; concurrent restores into different
// directories are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "amberfs/status.h"

namespace amberfs {

// The volume and snapshot a restore chose.
struct RestoreChoice {
  std::string uuid;
  std::string snapshot;
  uint64_t created_ns = 0;  // the snapshot's time, UTC nanoseconds since 1970
  uint64_t volume_size = 0;
  uint32_t chunk_size = 0;
};

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

struct RestoreVolumeOptions {
  std::string url;
  std::string credentials_file;
  std::string volume;    // uuid, "" = the only one
  std::string snapshot;  // "" = the newest
  std::string voldir;
  bool force = false;
  int threads = 12;
  std::function<void(const RestoreChoice&)> planned;  // called once the choice is known
  std::function<void(const RestoreProgress&)> progress;
};

struct RestoreVolumeResult {
  RestoreChoice choice;
  RestoreStats stats;
};

Result<RestoreVolumeResult> RestoreVolume(const RestoreVolumeOptions& options);

}  // namespace amberfs
