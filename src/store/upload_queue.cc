// UploadQueue: see upload_queue.h for the contract.
//
// Bookkeeping, all under mu_:
//   jobs_       every pending upload by seq (the upload log's seq)
//   schedule_   blob jobs waiting for a worker, by (next try, seq)
//   blob_seqs_  pending blob and pack jobs, queued or in flight; a ref job
//               runs only when none has a smaller seq
//   pending_blobs_  the blobs of those jobs (a pack counts its blobs)
//   ref_seqs_   pending ref jobs; only the first runs, one at a time
//   keys_in_flight_  keys with a blob job in flight (one job per key at once)
//   health_     the slow store up or down, and the gate of an outage
// Every call into fast_, slow_, log_ or a hook happens with mu_ released.
#include "store/upload_queue.h"

#include <algorithm>

#include "amberfs/log.h"
#include "base/thread_priority.h"
#include "store/pack_objects.h"
#include "store/slow_store_locks.h"
#include "store/store_naming.h"

namespace amberfs {

UploadQueue::UploadQueue(Store& fast, Store& slow, UploadLog* log, const PairedOptions& options, ErrorTally& errors,
                         Hooks hooks, std::string name)
    : fast_(fast),
      slow_(slow),
      log_(log),
      options_(options),
      errors_(errors),
      hooks_(std::move(hooks)),
      name_(std::move(name)),
      health_(slow.Describe(), options.retry_initial, std::min(options.retry_max, options.probe_max)) {}

UploadQueue::~UploadQueue() { Stop(); }

size_t UploadQueue::Resume(std::vector<UploadEntry> pending) {
  std::lock_guard<std::mutex> lock(mu_);
  for (UploadEntry& e : pending) {
    Job job;
    job.seq = e.seq;
    job.kind = e.kind;
    job.key = e.key;
    job.ref_name = std::move(e.ref_name);
    job.ref_data = std::move(e.ref_data);
    job.blobs = std::move(e.pack_blobs);
    RegisterLocked(std::move(job));
  }
  // A crash in the linger may have left our upload marker behind, which
  // would make other volumes' gc refuse until our next upload: with
  // nothing to upload, the idle path removes it. (It is not "held": an
  // upload still writes the marker first.)
  if (!options_.lock_owner.empty() && jobs_.empty()) {
    marker_.maybe_left = true;
    marker_.idle_since = Clock::now();
  }
  return jobs_.size();
}

void UploadQueue::StartWorkers() {
  if (log_ == nullptr) return;
  for (int i = 0; i < options_.upload_workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void UploadQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    work_cv_.notify_all();
    done_cv_.notify_all();
  }
  rate_limiter_.Cancel();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void UploadQueue::ReleaseMarkerIfIdle() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(marker_.held || marker_.maybe_left) || !jobs_.empty()) return;
  }
  Status st = slow_.DeleteRef(UploadMarkerRef(options_.lock_owner));
  if (!st.ok())
    LOG_WARN("%s", PrefixUnlessNamed(name_, slow_.Describe(), "release upload marker: " + st.ToString()).c_str());
}

// ---- adding and cancelling jobs ----

Status UploadQueue::ReservePut(bool staged) {
  std::lock_guard<std::mutex> lock(mu_);
  // A batch's blobs are queued only at its Commit, so counting them here
  // would make a big enough batch refuse itself; the bound is on the queue.
  uint64_t pending = pending_blobs_ + (staged ? 0 : static_cast<uint64_t>(reserved_puts_));
  if (pending >= options_.max_pending) {
    const std::string last = errors_.LastForMessage();
    return Status::Error(EAGAIN, "put refused: " + std::to_string(pending) + " uploads pending" +
                                     StoreNameUnlessQuoted(" to ", slow_.Describe(), last) + " (bound " +
                                     std::to_string(options_.max_pending) + "); last upload error: " + last);
  }
  ++reserved_puts_;
  return Status::OK();
}

void UploadQueue::CancelReservations(size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  reserved_puts_ -= static_cast<int>(count);
}

void UploadQueue::AddBlob(uint64_t seq, const Pointer& key, bool reserved) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reserved) --reserved_puts_;
  Job job;
  job.seq = seq;
  job.key = key;
  RegisterLocked(std::move(job));
  work_cv_.notify_one();
}

