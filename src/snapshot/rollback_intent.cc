// The rollback intent file (see rollback_intent.h).
#include "snapshot/rollback_intent.h"

#include <xxhash.h>

#include <cstring>
#include <vector>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

constexpr char kIntentMagic[8] = {'A', 'M', 'B', 'R', 'R', 'O', 'L', 'L'};
constexpr size_t kHeader = 48;
constexpr size_t kMaxIntentFile = kHeader + 64 + 8;

}  // namespace

Status WriteRollbackIntent(const std::string& voldir, const RollbackIntent& intent) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(intent.name));
  std::vector<uint8_t> b(kHeader + intent.name.size() + 8, 0);
  std::memcpy(b.data(), kIntentMagic, 8);
  PutLE32(b.data() + 8, 1);
  PutLE32(b.data() + 12, static_cast<uint32_t>(intent.name.size()));
  std::memcpy(b.data() + 16, intent.record.bytes().data(), Pointer::kSize);
  std::memcpy(b.data() + kHeader, intent.name.data(), intent.name.size());
  const size_t sum_at = kHeader + intent.name.size();
  PutLE64(b.data() + sum_at, XXH3_64bits(b.data(), sum_at));
  return WriteFileAtomic(voldir, kRollbackIntentFile, b, false).Annotate("write the rollback intent");
}

Result<std::optional<RollbackIntent>> ReadRollbackIntent(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kRollbackIntentFile);
  Result<std::vector<uint8_t>> data = ReadSmallFile(path, kMaxIntentFile);
  if (!data.ok()) {
    if (data.status().code() == ENOENT) return std::optional<RollbackIntent>();
    return data.status();
  }
  const std::vector<uint8_t>& b = *data;
  auto corrupt = [&] { return Status::Error(EBADMSG, path + " is corrupt (bad size, magic, version or checksum)"); };
  if (b.size() < kHeader + 8 || std::memcmp(b.data(), kIntentMagic, 8) != 0 || GetLE32(b.data() + 8) != 1) {
    return corrupt();
  }
  const size_t n = GetLE32(b.data() + 12);
  if (b.size() != kHeader + n + 8 || GetLE64(b.data() + kHeader + n) != XXH3_64bits(b.data(), kHeader + n)) {
    return corrupt();
  }
  RollbackIntent intent;
  intent.record = Pointer::FromBytes(b.data() + 16);
  intent.name.assign(reinterpret_cast<const char*>(b.data() + kHeader), n);
  if (!ValidateSnapshotName(intent.name).ok() || intent.record.IsNull()) return corrupt();
  return std::optional<RollbackIntent>(std::move(intent));
}

Status RemoveRollbackIntent(const std::string& voldir) {
  Status st = RemoveDurably(voldir, kRollbackIntentFile);
  if (st.code() == ENOENT) return Status::OK();
  return st.Annotate("remove the rollback intent");
}

}  // namespace amberfs
