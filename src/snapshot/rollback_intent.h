// The rollback intent, VOLDIR/rollback-intent: the record that a rollback has
// begun and is not finished yet.
//
// Snapshotter::Rollback writes it durably before it changes any chunk and
// removes it durably once every chunk is rewritten and flushed. While it
// exists the volume may be neither what it was nor the snapshot: the next
// read-write open finishes the rollback (Snapshotter::ResumeRollback) before
// serving, a read-only open refuses the volume, and fsck reports it.
//
// File format (for man/amberfs.5), little-endian, written atomically (temp +
// fsync + rename + directory fsync):
//   0   8  magic "AMBRROLL"     8  4  version (1)     12  4  name length n
//   16 32  the target snapshot's record pointer
//   48  n  the target snapshot's name (1 .. 64 bytes)
//   48+n 8 xxh3-64 of bytes 0 .. 48+n-1
//
// Errors: EBADMSG for a corrupt file; file errors as they come.
//
// Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string>

#include "amberfs/status.h"
#include "store/pointer.h"

namespace amberfs {

struct RollbackIntent {
  std::string name;  // the target snapshot, for messages
  Pointer record;    // the target snapshot's record
};

Status WriteRollbackIntent(const std::string& voldir, const RollbackIntent& intent);
// nullopt when the file is absent (no rollback unfinished).
Result<std::optional<RollbackIntent>> ReadRollbackIntent(const std::string& voldir);
// Removes the file durably; absent is fine.
Status RemoveRollbackIntent(const std::string& voldir);

}  // namespace amberfs
