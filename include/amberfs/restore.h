// Restore: rebuild a volume from a slow store alone (mkfs.amberfs --restore).
//
// RestoreVolume picks the volume (the one given, or the only one in the
// store; several and none given is EINVAL listing them) and its snapshot (the
// one given, else the newest; an unknown one is ENOENT listing the choices),
// builds the volume as mkfs does (the snapshot's size and chunk size, the
// published config's block size, `url` as the slow store) beside VOLDIR,
// downloads the snapshot's chunks into its image on `threads` threads (each
// verified by its SHA-256 and its length; null chunks are skipped, so the
// image stays sparse; fdatasynced), makes it continue from the snapshot (a
// catalog entry for it, the snapshot base, so the next snapshot is
// incremental against it, and a change tracker with nothing marked), and only
// then puts it in place as VOLDIR. `planned` is called once the choice is
// made; `progress` now and then (and once at the end), from one thread at a
// time.
//
// Crash and failure: VOLDIR gets the restored volume whole or not at all
// (volume/volume_build.h): a failure changes nothing, a crash leaves a
// leftover that mount refuses with a message saying to rerun, and rerunning
// the same restore starts over (with `force` if VOLDIR held a volume) and
// keeps the uuid the interrupted run chose.
//
// Identity: a restored volume is a new volume with the restored content. It
// gets a new uuid (RestoreVolumeResult::uuid) and its own copy of the
// snapshot's record (same tree, so every blob is shared), published as
// volumes/<new uuid>/snapshots/<name> through its own upload log, under its
// own upload marker (written, and the source ref checked, before anything
// else), waiting up to publish_wait for the upload; the original and the
// copy may then both live on one slow store: their snapshot names, upload
// markers and gc never collide. With take_over_identity the restored volume
// keeps the original's uuid and continues it (its next snapshot's parent is
// the restored record): for a volume that is gone for good, and refused
// (EBUSY) while the original's upload or gc marker in the store is younger
// than an hour.
//
// Clone (options.clone, mkfs.amberfs --clone): the same, except that no
// chunk is downloaded. The snapshot's index is walked (its nodes only) to
// list the non-null chunks, which are recorded as remote (VOLDIR/remote,
// src/snapshot/remote_chunks.h) against the new identity's copy of the
// record; the image stays empty and the mount fetches each remote chunk when
// it is first used (src/snapshot/hydrator.h). RestoreStats::remote counts
// them. A clone always gets a new uuid (take_over_identity is EINVAL).
//
// Errors: EINVAL (bad arguments, an ambiguous choice), ENOENT (nothing to
// restore, an unknown volume or snapshot), EBADMSG (a corrupt record, ref,
// node or chunk), EEXIST / EBUSY (VOLDIR holds a volume and no force / it is
// in use; the identity to take over looks alive), ESTALE (the snapshot was
// deleted from the store during the restore), store and file errors.
//
// Thread-safety: no shared state; concurrent restores into different
// directories are independent.
#pragma once

#include <chrono>
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
  uint64_t remote = 0;       // a clone's non-null chunks, left in the slow store
};

struct RestoreVolumeOptions {
  std::string url;
  std::string credentials_file;
  std::string key_file;  // an encrypted volume's passphrase file ("" = not encrypted)
  std::string volume;    // uuid, "" = the only one
  std::string snapshot;  // "" = the newest
  std::string voldir;
  bool force = false;
  bool take_over_identity = false;  // keep the source volume's uuid (see above)
  bool clone = false;               // download nothing: a clone (see above)
  // How long to wait for the new identity's uploads (then the mount does them).
  std::chrono::milliseconds publish_wait{20000};
  int threads = 12;
  std::function<void(const RestoreChoice&)> planned;  // called once the choice is known
  std::function<void(const RestoreProgress&)> progress;
};

struct RestoreVolumeResult {
  std::string uuid;  // the restored volume's (new, unless the identity was taken over)
  // Why the new identity's refs are not in the slow store yet ("" = they
  // are): another volume's gc marker, an unreachable store. The volume's
  // upload log holds them; its mount uploads them.
  std::string publish_note;
  RestoreChoice choice;
  RestoreStats stats;
};

Result<RestoreVolumeResult> RestoreVolume(const RestoreVolumeOptions& options);

}  // namespace amberfs
