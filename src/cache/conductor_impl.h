// Conductor::Impl: the Conductor's internals, shared by its source files.
// Not part of the Conductor's interface: include only from src/cache.
//
//   conductor.cc  setup, errors, memory, dirty bookkeeping, reads, writes,
//                 discard, close, stats and the public face
//   writeback.cc  write-back rounds (pick, stage, submit, settle) and the
//                 background writer
//   flush.cc      fdatasync (SyncOnce), group commit, Flush and the
//                 background syncer
//
// Lock order (conductor.h states it; here in terms of the members). Every
// file keeps to it:
//   solo_sync_mu_ (only without group commit; held across SyncOnce)
//     -> io_gate_ -> Shard::mu (one shard at a time)
//       -> dirty_mu_ or unsynced_mu_ (never both), or the arena's mutex
//   bg_mu_ is never taken under a shard lock; under it only dirty_mu_ is
//   taken (the writer's look at the oldest dirty block).
//   errors_mu_, sync_commit_'s mutex and the staging pool's are leaves.
//
// Life of a block
//   absent --(read miss: LoadBlocks)--> loading --> valid/clean
//   absent --(stream read or capture miss: ReadAtUncached)--> absent
//   absent --(whole-block write)--> valid/dirty
//   valid/clean --(write)--> valid/dirty
//   valid/dirty --(write-back picked it)--> dirty + in_writeback
//       --(write OK, not rewritten meanwhile)--> clean + unsynced
//       --(write OK, rewritten meanwhile)--> dirty (written again later)
//       --(write failed)--> dirty (error recorded, retried)
//   clean + unsynced --(fdatasync OK)--> clean (evictable)
//   clean + unsynced --(fdatasync failed)--> dirty (the page cache may have
//       dropped it; written again before a later Flush can succeed)
// Only clean, synced, valid blocks that are not being written back can be
// evicted. Discard drops blocks in any state but "loading" and
// "in_writeback", which cannot exist while it holds io_gate_ exclusively.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

#include "amberfs/status.h"
#include "base/flat_u64_map.h"
#include "base/group_commit.h"
#include "cache/block_arena.h"
#include "cache/conductor.h"
#include "cache/intrusive_list.h"
#include "cache/s3fifo.h"
#include "cache/staging_pool.h"

namespace amberfs {
namespace conductor_internal {

constexpr unsigned kShardBits = 6;
constexpr unsigned kNumShards = 1u << kShardBits;
constexpr size_t kMaxErrorsKept = 64;
constexpr size_t kEvictBatch = 16;

using Clock = std::chrono::steady_clock;

struct Entry : PolicyNode {
  uint32_t slot = 0;
  bool loading = false;       // placeholder while a reader fills it from the image
  bool dirty = false;
  bool in_writeback = false;  // a copy is on its way to the image
  bool unsynced = false;      // written to the image, not yet covered by a good fdatasync
  uint64_t dirty_seq = 0;     // position in the oldest-first dirty order
  Entry* dirty_prev = nullptr;  // the dirty list, under dirty_mu_
  Entry* dirty_next = nullptr;
  Clock::time_point dirty_since;
  uint64_t generation = 0;    // bumped by every change; write-back compares it
  uint64_t wb_epoch = 0;      // sync epoch in which its last write-back completed
};

struct Shard {
  std::mutex mu;
  std::condition_variable cv;  // a load or a write-back of a block in this shard finished
  // Block -> its entry (entries live in Impl::entries_, one per arena slot).
  // Flat: several lookups per written block are on the hot path. Its array
  // is at most 64 bytes per entry it has held at once and never shrinks
  // (flat_u64_map.h); ShardOf spreads blocks evenly, so a shard holds about
  // 1/64 of the cache and the 64 arrays together about 64 bytes per cache
  // block (1.6% at 4 KiB blocks). Only block numbers picked to land in one
  // shard could grow one shard's array towards the whole cache's.
  FlatU64Map<Entry*> map;
  S3Fifo policy{1};
};

// Dirty entries in the order they became dirty. Sequence numbers only grow,
// so appending keeps the list sorted by dirty_seq: the head is the oldest.
// Intrusive, so marking a block dirty or clean allocates nothing.
using DirtyList = IntrusiveList<Entry, &Entry::dirty_prev, &Entry::dirty_next>;

}  // namespace conductor_internal

class Conductor::Impl {
  using Clock = conductor_internal::Clock;
  using DirtyList = conductor_internal::DirtyList;
  using Entry = conductor_internal::Entry;
  using Shard = conductor_internal::Shard;

 public:
  Impl(std::unique_ptr<Device> device, std::unique_ptr<BatchIO> io, const ConductorOptions& options)
      : device_(std::move(device)), io_(std::move(io)), options_(options), sync_commit_(options.sync_delay) {}

  Status Init();
  ~Impl() { StopWriter(); }

