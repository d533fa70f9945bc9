// Snapshotter: point-in-time capture with copy-before-write (see snapshotter.h).
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <chrono>
#include <thread>

#include "amberfs/log.h"
#include "base/aligned_buffer.h"
#include "base/thread_priority.h"
#include "snapshot/internal.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

constexpr size_t kBatchChunks = 8;
// What a writer saves of a pending chunk: the blocks its write covers.
constexpr uint64_t kCowBlockBytes = 4096;

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

Status Snapshotter::StoreChunks(CaptureState* cs, const std::vector<ChunkBytes>& batch, bool here) {
  std::vector<EncodedChunk> hashed =
      here ? ChunkHasher::EncodeHere(batch, options_.codec) : hasher_.Encode(batch, options_.codec);
  for (size_t i = 0; i < hashed.size(); ++i) {
    if (!hashed[i].status.ok()) return hashed[i].status.Annotate("encode chunk " + std::to_string(batch[i].chunk));
    const Pointer& p = hashed[i].pointer();
    if (!p.IsNull()) {
      bool mine = false;
      {
        std::lock_guard lk(cs->mu);
        mine = cs->stored.insert(p).second;
      }
      // Only the first of equal chunks in this capture stores it. A blob the
      // fast store holds already is not written again there, but it is put
      // all the same, so it is queued for upload: its slow copy may be gone
      // (another volume's gc swept it once no snapshot named it), and this
      // snapshot's ref must not be published without it.
      if (mine) {
        Result<bool> have = store_->fast().Contains(p);
        if (!have.ok()) return have.status().Annotate("snapshot dedup check");
        const auto stored = hashed[i].blob.bytes();
        AMBER_RETURN_IF_ERROR(cs->batch->Put(p, stored).Annotate("store chunk " + std::to_string(batch[i].chunk)));
        std::lock_guard lk(cs->mu);
        if (!*have) {
          cs->bytes_stored += stored.size();
          cs->bytes_logical += batch[i].bytes.size();
        } else {
          cs->stored.erase(p);
        }  // counted as new only when the fast store lacked it
      }
    }
    std::lock_guard lk(cs->mu);
    cs->results.push_back(ChunkPointer{hashed[i].chunk, p});
  }
  return Status::OK();
}

Status Snapshotter::CopyBeforeWrite(uint64_t offset, uint64_t length) {
  CaptureState* cs = capture_.load(std::memory_order_acquire);
  if (cs == nullptr || length == 0) return Status::OK();
  if (offset >= options_.volume_size || length > options_.volume_size - offset) return Status::OK();  // tracker says EINVAL
  const uint64_t chunk_size = options_.chunk_size;
  for (uint64_t c = offset / chunk_size; c <= (offset + length - 1) / chunk_size; ++c) {
    const uint64_t base = c * chunk_size;
    const uint64_t len = std::min<uint64_t>(chunk_size, options_.volume_size - base);
    const uint64_t lo = std::max(offset, base) - base, hi = std::min(offset + length, base + len) - base;
    if (SaveBlocks(cs, c, len, lo, hi)) continue;
    CopyChunk(cs, c, len);
  }
  return Status::OK();
}