void UploadQueue::AddBlobs(std::span<const uint64_t> seqs, std::span<const Pointer> keys, bool reserved) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (reserved) --reserved_puts_;
    Job job;
    job.seq = seqs[i];
    job.key = keys[i];
    RegisterLocked(std::move(job));
  }
  work_cv_.notify_all();
}

void UploadQueue::AddPack(uint64_t seq, const Pointer& name, std::vector<Pointer> blobs, bool reserved) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reserved) reserved_puts_ -= static_cast<int>(blobs.size());
  Job job;
  job.seq = seq;
  job.kind = UploadEntry::Kind::kPack;
  job.key = name;
  job.blobs = std::move(blobs);
  RegisterLocked(std::move(job));
  work_cv_.notify_one();
}

void UploadQueue::AddRef(uint64_t seq, std::string_view name, std::span<const uint8_t> data) {
  Job job;
  job.seq = seq;
  job.kind = UploadEntry::Kind::kRef;
  job.key = Pointer::Of(data);
  job.ref_name = std::string(name);
  job.ref_data.assign(data.begin(), data.end());
  std::lock_guard<std::mutex> lock(mu_);
  RegisterLocked(std::move(job));
  work_cv_.notify_one();
}

void UploadQueue::RegisterLocked(Job job) {
  uint64_t seq = job.seq;
  if (job.kind != UploadEntry::Kind::kRef) {
    pending_blobs_ += BlobCount(job);
    blob_seqs_.insert(seq);
    schedule_.emplace(job.next_try, seq);
  } else {
    ref_seqs_.insert(seq);
  }
  jobs_.emplace(seq, std::move(job));
}

std::vector<uint64_t> UploadQueue::CancelBlob(const Pointer& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return CancelLocked(&key, "");
}

std::vector<uint64_t> UploadQueue::CancelRef(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return CancelLocked(nullptr, name);
}

std::vector<uint64_t> UploadQueue::CancelLocked(const Pointer* key, std::string_view ref_name) {
  std::vector<uint64_t> settled;
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
    schedule_.erase({job.next_try, job.seq});  // blob jobs only match
    settled.push_back(job.seq);
    FinishJobLocked(job.seq);
  }
  return settled;
}

void UploadQueue::PinMarker() {
  std::lock_guard<std::mutex> lock(mu_);
  ++marker_.pins;
  work_cv_.notify_all();
}

void UploadQueue::UnpinMarker() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--marker_.pins == 0) {
    marker_.idle_since = Clock::now();
    work_cv_.notify_all();
  }
}

Status UploadQueue::MarkBeforeRefDelete() {
  if (options_.lock_owner.empty()) return Status::OK();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (marker_.held || (jobs_.empty() && marker_.pins == 0)) return Status::OK();
  }
  Status written = WriteUploadMarker(slow_, options_.lock_owner);
  std::lock_guard<std::mutex> lock(mu_);
  if (written.ok() && !marker_.held) {
    marker_.maybe_left = true;  // removed after the linger once idle
    if (jobs_.empty() && marker_.pins == 0) marker_.idle_since = Clock::now();
    work_cv_.notify_all();
  }
  return written;
}

// ---- bookkeeping (mu_ held) ----

void UploadQueue::EndFlightLocked(Job& job) {
  if (!job.in_flight) return;
  job.in_flight = false;
  if (job.kind == UploadEntry::Kind::kRef) {
    ref_in_flight_ = false;
    return;
  }
  auto it = keys_in_flight_.find(job.key);
  if (it != keys_in_flight_.end() && --it->second <= 0) keys_in_flight_.erase(it);
  if (job.kind == UploadEntry::Kind::kPack) --packs_in_flight_;
}

void UploadQueue::FinishJobLocked(uint64_t seq) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end()) return;
  EndFlightLocked(it->second);
  if (it->second.kind == UploadEntry::Kind::kRef) {
    ref_seqs_.erase(seq);
  } else {
    blob_seqs_.erase(seq);
    pending_blobs_ -= BlobCount(it->second);
  }
  jobs_.erase(it);
  done_cv_.notify_all();
  if (jobs_.empty()) {
    marker_.idle_since = Clock::now();
    work_cv_.notify_all();  // a worker releases the upload marker after the linger
  }
  // The first ref, or a job of the key just freed, may be runnable now.
  if (!ref_seqs_.empty() || !schedule_.empty()) work_cv_.notify_one();
}

