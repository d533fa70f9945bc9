// UploadQueue: the uploads a PairedStore owes its slow store, and the worker
// threads that make them. One of the PairedStore's parts (paired_store.h).
//
// Jobs: a blob job copies a blob from the fast store to the slow one; a
// pack job copies a sealed pack of the fast store whole (its object and its
// index object, pack_objects.h), in one PUT for all its blobs; a ref job
// writes a ref whose data it holds. Every job is an entry of the upload
// log, known by the entry's seq. The caller appends the entry and then adds
// the job; the queue settles the entry (MarkDone, MarkLost) when the job
// ends.
//
// Scheduling: options.upload_workers workers run blob and pack jobs in
// parallel, in the order of their next try, never two of the same key at
// once (so the upload of a blob deleted and put again never races the one
// before it), and at most kMaxPacksInFlight pack jobs at once (each holds
// its pack in memory: 4 x 16 MiB, whatever the worker count; one PUT of a
// pack already keeps a link busy). Ref jobs run one at a time in seq order, each only once no
// blob or pack job with a smaller seq is pending ("blobs before refs": a
// snapshot's ref never reaches the slow store before its blobs).
//
// Retries: a failed upload is retried forever, after a backoff that doubles
// from options.retry_initial up to options.retry_max. A failure also marks
// the slow store down (SlowStoreHealth, slow_store_health.h): then one try
// at a time probes it (the job first due, or if none is, the next one: the
// jobs' own backoff does not space the probes), at doubling intervals up to
// options.probe_max, and
// the first success lets every upload go at once, the jobs' own backoff
// reset, so a store that was down is neither hammered meanwhile nor waited
// for once it is back. An outage is logged when it starts, now and then
// while it lasts, and when it ends (see there); a job's own failure is
// logged on its first attempt and every 100th, unless it fell in an outage.
//
// Lost blobs: a blob (pack) job whose fast copy is missing or corrupt, and
// not in the slow store either, cannot be done: it is written to the log as lost,
// logged with LOG_ERROR, counted, and dropped, never retried. The next
// WaitFor or Drain reports the losses since the last one (EIO).
//
// Cancelling (a Delete or DeleteRef of what a job uploads; the caller has
// deleted the slow copy first, "slow store first on delete"): queued jobs
// leave the queue at once and are returned to the caller, which settles them
// in the log. A job in flight is marked, and when its upload returns the
// slow copy is deleted again. A pack job is never cancelled by a delete of
// one of its blobs (the others need it): the pack is uploaded with the dead
// blob in it, and gc reclaims packs whose blobs are all dead.
//
// The put bound: ReservePut refuses (EAGAIN) once options.max_pending blobs
// are pending (a pack job counts its blobs), counting the Puts between their ReservePut and their
// AddBlob (a batch's staged blobs are reserved without being refused by one
// another: the bound is on the queue).
//
// Upload marker: with options.lock_owner set, a worker writes the marker and
// checks for gc markers (AcquireUploadMarker) before the first upload of a
// busy period; no upload starts until that succeeds (a failure, or another
// volume's gc in progress, is an upload error retried with backoff). The
// marker is deleted options.lock_linger after the queue empties, and by
// ReleaseMarkerIfIdle (at close) when nothing is pending. After Resume with
// nothing pending, a marker a crash may have left is removed (after the same
// linger). While pinned (PinMarker: an open PutBatch) the marker is written
// and kept even with nothing queued.
//
// Rate: with options.upload_rate set, every upload first takes its bytes
// from a token bucket (rate_limiter.h), so the workers together keep to that
// many bytes per second; Stop cancels the waits, and an upload cut off so
// stays pending (in the log, for the next open).
//
// Hooks: blob_settled(key, in_slow) when a blob job ends uploaded (in_slow)
// or cancelled (not); blob_lost(key) when it is lost. A pack job calls them
// for each of its blobs. They run on a worker
// without the queue's lock, before the job leaves the queue, so whoever sees
// the job gone (WaitFor, Drain) sees the hook's effect too.
//
// Thread-safety: every method is safe for concurrent calls. mu_ is never held
// across a call into the stores, the upload log or a hook; under it only the
// ErrorTally's lock (a leaf) is taken.
// Stop (or destruction) waits for the uploads in flight to return.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/error_tally.h"
#include "store/paired_options.h"
#include "store/rate_limiter.h"
#include "store/slow_store_health.h"
#include "store/store.h"
#include "store/upload_log.h"

