// UploadLog: see upload_log.h for the file format and the crash protocol.
#include "store/upload_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "base/durable_file.h"
#include "amberfs/log.h"
#include "store/store.h"

namespace amberfs {

namespace {

constexpr uint8_t kMagic[4] = {'A', 'M', 'U', 'L'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kBlobQueued = 1, kBlobDone = 2, kRefQueued = 3, kRefDone = 4, kBlobLost = 5, kBlobData = 6;
constexpr size_t kRec = UploadLog::kRecordSize;
constexpr size_t kChecksumAt = 56;

size_t Padded(size_t n) { return (n + kRec - 1) / kRec * kRec; }

void Put16(uint8_t* p, uint16_t v) { for (int i = 0; i < 2; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i)); }
void Put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i)); }
void Put64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i)); }
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
uint32_t Get32(const uint8_t* p) { return static_cast<uint32_t>(Get64(p) & 0xffffffffu); }

// Checksum over the header (without its checksum field) and the padded payload.
uint64_t Checksum(const uint8_t* record, size_t padded_payload) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, record, kChecksumAt);
  XXH3_64bits_update(state, record + kRec, padded_payload);
  uint64_t sum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return sum;
}

// A blob-data record's header has a check of its own (bytes 20..23): a header
// that passes it is trusted to give the record's length, so replay steps over
// a damaged or torn payload whole and never parses the blob's bytes (which
// are user data, and may look like records) as records.
constexpr size_t kHeaderCheckAt = 20;

uint32_t HeaderCheck(const uint8_t* record) {
  uint8_t copy[kChecksumAt];
  std::memcpy(copy, record, kChecksumAt);
  std::memset(copy + kHeaderCheckAt, 0, 4);
  return static_cast<uint32_t>(XXH3_64bits(copy, sizeof copy));
}

// The length of the blob-data record whose header is at data[0..avail), if
// the header passes its check (the payload may still be bad); else 0.
size_t TrustedDataRecordLength(const uint8_t* data, size_t avail) {
  if (avail < kRec || std::memcmp(data, kMagic, 4) != 0 || data[4] != kVersion || data[5] != kBlobData) return 0;
  if (Get32(&data[kHeaderCheckAt]) != HeaderCheck(data)) return 0;
  uint32_t payload_len = Get32(&data[16]);
  if (payload_len > UploadLog::kMaxBlobData) return 0;
  return kRec + Padded(payload_len);
}

std::vector<uint8_t> Encode(uint8_t type, uint64_t seq, const Pointer& key, std::span<const uint8_t> payload = {}) {
  std::vector<uint8_t> rec(kRec + Padded(payload.size()), 0);
  std::memcpy(rec.data(), kMagic, 4);
  rec[4] = kVersion;
  rec[5] = type;
  Put64(&rec[8], seq);
  Put32(&rec[16], static_cast<uint32_t>(payload.size()));
  std::memcpy(&rec[24], key.bytes().data(), Pointer::kSize);
  if (type == kBlobData) Put32(&rec[kHeaderCheckAt], HeaderCheck(rec.data()));
  if (!payload.empty()) std::memcpy(&rec[kRec], payload.data(), payload.size());
  Put64(&rec[kChecksumAt], Checksum(rec.data(), Padded(payload.size())));
  return rec;
}

std::vector<uint8_t> EncodeEntry(const UploadEntry& e) {
  if (e.kind == UploadEntry::Kind::kBlob) return Encode(kBlobQueued, e.seq, e.key);
  std::vector<uint8_t> payload(2 + e.ref_name.size() + e.ref_data.size());
  Put16(payload.data(), static_cast<uint16_t>(e.ref_name.size()));
  std::memcpy(&payload[2], e.ref_name.data(), e.ref_name.size());
  if (!e.ref_data.empty()) std::memcpy(&payload[2 + e.ref_name.size()], e.ref_data.data(), e.ref_data.size());
  return Encode(kRefQueued, e.seq, e.key, payload);
}

size_t MaxPayload(uint8_t type) {
  if (type == kRefQueued) return 2 + 512 + UploadLog::kMaxRefData;
  if (type == kBlobData) return UploadLog::kMaxBlobData;
  return 0;
}

