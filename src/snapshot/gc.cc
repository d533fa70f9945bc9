// Snapshotter::Gc: mark what any snapshot reaches, sweep the rest, slow store
// first (see snapshotter.h).
#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_set>

#include "amberfs/log.h"
#include "snapshot/repack.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"
#include "store/slow_store_locks.h"

namespace amberfs {
namespace {

// Marks a record and everything its tree reaches, reading through `store`;
// calls keep_fresh now and then (a big tree takes long to walk).
Status MarkSnapshot(Store* store, const VolumeCodec& codec, const Pointer& record, std::unordered_set<Pointer>* marked,
                    const std::function<Status()>& keep_fresh) {
  if (!marked->insert(record).second) return Status::OK();
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, GetBlob(*store, codec, BlobRole::kRecord, record));
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord rec, DecodeSnapshotRecord(bytes));
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, rec.Geometry());
  IndexTree tree(store, geo, 0, codec);
  return tree.ForEachBlob(rec.root, [&](const Pointer& p, BlobKind kind) -> Result<bool> {
    if (kind != BlobKind::kChunk) AMBER_RETURN_IF_ERROR(keep_fresh());
    return marked->insert(p).second;  // a node seen before: its subtree is marked already
  });
}

// Marks what every snapshot and base ref of every volume in the slow store
// reaches (volumes/<uuid>/snapshots/<name>, volumes/<uuid>/base). Other
// volumes' trees are read from the slow store itself, so gc does not fill our
// fast store; counts their snapshots in *others. Their refs and trees are
// read with this volume's codec: a volume under another key cannot be read,
// and gc then refuses to collect (it cannot know what that volume needs).
Status MarkSlowStoreRefs(PairedStore* store, const VolumeCodec& codec, const std::string& uuid,
                         std::unordered_set<Pointer>* marked,
                         const std::function<Status()>& keep_fresh, uint64_t* others) {
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> refs, store->slow().ListRefs("volumes/"));
  const std::string own_prefix = SnapshotRefPrefix(uuid);
  for (const std::string& ref : refs) {
    // volumes/<uuid>/snapshots/<name> or volumes/<uuid>/base
    const size_t pos = ref.find("/snapshots/");
    const bool base = ref.size() > 5 && ref.compare(ref.size() - 5, 5, "/base") == 0 &&
                      std::count(ref.begin(), ref.end(), '/') == 2;
    if (!base && (pos == std::string::npos || ref.find('/', pos + 11) != std::string::npos)) continue;
    const bool own = ref.compare(0, own_prefix.size(), own_prefix) == 0;
    Store* reader = own ? static_cast<Store*>(store) : &store->slow();
    Result<std::vector<uint8_t>> value = store->slow().GetRef(ref);
    if (!value.ok() && value.status().code() == ENOENT) continue;  // deleted meanwhile
    if (!value.ok()) return value.status().Annotate("gc: read ref " + ref);
    Result<std::vector<uint8_t>> opened = codec.OpenRef(ref, std::move(value).value());
    if (!opened.ok()) return opened.status().Annotate("gc: ref " + ref + " (refusing to collect)");
    Result<Pointer> record = DecodeSnapshotRefValue(*opened);
    if (!record.ok()) return record.status().Annotate("gc: ref " + ref + " (refusing to collect)");
    AMBER_RETURN_IF_ERROR(MarkSnapshot(reader, codec, *record, marked, keep_fresh).Annotate("gc: mark " + ref));
    if (!own && !base) ++*others;
  }
  return Status::OK();
}

// Deletes keys through the paired store, a batch at a time (one upload-log
// sync per batch), keeping the gc marker fresh; counts them in *deleted.
Status Sweep(PairedStore* store, const std::vector<Pointer>& keys, bool slow_lacks,
             const std::function<Status()>& keep_fresh, uint64_t* deleted, OperationProgress* progress) {
  constexpr size_t kBatch = 1000;
  for (size_t first = 0; first < keys.size(); first += kBatch) {
    AMBER_RETURN_IF_ERROR(keep_fresh());
    const size_t n = std::min(kBatch, keys.size() - first);
    AMBER_RETURN_IF_ERROR(store->DeleteBlobs(std::span(keys).subspan(first, n), slow_lacks).Annotate("gc: delete"));
    *deleted += n;
    progress->Advance(n);
  }
  return Status::OK();
}

}  // namespace

Result<GcReply> Snapshotter::Gc() {
  std::unique_lock op(op_mu_, std::try_to_lock);
  if (!op.owns_lock()) return Status::Error(EBUSY, "a snapshot, rollback, delete or gc is running");
  AMBER_RETURN_IF_ERROR(RefuseWhileRollbackUnfinished());
  // A full file system: gc's own writes (markers, upload-log records) get
  // room from the space reserve, a slice per try; once gc has freed
  // something the reserve is made whole again.
  Result<GcReply> reply = RetryWithSpaceReserve(options_.space_reserve, [&] { return GcLocked(); });
  if (reply.ok() && options_.space_reserve != nullptr) options_.space_reserve->Replenish();
  return reply;
}