// A 4 KiB write used to copy its whole 64 KiB chunk (and, once the copies
// filled cow_memory_bytes, hash and store it inline): 16x the bytes, and on
// the test VM the inline hashing set the writer's p99 during a snapshot.
bool Snapshotter::SaveBlocks(CaptureState* cs, uint64_t c, uint64_t len, uint64_t lo, uint64_t hi) {
  if (options_.is_remote || options_.chunk_size % kCowBlockBytes != 0) return false;
  const uint64_t first = lo / kCowBlockBytes * kCowBlockBytes;
  const uint64_t end = std::min(len, (hi + kCowBlockBytes - 1) / kCowBlockBytes * kCowBlockBytes);
  if (first == 0 && end == len) return false;  // all of it: the chunk is copied whole
  if (cs->state[c].load(std::memory_order_acquire) != CaptureState::kPending) return false;  // CopyChunk waits
  std::vector<uint64_t> missing;  // blocks no writer has kept yet
  for (uint64_t at = first; at < end; at += kCowBlockBytes) {
    if (!cs->HasSaved(c, at)) missing.push_back(at);
  }
  if (missing.empty()) return true;
  const uint64_t from = missing.front(), to = std::min(len, missing.back() + kCowBlockBytes);
  uint64_t bytes = 0;
  for (uint64_t at : missing) bytes += std::min(kCowBlockBytes, len - at);
  if (!cs->ReserveCowMemory(bytes, options_.cow_memory_bytes)) return false;
  std::vector<uint8_t> old(to - from);
  if (!conductor_->ReadAt(old.data(), old.size(), c * options_.chunk_size + from).ok()) {
    cs->ReleaseCowMemory(bytes);
    return false;  // CopyChunk reads again, and fails the snapshot if it must
  }
  bool pending = true;
  uint64_t kept = 0, blocks = 0;
  for (uint64_t at : missing) {
    const uint64_t n = std::min(kCowBlockBytes, len - at);
    std::vector<uint8_t> block(old.begin() + (at - from), old.begin() + (at - from + n));
    switch (cs->SaveBlock(c, at, std::move(block))) {
      case CaptureState::Save::kSaved:
        kept += n;
        ++blocks;
        break;
      case CaptureState::Save::kHadIt:
        break;
      case CaptureState::Save::kNotPending:
        pending = false;
        break;
    }
  }
  cs->ReleaseCowMemory(bytes - kept);
  if (blocks > 0) {
    std::lock_guard lk(cs->mu);
    cs->cow_blocks += blocks;
  }
  return pending;
}

void Snapshotter::CopyChunk(CaptureState* cs, uint64_t c, uint64_t len) {
  CaptureState::SavedBlocks saved;
  if (!cs->ClaimWithSaved(c, &saved)) {
    cs->WaitDone(c);
    return;
  }
  std::vector<uint8_t> old(len);
  Status st = conductor_->ReadAt(old.data(), len, c * options_.chunk_size);
  cs->LaySaved(saved, st.ok() ? old.data() : nullptr);
  if (st.ok()) {
    const bool stashed = cs->ReserveCowMemory(len, options_.cow_memory_bytes);
    {
      std::lock_guard lk(cs->mu);
      ++cs->cow_chunks;
      if (stashed) cs->stash.emplace_back(c, std::move(old));
    }
    if (!stashed) st = StoreChunks(cs, {ChunkBytes{c, old}}, /*here=*/true);  // not behind the pool's callers
  }
  // The write goes on either way; a failed copy fails the snapshot instead.
  if (!st.ok()) cs->Fail(st.Annotate("copy-before-write of chunk " + std::to_string(c)));
  cs->MarkDone(c);
}

Status Snapshotter::CaptureWorker(CaptureState* cs, const std::vector<uint64_t>& chunks,
                                  std::atomic<size_t>* cursor) {
  const uint64_t chunk_size = options_.chunk_size;
  // Aligned, so a store that writes with O_DIRECT needs no bounce copy.
  std::vector<AlignedBuffer> buffers;
  for (size_t i = 0; i < kBatchChunks; ++i) buffers.push_back(AlignedBuffer::Uninitialized(chunk_size));
  for (;;) {
    if (!cs->Failure().ok()) return Status::OK();
    // Writers' copies first: the stash they go to is bounded, and a writer
    // finding it full hashes and stores its copy inline, in its write's time.
    if (Status st = StoreStashed(cs, kBatchChunks, /*here=*/true); !st.ok()) {
      cs->Fail(st);
      return Status::OK();
    }
    // Then chunks writers saved blocks of (that memory is held until they
    // are captured), else the next ones in order. Every chunk comes up in
    // order too, so once that is done every chunk has been claimed.
    std::vector<uint64_t> todo = cs->TakeHot(kBatchChunks);
    if (todo.empty()) {
      const size_t first = cursor->fetch_add(kBatchChunks);
      if (first >= chunks.size()) return Status::OK();
      todo.assign(chunks.begin() + static_cast<long>(first),
                  chunks.begin() + static_cast<long>(std::min(chunks.size(), first + kBatchChunks)));
    }
    std::vector<ChunkBytes> batch;
    Status st;
    for (size_t i = 0; i < todo.size() && st.ok(); ++i) {
      const uint64_t c = todo[i];
      CaptureState::SavedBlocks saved;
      if (!cs->ClaimWithSaved(c, &saved)) continue;  // a writer copied it (or is copying it)
      const uint64_t len = std::min<uint64_t>(chunk_size, options_.volume_size - c * chunk_size);
      AlignedBuffer& buf = buffers[batch.size()];
      st = conductor_->ReadAtUncached(buf.data(), len, c * chunk_size).Annotate("read chunk " + std::to_string(c));
      cs->LaySaved(saved, st.ok() ? buf.data() : nullptr);  // writers' blocks are the snapshot's, not what is read now
      batch.push_back(ChunkBytes{c, std::span<const uint8_t>(buf.data(), len)});
      // Its old bytes are in buf now: a writer waiting for it may go on. It
      // used to wait for the whole batch's hashing and storing as well, which
      // put tens of milliseconds into a writer's worst latency.
      cs->MarkDone(c);
    }
    if (st.ok() && !batch.empty()) st = StoreChunks(cs, batch, /*here=*/true);
    if (!st.ok()) cs->Fail(st);
  }
}

