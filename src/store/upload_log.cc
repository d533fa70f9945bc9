// UploadLog: see upload_log.h for the file format and the crash protocol.
#include "store/upload_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "store/store.h"
#include "store/upload_log_replay.h"

namespace amberfs {

namespace {

constexpr size_t kRec = UploadLog::kRecordSize;

// Reads a payload the file is known to hold in full.
Result<std::vector<uint8_t>> ReadPayload(int fd, uint64_t offset, uint32_t length, const std::string& path) {
  std::vector<uint8_t> out(length);
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd, out.data(), out.size(), static_cast<off_t>(offset), path));
  if (got != out.size()) return Status::Error(EIO, "read " + path + ": the file ends inside a record");
  return out;
}

Status NotAnUploadLog(const std::string& path) {
  return Status::Error(EBADMSG, path + " is not an amberfs upload log (bad magic at offset 0)");
}

}  // namespace

Result<std::unique_ptr<UploadLog>> UploadLog::Open(const std::string& path, UploadLogOptions options) {
  std::unique_ptr<UploadLog> log(new UploadLog(path, options));
  ::unlink((path + ".compact").c_str());  // an interrupted compaction; the log itself is intact
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open upload log " + path);
  // It names every blob and ref not yet uploaded, with their data: private,
  // like the volume directory (an older version made it 0644).
  if (::fchmod(fd.get(), 0600) != 0) return Status::FromErrno(errno, "chmod 0600 upload log " + path);
  AMBER_RETURN_IF_ERROR(FsyncParentDir(path).Annotate("open upload log " + path));
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
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, ReadWholeFd(fd, kNoSizeLimit, path_));
  if (!LooksLikeUploadLog(data)) return NotAnUploadLog(path_);

  UploadLogReplay parsed = ReplayUploadLog(data);
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
    AMBER_RETURN_IF_ERROR(SyncFileData(fd, path_ + " after truncating its torn tail"));
  }
  return Status::OK();
}

Status UploadLog::AppendLocked(const std::vector<uint8_t>& bytes, uint64_t records) {
  if (!failed_.ok()) return failed_;
  if (!fd_) return Status::Error(ESHUTDOWN, "upload log " + path_ + " is closed");
  Status s = PwriteAll(fd_->get(), bytes.data(), bytes.size(), static_cast<off_t>(end_), path_);
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
    if (d.published_gen == 0) kept += PaddedPayloadSize(d.length);
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
  Status synced = SyncFileData(fd->get(), path_);
  if (synced.ok()) return synced;
  Status s = Status::Error(EIO, "upload log " + path_ + ": fdatasync failed (" + std::strerror(synced.code()) +
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
    AMBER_RETURN_IF_ERROR(AppendLocked(EncodeUploadRecord(UploadRecordType::kBlobQueued, seq, key), 1));
    ++next_seq_;
    UploadEntry& e = pending_[seq];
    e.seq = seq;
    e.key = key;
  }
  AMBER_RETURN_IF_ERROR(Sync());
  return seq;
}

Result<std::vector<uint64_t>> UploadLog::AppendBlobs(std::span<const Pointer> keys) {
  return AppendKeyed(UploadRecordType::kBlobQueued, keys);
}

Result<std::vector<uint64_t>> UploadLog::AppendPacks(std::span<const Pointer> names) {
  return AppendKeyed(UploadRecordType::kPackQueued, names);
}

Result<std::vector<uint64_t>> UploadLog::AppendDeletes(std::span<const Pointer> keys) {
  return AppendKeyed(UploadRecordType::kBlobDeleting, keys);
}

Result<std::vector<uint64_t>> UploadLog::AppendKeyed(UploadRecordType type, std::span<const Pointer> keys) {
  for (const Pointer& key : keys)
    if (key.IsNull()) return Status::Error(EINVAL, "upload log: the null pointer is never uploaded");
  std::vector<uint64_t> seqs;
  if (keys.empty()) return seqs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t> bytes;
    bytes.reserve(keys.size() * kRecordSize);
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<uint8_t> record = EncodeUploadRecord(type, next_seq_ + i, keys[i]);
      bytes.insert(bytes.end(), record.begin(), record.end());
    }
    AMBER_RETURN_IF_ERROR(AppendLocked(bytes, keys.size()));
    for (const Pointer& key : keys) {
      UploadEntry& e = pending_[next_seq_];
      e.seq = next_seq_;
      e.key = key;
      if (type == UploadRecordType::kBlobDeleting) e.kind = UploadEntry::Kind::kDelete;
      if (type == UploadRecordType::kPackQueued) e.kind = UploadEntry::Kind::kPack;
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
    AMBER_RETURN_IF_ERROR(AppendLocked(EncodeUploadRecord(UploadRecordType::kBlobData, seq, key, data), 1));
    ++next_seq_;
    UploadEntry& e = pending_[seq];
    e.seq = seq;
    e.key = key;
    data_[seq] = DataRecord{offset, static_cast<uint32_t>(data.size())};
    data_bytes_ += PaddedPayloadSize(data.size());
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
    AMBER_RETURN_IF_ERROR(AppendLocked(EncodeQueuedRecord(e), 1));
    ++next_seq_;
    pending_[e.seq] = e;
  }
  AMBER_RETURN_IF_ERROR(Sync());
  return e.seq;
}

