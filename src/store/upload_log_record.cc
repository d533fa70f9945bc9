// Upload log records: see upload_log_record.h for the format.
#include "store/upload_log_record.h"

#include <xxhash.h>

#include <cstring>
#include <memory>

#include "base/byte_order.h"
#include "store/store.h"

namespace amberfs {

namespace {

constexpr uint8_t kMagic[4] = {'A', 'M', 'U', 'L'};
constexpr uint8_t kVersion = 1;
constexpr size_t kRec = kUploadRecordSize;
// Header fields, by offset.
constexpr size_t kVersionAt = 4, kTypeAt = 5, kSeqAt = 8, kPayloadLenAt = 16, kHeaderCheckAt = 20, kKeyAt = 24,
                 kChecksumAt = 56;

struct Xxh3StateDeleter {
  void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
};

// Checksum over the header (without its checksum field) and the padded payload.
uint64_t Checksum(const uint8_t* record, size_t padded_payload) {
  std::unique_ptr<XXH3_state_t, Xxh3StateDeleter> state(XXH3_createState());
  XXH3_64bits_reset(state.get());
  XXH3_64bits_update(state.get(), record, kChecksumAt);
  XXH3_64bits_update(state.get(), record + kRec, padded_payload);
  return XXH3_64bits_digest(state.get());
}

// A blob-data header's own check: a header that passes it is trusted to give
// the record's length (see the header comment).
uint32_t HeaderCheck(const uint8_t* record) {
  uint8_t copy[kChecksumAt];
  std::memcpy(copy, record, kChecksumAt);
  std::memset(copy + kHeaderCheckAt, 0, 4);
  return static_cast<uint32_t>(XXH3_64bits(copy, sizeof copy));
}

// Also refuses the one seq no writer can give: replay numbers the next entry
// after the highest seq it saw, and there is none after this one.
bool PlausibleHeader(std::span<const uint8_t> bytes) {
  return bytes.size() >= kRec && std::memcmp(bytes.data(), kMagic, 4) == 0 && bytes[kVersionAt] == kVersion &&
         GetLE64(&bytes[kSeqAt]) != UINT64_MAX;
}

size_t MaxPayload(UploadRecordType type) {
  if (type == UploadRecordType::kRefQueued) return 2 + 512 + kUploadMaxRefData;
  if (type == UploadRecordType::kBlobData) return kUploadMaxBlobData;
  return 0;
}

// Fills in the ref of a ref-queued record from its payload; false if the
// payload does not hold a valid ref whose data hashes to the key.
bool DecodeRefPayload(const uint8_t* payload, uint32_t payload_size, UploadEntry* entry) {
  if (payload_size < 2) return false;
  const size_t name_len = GetLE16(payload);
  if (name_len > payload_size - 2) return false;
  entry->ref_name.assign(reinterpret_cast<const char*>(payload + 2), name_len);
  entry->ref_data.assign(payload + 2 + name_len, payload + payload_size);
  return ValidateRefName(entry->ref_name).ok() && Pointer::Of(entry->ref_data) == entry->key;
}

}  // namespace

size_t PaddedPayloadSize(size_t size) { return (size + kRec - 1) / kRec * kRec; }

std::vector<uint8_t> EncodeUploadRecord(UploadRecordType type, uint64_t seq, const Pointer& key,
                                        std::span<const uint8_t> payload) {
  std::vector<uint8_t> rec(kRec + PaddedPayloadSize(payload.size()), 0);
  std::memcpy(rec.data(), kMagic, 4);
  rec[kVersionAt] = kVersion;
  rec[kTypeAt] = static_cast<uint8_t>(type);
  PutLE64(&rec[kSeqAt], seq);
  PutLE32(&rec[kPayloadLenAt], static_cast<uint32_t>(payload.size()));
  std::memcpy(&rec[kKeyAt], key.bytes().data(), Pointer::kSize);
  if (type == UploadRecordType::kBlobData) PutLE32(&rec[kHeaderCheckAt], HeaderCheck(rec.data()));
  if (!payload.empty()) std::memcpy(&rec[kRec], payload.data(), payload.size());
  PutLE64(&rec[kChecksumAt], Checksum(rec.data(), PaddedPayloadSize(payload.size())));
  return rec;
}

std::vector<uint8_t> EncodeQueuedRecord(const UploadEntry& e) {
  if (e.kind == UploadEntry::Kind::kBlob) return EncodeUploadRecord(UploadRecordType::kBlobQueued, e.seq, e.key);
  if (e.kind == UploadEntry::Kind::kDelete) return EncodeUploadRecord(UploadRecordType::kBlobDeleting, e.seq, e.key);
  if (e.kind == UploadEntry::Kind::kPack) return EncodeUploadRecord(UploadRecordType::kPackQueued, e.seq, e.key);
  std::vector<uint8_t> payload(2 + e.ref_name.size() + e.ref_data.size());
  PutLE16(payload.data(), static_cast<uint16_t>(e.ref_name.size()));
  std::memcpy(&payload[2], e.ref_name.data(), e.ref_name.size());
  if (!e.ref_data.empty()) std::memcpy(&payload[2 + e.ref_name.size()], e.ref_data.data(), e.ref_data.size());
  return EncodeUploadRecord(UploadRecordType::kRefQueued, e.seq, e.key, payload);
}

std::optional<DecodedUploadRecord> DecodeUploadRecord(std::span<const uint8_t> bytes) {
  if (!PlausibleHeader(bytes)) return std::nullopt;
  const uint8_t* data = bytes.data();
  const uint8_t raw_type = data[kTypeAt];
  if (raw_type < static_cast<uint8_t>(UploadRecordType::kBlobQueued) ||
      raw_type > static_cast<uint8_t>(UploadRecordType::kPackQueued))
    return std::nullopt;
  DecodedUploadRecord out;
  out.type = static_cast<UploadRecordType>(raw_type);
  out.payload_size = GetLE32(&data[kPayloadLenAt]);
  if (out.payload_size > MaxPayload(out.type) || (out.type == UploadRecordType::kRefQueued && out.payload_size == 0))
    return std::nullopt;
  if (out.type == UploadRecordType::kBlobData && GetLE32(&data[kHeaderCheckAt]) != HeaderCheck(data))
    return std::nullopt;
  out.length = kRec + PaddedPayloadSize(out.payload_size);
  if (out.length > bytes.size() || Checksum(data, PaddedPayloadSize(out.payload_size)) != GetLE64(&data[kChecksumAt]))
    return std::nullopt;
  out.entry.seq = GetLE64(&data[kSeqAt]);
  out.entry.key = Pointer::FromBytes(&data[kKeyAt]);
  const bool is_ref = out.type == UploadRecordType::kRefQueued || out.type == UploadRecordType::kRefDone;
  out.entry.kind = is_ref ? UploadEntry::Kind::kRef
                   : out.type == UploadRecordType::kBlobDeleting ? UploadEntry::Kind::kDelete
                   : out.type == UploadRecordType::kPackQueued   ? UploadEntry::Kind::kPack
                                                                 : UploadEntry::Kind::kBlob;
  out.entry.logged_data = out.type == UploadRecordType::kBlobData;
  if (out.type == UploadRecordType::kRefQueued && !DecodeRefPayload(data + kRec, out.payload_size, &out.entry))
    return std::nullopt;
  return out;
}

std::optional<TrustedDataRecord> TrustedDataRecordAt(std::span<const uint8_t> bytes) {
  if (!PlausibleHeader(bytes) || bytes[kTypeAt] != static_cast<uint8_t>(UploadRecordType::kBlobData))
    return std::nullopt;
  const uint8_t* data = bytes.data();
  if (GetLE32(&data[kHeaderCheckAt]) != HeaderCheck(data)) return std::nullopt;
  const uint32_t payload_size = GetLE32(&data[kPayloadLenAt]);
  if (payload_size > kUploadMaxBlobData) return std::nullopt;
  return TrustedDataRecord{GetLE64(&data[kSeqAt]), Pointer::FromBytes(&data[kKeyAt]),
                           kRec + PaddedPayloadSize(payload_size)};
}

bool LooksLikeUploadLog(std::span<const uint8_t> bytes) {
  static constexpr uint8_t kZeros[4] = {0, 0, 0, 0};
  return bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) == 0 || std::memcmp(bytes.data(), kZeros, 4) == 0;
}

}  // namespace amberfs
