// --slow: the slow store's packs (pack_objects.h). Every index object
// decodes and names its pack (GetPackIndex's checks), and has its pack
// object; a pack object without an index object is a leak (a crash between
// PutPack's two PUTs, or an index object deleted alone): unlisted, so no
// reader finds its blobs, its space lost.
//
// Cost: one listing of index/ (shared with the evicted-pack check) and one
// of packs/; no pack is read. An index object is read only when the
// SlowPacks map has no verdict on it (fsck's blob listing loaded the map
// already, so normally none is read again) or to name why it is broken.
//
// Nothing is repaired: ListObjects gives no object's age, so an orphan pack
// object cannot be told from one whose upload (by any volume sharing the
// store) is between its two PUTs. fsck.amberfs(8) says so.
#include <unordered_set>

#include "fsck/internal.h"
#include "store/pack_objects.h"
#include "store/slow_packs.h"

namespace amberfs::fsck {
namespace {

// The packs of which the slow store lists a pack object; ENOTSUP (a store
// that keeps no packs) is none.
Result<std::unordered_set<Pointer>> ListPackObjects(Store& slow) {
  std::unordered_set<Pointer> packs;
  Status s = slow.ListObjects(kPackObjectPrefix, [&](std::string_view name) {
    if (ValidateObjectName(name).ok()) packs.insert(ObjectNamePack(name));  // else not ours
    return Status::OK();
  });
  if (!s.ok() && s.code() != ENOTSUP) return s;
  return packs;
}

// Whether pack's index object decodes, from the SlowPacks map if it read
// it, else from a GET; the error says why not (ENOENT: gone since the
// listing).
Status IndexObjectDecodes(Context& ctx, const Pointer& pack, uint64_t* blobs) {
  auto* packs = dynamic_cast<SlowPacks*>(ctx.slow.get());
  if (packs != nullptr && packs->PackIndexState(pack) == SlowPacks::IndexState::kLoaded && blobs == nullptr)
    return Status::OK();
  Result<std::vector<PackEntry>> entries = GetPackIndex(*ctx.slow, pack, ctx.pack_tables.get());
  if (entries.ok() && blobs != nullptr) *blobs = entries->size();
  return entries.status();
}

void CheckIndexObject(Context& ctx, const Pointer& pack, bool has_pack_object) {
  uint64_t blobs = 0;
  // A missing pack object is rare: then read the index object to say how
  // many blobs are lost (and that it was not deleted since the listing).
  Status decodes = IndexObjectDecodes(ctx, pack, has_pack_object ? nullptr : &blobs);
  if (decodes.code() == ENOENT) return;  // deleted since the listing (gc)
  if (decodes.code() == EACCES) return;  // another volume's pack, its table sealed under that volume's key
  const std::string object = PackIndexObjectName(pack);
  if (decodes.code() == EBADMSG) {
    ctx.Problem(FsckClass::kSlowStore, object,
                "index object does not decode: " + decodes.message() + "; readers skip the pack, so its blobs are " +
                    "not found in the slow store" + (has_pack_object ? "" : " (and the pack object is missing)"));
    return;
  }
  if (!decodes.ok()) {
    if (ctx.slow_error.empty()) ctx.slow_error = decodes.ToString();
    return;
  }
  if (!has_pack_object) {
    ctx.Problem(FsckClass::kSlowStore, object,
                "index object without its pack object " + PackObjectName(pack) + ": the " + std::to_string(blobs) +
                    " blobs it lists cannot be read");
  }
}

}  // namespace

Status CheckSlowPacks(Context& ctx) {
  if (!ctx.slow) return Status::OK();  // CheckSlowStore said why
  const std::unordered_set<Pointer>* indexed = ctx.SlowIndexedPacks();
  if (indexed == nullptr) {
    ctx.Skip("slow store packs: listing the index objects failed");
    return Status::OK();
  }
  Result<std::unordered_set<Pointer>> objects = ListPackObjects(*ctx.slow);
  if (!objects.ok()) {
    ctx.Skip("slow store packs: " + objects.status().ToString());
    return Status::OK();
  }
  ctx.report.counts.slow_packs = indexed->size();
  ctx.report.counts.slow_pack_objects = objects->size();
  uint64_t done = 0;
  for (const Pointer& pack : *indexed) {
    ctx.Progress("slow packs", done++, indexed->size());
    CheckIndexObject(ctx, pack, objects->count(pack) > 0);
  }
  for (const Pointer& pack : *objects) {
    if (indexed->count(pack)) continue;
    ctx.Problem(FsckClass::kLeak, PackObjectName(pack),
                "pack object without an index object (a crash between an upload's two PUTs, an upload in flight, "
                "or a deleted index object): no reader finds its blobs; -y leaves it (its age is unknown)");
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
