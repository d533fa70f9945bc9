// Snapshotter: setup, the write path, reading snapshots, delete, drain, stats.
// Capture is in capture.cc; rollback and gc in rollback.cc and gc.cc.
#include "snapshot/snapshotter.h"

#include <algorithm>
#include <cstring>

#include "amberfs/log.h"
#include "snapshot/internal.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"

namespace amberfs {

std::string SnapshotReply::ToString() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "name %s\nrecord %s\nroot %s\nchunks_captured %llu\ncow_chunks %llu\ncow_blocks %llu\nnew_blobs %llu\n"
                "bytes_stored %llu\nbytes_logical %llu\nduration_ms %.3f\nbarrier_ms %.3f\n",
                name.c_str(), record.Hex().c_str(), root.Hex().c_str(), (unsigned long long)chunks_captured,
                (unsigned long long)cow_chunks, (unsigned long long)cow_blocks, (unsigned long long)new_blobs, (unsigned long long)bytes_stored,
                (unsigned long long)bytes_logical,
                duration.count() / 1e6, barrier.count() / 1e6);
  return buf;
}

std::string RollbackReply::ToString() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "rolled back to %s\nchunks_written %llu\nchunks_discarded %llu\nduration_ms %.3f\n",
                name.c_str(), (unsigned long long)chunks_written, (unsigned long long)chunks_discarded,
                duration.count() / 1e6);
  return buf;
}

std::string GcReply::ToString() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "reachable %llu\ndeleted_slow %llu\ndeleted_fast %llu\nrepacked_packs %llu\nrepacked_bytes %llu\n"
                "freed_slow_bytes %llu\nfreed_fast_bytes %llu\nother_volume_snapshots %llu\nduration_ms %.3f\n",
                (unsigned long long)reachable, (unsigned long long)deleted_slow, (unsigned long long)deleted_fast,
                (unsigned long long)repacked_packs, (unsigned long long)repacked_bytes,
                (unsigned long long)freed_slow_bytes, (unsigned long long)freed_fast_bytes,
                (unsigned long long)snapshots_of_other_volumes, duration.count() / 1e6);
  return buf;
}

Snapshotter::Snapshotter(ChangeTracker* tracker, PairedStore* store, Catalog* catalog,
                         const SnapshotterOptions& options, IndexGeometry geometry)
    : tracker_(tracker),
      store_(store),
      catalog_(catalog),
      options_(options),
      geo_(geometry),
      observer_(std::make_unique<CowObserver>(this, tracker)),
      tree_(store, geometry, 256, options.codec),
      hasher_(options.hash_threads),
      chunk_cache_(options.read_cache_chunks) {}

Snapshotter::~Snapshotter() = default;

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(ChangeTracker* tracker, PairedStore* store, Catalog* catalog,
                                                       const SnapshotterOptions& options) {
  if (tracker == nullptr || store == nullptr || catalog == nullptr || options.voldir.empty()) {
    return Status::Error(EINVAL, "snapshotter needs a tracker, a store, a catalog and the volume directory");
  }
  if (options.volume_size == 0 || options.chunk_size == 0 || tracker->chunk_size() != options.chunk_size ||
      tracker->chunk_count() != (options.volume_size + options.chunk_size - 1) / options.chunk_size) {
    return Status::Error(EINVAL, "snapshotter geometry does not match the change tracker's");
  }
  AMBER_ASSIGN_OR_RETURN(VolumeUuid uuid, ParseVolumeUuid(options.volume_uuid));
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, IndexGeometry::Make(tracker->chunk_count(), options.fanout));
  std::unique_ptr<Snapshotter> s(new Snapshotter(tracker, store, catalog, options, geo));
  s->uuid_ = uuid;
  AMBER_RETURN_IF_ERROR(s->LoadBase());
  // The newest snapshot's time for the stats; a catalog that cannot be
  // listed now is reported by whatever needs it, not here.
  if (Result<std::vector<CatalogEntry>> entries = catalog->List(); entries.ok()) {
    for (const CatalogEntry& e : *entries) s->stats_.last_success_ns = std::max(s->stats_.last_success_ns, e.created_ns);
  } else {
    LOG_WARN("list the catalog: %s", entries.status().ToString().c_str());
  }
  // A crash may have come between a snapshot's catalog entry and its ref:
  // check them against the slow store (in the background, which may be down).
  s->refs_ = std::make_unique<SnapshotRefs>(store, catalog, options.volume_uuid, options.codec);
  s->refs_->Start();
  return s;
}