void UploadQueue::RetryLaterLocked(Job& job, const Status& error) {
  errors_.Record(error);
  const Clock::time_point now = Clock::now();
  ++job.attempts;
  EndFlightLocked(job);
  job.next_try = now + RetryBackoff(options_.retry_initial, options_.retry_max, job.attempts);
  if (job.kind != UploadEntry::Kind::kRef) schedule_.emplace(job.next_try, job.seq);
  // A failure in an outage says nothing new: the outage has its own lines.
  const bool outage_began = health_.Failed(error, job.probe, jobs_.size(), now);
  const bool warn = outage_began && (job.attempts == 1 || job.attempts % 100 == 0);
  AMBER_LOG(warn ? LogLevel::kWarn : LogLevel::kDebug, "upload failed (attempt %d, retrying): %s", job.attempts,
            error.ToString().c_str());
  job.probe = false;
  work_cv_.notify_all();  // sleepers recompute their wake-up time
}

void UploadQueue::StoreAnsweredLocked(bool probe) {
  const Clock::time_point now = Clock::now();
  if (health_.Succeeded(probe, jobs_.size(), now)) RescheduleAllLocked(now);
}

void UploadQueue::RescheduleAllLocked(Clock::time_point now) {
  // The store is back: what failed while it was down goes now, oldest first.
  std::set<std::pair<Clock::time_point, uint64_t>> now_due;
  for (const auto& [when, seq] : schedule_) {
    jobs_.at(seq).next_try = now;
    now_due.emplace(now, seq);
  }
  schedule_.swap(now_due);
  for (uint64_t seq : ref_seqs_) jobs_.at(seq).next_try = now;
  work_cv_.notify_all();
}

UploadQueue::Job* UploadQueue::PickJobLocked(Clock::time_point now, Clock::time_point* wake) {
  Job* picked = nullptr;
  if (!ref_in_flight_ && !ref_seqs_.empty()) {
    Job& ref = jobs_.at(*ref_seqs_.begin());
    bool blobs_before = !blob_seqs_.empty() && *blob_seqs_.begin() < ref.seq;
    if (!blobs_before) {
      if (ref.next_try <= now || health_.down())
        picked = &ref;
      else
        *wake = std::min(*wake, ref.next_try);
    }
  }
  auto due = schedule_.begin();
  for (; picked == nullptr && due != schedule_.end() && due->first <= now; ++due) {
    Job& job = jobs_.at(due->second);
    if (RunnableLocked(job)) picked = &job;  // else: its key's upload (or packs in flight) end first
  }
  // In an outage the gate paces the tries (at most probe_max apart), not the
  // jobs' own backoff: after a long outage every job's backoff is near
  // retry_max, and waiting for it would leave a store that is back unused
  // that long.
  for (auto next = due; picked == nullptr && health_.down() && next != schedule_.end(); ++next) {
    Job& job = jobs_.at(next->second);
    if (RunnableLocked(job)) picked = &job;
  }
  if (picked == nullptr) {
    if (due != schedule_.end() && due->first > now) *wake = std::min(*wake, due->first);
    return nullptr;
  }
  const SlowStoreHealth::Try may = health_.MayStart(now, wake);
  if (may == SlowStoreHealth::Try::kNo) return nullptr;
  picked->probe = may == SlowStoreHealth::Try::kProbe;
  picked->in_flight = true;
  if (picked->kind == UploadEntry::Kind::kRef) {
    ref_in_flight_ = true;
  } else {
    schedule_.erase({picked->next_try, picked->seq});
    ++keys_in_flight_[picked->key];
    if (picked->kind == UploadEntry::Kind::kPack) ++packs_in_flight_;
  }
  return picked;
}

bool UploadQueue::RunnableLocked(const Job& job) const {
  if (keys_in_flight_.count(job.key)) return false;
  return job.kind != UploadEntry::Kind::kPack || packs_in_flight_ < kMaxPacksInFlight;
}

// ---- workers ----