Result<GcReply> Snapshotter::GcLocked() {
  const auto start = std::chrono::steady_clock::now();
  GcReply reply;
  std::unordered_set<Pointer> marked;
  ProgressRun progress(&gc_progress_, 0);  // the goal is known once marking is done

  // Announce the sweep before looking at anything, and give way to any other
  // volume with uploads in flight (slow_store_locks.h): their blobs may
  // belong to a snapshot whose ref is not in the slow store yet.
  Store& slow = store_->slow();
  AMBER_RETURN_IF_ERROR(AcquireGcMarker(slow, options_.volume_uuid).Annotate("gc"));
  struct ReleaseMarker {
    Store& slow;
    const std::string& uuid;
    ~ReleaseMarker() {
      Status st = slow.DeleteRef(GcMarkerRef(uuid));
      if (!st.ok()) LOG_WARN("gc: release gc marker: %s", st.ToString().c_str());
    }
  } release{slow, options_.volume_uuid};
  auto refreshed = std::chrono::steady_clock::now();
  auto keep_marker_fresh = [&]() -> Status {
    if (std::chrono::steady_clock::now() - refreshed < kGcMarkerRefresh) return Status::OK();
    refreshed = std::chrono::steady_clock::now();
    return AcquireGcMarker(slow, options_.volume_uuid, /*refresh_only=*/true).Annotate("gc");
  };

  // Our own snapshots and the base, read through the paired store.
  AMBER_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries, catalog_->List());
  for (const CatalogEntry& e : entries) {
    AMBER_RETURN_IF_ERROR(
        MarkSnapshot(store_, options_.codec, e.record, &marked, keep_marker_fresh).Annotate("gc: mark snapshot " + e.name));
  }
  if (!base_record_.IsNull()) {
    AMBER_RETURN_IF_ERROR(
        MarkSnapshot(store_, options_.codec, base_record_, &marked, keep_marker_fresh).Annotate("gc: mark base snapshot"));
  }
  AMBER_RETURN_IF_ERROR(MarkSlowStoreRefs(store_, options_.codec, options_.volume_uuid, &marked, keep_marker_fresh,
                                          &reply.snapshots_of_other_volumes));
  reply.reachable = marked.size();

  // Sweep: what the slow store holds first, then what only the fast store
  // holds; PairedStore::DeleteBlobs removes the slow copy before the fast one.
  // Whether a blob is in the slow store comes from its listing, never from a
  // request per blob.
  std::vector<Pointer> slow_garbage, fast_garbage;
  std::unordered_set<Pointer> in_slow;
  AMBER_RETURN_IF_ERROR(store_->slow().List([&](const Pointer& p) {
    if (!marked.count(p)) {
      slow_garbage.push_back(p);
      in_slow.insert(p);
    }
    return keep_marker_fresh();
  }).Annotate("gc: list slow store"));
  uint64_t fast_unmarked = 0;
  AMBER_RETURN_IF_ERROR(store_->fast().List([&](const Pointer& p) {
    if (marked.count(p)) return Status::OK();
    ++fast_unmarked;
    if (!in_slow.count(p)) fast_garbage.push_back(p);
    return Status::OK();
  }).Annotate("gc: list fast store"));
  // Another volume may have deleted a ref since we looked for its upload
  // marker, with a snapshot pending that reaches what that ref kept: it wrote
  // its marker before the delete, so look again before sweeping anything.
  AMBER_RETURN_IF_ERROR(RecheckUploadMarkers(slow, options_.volume_uuid).Annotate("gc"));
  gc_progress_.SetGoal(slow_garbage.size() + fast_garbage.size());
  Status swept = Sweep(store_, slow_garbage, /*slow_lacks=*/false, keep_marker_fresh, &reply.deleted_slow,
                       &gc_progress_);
  uint64_t fast_only = 0;
  if (swept.ok()) swept = Sweep(store_, fast_garbage, /*slow_lacks=*/true, keep_marker_fresh, &fast_only, &gc_progress_);
  // Packs the sweep left mostly dead: their live blobs into new packs
  // (repack.h), uploaded before the old packs leave the slow store.
  if (swept.ok() && options_.repack_threshold < 1) {
    Result<RepackResult> repacked = RepackSparsePacks(store_, options_.repack_threshold, keep_marker_fresh);
    if (!repacked.ok()) swept = repacked.status();
    if (repacked.ok() && repacked->packs > 0) {
      reply.repacked_packs = repacked->packs;
      reply.repacked_bytes = repacked->bytes;
      Status uploaded = store_->Drain(options_.repack_upload_wait);
      if (!uploaded.ok())
        LOG_WARN("gc: the repacked packs are not all in the slow store yet (%s); the old ones stay there until a "
                 "later gc", uploaded.ToString().c_str());
    }
  }
  // Give back the space now, not at the next mount: the packs whose every
  // blob is deleted or copied to a denser pack, in the slow store first,
  // then in the fast one (one pass over the blob index); also after a failed
  // sweep, for what it did delete.
  Result<uint64_t> freed_slow = store_->slow().ReclaimDeleted();
  Result<uint64_t> freed_fast = freed_slow.ok() ? store_->fast().ReclaimDeleted() : freed_slow;
  AMBER_RETURN_IF_ERROR(swept);
  if (!freed_slow.ok()) return freed_slow.status().Annotate("gc: remove dead packs from the slow store");
  if (!freed_fast.ok()) return freed_fast.status().Annotate("gc");
  reply.freed_slow_bytes = *freed_slow;
  reply.freed_fast_bytes = *freed_fast;
  reply.deleted_fast = fast_unmarked;  // the slow garbage's fast copies went with it
  reply.duration = std::chrono::steady_clock::now() - start;
  LOG_INFO("gc: %llu blobs reachable, %llu deleted from the slow store, %llu from the fast store, %llu slow-store "
           "and %llu fast-store bytes freed",
           (unsigned long long)reply.reachable, (unsigned long long)reply.deleted_slow,
           (unsigned long long)reply.deleted_fast, (unsigned long long)reply.freed_slow_bytes,
           (unsigned long long)reply.freed_fast_bytes);
  std::lock_guard lk(stats_mu_);
  ++stats_.gcs;
  stats_.gc_deleted += reply.deleted_slow + reply.deleted_fast;
  {
    std::lock_guard rl(read_mu_);
    chunk_cache_.Clear();
  }
  return reply;
}

}  // namespace amberfs