namespace amberfs {

class UploadQueue {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxPacksInFlight = 4;

  struct Hooks {
    std::function<void(const Pointer& key, bool in_slow)> blob_settled;
    std::function<void(const Pointer& key)> blob_lost;
  };

  // `name` is the owner's description, for logs and errors. With a null log
  // (a read-only store) StartWorkers starts none and nothing may be added.
  UploadQueue(Store& fast, Store& slow, UploadLog* log, const PairedOptions& options, ErrorTally& errors, Hooks hooks,
              std::string name);
  ~UploadQueue();
  UploadQueue(const UploadQueue&) = delete;
  UploadQueue& operator=(const UploadQueue&) = delete;

  // At open, before StartWorkers: the log's pending entries become jobs.
  // Returns how many.
  size_t Resume(std::vector<UploadEntry> pending);
  void StartWorkers();
  // Stops the workers (waiting for uploads in flight); waiters return
  // ESHUTDOWN. Idempotent.
  void Stop();
  // After Stop: deletes our upload marker if nothing is pending.
  void ReleaseMarkerIfIdle();

  // A Put's place under the bound (see above); every successful ReservePut
  // ends with AddBlob(..., reserved=true) or CancelReservations.
  Status ReservePut(bool staged);
  void CancelReservations(size_t count);
  // Queues blob jobs for log entries seqs[i] (keys[i]); `reserved`: they end
  // their Puts' reservations.
  void AddBlob(uint64_t seq, const Pointer& key, bool reserved);
  void AddBlobs(std::span<const uint64_t> seqs, std::span<const Pointer> keys, bool reserved);
  // Queues the upload of pack `name` (log entry seq) holding `blobs`;
  // `reserved`: it ends the reservations of those blobs' Puts.
  void AddPack(uint64_t seq, const Pointer& name, std::vector<Pointer> blobs, bool reserved);
  void AddRef(uint64_t seq, std::string_view name, std::span<const uint8_t> data);
  // Cancels the jobs uploading `key` (or ref `name`); returns the seqs of
  // those that left the queue (the caller settles them in the log).
  std::vector<uint64_t> CancelBlob(const Pointer& key);
  std::vector<uint64_t> CancelRef(std::string_view name);

  void PinMarker();
  void UnpinMarker();
  // Before a ref is deleted from the slow store: with uploads pending (or a
  // batch open) and the marker not known to be there, writes it now (see
  // slow_store_locks.h); it is removed like any marker once idle.
  Status MarkBeforeRefDelete();

  // Waits until no job with seq <= target remains (only `target` itself when
  // exact); ETIMEDOUT after timeout, EIO for blobs lost since the last report.
  Status WaitFor(uint64_t target, bool exact, std::chrono::milliseconds timeout);
  // WaitFor everything queued before the call.
  Status Drain(std::chrono::milliseconds timeout);

  // Fills in pending, uploaded, lost and the slow store's health.
  void ReportStats(PairedStats* stats) const;
  // The ref uploads still pending: name and data, in seq order.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> PendingRefs() const;

 private:
  struct Job {
    uint64_t seq = 0;
    UploadEntry::Kind kind = UploadEntry::Kind::kBlob;
    Pointer key;                // the blob, the pack's name, or the SHA-256 of ref_data
    std::vector<Pointer> blobs;  // kPack: the blobs whose holds end with the job
    std::string ref_name;
    std::vector<uint8_t> ref_data;
    int attempts = 0;
    Clock::time_point next_try{};
    bool in_flight = false;
    bool probe = false;      // in flight as the slow store's probe (SlowStoreHealth)
    bool cancelled = false;  // deleted while queued or in flight
  };
  // The upload marker (options_.lock_owner) as the workers see it.
  struct Marker {
    bool held = false;        // in the slow store
    bool busy = false;        // a worker is writing or deleting it (others wait)
    bool maybe_left = false;  // ours may be in the slow store: remove it when idle
    int pins = 0;             // open batches: keep (and hold) the marker
    int failures = 0;         // releases failed, or another volume's gc refused us
    Clock::time_point retry_at{};    // when to try writing it again
    Clock::time_point idle_since{};  // the queue emptied (linger from here)
  };

