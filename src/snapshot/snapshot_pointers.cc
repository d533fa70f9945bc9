// Snapshot pointers outside the catalog: the base file and ref values (see
// snapshot_pointers.h).
#include "snapshot/snapshot_pointers.h"

#include <xxhash.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

constexpr char kBaseMagic[8] = {'A', 'M', 'B', 'R', 'B', 'A', 'S', 'E'};
constexpr size_t kBaseSize = 56;

}  // namespace

Status WriteSnapshotBase(const std::string& voldir, const Pointer& record) {
  uint8_t b[kBaseSize] = {};
  std::memcpy(b, kBaseMagic, 8);
  PutLE32(b + 8, 1);
  std::memcpy(b + 16, record.bytes().data(), Pointer::kSize);
  PutLE64(b + 48, XXH3_64bits(b, 48));
  return WriteFileAtomic(voldir, kSnapshotBaseFile, b, false);
}

Result<Pointer> ReadSnapshotBase(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kSnapshotBaseFile);
  Result<std::vector<uint8_t>> data = ReadSmallFile(path, 4096);
  if (!data.ok()) {
    if (data.status().code() == ENOENT) return Pointer();
    return data.status();
  }
  const std::vector<uint8_t>& b = *data;
  if (b.size() != kBaseSize || std::memcmp(b.data(), kBaseMagic, 8) != 0 || GetLE32(b.data() + 8) != 1 ||
      GetLE64(b.data() + 48) != XXH3_64bits(b.data(), 48)) {
    return Status::Error(EBADMSG, path + " is corrupt (bad size, magic, version or checksum)");
  }
  return Pointer::FromBytes(b.data() + 16);
}

std::string EncodeSnapshotRefValue(const Pointer& record) { return record.Hex() + "\n"; }

Result<Pointer> DecodeSnapshotRefValue(std::span<const uint8_t> bytes) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.size() != 65 || text.back() != '\n') {
    return Status::Error(EBADMSG, "snapshot ref is not a 64-digit record pointer and a newline");
  }
  Result<Pointer> p = Pointer::FromHex(text.substr(0, 64));
  if (!p.ok() || p->IsNull()) return Status::Error(EBADMSG, "snapshot ref holds no valid record pointer");
  return p;
}

}  // namespace amberfs
