// Fuzz target: replaying a whole upload log (ReplayUploadLog) and opening
// one from a file (UploadLog::Open, which drops a torn tail and rewrites
// around corrupt records, and UploadLog::Scan, fsck's read-only look).
//
// Input: one flags byte. Without bit 0 the rest is the file's bytes. With it
// the rest is a program: a run of well-formed records (queued blobs, blob
// data, refs, done and lost records, as a writer appends them) and then, with
// bit 1, damage done to the file (flipped bytes, zeroed spans, a cut, copied
// slices, garbage slots, forged records with seqs at the top of the range). Bit 2 also opens the file as an UploadLog.
//
// Invariants: replay ends on the 64-byte grid within the file; next_seq lies
// past every seq it has seen; no seq is both pending and lost; blob data
// belongs to the pending entries that say they carry it, and what is carried
// has its recorded length; replaying only the good part gives the same
// result. An undamaged log replays to exactly what the writer queued.
// Open accepts any file that looks like a log; what it leaves behind scans
// clean (no corrupt record, no torn tail), holds the same entries, and opens
// again to the same entries.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "store/upload_log.h"
#include "store/upload_log_replay.h"

using namespace amberfs;

namespace {

constexpr size_t kRec = kUploadRecordSize;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

struct Expected {
  std::map<uint64_t, UploadEntry> pending;
  std::map<uint64_t, Pointer> lost;
  std::map<uint64_t, std::vector<uint8_t>> data;
};

Pointer SmallKey(FuzzedDataProvider& in) {
  std::array<uint8_t, Pointer::kSize> raw{};
  raw[0] = in.ConsumeIntegral<uint8_t>();
  raw[31] = 1;  // never null
  return Pointer(raw);
}

// Appends what a correct writer would: queued seqs only grow, settles name
// a queued seq.
std::vector<uint8_t> WriteLog(FuzzedDataProvider& in, Expected* want) {
  static const char* kRefs[] = {"volumes/v/base", "volumes/v/snapshots/s1", "locks/upload/v", "r"};
  std::vector<uint8_t> file;
  // Up to 24 queued entries, each at most 3 past the last: the top of the
  // seq space stays in reach, never past it.
  uint64_t seq = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, UINT64_MAX - 73) : 1;
  std::vector<uint64_t> queued;
  const int ops = in.ConsumeIntegralInRange(0, 24);
  for (int i = 0; i < ops; ++i) {
    const int kind = in.ConsumeIntegralInRange(0, 5);
    std::vector<uint8_t> rec;
    if (kind <= 2) {
      seq += in.ConsumeIntegralInRange<uint64_t>(1, 3);
      UploadEntry e;
      e.seq = seq;
      if (kind == 0) {
        e.key = SmallKey(in);
        rec = EncodeQueuedRecord(e);
      } else if (kind == 1) {
        e.key = SmallKey(in);
        e.logged_data = true;
        std::vector<uint8_t> payload = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 300));
        rec = EncodeUploadRecord(UploadRecordType::kBlobData, seq, e.key, payload);
        want->data[seq] = payload;
      } else {
        e.kind = UploadEntry::Kind::kRef;
        e.ref_name = kRefs[in.ConsumeIntegralInRange<size_t>(0, 3)];
        e.ref_data = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 200));
        e.key = Pointer::Of(e.ref_data);
        rec = EncodeQueuedRecord(e);
      }
      want->pending[seq] = e;
      queued.push_back(seq);
    } else if (!queued.empty()) {
      const uint64_t s = queued[in.ConsumeIntegralInRange<size_t>(0, queued.size() - 1)];
      auto it = want->pending.find(s);
      const Pointer key = it != want->pending.end() ? it->second.key : SmallKey(in);
      const bool is_ref = it != want->pending.end() && it->second.kind == UploadEntry::Kind::kRef;
      UploadRecordType type = kind == 5 && !is_ref ? UploadRecordType::kBlobLost
                              : is_ref             ? UploadRecordType::kRefDone
                                                   : UploadRecordType::kBlobDone;
      rec = EncodeUploadRecord(type, s, key);
      if (type == UploadRecordType::kBlobLost) want->lost[s] = key;
      want->pending.erase(s);
      want->data.erase(s);
    }
    file.insert(file.end(), rec.begin(), rec.end());
  }
  return file;
}