void Snapshotter::DetachCapture() {
  // Writers load capture_ while they hold a WriteBarrier::Writer, so once the
  // barrier has been closed nobody still uses the old state.
  WriteBarrier::Closed closed(barrier_);
  capture_.store(nullptr, std::memory_order_release);
}

Result<SnapshotReply> Snapshotter::Snapshot(std::string name) {
  const auto start = std::chrono::steady_clock::now();
  if (name.empty()) name = DefaultSnapshotName(NowNs());
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  std::unique_lock op(op_mu_, std::try_to_lock);
  if (!op.owns_lock()) return Status::Error(EBUSY, "a snapshot, rollback, delete or gc is running");
  AMBER_RETURN_IF_ERROR(RefuseWhileRollbackUnfinished());
  Result<CatalogEntry> existing = catalog_->Get(name);
  if (existing.ok()) return Status::Error(EEXIST, "snapshot " + name + " exists already");
  if (existing.status().code() != ENOENT) return existing.status();

  Result<SnapshotReply> reply = CaptureLocked(name);
  std::lock_guard lk(stats_mu_);
  if (!reply.ok()) {
    ++stats_.snapshot_failures;
    return reply.status();
  }
  reply->duration = std::chrono::steady_clock::now() - start;
  ++stats_.snapshots;
  stats_.chunks_captured += reply->chunks_captured;
  stats_.cow_chunks += reply->cow_chunks;
  stats_.cow_blocks += reply->cow_blocks;
  stats_.new_blobs += reply->new_blobs;
  stats_.bytes_stored += reply->bytes_stored;
  stats_.bytes_logical += reply->bytes_logical;
  stats_.last_duration_ns = static_cast<uint64_t>(reply->duration.count());
  stats_.last_barrier_ns = static_cast<uint64_t>(reply->barrier.count());
  return reply;
}

Status Snapshotter::BeginCaptureInstant(CaptureState* cs, uint64_t* created_ns, std::vector<uint64_t>* chunks) {
  // No write is in flight, none starts until the state is visible.
  WriteBarrier::Closed closed(barrier_);
  *created_ns = NowNs();
  AMBER_RETURN_IF_ERROR(tracker_->BeginCapture());
  *chunks = tracker_->Marked(ChangeTracker::Set::kCaptured);
  for (uint64_t c : *chunks) cs->state[c].store(CaptureState::kPending, std::memory_order_relaxed);
  capture_.store(cs, std::memory_order_release);
  return Status::OK();
}

Status Snapshotter::CaptureChunks(CaptureState* cs, const std::vector<uint64_t>& chunks) {
  std::atomic<size_t> cursor{0};
  std::vector<std::thread> workers;
  const int threads = options_.capture_threads > 0
                          ? options_.capture_threads
                          : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(chunks.size() / kBatchChunks) + 1));
  for (int i = 0; i < n; ++i) {
    workers.emplace_back([&] {
      LowerThisThreadPriority();  // the writers' requests come first (thread_priority.h)
      Status st = CaptureWorker(cs, chunks, &cursor);
      if (!st.ok()) cs->Fail(st);
    });
  }
  for (std::thread& t : workers) t.join();
  // Chunks writers claimed: wait until their copies are made.
  for (uint64_t c : chunks) cs->WaitDone(c);
  // After a failure some chunks may still be pending; they are not needed.
  AMBER_RETURN_IF_ERROR(cs->Failure());

  // Writers' copies left: every chunk is done, so the stash is final.
  return StoreStashed(cs, SIZE_MAX);
}

