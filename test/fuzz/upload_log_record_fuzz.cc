// Fuzz target: one upload-log record (DecodeUploadRecord,
// TrustedDataRecordAt, LooksLikeUploadLog, and the encoders).
//
// Input: one flags byte, then the record's bytes. Bit 0 sets payload_len to
// what the bytes hold, bit 1 recomputes a blob-data header's own check, bit
// 2 recomputes the checksum (so the fuzzer reaches the checks behind them);
// bit 3 instead builds a record from the bytes and round-trips it.
//
// Invariants: a decoded record lies within the bytes, is a whole number of
// 64-byte slots, keeps the payload limits, and for a ref holds a valid name
// whose data hashes to the key; encoding what was decoded decodes to the
// same record; a blob-data record that decodes is also trusted, with the same
// length; Decode(Encode(x)) gives x back, except for seq 2^64-1, which no
// record may hold.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "store/store.h"
#include "store/upload_log_record.h"

using namespace amberfs;

namespace {

constexpr size_t kRec = kUploadRecordSize;

bool SameRecord(const DecodedUploadRecord& a, const DecodedUploadRecord& b) {
  return a.type == b.type && a.entry.seq == b.entry.seq && a.entry.kind == b.entry.kind && a.entry.key == b.entry.key &&
         a.entry.ref_name == b.entry.ref_name && a.entry.ref_data == b.entry.ref_data &&
         a.entry.logged_data == b.entry.logged_data && a.payload_size == b.payload_size && a.length == b.length;
}

void FixUp(uint8_t flags, std::vector<uint8_t>& b) {
  if (b.size() < kRec) return;
  if (flags & 1) PutLE32(&b[16], static_cast<uint32_t>(b.size() - kRec));
  if (flags & 2) {
    uint8_t copy[56];
    std::memcpy(copy, b.data(), 56);
    std::memset(copy + 20, 0, 4);
    PutLE32(&b[20], static_cast<uint32_t>(XXH3_64bits(copy, sizeof copy)));
  }
  if (flags & 4) {
    const size_t padded = PaddedPayloadSize(GetLE32(&b[16]));
    if (kRec + padded <= b.size()) {
      std::vector<uint8_t> covered(b.begin(), b.begin() + 56);
      covered.insert(covered.end(), b.begin() + kRec, b.begin() + kRec + padded);
      PutLE64(&b[56], XXH3_64bits(covered.data(), covered.size()));
    }
  }
}

void RoundTrip(FuzzedDataProvider& in) {
  UploadEntry e;
  e.seq = in.ConsumeIntegral<uint64_t>();
  const auto type = static_cast<UploadRecordType>(in.ConsumeIntegralInRange<uint8_t>(1, 6));
  std::vector<uint8_t> bytes;
  if (type == UploadRecordType::kRefQueued) {
    e.kind = UploadEntry::Kind::kRef;
    e.ref_name = in.ConsumeRandomLengthString(600);
    e.ref_data = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 2000));
    e.key = Pointer::Of(e.ref_data);
    if (!ValidateRefName(e.ref_name).ok()) return;  // the log only queues valid refs
    bytes = EncodeQueuedRecord(e);
  } else {
    std::array<uint8_t, Pointer::kSize> raw{};
    in.ConsumeData(raw.data(), raw.size());
    e.key = Pointer(raw);
    std::vector<uint8_t> payload;
    if (type == UploadRecordType::kBlobData) payload = in.ConsumeRemainingBytes<uint8_t>();
    bytes = EncodeUploadRecord(type, e.seq, e.key, payload);
  }
  std::optional<DecodedUploadRecord> back = DecodeUploadRecord(bytes);
  if (e.seq == UINT64_MAX) {  // no writer can give it: the format calls it invalid
    FUZZ_CHECK(!back && !TrustedDataRecordAt(bytes), "a record with seq 2^64-1 was accepted");
    return;
  }
  FUZZ_CHECK(back.has_value(), "an encoded record does not decode");
  FUZZ_CHECK(back->type == type && back->entry.seq == e.seq && back->entry.key == e.key, "fields changed");
  FUZZ_CHECK(back->length == bytes.size(), "the decoded length is not the encoded size");
  if (type == UploadRecordType::kRefQueued)
    FUZZ_CHECK(back->entry.ref_name == e.ref_name && back->entry.ref_data == e.ref_data, "the ref changed");
}

void Decode(uint8_t flags, std::span<const uint8_t> input) {
  std::vector<uint8_t> bytes(input.begin(), input.end());
  FixUp(flags, bytes);
  (void)LooksLikeUploadLog(bytes);
  std::optional<TrustedDataRecord> trusted = TrustedDataRecordAt(bytes);
  if (trusted) FUZZ_CHECK(trusted->length >= kRec && trusted->length % kRec == 0, "a trusted length off the grid");

  std::optional<DecodedUploadRecord> r = DecodeUploadRecord(bytes);
  if (!r) return;
  FUZZ_CHECK(r->length <= bytes.size() && r->length % kRec == 0, "a record off the grid or past the bytes");
  FUZZ_CHECK(r->length == kRec + PaddedPayloadSize(r->payload_size), "length and payload size disagree");
  const bool is_ref = r->type == UploadRecordType::kRefQueued || r->type == UploadRecordType::kRefDone;
  FUZZ_CHECK((r->entry.kind == UploadEntry::Kind::kRef) == is_ref, "the entry's kind does not fit its type");
  if (r->type == UploadRecordType::kRefQueued) {
    FUZZ_CHECK(ValidateRefName(r->entry.ref_name).ok(), "a queued ref with an invalid name");
    FUZZ_CHECK(Pointer::Of(r->entry.ref_data) == r->entry.key, "a queued ref whose data does not hash to its key");
  } else if (r->type == UploadRecordType::kBlobData) {
    FUZZ_CHECK(r->payload_size <= kUploadMaxBlobData, "blob data over the limit");
    FUZZ_CHECK(trusted && trusted->length == r->length && trusted->seq == r->entry.seq, "a blob-data record is not trusted");
  } else {
    FUZZ_CHECK(r->payload_size == 0, "a record without payload has one");
  }
  const std::span<const uint8_t> payload(bytes.data() + kRec, r->payload_size);
  const std::vector<uint8_t> again = EncodeUploadRecord(r->type, r->entry.seq, r->entry.key, payload);
  std::optional<DecodedUploadRecord> back = DecodeUploadRecord(again);
  FUZZ_CHECK(back && SameRecord(*back, *r), "a decoded record does not survive encoding");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 8, RoundTrip, Decode);
}