  void RegisterLocked(Job job);
  // Picks a runnable job. Returns nullptr and the time to wake otherwise.
  Job* PickJobLocked(Clock::time_point now, Clock::time_point* wake);
  // A buffer to read a pack into for its upload: one a pack before used, or
  // an empty one; given back after the PUT (kept while packs wait, at most
  // kMaxPacksInFlight).
  AlignedBuffer TakePackBuffer();
  void GiveBackPackBuffer(AlignedBuffer buffer);
  // Its key has no upload in flight, and a pack job has a pack slot.
  bool RunnableLocked(const Job& job) const;
  void WorkerLoop();
  // Writes or deletes the upload marker when due; true if it did something
  // (mu_ was released meanwhile), false if uploads may go on.
  bool TendMarkerLocked(std::unique_lock<std::mutex>& lock);
  // Records the outcome of a marker write (`probe`: as the store's probe)
  // or delete.
  void SettleMarkerLocked(bool acquire, bool probe, const Status& st);
  void RunBlobJob(const Job& job);
  void RunPackJob(const Job& job);
  // Calls hook for the job's blob, or each blob of its pack.
  void ForEachBlob(const Job& job, const std::function<void(const Pointer&)>& hook) const;
  // Blobs the job counts for under the put bound.
  static uint64_t BlobCount(const Job& job) { return job.kind == UploadEntry::Kind::kPack ? job.blobs.size() : 1; }
  void RunRefJob(const Job& job);
  // The fast copy of job's blob is gone or bad and the slow store lacks it.
  void AbandonLostBlob(const Job& job, const Status& why);
  // A failed upload: retried later, unless the job was cancelled meanwhile.
  void RetryOrDrop(const Job& job, const Status& error);
  bool IsCancelled(uint64_t seq) const;
  // Whether a later pending job uploads what job does.
  bool SupersededLocked(const Job& job) const;
  // Settles a job after its upload of `bytes` (or cancellation); takes mu_.
  void CompleteJob(const Job& job, bool uploaded, uint64_t bytes = 0);
  void FinishJobLocked(uint64_t seq);
  // The job is no longer in flight (its key or the ref slot is free again).
  void EndFlightLocked(Job& job);
  void RetryLaterLocked(Job& job, const Status& error);
  // The slow store answered: ends an outage (and every job's backoff).
  void StoreAnsweredLocked(bool probe);
  void RescheduleAllLocked(Clock::time_point now);
  std::vector<uint64_t> CancelLocked(const Pointer* key, std::string_view ref_name);

  Store& fast_;
  Store& slow_;
  UploadLog* const log_;
  const PairedOptions options_;
  RateLimiter rate_limiter_{options_.upload_rate};  // options_.upload_rate, over blobs and refs
  ErrorTally& errors_;
  const Hooks hooks_;
  const std::string name_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // jobs became runnable, the marker is due, or stop
  std::condition_variable done_cv_;  // a job finished, or stop
  bool stop_ = false;
  std::map<uint64_t, Job> jobs_;                               // every pending upload, by seq
  std::set<std::pair<Clock::time_point, uint64_t>> schedule_;  // blob jobs not in flight
  std::set<uint64_t> blob_seqs_;                               // pending blob and pack jobs (refs wait on these)
  uint64_t pending_blobs_ = 0;                                 // blobs of those jobs (the put bound)
  std::set<uint64_t> ref_seqs_;                                // pending ref jobs, uploaded in order
  bool ref_in_flight_ = false;
  std::unordered_map<Pointer, int> keys_in_flight_;  // blob jobs in flight, by key
  int packs_in_flight_ = 0;                          // pack jobs in flight (<= kMaxPacksInFlight)
  std::vector<AlignedBuffer> pack_buffers_;          // TakePackBuffer's spares
  SlowStoreHealth health_;
  Marker marker_;
  int reserved_puts_ = 0;  // Puts between ReservePut and AddBlob
  uint64_t uploaded_ = 0, uploaded_bytes_ = 0, lost_ = 0, lost_unreported_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace amberfs