Status Snapshotter::LoadBase() {
  AMBER_ASSIGN_OR_RETURN(Pointer base, ReadSnapshotBase(options_.voldir));
  base_record_ = base;
  base_root_ = Pointer();
  base_depth_ = geo_.depth;
  if (base.IsNull()) return Status::OK();
  Result<SnapshotRecord> rec = LoadRecord(base);
  if (!rec.ok()) return rec.status().Annotate("base snapshot record " + base.Hex());
  base_root_ = rec->root;
  base_depth_ = rec->depth;
  return Status::OK();
}

Result<SnapshotRecord> Snapshotter::LoadRecord(const Pointer& record) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, GetBlob(*store_, options_.codec, BlobRole::kRecord, record));
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord rec, DecodeSnapshotRecord(bytes));
  // A snapshot taken before the volume grew is smaller than the volume.
  if (rec.volume != uuid_ || rec.volume_size > options_.volume_size || rec.chunk_size != options_.chunk_size ||
      rec.fanout != geo_.fanout) {
    return Status::Error(EBADMSG, "snapshot record " + record.Hex() + " (" + rec.name +
                                      ") belongs to another volume or geometry");
  }
  return rec;
}

ChangeObserver* Snapshotter::observer() { return observer_.get(); }

void Snapshotter::Attach(Conductor* conductor) { conductor_ = conductor; }

Status Snapshotter::Write(const void* buf, size_t length, uint64_t offset) {
  WriteBarrier::Writer writer(barrier_);
  if (rollback_unfinished_.load(std::memory_order_acquire)) AMBER_RETURN_IF_ERROR(RefuseWhileRollbackUnfinished(EROFS));
  return conductor_->WriteAt(buf, length, offset);
}

Status Snapshotter::Discard(uint64_t offset, uint64_t length) {
  WriteBarrier::Writer writer(barrier_);
  if (rollback_unfinished_.load(std::memory_order_acquire)) AMBER_RETURN_IF_ERROR(RefuseWhileRollbackUnfinished(EROFS));
  return conductor_->Discard(offset, length);
}

Result<std::shared_ptr<const SnapshotRecord>> Snapshotter::CachedRecord(const Pointer& record) {
  {
    std::lock_guard lk(read_mu_);
    auto it = records_.find(record);
    if (it != records_.end()) return it->second;
  }
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord rec, LoadRecord(record));
  auto shared = std::make_shared<const SnapshotRecord>(std::move(rec));
  std::lock_guard lk(read_mu_);
  // A record pointer names its bytes, so whoever inserted first inserted the same record.
  return records_.emplace(record, std::move(shared)).first->second;
}

Result<std::pair<CatalogEntry, std::shared_ptr<const SnapshotRecord>>> Snapshotter::RecordOf(std::string_view name) {
  AMBER_ASSIGN_OR_RETURN(CatalogEntry entry, catalog_->Get(name));
  AMBER_ASSIGN_OR_RETURN(std::shared_ptr<const SnapshotRecord> rec, CachedRecord(entry.record));
  return std::make_pair(std::move(entry), std::move(rec));
}

Result<SnapshotHandle> Snapshotter::OpenSnapshot(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  AMBER_ASSIGN_OR_RETURN(auto found, RecordOf(name));
  const uint64_t size = found.second->volume_size;
  return SnapshotHandle{std::string(name), found.first.created_ns, std::move(found.second), size};
}

Result<std::shared_ptr<const std::vector<uint8_t>>> Snapshotter::ChunkBlob(const Pointer& ptr) {
  {
    std::lock_guard lk(read_mu_);
    if (auto* cached = chunk_cache_.Find(ptr)) return *cached;
  }
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, GetBlob(*store_, options_.codec, BlobRole::kChunk, ptr));
  auto blob = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  std::lock_guard lk(read_mu_);
  chunk_cache_.Insert(ptr, blob);
  return blob;
}