// Parses the record at data[0..avail); returns its total length, or 0 if it
// is not a valid record. A blob-data payload is checked by the checksum only
// (hashing every blob at replay would cost more than it guards: the fast
// store verifies the SHA-256 when the bytes are written back).
size_t Decode(const uint8_t* data, size_t avail, uint8_t* type, UploadEntry* entry) {
  if (avail < kRec || std::memcmp(data, kMagic, 4) != 0 || data[4] != kVersion) return 0;
  *type = data[5];
  if (*type < kBlobQueued || *type > kBlobData) return 0;
  uint32_t payload_len = Get32(&data[16]);
  if (payload_len > MaxPayload(*type) || (*type == kRefQueued && payload_len == 0)) return 0;
  if (*type == kBlobData && Get32(&data[kHeaderCheckAt]) != HeaderCheck(data)) return 0;
  size_t total = kRec + Padded(payload_len);
  if (total > avail || Checksum(data, Padded(payload_len)) != Get64(&data[kChecksumAt])) return 0;
  entry->seq = Get64(&data[8]);
  entry->key = Pointer::FromBytes(&data[24]);
  entry->kind = *type == kRefQueued || *type == kRefDone ? UploadEntry::Kind::kRef : UploadEntry::Kind::kBlob;
  entry->logged_data = *type == kBlobData;
  if (*type == kRefQueued) {
    const uint8_t* p = data + kRec;
    if (payload_len < 2) return 0;
    size_t name_len = p[0] | p[1] << 8;
    if (name_len > payload_len - 2) return 0;
    entry->ref_name.assign(reinterpret_cast<const char*>(p + 2), name_len);
    entry->ref_data.assign(p + 2 + name_len, p + payload_len);
    if (!ValidateRefName(entry->ref_name).ok() || Pointer::Of(entry->ref_data) != entry->key) return 0;
  }
  return total;
}

// Where a blob-data record's payload is.
struct DataSpan {
  uint64_t offset = 0;  // of the record header
  uint32_t length = 0;
};

// What a log's bytes hold: the replay, without touching the file.
struct ParsedLog {
  std::map<uint64_t, UploadEntry> pending;
  std::map<uint64_t, Pointer> lost;
  std::map<uint64_t, DataSpan> data;  // pending blob-data entries
  std::map<uint64_t, std::vector<uint8_t>> carried;  // their bytes (ParseLog with keep_data)
  uint64_t data_bytes = 0;            // padded blob-data payloads, settled or not
  uint64_t next_seq = 1;
  size_t good_end = 0;         // end of the last good record
  size_t good_records = 0;
  size_t bad_before_good = 0;  // bad 64-byte slots with good records after them
};

ParsedLog ParseLog(const std::vector<uint8_t>& data, bool keep_data = false) {
  ParsedLog out;
  size_t offset = 0, bad = 0;
  // Blob-data records with a good header and a bad payload: pending (without
  // their data) if good records follow them, else part of a torn tail.
  std::vector<UploadEntry> damaged;
  while (offset < data.size()) {
    uint8_t type = 0;
    UploadEntry entry;
    size_t len = Decode(data.data() + offset, data.size() - offset, &type, &entry);
    if (len == 0) {
      size_t skip = TrustedDataRecordLength(data.data() + offset, data.size() - offset);
      if (skip == 0 || skip > data.size() - offset) {
        if (skip != 0) break;  // a header whose payload was never all written: the torn tail
        ++bad;
        offset += kRec;
        continue;
      }
      UploadEntry e;
      e.seq = Get64(&data[offset + 8]);
      e.key = Pointer::FromBytes(&data[offset + 24]);
      damaged.push_back(std::move(e));
      bad += skip / kRec;
      offset += skip;
      continue;
    }
    out.bad_before_good = bad;
    ++out.good_records;
    offset += len;
    out.good_end = offset;
    for (UploadEntry& e : damaged) {  // a good record after them: not a torn tail
      out.next_seq = std::max(out.next_seq, e.seq + 1);
      out.pending[e.seq] = std::move(e);
    }
    damaged.clear();
    out.next_seq = std::max(out.next_seq, entry.seq + 1);
    switch (type) {
      case kBlobData: {
        const size_t header = offset - len;
        const uint32_t length = Get32(&data[header + 16]);
        out.data[entry.seq] = DataSpan{header, length};
        out.data_bytes += len - kRec;
        const auto payload = data.begin() + static_cast<ptrdiff_t>(header + kRec);
        if (keep_data) out.carried[entry.seq].assign(payload, payload + length);
        [[fallthrough]];
      }
      case kBlobQueued:
      case kRefQueued:
        out.pending[entry.seq] = std::move(entry);
        break;
      case kBlobLost:
        out.lost[entry.seq] = entry.key;
        out.pending.erase(entry.seq);
        out.data.erase(entry.seq);
        out.carried.erase(entry.seq);
        break;
      default:
        out.pending.erase(entry.seq);
        out.data.erase(entry.seq);
        out.carried.erase(entry.seq);
    }
  }
  return out;
}

