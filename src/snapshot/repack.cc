// Repack: see repack.h.
#include "snapshot/repack.h"

#include <unordered_set>

#include "amberfs/log.h"
#include "store/pack_file.h"
#include "store/pack_objects.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"

namespace amberfs {
namespace {

// The bytes of a pack's blobs, from its table: here, else in the slow store.
Result<uint64_t> PackBlobBytes(PairedStore* store, const Pointer& pack) {
  std::vector<PackEntry> entries;
  Result<std::unique_ptr<PackReader>> local =
      PackReader::Open(store->packed_fast()->packs_dir() + "/" + pack.Hex(), pack, store->packed_fast()->pack_tables());
  if (local.ok()) {
    entries = (*local)->entries();
  } else if (local.status().code() == ENOENT) {
    AMBER_ASSIGN_OR_RETURN(entries, GetPackIndex(store->slow(), pack, store->packed_fast()->pack_tables()));
  } else {
    return local.status();
  }
  uint64_t bytes = 0;
  for (const PackEntry& e : entries) bytes += e.length;
  return bytes;
}

}  // namespace

Result<RepackResult> RepackSparsePacks(PairedStore* store, double threshold, const std::function<Status()>& keep_alive) {
  RepackResult result;
  PackedDiskStore* packed = store->packed_fast();
  if (packed == nullptr) return result;
  AMBER_ASSIGN_OR_RETURN(std::vector<PackUse> uses, packed->PackUses());
  std::unordered_set<Pointer> sparse;
  for (const PackUse& use : uses) {
    Result<uint64_t> total = PackBlobBytes(store, use.pack);
    if (!total.ok()) {
      // Not fatal for gc: this pack is left as it is, and fsck is the place
      // to report a pack that can be read nowhere.
      LOG_WARN("gc: repack: pack %s left as it is: %s", use.pack.Hex().c_str(), total.status().ToString().c_str());
      continue;
    }
    if (*total > use.live_bytes && static_cast<double>(*total - use.live_bytes) > threshold * static_cast<double>(*total))
      sparse.insert(use.pack);
  }
  if (sparse.empty()) return result;
  AMBER_ASSIGN_OR_RETURN(auto live, packed->LiveBlobsOf(sparse));
  std::unique_ptr<PutBatch> batch = store->NewRepackBatch();
  for (const auto& [pack, blobs] : live) {
    AMBER_RETURN_IF_ERROR(keep_alive());
    for (const Pointer& blob : blobs) {
      Result<std::vector<uint8_t>> data = store->Get(blob);
      if (!data.ok()) return data.status().Annotate("gc: repack pack " + pack.Hex());
      AMBER_RETURN_IF_ERROR(batch->Put(blob, *data).Annotate("gc: repack pack " + pack.Hex()));
      ++result.blobs;
      result.bytes += data->size();
    }
    ++result.packs;
  }
  AMBER_RETURN_IF_ERROR(batch->Commit().Annotate("gc: repack"));
  LOG_INFO("gc: repacked %llu packs over %.0f%% dead: %llu live blobs (%llu bytes) copied into new packs",
           static_cast<unsigned long long>(result.packs), threshold * 100,
           static_cast<unsigned long long>(result.blobs), static_cast<unsigned long long>(result.bytes));
  return result;
}

}  // namespace amberfs