Status Snapshotter::ReadSnapshot(std::string_view name, void* buf, size_t length, uint64_t offset) {
  AMBER_ASSIGN_OR_RETURN(SnapshotHandle snapshot, OpenSnapshot(name));
  return ReadSnapshot(snapshot, buf, length, offset);
}

Status Snapshotter::ReadSnapshot(const SnapshotHandle& snapshot, void* buf, size_t length, uint64_t offset) {
  const std::string& name = snapshot.name;
  if (snapshot.record == nullptr) return Status::Error(EBADF, "snapshot " + name + " is not open");
  const SnapshotRecord& rec = *snapshot.record;
  if (offset > rec.volume_size || length > rec.volume_size - offset) {
    return Status::Error(EINVAL, "read past the end of snapshot " + name);
  }
  uint8_t* out = static_cast<uint8_t*>(buf);
  const uint64_t cs = options_.chunk_size;
  while (length > 0) {
    const uint64_t chunk = offset / cs, in_chunk = offset % cs;
    const uint64_t chunk_len = std::min<uint64_t>(cs, rec.volume_size - chunk * cs);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, chunk_len - in_chunk));
    AMBER_ASSIGN_OR_RETURN(Pointer ptr, tree_.Lookup(rec.root, chunk, rec.depth));
    if (ptr.IsNull()) {
      std::memset(out, 0, n);
    } else {
      AMBER_ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<uint8_t>> blob, ChunkBlob(ptr));
      if (blob->size() != chunk_len) {
        return Status::Error(EBADMSG, "chunk " + std::to_string(chunk) + " of snapshot " + name + " is " +
                                          std::to_string(blob->size()) + " bytes, expected " +
                                          std::to_string(chunk_len));
      }
      std::memcpy(out, blob->data() + in_chunk, n);
    }
    out += n;
    offset += n;
    length -= n;
  }
  return Status::OK();
}

Result<std::vector<SnapshotInfo>> Snapshotter::List() {
  std::vector<Status> problems;
  AMBER_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries, catalog_->List(&problems));
  for (const Status& p : problems) LOG_ERROR("catalog: %s", p.ToString().c_str());
  std::vector<SnapshotInfo> out;
  for (const CatalogEntry& e : entries) {
    // A record that cannot be read now is listed at the volume's size; a read
    // of it fails with the record's error.
    uint64_t size = options_.volume_size;
    if (Result<std::shared_ptr<const SnapshotRecord>> rec = CachedRecord(e.record); rec.ok()) {
      size = (*rec)->volume_size;
    } else {
      LOG_ERROR("snapshot %s: %s", e.name.c_str(), rec.status().ToString().c_str());
    }
    out.push_back({e.name, e.created_ns, size});
  }
  return out;
}

Status Snapshotter::Delete(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  std::unique_lock op(op_mu_, std::try_to_lock);
  if (!op.owns_lock()) return Status::Error(EBUSY, "a snapshot, rollback, delete or gc is running");
  AMBER_RETURN_IF_ERROR(RefuseWhileRollbackUnfinished());
  AMBER_ASSIGN_OR_RETURN(CatalogEntry entry, catalog_->Get(name));
  if (options_.pinned_snapshot && options_.pinned_snapshot() == name) {
    return Status::Error(EBUSY, "snapshot " + std::string(name) + " is the one this clone was made from, and some "
                                "of its chunks are still only in the slow store; `echo hydrate > ctl` fetches "
                                "them, then it can be deleted");
  }
  if (entry.record == base_record_) {
    // The next snapshot reaches this one's unchanged chunks through the base:
    // keep them marked for other volumes' gc, which only sees the slow store.
    const std::string ref = BaseRef(options_.volume_uuid);
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> value,
                           options_.codec.SealRef(ref, AsBytes(EncodeSnapshotRefValue(base_record_))));
    Status published = store_->PutRefSync(ref, value, std::chrono::seconds(60));
    if (published.code() == ENOSPC) {
      published = published.Annotate("the file system is full; delete other snapshots and run gc first");
    }
    AMBER_RETURN_IF_ERROR(published.Annotate("publish the base before deleting the snapshot that is the base"));
  }
  // A full file system: the marker written before the ref's delete gets room
  // from the space reserve (see "Full file system" in snapshotter.h).
  return RetryWithSpaceReserve(options_.space_reserve, [&] { return DeleteLocked(std::string(name), entry); });
}