Result<std::vector<uint8_t>> ReadWhole(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat");
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

// A torn first write leaves our magic or zeros at offset 0; anything else is
// some other file, which must not be truncated as if it were a torn tail.
bool LooksLikeLog(const std::vector<uint8_t>& data) {
  static constexpr uint8_t kZeros[4] = {0, 0, 0, 0};
  return data.size() < 4 || std::memcmp(data.data(), kMagic, 4) == 0 || std::memcmp(data.data(), kZeros, 4) == 0;
}

Status SyncParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

// Reads a payload the file is known to hold in full.
Result<std::vector<uint8_t>> ReadPayload(int fd, uint64_t offset, uint32_t length, const std::string& path) {
  std::vector<uint8_t> out(length);
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd, out.data(), out.size(), static_cast<off_t>(offset), path));
  if (got != out.size()) return Status::Error(EIO, "read " + path + ": the file ends inside a record");
  return out;
}

Status PwriteAll(int fd, const std::vector<uint8_t>& bytes, uint64_t offset, const std::string& path) {
  return amberfs::PwriteAll(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset), path);
}

}  // namespace

Result<std::unique_ptr<UploadLog>> UploadLog::Open(const std::string& path, UploadLogOptions options) {
  std::unique_ptr<UploadLog> log(new UploadLog(path, options));
  ::unlink((path + ".compact").c_str());  // an interrupted compaction; the log itself is intact
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno(errno, "open upload log " + path);
  AMBER_RETURN_IF_ERROR(SyncParentDir(path).Annotate("open upload log " + path));
  log->fd_ = std::make_shared<UniqueFd>(std::move(fd));
  bool rewrite = false;
  AMBER_RETURN_IF_ERROR(log->Replay(&rewrite).Annotate("replay upload log " + path));
  std::lock_guard<std::mutex> lock(log->mu_);
  if (rewrite || log->WantsCompactionLocked()) AMBER_RETURN_IF_ERROR(log->CompactLocked());
  return log;
}

UploadLog::~UploadLog() {
  Status s = Sync();
  if (!s.ok()) LOG_ERROR("upload log %s: final sync: %s", path_.c_str(), s.ToString().c_str());
}

Status UploadLog::Replay(bool* rewrite) {
  int fd = fd_->get();
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, ReadWhole(fd));
  if (!LooksLikeLog(data)) return Status::Error(EBADMSG, path_ + " is not an amberfs upload log (bad magic at offset 0)");

  ParsedLog parsed = ParseLog(data);
  pending_ = std::move(parsed.pending);
  lost_ = std::move(parsed.lost);
  // Unpublished, whatever they were: a crash may have lost the fast copies
  // (the caller checks them and publishes again).
  for (const auto& [seq, span] : parsed.data) data_[seq] = DataRecord{span.offset, span.length};
  records_ = parsed.good_records;
  data_bytes_ = parsed.data_bytes;
  next_seq_ = std::max(next_seq_, parsed.next_seq);
  const size_t good_end = parsed.good_end, bad_before_good = parsed.bad_before_good;
  end_ = good_end;
  if (bad_before_good > 0) {
    LOG_ERROR("upload log %s: skipped %zu corrupt records between good ones; rewriting the log", path_.c_str(),
              bad_before_good);
    *rewrite = true;
  }
  if (good_end < data.size()) {
    LOG_WARN("upload log %s: dropping a torn tail of %zu bytes (an unacknowledged write)", path_.c_str(),
             data.size() - good_end);
    if (::ftruncate(fd, static_cast<off_t>(good_end)) != 0) return Status::FromErrno(errno, "truncate torn tail");
    if (::fdatasync(fd) != 0) return Status::FromErrno(errno, "fdatasync after truncation");
  }
  return Status::OK();
}