Status UploadLog::Settle(uint64_t seq, UploadRecordType type) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return Status::Error(ENOENT, "upload log: no pending entry " + std::to_string(seq));
  bool is_ref = it->second.kind == UploadEntry::Kind::kRef;
  if (type == UploadRecordType::kBlobDone && is_ref) type = UploadRecordType::kRefDone;
  if (type == UploadRecordType::kBlobLost && it->second.kind != UploadEntry::Kind::kBlob &&
      it->second.kind != UploadEntry::Kind::kPack)
    return Status::Error(EINVAL, "upload log: only a blob or pack upload can be lost");
  Pointer key = type == UploadRecordType::kBlobLost ? it->second.key : Pointer::Null();
  AMBER_RETURN_IF_ERROR(AppendLocked(EncodeUploadRecord(type, seq, key), 1));
  pending_.erase(it);
  data_.erase(seq);  // settled: the slow copy backs the blob from now on
  if (type == UploadRecordType::kBlobLost) lost_[seq] = key;
  return Status::OK();
}

Status UploadLog::MarkDone(uint64_t seq) {
  AMBER_RETURN_IF_ERROR(Settle(seq, UploadRecordType::kBlobDone));
  CompactIfWanted();
  return Status::OK();
}

Status UploadLog::MarkLost(uint64_t seq) {
  AMBER_RETURN_IF_ERROR(Settle(seq, UploadRecordType::kBlobLost));
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
  std::vector<uint8_t> bytes;
  std::map<uint64_t, DataRecord> kept;
  uint64_t kept_bytes = 0;
  for (const auto& [seq, e] : pending_) {
    auto d = data_.find(seq);
    if (d == data_.end() || (d->second.published_gen != 0 && d->second.published_gen <= synced_gen_)) {
      std::vector<uint8_t> rec = EncodeQueuedRecord(e);
      bytes.insert(bytes.end(), rec.begin(), rec.end());
      continue;
    }
    Result<std::vector<uint8_t>> payload = ReadPayload(fd_->get(), d->second.offset + kRec, d->second.length, path_);
    if (!payload.ok()) return give_up(payload.status().Annotate("compact upload log"));
    DataRecord moved = d->second;
    moved.offset = bytes.size();
    kept[seq] = moved;
    kept_bytes += PaddedPayloadSize(payload->size());
    std::vector<uint8_t> rec = EncodeUploadRecord(UploadRecordType::kBlobData, seq, e.key, *payload);
    bytes.insert(bytes.end(), rec.begin(), rec.end());
  }
  for (const auto& [seq, key] : lost_) {
    std::vector<uint8_t> rec = EncodeUploadRecord(UploadRecordType::kBlobLost, seq, key);
    bytes.insert(bytes.end(), rec.begin(), rec.end());
  }
  // A leftover of an earlier attempt is replaced: the name is ours alone.
  const std::string temp = path_ + ".compact";
  Result<UniqueFd> fd = CreateSyncedFile(temp, bytes, /*replace_leftover=*/true);
  Status s = fd.ok() ? RenameFile(temp, path_) : fd.status();
  if (!s.ok()) {
    ::unlink(temp.c_str());
    return give_up(s.Annotate("compact upload log"));  // the old log is intact and still in use
  }
  // From here the new file is the log; if its directory entry cannot be made
  // durable we cannot tell which file a crash would leave, so stop appending.
  s = FsyncParentDir(path_);
  if (!s.ok()) failed_ = s.Annotate("upload log " + path_ + " after compaction");
  fd_ = std::make_shared<UniqueFd>(std::move(*fd));
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
  Result<std::vector<uint8_t>> data = ReadWholeFd(fd.get(), kNoSizeLimit, path);
  if (!data.ok()) return data.status().Annotate("upload log " + path);
  if (!LooksLikeUploadLog(*data)) return NotAnUploadLog(path);
  UploadLogReplay parsed = ReplayUploadLog(*data, /*keep_data=*/true);
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
