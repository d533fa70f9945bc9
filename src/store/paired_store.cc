// PairedStore: see paired_store.h for the contract.
//
// Bookkeeping, all under mu_:
//   jobs_       every pending upload by seq (the upload log's seq)
//   schedule_   blob jobs waiting for a worker, by (next try, seq)
//   blob_seqs_  pending blob jobs, queued or in flight; a ref job runs only
//               when none has a smaller seq
//   ref_seqs_   pending ref jobs; only the first runs, one at a time
//   fast_blobs_ what the fast store holds: size, uploads pending, and the LRU
//               position of blobs that may be evicted
// Every call into fast_, slow_ or log_ happens with mu_ released.
#include "store/paired_store.h"

#include <algorithm>
#include <unordered_set>

#include "amberfs/log.h"
#include "store/slow_store_locks.h"

namespace amberfs {

namespace {

std::chrono::milliseconds Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, int failures) {
  int shift = std::clamp(failures - 1, 0, 30);
  auto wait = initial * (int64_t{1} << std::min(shift, 20));
  return std::min(wait, max);
}

}  // namespace

PairedStore::PairedStore(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow, PairedOptions options)
    : fast_(std::move(fast)),
      slow_(std::move(slow)),
      options_(options),
      inventory_(dynamic_cast<BlobInventory*>(fast_.get())),
      fast_disk_(dynamic_cast<DiskStore*>(fast_.get())) {}

Result<std::unique_ptr<PairedStore>> PairedStore::Open(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow,
                                                       const std::string& log_path, PairedOptions options) {
  if (!fast || !slow) return Status::Error(EINVAL, "paired store needs a fast and a slow store");
  if (options.upload_workers < 1 || options.upload_workers > 1024)
    return Status::Error(EINVAL, "paired store: upload_workers must be 1..1024");
  if (options.retry_initial.count() <= 0 || options.retry_max < options.retry_initial)
    return Status::Error(EINVAL, "paired store: retry delays must be positive and retry_max >= retry_initial");
  if (options.max_pending == 0) return Status::Error(EINVAL, "paired store: max_pending must be positive");
  std::unique_ptr<PairedStore> store(new PairedStore(std::move(fast), std::move(slow), options));
  AMBER_RETURN_IF_ERROR(store->Start(log_path).Annotate("open " + store->Describe()));
  return store;
}

Status PairedStore::Start(const std::string& log_path) {
  if (!log_path.empty()) {
    UploadLogOptions log_options = options_.log;
    if (fast_disk_ != nullptr) log_options.sync_published = [disk = fast_disk_] { return disk->SyncAll(); };
    AMBER_ASSIGN_OR_RETURN(log_, UploadLog::Open(log_path, log_options));
    AMBER_RETURN_IF_ERROR(RestoreLoggedBlobs());
    std::lock_guard<std::mutex> lock(mu_);
    for (UploadEntry& e : log_->Pending()) {
      Job job;
      job.seq = e.seq;
      job.kind = e.kind;
      job.key = e.key;
      job.ref_name = std::move(e.ref_name);
      job.ref_data = std::move(e.ref_data);
      if (job.kind == UploadEntry::Kind::kBlob) ++fast_blobs_[job.key].pending;
      RegisterJobLocked(std::move(job));
    }
    if (!jobs_.empty()) LOG_INFO("%s: resuming %zu uploads from the log", Describe().c_str(), jobs_.size());
    // A crash in the linger may have left our upload marker behind, which
    // would make other volumes' gc refuse until our next upload: with
    // nothing to upload, the idle path removes it. (It is not "held": an
    // upload still writes the marker first.)
    if (!options_.lock_owner.empty() && jobs_.empty()) {
      marker_maybe_left_ = true;
      idle_since_ = Clock::now();
    }
  }

  // What the fast store holds already, oldest first so the LRU ends up in order.
  std::vector<BlobInfo> held;
  if (inventory_ != nullptr) {
    AMBER_RETURN_IF_ERROR(inventory_->ListBlobInfo([&](const BlobInfo& info) {
      held.push_back(info);
      return Status::OK();
    }));
    std::sort(held.begin(), held.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.last_access < b.last_access; });
  } else {
    AMBER_RETURN_IF_ERROR(fast_->List([&](const Pointer& key) {
      BlobInfo info;
      info.key = key;
      auto data = fast_->Get(key);
      if (data.ok()) info.disk_bytes = (data->size() + 4095) / 4096 * 4096;
      held.push_back(info);
      return Status::OK();
    }));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const BlobInfo& info : held) {
      FastBlob& fb = fast_blobs_[info.key];
      fb.bytes = info.disk_bytes;
      fast_bytes_ += info.disk_bytes;
      if (fb.pending == 0) MarkEvictableLocked(info.key, info.disk_bytes, /*verified=*/false, true);
    }
  }

  if (log_)
    for (int i = 0; i < options_.upload_workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  if (options_.fast_budget_bytes > 0) threads_.emplace_back([this] { EvictorLoop(); });
  return Status::OK();
}