  Status ReadAt(void* buf, size_t length, uint64_t offset);
  Status ReadAtUncached(void* buf, size_t length, uint64_t offset);
  Status WriteAt(const void* buf, size_t length, uint64_t offset);
  Status Discard(uint64_t offset, uint64_t length);
  Status Flush();
  Status Close();
  std::vector<Status> Errors() const {
    std::lock_guard l(errors_mu_);
    return errors_;
  }
  ConductorStats Stats() const;
  uint64_t device_size() const { return device_->size(); }
  uint32_t block_size() const { return bs_; }

 private:
  Shard& ShardOf(uint64_t block) {
    return shards_[(block * 0x9E3779B97F4A7C15ull) >> (64 - conductor_internal::kShardBits)];
  }
  Status CheckRange(uint64_t offset, uint64_t length, const char* op) const;
  Status CheckOpen() const {
    if (closed_.load(std::memory_order_acquire)) return Status::Error(ESHUTDOWN, "conductor is closed");
    return Status::OK();
  }

  // The cached entry of block b, after waiting out a load in progress; null
  // if the block is not cached. Called with s.mu held through l.
  Entry* FindReadyLocked(Shard& s, std::unique_lock<std::mutex>& l, uint64_t b) {
    Entry** e = s.map.Find(b);
    while (e != nullptr && (*e)->loading) {
      s.cv.wait(l);
      e = s.map.Find(b);
    }
    return e == nullptr ? nullptr : *e;
  }
  // Copies [at, at+n) of block b from the cache to dst; false if not cached.
  bool CopyIfCached(uint64_t b, uint8_t* dst, uint64_t at, uint64_t n) {
    Shard& s = ShardOf(b);
    std::unique_lock l(s.mu);
    Entry* e = FindReadyLocked(s, l, b);
    if (e == nullptr) return false;
    std::memcpy(dst, arena_.data(e->slot) + at, n);
    s.policy.Touch(e);
    ++read_hits_;
    return true;
  }

  // Whether block b lies whole inside the read [offset, end).
  bool WholeIn(uint64_t b, uint64_t offset, uint64_t end) const { return b * bs_ >= offset && (b + 1) * bs_ <= end; }

  // Reads, from the image, the given absent blocks (sorted) into the cache.
  // If out != null, each block's bytes [0, bs) go to out[i] as well (read
  // there directly where out[i] is aligned for the device, 4096 at least;
  // after an error, out[i]'s contents are undefined).
  // (*loaded)[i] says whether block i was loaded by this call (false: it was
  // already cached, or being loaded by another thread, and out[i] is untouched).
  Status LoadBlocks(const std::vector<uint64_t>& blocks, const std::vector<uint8_t*>* out, std::vector<bool>* loaded);
  Status WriteBlocks(const uint8_t* buf, size_t length, uint64_t offset);
  // Under s's lock: a fresh Entry for `block` in the slot just taken, put in
  // s's map; or null, the slot given back, when the block is there already.
  // If the map's growth throws (bad_alloc), the slot goes back too.
  Entry* InsertNewEntryLocked(Shard& s, uint64_t block, uint32_t slot);
  void MakeDirtyLocked(Entry* e);
  void CleanLocked(Entry* e);
  // CleanLocked for many entries of one shard (whose lock the caller holds),
  // taking dirty_mu_ once.
  void CleanAllLocked(const std::vector<Entry*>& entries);
  void UnlinkDirty(Entry* e);
  Status AllocSlot(uint32_t* slot);
  size_t EvictSome(size_t want);
  static bool Evictable(const Entry* e) { return !e->loading && !e->dirty && !e->in_writeback && !e->unsynced; }
  Status WaitForDirtySpace();

  // ---- Write-back (writeback.cc) ----
  // Writes back up to max_bytes of the oldest dirty blocks with dirty_seq <=
  // seq_limit. *taken is how many blocks the round took in hand and wrote
  // (whether or not the write succeeded); 0 when every such block was clean
  // again or in another round's hands, or when the observer failed.
  Status WritebackRound(uint64_t max_bytes, uint64_t seq_limit, size_t* taken);
  Status WritebackUpTo(uint64_t seq_limit);
  // The steps of a round, in order; see writeback.cc.
  class RoundTicket;
  struct StagedBlocks;
  std::vector<uint64_t> PickOldestDirty(uint64_t max_bytes, uint64_t seq_limit);
  void StageBlocks(const std::vector<uint64_t>& picks, StagedBlocks* staged);
  Status MakeMarksDurable();
  // The staged blocks leave the round unwritten: still dirty, no longer pinned.
  void UnstageBlocks(const StagedBlocks& staged);
  Status SubmitStaged(const StagedBlocks& staged);
  void SettleStaged(StagedBlocks& staged, const Status& written, uint64_t failed_syncs_before);
  Status FinishRound(Status written, size_t blocks);
  void WriterLoop();
  // fn()'s Status, with bad_alloc as ENOMEM "out of memory" (a message short
  // enough to need no allocation): for the background threads and Close,
  // which no exception may leave.
  template <typename Fn>
  static Status OutOfMemoryAsError(Fn&& fn) {
    try {
      return fn();
    } catch (const std::bad_alloc&) {
      return Status::Error(ENOMEM, "out of memory");
    }
  }