Status Snapshotter::StoreStashed(CaptureState* cs, size_t max_chunks, bool here) {
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> stash;
  {
    std::lock_guard lk(cs->mu);
    if (cs->stash.empty()) return Status::OK();
    const size_t n = std::min(max_chunks, cs->stash.size());
    std::move(cs->stash.end() - n, cs->stash.end(), std::back_inserter(stash));
    cs->stash.resize(cs->stash.size() - n);
  }
  uint64_t bytes = 0;
  for (const auto& [chunk, old] : stash) bytes += old.size();
  Status st;
  for (size_t i = 0; i < stash.size() && st.ok(); i += kBatchChunks) {
    std::vector<ChunkBytes> batch;
    for (size_t j = i; j < std::min(stash.size(), i + kBatchChunks); ++j)
      batch.push_back(ChunkBytes{stash[j].first, stash[j].second});
    st = StoreChunks(cs, batch, here);
  }
  // Room for writers' copies again only once these are stored and freed.
  stash.clear();
  cs->ReleaseCowMemory(bytes);
  return st;
}

Result<Pointer> Snapshotter::StoreRecord(const std::string& name, uint64_t created_ns, const Pointer& root,
                                         PutBatch* batch, SnapshotReply* reply) {
  SnapshotRecord rec;
  rec.volume = uuid_;
  rec.name = name;
  rec.created_ns = created_ns;
  rec.volume_size = options_.volume_size;
  rec.chunk_size = options_.chunk_size;
  rec.fanout = geo_.fanout;
  rec.depth = geo_.depth;
  rec.root = root;
  rec.parent = base_record_;
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> encoded, EncodeSnapshotRecord(rec));
  AMBER_ASSIGN_OR_RETURN(StoredBlob stored, options_.codec.Encode(BlobRole::kRecord, encoded));
  const Pointer record = stored.pointer();
  AMBER_RETURN_IF_ERROR(batch->Put(record, stored.bytes()).Annotate("store snapshot record"));
  reply->new_blobs += 1;
  reply->bytes_stored += stored.bytes().size();
  reply->bytes_logical += encoded.size();
  // Every blob the record reaches is durable before the record is committed.
  AMBER_RETURN_IF_ERROR(batch->Commit().Annotate("store the snapshot's blobs"));
  return record;
}

void Snapshotter::AfterCommit(const std::string& name, const Pointer& record, const Pointer& root) {
  // What follows only makes later snapshots cheaper or the slow copy
  // complete; a failure is logged and kept conservative.
  base_record_ = record;
  base_root_ = root;
  base_depth_ = geo_.depth;
  Status st = WriteSnapshotBase(options_.voldir, record);
  if (st.ok()) {
    st = tracker_->CommitCapture();
  } else {
    // Without the new base the marks must stay relative to the old one.
    LOG_ERROR("snapshot %s: write base: %s; keeping change marks", name.c_str(), st.ToString().c_str());
    tracker_->AbortCapture().IgnoreError();
  }
  if (!st.ok()) LOG_ERROR("snapshot %s: %s", name.c_str(), st.ToString().c_str());
  // A failure here is retried (snapshot_refs.h); drain is not done until then.
  if (!refs_->Publish(name, record).ok()) {
    std::lock_guard lk(stats_mu_);
    ++stats_.ref_errors;
  }
}

void Snapshotter::DropFailedEntry(const std::string& name, const Pointer& record) {
  // The entry may be in place all the same (renamed in, then the directory
  // fsync failed): a failed snapshot must not stay listed without its ref.
  Result<CatalogEntry> left = catalog_->Get(name);
  if (!left.ok() || left->record != record) return;
  Status removed = catalog_->Remove(name);
  if (removed.ok()) return;
  LOG_ERROR("snapshot %s: its failed catalog entry stays: %s", name.c_str(), removed.ToString().c_str());
  refs_->MarkUnverified(removed.Annotate("snapshot " + name + " is listed after a failed commit"));
}

