// Fuzz target: a pack's trailer and table (DecodePack, DecodePackTrailer,
// DecodePackTable, VerifyPackBlobs, EncodePackTail).
//
// Input: one flags byte, then the pack's bytes. Bit 0 recomputes the table
// and trailer checksums from the trailer's table offset (so the fuzzer
// reaches the checks behind them); bit 1 instead builds a pack from the
// bytes (blob sizes, gaps, flags; its table sealed or not) and round-trips
// it. Sealed tables (version 2) are opened with one fixed key's
// PackTableCodec, the one Build seals with.
//
// Invariants: a decoded pack's entries lie in increasing, non-overlapping
// order before the table, with known flags, non-null unique ids, at most
// kMaxPackEntries of them; re-encoding a clear table gives back the pack's
// tail byte for byte (the format has one encoding); decoding is EBADMSG or
// OK, or EACCES for a sealed table under another key, never anything else;
// a built pack decodes to what was built and verifies.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "crypto/secret.h"
#include "snapshot/volume_codec.h"
#include "store/pack_format.h"

using namespace amberfs;

namespace {

const PackTableCodec& Tables() {
  static const std::shared_ptr<const PackTableCodec> tables = [] {
    SecretKey k;
    for (size_t i = 0; i < SecretKey::kSize; ++i) k.data()[i] = static_cast<uint8_t>(i + 1);
    return VolumeCodec::Make(false, &k).value().PackTables();
  }();
  return *tables;
}

void Reseal(std::vector<uint8_t>& pack) {
  if (pack.size() < kPackTrailerSize) return;
  uint8_t* t = pack.data() + pack.size() - kPackTrailerSize;
  const uint64_t table_offset = GetLE64(t + 24);
  if (table_offset <= pack.size() - kPackTrailerSize) {
    const size_t table_bytes = pack.size() - kPackTrailerSize - table_offset;
    PutLE64(t + 32, XXH3_64bits(pack.data() + table_offset, table_bytes));
  }
  PutLE64(t + 56, XXH3_64bits(t, 56));
}

void Build(FuzzedDataProvider& in) {
  std::vector<uint8_t> pack;
  std::vector<PackEntry> entries;
  std::set<Pointer> ids;
  const size_t n = in.ConsumeIntegralInRange<size_t>(1, 40);
  for (size_t i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    pack.resize(pack.size() + in.ConsumeIntegralInRange<size_t>(0, 64), 0);  // a gap
    std::vector<uint8_t> blob = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 300));
    const Pointer id = Pointer::Of(blob);
    if (!ids.insert(id).second) continue;  // a writer never packs a blob twice
    entries.push_back({id, pack.size(), static_cast<uint32_t>(blob.size()),
                       in.ConsumeIntegralInRange<uint32_t>(0, kPackKindMask)});
    pack.insert(pack.end(), blob.begin(), blob.end());
  }
  if (entries.empty()) return;
  const bool sealed = in.ConsumeBool();
  const std::vector<uint8_t> tail =
      sealed ? EncodeSealedPackTail(entries, pack.size(), Tables()).value() : EncodePackTail(entries, pack.size());
  pack.insert(pack.end(), tail.begin(), tail.end());
  Result<std::vector<PackEntry>> back = DecodePack(pack, "fuzz", &Tables());
  FUZZ_CHECK(back.ok(), "a built pack does not decode: " + back.status().ToString());
  FUZZ_CHECK(*back == entries, "a built pack decodes to other entries");
  FUZZ_CHECK(VerifyPackBlobs(pack, *back, "fuzz").ok(), "a built pack does not verify");
}

void Decode(uint8_t flags, std::span<const uint8_t> input) {
  std::vector<uint8_t> pack(input.begin(), input.end());
  if (flags & 1) Reseal(pack);
  Result<std::vector<PackEntry>> r = DecodePack(pack, "fuzz", &Tables());
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == EBADMSG || r.status().code() == EACCES,
               "a bad pack is not EBADMSG: " + r.status().ToString());
    return;
  }
  const std::vector<PackEntry>& entries = *r;
  FUZZ_CHECK(!entries.empty() && entries.size() <= kMaxPackEntries, "entry count out of range");
  const PackTrailer trailer = DecodePackTrailer(std::span(pack).last(kPackTrailerSize), pack.size(), "fuzz").value();
  const uint64_t table_offset = trailer.table_offset;
  uint64_t end = 0;
  std::set<Pointer> ids;
  for (const PackEntry& e : entries) {
    FUZZ_CHECK(!e.id.IsNull() && (e.flags & ~kPackKindMask) == 0, "a bad id or flags passed");
    FUZZ_CHECK(e.offset >= end && e.offset + e.length <= table_offset, "an entry out of order or out of bounds");
    FUZZ_CHECK(ids.insert(e.id).second, "an id twice");
    end = e.offset + e.length;
  }
  if (trailer.version == kPackVersion) {  // a sealed table's nonce is random: no one encoding
    const std::vector<uint8_t> tail = EncodePackTail(entries, table_offset);
    FUZZ_CHECK(tail.size() == pack.size() - table_offset &&
                   std::memcmp(tail.data(), pack.data() + table_offset, tail.size()) == 0,
               "re-encoding a decoded pack changes its tail");
  }
  Status verified = VerifyPackBlobs(pack, entries, "fuzz");
  FUZZ_CHECK(verified.ok() || verified.code() == EBADMSG, "verify gave neither OK nor EBADMSG");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 2, Build, Decode);
}
