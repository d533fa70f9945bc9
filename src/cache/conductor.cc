// The Conductor: see include/amberfs/conductor.h for the contract and the
// lock order. This file keeps to that order everywhere:
//   io_gate_ -> Shard::mu -> {dirty_mu_, unsynced_mu_, arena_mu_}
// and bg_mu_ and errors_mu_ are leaves, held with nothing else except where
// noted. solo_sync_mu_ (only without group commit) comes before all of them.
//
// Life of a block
//   absent --(read miss: LoadBlocks)--> loading --> valid/clean
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
#include "cache/conductor.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "amberfs/log.h"
#include "base/aligned_buffer.h"
#include "base/group_commit.h"
#include "cache/s3fifo.h"

namespace amberfs {
namespace {

constexpr unsigned kShardBits = 6;
constexpr unsigned kNumShards = 1u << kShardBits;
constexpr size_t kMaxErrorsKept = 64;
constexpr size_t kEvictBatch = 16;
// The largest single write request of a write-back round. Longer runs of
// adjacent blocks go as several requests in the same batch: measured on a
// 2-core VM, 8 MiB buffered pwrites cost the kernel about twice the CPU per
// byte of 256 KiB ones (its page-cache copy fell from 47% to 24% of the
// samples) and sequential write-back ran 0.7x -> 0.8-1.0x of plain pwrite;
// O_DIRECT write-back was the same either way.
constexpr size_t kMaxWriteRequest = 256 << 10;

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
  std::unordered_map<uint64_t, Entry*> map;  // entries live in Impl::entries_, one per arena slot
  S3Fifo policy{1};
};

// Dirty entries in the order they became dirty. Sequence numbers only grow,
// so appending keeps the list sorted by dirty_seq: the head is the oldest.
// Intrusive, so marking a block dirty or clean allocates nothing.
class DirtyList {
 public:
  Entry* head() const { return head_; }
  void Append(Entry* e) {
    e->dirty_prev = tail_;
    e->dirty_next = nullptr;
    if (tail_) tail_->dirty_next = e; else head_ = e;
    tail_ = e;
  }
  void Unlink(Entry* e) {
    if (e->dirty_prev) e->dirty_prev->dirty_next = e->dirty_next; else head_ = e->dirty_next;
    if (e->dirty_next) e->dirty_next->dirty_prev = e->dirty_prev; else tail_ = e->dirty_prev;
    e->dirty_prev = e->dirty_next = nullptr;
  }

