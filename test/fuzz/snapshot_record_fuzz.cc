// Fuzz target: snapshot records (DecodeSnapshotRecord, EncodeSnapshotRecord),
// read from the fast and the slow store (restore reads them from a bucket
// that may hold anything).
//
// Input: one flags byte, then the record's bytes. Flags bit 0 sets the name
// length field to fit the size and bit 1 recomputes the checksum, so the
// fuzzer gets past them to the fields behind; bit 2 instead builds a record
// from the bytes and round-trips it through Encode and Decode.
//
// Invariants: decode errors are EBADMSG; a decoded record has a valid name
// and geometry and encodes to exactly the bytes it came from (the format has
// one encoding per record); encode errors are EINVAL; Decode(Encode(r)) == r.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/snapshot_record.h"

using namespace amberfs;

namespace {

constexpr size_t kFixed = 128, kChecksum = 8;

Pointer TakePointer(FuzzedDataProvider& in) {
  std::array<uint8_t, Pointer::kSize> raw{};
  if (in.ConsumeBool()) in.ConsumeData(raw.data(), raw.size());  // else null
  return Pointer(raw);
}

void RoundTrip(FuzzedDataProvider& in) {
  SnapshotRecord r;
  in.ConsumeData(r.volume.data(), r.volume.size());
  r.created_ns = in.ConsumeIntegral<uint64_t>();
  r.chunk_size = in.ConsumeBool() ? 1u << in.ConsumeIntegralInRange(10, 31) : in.ConsumeIntegral<uint32_t>();
  r.volume_size = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(1, 1ull << 40) : in.ConsumeIntegral<uint64_t>();
  r.fanout = in.ConsumeBool() ? 1u << in.ConsumeIntegralInRange(0, 13) : in.ConsumeIntegral<uint32_t>();
  if (r.chunk_count() > 0 && in.ConsumeBool()) {
    auto geo = IndexGeometry::Make(r.chunk_count(), r.fanout);
    r.depth = geo.ok() ? geo->depth : 0;
  } else {
    r.depth = in.ConsumeIntegral<uint32_t>();
  }
  r.root = TakePointer(in);
  r.parent = TakePointer(in);
  r.name = in.ConsumeRandomLengthString(80);
  Result<std::vector<uint8_t>> bytes = EncodeSnapshotRecord(r);
  if (!bytes.ok()) {
    FUZZ_CHECK(bytes.status().code() == EINVAL, "an encode error is not EINVAL: " + bytes.status().ToString());
    return;
  }
  Result<SnapshotRecord> back = DecodeSnapshotRecord(*bytes);
  FUZZ_CHECK(back.ok(), "an encoded record does not decode: " + back.status().ToString());
  FUZZ_CHECK(*back == r, "Decode(Encode(r)) != r");
}

void Decode(uint8_t flags, std::span<const uint8_t> input) {
  std::vector<uint8_t> bytes(input.begin(), input.end());
  if ((flags & 1) && bytes.size() >= kFixed + kChecksum)
    PutLE32(bytes.data() + 60, static_cast<uint32_t>(bytes.size() - kFixed - kChecksum));
  if ((flags & 2) && bytes.size() >= kChecksum)
    PutLE64(bytes.data() + bytes.size() - kChecksum, XXH3_64bits(bytes.data(), bytes.size() - kChecksum));

  Result<SnapshotRecord> r = DecodeSnapshotRecord(bytes);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == EBADMSG, "a decode error is not EBADMSG: " + r.status().ToString());
    return;
  }
  FUZZ_CHECK(ValidateSnapshotName(r->name).ok(), "a decoded record has an invalid name");
  Result<IndexGeometry> geo = r->Geometry();
  FUZZ_CHECK(geo.ok() && geo->depth == r->depth, "a decoded record has an inconsistent geometry");
  Result<std::vector<uint8_t>> again = EncodeSnapshotRecord(*r);
  FUZZ_CHECK(again.ok() && *again == bytes, "a decoded record does not encode back to its bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 4, RoundTrip, Decode);
}