Status UploadLog::AppendLocked(const std::vector<uint8_t>& bytes, uint64_t records) {
  if (!failed_.ok()) return failed_;
  if (!fd_) return Status::Error(ESHUTDOWN, "upload log " + path_ + " is closed");
  Status s = PwriteAll(fd_->get(), bytes, end_, path_);
  if (!s.ok()) {
    // Take the partial record back so the next append starts on a record boundary.
    if (::ftruncate(fd_->get(), static_cast<off_t>(end_)) != 0)
      failed_ = Status::FromErrno(errno, "upload log " + path_ + ": truncate after a failed write");
    return s;
  }
  end_ += bytes.size();
  records_ += records;
  return Status::OK();
}

bool UploadLog::WantsCompactionLocked() const {
  if (records_ >= std::max(options_.compact_min_records, compact_retry_records_) &&
      (pending_.size() + lost_.size()) * 4 < records_)
    return true;
  // Only worth it if most of the data can go: settled, or published (and a
  // way to make it durable).
  if (data_bytes_ <= std::max(options_.compact_data_bytes, data_retry_at_) || !options_.sync_published) return false;
  uint64_t kept = 0;
  for (const auto& [seq, d] : data_)
    if (d.published_gen == 0) kept += Padded(d.length);
  return kept * 2 < data_bytes_.load();
}

void UploadLog::CompactIfWanted() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!WantsCompactionLocked()) return;
  }
  Status s = Compact();
  if (!s.ok()) LOG_WARN("upload log %s: %s", path_.c_str(), s.ToString().c_str());
}

Status UploadLog::SyncShared() {
  std::shared_ptr<UniqueFd> fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    fd = fd_;
  }
  if (!fd) return Status::OK();
  if (::fdatasync(fd->get()) == 0) return Status::OK();
  Status s = Status::Error(EIO, "upload log " + path_ + ": fdatasync failed (" + std::strerror(errno) +
                                    "); the log refuses appends until reopened");
  std::lock_guard<std::mutex> lock(mu_);
  failed_ = s;
  return s;
}

Status UploadLog::Sync() {
  return commit_.Commit([this] { return SyncShared(); });
}

Result<uint64_t> UploadLog::AppendBlob(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "upload log: the null pointer is never uploaded");
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = next_seq_;
    AMBER_RETURN_IF_ERROR(AppendLocked(Encode(kBlobQueued, seq, key), 1));
    ++next_seq_;
    UploadEntry& e = pending_[seq];
    e.seq = seq;
    e.key = key;
  }
  AMBER_RETURN_IF_ERROR(Sync());
  return seq;
}

Result<std::vector<uint64_t>> UploadLog::AppendBlobs(std::span<const Pointer> keys) {
  for (const Pointer& key : keys)
    if (key.IsNull()) return Status::Error(EINVAL, "upload log: the null pointer is never uploaded");
  std::vector<uint64_t> seqs;
  if (keys.empty()) return seqs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t> bytes;
    bytes.reserve(keys.size() * kRecordSize);
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<uint8_t> record = Encode(kBlobQueued, next_seq_ + i, keys[i]);
      bytes.insert(bytes.end(), record.begin(), record.end());
    }
    AMBER_RETURN_IF_ERROR(AppendLocked(bytes, keys.size()));
    for (const Pointer& key : keys) {
      UploadEntry& e = pending_[next_seq_];
      e.seq = next_seq_;
      e.key = key;
      seqs.push_back(next_seq_++);
    }
  }
  if (Status synced = Sync(); !synced.ok()) {
    // Not durable: the caller treats these as never queued, so neither do we.
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t seq : seqs) pending_.erase(seq);
    return synced;
  }
  return seqs;
}

Result<uint64_t> UploadLog::AppendBlobData(const Pointer& key, std::span<const uint8_t> data) {
  if (key.IsNull()) return Status::Error(EINVAL, "upload log: the null pointer is never uploaded");
  if (data.size() > kMaxBlobData)
    return Status::Error(EINVAL, "upload log: blob " + key.Hex() + " is too big to carry (" +
                                     std::to_string(data.size()) + " bytes)");
  if (!options_.sync_published)
    return Status::Error(EINVAL, "upload log: blob data needs options.sync_published to be dropped again");
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = next_seq_;
    const uint64_t offset = end_;
    AMBER_RETURN_IF_ERROR(AppendLocked(Encode(kBlobData, seq, key, data), 1));
    ++next_seq_;
    UploadEntry& e = pending_[seq];
    e.seq = seq;
    e.key = key;
    data_[seq] = DataRecord{offset, static_cast<uint32_t>(data.size())};
    data_bytes_ += Padded(data.size());
  }
  AMBER_RETURN_IF_ERROR(Sync());
  // This record is unpublished, so a compaction carries it over.
  CompactIfWanted();
  return seq;
}