void Damage(FuzzedDataProvider& in, std::vector<uint8_t>& file) {
  const int hits = in.ConsumeIntegralInRange(1, 4);
  for (int i = 0; i < hits && !file.empty(); ++i) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, file.size() - 1);
    switch (in.ConsumeIntegralInRange(0, 5)) {
      case 0: file[at] ^= in.ConsumeIntegralInRange<uint8_t>(1, 255); break;
      case 1: std::fill(file.begin() + at, file.begin() + std::min(file.size(), at + in.ConsumeIntegralInRange<size_t>(1, 200)), 0); break;
      case 2: file.resize(at); break;
      case 3: {
        const size_t len = std::min(file.size() - at, in.ConsumeIntegralInRange<size_t>(1, 256));
        std::vector<uint8_t> slice(file.begin() + at, file.begin() + at + len);
        file.insert(file.begin() + in.ConsumeIntegralInRange<size_t>(0, file.size()), slice.begin(), slice.end());
        break;
      }
      case 4: {  // a well-formed record with a seq near the top, as no correct writer writes it
        const auto type = static_cast<UploadRecordType>(in.ConsumeIntegralInRange<uint8_t>(1, 6));
        const uint64_t seq = UINT64_MAX - in.ConsumeIntegralInRange<uint64_t>(0, 2);
        std::vector<uint8_t> rec = EncodeUploadRecord(type, seq, SmallKey(in));
        file.insert(file.begin() + at / kRec * kRec, rec.begin(), rec.end());
        break;
      }
      default: {
        std::vector<uint8_t> junk = in.ConsumeBytes<uint8_t>(kRec);
        junk.resize(kRec, 0);
        file.insert(file.begin() + at / kRec * kRec, junk.begin(), junk.end());
      }
    }
  }
}

void CheckReplay(const UploadLogReplay& r, std::span<const uint8_t> file) {
  FUZZ_CHECK(r.good_end <= file.size() && r.good_end % kRec == 0, "good_end off the grid or past the file");
  for (const auto& [seq, e] : r.pending) {
    FUZZ_CHECK(seq == e.seq, "a pending entry under another seq");
    FUZZ_CHECK(e.logged_data == (r.data.count(seq) != 0), "an entry's logged_data disagrees with its blob data");
    FUZZ_CHECK(seq < r.next_seq, "next_seq would reuse pending seq " + std::to_string(seq));
  }
  for (const auto& [seq, key] : r.lost) {
    FUZZ_CHECK(seq < r.next_seq, "next_seq would reuse a lost seq");
    FUZZ_CHECK(!r.pending.count(seq), "seq " + std::to_string(seq) + " is both pending and lost");
  }
  for (const auto& [seq, span] : r.data) {
    FUZZ_CHECK(r.pending.count(seq), "blob data for an entry that is not pending");
    FUZZ_CHECK(span.offset + kRec + span.length <= file.size(), "blob data past the file");
  }
  for (const auto& [seq, bytes] : r.carried) {
    auto it = r.data.find(seq);
    FUZZ_CHECK(it != r.data.end() && it->second.length == bytes.size(), "carried bytes that are not its data");
  }
  const UploadLogReplay good = ReplayUploadLog(file.first(r.good_end), true);
  FUZZ_CHECK(good.pending.size() == r.pending.size() && good.lost == r.lost && good.next_seq == r.next_seq &&
                 good.good_records == r.good_records && good.carried == r.carried,
             "replaying the good part differs from replaying the file");
}

