// Upload log replay: see upload_log_replay.h for the rules.
#include "store/upload_log_replay.h"

#include <algorithm>

namespace amberfs {

namespace {

constexpr size_t kRec = kUploadRecordSize;

// A queued record makes its seq pending, replacing whatever an earlier record
// of the seq said: a correct writer never reuses a seq, but a damaged log may,
// and the later record wins. So the seq is not lost (compaction writes lost
// entries after pending ones) and carries no earlier record's blob data.
void Queue(UploadEntry entry, UploadLogReplay* out) {
  const uint64_t seq = entry.seq;
  out->lost.erase(seq);
  out->data.erase(seq);
  out->carried.erase(seq);
  out->pending[seq] = std::move(entry);
}

// Applies one good record to the replay.
void Apply(const DecodedUploadRecord& record, size_t offset, std::span<const uint8_t> bytes, bool keep_data,
           UploadLogReplay* out) {
  const uint64_t seq = record.entry.seq;
  switch (record.type) {
    case UploadRecordType::kBlobData: {
      Queue(record.entry, out);
      out->data[seq] = UploadLogReplay::DataSpan{offset, record.payload_size};
      out->data_bytes += record.length - kRec;
      if (keep_data) {
        const auto payload = bytes.subspan(offset + kRec, record.payload_size);
        out->carried[seq].assign(payload.begin(), payload.end());
      }
      break;
    }
    case UploadRecordType::kBlobQueued:
    case UploadRecordType::kRefQueued:
    case UploadRecordType::kBlobDeleting:
    case UploadRecordType::kPackQueued:
      Queue(record.entry, out);
      break;
    case UploadRecordType::kBlobLost:
      out->lost[seq] = record.entry.key;
      [[fallthrough]];
    default:
      out->pending.erase(seq);
      out->data.erase(seq);
      out->carried.erase(seq);
  }
}

}  // namespace

UploadLogReplay ReplayUploadLog(std::span<const uint8_t> bytes, bool keep_data) {
  UploadLogReplay out;
  size_t offset = 0, bad = 0;
  // Blob-data records with a good header and a bad payload: pending (without
  // their data) if good records follow them, else part of a torn tail.
  std::vector<UploadEntry> damaged;
  while (offset < bytes.size()) {
    const std::span<const uint8_t> rest = bytes.subspan(offset);
    std::optional<DecodedUploadRecord> record = DecodeUploadRecord(rest);
    if (!record) {
      std::optional<TrustedDataRecord> trusted = TrustedDataRecordAt(rest);
      if (!trusted) {
        ++bad;
        offset += kRec;
        continue;
      }
      if (trusted->length > rest.size()) break;  // a header whose payload was never all written: the torn tail
      UploadEntry e;
      e.seq = trusted->seq;
      e.key = trusted->key;
      damaged.push_back(std::move(e));
      bad += trusted->length / kRec;
      offset += trusted->length;
      continue;
    }
    out.bad_before_good = bad;
    ++out.good_records;
    for (UploadEntry& e : damaged) {  // a good record after them: not a torn tail
      out.next_seq = std::max(out.next_seq, e.seq + 1);
      Queue(std::move(e), &out);
    }
    damaged.clear();
    out.next_seq = std::max(out.next_seq, record->entry.seq + 1);
    Apply(*record, offset, bytes, keep_data, &out);
    offset += record->length;
    out.good_end = offset;
  }
  return out;
}

}  // namespace amberfs