void UploadLog::MarkPublished(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(seq);
  // Without a way to sync the fast store, bytes are kept until settled.
  if (it != data_.end() && !it->second.suspect && options_.sync_published) it->second.published_gen = ++publish_gen_;
}

Result<std::vector<uint8_t>> UploadLog::ReadData(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(seq);
  if (it == data_.end()) return Status::Error(ENOENT, "upload log: entry " + std::to_string(seq) + " carries no blob data");
  if (!fd_) return Status::Error(ESHUTDOWN, "upload log " + path_ + " is closed");
  return ReadPayload(fd_->get(), it->second.offset + kRec, it->second.length, path_);
}

Result<uint64_t> UploadLog::AppendRef(std::string_view name, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  if (data.size() > kMaxRefData)
    return Status::Error(EINVAL, "ref " + std::string(name) + " is larger than 1 MiB; refs are small");
  UploadEntry e;
  e.kind = UploadEntry::Kind::kRef;
  e.key = Pointer::Of(data);
  e.ref_name = std::string(name);
  e.ref_data.assign(data.begin(), data.end());
  {
    std::lock_guard<std::mutex> lock(mu_);
    e.seq = next_seq_;
    AMBER_RETURN_IF_ERROR(AppendLocked(EncodeEntry(e), 1));
    ++next_seq_;
    pending_[e.seq] = e;
  }
  AMBER_RETURN_IF_ERROR(Sync());
  return e.seq;
}

Status UploadLog::Settle(uint64_t seq, uint8_t type) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return Status::Error(ENOENT, "upload log: no pending entry " + std::to_string(seq));
  bool is_ref = it->second.kind == UploadEntry::Kind::kRef;
  if (type == kBlobDone && is_ref) type = kRefDone;
  if (type == kBlobLost && is_ref) return Status::Error(EINVAL, "upload log: a ref entry cannot be lost");
  Pointer key = type == kBlobLost ? it->second.key : Pointer::Null();
  AMBER_RETURN_IF_ERROR(AppendLocked(Encode(type, seq, key), 1));
  pending_.erase(it);
  data_.erase(seq);  // settled: the slow copy backs the blob from now on
  if (type == kBlobLost) lost_[seq] = key;
  return Status::OK();
}

Status UploadLog::MarkDone(uint64_t seq) {
  AMBER_RETURN_IF_ERROR(Settle(seq, kBlobDone));
  CompactIfWanted();
  return Status::OK();
}

Status UploadLog::MarkLost(uint64_t seq) {
  AMBER_RETURN_IF_ERROR(Settle(seq, kBlobLost));
  CompactIfWanted();
  return Status::OK();
}

Status UploadLog::Compact() {
  // The checkpoint: make every fast copy published so far durable, without
  // holding mu_ (a syncfs of the fast store may take a while, and appends go
  // on meanwhile); then the compaction may drop their bytes.
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (checkpointing_) return Status::OK();  // another caller is at it
    target = publish_gen_;
    if (target <= synced_gen_ || !options_.sync_published) return CompactLocked();
    checkpointing_ = true;
  }
  Status synced = options_.sync_published();
  std::lock_guard<std::mutex> lock(mu_);
  checkpointing_ = false;
  if (!synced.ok()) {
    // The failed writeback is reported once (errseq), so a later sync that
    // succeeds says nothing about these files: keep their bytes until they
    // are settled (a restart rewrites their fast copies durably). That goes
    // for every published copy, also those published while the sync ran: it
    // wrote them back too.
    size_t suspects = 0;
    for (auto& [seq, d] : data_)
      if (d.published_gen != 0) {
        d.published_gen = 0;
        d.suspect = true;
        ++suspects;
      }
    LOG_ERROR("upload log %s: syncing the fast store failed, so the log keeps the bytes of %zu blobs: %s",
              path_.c_str(), suspects, synced.ToString().c_str());
  }
  synced_gen_ = std::max(synced_gen_, target);  // synced, or suspect and kept
  return CompactLocked();
}

