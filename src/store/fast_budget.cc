// FastBudget: see fast_budget.h for the contract.
//
// Bookkeeping, all under mu_:
//   blobs_      every blob the fast store holds: disk bytes, holds, and
//               whether it is known to be in the slow store
//   evictable_  the blobs with no hold and no eviction in progress, least
//               recently used last
//   bytes_      the sum of blobs_' bytes
// Every call into fast_, slow_ or upload_missing_ happens with mu_ released.
#include "store/fast_budget.h"

#include "amberfs/log.h"

namespace amberfs {

FastBudget::FastBudget(Store& fast, Store& slow, const PairedOptions& options, ErrorTally& errors,
                       UploadMissing upload_missing)
    : fast_(fast), slow_(slow), options_(options), errors_(errors), upload_missing_(std::move(upload_missing)) {}

FastBudget::~FastBudget() { Stop(); }

void FastBudget::HoldForUpload(const Pointer& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ++blobs_[key].holds;
}

void FastBudget::AddFound(const BlobInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  FastBlob& fb = blobs_[info.key];
  fb.bytes = info.disk_bytes;
  bytes_ += info.disk_bytes;
  if (fb.holds == 0) MarkEvictableLocked(info.key, info.disk_bytes, /*in_slow=*/false);
}

void FastBudget::StartEvictor() {
  if (options_.fast_budget_bytes > 0) evictor_ = std::thread([this] { EvictorLoop(); });
}

void FastBudget::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    evict_cv_.notify_all();
    evicted_cv_.notify_all();
  }
  if (evictor_.joinable()) evictor_.join();
}

bool FastBudget::HoldForPut(const Pointer& key) {
  std::unique_lock<std::mutex> lock(mu_);
  // An eviction or delete of this key in progress would remove the file we
  // are about to keep.
  evicted_cv_.wait(lock, [&] {
    auto it = blobs_.find(key);
    return stop_ || it == blobs_.end() || (!it->second.evicting && it->second.deleting == 0);
  });
  auto [it, added] = blobs_.try_emplace(key);
  ++it->second.holds;
  ++it->second.puts;
  evictable_.Erase(key);
  return !added;
}

void FastBudget::SettlePut(const Pointer& key, uint64_t bytes, bool queued) {
  std::lock_guard<std::mutex> lock(mu_);
  FastBlob& fb = blobs_[key];
  if (fb.puts > 0) --fb.puts;
  AccountLocked(fb, bytes);
  if (!queued) return ReleaseHoldLocked(key, /*in_slow=*/false);
  WakeEvictorIfOverLocked();
}

void FastBudget::UploadSettled(const Pointer& key, bool in_slow) {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseHoldLocked(key, in_slow);
  WakeEvictorIfOverLocked();
}

void FastBudget::ReleaseHold(const Pointer& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseHoldLocked(key, /*in_slow=*/false);
}

void FastBudget::UploadLost(const Pointer& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(key);
  if (it != blobs_.end() && --it->second.holds <= 0 && !it->second.evicting) DropLocked(it);
}

bool FastBudget::IsHeld(const Pointer& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(key);
  return it != blobs_.end() && it->second.holds > 0;
}

void FastBudget::Touch(const Pointer& key) {
  std::lock_guard<std::mutex> lock(mu_);
  evictable_.Find(key);  // marks it used, if evictable
}

void FastBudget::KeepFetched(const Pointer& key, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  MarkEvictableLocked(key, bytes, /*in_slow=*/true);
  evictable_.Find(key);
  WakeEvictorIfOverLocked();
}

bool FastBudget::BeginDelete(const Pointer& key, bool only_if_unheld) {
  std::unique_lock<std::mutex> lock(mu_);
  // An eviction of it in progress deletes the same file: let it finish.
  evicted_cv_.wait(lock, [&] {
    auto it = blobs_.find(key);
    return stop_ || it == blobs_.end() || !it->second.evicting;
  });
  FastBlob& fb = blobs_[key];
  if (fb.puts > 0 || (only_if_unheld && fb.holds > 0)) return false;
  ++fb.deleting;
  evictable_.Erase(key);
  return true;
}

