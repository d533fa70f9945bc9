// The Conductor: setup, errors, memory, dirty bookkeeping, reads, writes,
// discard, close, stats and the public face. The contract is in conductor.h;
// the internals shared with writeback.cc and flush.cc, the lock order every
// file keeps to and the life of a block are in conductor_impl.h.
#include "cache/conductor.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "amberfs/log.h"
#include "base/aligned_buffer.h"
#include "base/on_exit.h"
#include "cache/conductor_impl.h"

namespace amberfs {
namespace {

using conductor_internal::kEvictBatch;
using conductor_internal::kMaxErrorsKept;
using conductor_internal::kNumShards;

bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

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
  options_.writeback_batch_bytes = std::max<uint64_t>(options_.writeback_batch_bytes / bs_, 1) * bs_;
  try {  // a cache this machine cannot hold is an error, not an abort
    entries_.resize(blocks);
  } catch (const std::bad_alloc&) {
    return Status::Error(ENOMEM, "not enough memory for the index of a cache of " + std::to_string(blocks) + " blocks");
  }
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
      s.map.Erase(victim->key);
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
  // However we leave (bad_alloc in the error's message too): counted, the
  // writer would think a writer waits, and write back and sync, for good.
  OnExit uncount([&] { --space_waiters_; });  // bg_mu_ is held at every way out
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
  return result;
}

void Conductor::Impl::MakeDirtyLocked(Entry* e) {
  if (e->dirty) return;
  e->dirty = true;
  std::lock_guard l(dirty_mu_);
  e->dirty_seq = ++dirty_seq_;
  e->dirty_since = Clock::now();
  dirty_list_.PushTail(e);
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

conductor_internal::Entry* Conductor::Impl::InsertNewEntryLocked(Shard& s, uint64_t block, uint32_t slot) {
  OnExit give_back_slot([&] { arena_.Give(slot); });
  auto [place, added] = s.map.Insert(block, nullptr);
  if (!added) return nullptr;
  give_back_slot.Dismiss();
  Entry* e = &entries_[slot];
  *e = Entry{};
  e->key = block;
  e->slot = slot;
  return *place = e;
}

// ---- Reads ----------------------------------------------------------------

Status Conductor::Impl::LoadBlocks(const std::vector<uint64_t>& blocks, const std::vector<uint8_t*>* out,
                                   std::vector<bool>* loaded) {
  if (loaded) loaded->assign(blocks.size(), false);
  std::shared_lock gate(io_gate_);
  // Claim a placeholder per block; skip blocks someone else brought in meanwhile.
  // Reserved up front: a block published as a placeholder is recorded here
  // without an allocation that could throw in between.
  std::vector<uint64_t> mine;
  std::vector<size_t> mine_index;  // position in `blocks`
  std::vector<Entry*> placeholders;
  mine.reserve(blocks.size());
  mine_index.reserve(blocks.size());
  placeholders.reserve(blocks.size());
  // Until the claimed blocks are loaded, every way out of here (an error, or
  // bad_alloc from a buffer below) takes the placeholders back and wakes
  // their waiters: a block left "loading" would hang every later access to it.
  OnExit give_back_placeholders([&] {
    for (size_t i = 0; i < mine.size(); ++i) {
      Shard& s = ShardOf(mine[i]);
      {
        std::lock_guard l(s.mu);
        uint32_t slot = placeholders[i]->slot;
        s.map.Erase(mine[i]);
        arena_.Give(slot);
      }
      s.cv.notify_all();
    }
  });
  for (size_t i = 0; i < blocks.size(); ++i) {
    uint32_t slot;
    if (!mine.empty()) {
      // Never wait for space while holding placeholders: readers that each
      // hold some and wait for more could fill the cache and wait forever.
      // Load what we have; the caller comes back for the rest.
      if (!arena_.Take(&slot) && !(EvictSome(kEvictBatch) > 0 && arena_.Take(&slot))) break;
    } else {
      AMBER_RETURN_IF_ERROR(AllocSlot(&slot));
    }
    Shard& s = ShardOf(blocks[i]);
    std::lock_guard l(s.mu);
    Entry* e = InsertNewEntryLocked(s, blocks[i], slot);
    if (e == nullptr) continue;  // the caller's retry loop will find it
    e->loading = true;
    placeholders.push_back(e);
    mine.push_back(blocks[i]);
    mine_index.push_back(i);
  }
  if (mine.empty()) return Status::OK();

  // Coalesce adjacent blocks into one read. Where the caller's buffer for a
  // run is aligned for the device, the run is read there and copied into its
  // slots (a read's whole blocks: one copy after the read, where staging
  // cost three); any other run goes through a staging buffer, then to its
  // slots and the caller's buffer; a lone block is read straight into its
  // slot.
  const size_t align = std::max<size_t>(device_->alignment(), 4096);
  auto out_of = [&](size_t k) { return (*out)[mine_index[k]]; };
  struct Run {
    size_t first, last;  // index into `mine`
    uint8_t* bytes;      // where the run is read: the caller's span, staging or a slot
  };
  std::vector<Run> runs;
  std::vector<AlignedBuffer> staging;
  std::vector<ReadOp> ops;
  for (size_t i = 0; i < mine.size();) {
    // A run: adjacent blocks whose copies, if the caller wants them, go to
    // adjacent places (a read's partial ends are runs of their own).
    size_t j = i;
    while (j + 1 < mine.size() && mine[j + 1] == mine[j] + 1 &&
           (out == nullptr || out_of(j + 1) == out_of(j) + bs_))
      ++j;
    uint8_t* bytes;
    if (out != nullptr && reinterpret_cast<uintptr_t>(out_of(i)) % align == 0) {
      bytes = out_of(i);
    } else if (i == j) {
      bytes = arena_.data(placeholders[i]->slot);
    } else {
      staging.push_back(AlignedBuffer::Uninitialized((j - i + 1) * bs_, align));
      bytes = staging.back().data();
    }
    runs.push_back({i, j, bytes});
    ops.push_back({bytes, (j - i + 1) * bs_, mine[i] * bs_});
    i = j + 1;
  }
  Status st = io_->PreadBatch(device_->fd(), ops);
  read_misses_ += mine.size();
  if (!st.ok()) return st.Annotate("read image");
  // Slots and the caller's buffers from the run's bytes, before the
  // placeholders are released: nothing else writes a loading slot.
  for (const Run& run : runs) {
    for (size_t k = run.first; k <= run.last; ++k) {
      const uint8_t* block = run.bytes + (k - run.first) * bs_;
      uint8_t* slot = arena_.data(placeholders[k]->slot);
      if (block != slot) std::memcpy(slot, block, bs_);
      if (out != nullptr && out_of(k) != block) std::memcpy(out_of(k), block, bs_);
    }
  }
  give_back_placeholders.Dismiss();  // nothing below throws
  for (size_t i = 0; i < mine.size(); ++i) {
    Shard& s = ShardOf(mine[i]);
    {
      std::lock_guard l(s.mu);
      Entry* e = placeholders[i];
      if (loaded) (*loaded)[mine_index[i]] = true;
      e->loading = false;
      s.policy.Insert(e);
    }
    s.cv.notify_all();
  }
  return Status::OK();
}

Status Conductor::Impl::ReadAt(void* buf, size_t length, uint64_t offset) {
  // A stream's blocks are not kept: filling the cache with them took more
  // than half of the daemon's CPU in a sequential read (1 MiB reads of a
  // page-cached image: 0.67 s a GiB filling, 0.26-0.30 s not), and a scan would
  // push out the blocks small reads and writes come back to. The image's
  // page cache serves a second read; an O_DIRECT image has none.
  if (options_.stream_read_min > 0 && length >= options_.stream_read_min && !device_->direct())
    return ReadAtUncached(buf, length, offset);
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
      // A whole block is loaded straight into its place in buf; only the
      // read's partial first and last blocks go through a bounce buffer.
      AlignedBuffer bounce;
      std::vector<uint8_t*> outs;
      std::vector<bool> loaded;
      for (uint64_t b : missing) {
        if (WholeIn(b, offset, end)) {
          outs.push_back(dst + (b * bs_ - offset));
        } else {
          if (bounce.size() == 0) bounce = AlignedBuffer::Uninitialized(2 * bs_, 64);
          outs.push_back(bounce.data() + (b * bs_ < offset ? 0 : bs_));
        }
      }
      AMBER_RETURN_IF_ERROR(LoadBlocks(missing, &outs, &loaded));
      std::vector<uint64_t> again;
      for (size_t i = 0; i < missing.size(); ++i) {
        uint64_t b = missing[i];
        uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
        if (loaded[i]) {  // the image's bytes at load time: a valid point for this read
          if (hi - lo != bs_) std::memcpy(dst + (lo - offset), outs[i] + (lo - b * bs_), hi - lo);
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
// (dirty blocks stay cached until written back and synced). So the absent
// blocks are read from the image with no placeholder; a block that appears
// in the cache meanwhile (written, or loaded by another reader) is copied
// from there instead, as that copy is at least as new. Either value is a
// valid result for a read that races a write. One race is weaker than
// ReadAt's: a block written, written back, synced and evicted while this
// read's pread of it runs can come back torn (part old bytes, part new), as
// a read of any file racing a write of the same page can. A read that
// overlaps no write of its blocks sees each block whole.
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
      // Runs of adjacent blocks are one read each: straight into buf where
      // the run is whole blocks of it at an address the device can read
      // into (a capture's chunk), else into one staging buffer for the group.
      AlignedBuffer staging;
      std::vector<ReadOp> ops;
      std::vector<bool> into_buf(missing.size(), false);
      for (size_t i = 0; i < missing.size();) {
        // A run: adjacent blocks, whole ones apart from a partial first or
        // last block (which goes through staging alone).
        size_t j = i;
        const bool whole = WholeIn(missing[i], offset, end);
        while (j + 1 < missing.size() && missing[j + 1] == missing[j] + 1 &&
               WholeIn(missing[j + 1], offset, end) == whole)
          ++j;
        uint8_t* at = whole ? dst + (missing[i] * bs_ - offset) : nullptr;
        if (at == nullptr || reinterpret_cast<uintptr_t>(at) % align != 0) {
          if (staging.size() == 0) staging = AlignedBuffer::Uninitialized((group_end - block) * bs_, align);
          at = staging.data() + (missing[i] - block) * bs_;
        } else {
          std::fill(into_buf.begin() + static_cast<long>(i), into_buf.begin() + static_cast<long>(j + 1), true);
        }
        ops.push_back({at, (j - i + 1) * bs_, missing[i] * bs_});
        i = j + 1;
      }
      {
        std::shared_lock gate(io_gate_);  // as LoadBlocks: not across a Discard's punch
        AMBER_RETURN_IF_ERROR(io_->PreadBatch(device_->fd(), ops).Annotate("read image"));
      }
      read_misses_ += missing.size();
      for (size_t i = 0; i < missing.size(); ++i) {
        const uint64_t b = missing[i];
        uint64_t lo = std::max<uint64_t>(offset, b * bs_), hi = std::min<uint64_t>(end, (b + 1) * bs_);
        if (!CopyIfCached(b, dst + (lo - offset), lo - b * bs_, hi - lo) && !into_buf[i])
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
      Entry* e = InsertNewEntryLocked(s, b, slot);
      if (e == nullptr) continue;  // someone else created it meanwhile; modify theirs
      std::memcpy(arena_.data(slot), src + (lo - offset), bs_);
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
  // Takes e out of everything but its shard's map, whose caller erases it.
  auto drop = [&](Shard& s, Entry* e) {
    CleanLocked(e);
    if (e->unsynced) {
      e->unsynced = false;
      unsynced_blocks_.fetch_sub(1, std::memory_order_relaxed);
    }
    s.policy.Remove(e);
    arena_.Give(e->slot);  // the caller holds s.mu: the slot's Entry is not reused before the erase
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
      if (Entry** e = s.map.Find(b)) {
        drop(s, *e);
        s.map.Erase(b);
      }
    }
  } else {  // a range larger than the cache: sweep the cache instead of the range
    for (Shard& s : shards_) {
      std::lock_guard l(s.mu);
      // drop() only for entries in the range, so a repeated look at a kept one is harmless.
      s.map.EraseIf([&](uint64_t b, Entry* e) {
        if (b < first_whole || b >= end_whole) return false;
        drop(s, e);
        return true;
      });
    }
  }
  return Status::OK();
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
  Status st = OutOfMemoryAsError([this] { return Flush(); });  // Close runs from destructors too
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
  s.writeback_direct_requests = writeback_direct_requests_;
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
