// Orphan packs: sealed packs in a PackedDiskStore's packs/ of which the
// blob index names no blob. A batch seals its packs before its index
// commit (packed_disk_store.h), so a crash between the two leaves the
// batch's packs orphans (its snapshot was never committed, nothing reaches
// them); a pack whose every blob was deleted (tombstoned) is one too.
// Nothing reads an orphan's bytes through the index, so removing one loses
// nothing the store serves.
//
// FindOrphanPacks: one pass over the index's live entries (collecting the
// packs they name: 64 per GiB) and one listing of packs_dir. Names that are
// not 64 lowercase hex digits (temp files: DiskStore's open removes those)
// are not packs and are skipped; a missing packs_dir has none. Each orphan comes with its size in bytes.
// The caller must be the store's only writer (the volume lock): a batch
// between its seal and its index commit would look orphaned.
//
// RemoveOrphanPacks: unlinks each, then one fsync of packs_dir. Errors keep
// their errno and name the path; packs removed before an error stay removed.
//
// Thread-safety: none of its own; the index's methods are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "store/blob_index.h"
#include "store/pointer.h"

namespace amberfs {

struct OrphanPack {
  Pointer name;
  uint64_t bytes = 0;
};

// The sealed packs in packs_dir by name (what FindOrphanPacks lists; fsck's
// pack check too): names of 64 lowercase hex digits, none if packs_dir is
// missing. Errors keep their errno and name the directory.
Result<std::vector<Pointer>> ListPackFiles(const std::string& packs_dir);
Result<std::vector<OrphanPack>> FindOrphanPacks(const std::string& packs_dir, const BlobIndex& index);
Status RemoveOrphanPacks(const std::string& packs_dir, const std::vector<OrphanPack>& orphans);

}  // namespace amberfs