void FastBudget::EndDelete(const Pointer& key, bool deleted, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  evicted_cv_.notify_all();  // a Put of this key may be waiting
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return;
  FastBlob& fb = it->second;
  --fb.deleting;
  if (!deleted) {
    if (fb.holds == 0) MarkEvictableLocked(key, bytes, /*in_slow=*/false);
    return;
  }
  bytes_ -= fb.bytes;
  fb.bytes = 0;
  fb.in_slow = false;
  if (fb.holds == 0 && fb.deleting == 0) DropLocked(it);
}

void FastBudget::ReportStats(PairedStats* stats) const {
  std::lock_guard<std::mutex> lock(mu_);
  stats->fast_bytes = bytes_;
  stats->evictions = evictions_;
}

// ---- bookkeeping (mu_ held) ----

void FastBudget::AccountLocked(FastBlob& fb, uint64_t bytes) {
  if (fb.bytes == 0 && bytes != 0) {
    fb.bytes = bytes;
    bytes_ += bytes;
  }
}

void FastBudget::DropLocked(Blobs::iterator it) {
  evictable_.Erase(it->first);
  bytes_ -= it->second.bytes;
  blobs_.erase(it);
}

void FastBudget::MarkEvictableLocked(const Pointer& key, uint64_t bytes, bool in_slow) {
  FastBlob& fb = blobs_[key];
  AccountLocked(fb, bytes);
  fb.in_slow = fb.in_slow || in_slow;
  if (fb.holds > 0 || fb.evicting || evictable_.Contains(key)) return;
  evictable_.Insert(key, {});
}

void FastBudget::ReleaseHoldLocked(const Pointer& key, bool in_slow) {
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return;
  FastBlob& fb = it->second;
  if (fb.holds > 0) --fb.holds;
  if (fb.holds == 0) MarkEvictableLocked(key, 0, in_slow);
}

void FastBudget::WakeEvictorIfOverLocked() {
  if (options_.fast_budget_bytes > 0 && bytes_ > options_.fast_budget_bytes) evict_cv_.notify_one();
}

// ---- the evictor ----

void FastBudget::EvictorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (bytes_ <= options_.fast_budget_bytes || evictable_.empty()) {
      evict_cv_.wait(lock);
      continue;
    }
    const Pointer key = *evictable_.Oldest();
    const bool pause = blobs_.at(key).in_slow ? EvictLocked(lock, key) : CheckSlowCopyLocked(lock, key);
    if (pause) evict_cv_.wait_for(lock, options_.retry_initial * 10);
  }
}

bool FastBudget::CheckSlowCopyLocked(std::unique_lock<std::mutex>& lock, const Pointer& key) {
  // Found at Open, not known to be uploaded. Ask the slow store without
  // claiming the blob: a Put of it must never wait on the slow store.
  lock.unlock();
  auto in_slow = slow_.Contains(key);
  lock.lock();
  auto it = blobs_.find(key);
  if (it == blobs_.end() || !evictable_.Contains(key)) return false;  // used or deleted meanwhile
  FastBlob& fb = it->second;
  if (in_slow.ok() && *in_slow) {
    fb.in_slow = true;
    return false;
  }
  if (!in_slow.ok() || !upload_missing_) {
    if (!in_slow.ok()) errors_.Record(in_slow.status().Annotate("evict " + key.Hex()));
    evictable_.Find(key);  // let the others go first
    return true;
  }
  // Not in the slow store (a put that crashed before its log record, or a
  // copy lost there): upload it instead of dropping the only copy.
  evictable_.Erase(key);
  ++fb.holds;
  lock.unlock();
  Status queued = upload_missing_(key);
  lock.lock();
  if (queued.ok()) return false;
  errors_.Record(queued);
  ReleaseHoldLocked(key, /*in_slow=*/false);
  return true;
}

bool FastBudget::EvictLocked(std::unique_lock<std::mutex>& lock, const Pointer& key) {
  evictable_.Erase(key);
  blobs_.at(key).evicting = true;
  lock.unlock();
  Status error = fast_.Evict(key);
  lock.lock();
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return false;
  FastBlob& after = it->second;
  after.evicting = false;
  evicted_cv_.notify_all();  // a Put of this key may be waiting
  if (error.ok()) {
    bytes_ -= after.bytes;
    ++evictions_;
    if (after.holds == 0)
      blobs_.erase(it);
    else
      after.bytes = 0;
    return false;
  }
  errors_.Record(error.Annotate("evict " + key.Hex()));
  MarkEvictableLocked(key, 0, /*in_slow=*/false);
  return true;
}

}  // namespace amberfs