bool UploadQueue::TendMarkerLocked(std::unique_lock<std::mutex>& lock) {
  if (options_.lock_owner.empty()) return false;
  if (marker_.busy) {  // another worker is writing or deleting it
    work_cv_.wait(lock);
    return true;
  }
  const Clock::time_point now = Clock::now();
  const bool acquire = !marker_.held && (!jobs_.empty() || marker_.pins > 0);
  const bool release = (marker_.held || marker_.maybe_left) && jobs_.empty() && marker_.pins == 0;
  if (!acquire && !release) return false;
  if (acquire && now < marker_.retry_at) {  // another volume's gc is sweeping
    work_cv_.wait_until(lock, marker_.retry_at);
    return true;
  }
  bool probe = false;
  if (acquire) {  // the marker's write is a try like an upload (the first of a busy period)
    Clock::time_point wake = Clock::time_point::max();
    const SlowStoreHealth::Try may = health_.MayStart(now, &wake);
    if (may == SlowStoreHealth::Try::kNo) {
      if (wake == Clock::time_point::max())
        work_cv_.wait(lock);  // a probe is out
      else
        work_cv_.wait_until(lock, wake);
      return true;
    }
    probe = may == SlowStoreHealth::Try::kProbe;
  }
  if (release && now < marker_.idle_since + options_.lock_linger) {
    work_cv_.wait_until(lock, marker_.idle_since + options_.lock_linger);
    return true;
  }
  marker_.busy = true;
  lock.unlock();
  Status st = acquire ? AcquireUploadMarker(slow_, options_.lock_owner)
                      : slow_.DeleteRef(UploadMarkerRef(options_.lock_owner));
  lock.lock();
  marker_.busy = false;
  SettleMarkerLocked(acquire, probe, st);
  work_cv_.notify_all();
  return true;
}

void UploadQueue::SettleMarkerLocked(bool acquire, bool probe, const Status& st) {
  if (acquire && st.ok()) {
    marker_.held = true;
    marker_.maybe_left = false;
    marker_.failures = 0;
    StoreAnsweredLocked(probe);
  } else if (acquire && st.code() == EBUSY) {
    // The store answered: another volume's gc is sweeping. Our marker is
    // written; wait for that gc with a backoff of our own.
    marker_.maybe_left = true;
    errors_.Record(st);
    StoreAnsweredLocked(probe);
    marker_.retry_at =
        Clock::now() + RetryBackoff(options_.retry_initial, options_.retry_max, ++marker_.failures);
  } else if (acquire) {
    marker_.maybe_left = true;  // it may have been written before the check failed
    errors_.Record(st);
    health_.Failed(st, probe, jobs_.size(), Clock::now());  // the outage's gate paces the next try
  } else {
    // A marker left behind only makes other volumes' gc wait; the next busy
    // period rewrites it anyway.
    marker_.held = false;
    marker_.maybe_left = !st.ok();  // tried again when next idle, after a backoff
    if (!st.ok()) {
      LOG_WARN("%s", PrefixUnlessNamed(name_, slow_.Describe(), "release upload marker: " + st.ToString()).c_str());
      marker_.idle_since =
          Clock::now() + RetryBackoff(options_.retry_initial, options_.retry_max, ++marker_.failures);
    } else {
      marker_.failures = 0;
    }
  }
}

void UploadQueue::WorkerLoop() {
  // Background work: a file:// upload's page-cache copy of a snapshot's
  // packs took both cores for 120 ms right after the batch committed, while
  // the snapshot's own last steps waited for a CPU.
  LowerThisThreadPriority();
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
    Job job = *picked;  // the map entry may move on; work from a copy
    lock.unlock();
    if (job.kind == UploadEntry::Kind::kBlob)
      RunBlobJob(job);
    else if (job.kind == UploadEntry::Kind::kPack)
      RunPackJob(job);
    else
      RunRefJob(job);
    lock.lock();
  }
}

bool UploadQueue::IsCancelled(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.at(seq).cancelled;
}

bool UploadQueue::SupersededLocked(const Job& job) const {
  for (auto it = jobs_.upper_bound(job.seq); it != jobs_.end(); ++it) {
    const Job& later = it->second;
    if (later.kind != job.kind) continue;
    if (job.kind == UploadEntry::Kind::kBlob ? later.key == job.key : later.ref_name == job.ref_name) return true;
  }
  return false;
}

