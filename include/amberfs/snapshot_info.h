// SnapshotInfo: a committed snapshot as a volume lists it (Volume::ListSnapshots).
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <string>

namespace amberfs {

struct SnapshotInfo {
  std::string name;
  uint64_t created_ns = 0;  // UTC nanoseconds since 1970-01-01
};

}  // namespace amberfs