Status PairedStore::RestoreLoggedBlobs() {
  uint64_t carried = 0;
  for (const UploadEntry& e : log_->Pending()) {
    if (!e.logged_data) continue;
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, log_->ReadData(e.seq));
    if (Pointer::Of(data) != e.key) {
      // The checksum held, so this is not a torn write; leave it to the
      // upload, which reports the blob lost if the fast copy is bad too.
      LOG_ERROR("%s: the upload log's copy of %s does not match its key", Describe().c_str(), e.key.Hex().c_str());
      continue;
    }
    // Rewrite it even if it reads back fine: after a crash of this process
    // alone, the page cache may hold a good copy the disk does not (a failed
    // writeback is reported once, to the process that synced).
    AMBER_RETURN_IF_ERROR(fast_->Delete(e.key).Annotate("restore " + e.key.Hex() + " from the upload log"));
    AMBER_RETURN_IF_ERROR(fast_->Put(e.key, data).Annotate("restore " + e.key.Hex() + " from the upload log"));
    log_->MarkPublished(e.seq);
    ++carried;
  }
  if (carried == 0) return Status::OK();
  LOG_INFO("%s: rewrote %llu fast copies the upload log carried (the last close was not clean)", Describe().c_str(),
           static_cast<unsigned long long>(carried));
  // The checkpoint; should it fail, the log still carries the bytes.
  if (Status s = log_->Compact(); !s.ok()) LOG_WARN("%s: checkpoint after restoring: %s", Describe().c_str(), s.ToString().c_str());
  return Status::OK();
}

PairedStore::~PairedStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    work_cv_.notify_all();
    evict_cv_.notify_all();
    done_cv_.notify_all();
  }
  for (std::thread& t : threads_) t.join();
  if (log_ && log_->DataBytes() > 0) {
    // A checkpoint, so the next Open has no fast copies to check.
    Status s = log_->Compact();
    if (!s.ok()) LOG_WARN("%s: checkpoint at close: %s", Describe().c_str(), s.ToString().c_str());
  }
  if ((marker_held_ || marker_maybe_left_) && jobs_.empty()) {
    Status st = slow_->DeleteRef(UploadMarkerRef(options_.lock_owner));
    if (!st.ok()) LOG_WARN("%s: release upload marker: %s", Describe().c_str(), st.ToString().c_str());
  }
}

std::string PairedStore::Describe() const {
  return "paired(fast=" + fast_->Describe() + ", slow=" + slow_->Describe() + ")";
}

Status PairedStore::Refuse(const char* op) const {
  return Status::Error(EROFS, Describe() + " is read-only (opened without an upload log): " + op + " refused");
}

// ---- bookkeeping (mu_ held) ----

void PairedStore::RegisterJobLocked(Job job) {
  uint64_t seq = job.seq;
  if (job.kind == UploadEntry::Kind::kBlob) {
    blob_seqs_.insert(seq);
    schedule_.emplace(job.next_try, seq);
  } else {
    ref_seqs_.insert(seq);
  }
  jobs_.emplace(seq, std::move(job));
}

void PairedStore::MarkEvictableLocked(const Pointer& key, uint64_t bytes, bool verified, bool recently_used) {
  FastBlob& fb = fast_blobs_[key];
  if (fb.bytes == 0 && bytes != 0) {
    fb.bytes = bytes;
    fast_bytes_ += bytes;
  }
  fb.verified = fb.verified || verified;
  if (fb.in_lru || fb.pending > 0 || fb.evicting) return;
  fb.in_lru = true;
  fb.lru_pos = recently_used ? lru_.insert(lru_.begin(), key) : lru_.insert(lru_.end(), key);
}

void PairedStore::TouchLocked(const Pointer& key) {
  auto it = fast_blobs_.find(key);
  if (it != fast_blobs_.end() && it->second.in_lru) lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
}

void PairedStore::ReleasePendingLocked(const Pointer& key, bool verified) {
  auto it = fast_blobs_.find(key);
  if (it == fast_blobs_.end()) return;
  FastBlob& fb = it->second;
  if (fb.pending > 0) --fb.pending;
  if (fb.pending == 0) MarkEvictableLocked(key, 0, verified, true);
}

void PairedStore::RecordErrorLocked(const Status& error) {
  ++upload_errors_;
  last_error_ = error.ToString();
}

