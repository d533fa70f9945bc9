// Repack: gc's step after the sweep (docs/DESIGN.md "Packs"). A pack that
// has lost more than `threshold` of its blob bytes to gc keeps the rest of
// them alive, and with them all its bytes, in both stores. RepackSparsePacks
// copies the live blobs of every such pack of the fast store's index into
// new packs (PairedStore::NewRepackBatch: one batch, committed like a
// snapshot's, so the new packs are durable, indexed and queued for upload
// before it returns). The index then names the new copies, so the old packs
// hold nothing live there: the fast store's ReclaimDeleted removes them, and
// the slow store's (SlowPacks) deletes each old pack once its new packs are
// uploaded (a live blob's denser copy). Until then both copies exist; a
// crash at any point leaves at worst both (the next gc finishes).
//
// A pack's size is its blobs' bytes, from its table: the fast store's file,
// or the slow store's index object when the pack was evicted. Live blobs
// are read through the PairedStore (a ranged read of the slow pack when the
// fast store has evicted it). keep_alive runs between packs (gc refreshes
// its marker there).
//
// Thread-safety: the caller's (gc holds the volume's operation lock).
#pragma once

#include <cstdint>
#include <functional>

#include "amberfs/status.h"

namespace amberfs {

class PairedStore;

// The default share of a pack's bytes that may be dead before gc repacks it.
inline constexpr double kDefaultRepackThreshold = 0.2;

struct RepackResult {
  uint64_t packs = 0;  // packs whose live blobs were copied out
  uint64_t blobs = 0;  // blobs copied
  uint64_t bytes = 0;  // bytes copied
};

Result<RepackResult> RepackSparsePacks(PairedStore* store, double threshold, const std::function<Status()>& keep_alive);

}  // namespace amberfs
