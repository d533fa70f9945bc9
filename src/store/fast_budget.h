// FastBudget: what the fast store of a PairedStore holds, how many bytes of
// disk that takes, and the evictor that keeps it under
// options.fast_budget_bytes. One of the PairedStore's parts (paired_store.h).
//
// Every blob the fast store holds has an entry: its disk bytes, the holds on
// it (a Put in progress, an upload pending), and whether it is known to be in
// the slow store (uploaded, or read from it, in this process). A blob with no
// hold is evictable; evictable blobs are ordered by last use in an LruCache.
//
// Deletes (BeginDelete ... EndDelete around the fast store's Delete): a Put
// of the key meanwhile waits until the delete is done, as for an eviction;
// a Put already in progress owns the fast copy, so it is not deleted (the
// delete comes first, the Put after it).
//
// Eviction (with a budget): while the bytes are over it, a background thread
// takes the least recently used evictable blob. A blob known to be in the
// slow store is evicted from the fast one (Store::Evict: a packed store
// keeps its index entry and frees the pack once all its blobs are evicted,
// so the budget's bytes run ahead of the disk by at most the packs partly
// evicted); a Put of that key meanwhile waits until the eviction is done. A blob not known to be there (found at Open) is
// first looked up in the slow store, without holding it (a Put of it must
// never wait on the slow store): if there, it is evicted next time round; if
// not, upload_missing queues its upload (it stays held until that is
// settled) instead of dropping the only copy; if the lookup fails, or there
// is no hook (a read-only store), it goes to the back of the line. Errors are
// recorded in the ErrorTally, followed by a pause of 10 x
// options.retry_initial.
//
// Sizes come from the caller: BlobInventory's disk sizes, or the data size
// rounded up to 4 KiB.
//
// Thread-safety: every method is safe for concurrent calls. mu_ is never held
// across a call into the stores or a hook; under it only the ErrorTally's
// lock (a leaf) is taken. Stop (or destruction) waits for the evictor to
// finish its step.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "base/lru.h"
#include "store/disk_store.h"
#include "store/error_tally.h"
#include "store/paired_options.h"
#include "store/store.h"

namespace amberfs {

class FastBudget {
 public:
  // Queues an upload of a blob the slow store lacks (see above); null: keep
  // such blobs.
  using UploadMissing = std::function<Status(const Pointer& key)>;

  FastBudget(Store& fast, Store& slow, const PairedOptions& options, ErrorTally& errors, UploadMissing upload_missing);
  ~FastBudget();
  FastBudget(const FastBudget&) = delete;
  FastBudget& operator=(const FastBudget&) = delete;

  // At open, before StartEvictor: an upload of key is pending (a hold), and
  // what the fast store holds, oldest first.
  void HoldForUpload(const Pointer& key);
  void AddFound(const BlobInfo& info);
  // Starts the evictor if there is a budget.
  void StartEvictor();
  // Stops the evictor; a HoldForPut waiting on an eviction returns. Idempotent.
  void Stop();

  // A Put's hold on key: waits out an eviction or delete of key in
  // progress, then keeps key from eviction until SettlePut. Returns whether
  // the key was known already (held, or in the fast store).
  bool HoldForPut(const Pointer& key);
  // Ends a Put's hold: accounts the blob's `bytes` (0: none written), then,
  // when `queued`, the hold passes on to its upload; else it is released.
  void SettlePut(const Pointer& key, uint64_t bytes, bool queued);
  // Releases an upload's hold; in_slow: the blob is known to be there now.
  // `UploadSettled` also wakes the evictor if over budget; `ReleaseHold`
  // does not (the caller is about to change the blob again).
  void UploadSettled(const Pointer& key, bool in_slow);
  void ReleaseHold(const Pointer& key);
  // The upload of key was abandoned (the fast copy is gone): its hold ends
  // and the entry is dropped with the last hold.
  void UploadLost(const Pointer& key);

  // Whether a Put or an upload of key is pending.
  bool IsHeld(const Pointer& key) const;
  // key was read: it is the most recently used now.
  void Touch(const Pointer& key);
  // key was fetched from the slow store into the fast one (`bytes` of disk).
  void KeepFetched(const Pointer& key, uint64_t bytes);
  // Before deleting key's fast copy: false if that must not happen (a Put of
  // it is in progress, or, with only_if_unheld, anything holds it); else a
  // Put of it waits from now until EndDelete. `deleted`: the fast copy is
  // gone; else it is accounted again with `bytes` (if it had none).
  bool BeginDelete(const Pointer& key, bool only_if_unheld);
  void EndDelete(const Pointer& key, bool deleted, uint64_t bytes);

  // Fills in fast_bytes and evictions.
  void ReportStats(PairedStats* stats) const;

 private:
  struct FastBlob {
    uint64_t bytes = 0;
    int holds = 0;  // upload jobs and Puts in progress for this key
    int puts = 0;   // of those, Puts
    int deleting = 0;  // Deletes in progress
    bool evicting = false;
    bool in_slow = false;  // known to be in the slow store
  };
  using Blobs = std::unordered_map<Pointer, FastBlob>;
  using EvictionOrder = LruCache<Pointer, std::monostate>;  // evictable blobs; FastBlob has their state

  void AccountLocked(FastBlob& fb, uint64_t bytes);
  // Forgets a blob whose fast copy is gone.
  void DropLocked(Blobs::iterator it);
  void MarkEvictableLocked(const Pointer& key, uint64_t bytes, bool in_slow);
  void ReleaseHoldLocked(const Pointer& key, bool in_slow);
  void WakeEvictorIfOverLocked();
  void EvictorLoop();
  // One step of the evictor on the oldest evictable blob: when it is not known
  // to be in the slow store, looks it up there (or queues its upload); else
  // deletes it here. Returns whether to pause before the next step.
  bool CheckSlowCopyLocked(std::unique_lock<std::mutex>& lock, const Pointer& key);
  bool EvictLocked(std::unique_lock<std::mutex>& lock, const Pointer& key);

  Store& fast_;
  Store& slow_;
  const PairedOptions options_;
  ErrorTally& errors_;
  const UploadMissing upload_missing_;

  mutable std::mutex mu_;
  std::condition_variable evict_cv_;    // over budget, or stop
  std::condition_variable evicted_cv_;  // an eviction ended, or stop
  bool stop_ = false;
  Blobs blobs_;
  EvictionOrder evictable_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
  std::thread evictor_;
};

}  // namespace amberfs
