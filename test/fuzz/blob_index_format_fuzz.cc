// Fuzz target: the blob index's records (DecodeIndexLogRecord,
// ParseIndexManifest, DecodeSegmentHeader, and their encoders).
//
// Input: one flags byte, then bytes. Bits 0..1 pick what the bytes are: 0 a
// log record, 1 a manifest, 2 a segment header. Bit 2 recomputes the log
// record's checksum (so the fuzzer reaches the entry checks behind it); bit
// 3 instead builds updates from the bytes and round-trips them.
//
// Invariants: a decoded log record lies within the bytes, holds 1..2^20
// updates that pass CheckIndexUpdates, and re-encodes to the same bytes; a
// parsed manifest re-encodes to the same text; a decoded segment header
// re-encodes to the same 64 bytes; errors are EBADMSG; a built record
// decodes to the updates it was built from.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "store/blob_index_format.h"

using namespace amberfs;

namespace {

bool SameUpdates(const std::vector<IndexUpdate>& a, const std::vector<IndexUpdate>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].blob != b[i].blob || a[i].removed != b[i].removed || (!a[i].removed && !(a[i].where == b[i].where)))
      return false;
  return true;
}

void FixLogChecksum(std::vector<uint8_t>& b) {
  if (b.size() < kLogRecordHeaderSize) return;
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, b.data(), 16);
  const uint64_t n = GetLE32(&b[8]), p = GetLE32(&b[12]);
  const uint64_t payload = p * 32 + n * kIndexEntrySize;
  if (payload <= b.size() - kLogRecordHeaderSize) XXH3_64bits_update(st, b.data() + kLogRecordHeaderSize, payload);
  PutLE64(&b[16], XXH3_64bits_digest(st));
  XXH3_freeState(st);
}

void Build(FuzzedDataProvider& in) {
  std::vector<IndexUpdate> updates;
  const size_t n = in.ConsumeIntegralInRange<size_t>(1, 50);
  for (size_t i = 0; i < n; ++i) {
    IndexUpdate u;
    std::array<uint8_t, 32> raw{};
    in.ConsumeData(raw.data(), 1);
    raw[1] = static_cast<uint8_t>(i + 1);  // distinct, non-null
    u.blob = Pointer(raw);
    u.removed = in.ConsumeBool();
    if (!u.removed) {
      std::array<uint8_t, 32> pack{};
      pack[0] = in.ConsumeIntegralInRange<uint8_t>(1, 4);
      u.where = BlobLocation{Pointer(pack), in.ConsumeIntegralInRange<uint32_t>(0, 1u << 29),
                             in.ConsumeIntegralInRange<uint32_t>(0, 64u << 20), in.ConsumeIntegralInRange<uint32_t>(0, 3)};
    }
    updates.push_back(u);
  }
  FUZZ_CHECK(CheckIndexUpdates(updates).ok(), "built updates are not valid");
  const std::vector<uint8_t> bytes = EncodeIndexLogRecord(updates);
  std::optional<DecodedLogRecord> back = DecodeIndexLogRecord(bytes);
  FUZZ_CHECK(back && back->length == bytes.size(), "an encoded record does not decode whole");
  FUZZ_CHECK(SameUpdates(back->updates, updates), "a record decodes to other updates");
}

void Raw(uint8_t flags, std::span<const uint8_t> input) {
  std::vector<uint8_t> bytes(input.begin(), input.end());
  switch (flags & 3) {
    case 0: {
      if (flags & 4) FixLogChecksum(bytes);
      std::optional<DecodedLogRecord> r = DecodeIndexLogRecord(bytes);
      if (!r) return;
      FUZZ_CHECK(r->length <= bytes.size() && !r->updates.empty(), "a record past the bytes, or empty");
      FUZZ_CHECK(CheckIndexUpdates(r->updates).ok(), "a decoded record holds invalid updates");
      const std::vector<uint8_t> again = EncodeIndexLogRecord(r->updates);
      FUZZ_CHECK(again.size() == r->length && std::memcmp(again.data(), bytes.data(), again.size()) == 0,
                 "a decoded record re-encodes differently");
      return;
    }
    case 1: {
      Result<IndexManifest> m = ParseIndexManifest(fuzz::AsText(bytes), "fuzz");
      if (!m.ok()) {
        FUZZ_CHECK(m.status().code() == EBADMSG, "a bad manifest is not EBADMSG");
        return;
      }
      FUZZ_CHECK(EncodeIndexManifest(*m) == fuzz::AsText(bytes), "a parsed manifest re-encodes differently");
      return;
    }
    default: {
      Result<SegmentHeader> h = DecodeSegmentHeader(bytes, "fuzz");
      if (!h.ok()) {
        FUZZ_CHECK(h.status().code() == EBADMSG, "a bad header is not EBADMSG");
        return;
      }
      const std::vector<uint8_t> again = EncodeSegmentHeader(*h);
      FUZZ_CHECK(std::memcmp(again.data(), bytes.data(), again.size()) == 0, "a header re-encodes differently");
      FUZZ_CHECK(h->FileSize() > h->MetaBytes(), "sizes overflow");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 8, Build, Raw);
}