void UploadQueue::CompleteJob(const Job& job, bool uploaded, uint64_t bytes) {
  bool cancelled, take_back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled = jobs_.at(job.seq).cancelled;
    // Put again since the delete: the later job uploads the same bytes, and
    // cannot start before this one ends (one job per key, one ref at a time),
    // so the copy stays. Else the delete went first: take our copy back out.
    take_back = uploaded && cancelled && !SupersededLocked(job);
  }
  if (take_back) {
    Status s = job.kind == UploadEntry::Kind::kBlob ? slow_.Delete(job.key) : slow_.DeleteRef(job.ref_name);
    if (!s.ok())
      LOG_WARN("%s", PrefixUnlessNamed(name_, slow_.Describe(), "removing a cancelled upload: " + s.ToString()).c_str());
  }
  Status logged = log_->MarkDone(job.seq);
  ForEachBlob(job, [&](const Pointer& blob) { hooks_.blob_settled(blob, /*in_slow=*/uploaded && !cancelled); });
  std::lock_guard<std::mutex> lock(mu_);
  if (!logged.ok()) errors_.Record(logged);  // only costs a repeated upload after a restart
  if (uploaded) {
    ++uploaded_;
    uploaded_bytes_ += bytes;
    StoreAnsweredLocked(job.probe);
  } else if (job.probe) {
    health_.ProbeAbandoned();
  }
  FinishJobLocked(job.seq);
}

void UploadQueue::RunBlobJob(const Job& job) {
  Status error;
  auto data = fast_.Get(job.key);
  if (data.ok()) {
    if (!rate_limiter_.Acquire(data->size())) return;  // stopping: the upload stays pending
    error = slow_.Put(job.key, *data);
    if (error.ok()) return CompleteJob(job, true, data->size());
  } else if (data.status().code() == ENOENT || data.status().code() == EBADMSG) {
    // The only copy is gone or bad. An earlier upload may have made it already.
    auto in_slow = slow_.Contains(job.key);
    if (in_slow.ok() && *in_slow) return CompleteJob(job, true);
    if (IsCancelled(job.seq)) return CompleteJob(job, false);  // Delete removed it: not lost, just not needed
    if (in_slow.ok()) return AbandonLostBlob(job, data.status());
    error = in_slow.status();
  } else {
    error = data.status();
  }
  RetryOrDrop(job, error);  // the stores' errors name the blob
}

AlignedBuffer UploadQueue::TakePackBuffer() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pack_buffers_.empty()) return AlignedBuffer();
  AlignedBuffer buffer = std::move(pack_buffers_.back());
  pack_buffers_.pop_back();
  return buffer;
}

void UploadQueue::GiveBackPackBuffer(AlignedBuffer buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  // Kept while uploads wait (a snapshot's packs go one after another); with
  // none waiting the memory goes back.
  if (schedule_.empty()) {
    pack_buffers_.clear();
    return;
  }
  if (pack_buffers_.size() < static_cast<size_t>(kMaxPacksInFlight)) pack_buffers_.push_back(std::move(buffer));
}

void UploadQueue::RunPackJob(const Job& job) {
  Status error;
  // Read into a buffer the pack before this one used: a fresh 16 MiB each
  // time, and the page cache's copy, cost page faults (see ReadFileInto).
  AlignedBuffer buffer = TakePackBuffer();
  Result<size_t> size = fast_.ReadObjectInto(PackObjectName(job.key), &buffer);
  if (size.ok()) {
    bool stopping = !rate_limiter_.Acquire(*size);
    if (!stopping) error = PutPack(slow_, job.key, std::span<const uint8_t>(buffer.data(), *size));
    GiveBackPackBuffer(std::move(buffer));
    if (stopping) return;  // the upload stays pending
    if (error.ok()) return CompleteJob(job, true, *size);
  } else if (size.status().code() == ENOENT || size.status().code() == EBADMSG) {
    // The only copy is gone or bad. An earlier upload may have made it already.
    // Read with no tables: a sealed table (EACCES) under this pack's name
    // is as present as an open one.
    auto in_slow = GetPackIndex(slow_, job.key, nullptr);
    if (in_slow.ok() || in_slow.status().code() == EACCES) return CompleteJob(job, true);
    if (in_slow.status().code() == ENOENT) return AbandonLostBlob(job, size.status());
    error = in_slow.status();
  } else {
    error = size.status();
  }
  RetryOrDrop(job, error);
}

