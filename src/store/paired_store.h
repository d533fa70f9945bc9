// PairedStore: a fast local Store in front of a slow (remote) Store, joined by
// a crash-safe upload log.
//
// Put writes the blob to the fast store, then appends "queued" to the upload
// log and returns once that record is durable (concurrent Puts share one
// fdatasync). Background workers (options.upload_workers, default 16) copy
// queued blobs to the slow store in parallel and append "done"; a failed
// upload is retried forever with exponential backoff (capped at
// options.retry_max) and is visible in Stats (pending, upload_errors,
// last_error). While the slow store is down one try at a time probes it
// and the first success lets every upload go at once (upload_queue.h,
// slow_store_health.h; Stats: slow_store_up, slow_store_down_since). Open replays the log, so every upload not confirmed done before
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
// Delete (DeleteBlobs for many) writes a blob-deleting record to the upload
// log (one sync for the lot), removes from the slow store first, then the
// fast store ("slow store first on delete"), and cancels any upload of that
// key still queued (an upload already in flight deletes its slow copy again
// when it finishes, unless the key was put again). A Put of the key in
// flight keeps its fast copy: the delete comes first, the Put after it.
// Open finishes a delete a crash interrupted (the record is still pending):
// the fast copy goes, unless the key was put again after it. With
// slow_lacks (gc's fast-only garbage, known from a listing) no request goes
// to the slow store for a key with no upload pending.
//
// Budget: options.fast_budget_bytes (0 = none) bounds the fast store's disk
// bytes. A background evictor removes least-recently-used blobs that are known
// to be in the slow store (uploaded, or read from it, in this process; blobs
// found in the fast store at Open are checked with slow->Contains first, and
// re-queued for upload if the slow store lacks them: a delete interrupted by
// a crash was finished before, so such a blob may be a snapshot's last copy).
// A batch whose Commit fails removes the fast copies it brought in (not
// those the fast store held before, nor those something else holds). A blob with an upload
// pending is never evicted. Sizes come from BlobInventory when the fast store
// implements it (DiskStore does), else the data size rounded up to 4 KiB.
//
// Refs: PutRef stores the ref in the fast store (so GetRef sees it at once)
// and queues it in the log behind every blob put before it; a ref is uploaded
// only once every blob job with a smaller sequence number is done ("blobs
// before refs"), and refs are uploaded one at a time in order. PutRefSync
// also waits for that upload.
// GetRef reads the fast store, then the slow one; ListRefs merges both;
// DeleteRef deletes slow, then fast, and cancels queued uploads of that name;
// with uploads pending it first writes the upload marker (see
// slow_store_locks.h: another volume's gc looks for it after listing refs).
// PendingRefs lists the ref uploads not yet done (for SnapshotRefs).
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
// Parts: PairedStore is a facade over
//   UploadQueue  (upload_queue.h)   upload jobs, workers, retries, the marker
//   FastBudget   (fast_budget.h)    the fast store's bytes, LRU and evictor
//   CarriedPuts  (carried_puts.h)   Puts whose bytes the upload log carries
//   ErrorTally   (error_tally.h)    the errors behind Stats and messages
// and the upload log (upload_log.h). A Put takes its place in the queue
// (ReservePut), a hold in the budget (HoldForPut), writes, appends to the
// log, then hands both on to the upload job (SettlePut, AddBlob); the job,
// once done, releases the budget's hold through a hook.
//
// Thread-safety: every method is safe for concurrent calls. Lock order:
//   UploadQueue::mu_  ->  ErrorTally::mu_
//   FastBudget::mu_   ->  ErrorTally::mu_
// UploadQueue::mu_ and FastBudget::mu_ are never held together (neither part
// calls the other, or a hook, under its lock), PairedStore has no lock of
// its own, and no lock is held across a call into the fast store, the slow
// store or the upload log (each has its own internal locks). Waking a worker
// or the evictor is a condition-variable notify, which never blocks; the
// request path never waits on a worker or a queue slot (a Put waits only for
// an eviction of its own key to finish).
// Ownership: the PairedStore owns both stores, the log and its parts; the
// destructor stops the workers and the evictor (waiting for uploads in
// flight to return), checkpoints and syncs the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "store/carried_puts.h"
#include "store/disk_store.h"
#include "store/error_tally.h"
#include "store/fast_budget.h"
#include "store/paired_options.h"
#include "store/store.h"
#include "store/upload_log.h"
#include "store/upload_queue.h"