Status UploadLog::CompactLocked() {
  if (!failed_.ok()) return failed_;
  auto give_up = [&](Status s) {
    // Not again at once: wait for as many records, or as much data, again.
    compact_retry_records_ = records_ + options_.compact_min_records;
    data_retry_at_ = data_bytes_ + options_.compact_data_bytes;
    return s;
  };
  std::string temp = path_ + ".compact";
  std::vector<uint8_t> bytes;
  std::map<uint64_t, DataRecord> kept;
  uint64_t kept_bytes = 0;
  for (const auto& [seq, e] : pending_) {
    auto d = data_.find(seq);
    if (d == data_.end() || (d->second.published_gen != 0 && d->second.published_gen <= synced_gen_)) {
      std::vector<uint8_t> rec = EncodeEntry(e);
      bytes.insert(bytes.end(), rec.begin(), rec.end());
      continue;
    }
    Result<std::vector<uint8_t>> payload = ReadPayload(fd_->get(), d->second.offset + kRec, d->second.length, path_);
    if (!payload.ok()) return give_up(payload.status().Annotate("compact upload log"));
    DataRecord moved = d->second;
    moved.offset = bytes.size();
    kept[seq] = moved;
    kept_bytes += Padded(payload->size());
    std::vector<uint8_t> rec = Encode(kBlobData, seq, e.key, *payload);
    bytes.insert(bytes.end(), rec.begin(), rec.end());
  }
  for (const auto& [seq, key] : lost_) {
    std::vector<uint8_t> rec = Encode(kBlobLost, seq, key);
    bytes.insert(bytes.end(), rec.begin(), rec.end());
  }
  UniqueFd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return give_up(Status::FromErrno(errno, "compact upload log: create " + temp));
  Status s = PwriteAll(fd.get(), bytes, 0, temp);
  if (s.ok() && ::fdatasync(fd.get()) != 0) s = Status::FromErrno(errno, "compact upload log: fdatasync " + temp);
  if (s.ok() && ::rename(temp.c_str(), path_.c_str()) != 0)
    s = Status::FromErrno(errno, "compact upload log: rename " + temp);
  if (!s.ok()) {
    ::unlink(temp.c_str());
    return give_up(s);  // the old log is intact and still in use
  }
  // From here the new file is the log; if its directory entry cannot be made
  // durable we cannot tell which file a crash would leave, so stop appending.
  s = SyncParentDir(path_);
  if (!s.ok()) failed_ = s.Annotate("upload log " + path_ + " after compaction");
  fd_ = std::make_shared<UniqueFd>(std::move(fd));
  end_ = bytes.size();
  records_ = pending_.size() + lost_.size();
  data_ = std::move(kept);
  data_bytes_ = kept_bytes;
  compact_retry_records_ = 0;
  data_retry_at_ = 0;
  ++compactions_;
  LOG_DEBUG("upload log %s compacted to %zu bytes", path_.c_str(), bytes.size());
  return s;
}

Result<UploadLogScan> UploadLog::Scan(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open upload log " + path);
  Result<std::vector<uint8_t>> data = ReadWhole(fd.get());
  if (!data.ok()) return data.status().Annotate("upload log " + path);
  if (!LooksLikeLog(*data)) return Status::Error(EBADMSG, path + " is not an amberfs upload log (bad magic at offset 0)");
  ParsedLog parsed = ParseLog(*data, /*keep_data=*/true);
  UploadLogScan scan;
  for (auto& [seq, e] : parsed.pending) {
    if (e.logged_data) scan.carried[e.key] = std::move(parsed.carried[seq]);
    scan.pending.push_back(std::move(e));
  }
  for (const auto& [seq, key] : parsed.lost) scan.lost.push_back(key);
  scan.records = parsed.good_records;
  scan.corrupt_records = parsed.bad_before_good;
  scan.torn_tail_bytes = data->size() - parsed.good_end;
  return scan;
}

std::vector<UploadEntry> UploadLog::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<UploadEntry> out;
  out.reserve(pending_.size());
  for (const auto& [seq, e] : pending_) {
    out.push_back(e);
    out.back().logged_data = data_.count(seq) > 0;
  }
  return out;
}

std::vector<Pointer> UploadLog::Lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Pointer> out;
  for (const auto& [seq, key] : lost_) out.push_back(key);
  return out;
}

UploadLogStats UploadLog::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return UploadLogStats{pending_.size(), records_, data_bytes_.load(), compactions_};
}

}  // namespace amberfs