void PairedStore::FinishJobLocked(uint64_t seq) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end()) return;
  if (it->second.kind == UploadEntry::Kind::kBlob) {
    blob_seqs_.erase(seq);
  } else {
    ref_seqs_.erase(seq);
    if (it->second.in_flight) ref_in_flight_ = false;
  }
  jobs_.erase(it);
  done_cv_.notify_all();
  if (jobs_.empty()) {
    idle_since_ = Clock::now();
    work_cv_.notify_all();  // a worker releases the upload marker after the linger
  }
  if (!ref_seqs_.empty()) work_cv_.notify_one();  // the first ref may be runnable now
}

void PairedStore::RetryLaterLocked(Job& job, const Status& error) {
  RecordErrorLocked(error);
  Clock::time_point now = Clock::now();
  ++job.attempts;
  job.in_flight = false;
  job.next_try = now + Backoff(options_.retry_initial, options_.retry_max, job.attempts);
  if (job.kind == UploadEntry::Kind::kBlob) {
    schedule_.emplace(job.next_try, job.seq);
  } else {
    ref_in_flight_ = false;
  }
  // Back off the whole slow store, not just this job, so a store that is down
  // is not hammered by every pending upload in turn.
  ++consecutive_failures_;
  gate_ = now + Backoff(options_.retry_initial, options_.retry_max, consecutive_failures_);
  // Warn on the first failure and then now and then: a store that is down for
  // an hour must not flood the log, and Stats carries the rest.
  LogLevel level = job.attempts == 1 || job.attempts % 100 == 0 ? LogLevel::kWarn : LogLevel::kDebug;
  AMBER_LOG(level, "%s: upload of %s failed (attempt %d, retrying): %s", Describe().c_str(),
            job.kind == UploadEntry::Kind::kBlob ? job.key.Hex().c_str() : job.ref_name.c_str(), job.attempts,
            error.ToString().c_str());
  work_cv_.notify_all();  // sleepers recompute their wake-up time
}

PairedStore::Job* PairedStore::PickJobLocked(Clock::time_point now, Clock::time_point* wake) {
  if (now < gate_) {
    *wake = gate_;
    return nullptr;
  }
  if (!ref_in_flight_ && !ref_seqs_.empty()) {
    Job& ref = jobs_.at(*ref_seqs_.begin());
    bool blobs_before = !blob_seqs_.empty() && *blob_seqs_.begin() < ref.seq;
    if (!blobs_before) {
      if (ref.next_try <= now) {
        ref_in_flight_ = true;
        return &ref;
      }
      *wake = std::min(*wake, ref.next_try);
    }
  }
  if (!schedule_.empty()) {
    auto first = schedule_.begin();
    if (first->first <= now) {
      Job& job = jobs_.at(first->second);
      schedule_.erase(first);
      return &job;
    }
    *wake = std::min(*wake, first->first);
  }
  return nullptr;
}

// ---- workers ----

bool PairedStore::TendMarkerLocked(std::unique_lock<std::mutex>& lock) {
  if (options_.lock_owner.empty()) return false;
  if (marker_busy_) {  // another worker is writing or deleting it
    work_cv_.wait(lock);
    return true;
  }
  const Clock::time_point now = Clock::now();
  const bool acquire = !marker_held_ && (!jobs_.empty() || marker_pins_ > 0);
  const bool release = (marker_held_ || marker_maybe_left_) && jobs_.empty() && marker_pins_ == 0;
  if (!acquire && !release) return false;
  if (acquire && now < marker_retry_at_) {
    work_cv_.wait_until(lock, marker_retry_at_);
    return true;
  }
  if (release && now < idle_since_ + options_.lock_linger) {
    work_cv_.wait_until(lock, idle_since_ + options_.lock_linger);
    return true;
  }
  marker_busy_ = true;
  lock.unlock();
  Status st = acquire ? AcquireUploadMarker(*slow_, options_.lock_owner)
                      : slow_->DeleteRef(UploadMarkerRef(options_.lock_owner));
  lock.lock();
  marker_busy_ = false;
  if (acquire && st.ok()) {
    marker_held_ = true;
    marker_maybe_left_ = false;
    marker_failures_ = 0;
  } else if (acquire) {
    marker_maybe_left_ = true;  // it may have been written before the check failed
    RecordErrorLocked(st.Annotate("before uploading to " + slow_->Describe()));
    marker_retry_at_ = Clock::now() + Backoff(options_.retry_initial, options_.retry_max, ++marker_failures_);
  } else {
    // A marker left behind only makes other volumes' gc wait; the next busy
    // period rewrites it anyway.
    marker_held_ = false;
    marker_maybe_left_ = !st.ok();  // tried again when next idle, after a backoff
    if (!st.ok()) {
      LOG_WARN("%s: release upload marker: %s", Describe().c_str(), st.ToString().c_str());
      idle_since_ = Clock::now() + Backoff(options_.retry_initial, options_.retry_max, ++marker_failures_);
    } else {
      marker_failures_ = 0;
    }
  }
  work_cv_.notify_all();
  return true;
}