void CheckAgainst(const UploadLogReplay& r, const Expected& want, size_t size) {
  FUZZ_CHECK(r.good_end == size && r.bad_before_good == 0, "an undamaged log has bad records");
  FUZZ_CHECK(r.lost == want.lost, "lost entries differ from what was written");
  FUZZ_CHECK(r.carried == want.data, "carried data differs from what was written");
  FUZZ_CHECK(r.pending.size() == want.pending.size(), "pending entries differ from what was written");
  for (const auto& [seq, e] : want.pending) {
    auto it = r.pending.find(seq);
    FUZZ_CHECK(it != r.pending.end() && it->second.key == e.key && it->second.kind == e.kind &&
                   it->second.ref_name == e.ref_name && it->second.ref_data == e.ref_data &&
                   it->second.logged_data == e.logged_data,
               "pending entry " + std::to_string(seq) + " differs from what was written");
  }
}

using EntryMap = std::map<uint64_t, std::pair<Pointer, bool>>;  // seq -> key, carries data

EntryMap Entries(const std::vector<UploadEntry>& pending) {
  EntryMap out;
  for (const UploadEntry& e : pending) out[e.seq] = {e.key, e.logged_data};
  return out;
}

std::string Show(const EntryMap& m) {
  std::string out;
  for (const auto& [seq, e] : m)
    out += " " + std::to_string(seq) + ":" + e.first.Hex().substr(0, 8) + (e.second ? "+data" : "");
  return out.empty() ? " (none)" : out;
}

void CheckOpen(std::span<const uint8_t> file, const UploadLogReplay& r) {
  Scratch().Reset();
  const std::string path = Scratch() / "upload.log";
  Scratch().Write("upload.log", file);
  Result<std::unique_ptr<UploadLog>> log = UploadLog::Open(path);
  if (!LooksLikeUploadLog(file)) {
    FUZZ_CHECK(!log.ok() && log.status().code() == EBADMSG, "a file that is no log was opened");
    return;
  }
  FUZZ_CHECK(log.ok(), "Open refused a log: " + log.status().ToString());
  EntryMap first = Entries((*log)->Pending());
  FUZZ_CHECK(first.size() == r.pending.size(), "Open's pending entries differ from the replay");
  for (const auto& [seq, e] : r.pending) {
    FUZZ_CHECK(first.count(seq) && first[seq].first == e.key, "Open's pending entries differ from the replay");
    FUZZ_CHECK(first[seq].second == (r.data.count(seq) != 0), "Open's blob data differs from the replay");
    if (first[seq].second) {
      Result<std::vector<uint8_t>> bytes = (*log)->ReadData(seq);
      FUZZ_CHECK(bytes.ok() && *bytes == r.carried.at(seq), "ReadData differs from the replay");
    }
  }
  const std::vector<Pointer> lost = (*log)->Lost();
  log->reset();

  Result<UploadLogScan> scan = UploadLog::Scan(path);
  FUZZ_CHECK(scan.ok(), "Scan after Open: " + scan.status().ToString());
  FUZZ_CHECK(scan->corrupt_records == 0 && scan->torn_tail_bytes == 0, "Open left damage behind");
  FUZZ_CHECK(Entries(scan->pending) == first,
             "Scan after Open sees other entries:" + Show(Entries(scan->pending)) + " after Open:" + Show(first));
  FUZZ_CHECK(scan->lost == lost, "Scan after Open sees other lost entries");
  Result<std::unique_ptr<UploadLog>> again = UploadLog::Open(path);
  FUZZ_CHECK(again.ok(), "a second Open failed: " + again.status().ToString());
  FUZZ_CHECK(Entries((*again)->Pending()) == first,
             "a second Open sees other entries:" + Show(Entries((*again)->Pending())) + " after Open:" + Show(first));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::vector<uint8_t> file;
  Expected want;
  bool damaged = true;
  if (flags & 1) {
    FuzzedDataProvider in(data + 1, size - 1);
    file = WriteLog(in, &want);
    damaged = (flags & 2) != 0;
    if (damaged) Damage(in, file);
  } else {
    file.assign(data + 1, data + size);
  }
  const UploadLogReplay r = ReplayUploadLog(file, /*keep_data=*/true);
  CheckReplay(r, file);
  if (!damaged) CheckAgainst(r, want, file.size());
  if (flags & 4) CheckOpen(file, r);
  return 0;
}
