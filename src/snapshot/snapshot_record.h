// SnapshotRecord: the blob that describes one committed snapshot.
//
// A snapshot is named in the catalog (and in the slow store's
// volumes/<uuid>/snapshots/<name> ref) by the Pointer of its record blob; the
// record holds what is needed to read the snapshot without the volume's
// config: the geometry, the index root, and the previous snapshot's record.
//
// Format (for man/amberfs.5), little-endian, exactly 136 + n bytes:
//   0    8  magic "AMBRSNAP"
//   8    4  version (1)
//   12   4  flags (0; any other value is rejected)
//   16  16  volume uuid (raw bytes)
//   32   8  creation time, UTC nanoseconds since 1970-01-01
//   40   8  volume size in bytes (> 0)
//   48   4  chunk size in bytes (a power of two, 4 KiB .. 1 GiB)
//   52   4  index fanout (a power of two, 2 .. 4096)
//   56   4  index depth (must equal the depth derived from the chunk count
//           ceil(volume size / chunk size) and the fanout; see index_tree.h)
//   60   4  name length n (1 .. 64)
//   64  32  index root pointer (null for an all-zero volume)
//   96  32  parent record pointer (null for the volume's first snapshot)
//   128  n  name (see ValidateSnapshotName)
//   128+n 8 xxh3-64 of bytes 0 .. 127+n
// The blob's key (SHA-256) already protects it in a store; the checksum
// catches a record copied or truncated elsewhere before it is hashed.
//
// Decode is strict: a wrong size, magic, version, flags, checksum, name or an
// inconsistent geometry is EBADMSG and never a crash. Encode of an invalid
// record is EINVAL.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/index_tree.h"
#include "snapshot/volume_layout.h"
#include "store/pointer.h"
#include "amberfs/status.h"

namespace amberfs {

struct SnapshotRecord {
  VolumeUuid volume{};
  std::string name;
  uint64_t created_ns = 0;
  uint64_t volume_size = 0;
  uint32_t chunk_size = 0;
  uint32_t fanout = IndexGeometry::kDefaultFanout;
  uint32_t depth = 0;
  Pointer root;
  Pointer parent;

  uint64_t chunk_count() const { return chunk_size ? (volume_size + chunk_size - 1) / chunk_size : 0; }
  // The index geometry; EINVAL if the fields are inconsistent.
  Result<IndexGeometry> Geometry() const;

  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

inline constexpr size_t kSnapshotNameMax = 64;

// OK for [A-Za-z0-9._-]{1,64} not starting with '.'; EINVAL (saying why) otherwise.
Status ValidateSnapshotName(std::string_view name);
// The default snapshot name for a UTC time: "YYYYMMDDTHHMMSSZ".
std::string DefaultSnapshotName(uint64_t unix_ns);

Result<std::vector<uint8_t>> EncodeSnapshotRecord(const SnapshotRecord& record);
Result<SnapshotRecord> DecodeSnapshotRecord(std::span<const uint8_t> bytes);

}  // namespace amberfs