void UploadQueue::ForEachBlob(const Job& job, const std::function<void(const Pointer&)>& hook) const {
  if (job.kind == UploadEntry::Kind::kBlob) hook(job.key);
  if (job.kind == UploadEntry::Kind::kPack)
    for (const Pointer& blob : job.blobs) hook(blob);
}

void UploadQueue::AbandonLostBlob(const Job& job, const Status& why) {
  const std::string what = job.kind == UploadEntry::Kind::kPack
                               ? "pack " + job.key.Hex() + " (" + std::to_string(job.blobs.size()) + " blobs)"
                               : "blob " + job.key.Hex();
  Status lost = Status::Error(EIO, what + " queued for upload is unreadable in " + fast_.Describe() + " (" +
                                       why.message() + "); upload abandoned, listed for fsck");
  LOG_ERROR("%s", PrefixUnlessNamed(name_, fast_.Describe(), lost.message()).c_str());
  Status logged = log_->MarkLost(job.seq);
  ForEachBlob(job, hooks_.blob_lost);
  std::lock_guard<std::mutex> lock(mu_);
  StoreAnsweredLocked(job.probe);  // it said it lacks the blob
  errors_.Record(lost);
  if (!logged.ok()) errors_.Record(logged);
  ++lost_;
  ++lost_unreported_;
  FinishJobLocked(job.seq);
}

void UploadQueue::RunRefJob(const Job& job) {
  if (!rate_limiter_.Acquire(job.ref_data.size())) return;  // stopping: the upload stays pending
  Status s = slow_.PutRef(job.ref_name, job.ref_data);
  if (s.ok()) return CompleteJob(job, true, job.ref_data.size());
  RetryOrDrop(job, s);
}

void UploadQueue::RetryOrDrop(const Job& job, const Status& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Job& live = jobs_.at(job.seq);
    if (!live.cancelled) return RetryLaterLocked(live, error);
  }
  CompleteJob(job, false);  // deleted meanwhile: nothing left to upload
}

// ---- waiting and stats ----

Status UploadQueue::WaitFor(uint64_t target, bool exact, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [&] {
    if (stop_) return true;
    if (exact) return jobs_.count(target) == 0;
    return jobs_.empty() || jobs_.begin()->first > target;
  };
  if (timeout == std::chrono::milliseconds::max()) {
    done_cv_.wait(lock, done);
  } else if (!done_cv_.wait_for(lock, timeout, done)) {
    const std::string last = errors_.LastForMessage();
    return Status::Error(ETIMEDOUT, "timed out waiting for uploads" +
                                        StoreNameUnlessQuoted(" to ", slow_.Describe(), last) + ": " +
                                        std::to_string(jobs_.size()) + " pending; last upload error: " + last);
  }
  if (stop_) return Status::Error(ESHUTDOWN, name_ + " is closing");
  if (lost_unreported_ > 0) {
    uint64_t lost = std::exchange(lost_unreported_, 0);
    return Status::Error(EIO, std::to_string(lost) + " blob uploads to " + slow_.Describe() +
                                  " were abandoned because the fast copy was missing or corrupt (run fsck); "
                                  "last error: " + errors_.last());
  }
  return Status::OK();
}

Status UploadQueue::Drain(std::chrono::milliseconds timeout) {
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_.empty() && lost_unreported_ == 0) return Status::OK();
    target = jobs_.empty() ? 0 : jobs_.rbegin()->first;
  }
  return WaitFor(target, /*exact=*/false, timeout);
}

void UploadQueue::ReportStats(PairedStats* stats) const {
  std::lock_guard<std::mutex> lock(mu_);
  stats->pending = jobs_.size();
  stats->uploaded = uploaded_;
  stats->uploaded_bytes = uploaded_bytes_;
  stats->lost = lost_;
  health_.Report(stats);
}

std::vector<std::pair<std::string, std::vector<uint8_t>>> UploadQueue::PendingRefs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  for (uint64_t seq : ref_seqs_) {
    const Job& job = jobs_.at(seq);
    if (!job.cancelled) out.emplace_back(job.ref_name, job.ref_data);
  }
  return out;
}

}  // namespace amberfs
