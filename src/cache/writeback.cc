// Write-back: moving dirty blocks from the cache to the image, oldest first.
//
// A round takes a ticket (so a Flush can wait for every round in flight),
// then runs four steps:
//   pick    the oldest dirty blocks, up to the batch size, sorted by block
//   stage   under the I/O gate, copy each block still dirty and not in another
//           round's hands into the staging buffer and mark it in_writeback
//           (which pins it); the observer then makes the change marks durable
//   submit  one write request per run of adjacent blocks (with
//           direct_writeback, short runs go with O_DIRECT)
//   settle  each block leaves the round: clean and unsynced if written and
//           not changed meanwhile, otherwise still dirty
// WritebackUpTo runs rounds for a Flush; WriterLoop is the background writer.
// Locks: see conductor_impl.h.
#include <sys/types.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "amberfs/log.h"
#include "base/on_exit.h"
#include "base/space_reserve.h"
#include "cache/conductor_impl.h"

namespace amberfs {
namespace {

// The largest single write request of a write-back round. Longer runs of
// adjacent blocks go as several requests in the same batch: measured on a
// 2-core VM, 8 MiB buffered pwrites cost the kernel about twice the CPU per
// byte of 256 KiB ones (its page-cache copy fell from 47% to 24% of the
// samples) and sequential write-back ran 0.7x -> 0.8-1.0x of plain pwrite;
// O_DIRECT write-back was the same either way.
constexpr size_t kMaxWriteRequest = 256 << 10;

// With Device::direct_fd (-o direct_writeback), runs of adjacent dirty blocks
// up to this long are written with O_DIRECT, longer ones through the page
// cache. Measured through the mount on a 2-core VM (ext4, 1 GiB volume,
// 256 MiB cache): 4 KiB random writes reach ~29k IOPS with page-cache
// write-back, whose per-page cost in ext4's write_begin and writepages is most
// of the daemon's CPU, and ~50k this way; 1 MiB sequential writes reach
// ~1400 MiB/s through the page cache and ~800 MiB/s with O_DIRECT.
constexpr size_t kScatteredRunMax = 64 << 10;

}  // namespace

// A round's place in rounds_in_flight_ for as long as it lives. Its end wakes
// the space waiters: every round bumps space_gen_ exactly once, as it ends.
class Conductor::Impl::RoundTicket {
 public:
  explicit RoundTicket(Impl* impl) : impl_(impl) {
    std::lock_guard l(impl_->dirty_mu_);
    ticket_ = ++impl_->next_round_;
    impl_->rounds_in_flight_.insert(ticket_);
  }
  ~RoundTicket() {
    {
      std::lock_guard l(impl_->dirty_mu_);
      impl_->rounds_in_flight_.erase(ticket_);
    }
    impl_->NotifySpace();
  }
  RoundTicket(const RoundTicket&) = delete;
  RoundTicket& operator=(const RoundTicket&) = delete;

 private:
  Impl* const impl_;
  uint64_t ticket_ = 0;
};

// The blocks a round took in hand, ascending: their copies, side by side in
// a staging buffer (back to the pool when the round ends), and the generation
// each had when copied. Every vector is sized for `picks` blocks before any is
// taken, so staging and settling them allocate nothing.
struct Conductor::Impl::StagedBlocks {
  StagedBlocks(StagingPool& pool, size_t picks, size_t block_size) : pool(pool), buffer(pool.Get(picks * block_size)) {
    blocks.reserve(picks);
    generations.reserve(picks);
    settle_order.reserve(picks);
    cleaned.reserve(picks);
  }
  ~StagedBlocks() { pool.Put(std::move(buffer)); }
  StagedBlocks(const StagedBlocks&) = delete;
  StagedBlocks& operator=(const StagedBlocks&) = delete;