namespace amberfs {


class PairedStore : public Store {
 public:
  // log_path empty: read-only.
  static Result<std::unique_ptr<PairedStore>> Open(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow,
                                                   const std::string& log_path, PairedOptions options = {});
  ~PairedStore() override;

  std::string Describe() const override;

  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  std::unique_ptr<PutBatch> NewPutBatch() override;
  // A batch of the fast store's NewRepackBatch (packed_disk_store.h): the
  // blobs put go into new packs even though the store holds them, and the
  // new packs are uploaded like any batch's. ENOTSUP (at Put) without a
  // packed fast store.
  std::unique_ptr<PutBatch> NewRepackBatch();
  PackedDiskStore* packed_fast() { return fast_packed_; }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  // Delete of each of keys, with one upload-log sync for all (the deleting
  // records). Stops at the first error. slow_lacks: the caller listed the
  // slow store and none of keys was there: no delete request is sent there
  // for a key with no upload pending (gc's fast-only garbage).
  Status DeleteBlobs(std::span<const Pointer> keys, bool slow_lacks = false);
  // ReclaimDeleted (store.h) of the slow store, then of the fast one (slow
  // store first on delete): gc's last step. Returns the bytes both freed.
  Result<uint64_t> ReclaimDeleted() override;
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
  // Ref uploads not yet done (name, data), in the order they will go.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> PendingRefs() const;
  PairedStats Stats() const;
  // Blobs whose uploads were abandoned (from the log), for fsck.
  std::vector<Pointer> LostBlobs() const;

  Store& fast() { return *fast_; }
  Store& slow() { return *slow_; }

 private:
  class Batch;
  friend class Batch;

  PairedStore(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow, PairedOptions options);
  Status Start(const std::string& log_path);
  // With the upload log open: restores what it carries, resumes its uploads.
  Status OpenLog();
  // What the fast store holds, oldest first, into the budget.
  Status AccountFastStore();
  // A Put's hold on key: a place under max_pending in the queue, and key
  // kept from eviction, until SettlePut. Returns whether the key was known
  // (in the fast store, or held) before.
  Result<bool> HoldForPut(const Pointer& key, bool staged = false);
  // Ends a hold: accounts the blob's bytes, then hands the hold on to the
  // upload job of seq when it is ok, else releases it.
  void SettlePut(const Pointer& key, uint64_t bytes, const Result<uint64_t>& seq);
  // The evictor found key in the fast store but not the slow one: queue it.
  Status UploadMissing(const Pointer& key);
  // A Delete's work on one key; its deleting record is written.
  Status DeleteOne(const Pointer& key, bool slow_lacks);
  // Deletes the fast copy after budget_->BeginDelete said yes.
  Status EndFastDelete(const Pointer& key, size_t data_size);
  // A failed batch put key into the fast store and could not queue it: its
  // fast copy goes, unless it was there before or something holds it.
  void DropUnqueued(const Pointer& key, size_t data_size);
  // Open: deletes the log says were in progress at a crash are finished in
  // the fast store; returns the pending entries left to upload.
  std::vector<UploadEntry> FinishInterruptedDeletes(std::vector<UploadEntry> pending);
  uint64_t SizeOf(const Pointer& key, size_t data_size);
  // A blob from the slow store: when `evicted` (the fast store lacks it) by
  // the range of the pack the fast index names, else by key.
  Result<std::vector<uint8_t>> GetFromSlow(const Pointer& key, bool evicted);
  Result<uint64_t> QueueRef(std::string_view name, std::span<const uint8_t> data);
  // Settles cancelled jobs in the log.
  void SettleCancelled(const std::vector<uint64_t>& seqs);
  Status Refuse(const char* op) const;

  const std::unique_ptr<Store> fast_;
  const std::unique_ptr<Store> slow_;
  const PairedOptions options_;
  BlobInventory* const inventory_;  // fast_ as BlobInventory, or null
  DiskStore* const fast_disk_;      // fast_ as DiskStore (a packed store's loose part), or null
  PackedDiskStore* const fast_packed_;  // fast_ as PackedDiskStore (batches upload packs), or null
  std::unique_ptr<UploadLog> log_;  // null: read-only
  ErrorTally errors_;  // before the parts, which record into it
  // The parts, made by Start (once it knows whether there is a log).
  std::unique_ptr<FastBudget> budget_;
  std::unique_ptr<UploadQueue> queue_;
  std::unique_ptr<CarriedPuts> carried_;  // null: read-only
};

}  // namespace amberfs
