// CarriedPuts: the single Puts of a PairedStore whose bytes the upload log
// carries, and the checkpoints that drop them again. One of the PairedStore's
// parts (paired_store.h).
//
// Put: the fast copy is written to a temp file with no sync, the log appends
// a blob-data record holding the bytes (the one fdatasync, shared by
// concurrent Puts), and only then is the fast copy renamed into place and
// marked published. The log keeps the bytes until a checkpoint (a
// compaction: syncfs of the fast store, then the log is rewritten without
// them). So an acknowledged blob is durable all along, in the log until its
// fast copy is ("acknowledged means durable").
//
// RestoreFromLog (Open): rewrites, durably, every fast copy the log still
// carries (a crash may have lost or torn it, or left it good in the page
// cache but not on disk), then checkpoints. CheckpointAtClose: a checkpoint,
// so the next Open has no fast copies to check. A sync that fails keeps the
// bytes in the log until the upload is done (see upload_log.h).
//
// Wants(size): a Put goes this way when options.carry_data_in_log is set, the
// fast store is a DiskStore, the blob is at most UploadLog::kMaxBlobData, and
// the log carries less than 4 x options.log.compact_data_bytes; past that
// (the fast store cannot be synced, or uploads lag behind unsynced copies)
// Puts take the fast store's own durable Put rather than grow the log.
//
// Thread-safety: no state of its own; safe for concurrent calls as the fast
// store and the log are. No locks.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "store/disk_store.h"
#include "store/paired_options.h"
#include "store/upload_log.h"

namespace amberfs {

class CarriedPuts {
 public:
  // The log's options: sync_published is the fast store's SyncAll, when the
  // fast store is a DiskStore (else the log never drops carried bytes).
  static UploadLogOptions LogOptions(const PairedOptions& options, DiskStore* fast_disk);

  // fast_disk: fast as a DiskStore, or null. `name` is the owner's
  // description, for logs.
  CarriedPuts(Store& fast, DiskStore* fast_disk, UploadLog& log, const PairedOptions& options, std::string name);

  bool Wants(size_t size) const;
  // Stores and queues one blob (only when Wants); returns the log entry's seq.
  Result<uint64_t> Put(const Pointer& key, std::span<const uint8_t> data);
  Status RestoreFromLog();
  void CheckpointAtClose();

 private:
  Store& fast_;
  DiskStore* const fast_disk_;
  UploadLog& log_;
  const bool enabled_;
  const uint64_t max_carried_bytes_;
  const std::string name_;
};

}  // namespace amberfs
