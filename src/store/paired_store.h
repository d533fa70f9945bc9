// PairedStore: a fast local Store in front of a slow (remote) Store, joined by
// a crash-safe upload log.
//
// Put writes the blob to the fast store, then appends "queued" to the upload
// log and returns once that record is durable (concurrent Puts share one
// fdatasync). Background workers (options.upload_workers, default 16) copy
// queued blobs to the slow store in parallel and append "done"; a failed
// upload is retried forever with exponential backoff (capped at
// options.retry_max) and is visible in Stats (pending, upload_errors,
// last_error). Open replays the log, so every upload not confirmed done before
// a crash resumes.
//
// Nothing on the request path waits for the slow store: Put, and Get of a blob
// held locally, run at local speed with the slow store down. Put is bounded:
// once options.max_pending uploads are pending it fails with EAGAIN (naming
// the slow store and its last upload error) rather than wait, so a caller
// (a snapshot) fails fast and can be retried; nothing is written in that case.
//
// Put with the log carrying the data (options.carry_data_in_log, a DiskStore
// fast store, blobs up to UploadLog::kMaxBlobData): the fast copy is written
// to a temp file with no sync, the log appends a blob-data record holding the
// bytes (the one fdatasync, shared by concurrent Puts), and only then is the
// fast copy renamed into place. The log keeps the bytes until a checkpoint (a
// compaction: syncfs of the fast store, then the log is rewritten without
// them). Open rewrites, durably, every fast copy the log still carries (a
// crash may have lost or torn it, or left it good in the page cache but not
// on disk), then checkpoints; the destructor checkpoints too. So a fast copy
// whose upload is not done is always either durable or carried by the log;
// one whose upload is done is backed by the slow copy (a damaged fast copy
// fails its SHA-256 check on read and is fetched again). A sync
// that fails keeps the bytes in the log until the upload is done (see
// upload_log.h); past 4 x options.log.compact_data_bytes of carried bytes,
// Puts fall back to the durable path. syncfs reports writeback errors on
// Linux 5.8 and later only. A read-only store (no log) does not see carried
// bytes: open it read-write once after a crash.
//
// NewPutBatch: Puts staged in the fast store's batch (one sync for all of
// them, see store.h) and queued in the log with one append at Commit; their
// uploads start then. Staged blobs count toward max_pending and are never
// evicted.
//
// Get reads the fast store; on a miss it reads the slow store (which verifies
// the SHA-256) and writes the blob back into the fast store. A fast copy that
// fails verification (EBADMSG) is replaced from the slow store; a slow copy
// that fails is an EBADMSG error and is never copied into the fast store.
//
// Delete removes from the slow store first, then the fast store, and cancels
// any upload of that key still queued (an upload already in flight deletes its
// slow copy again when it finishes).
//
// Budget: options.fast_budget_bytes (0 = none) bounds the fast store's disk
// bytes. A background evictor removes least-recently-used blobs that are known
// to be in the slow store (uploaded, or read from it, in this process; blobs
// found in the fast store at Open are checked with slow->Contains first, and
// re-queued for upload if the slow store lacks them). A blob with an upload
// pending is never evicted. Sizes come from BlobInventory when the fast store
// implements it (DiskStore does), else the data size rounded up to 4 KiB.
//
// Refs: PutRef stores the ref in the fast store (so GetRef sees it at once)
// and queues it in the log behind every blob put before it; a ref is uploaded
// only once every blob job with a smaller sequence number is done, and refs are
// uploaded one at a time in order. PutRefSync also waits for that upload.
// GetRef reads the fast store, then the slow one; ListRefs merges both;
// DeleteRef deletes slow, then fast, and cancels queued uploads of that name.
//
// Upload marker: with options.lock_owner set, a worker writes the marker and
// checks for gc markers (AcquireUploadMarker) before the first upload of a
// busy period; no upload starts until that succeeds (a failure, or another
// volume's gc in progress, is an upload error retried with backoff). The
// marker is deleted lock_linger after the queue empties, and at destruction
// when nothing is pending (with uploads pending it stays: they resume at the
// next Open, which writes it again first). An Open with nothing pending
// removes a marker a crash may have left (after the same linger). A PutBatch
// holds the marker from its creation to its destruction, so a snapshot's
// blobs stay covered until its ref is queued, even if they are uploaded
// before that.
//
// Drain waits until everything put before the call is in the slow store, or
// the timeout passes (ETIMEDOUT, with the pending count and the last upload
// error). It returns EIO if a blob was lost (see below) since the last Drain.
//
// Lost blobs: if the fast copy of a pending upload is missing (or corrupt and
// not in the slow store), the upload cannot be done. That is counted as an
// upload error, logged with LOG_ERROR, written to the log as blob-lost (listed
// by LostBlobs() for fsck), and the entry is dropped, never retried. A ref
// queued behind a lost blob is still uploaded (holding it would block every
// later ref forever); the loss is reported by Drain, Stats and the log.
//
// Read-only: Open with an empty log_path gives a store that refuses Put,
// PutRef, Delete and DeleteRef with EROFS; reads work (and still write blobs
// fetched from the slow store back into the fast one).
//
// Thread-safety: every method is safe for concurrent calls. Lock order:
// PairedStore::mu_ is a leaf with respect to the stores and the log: it is
// never held across a call into fast, slow or the upload log (each has its own
// internal locks). Waking a worker is a condition-variable notify, which never
// blocks; the request path never waits on a worker or a queue slot.
// Ownership: the PairedStore owns both stores and the log; the destructor
// stops the workers (waiting for uploads in flight to return) and syncs the log.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/disk_store.h"
#include "store/store.h"
#include "store/upload_log.h"

