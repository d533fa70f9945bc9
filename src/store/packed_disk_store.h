// PackedDiskStore: a Store in a directory whose batches go into packs
// (docs/DESIGN.md, "Packs"). In progress: not yet used by any volume; the
// fast store is still a DiskStore until PairedStore, fsck, gc and the slow
// store side know packs.
//
// Layout under root:
//   packs/<64 hex>       a sealed pack (pack_format.h), named by PackName
//   packs/.tmp.*         a pack being written (removed at Open)
//   index/               the BlobIndex (blob_index.h): blob -> pack location
//   blobs/<ab>/<64 hex>  a loose blob (a single Put), as in DiskStore
//   <ref name>           a ref, as in DiskStore
// Refs and loose blobs are a DiskStore's (disk_store.h), with its crash
// safety; "packs" and "index" are reserved first components of ref names.
//
// NewPutBatch: Puts append to an open PackWriter (several threads at once;
// a full pack is set aside and a new one started); a blob the index or the
// loose store holds, or the batch has taken already, is not written again.
// Commit: seal every pack of the batch (tail, fdatasync, rename), one fsync
// of packs/, then one BlobIndex::Commit (one write, one fdatasync) naming
// every blob: three syncs for a batch of one pack, never syncfs. A pack is
// in the index only once it is durable, so after a crash the index names
// whole packs only; a pack sealed by a batch whose index commit did not
// happen is an orphan (fsck and gc will collect it: not yet). A batch
// destroyed uncommitted removes its unsealed packs.
//
// Put (single): a loose blob, DiskStore's durable Put. Get: the index, then
// the pack's range with pread (verified, EBADMSG naming blob and pack); not
// indexed: the loose blob. A blob whose pack file is missing is ENOENT
// naming the pack. Delete: a tombstone in the index (the pack's bytes stay
// until a repack: not yet) and the loose copy. List: the index's live
// entries, then loose blobs not indexed.
//
// Thread-safety: every method is safe for concurrent calls; a batch's Puts
// may run concurrently, its Commit once no Put runs.
#pragma once

#include <memory>
#include <string>

#include "store/blob_index.h"
#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/store.h"

namespace amberfs {

struct PackedDiskStoreOptions {
  PackWriterOptions pack;
  BlobIndexOptions index;
};

class PackedDiskStore : public Store {
 public:
  static Result<std::unique_ptr<PackedDiskStore>> Open(const std::string& root, PackedDiskStoreOptions options = {});

  std::string Describe() const override;
  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  std::unique_ptr<PutBatch> NewPutBatch() override;
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  Status List(const std::function<Status(const Pointer&)>& fn) override;

  Status PutRef(std::string_view name, std::span<const uint8_t> data) override { return loose_->PutRef(name, data); }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override { return loose_->GetRef(name); }
  Status DeleteRef(std::string_view name) override { return loose_->DeleteRef(name); }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override { return loose_->ListRefs(prefix); }

  const std::string& packs_dir() const { return packs_dir_; }
  DiskStore& loose() { return *loose_; }
  BlobIndex& index() { return *index_; }
  const PackedDiskStoreOptions& options() const { return options_; }

 private:
  class Batch;
  PackedDiskStore(std::unique_ptr<DiskStore> loose, std::unique_ptr<BlobIndex> index, std::string packs_dir,
                  PackedDiskStoreOptions options)
      : loose_(std::move(loose)), index_(std::move(index)), packs_dir_(std::move(packs_dir)), options_(options) {}
  std::string PackPath(const Pointer& pack) const { return packs_dir_ + "/" + pack.Hex(); }

  const std::unique_ptr<DiskStore> loose_;
  const std::unique_ptr<BlobIndex> index_;
  const std::string packs_dir_;
  const PackedDiskStoreOptions options_;
};

}  // namespace amberfs
