// --slow: the slow store's snapshot refs of this volume point at complete
// snapshots (a volume must be rebuildable from the slow store alone), and
// every catalog snapshot has its ref there or queued. The per-blob upload
// check is in upload_log.cc.
#include <set>

#include "snapshot/index_tree.h"
#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

// Walks a tree in the slow store only, collecting blobs it lacks.
class SlowWalker {
 public:
  SlowWalker(Context& ctx, const IndexGeometry& geo, std::set<Pointer>* seen) : ctx_(ctx), geo_(geo), seen_(seen) {}

  void Node(const Pointer& ptr, uint64_t first_chunk, uint32_t height) {
    if (!seen_->insert(ptr).second) return;
    Result<std::vector<uint8_t>> bytes = GetBlob(*ctx_.slow, ctx_.codec, BlobRole::kNode, ptr);
    if (!bytes.ok()) {
      missing.push_back(ptr);
      return;
    }
    Result<std::vector<Pointer>> slots = DecodeIndexNode(geo_, *bytes, first_chunk, height);
    if (!slots.ok()) {
      missing.push_back(ptr);
      return;
    }
    const uint64_t span = geo_.SlotSpan(height);
    for (size_t s = 0; s < slots->size(); ++s) {
      const Pointer& child = (*slots)[s];
      if (child.IsNull()) continue;
      if (height > 1) {
        Node(child, first_chunk + s * span, height - 1);
      } else if (seen_->insert(child).second && !ctx_.SlowHas(child)) {
        missing.push_back(child);
      }
    }
  }

  std::vector<Pointer> missing;

 private:
  Context& ctx_;
  const IndexGeometry geo_;
  std::set<Pointer>* seen_;
};

// A snapshot in the catalog whose ref is neither in the slow store nor
// queued in the upload log would never reach it (the mount queues it).
void CheckCatalogRefs(Context& ctx, const std::vector<std::string>& slow_refs) {
  const std::string prefix = SnapshotRefPrefix(ctx.config->uuid);
  std::set<std::string> reachable(slow_refs.begin(), slow_refs.end());
  for (const UploadEntry& e : ctx.log.scan.pending)
    if (e.kind == UploadEntry::Kind::kRef) reachable.insert(e.ref_name);
  for (const Snapshot& s : ctx.snapshots) {
    if (s.base_only || reachable.count(prefix + s.entry.name)) continue;
    ctx.Problem(FsckClass::kSlowStore, "snapshot " + s.entry.name,
                "in the catalog, but its ref is neither in the slow store nor queued for upload (the next mount "
                "queues it)");
  }
}

}  // namespace

Status CheckSlowStore(Context& ctx) {
  if (!ctx.slow) {
    ctx.Skip("slow store refs (the slow store is not available)");
    return Status::OK();
  }
  const std::string prefix = SnapshotRefPrefix(ctx.config->uuid);
  Result<std::vector<std::string>> refs = ctx.slow->ListRefs(prefix);
  if (!refs.ok()) {
    ctx.Skip("slow store refs: " + refs.status().ToString());
    return Status::OK();
  }
  std::set<std::string> local;
  for (const Snapshot& s : ctx.snapshots) {
    if (!s.base_only) local.insert(s.entry.name);
  }
  CheckCatalogRefs(ctx, *refs);
  std::set<Pointer> seen;  // blobs known to be in the slow store, or reported missing
  uint64_t done = 0;
  for (const std::string& ref : *refs) {
    ctx.Progress("slow refs", done++, refs->size());
    const std::string name = ref.substr(prefix.size());
    if (!local.count(name)) {
      ctx.Problem(FsckClass::kNote, ref,
                  "the slow store has snapshot " + name + " but the catalog does not (an interrupted delete?)");
    }
    Result<std::vector<uint8_t>> data = ctx.slow->GetRef(ref);
    if (data.ok()) data = ctx.codec.OpenRef(ref, std::move(data).value());
    Result<Pointer> ptr = data.ok() ? DecodeSnapshotRefValue(*data) : Result<Pointer>(data.status());
    if (!ptr.ok()) {
      ctx.Problem(FsckClass::kSlowStore, ref, "snapshot ref is unreadable: " + ptr.status().message());
      continue;
    }
    Result<std::vector<uint8_t>> bytes = GetBlob(*ctx.slow, ctx.codec, BlobRole::kRecord, *ptr);
    Result<SnapshotRecord> record = bytes.ok() ? DecodeSnapshotRecord(*bytes) : Result<SnapshotRecord>(bytes.status());
    std::vector<Pointer> missing;
    if (!record.ok() || !record->Geometry().ok()) {
      missing.push_back(*ptr);
    } else if (!record->root.IsNull()) {
      SlowWalker walker(ctx, *record->Geometry(), &seen);
      walker.Node(record->root, 0, record->depth);
      missing = std::move(walker.missing);
    }
    if (missing.empty()) continue;
    // Publishing a ref before its blobs are in the slow store breaks
    // "blobs before refs"; the fast store may still hold them to upload again.
    size_t p = ctx.Problem(FsckClass::kSlowStore, ref,
                           "snapshot ref points at an incomplete snapshot: " + std::to_string(missing.size()) +
                               " blobs missing from the slow store (first " + Short(missing[0]) + ")");
    bool all_local = true;
    for (const Pointer& key : missing) {
      Result<bool> local = ctx.fast ? ctx.fast->Contains(key) : Result<bool>(false);
      if (local.ok() && *local) ctx.plan.requeue.push_back({key, p, false});
      else all_local = false;
    }
    if (!all_local) ctx.plan.requeue.push_back({Pointer(), p, false});  // cannot settle p: marks it unrepairable
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