Status Snapshotter::DeleteLocked(const std::string& name, const CatalogEntry& entry) {
  // The slow ref goes first: if that fails the snapshot stays listed and the
  // delete can be retried, rather than leaving a ref no catalog knows of.
  {
    auto refs_lock = refs_->Lock();
    AMBER_RETURN_IF_ERROR(store_->DeleteRef(SnapshotRef(options_.volume_uuid, name)).Annotate("delete snapshot ref"));
    AMBER_RETURN_IF_ERROR(catalog_->Remove(name));
  }
  {
    std::lock_guard lk(read_mu_);
    records_.erase(entry.record);
  }
  std::lock_guard lk(stats_mu_);
  ++stats_.deletes;
  return Status::OK();
}

Status Snapshotter::Drain(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(drain_watch_.mu);
    if (drain_watch_.running++ == 0) drain_watch_.base_uploaded = store_->Stats().uploaded;
  }
  struct EndWatch {
    Snapshotter* self;
    ~EndWatch() {
      const PairedStats now = self->store_->Stats();
      OperationProgress::Figures f = self->DrainFigures(now);
      std::lock_guard lk(self->drain_watch_.mu);
      if (--self->drain_watch_.running == 0) self->drain_watch_.last = OperationProgress::Figures{false, f.done, f.goal};
    }
  } end{this};
  // Not done while a catalog snapshot's ref may be neither uploaded nor queued.
  AMBER_RETURN_IF_ERROR(refs_->Verify().Annotate("drain"));
  return store_->Drain(timeout);
}

// Uploads done since the first running drain began, against those plus the
// ones still waiting.
OperationProgress::Figures Snapshotter::DrainFigures(const PairedStats& now) const {
  std::lock_guard lk(drain_watch_.mu);
  if (drain_watch_.running == 0) return drain_watch_.last;
  const uint64_t done = now.uploaded >= drain_watch_.base_uploaded ? now.uploaded - drain_watch_.base_uploaded : 0;
  return OperationProgress::Figures{true, done, done + now.pending};
}

SnapshotterStats Snapshotter::Stats() const {
  SnapshotterStats s;
  {
    std::lock_guard lk(stats_mu_);
    s = stats_;
  }
  s.store = store_->Stats();
  s.snapshot_progress = snapshot_progress_.Read();
  s.rollback_progress = rollback_progress_.Read();
  s.gc_progress = gc_progress_.Read();
  s.drain_progress = DrainFigures(s.store);
  s.refs_verified = refs_->verified();
  s.refs_requeued = refs_->requeued();
  return s;
}

// Queues ref = want (sealed by the codec when sealed is true) unless the
// fast store's copy already holds it.
Status Snapshotter::PublishRefOnce(const std::string& ref, std::span<const uint8_t> want, bool sealed) {
  Result<std::vector<uint8_t>> have = store_->GetRef(ref);
  if (have.ok() && sealed) have = options_.codec.OpenRef(ref, std::move(have).value());
  if (have.ok() && std::equal(have->begin(), have->end(), want.begin(), want.end())) return Status::OK();
  std::vector<uint8_t> value(want.begin(), want.end());
  if (sealed) {
    AMBER_ASSIGN_OR_RETURN(value, options_.codec.SealRef(ref, want));
  }
  return store_->PutRef(ref, value);
}

Status Snapshotter::PublishConfig() {
  if (config_published_ || options_.config_text.empty()) return Status::OK();
  // The key object first: a reader of the slow store opens the config with it.
  if (!options_.key_object.empty()) {
    AMBER_RETURN_IF_ERROR(PublishRefOnce(VolumeKeyRef(options_.volume_uuid), options_.key_object, false)
                              .Annotate("publish the volume's key object"));
  }
  AMBER_RETURN_IF_ERROR(PublishRefOnce(VolumeConfigRef(options_.volume_uuid), AsBytes(options_.config_text), true)
                            .Annotate("publish volume config"));
  config_published_ = true;
  return Status::OK();
}

}  // namespace amberfs