namespace amberfs {

struct PairedOptions {
  int upload_workers = 16;
  uint64_t fast_budget_bytes = 0;  // 0: no budget
  uint64_t max_pending = 1 << 18;  // pending blob uploads before Put says EAGAIN
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{30000};
  // The volume's uuid, to hold locks/upload/<uuid> in the slow store while
  // uploads are pending (slow_store_locks.h), so that the gc of another
  // volume sharing the slow store never sweeps a blob uploaded for a snapshot
  // whose ref is not there yet. Empty: no marker (a slow store of our own).
  std::string lock_owner;
  // How long the marker stays after the last upload (fewer rewrites for a
  // steady trickle of puts).
  std::chrono::milliseconds lock_linger{2000};
  // Single Puts carry their bytes in the upload log (see above): one sync
  // per Put instead of three. Off: the fast store's own durable Put.
  bool carry_data_in_log = true;
  UploadLogOptions log;
};

struct PairedStats {
  uint64_t pending = 0;  // blob and ref uploads not yet confirmed
  uint64_t uploaded = 0;
  uint64_t upload_errors = 0;
  uint64_t lost = 0;  // uploads abandoned because the fast copy was gone
  std::string last_error;
  uint64_t fast_bytes = 0;
  uint64_t evictions = 0;
};

class PairedStore : public Store {
 public:
  using Clock = std::chrono::steady_clock;

  // log_path empty: read-only.
  static Result<std::unique_ptr<PairedStore>> Open(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow,
                                                   const std::string& log_path, PairedOptions options = {});
  ~PairedStore() override;

  std::string Describe() const override;

  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  std::unique_ptr<PutBatch> NewPutBatch() override;
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  // Every blob in either store, each once.
  Status List(const std::function<Status(const Pointer&)>& fn) override;

  Status PutRef(std::string_view name, std::span<const uint8_t> data) override;
  // PutRef, then wait (up to timeout) until the ref is in the slow store.
  Status PutRefSync(std::string_view name, std::span<const uint8_t> data,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds::max());
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override;
  Status DeleteRef(std::string_view name) override;
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override;

  Status Drain(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());
  PairedStats Stats() const;
  // Blobs whose uploads were abandoned (from the log), for fsck.
  std::vector<Pointer> LostBlobs() const;

  Store& fast() { return *fast_; }
  Store& slow() { return *slow_; }

 private:
  struct Job {
    uint64_t seq = 0;
    UploadEntry::Kind kind = UploadEntry::Kind::kBlob;
    Pointer key;
    std::string ref_name;
    std::vector<uint8_t> ref_data;
    int attempts = 0;
    Clock::time_point next_try{};
    bool in_flight = false;
    bool cancelled = false;  // deleted while queued or in flight
  };
  enum class FastState { kPending, kUploaded, kUnverified };
  struct FastBlob {
    uint64_t bytes = 0;
    int pending = 0;  // upload jobs and Puts in progress for this key
    bool evicting = false;
    bool in_lru = false;
    bool verified = false;  // known to be in the slow store
    std::list<Pointer>::iterator lru_pos;
  };

  class Batch;
  friend class Batch;