void PairedStore::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (TendMarkerLocked(lock)) continue;
    Clock::time_point wake = Clock::time_point::max();
    Job* picked = PickJobLocked(Clock::now(), &wake);
    if (picked == nullptr) {
      if (wake == Clock::time_point::max())
        work_cv_.wait(lock);
      else
        work_cv_.wait_until(lock, wake);
      continue;
    }
    picked->in_flight = true;
    Job job = *picked;  // the map entry may move on; work from a copy
    lock.unlock();
    if (job.kind == UploadEntry::Kind::kBlob)
      RunBlobJob(job);
    else
      RunRefJob(job);
    lock.lock();
  }
}

void PairedStore::CompleteJob(const Job& job, bool uploaded) {
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled = jobs_.at(job.seq).cancelled;
  }
  if (uploaded && cancelled) {
    // Deleted while in flight: the delete went first, so take our copy back out.
    Status s = job.kind == UploadEntry::Kind::kBlob ? slow_->Delete(job.key) : slow_->DeleteRef(job.ref_name);
    if (!s.ok()) LOG_WARN("%s: removing a cancelled upload: %s", Describe().c_str(), s.ToString().c_str());
  }
  Status logged = log_->MarkDone(job.seq);
  std::lock_guard<std::mutex> lock(mu_);
  if (!logged.ok()) RecordErrorLocked(logged);  // only costs a repeated upload after a restart
  if (uploaded) {
    ++uploaded_;
    consecutive_failures_ = 0;
    gate_ = {};
  }
  if (job.kind == UploadEntry::Kind::kBlob) ReleasePendingLocked(job.key, /*verified=*/uploaded && !cancelled);
  FinishJobLocked(job.seq);
  if (options_.fast_budget_bytes > 0 && fast_bytes_ > options_.fast_budget_bytes) evict_cv_.notify_one();
}

void PairedStore::RunBlobJob(const Job& job) {
  Status error;
  auto data = fast_->Get(job.key);
  if (data.ok()) {
    error = slow_->Put(job.key, *data);
    if (error.ok()) return CompleteJob(job, true);
  } else if (data.status().code() == ENOENT || data.status().code() == EBADMSG) {
    // The only copy is gone or bad. An earlier upload may have made it already.
    auto in_slow = slow_->Contains(job.key);
    if (in_slow.ok() && *in_slow) return CompleteJob(job, true);
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled = jobs_.at(job.seq).cancelled;
    }
    if (cancelled) return CompleteJob(job, false);  // Delete removed it: not lost, just not needed
    if (in_slow.ok()) {
      Status lost = Status::Error(EIO, "blob " + job.key.Hex() + " queued for upload is unreadable in " +
                                           fast_->Describe() + " (" + data.status().message() +
                                           "); upload abandoned, listed for fsck");
      LOG_ERROR("%s: %s", Describe().c_str(), lost.message().c_str());
      Status logged = log_->MarkLost(job.seq);
      std::lock_guard<std::mutex> lock(mu_);
      RecordErrorLocked(lost);
      if (!logged.ok()) RecordErrorLocked(logged);
      ++lost_;
      ++lost_unreported_;
      auto it = fast_blobs_.find(job.key);
      if (it != fast_blobs_.end() && --it->second.pending <= 0 && !it->second.evicting) {
        if (it->second.in_lru) lru_.erase(it->second.lru_pos);
        fast_bytes_ -= it->second.bytes;
        fast_blobs_.erase(it);
      }
      FinishJobLocked(job.seq);
      return;
    }
    error = in_slow.status();
  } else {
    error = data.status();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Job& live = jobs_.at(job.seq);
    if (!live.cancelled) return RetryLaterLocked(live, error.Annotate("upload to " + slow_->Describe()));
  }
  CompleteJob(job, false);  // deleted meanwhile: nothing left to upload
}

void PairedStore::RunRefJob(const Job& job) {
  Status s = slow_->PutRef(job.ref_name, job.ref_data);
  if (s.ok()) return CompleteJob(job, true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Job& live = jobs_.at(job.seq);
    if (!live.cancelled) return RetryLaterLocked(live, s.Annotate("upload ref to " + slow_->Describe()));
  }
  CompleteJob(job, false);
}

