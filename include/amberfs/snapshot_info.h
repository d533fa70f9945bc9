// SnapshotInfo: a committed snapshot as a volume lists it (Volume::ListSnapshots).
// SnapshotHandle: a snapshot as it was opened (Volume::OpenSnapshot).
//
// Thread-safety: value types; a handle may be read by many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace amberfs {

struct SnapshotInfo {
  std::string name;
  uint64_t created_ns = 0;  // UTC nanoseconds since 1970-01-01
  uint64_t size = 0;        // bytes; less than the volume's if it grew since
};

struct SnapshotRecord;  // internal: src/snapshot/snapshot_record.h

// One snapshot, pinned: reads through it (Volume::ReadSnapshot) see the
// snapshot that had `name` when it was opened, even after that name is
// deleted and taken again; once gc has removed its blobs they fail instead.
struct SnapshotHandle {
  std::string name;
  uint64_t created_ns = 0;
  std::shared_ptr<const SnapshotRecord> record;  // null: not open
  uint64_t size = 0;  // bytes, the record's (less than the volume's if it grew since)
};

}  // namespace amberfs