Result<SnapshotReply> Snapshotter::CaptureLocked(const std::string& name) {
  if (conductor_ == nullptr) return Status::Error(EINVAL, "snapshotter is not attached to a volume");
  AMBER_RETURN_IF_ERROR(PublishConfig());
  auto cs = std::make_unique<CaptureState>(tracker_->chunk_count());
  cs->batch = store_->NewPutBatch();
  // Begun before the capture is visible: writers count the chunks they copy.
  ProgressRun progress(&snapshot_progress_, 0);
  cs->progress = &snapshot_progress_;

  // The capture instant: the snapshot's time.
  const auto barrier_start = std::chrono::steady_clock::now();
  uint64_t created_ns = 0;
  std::vector<uint64_t> chunks;
  Status begun = BeginCaptureInstant(cs.get(), &created_ns, &chunks);
  const auto barrier = std::chrono::steady_clock::now() - barrier_start;
  AMBER_RETURN_IF_ERROR(begun.Annotate("begin capture"));
  snapshot_progress_.SetGoal(chunks.size());
  if (options_.is_remote) {
    // A clone's remote chunk was never written, so it is the base's; a mark
    // on one (a tracker rebuilt with every chunk marked) needs no read, and
    // a read would see the image's hole. One a writer claimed (it fetched
    // the chunk first) is captured as usual.
    std::erase_if(chunks, [&](uint64_t c) {
      if (!options_.is_remote(c) || !cs->TryClaim(c)) return false;
      cs->MarkDone(c);
      return true;
    });
  }

  auto fail = [&](const Status& st) -> Status {
    DetachCapture();
    Status aborted = tracker_->AbortCapture();
    if (!aborted.ok()) LOG_ERROR("abort capture: %s", aborted.ToString().c_str());
    LOG_ERROR("snapshot %s failed: %s", name.c_str(), st.ToString().c_str());
    return st;
  };

  if (Status st = CaptureChunks(cs.get(), chunks); !st.ok()) return fail(st);
  DetachCapture();

  std::vector<ChunkPointer> changes;
  SnapshotReply reply;
  {
    std::lock_guard lk(cs->mu);
    changes.swap(cs->results);
    reply.cow_chunks = cs->cow_chunks;
    reply.cow_blocks = cs->cow_blocks;
    reply.new_blobs = cs->stored.size();
    reply.bytes_stored = cs->bytes_stored;
    reply.bytes_logical = cs->bytes_logical;
  }
  reply.chunks_captured = changes.size();
  std::sort(changes.begin(), changes.end(), [](const ChunkPointer& a, const ChunkPointer& b) { return a.chunk < b.chunk; });

  IndexUpdateStats ustats;
  // A base from before the volume grew starts this tree all the same: its
  // tree is wrapped to the new depth, its chunks are not read again.
  Result<Pointer> root = tree_.Update(base_root_, std::move(changes), &ustats, cs->batch.get(), base_depth_);
  if (!root.ok()) return fail(root.status().Annotate("update index"));
  reply.new_blobs += ustats.nodes_written;
  reply.bytes_stored += ustats.bytes_written;
  reply.bytes_logical += ustats.nodes_written * geo_.node_bytes();
  Result<Pointer> record = StoreRecord(name, created_ns, *root, cs->batch.get(), &reply);
  if (!record.ok()) return fail(record.status());

  // The captured writes must be in the image before their marks are dropped.
  if (Status st = conductor_->Flush(); !st.ok()) return fail(st.Annotate("flush before commit"));
  // From the entry to its ref, as one with respect to SnapshotRefs::Verify.
  auto refs_lock = refs_->Lock();
  if (Status st = catalog_->Add(CatalogEntry{name, created_ns, *record}); !st.ok()) {
    DropFailedEntry(name, *record);
    return fail(st.Annotate("add to catalog"));
  }
  AfterCommit(name, *record, *root);  // committed
  refs_lock.unlock();
  {
    std::lock_guard lk(stats_mu_);
    stats_.last_success_ns = std::max(stats_.last_success_ns, created_ns);
  }
  reply.name = name;
  reply.barrier = std::chrono::duration_cast<std::chrono::nanoseconds>(barrier);
  reply.record = *record;
  reply.root = *root;
  return reply;
}

}  // namespace amberfs