void PairedStore::EvictorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto pause = [&] { evict_cv_.wait_for(lock, options_.retry_initial * 10); };
  while (!stop_) {
    if (fast_bytes_ <= options_.fast_budget_bytes || lru_.empty()) {
      evict_cv_.wait(lock);
      continue;
    }
    Pointer key = lru_.back();
    if (!fast_blobs_.at(key).verified) {
      // Found at Open, not known to be uploaded. Ask the slow store without
      // claiming the blob: a Put of it must never wait on the slow store.
      lock.unlock();
      auto in_slow = slow_->Contains(key);
      lock.lock();
      auto it = fast_blobs_.find(key);
      if (it == fast_blobs_.end() || !it->second.in_lru) continue;  // used or deleted meanwhile
      FastBlob& fb = it->second;
      if (in_slow.ok() && *in_slow) {
        fb.verified = true;
        continue;
      }
      if (!in_slow.ok() || !log_) {
        if (!in_slow.ok()) RecordErrorLocked(in_slow.status().Annotate("evict " + key.Hex()));
        lru_.splice(lru_.begin(), lru_, fb.lru_pos);  // let the others go first
        pause();
        continue;
      }
      // Not in the slow store (a put that crashed before its log record, or a
      // copy lost there): upload it instead of dropping the only copy.
      lru_.erase(fb.lru_pos);
      fb.in_lru = false;
      ++fb.pending;
      lock.unlock();
      auto seq = log_->AppendBlob(key);
      lock.lock();
      if (!seq.ok()) {
        RecordErrorLocked(seq.status());
        ReleasePendingLocked(key, false);
        pause();
        continue;
      }
      LOG_WARN("%s: %s is in the fast store but not the slow one; uploading it", Describe().c_str(),
               key.Hex().c_str());
      Job job;
      job.seq = *seq;
      job.key = key;
      RegisterJobLocked(std::move(job));
      work_cv_.notify_one();
      continue;
    }

    lru_.pop_back();
    FastBlob& fb = fast_blobs_.at(key);
    fb.in_lru = false;
    fb.evicting = true;
    lock.unlock();
    Status error = fast_->Delete(key);
    lock.lock();
    auto it = fast_blobs_.find(key);
    if (it == fast_blobs_.end()) continue;
    FastBlob& after = it->second;
    after.evicting = false;
    done_cv_.notify_all();  // a Put of this key may be waiting
    if (error.ok()) {
      fast_bytes_ -= after.bytes;
      ++evictions_;
      if (after.pending == 0)
        fast_blobs_.erase(it);
      else
        after.bytes = 0;
      continue;
    }
    RecordErrorLocked(error.Annotate("evict " + key.Hex()));
    MarkEvictableLocked(key, 0, false, true);
    pause();
  }
}

// ---- Store ----

uint64_t PairedStore::SizeOf(const Pointer& key, size_t data_size) {
  if (inventory_ != nullptr) {
    auto bytes = inventory_->BlobDiskSize(key);
    if (bytes.ok()) return *bytes;
  }
  return (data_size + 4095) / 4096 * 4096;
}

Status PairedStore::HoldForPut(const Pointer& key, bool staged) {
  if (key.IsNull()) return Status::Error(EINVAL, "put of the null pointer into " + Describe());
  std::unique_lock<std::mutex> lock(mu_);
  // A batch's blobs are queued only at its Commit, so counting them here
  // would make a big enough batch refuse itself; the bound is on the queue.
  uint64_t pending = blob_seqs_.size() + (staged ? 0 : static_cast<uint64_t>(in_puts_));
  if (pending >= options_.max_pending)
    return Status::Error(EAGAIN, "put refused: " + std::to_string(pending) + " uploads pending to " +
                                     slow_->Describe() + " (bound " + std::to_string(options_.max_pending) +
                                     "); last upload error: " + (last_error_.empty() ? "none" : last_error_));
  // An eviction of this key in progress would delete the file we are about to keep.
  done_cv_.wait(lock, [&] {
    auto it = fast_blobs_.find(key);
    return stop_ || it == fast_blobs_.end() || !it->second.evicting;
  });
  FastBlob& fb = fast_blobs_[key];
  ++fb.pending;
  if (fb.in_lru) {
    lru_.erase(fb.lru_pos);
    fb.in_lru = false;
  }
  ++in_puts_;
  return Status::OK();
}

void PairedStore::SettlePutLocked(const Pointer& key, uint64_t bytes, const Result<uint64_t>& seq) {
  --in_puts_;
  FastBlob& fb = fast_blobs_[key];
  if (fb.bytes == 0 && bytes != 0) {
    fb.bytes = bytes;
    fast_bytes_ += bytes;
  }
  if (!seq.ok()) return ReleasePendingLocked(key, false);
  Job job;
  job.seq = *seq;
  job.key = key;
  RegisterJobLocked(std::move(job));  // inherits this Put's hold on the key
}

