#include "snapshot/snapshot_record.h"

#include <xxhash.h>

#include <bit>
#include <cstring>
#include <ctime>

#include "base/byte_order.h"

namespace amberfs {
namespace {

constexpr char kMagic[8] = {'A', 'M', 'B', 'R', 'S', 'N', 'A', 'P'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFixed = 128;  // bytes before the name
constexpr size_t kChecksum = 8;

// The checks Encode and Decode share; the caller picks the errno.
std::string Problem(const SnapshotRecord& r) {
  if (Status st = ValidateSnapshotName(r.name); !st.ok()) return st.message();
  if (r.volume_size == 0) return "volume size is 0";
  if (!std::has_single_bit(r.chunk_size) || r.chunk_size < 4096 || r.chunk_size > (1u << 30))
    return "chunk size " + std::to_string(r.chunk_size) + " is not a power of two in [4 KiB, 1 GiB]";
  auto geo = IndexGeometry::Make(r.chunk_count(), r.fanout);
  if (!geo.ok()) return geo.status().message();
  if (geo->depth != r.depth)
    return "index depth " + std::to_string(r.depth) + " does not match the " + std::to_string(geo->depth) +
           " that " + std::to_string(r.chunk_count()) + " chunks and fanout " + std::to_string(r.fanout) + " need";
  return "";
}

}  // namespace

Result<IndexGeometry> SnapshotRecord::Geometry() const {
  std::string problem = Problem(*this);
  if (!problem.empty()) return Status::Error(EINVAL, "snapshot record: " + problem);
  return IndexGeometry::Make(chunk_count(), fanout);
}

Status ValidateSnapshotName(std::string_view name) {
  if (name.empty()) return Status::Error(EINVAL, "snapshot name is empty");
  if (name.size() > kSnapshotNameMax)
    return Status::Error(EINVAL, "snapshot name is longer than " + std::to_string(kSnapshotNameMax) + " characters");
  if (name[0] == '.') return Status::Error(EINVAL, "snapshot name must not start with '.'");
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return Status::Error(EINVAL, "snapshot name may hold only A-Z a-z 0-9 . _ - characters");
  }
  return Status::OK();
}

std::string DefaultSnapshotName(uint64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000ull);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<std::vector<uint8_t>> EncodeSnapshotRecord(const SnapshotRecord& r) {
  std::string problem = Problem(r);
  if (!problem.empty()) return Status::Error(EINVAL, "cannot encode snapshot record: " + problem);
  std::vector<uint8_t> out(kFixed + r.name.size() + kChecksum, 0);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 8);
  PutLE32(p + 8, kVersion);
  PutLE32(p + 12, 0);
  std::memcpy(p + 16, r.volume.data(), 16);
  PutLE64(p + 32, r.created_ns);
  PutLE64(p + 40, r.volume_size);
  PutLE32(p + 48, r.chunk_size);
  PutLE32(p + 52, r.fanout);
  PutLE32(p + 56, r.depth);
  PutLE32(p + 60, static_cast<uint32_t>(r.name.size()));
  std::memcpy(p + 64, r.root.bytes().data(), Pointer::kSize);
  std::memcpy(p + 96, r.parent.bytes().data(), Pointer::kSize);
  std::memcpy(p + kFixed, r.name.data(), r.name.size());
  PutLE64(p + kFixed + r.name.size(), XXH3_64bits(p, kFixed + r.name.size()));
  return out;
}

Result<SnapshotRecord> DecodeSnapshotRecord(std::span<const uint8_t> bytes) {
  auto bad = [](const std::string& why) { return Status::Error(EBADMSG, "snapshot record is malformed: " + why); };
  if (bytes.size() < kFixed + 1 + kChecksum || bytes.size() > kFixed + kSnapshotNameMax + kChecksum)
    return bad("size " + std::to_string(bytes.size()) + " is impossible");
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kMagic, 8) != 0) return bad("bad magic");
  if (GetLE32(p + 8) != kVersion) return bad("unsupported version " + std::to_string(GetLE32(p + 8)));
  if (GetLE32(p + 12) != 0) return bad("unknown flags");
  const uint32_t name_len = GetLE32(p + 60);
  if (bytes.size() != kFixed + size_t{name_len} + kChecksum)
    return bad("name length " + std::to_string(name_len) + " does not fit the size " + std::to_string(bytes.size()));
  if (GetLE64(p + kFixed + name_len) != XXH3_64bits(p, kFixed + name_len)) return bad("checksum mismatch");
  SnapshotRecord r;
  std::memcpy(r.volume.data(), p + 16, 16);
  r.created_ns = GetLE64(p + 32);
  r.volume_size = GetLE64(p + 40);
  r.chunk_size = GetLE32(p + 48);
  r.fanout = GetLE32(p + 52);
  r.depth = GetLE32(p + 56);
  r.root = Pointer::FromBytes(p + 64);
  r.parent = Pointer::FromBytes(p + 96);
  r.name.assign(reinterpret_cast<const char*>(p + kFixed), name_len);
  std::string problem = Problem(r);
  if (!problem.empty()) return bad(problem);
  return r;
}

}  // namespace amberfs
