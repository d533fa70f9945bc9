// Fuzz target: the rollback intent, VOLDIR/rollback-intent
// (ReadRollbackIntent / WriteRollbackIntent), read by every read-write open,
// read-only open and fsck of a volume a crash may have left mid-rollback.
//
// Input: a flags byte, then the rest.
//   flags & 4: build mode, the rest feeds a FuzzedDataProvider that makes a
//              name and a record pointer; WriteRollbackIntent either refuses
//              them (EINVAL, no file written) or writes a file that reads
//              back to the same intent.
//   else: the rest is the file. flags & 1 sets the name length field to fit
//         the file and flags & 2 fixes the checksum up, so the fuzzer reaches
//         the name and pointer checks behind them.
//
// Invariants: a file that is there never reads as "no intent"; a bad file is
// EBADMSG (EFBIG when it is over the format's 120-byte maximum); what reads
// has a valid snapshot name and a non-null record, and writing it again
// gives the same bytes.
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/rollback_intent.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"

using namespace amberfs;

namespace {

constexpr size_t kHeader = 48;
constexpr size_t kMaxFile = kHeader + 64 + 8;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

std::vector<uint8_t> FileBytes() {
  Result<std::vector<uint8_t>> b = ReadSmallFile(Scratch() / kRollbackIntentFile, 1 << 20);
  FUZZ_CHECK(b.ok(), "cannot read the intent file back: " + b.status().ToString());
  return std::move(b).value();
}

void Raw(uint8_t flags, std::span<const uint8_t> rest) {
  std::vector<uint8_t> bytes(rest.begin(), rest.end());
  if ((flags & 1) && bytes.size() >= kHeader + 8) PutLE32(&bytes[12], static_cast<uint32_t>(bytes.size() - kHeader - 8));
  if ((flags & 2) && bytes.size() >= 8) {
    const size_t sum_at = bytes.size() - 8;
    PutLE64(&bytes[sum_at], XXH3_64bits(bytes.data(), sum_at));
  }
  Scratch().Write(kRollbackIntentFile, bytes);
  Result<std::optional<RollbackIntent>> read = ReadRollbackIntent(Scratch().path());
  if (!read.ok()) {
    const int code = read.status().code();
    FUZZ_CHECK(code == EBADMSG || (code == EFBIG && bytes.size() > kMaxFile),
               "ReadRollbackIntent: " + read.status().ToString());
    return;
  }
  FUZZ_CHECK(read->has_value(), "a file that is there read as no intent");
  const RollbackIntent& intent = **read;
  FUZZ_CHECK(ValidateSnapshotName(intent.name).ok(), "an intent naming an invalid snapshot was read");
  FUZZ_CHECK(!intent.record.IsNull(), "an intent with a null record was read");
  FUZZ_CHECK(WriteRollbackIntent(Scratch().path(), intent).ok(), "cannot write back what was read");
  FUZZ_CHECK(FileBytes() == bytes, "an intent does not write back to its own bytes");
}

void Build(FuzzedDataProvider& in) {
  Scratch().Reset();
  RollbackIntent intent;
  intent.name = in.ConsumeRandomLengthString(80);
  std::vector<uint8_t> raw = in.ConsumeBytes<uint8_t>(Pointer::kSize);
  raw.resize(Pointer::kSize, 0);
  intent.record = Pointer::FromBytes(raw.data());
  Status st = WriteRollbackIntent(Scratch().path(), intent);
  if (!st.ok()) {
    FUZZ_CHECK(st.code() == EINVAL, "WriteRollbackIntent: " + st.ToString());
    FUZZ_CHECK(!ValidateSnapshotName(intent.name).ok(), "a valid intent was refused");
    Result<std::optional<RollbackIntent>> none = ReadRollbackIntent(Scratch().path());
    FUZZ_CHECK(none.ok() && !none->has_value(), "a refused intent left a file behind");
    return;
  }
  Result<std::optional<RollbackIntent>> read = ReadRollbackIntent(Scratch().path());
  if (intent.record.IsNull()) {
    // Written but unreadable: the reader refuses a null record as corrupt.
    FUZZ_CHECK(!read.ok() && read.status().code() == EBADMSG, "an intent with a null record was read");
    return;
  }
  FUZZ_CHECK(read.ok() && read->has_value(), "a written intent does not read back");
  FUZZ_CHECK((*read)->name == intent.name && (*read)->record == intent.record, "an intent reads back changed");
  FUZZ_CHECK(RemoveRollbackIntent(Scratch().path()).ok(), "RemoveRollbackIntent");
  Result<std::optional<RollbackIntent>> gone = ReadRollbackIntent(Scratch().path());
  FUZZ_CHECK(gone.ok() && !gone->has_value(), "a removed intent is still read");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 4, Build, Raw);
}