Result<uint64_t> PairedStore::PutCarried(const Pointer& key, std::span<const uint8_t> data) {
  AMBER_ASSIGN_OR_RETURN(DiskStore::StagedBlob staged, fast_disk_->StageBlob(key, data));
  if (!staged.needed()) return log_->AppendBlob(key);  // already held (durable, or carried by the log)
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, log_->AppendBlobData(key, data));
  if (Status published = staged.Publish(); !published.ok()) {
    // Not acknowledged, so not owed: settle the entry. (Should that record be
    // lost in a crash, the next Open restores and uploads an unneeded blob.)
    Status settled = log_->MarkDone(seq);
    if (!settled.ok()) LOG_WARN("%s: %s", Describe().c_str(), settled.ToString().c_str());
    return published;
  }
  log_->MarkPublished(seq);
  return seq;
}

Status PairedStore::Put(const Pointer& key, std::span<const uint8_t> data) {
  if (!log_) return Refuse("put");
  AMBER_RETURN_IF_ERROR(HoldForPut(key));
  auto put_and_queue = [&]() -> Result<uint64_t> {
    // Past a few checkpoints' worth of carried bytes (the fast store cannot
    // be synced, or uploads lag behind unsynced copies), fall back to the
    // fast store's own durable Put rather than grow the log.
    const bool carry = options_.carry_data_in_log && fast_disk_ != nullptr && data.size() <= UploadLog::kMaxBlobData &&
                       log_->DataBytes() < 4 * options_.log.compact_data_bytes;
    if (carry) return PutCarried(key, data);
    AMBER_RETURN_IF_ERROR(fast_->Put(key, data));
    return log_->AppendBlob(key);
  };
  Result<uint64_t> seq = put_and_queue();
  // A failed queueing may leave the fast copy in place (the fast store's Put
  // succeeded, then the log append failed): its bytes still count.
  Result<bool> held = seq.ok() ? Result<bool>(true) : fast_->Contains(key);
  uint64_t bytes = held.ok() && *held ? SizeOf(key, data.size()) : 0;

  std::lock_guard<std::mutex> lock(mu_);
  SettlePutLocked(key, bytes, seq);
  if (!seq.ok()) return seq.status().Annotate("put into " + Describe());
  work_cv_.notify_one();
  if (options_.fast_budget_bytes > 0 && fast_bytes_ > options_.fast_budget_bytes) evict_cv_.notify_one();
  return Status::OK();
}

// A batch of Puts: the blobs go into a batch of the fast store, and at Commit
// that batch is made durable, then one upload-log append queues them all.
// Each staged key holds its FastBlob (never evicted) from Put until Commit
// registers its upload job, or until the batch is dropped.
class PairedStore::Batch : public PutBatch {
 public:
  // A batch pins the upload marker (writes it if need be, and keeps it)
  // until it is destroyed: the caller queues what refers to the blobs (a
  // snapshot's ref) before that, and the blobs must not look unreachable to
  // another volume's gc in between, even if their uploads are done.
  explicit Batch(PairedStore* store) : store_(store), fast_(store->fast_->NewPutBatch()) {
    std::lock_guard<std::mutex> lock(store_->mu_);
    ++store_->marker_pins_;
    store_->work_cv_.notify_all();
  }
  ~Batch() override {
    std::lock_guard<std::mutex> lock(store_->mu_);
    for (const Staged& s : staged_) store_->SettlePutLocked(s.key, 0, Status::Error(ECANCELED, "batch dropped"));
    if (--store_->marker_pins_ == 0) {
      store_->idle_since_ = Clock::now();
      store_->work_cv_.notify_all();
    }
  }

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    AMBER_RETURN_IF_ERROR(store_->HoldForPut(key, /*staged=*/true));
    Status put = fast_->Put(key, data);
    std::lock_guard<std::mutex> lock(store_->mu_);
    if (!put.ok()) {
      store_->SettlePutLocked(key, 0, put);
      return put.Annotate("put into " + store_->Describe());
    }
    staged_.push_back(Staged{key, data.size()});
    return Status::OK();
  }

  Status Commit() override {
    std::vector<Staged> staged;
    {
      std::lock_guard<std::mutex> lock(store_->mu_);
      staged.swap(staged_);
    }
    Status done = fast_->Commit();
    std::vector<Pointer> keys;
    for (const Staged& s : staged) keys.push_back(s.key);
    Result<std::vector<uint64_t>> seqs =
        done.ok() ? store_->log_->AppendBlobs(keys) : Result<std::vector<uint64_t>>(done);
    std::vector<uint64_t> bytes;
    for (const Staged& s : staged) bytes.push_back(seqs.ok() ? store_->SizeOf(s.key, s.size) : 0);
    std::lock_guard<std::mutex> lock(store_->mu_);
    for (size_t i = 0; i < staged.size(); ++i)
      store_->SettlePutLocked(staged[i].key, bytes[i],
                              seqs.ok() ? Result<uint64_t>((*seqs)[i]) : Result<uint64_t>(seqs.status()));
    if (!seqs.ok()) return seqs.status().Annotate("commit a batch of " + std::to_string(staged.size()) +
                                                  " puts into " + store_->Describe());
    store_->work_cv_.notify_all();
    if (store_->options_.fast_budget_bytes > 0 && store_->fast_bytes_ > store_->options_.fast_budget_bytes)
      store_->evict_cv_.notify_one();
    return Status::OK();
  }

 private:
  struct Staged {
    Pointer key;
    size_t size;
  };
  PairedStore* const store_;
  const std::unique_ptr<PutBatch> fast_;
  std::vector<Staged> staged_;  // guarded by store_->mu_
};

