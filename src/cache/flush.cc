// Durability: fdatasync of the image and what it means for the blocks it
// covers, group commit of concurrent syncs, Flush, and the background syncer.
//
// SyncOnce is the one place an fdatasync of the image runs. A good one makes
// the written-back blocks it covers evictable (synced); a failed one makes
// every block written back since the last good one dirty again (the kernel
// may have dropped its pages) and records the error. GroupSync lets Flush
// callers and the syncer share one SyncOnce (base/group_commit.h). Flush
// writes back what was dirty when it was called, waits for the rounds in
// flight, syncs, and reports the first error recorded since the last Flush.
// Locks: see conductor_impl.h.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "base/on_exit.h"
#include "cache/conductor_impl.h"

namespace amberfs {

// One fdatasync; run by one thread at a time (see GroupSync).
Status Conductor::Impl::SyncOnce() {
  std::vector<uint64_t> covered;
  uint64_t epoch;
  {
    std::lock_guard l(unsynced_mu_);
    covered.swap(unsynced_list_);
    epoch = sync_epoch_++;
  }
  // Until the covered blocks are settled, an exception (bad_alloc in the I/O
  // layer or an error message) treats them as after a failed fdatasync:
  // dirty again, to be written and synced anew. Left unsynced and on no list,
  // they would stay pinned for good.
  OnExit redirty_covered([&] {
    {
      std::lock_guard l(unsynced_mu_);
      ++failed_syncs_;  // writes under way may have lost their pages too
    }
    SettleCovered(covered, UINT64_MAX, /*synced=*/false);
  });
  Status st = io_->Fsync(device_->fd());
  ++fsyncs_;
  if (!st.ok()) {
    ++fsync_errors_;
    st = st.Annotate("fdatasync image");
    // Writes that completed while it ran may be lost as well: take them
    // all, whatever their epoch.
    std::lock_guard l(unsynced_mu_);
    covered.reserve(covered.size() + unsynced_list_.size());  // the one allocation; nothing changed yet
    ++failed_syncs_;
    covered.insert(covered.end(), unsynced_list_.begin(), unsynced_list_.end());
    unsynced_list_.clear();
    epoch = UINT64_MAX;
  }
  redirty_covered.Dismiss();  // nothing below throws until RecordError
  SettleCovered(covered, epoch, st.ok());
  // Recorded only once the blocks are dirty again: a Flush that starts after
  // the error is on record also sees them dirty (it reads its dirty limit
  // after the error count) and writes them again; one that started before
  // sees the count change and fails.
  if (!st.ok()) RecordError(st);
  NotifySpace();
  return st;
}

// Each block of `blocks` still waiting for an fdatasync, written back before
// `epoch` began (a later write waits for a later sync), is settled: synced,
// it becomes evictable again; not, it is dirty again, since after a failed
// fdatasync the kernel may have dropped its pages: written again rather than
// trusted to a later fdatasync. Allocates nothing.
void Conductor::Impl::SettleCovered(const std::vector<uint64_t>& blocks, uint64_t epoch, bool synced) {
  for (uint64_t b : blocks) {
    Shard& s = ShardOf(b);
    std::lock_guard l(s.mu);
    Entry** found = s.map.Find(b);
    if (found == nullptr) continue;
    Entry* e = *found;
    if (!e->unsynced || e->wb_epoch > epoch) continue;  // written again after this sync began
    e->unsynced = false;
    unsynced_blocks_.fetch_sub(1, std::memory_order_relaxed);
    if (!synced) MakeDirtyLocked(e);
    // The usual moment a block becomes evictable: let the policy see it again.
    else if (Evictable(e)) s.policy.Unpark(e);
  }
}

// Flush callers and the syncer share one SyncOnce per round, which the
// leader starts after gathering for sync_delay (base/group_commit.h).
Status Conductor::Impl::GroupSync() {
  if (!options_.group_commit) {  // a sync of our own, after the running one
    std::lock_guard l(solo_sync_mu_);
    return SyncOnce();
  }
  return sync_commit_.Commit([this] { return SyncOnce(); });
}

Status Conductor::Impl::Flush() {
  AMBER_RETURN_IF_ERROR(CheckOpen());
  ++flushes_;
  uint64_t errors_before;
  {
    std::lock_guard l(errors_mu_);
    errors_before = errors_recorded_;
  }
  uint64_t limit;
  {
    std::lock_guard l(dirty_mu_);
    limit = dirty_seq_;
  }
  Status st = WritebackUpTo(limit);
  if (st.ok()) {
    // A block rewritten while an older copy was on its way to the image got
    // a sequence past our limit, but that older copy may be the data we must
    // make durable: wait for every round in flight now to land.
    uint64_t rounds;
    {
      std::lock_guard l(dirty_mu_);
      rounds = next_round_;
    }
    for (;;) {
      const uint64_t seen = space_gen_.load();
      {
        std::lock_guard l(dirty_mu_);
        if (rounds_in_flight_.empty() || *rounds_in_flight_.begin() > rounds) break;
      }
      std::unique_lock l(bg_mu_);
      WaitSpace(l, seen, std::chrono::milliseconds(50));  // each round's end notifies
    }
  }
  if (st.ok()) st = GroupSync();
  // Report the first error since the last Flush, which may be an older one
  // (a failed background write) even when this Flush's own work succeeded.
  Status first = TakeFirstError();
  if (!first.ok()) return first;
  if (!st.ok()) return st;
  // An error recorded while we ran may concern our data (a failed fdatasync
  // that re-dirtied it) even if a concurrent Flush already reported it.
  std::lock_guard l(errors_mu_);
  if (errors_recorded_ != errors_before) return last_error_.Annotate("during this flush");
  return st;
}


// The background syncer: runs the fdatasyncs the writer or a waiting writer
// asks for, and one whenever the cache is idle with written-back blocks still
// waiting, so the writer keeps the image busy while the disk flushes.
void Conductor::Impl::SyncerLoop() {
  auto backoff = std::chrono::milliseconds(0);
  std::unique_lock l(bg_mu_);
  while (!stop_) {
    // A request made while the last sync ran is served at once; after a
    // failure the backoff is waited out in full.
    if (backoff.count())
      syncer_cv_.wait_for(l, backoff);
    else
      syncer_cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return stop_ || sync_wanted_; });
    if (stop_) break;
    // Besides being asked, sync when idle: nothing dirty, but written-back
    // blocks still wait for their fdatasync (and pin cache memory).
    bool idle = dirty_blocks_.load() == 0 && unsynced_blocks_.load() > 0;
    if (!sync_wanted_ && !idle) continue;
    sync_wanted_ = false;
    l.unlock();
    // A failure is recorded for the next Flush; out of memory is a failed
    // sync too: back off, not end the daemon.
    Status st = OutOfMemoryAsError([this] { return GroupSync(); });
    l.lock();
    backoff = st.ok() ? std::chrono::milliseconds(0)
                      : std::clamp(backoff * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  }
}

}  // namespace amberfs