  // ---- Durability (flush.cc) ----
  Status GroupSync();
  // One fdatasync, and what it means for the blocks it covered; run by one
  // thread at a time.
  Status SyncOnce();
  // What an fdatasync (synced or failed) means for the blocks it covered.
  void SettleCovered(const std::vector<uint64_t>& blocks, uint64_t epoch, bool synced);
  void SyncerLoop();

  // Wakes the space_cv_ waiters (takes bg_mu_); see space_gen_.
  void NotifySpace();
  // Waits on space_cv_ (l holds bg_mu_) until NotifySpace runs after `seen`
  // was read from space_gen_, stop, or the limit (a safety net) passes.
  void WaitSpace(std::unique_lock<std::mutex>& l, uint64_t seen, std::chrono::milliseconds limit);

  void RecordError(const Status& st);
  Status TakeFirstError();
  void StopWriter();
  // Wakes the writer. The flag keeps a wake-up that arrives while the writer
  // is busy from being lost.
  void Kick() {
    if (!kicked_.exchange(true)) {
      { std::lock_guard l(bg_mu_); }
      writer_cv_.notify_one();
    }
  }
  // Asks the syncer for an fdatasync soon (to unpin written-back blocks).
  void WantSync() {
    {
      std::lock_guard l(bg_mu_);
      sync_wanted_ = true;
    }
    syncer_cv_.notify_one();
  }

  std::unique_ptr<Device> device_;
  std::unique_ptr<BatchIO> io_;
  ConductorOptions options_;
  uint32_t bs_ = 4096;
  uint64_t dirty_max_ = 0;
  uint64_t writeback_start_ = 0;
  uint64_t sync_threshold_ = 0;

  BlockArena arena_;
  std::unique_ptr<StagingPool> staging_pool_;
  Shard shards_[conductor_internal::kNumShards];
  std::shared_mutex io_gate_;
  std::atomic<unsigned> evict_cursor_{0};

  // One Entry per arena slot, so caching a block allocates no Entry.
  std::vector<Entry> entries_;

  // Oldest-first dirty order. An entry on the list is alive: it cannot be
  // evicted while dirty, and Discard unlinks it before dropping it.
  mutable std::mutex dirty_mu_;
  DirtyList dirty_list_;
  uint64_t dirty_seq_ = 0;
  std::atomic<uint64_t> dirty_blocks_{0};
  // Write-back rounds in flight, by ticket, so a Flush can wait for every
  // round that may carry a copy of a block it must make durable.
  uint64_t next_round_ = 0;
  std::set<uint64_t> rounds_in_flight_;

  // Blocks written back since the last fdatasync started.
  std::mutex unsynced_mu_;
  std::vector<uint64_t> unsynced_list_;
  uint64_t sync_epoch_ = 1;
  uint64_t failed_syncs_ = 0;  // a write-back that spans a change of this is not trusted
  std::atomic<uint64_t> unsynced_blocks_{0};

  // Flush callers and the syncer share fdatasyncs through sync_commit_.
  // Without group commit (a benchmark baseline) each runs its own SyncOnce,
  // one at a time under solo_sync_mu_.
  GroupCommit sync_commit_;
  std::mutex solo_sync_mu_;

  // Background writer and syncer, and writers waiting for dirty space.
  // The syncer runs the background fdatasyncs in its own thread so the
  // writer keeps the image busy while the disk flushes.
  std::mutex bg_mu_;
  std::condition_variable writer_cv_;
  std::condition_variable syncer_cv_;
  std::condition_variable space_cv_;
  // Bumped (under bg_mu_) by every NotifySpace. A waiter reads it before it
  // checks its condition and sleeps only while it is unchanged, so a wake-up
  // that lands between the check and the wait is never lost.
  std::atomic<uint64_t> space_gen_{0};
  bool stop_ = false;
  bool sync_wanted_ = false;
  std::atomic<bool> kicked_{false};
  int space_waiters_ = 0;
  bool writeback_failing_ = false;
  Status last_writeback_error_;
  std::thread writer_;
  std::thread syncer_;

  mutable std::mutex errors_mu_;
  std::vector<Status> errors_;
  uint64_t errors_recorded_ = 0;  // ever; a Flush fails if this moved while it ran
  Status last_error_;

  std::atomic<bool> closed_{false};
  // Set once the image refuses an O_DIRECT write with EINVAL (SubmitStaged).
  std::atomic<bool> direct_writeback_refused_{false};

  // Counters for Stats().
  std::atomic<uint64_t> read_hits_{0}, read_misses_{0}, writeback_bytes_{0}, writeback_requests_{0},
      writeback_direct_requests_{0},
      fsyncs_{0}, flushes_{0}, write_errors_{0}, fsync_errors_{0}, discards_{0}, throttled_{0}, evictions_{0};
};


}  // namespace amberfs