std::unique_ptr<PutBatch> PairedStore::NewPutBatch() {
  if (!log_) return NewFailedPutBatch(Refuse("put"));
  return std::make_unique<Batch>(this);
}

Result<std::vector<uint8_t>> PairedStore::Get(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "get of the null pointer from " + Describe());
  auto local = fast_->Get(key);
  if (local.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(key);
    return local;
  }
  bool corrupt = local.status().code() == EBADMSG;
  if (corrupt) LOG_WARN("%s; fetching it from %s", local.status().message().c_str(), slow_->Describe().c_str());
  else if (local.status().code() != ENOENT)
    LOG_WARN("%s; trying %s", local.status().ToString().c_str(), slow_->Describe().c_str());
  auto remote = slow_->Get(key);
  if (remote.ok() && Pointer::Of(*remote) != key)  // never trust a store to have checked
    remote = Status::Error(EBADMSG, "blob " + key.Hex() + " in " + slow_->Describe() + " is corrupt (SHA-256 mismatch)");
  if (!remote.ok()) {
    if (corrupt) return remote.status().Annotate(local.status().message() + ", and from the slow store");
    return remote.status();
  }
  // Keep it for next time; a failure here costs only speed.
  Status kept = corrupt ? fast_->Delete(key) : Status::OK();
  if (kept.ok()) kept = fast_->Put(key, *remote);
  if (!kept.ok()) {
    LOG_WARN("%s: keeping %s in the fast store: %s", Describe().c_str(), key.Hex().c_str(), kept.ToString().c_str());
    return remote;
  }
  uint64_t bytes = SizeOf(key, remote->size());
  std::lock_guard<std::mutex> lock(mu_);
  MarkEvictableLocked(key, bytes, /*verified=*/true, true);
  TouchLocked(key);
  if (options_.fast_budget_bytes > 0 && fast_bytes_ > options_.fast_budget_bytes) evict_cv_.notify_one();
  return remote;
}

Result<bool> PairedStore::Contains(const Pointer& key) {
  auto local = fast_->Contains(key);
  if (local.ok() && *local) return true;
  return slow_->Contains(key);
}

void PairedStore::CancelJobsLocked(const Pointer* key, std::string_view ref_name, std::vector<uint64_t>* settled) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& job = it->second;
    bool match = key != nullptr ? job.kind == UploadEntry::Kind::kBlob && job.key == *key
                                : job.kind == UploadEntry::Kind::kRef && job.ref_name == ref_name;
    ++it;
    if (!match) continue;
    if (job.in_flight) {
      job.cancelled = true;
      continue;
    }
    if (job.kind == UploadEntry::Kind::kBlob) {
      schedule_.erase({job.next_try, job.seq});
      ReleasePendingLocked(job.key, false);
    }
    settled->push_back(job.seq);
    FinishJobLocked(job.seq);
  }
}

Status PairedStore::Delete(const Pointer& key) {
  if (!log_) return Refuse("delete");
  if (key.IsNull()) return Status::Error(EINVAL, "delete of the null pointer from " + Describe());
  AMBER_RETURN_IF_ERROR(slow_->Delete(key).Annotate("delete from " + Describe()));
  std::vector<uint64_t> settled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fast_blobs_.find(key);
    if (it != fast_blobs_.end() && it->second.pending > 0) CancelJobsLocked(&key, "", &settled);
  }
  for (uint64_t seq : settled) {
    Status s = log_->MarkDone(seq);
    if (!s.ok()) LOG_WARN("%s: %s", Describe().c_str(), s.ToString().c_str());
  }
  AMBER_RETURN_IF_ERROR(fast_->Delete(key).Annotate("delete from " + Describe()));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fast_blobs_.find(key);
  if (it != fast_blobs_.end() && it->second.pending == 0 && !it->second.evicting) {
    if (it->second.in_lru) lru_.erase(it->second.lru_pos);
    fast_bytes_ -= it->second.bytes;
    fast_blobs_.erase(it);
  }
  return Status::OK();
}

