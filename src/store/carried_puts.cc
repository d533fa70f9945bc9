// CarriedPuts: see carried_puts.h for the contract.
#include "store/carried_puts.h"

#include "amberfs/log.h"

namespace amberfs {

UploadLogOptions CarriedPuts::LogOptions(const PairedOptions& options, DiskStore* fast_disk) {
  UploadLogOptions log_options = options.log;
  if (fast_disk != nullptr) log_options.sync_published = [fast_disk] { return fast_disk->SyncAll(); };
  return log_options;
}

CarriedPuts::CarriedPuts(Store& fast, DiskStore* fast_disk, UploadLog& log, const PairedOptions& options,
                         std::string name)
    : fast_(fast),
      fast_disk_(fast_disk),
      log_(log),
      enabled_(options.carry_data_in_log && fast_disk != nullptr),
      max_carried_bytes_(4 * options.log.compact_data_bytes),
      name_(std::move(name)) {}

bool CarriedPuts::Wants(size_t size) const {
  return enabled_ && size <= UploadLog::kMaxBlobData && log_.DataBytes() < max_carried_bytes_;
}

Result<uint64_t> CarriedPuts::Put(const Pointer& key, std::span<const uint8_t> data) {
  AMBER_ASSIGN_OR_RETURN(DiskStore::StagedBlob staged, fast_disk_->StageBlob(key, data));
  if (!staged.needed()) return log_.AppendBlob(key);  // already held (durable, or carried by the log)
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, log_.AppendBlobData(key, data));
  if (Status published = staged.Publish(); !published.ok()) {
    // Not acknowledged, so not owed: settle the entry. (Should that record be
    // lost in a crash, the next Open restores and uploads an unneeded blob.)
    Status settled = log_.MarkDone(seq);
    if (!settled.ok()) LOG_WARN("%s: %s", name_.c_str(), settled.ToString().c_str());
    return published;
  }
  log_.MarkPublished(seq);
  return seq;
}

Status CarriedPuts::RestoreFromLog() {
  uint64_t carried = 0;
  for (const UploadEntry& e : log_.Pending()) {
    if (!e.logged_data) continue;
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, log_.ReadData(e.seq));
    if (Pointer::Of(data) != e.key) {
      // The checksum held, so this is not a torn write; leave it to the
      // upload, which reports the blob lost if the fast copy is bad too.
      LOG_ERROR("%s: the upload log's copy of %s does not match its key", name_.c_str(), e.key.Hex().c_str());
      continue;
    }
    // Rewrite it even if it reads back fine: after a crash of this process
    // alone, the page cache may hold a good copy the disk does not (a failed
    // writeback is reported once, to the process that synced).
    AMBER_RETURN_IF_ERROR(fast_.Delete(e.key).Annotate("restore " + e.key.Hex() + " from the upload log"));
    AMBER_RETURN_IF_ERROR(fast_.Put(e.key, data).Annotate("restore " + e.key.Hex() + " from the upload log"));
    log_.MarkPublished(e.seq);
    ++carried;
  }
  if (carried == 0) return Status::OK();
  LOG_INFO("%s: rewrote %llu fast copies the upload log carried (the last close was not clean)", name_.c_str(),
           static_cast<unsigned long long>(carried));
  // The checkpoint; should it fail, the log still carries the bytes.
  if (Status s = log_.Compact(); !s.ok())
    LOG_WARN("%s: checkpoint after restoring: %s", name_.c_str(), s.ToString().c_str());
  return Status::OK();
}

void CarriedPuts::CheckpointAtClose() {
  if (log_.DataBytes() == 0) return;
  Status s = log_.Compact();
  if (!s.ok()) LOG_WARN("%s: checkpoint at close: %s", name_.c_str(), s.ToString().c_str());
}

}  // namespace amberfs