  PairedStore(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow, PairedOptions options);
  // A Put's hold on key: checks the max_pending bound, waits out an eviction
  // of key, and keeps the key from eviction until SettlePutLocked.
  Status HoldForPut(const Pointer& key, bool staged = false);
  // Ends a hold: accounts the blob's bytes, then registers its upload job
  // (which inherits the hold) when seq is ok, else releases the hold.
  void SettlePutLocked(const Pointer& key, uint64_t bytes, const Result<uint64_t>& seq);
  Status Start(const std::string& log_path);
  // Open's repair: fast copies of blob-data entries a crash lost or tore are
  // written back from the log; then a checkpoint drops the log's copies.
  Status RestoreLoggedBlobs();
  // Put's write when the log carries the data; returns the entry's seq.
  Result<uint64_t> PutCarried(const Pointer& key, std::span<const uint8_t> data);
  void WorkerLoop();
  // Writes or deletes the upload marker when due; true if it did something
  // (mu_ was released meanwhile), false if uploads may go on.
  bool TendMarkerLocked(std::unique_lock<std::mutex>& lock);
  void EvictorLoop();
  // Picks a runnable job; caller holds mu_. Returns nullptr and the time to wake otherwise.
  Job* PickJobLocked(Clock::time_point now, Clock::time_point* wake);
  void RunBlobJob(const Job& job);
  void RunRefJob(const Job& job);
  // Settles a job after its upload (or cancellation); takes mu_.
  void CompleteJob(const Job& job, bool uploaded);
  void FinishJobLocked(uint64_t seq);
  void RetryLaterLocked(Job& job, const Status& error);
  void RecordErrorLocked(const Status& error);
  void RegisterJobLocked(Job job);
  uint64_t SizeOf(const Pointer& key, size_t data_size);
  // Fast-blob bookkeeping; caller holds mu_.
  void MarkEvictableLocked(const Pointer& key, uint64_t bytes, bool verified, bool recently_used);
  void TouchLocked(const Pointer& key);
  void ReleasePendingLocked(const Pointer& key, bool verified);
  Result<uint64_t> QueueRef(std::string_view name, std::span<const uint8_t> data);
  // Waits until no job with seq <= target remains (only `target` itself when exact).
  Status WaitFor(uint64_t target, bool exact, std::chrono::milliseconds timeout);
  void CancelJobsLocked(const Pointer* key, std::string_view ref_name, std::vector<uint64_t>* settled);
  Status Refuse(const char* op) const;

  const std::unique_ptr<Store> fast_;
  const std::unique_ptr<Store> slow_;
  const PairedOptions options_;
  BlobInventory* const inventory_;  // fast_ as BlobInventory, or null
  DiskStore* const fast_disk_;      // fast_ as DiskStore, or null
  std::unique_ptr<UploadLog> log_;  // null: read-only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // jobs became runnable, or stop
  std::condition_variable done_cv_;   // a job finished, or an eviction ended
  std::condition_variable evict_cv_;  // over budget, or stop
  bool stop_ = false;
  std::map<uint64_t, Job> jobs_;                                 // every pending upload, by seq
  std::set<std::pair<Clock::time_point, uint64_t>> schedule_;  // blob jobs not in flight
  std::set<uint64_t> blob_seqs_;                                 // pending blob jobs (refs wait on these)
  std::set<uint64_t> ref_seqs_;                                  // pending ref jobs, uploaded in order
  bool ref_in_flight_ = false;
  int consecutive_failures_ = 0;
  Clock::time_point gate_{};  // no upload starts before this (slow store backoff)
  // The upload marker (options_.lock_owner): held in the slow store; a worker
  // is writing or deleting it (others wait); when to try writing it again.
  bool marker_held_ = false, marker_busy_ = false;
  bool marker_maybe_left_ = false;  // ours may be in the slow store: remove it when idle
  int marker_pins_ = 0;              // open batches: keep (and hold) the marker
  int marker_failures_ = 0;
  Clock::time_point marker_retry_at_{}, idle_since_{};
  int in_puts_ = 0;           // Puts between their bound check and registering their job
  std::unordered_map<Pointer, FastBlob> fast_blobs_;
  std::list<Pointer> lru_;  // evictable blobs, most recently used first
  uint64_t fast_bytes_ = 0;
  uint64_t uploaded_ = 0, upload_errors_ = 0, lost_ = 0, lost_unreported_ = 0, evictions_ = 0;
  std::string last_error_;
  std::vector<std::thread> threads_;
};

}  // namespace amberfs