Status PairedStore::List(const std::function<Status(const Pointer&)>& fn) {
  std::unordered_set<Pointer> seen;
  AMBER_RETURN_IF_ERROR(slow_->List([&](const Pointer& key) {
    seen.insert(key);
    return fn(key);
  }));
  return fast_->List([&](const Pointer& key) { return seen.count(key) ? Status::OK() : fn(key); });
}

Result<uint64_t> PairedStore::QueueRef(std::string_view name, std::span<const uint8_t> data) {
  if (!log_) return Refuse("put ref");
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  AMBER_RETURN_IF_ERROR(fast_->PutRef(name, data));
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, log_->AppendRef(name, data));
  Job job;
  job.seq = seq;
  job.kind = UploadEntry::Kind::kRef;
  job.key = Pointer::Of(data);
  job.ref_name = std::string(name);
  job.ref_data.assign(data.begin(), data.end());
  std::lock_guard<std::mutex> lock(mu_);
  RegisterJobLocked(std::move(job));
  work_cv_.notify_one();
  return seq;
}

Status PairedStore::PutRef(std::string_view name, std::span<const uint8_t> data) {
  return QueueRef(name, data).status();
}

Status PairedStore::PutRefSync(std::string_view name, std::span<const uint8_t> data,
                               std::chrono::milliseconds timeout) {
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, QueueRef(name, data));
  return WaitFor(seq, /*exact=*/true, timeout);
}

Result<std::vector<uint8_t>> PairedStore::GetRef(std::string_view name) {
  auto local = fast_->GetRef(name);
  if (local.ok() || local.status().code() != ENOENT) return local;
  return slow_->GetRef(name);
}

Status PairedStore::DeleteRef(std::string_view name) {
  if (!log_) return Refuse("delete ref");
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  AMBER_RETURN_IF_ERROR(slow_->DeleteRef(name));
  std::vector<uint64_t> settled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CancelJobsLocked(nullptr, name, &settled);
  }
  for (uint64_t seq : settled) {
    Status s = log_->MarkDone(seq);
    if (!s.ok()) LOG_WARN("%s: %s", Describe().c_str(), s.ToString().c_str());
  }
  return fast_->DeleteRef(name);
}

Result<std::vector<std::string>> PairedStore::ListRefs(std::string_view prefix) {
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> names, slow_->ListRefs(prefix));
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> local, fast_->ListRefs(prefix));
  names.insert(names.end(), local.begin(), local.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Status PairedStore::WaitFor(uint64_t target, bool exact, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [&] {
    if (stop_) return true;
    if (exact) return jobs_.count(target) == 0;
    return jobs_.empty() || jobs_.begin()->first > target;
  };
  if (timeout == std::chrono::milliseconds::max()) {
    done_cv_.wait(lock, done);
  } else if (!done_cv_.wait_for(lock, timeout, done)) {
    return Status::Error(ETIMEDOUT, "timed out waiting for uploads to " + slow_->Describe() + ": " +
                                        std::to_string(jobs_.size()) + " pending; last upload error: " +
                                        (last_error_.empty() ? "none" : last_error_));
  }
  if (stop_) return Status::Error(ESHUTDOWN, Describe() + " is closing");
  if (lost_unreported_ > 0) {
    uint64_t lost = std::exchange(lost_unreported_, 0);
    return Status::Error(EIO, std::to_string(lost) + " blob uploads to " + slow_->Describe() +
                                  " were abandoned because the fast copy was missing or corrupt (run fsck); "
                                  "last error: " + last_error_);
  }
  return Status::OK();
}

Status PairedStore::Drain(std::chrono::milliseconds timeout) {
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_.empty() && lost_unreported_ == 0) return Status::OK();
    target = jobs_.empty() ? 0 : jobs_.rbegin()->first;
  }
  return WaitFor(target, /*exact=*/false, timeout);
}

PairedStats PairedStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PairedStats s;
  s.pending = jobs_.size();
  s.uploaded = uploaded_;
  s.upload_errors = upload_errors_;
  s.lost = lost_;
  s.last_error = last_error_;
  s.fast_bytes = fast_bytes_;
  s.evictions = evictions_;
  return s;
}

std::vector<Pointer> PairedStore::LostBlobs() const {
  if (!log_) return {};
  return log_->Lost();
}

}  // namespace amberfs