  StagingPool& pool;
  AlignedBuffer buffer;
  std::vector<uint64_t> blocks;
  std::vector<uint64_t> generations;
  // SettleStaged's room: (shard, index in blocks), and a shard's cleaned entries.
  std::vector<std::pair<Shard*, size_t>> settle_order;
  std::vector<Entry*> cleaned;
};

Status Conductor::Impl::WritebackRound(uint64_t max_bytes, uint64_t seq_limit, size_t* taken) {
  *taken = 0;
  RoundTicket ticket(this);  // declared first, so the round ends after the gate and buffer are released
  const std::vector<uint64_t> picks = PickOldestDirty(max_bytes, seq_limit);
  if (picks.empty()) return Status::OK();

  std::shared_lock gate(io_gate_);
  StagedBlocks staged(*staging_pool_, picks.size(), bs_);
  StageBlocks(picks, &staged);
  if (staged.blocks.empty()) return Status::OK();
  // Until SettleStaged, any way out (an error, or bad_alloc in the observer,
  // the request lists or an error message) returns the blocks unwritten:
  // left in_writeback they would stay pinned and dirty, and every Flush
  // would wait for them forever.
  OnExit unstage([&] { UnstageBlocks(staged); });
  if (options_.observer) AMBER_RETURN_IF_ERROR(MakeMarksDurable());
  uint64_t failed_syncs_before;
  {
    std::lock_guard u(unsynced_mu_);
    failed_syncs_before = failed_syncs_;
  }
  Status written = SubmitStaged(staged);
  unstage.Dismiss();  // SettleStaged allocates nothing that can fail it
  SettleStaged(staged, written, failed_syncs_before);
  *taken = staged.blocks.size();
  return FinishRound(std::move(written), staged.blocks.size());
}

// Pick: up to max_bytes of the oldest dirty blocks with dirty_seq <=
// seq_limit, sorted by block number.
std::vector<uint64_t> Conductor::Impl::PickOldestDirty(uint64_t max_bytes, uint64_t seq_limit) {
  std::vector<uint64_t> picks;
  {
    std::lock_guard l(dirty_mu_);
    size_t max_blocks = std::max<uint64_t>(1, max_bytes / bs_);
    for (Entry* e = dirty_list_.head(); e != nullptr && e->dirty_seq <= seq_limit && picks.size() < max_blocks; e = e->dirty_next)
      picks.push_back(e->key);
  }
  std::sort(picks.begin(), picks.end());
  return picks;
}

// Stage (io_gate_ held shared): copy each picked block that is still cached,
// dirty and in no other round's hands, and mark it in_writeback.
void Conductor::Impl::StageBlocks(const std::vector<uint64_t>& picks, StagedBlocks* staged) {
  for (uint64_t b : picks) {
    Shard& s = ShardOf(b);
    std::lock_guard l(s.mu);
    Entry** found = s.map.Find(b);
    if (found == nullptr) continue;  // discarded since it was picked
    Entry* e = *found;
    if (!e->dirty || e->in_writeback) continue;
    std::memcpy(staged->buffer.data() + staged->blocks.size() * bs_, arena_.data(e->slot), bs_);
    e->in_writeback = true;
    staged->blocks.push_back(b);
    staged->generations.push_back(e->generation);
  }
}

// Called after staging, so every change in the staged copies was announced by
// WillChange before this call and its mark is made durable by it. If the
// observer fails, nothing is written: the blocks leave the round still dirty
// (WritebackRound's guard) and the error is recorded like a failed write-back.
Status Conductor::Impl::MakeMarksDurable() {
  Status st = options_.observer->BeforeImageWrite();
  if (st.ok()) return st;
  st = st.Annotate("make change marks durable before write-back");
  ++write_errors_;
  RecordError(st);
  return st;
}

void Conductor::Impl::UnstageBlocks(const StagedBlocks& staged) {
  for (uint64_t b : staged.blocks) {
    Shard& s = ShardOf(b);
    {
      std::lock_guard l(s.mu);
      (*s.map.Find(b))->in_writeback = false;  // pinned by it until now
    }
    s.cv.notify_all();
  }
}

// Submit: the staged blocks are sorted already; one request per run of
// adjacent blocks, of at most kMaxWriteRequest bytes, all in one batch.
// Runs of at most kScatteredRunMax bytes go through the image's O_DIRECT
// descriptor when it has one (-o direct_writeback), the rest through the
// page cache.
Status Conductor::Impl::SubmitStaged(const StagedBlocks& staged) {
  const std::vector<uint64_t>& taken = staged.blocks;
  const size_t max_run_blocks = std::max<size_t>(1, kMaxWriteRequest / bs_);
  const bool split = device_->direct_fd() >= 0 && bs_ % device_->alignment() == 0 &&
                     !direct_writeback_refused_.load(std::memory_order_relaxed);
  std::vector<WriteOp> buffered, direct;
  for (size_t i = 0; i < taken.size();) {
    size_t j = i;
    while (j + 1 < taken.size() && taken[j + 1] == taken[j] + 1 && j + 1 - i < max_run_blocks) ++j;
    const WriteOp op{staged.buffer.data() + i * bs_, (j - i + 1) * bs_, taken[i] * bs_};
    (split && op.len <= kScatteredRunMax ? direct : buffered).push_back(op);
    i = j + 1;
  }
  Result<SpaceReserve::Admission> admitted =
      SpaceReserve::AdmitData(options_.space_reserve, taken.size() * bs_, "write-back");
  if (!admitted.ok()) return admitted.status();
  if (!direct.empty()) {
    Status st = io_->PwriteBatch(device_->direct_fd(), direct);
    if (st.code() == EINVAL) {
      // The filesystem took the O_DIRECT open but refuses the writes: write
      // these, and from now on every block, through the page cache.
      if (!direct_writeback_refused_.exchange(true))
        LOG_WARN("%s refuses O_DIRECT writes (%s); write-back goes through the page cache only",
                 device_->path().c_str(), st.ToString().c_str());
      buffered.insert(buffered.end(), direct.begin(), direct.end());
      std::sort(buffered.begin(), buffered.end(), [](const WriteOp& x, const WriteOp& y) { return x.offset < y.offset; });
      direct.clear();
    } else if (!st.ok()) {
      return st;
    }
  }
  if (!buffered.empty()) AMBER_RETURN_IF_ERROR(io_->PwriteBatch(device_->fd(), buffered));
  writeback_bytes_ += taken.size() * bs_;
  writeback_requests_ += buffered.size() + direct.size();
  writeback_direct_requests_ += direct.size();
  if (!buffered.empty() && !device_->direct()) {
    // Start the kernel's write-out of these pages now, so the disk works
    // while we gather the next batch instead of idling until fdatasync
    // (the page cache would otherwise sit on them for up to 30 s). Only a
    // hint: any I/O error it meets is reported by the fdatasync that must
    // follow before these blocks count as durable.
    const uint64_t first = buffered.front().offset, end = buffered.back().offset + buffered.back().len;
    if (sync_file_range(device_->fd(), static_cast<off_t>(first), static_cast<off_t>(end - first), SYNC_FILE_RANGE_WRITE) != 0)
      LOG_DEBUG("sync_file_range hint failed: %s", std::strerror(errno));
  }
  return Status::OK();
}

// Settle: every staged block leaves the round (in_writeback cleared). If it
// was written, it waits for an fdatasync (unsynced) and is clean unless it
// changed meanwhile. If the write failed it stays dirty, to be retried.
//
// Shard by shard, taking each shard's lock (and unsynced_mu_ and dirty_mu_
// under it) once rather than once per block: per block, the writer queued on
// these locks behind the foreground writers.
//
// Allocates nothing that can fail it (its vectors were sized with the round;
// room in unsynced_list_ is made per shard, and a shard that gets none keeps
// its blocks dirty, to be written again), so no block stays in_writeback.
void Conductor::Impl::SettleStaged(StagedBlocks& staged, const Status& written, uint64_t failed_syncs_before) {
  const std::vector<uint64_t>& taken = staged.blocks;
  std::vector<std::pair<Shard*, size_t>>& order = staged.settle_order;  // (shard, index in taken), grouped by shard
  for (size_t i = 0; i < taken.size(); ++i) order.emplace_back(&ShardOf(taken[i]), i);
  std::sort(order.begin(), order.end());
  std::vector<Entry*>& cleaned = staged.cleaned;
  for (size_t g = 0; g < order.size();) {
    Shard& s = *order[g].first;
    size_t h = g;
    while (h < order.size() && order[h].first == &s) ++h;
    {
      std::lock_guard l(s.mu);
      cleaned.clear();
      std::unique_lock u(unsynced_mu_, std::defer_lock);
      bool room = true;
      if (written.ok()) {
        u.lock();
        try {
          // Growing as push_back would (doubling): reserve alone grows to
          // the exact size, a reallocation per round.
          const size_t need = unsynced_list_.size() + (h - g);
          if (need > unsynced_list_.capacity()) unsynced_list_.reserve(std::max(need, 2 * unsynced_list_.capacity()));
        } catch (const std::bad_alloc&) {
          room = false;
        }
      }
      // An fdatasync that failed while this write was under way may have
      // dropped its pages: keep the blocks dirty and write them again. So,
      // too, when there was no room to list them for the next one.
      const bool lost = written.ok() && (failed_syncs_ != failed_syncs_before || !room);
      for (size_t k = g; k < h; ++k) {
        const size_t i = order[k].second;
        Entry* e = *s.map.Find(taken[i]);  // pinned by in_writeback
        e->in_writeback = false;
        if (!written.ok() || lost) continue;
        if (!e->unsynced) unsynced_blocks_.fetch_add(1, std::memory_order_relaxed);
        e->unsynced = true;
        e->wb_epoch = sync_epoch_;
        unsynced_list_.push_back(taken[i]);
        if (e->generation == staged.generations[i]) cleaned.push_back(e);
      }
      if (u.owns_lock()) u.unlock();
      CleanAllLocked(cleaned);
    }
    s.cv.notify_all();
    g = h;
  }
}

// Records how the write went. While write-back keeps failing, a writer
// waiting for dirty space fails instead of waiting forever. Waiters for space
// hear of the round from its ticket, as it ends.
Status Conductor::Impl::FinishRound(Status written, size_t blocks) {
  {
    std::lock_guard l(bg_mu_);
    if (written.ok()) {
      writeback_failing_ = false;
    } else {
      writeback_failing_ = true;
      last_writeback_error_ = written;
    }
  }
  if (!written.ok()) {
    written = written.Annotate("write-back of " + std::to_string(blocks) + " blocks");
    ++write_errors_;
    RecordError(written);
  }
  return written;
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
      // (its RoundTicket), so ours accounts for one.
      std::unique_lock l(bg_mu_);
      WaitSpace(l, seen + 1, std::chrono::milliseconds(50));
    }
  }
}

// The background writer: writes back when dirty data passes the start
// threshold, grows old, or a writer waits for space; backs off while
// write-back fails; asks the syncer for an fdatasync once enough written-back
// blocks wait for one.
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
      // Out of memory (a staging buffer, a request list) is a failed round:
      // back off and try again, rather than end the daemon.
      do {
        st = OutOfMemoryAsError([&] { return WritebackRound(options_.writeback_batch_bytes, UINT64_MAX, &taken); });
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

}  // namespace amberfs