 private:
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
};

// Fixed-size block buffers carved out of one anonymous mapping, so the cache's
// memory is bounded by construction and buffers are page-aligned for O_DIRECT.
class BlockArena {
 public:
  BlockArena() = default;
  ~BlockArena() {
    if (base_ != nullptr) munmap(base_, bytes_);
  }
  Status Init(size_t blocks, size_t block_size) {
    bytes_ = blocks * block_size;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap block cache");
    base_ = static_cast<uint8_t*>(p);
    block_size_ = block_size;
    free_.reserve(blocks);
    for (size_t i = blocks; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
    capacity_ = blocks;
    return Status::OK();
  }
  bool Take(uint32_t* slot) {
    std::lock_guard l(mu_);
    if (free_.empty()) return false;
    *slot = free_.back();
    free_.pop_back();
    return true;
  }
  void Give(uint32_t slot) {
    std::lock_guard l(mu_);
    free_.push_back(slot);
  }
  size_t used() const {
    std::lock_guard l(mu_);
    return capacity_ - free_.size();
  }
  size_t capacity() const { return capacity_; }
  uint8_t* data(uint32_t slot) const { return base_ + size_t{slot} * block_size_; }

 private:
  mutable std::mutex mu_;
  std::vector<uint32_t> free_;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  size_t block_size_ = 0;
  size_t capacity_ = 0;
};

// Write-back staging buffers, kept for reuse: a fresh multi-megabyte
// allocation per round costs page faults on every round.
class StagingPool {
 public:
  StagingPool(size_t bytes, size_t alignment) : bytes_(bytes), alignment_(alignment) {}
  // A buffer of at least `size` bytes (uninitialized).
  AlignedBuffer Get(size_t size) {
    if (size <= bytes_) {
      std::lock_guard l(mu_);
      if (!free_.empty()) {
        AlignedBuffer b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    return AlignedBuffer::Uninitialized(std::max(size, bytes_), alignment_);
  }
  void Put(AlignedBuffer b) {
    std::lock_guard l(mu_);
    if (b.size() == bytes_ && free_.size() < 2) free_.push_back(std::move(b));
  }

 private:
  const size_t bytes_, alignment_;
  std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

class Conductor::Impl {
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
  Shard& ShardOf(uint64_t block) { return shards_[(block * 0x9E3779B97F4A7C15ull) >> (64 - kShardBits)]; }
  Status CheckRange(uint64_t offset, uint64_t length, const char* op) const;
  Status CheckOpen() const {
    if (closed_.load(std::memory_order_acquire)) return Status::Error(ESHUTDOWN, "conductor is closed");
    return Status::OK();
  }

  // The cached entry of block b, after waiting out a load in progress; null
  // if the block is not cached. Called with s.mu held through l.
  Entry* FindReadyLocked(Shard& s, std::unique_lock<std::mutex>& l, uint64_t b) {
    auto it = s.map.find(b);
    while (it != s.map.end() && it->second->loading) {
      s.cv.wait(l);
      it = s.map.find(b);
    }
    return it == s.map.end() ? nullptr : it->second;
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

  // Reads, from the image, the given absent blocks (sorted) into the cache.
  // If out != null, copies each block's bytes [0, bs) to out[i] as well.
  // (*loaded)[i] says whether block i was loaded by this call (false: it was
  // already cached, or being loaded by another thread, and out[i] is untouched).
  Status LoadBlocks(const std::vector<uint64_t>& blocks, const std::vector<uint8_t*>* out, std::vector<bool>* loaded);
  Status WriteBlocks(const uint8_t* buf, size_t length, uint64_t offset);
  // The Entry of a freshly taken slot, reset, for block `block`.
  Entry* NewEntry(uint32_t slot, uint64_t block) {
    Entry* e = &entries_[slot];
    *e = Entry{};
    e->key = block;
    e->slot = slot;
    return e;
  }
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

  // Writes back up to max_bytes of the oldest dirty blocks with dirty_seq <=
  // seq_limit. *progress is how many blocks became clean or were already
  // being written by someone else.
  Status WritebackRound(uint64_t max_bytes, uint64_t seq_limit, size_t* taken);
  Status WritebackUpTo(uint64_t seq_limit);
  Status GroupSync();
  // Wakes the space_cv_ waiters (takes bg_mu_); see space_gen_.
  void NotifySpace();
  // Waits on space_cv_ (l holds bg_mu_) until NotifySpace runs after `seen`
  // was read from space_gen_, stop, or the limit (a safety net) passes.
  void WaitSpace(std::unique_lock<std::mutex>& l, uint64_t seen, std::chrono::milliseconds limit);
  Status SyncOnce();

  void RecordError(const Status& st);
  Status TakeFirstError();
  void WriterLoop();
  void SyncerLoop();
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
  Shard shards_[kNumShards];
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

  // Counters for Stats().
  std::atomic<uint64_t> read_hits_{0}, read_misses_{0}, writeback_bytes_{0}, writeback_requests_{0},
      fsyncs_{0}, flushes_{0}, write_errors_{0}, fsync_errors_{0}, discards_{0}, throttled_{0}, evictions_{0};
};

Status Conductor::Impl::Init() {
  bs_ = options_.block_size;
  if (bs_ < 512 || (bs_ & (bs_ - 1)) != 0)
    return Status::Error(EINVAL, "block size " + std::to_string(bs_) + " is not a power of two of at least 512");
  if (device_->direct() && bs_ % device_->alignment() != 0)
    return Status::Error(EINVAL, "block size " + std::to_string(bs_) + " is not a multiple of the device's O_DIRECT alignment " +
                                     std::to_string(device_->alignment()));
  if (device_->size() % bs_ != 0)
    return Status::Error(EINVAL, "device size " + std::to_string(device_->size()) + " is not a multiple of the block size " +
                                     std::to_string(bs_));
  uint64_t blocks = options_.cache_bytes / bs_;
  if (blocks < 16)
    return Status::Error(EINVAL, "cache of " + std::to_string(options_.cache_bytes) + " bytes holds fewer than 16 blocks");
  if (blocks > UINT32_MAX) return Status::Error(EINVAL, "cache too large");
  dirty_max_ = options_.dirty_max_bytes ? options_.dirty_max_bytes : options_.cache_bytes / 2;
  // Dirty blocks can never fill the cache: reads need room too.
  dirty_max_ = std::clamp<uint64_t>(dirty_max_, 4ull * bs_, blocks * bs_ * 3 / 4);
  writeback_start_ = static_cast<uint64_t>(static_cast<double>(dirty_max_) * options_.writeback_start_ratio);
  // Written-back blocks stay pinned until an fdatasync covers them; sync
  // once they reach half the dirty cap, so clean blocks stay plentiful.
  sync_threshold_ = std::max<uint64_t>(dirty_max_ / 2, bs_);
  AMBER_RETURN_IF_ERROR(arena_.Init(blocks, bs_));
  entries_.resize(blocks);
  options_.writeback_batch_bytes = std::max<uint64_t>(options_.writeback_batch_bytes / bs_, 1) * bs_;
  staging_pool_ = std::make_unique<StagingPool>(options_.writeback_batch_bytes, std::max<size_t>(device_->alignment(), 4096));
  for (Shard& s : shards_) s.policy.SetCapacity(blocks / kNumShards + 1);
  writer_ = std::thread([this] { WriterLoop(); });
  syncer_ = std::thread([this] { SyncerLoop(); });
  return Status::OK();
}

Status Conductor::Impl::CheckRange(uint64_t offset, uint64_t length, const char* op) const {
  if (!RangeInside(offset, length, device_->size()))
    return Status::Error(EINVAL, std::string(op) + " of " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                                     " leaves the device (size " + std::to_string(device_->size()) + ")");
  return Status::OK();
}

// ---- Errors ---------------------------------------------------------------

void Conductor::Impl::RecordError(const Status& st) {
  LOG_ERROR("%s", st.ToString().c_str());
  std::lock_guard l(errors_mu_);
  if (errors_.size() < kMaxErrorsKept) errors_.push_back(st);
  ++errors_recorded_;
  last_error_ = st;
}

Status Conductor::Impl::TakeFirstError() {
  std::lock_guard l(errors_mu_);
  if (errors_.empty()) return Status::OK();
  Status first = errors_.front();
  if (errors_.size() > 1)
    first = Status::Error(first.code(), first.message() + " (and " + std::to_string(errors_.size() - 1) + " more errors)");
  errors_.clear();
  return first;
}

// ---- Memory ---------------------------------------------------------------

size_t Conductor::Impl::EvictSome(size_t want) {
  size_t evicted = 0;
  for (unsigned tries = 0; tries < kNumShards && evicted < want; ++tries) {
    Shard& s = shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) % kNumShards];
    std::lock_guard l(s.mu);
    while (evicted < want) {
      PolicyNode* victim = s.policy.Evict([](PolicyNode* n) { return Evictable(static_cast<Entry*>(n)); });
      if (victim == nullptr) break;
      uint32_t slot = static_cast<Entry*>(victim)->slot;
      s.map.erase(victim->key);
      arena_.Give(slot);  // only now: the slot's Entry may be reused at once
      ++evicted;
    }
  }
  evictions_ += evicted;
  return evicted;
}

void Conductor::Impl::NotifySpace() {
  {
    std::lock_guard l(bg_mu_);
    space_gen_.fetch_add(1);
  }
  space_cv_.notify_all();
}

void Conductor::Impl::WaitSpace(std::unique_lock<std::mutex>& l, uint64_t seen, std::chrono::milliseconds limit) {
  space_cv_.wait_for(l, limit, [&] { return space_gen_.load() != seen || stop_; });
}

// Called with no shard lock held (it evicts across shards).
Status Conductor::Impl::AllocSlot(uint32_t* slot) {
  for (int round = 0;; ++round) {
    const uint64_t seen = space_gen_.load();
    if (arena_.Take(slot)) return Status::OK();
    if (EvictSome(kEvictBatch) > 0) continue;
    // Everything is pinned (dirty, being written, or waiting for fdatasync):
    // the writer has to clean something first.
    std::unique_lock l(bg_mu_);
    if (writeback_failing_ && round > 0)
      return last_writeback_error_.Annotate("no clean cache block available");
    ++space_waiters_;
    sync_wanted_ = true;
    kicked_ = true;
    writer_cv_.notify_one();
    syncer_cv_.notify_one();
    WaitSpace(l, seen, std::chrono::milliseconds(50));
    --space_waiters_;
  }
}

Status Conductor::Impl::WaitForDirtySpace() {
  if ((dirty_blocks_.load(std::memory_order_relaxed) + 1) * bs_ <= dirty_max_) return Status::OK();
  ++throttled_;
  std::unique_lock l(bg_mu_);
  ++space_waiters_;
  Status result;
  for (;;) {
    const uint64_t seen = space_gen_.load();
    if ((dirty_blocks_.load() + 1) * bs_ <= dirty_max_ || stop_) break;
    if (writeback_failing_) {
      result = last_writeback_error_.Annotate("dirty cache is full and write-back is failing");
      break;
    }
    kicked_ = true;  // every round of waiting asks the writer again
    writer_cv_.notify_one();
    WaitSpace(l, seen, std::chrono::milliseconds(50));
  }
  --space_waiters_;
  return result;
}

void Conductor::Impl::MakeDirtyLocked(Entry* e) {
  if (e->dirty) return;
  e->dirty = true;
  std::lock_guard l(dirty_mu_);
  e->dirty_seq = ++dirty_seq_;
  e->dirty_since = Clock::now();
  dirty_list_.Append(e);
  dirty_blocks_.fetch_add(1, std::memory_order_relaxed);
}

// Caller holds e's shard lock and dirty_mu_.
void Conductor::Impl::UnlinkDirty(Entry* e) {
  if (!e->dirty) return;
  e->dirty = false;
  dirty_list_.Unlink(e);
  dirty_blocks_.fetch_sub(1, std::memory_order_relaxed);
}

void Conductor::Impl::CleanLocked(Entry* e) {
  if (!e->dirty) return;
  std::lock_guard l(dirty_mu_);
  UnlinkDirty(e);
}

void Conductor::Impl::CleanAllLocked(const std::vector<Entry*>& entries) {
  if (entries.empty()) return;
  std::lock_guard l(dirty_mu_);
  for (Entry* e : entries) UnlinkDirty(e);
}

// ---- Reads ----------------------------------------------------------------

Status Conductor::Impl::LoadBlocks(const std::vector<uint64_t>& blocks, const std::vector<uint8_t*>* out,
                                   std::vector<bool>* loaded) {
  if (loaded) loaded->assign(blocks.size(), false);
  std::shared_lock gate(io_gate_);
  // Claim a placeholder per block; skip blocks someone else brought in meanwhile.
  std::vector<uint64_t> mine;
  std::vector<size_t> mine_index;  // position in `blocks`
  std::vector<Entry*> placeholders;
  auto release_placeholders = [&] {
    for (size_t i = 0; i < mine.size(); ++i) {
      Shard& s = ShardOf(mine[i]);
      {
        std::lock_guard l(s.mu);
        auto it = s.map.find(mine[i]);
        uint32_t slot = it->second->slot;
        s.map.erase(it);
        arena_.Give(slot);
      }
      s.cv.notify_all();
    }
  };
  for (size_t i = 0; i < blocks.size(); ++i) {
    uint32_t slot;
    if (!mine.empty()) {
      // Never wait for space while holding placeholders: readers that each
      // hold some and wait for more could fill the cache and wait forever.
      // Load what we have; the caller comes back for the rest.
      if (!arena_.Take(&slot) && !(EvictSome(kEvictBatch) > 0 && arena_.Take(&slot))) break;
    } else {
      Status st = AllocSlot(&slot);
      if (!st.ok()) {
        release_placeholders();
        return st;
      }
    }
    Shard& s = ShardOf(blocks[i]);
    std::lock_guard l(s.mu);
    if (s.map.count(blocks[i])) {
      arena_.Give(slot);
      continue;  // the caller's retry loop will find it
    }
    Entry* e = NewEntry(slot, blocks[i]);
    e->loading = true;
    placeholders.push_back(e);
    s.map.emplace(blocks[i], e);
    mine.push_back(blocks[i]);
    mine_index.push_back(i);
  }
  if (mine.empty()) return Status::OK();

  // Coalesce adjacent blocks into one read through a staging buffer; a lone
  // block is read straight into its slot.
  std::vector<ReadOp> ops;
  std::vector<std::pair<size_t, size_t>> runs;  // [first, last] index into `mine`
  for (size_t i = 0; i < mine.size();) {
    size_t j = i;
    while (j + 1 < mine.size() && mine[j + 1] == mine[j] + 1) ++j;
    runs.push_back({i, j});
    i = j + 1;
  }
  std::vector<AlignedBuffer> staging;
  for (auto [first, last] : runs) {
    size_t n = last - first + 1;
    if (n == 1) {
      ops.push_back({arena_.data(placeholders[first]->slot), bs_, mine[first] * bs_});
    } else {
      staging.emplace_back(n * bs_, std::max<size_t>(device_->alignment(), 4096));
      ops.push_back({staging.back().data(), n * bs_, mine[first] * bs_});
    }
  }
  Status st = io_->PreadBatch(device_->fd(), ops);
  read_misses_ += mine.size();
  if (!st.ok()) {
    release_placeholders();
    return st.Annotate("read image");
  }
  size_t staged = 0;
  for (auto [first, last] : runs) {
    if (last > first) {
      for (size_t k = first; k <= last; ++k)
        std::memcpy(arena_.data(placeholders[k]->slot), staging[staged].data() + (k - first) * bs_, bs_);
      ++staged;
    }
  }
  for (size_t i = 0; i < mine.size(); ++i) {
    Shard& s = ShardOf(mine[i]);
    {
      std::lock_guard l(s.mu);
      Entry* e = placeholders[i];
      if (out) std::memcpy((*out)[mine_index[i]], arena_.data(e->slot), bs_);
      if (loaded) (*loaded)[mine_index[i]] = true;
      e->loading = false;
      s.policy.Insert(e);
    }
    s.cv.notify_all();
  }
  return Status::OK();
}

Status Conductor::Impl::ReadAt(void* buf, size_t length, uint64_t offset) {
  AMBER_RETURN_IF_ERROR(CheckOpen());
  AMBER_RETURN_IF_ERROR(CheckRange(offset, length, "read"));
  uint8_t* dst = static_cast<uint8_t*>(buf);
  const uint64_t end = offset + length;
  // Blocks are taken in groups so a huge read never pins more than a slice of the cache.
  const size_t group = std::max<size_t>(1, std::min<size_t>(256, arena_.capacity() / 8));
  uint64_t block = offset / bs_;
  while (block * bs_ < end) {
    std::vector<uint64_t> missing;
    uint64_t group_end = std::min<uint64_t>(block + group, (end + bs_ - 1) / bs_);
    for (uint64_t b = block; b < group_end; ++b) {
      uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
      if (!CopyIfCached(b, dst + (lo - offset), lo - b * bs_, hi - lo)) missing.push_back(b);
    }
    // Load what is missing. A block another thread brought in meanwhile is
    // left to that thread and read from the cache; if it is gone again by
    // then, we load it ourselves on the next pass.
    while (!missing.empty()) {
      AlignedBuffer bounce = AlignedBuffer::Uninitialized(missing.size() * bs_, 64);
      std::vector<uint8_t*> outs;
      std::vector<bool> loaded;
      for (size_t i = 0; i < missing.size(); ++i) outs.push_back(bounce.data() + i * bs_);
      AMBER_RETURN_IF_ERROR(LoadBlocks(missing, &outs, &loaded));
      std::vector<uint64_t> again;
      for (size_t i = 0; i < missing.size(); ++i) {
        uint64_t b = missing[i];
        uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
        if (loaded[i]) {  // the image's bytes at load time: a valid point for this read
          std::memcpy(dst + (lo - offset), outs[i] + (lo - b * bs_), hi - lo);
        } else if (!CopyIfCached(b, dst + (lo - offset), lo - b * bs_, hi - lo)) {
          again.push_back(b);
        }
      }
      missing.swap(again);
    }
    block = group_end;
  }
  return Status::OK();
}

// A block absent from the cache is clean: its bytes in the image are current
// (dirty blocks stay cached until written back). So the absent blocks are
// read from the image with no placeholder; a block that appears in the cache
// meanwhile (written, or loaded by another reader) is copied from there
// instead, as that copy is at least as new. Either value is a valid result
// for a read that races a write.
Status Conductor::Impl::ReadAtUncached(void* buf, size_t length, uint64_t offset) {
  AMBER_RETURN_IF_ERROR(CheckOpen());
  AMBER_RETURN_IF_ERROR(CheckRange(offset, length, "read"));
  uint8_t* dst = static_cast<uint8_t*>(buf);
  const uint64_t end = offset + length;
  constexpr uint64_t kGroup = 256;  // blocks per pass, bounding the staging memory
  const size_t align = std::max<size_t>(device_->alignment(), 4096);
  for (uint64_t block = offset / bs_; block * bs_ < end;) {
    const uint64_t group_end = std::min<uint64_t>(block + kGroup, (end + bs_ - 1) / bs_);
    std::vector<uint64_t> missing;
    for (uint64_t b = block; b < group_end; ++b) {
      uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
      if (!CopyIfCached(b, dst + (lo - offset), lo - b * bs_, hi - lo)) missing.push_back(b);
    }
    if (!missing.empty()) {
      // One staging buffer for the group; runs of adjacent blocks are one read each.
      AlignedBuffer staging = AlignedBuffer::Uninitialized((group_end - block) * bs_, align);
      std::vector<ReadOp> ops;
      for (size_t i = 0; i < missing.size();) {
        size_t j = i;
        while (j + 1 < missing.size() && missing[j + 1] == missing[j] + 1) ++j;
        ops.push_back({staging.data() + (missing[i] - block) * bs_, (j - i + 1) * bs_, missing[i] * bs_});
        i = j + 1;
      }
      {
        std::shared_lock gate(io_gate_);  // as LoadBlocks: not across a Discard's punch
        AMBER_RETURN_IF_ERROR(io_->PreadBatch(device_->fd(), ops).Annotate("read image"));
      }
      read_misses_ += missing.size();
      for (uint64_t b : missing) {
        uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
        if (!CopyIfCached(b, dst + (lo - offset), lo - b * bs_, hi - lo))
          std::memcpy(dst + (lo - offset), staging.data() + (b - block) * bs_ + (lo - b * bs_), hi - lo);
      }
    }
    block = group_end;
  }
  return Status::OK();
}

// ---- Writes ---------------------------------------------------------------

Status Conductor::Impl::WriteAt(const void* buf, size_t length, uint64_t offset) {
  AMBER_RETURN_IF_ERROR(CheckOpen());
  AMBER_RETURN_IF_ERROR(CheckRange(offset, length, "write"));
  if (length == 0) return Status::OK();
  if (options_.observer) AMBER_RETURN_IF_ERROR(options_.observer->WillChange(offset, length));
  return WriteBlocks(static_cast<const uint8_t*>(buf), length, offset);
}

Status Conductor::Impl::WriteBlocks(const uint8_t* src, size_t length, uint64_t offset) {
  const uint64_t end = offset + length;
  for (uint64_t b = offset / bs_; b * bs_ < end; ++b) {
    const uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
    const bool whole = (hi - lo) == bs_;
    Shard& s = ShardOf(b);
    for (;;) {
      AMBER_RETURN_IF_ERROR(WaitForDirtySpace());
      std::unique_lock l(s.mu);
      if (Entry* e = FindReadyLocked(s, l, b)) {
        std::memcpy(arena_.data(e->slot) + (lo - b * bs_), src + (lo - offset), hi - lo);
        ++e->generation;
        // A block rewritten while its older copy is on the way to the image
        // counts as newly dirty, so a Flush that began before this write
        // waits for it and one that began after does not chase it forever.
        if (e->in_writeback) CleanLocked(e);
        MakeDirtyLocked(e);
        s.policy.Touch(e);
        break;
      }
      l.unlock();
      if (!whole) {
        // Read-modify-write: bring the block in, then loop to modify it.
        AMBER_RETURN_IF_ERROR(LoadBlocks({b}, nullptr, nullptr));
        continue;
      }
      uint32_t slot;
      AMBER_RETURN_IF_ERROR(AllocSlot(&slot));
      l.lock();
      if (s.map.count(b)) {  // someone else created it meanwhile; modify theirs
        arena_.Give(slot);
        continue;
      }
      Entry* e = NewEntry(slot, b);
      std::memcpy(arena_.data(slot), src + (lo - offset), bs_);
      s.map.emplace(b, e);
      s.policy.Insert(e);
      MakeDirtyLocked(e);
      break;
    }
  }
  if (dirty_blocks_.load(std::memory_order_relaxed) * bs_ >= writeback_start_) Kick();
  return Status::OK();
}

// ---- Discard --------------------------------------------------------------

Status Conductor::Impl::Discard(uint64_t offset, uint64_t length) {
  AMBER_RETURN_IF_ERROR(CheckOpen());
  AMBER_RETURN_IF_ERROR(CheckRange(offset, length, "discard"));
  if (length == 0) return Status::OK();
  if (options_.observer) AMBER_RETURN_IF_ERROR(options_.observer->WillChange(offset, length));
  ++discards_;
  const uint64_t end = offset + length;
  const uint64_t first_whole = (offset + bs_ - 1) / bs_, end_whole = end / bs_;
  // Partial blocks at the ends are zeroed through the cache.
  static const std::vector<uint8_t> zeros(65536, 0);
  auto zero_range = [&](uint64_t lo, uint64_t hi) -> Status {
    for (uint64_t at = lo; at < hi;) {
      uint64_t n = std::min<uint64_t>(hi - at, zeros.size());
      AMBER_RETURN_IF_ERROR(WriteBlocks(zeros.data(), n, at));
      at += n;
    }
    return Status::OK();
  };
  if (first_whole >= end_whole) return zero_range(offset, end);  // inside one block
  AMBER_RETURN_IF_ERROR(zero_range(offset, first_whole * bs_));
  AMBER_RETURN_IF_ERROR(zero_range(end_whole * bs_, end));

  if (options_.observer) AMBER_RETURN_IF_ERROR(options_.observer->BeforeImageWrite());
  // Exclusive: no block of the range is being loaded or written back, so once
  // its cached copies are gone nothing can bring the old bytes back.
  std::unique_lock gate(io_gate_);
  auto drop = [&](Shard& s, std::unordered_map<uint64_t, Entry*>::iterator it) {
    Entry* e = it->second;
    CleanLocked(e);
    if (e->unsynced) {
      e->unsynced = false;
      unsynced_blocks_.fetch_sub(1, std::memory_order_relaxed);
    }
    s.policy.Remove(e);
    uint32_t slot = e->slot;
    auto next = s.map.erase(it);
    arena_.Give(slot);
    return next;
  };
  const uint64_t nblocks = end_whole - first_whole;
  // Punch first: if it fails, the cache still holds the newest data and the
  // discard changed nothing. Under the exclusive gate the order is
  // otherwise invisible.
  Status st = device_->Discard(first_whole * bs_, nblocks * bs_);
  if (!st.ok()) {
    RecordError(st);
    return st;
  }
  if (nblocks <= arena_.capacity()) {
    for (uint64_t b = first_whole; b < end_whole; ++b) {
      Shard& s = ShardOf(b);
      std::lock_guard l(s.mu);
      auto it = s.map.find(b);
      if (it != s.map.end()) drop(s, it);
    }
  } else {  // a range larger than the cache: sweep the cache instead of the range
    for (Shard& s : shards_) {
      std::lock_guard l(s.mu);
      for (auto it = s.map.begin(); it != s.map.end();) {
        if (it->first >= first_whole && it->first < end_whole) it = drop(s, it);
        else ++it;
      }
    }
  }
  return Status::OK();
}

// ---- Write-back -----------------------------------------------------------

Status Conductor::Impl::WritebackRound(uint64_t max_bytes, uint64_t seq_limit, size_t* taken_out) {
  *taken_out = 0;
  std::vector<uint64_t> picks;
  uint64_t ticket;
  {
    std::lock_guard l(dirty_mu_);
    ticket = ++next_round_;
    rounds_in_flight_.insert(ticket);
  }
  struct RoundDone {
    Impl* self;
    uint64_t ticket;
    ~RoundDone() {
      {
        std::lock_guard l(self->dirty_mu_);
        self->rounds_in_flight_.erase(ticket);
      }
      self->NotifySpace();
    }
  } round_done{this, ticket};
  {
    std::lock_guard l(dirty_mu_);
    size_t max_blocks = std::max<uint64_t>(1, max_bytes / bs_);
    for (Entry* e = dirty_list_.head(); e != nullptr && e->dirty_seq <= seq_limit && picks.size() < max_blocks; e = e->dirty_next)
      picks.push_back(e->key);
  }
  if (picks.empty()) return Status::OK();
  std::sort(picks.begin(), picks.end());

  std::shared_lock gate(io_gate_);
  struct Staging {
    StagingPool& pool;
    AlignedBuffer buffer;
    ~Staging() { pool.Put(std::move(buffer)); }
  } staged{*staging_pool_, staging_pool_->Get(picks.size() * bs_)};
  AlignedBuffer& staging = staged.buffer;
  std::vector<uint64_t> taken;
  std::vector<uint64_t> generations;
  for (uint64_t b : picks) {
    Shard& s = ShardOf(b);
    std::lock_guard l(s.mu);
    auto it = s.map.find(b);
    if (it == s.map.end()) continue;  // discarded since it was picked
    Entry* e = it->second;
    if (!e->dirty || e->in_writeback) continue;
    std::memcpy(staging.data() + taken.size() * bs_, arena_.data(e->slot), bs_);
    e->in_writeback = true;
    taken.push_back(b);
    generations.push_back(e->generation);
  }
  if (taken.empty()) return Status::OK();
  if (options_.observer) {
    // After staging, so every change in the staged copies was announced by
    // WillChange before this call and its mark is made durable by it.
    Status st = options_.observer->BeforeImageWrite();
    if (!st.ok()) {
      for (uint64_t b : taken) {
        Shard& s = ShardOf(b);
        {
          std::lock_guard l(s.mu);
          s.map.find(b)->second->in_writeback = false;
        }
        s.cv.notify_all();
      }
      st = st.Annotate("make change marks durable before write-back");
      ++write_errors_;
      RecordError(st);
      return st;
    }
  }
  uint64_t failed_syncs_before;
  {
    std::lock_guard u(unsynced_mu_);
    failed_syncs_before = failed_syncs_;
  }

  // Sorted already; one request per run of adjacent blocks, of at most
  // kMaxWriteRequest bytes.
  const size_t max_run_blocks = std::max<size_t>(1, kMaxWriteRequest / bs_);
  std::vector<WriteOp> ops;
  for (size_t i = 0; i < taken.size();) {
    size_t j = i;
    while (j + 1 < taken.size() && taken[j + 1] == taken[j] + 1 && j + 1 - i < max_run_blocks) ++j;
    ops.push_back({staging.data() + i * bs_, (j - i + 1) * bs_, taken[i] * bs_});
    i = j + 1;
  }
  Status st = io_->PwriteBatch(device_->fd(), ops);
  if (st.ok()) {
    writeback_bytes_ += taken.size() * bs_;
    writeback_requests_ += ops.size();
    if (!device_->direct()) {
      // Start the kernel's write-out of these pages now, so the disk works
      // while we gather the next batch instead of idling until fdatasync
      // (the page cache would otherwise sit on them for up to 30 s). Only a
      // hint: any I/O error it meets is reported by the fdatasync that must
      // follow before these blocks count as durable.
      uint64_t first = taken.front() * bs_, last = (taken.back() + 1) * bs_;
      if (sync_file_range(device_->fd(), static_cast<off_t>(first), static_cast<off_t>(last - first), SYNC_FILE_RANGE_WRITE) != 0)
        LOG_DEBUG("sync_file_range hint failed: %s", std::strerror(errno));
    }
  }

  // Settle the round shard by shard, taking each shard's lock (and
  // unsynced_mu_ and dirty_mu_ under it) once rather than once per block: per
  // block, the writer queued on these locks behind the foreground writers.
  std::vector<std::pair<Shard*, size_t>> order;  // (shard, index in taken), grouped by shard
  order.reserve(taken.size());
  for (size_t i = 0; i < taken.size(); ++i) order.emplace_back(&ShardOf(taken[i]), i);
  std::sort(order.begin(), order.end());
  std::vector<Entry*> cleaned;
  for (size_t g = 0; g < order.size();) {
    Shard& s = *order[g].first;
    size_t h = g;
    while (h < order.size() && order[h].first == &s) ++h;
    {
      std::lock_guard l(s.mu);
      cleaned.clear();
      std::unique_lock u(unsynced_mu_, std::defer_lock);
      if (st.ok()) u.lock();
      // An fdatasync that failed while this write was under way may have
      // dropped its pages: keep the blocks dirty and write them again.
      const bool lost = st.ok() && failed_syncs_ != failed_syncs_before;
      for (size_t k = g; k < h; ++k) {
        const size_t i = order[k].second;
        Entry* e = s.map.find(taken[i])->second;  // pinned by in_writeback
        e->in_writeback = false;
        if (!st.ok() || lost) continue;
        if (!e->unsynced) unsynced_blocks_.fetch_add(1, std::memory_order_relaxed);
        e->unsynced = true;
        e->wb_epoch = sync_epoch_;
        unsynced_list_.push_back(taken[i]);
        if (e->generation == generations[i]) cleaned.push_back(e);
      }
      if (u.owns_lock()) u.unlock();
      CleanAllLocked(cleaned);
    }
    s.cv.notify_all();
    g = h;
  }
  *taken_out = taken.size();
  {
    std::lock_guard l(bg_mu_);
    if (st.ok()) {
      writeback_failing_ = false;
    } else {
      writeback_failing_ = true;
      last_writeback_error_ = st;
    }
  }
  // Waiters for space hear of this round from round_done, as it returns.
  if (!st.ok()) {
    st = st.Annotate("write-back of " + std::to_string(taken.size()) + " blocks");
    ++write_errors_;
    RecordError(st);
  }
  return st;
}

// Writes back every dirty block with dirty_seq <= seq_limit, waiting for
// blocks the background writer holds.
Status Conductor::Impl::WritebackUpTo(uint64_t seq_limit) {
  for (;;) {
    {
      std::lock_guard l(dirty_mu_);
      Entry* oldest = dirty_list_.head();
      if (oldest == nullptr || oldest->dirty_seq > seq_limit) return Status::OK();
    }
    size_t taken = 0;
    const uint64_t seen = space_gen_.load();
    AMBER_RETURN_IF_ERROR(WritebackRound(options_.writeback_batch_bytes, seq_limit, &taken));
    if (taken == 0) {
      {
        std::lock_guard d(dirty_mu_);
        Entry* oldest = dirty_list_.head();
        if (oldest == nullptr || oldest->dirty_seq > seq_limit) return Status::OK();
      }
      // Every remaining block is in another writer's hands; wait for its
      // round to end. Every round bumps space_gen_ exactly once as it ends
      // (round_done), so ours accounts for one.
      std::unique_lock l(bg_mu_);
      WaitSpace(l, seen + 1, std::chrono::milliseconds(50));
    }
  }
}

// ---- Durability -----------------------------------------------------------

// One fdatasync; run by one thread at a time (the group-commit leader).
Status Conductor::Impl::SyncOnce() {
  std::vector<uint64_t> covered;
  uint64_t epoch;
  {
    std::lock_guard l(unsynced_mu_);
    covered.swap(unsynced_list_);
    epoch = sync_epoch_++;
  }
  Status st = io_->Fsync(device_->fd());
  ++fsyncs_;
  if (!st.ok()) {
    ++fsync_errors_;
    st = st.Annotate("fdatasync image");
    // Writes that completed while it ran may be lost as well: take them
    // all, whatever their epoch.
    std::lock_guard l(unsynced_mu_);
    ++failed_syncs_;
    covered.insert(covered.end(), unsynced_list_.begin(), unsynced_list_.end());
    unsynced_list_.clear();
    epoch = UINT64_MAX;
  }
  for (uint64_t b : covered) {
    Shard& s = ShardOf(b);
    std::lock_guard l(s.mu);
    auto it = s.map.find(b);
    if (it == s.map.end()) continue;
    Entry* e = it->second;
    if (!e->unsynced || e->wb_epoch > epoch) continue;  // written again after this sync began
    e->unsynced = false;
    unsynced_blocks_.fetch_sub(1, std::memory_order_relaxed);
    // After a failed fdatasync the kernel may have dropped these pages:
    // write them again rather than trust a later fdatasync.
    if (!st.ok()) MakeDirtyLocked(e);
  }
  // Recorded only once the blocks are dirty again: a Flush that starts after
  // the error is on record also sees them dirty (it reads its dirty limit
  // after the error count) and writes them again; one that started before
  // sees the count change and fails.
  if (!st.ok()) RecordError(st);
  NotifySpace();
  return st;
}

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

// ---- Background writer ----------------------------------------------------

void Conductor::Impl::WriterLoop() {
  auto backoff = std::chrono::milliseconds(0);
  std::unique_lock l(bg_mu_);
  while (!stop_) {
    if (backoff.count()) writer_cv_.wait_for(l, backoff);
    else writer_cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return stop_ || kicked_.load(); });
    kicked_ = false;
    if (stop_) break;
    uint64_t dirty = dirty_blocks_.load() * bs_;
    bool aged = false;
    {
      std::lock_guard d(dirty_mu_);
      Entry* oldest = dirty_list_.head();
      aged = oldest != nullptr && Clock::now() - oldest->dirty_since >= options_.writeback_age;
    }
    bool pressure = space_waiters_ > 0;
    l.unlock();
    Status st;
    if (dirty > 0 && (dirty >= writeback_start_ || aged || pressure)) {
      size_t taken = 0;
      // Write down to half the start threshold so we do not stop and start at the mark.
      do {
        st = WritebackRound(options_.writeback_batch_bytes, UINT64_MAX, &taken);
      } while (st.ok() && taken > 0 && dirty_blocks_.load() * bs_ > writeback_start_ / 2);
    }
    uint64_t unsynced = unsynced_blocks_.load() * bs_;
    if (unsynced > 0 && (unsynced >= sync_threshold_ || pressure)) WantSync();
    l.lock();
    if (st.ok()) {
      backoff = std::chrono::milliseconds(0);
    } else {
      backoff = std::clamp(backoff * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
    }
  }
}

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
    Status st = GroupSync();  // a failure is recorded for the next Flush
    l.lock();
    backoff = st.ok() ? std::chrono::milliseconds(0)
                      : std::clamp(backoff * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  }
}

void Conductor::Impl::StopWriter() {
  {
    std::lock_guard l(bg_mu_);
    stop_ = true;
  }
  writer_cv_.notify_all();
  syncer_cv_.notify_all();
  space_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (syncer_.joinable()) syncer_.join();
}

Status Conductor::Impl::Close() {
  if (closed_.load()) return Status::OK();
  StopWriter();
  Status st = Flush();
  closed_.store(true, std::memory_order_release);
  io_->Close();
  if (!st.ok()) LOG_ERROR("conductor closed with unwritten data: %s", st.ToString().c_str());
  return st;
}

ConductorStats Conductor::Impl::Stats() const {
  ConductorStats s;
  s.read_hits = read_hits_;
  s.read_misses = read_misses_;
  s.cached_bytes = arena_.used() * uint64_t{bs_};
  s.dirty_bytes = dirty_blocks_.load() * bs_;
  s.cache_budget_bytes = arena_.capacity() * uint64_t{bs_};
  s.dirty_max_bytes = dirty_max_;
  s.writeback_bytes = writeback_bytes_;
  s.writeback_requests = writeback_requests_;
  s.fsyncs = fsyncs_;
  s.flushes = flushes_;
  s.write_errors = write_errors_;
  s.fsync_errors = fsync_errors_;
  s.discards = discards_;
  s.throttled_writes = throttled_;
  s.evictions = evictions_;
  s.backend = io_->name();
  s.backend_fallback_reason = io_->fallback_reason();
  return s;
}

// ---- Public face ----------------------------------------------------------

Result<std::unique_ptr<Conductor>> Conductor::Open(std::unique_ptr<Device> device, std::unique_ptr<BatchIO> io,
                                                   const ConductorOptions& options) {
  if (!device || !io) return Status::Error(EINVAL, "conductor needs a device and an I/O backend");
  auto impl = std::make_unique<Impl>(std::move(device), std::move(io), options);
  AMBER_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Conductor>(new Conductor(std::move(impl)));
}

Conductor::Conductor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conductor::~Conductor() {
  Status st = impl_->Close();
  st.IgnoreError();  // Close logged it; a destructor has no one to tell
}
Status Conductor::ReadAt(void* buf, size_t length, uint64_t offset) { return impl_->ReadAt(buf, length, offset); }
Status Conductor::ReadAtUncached(void* buf, size_t length, uint64_t offset) {
  return impl_->ReadAtUncached(buf, length, offset);
}
Status Conductor::WriteAt(const void* buf, size_t length, uint64_t offset) { return impl_->WriteAt(buf, length, offset); }
Status Conductor::Discard(uint64_t offset, uint64_t length) { return impl_->Discard(offset, length); }
Status Conductor::Flush() { return impl_->Flush(); }
Status Conductor::Close() { return impl_->Close(); }
std::vector<Status> Conductor::Errors() const { return impl_->Errors(); }
uint64_t Conductor::DeviceSize() const { return impl_->device_size(); }
uint32_t Conductor::BlockSize() const { return impl_->block_size(); }
ConductorStats Conductor::Stats() const { return impl_->Stats(); }

}  // namespace amberfs
