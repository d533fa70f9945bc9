// PackedDiskStore: a Store in a directory whose batches go into packs
// (docs/DESIGN.md, "Packs"): every volume's fast store (volume format 2),
// under PairedStore. Its deletes are index tombstones; gc does not repack
// yet, so a pack's bytes stay while any of its blobs is live.
//
// Layout under root:
//   packs/<64 hex>       a sealed pack (pack_format.h), named by PackName
//   packs/.tmp.*         a pack being written (removed by an exclusive Open)
//   index/               the BlobIndex (blob_index.h): blob -> pack location
//   blobs/<ab>/<64 hex>  a loose blob (a single Put), as in DiskStore
//   <ref name>           a ref, as in DiskStore
// packs/ and index/ are created by Open (one directory fsync of root).
// Refs and loose blobs are a DiskStore's (disk_store.h), with its crash
// safety; "packs" and "index" are reserved first components of ref names.
//
// Guests (options.read_only: fsck without repair, a listing beside a
// mount): the DiskStore opened as options.disk says, the index read-only,
// packs/ not created; batches then fail at their first Put (EROFS).
//
// BlobInventory: every indexed blob with its length as its disk bytes and
// its pack's mtime as its last access (packs are read through the index,
// not by atime), then the loose blobs the index lacks. StoredSize is a
// blob's byte count without reading it (fsck's presence check).
//
// Space reserve (space_reserve.h): pack appends and loose Puts ask it first.
//
// NewPutBatch: Puts append to an open PackWriter (several threads at once;
// a full pack is set aside and a new one started); a blob the index or the
// loose store holds, or the batch has taken already, is not written again.
// Commit: seal every pack of the batch (tail, fdatasync, rename), one fsync
// of packs/, then one BlobIndex::Commit (one write, one fdatasync) naming
// every blob: three syncs for a batch of one pack, never syncfs. A pack is
// in the index only once it is durable, so after a crash the index names
// whole packs only; a pack sealed by a batch whose index commit did not
// happen is an orphan, removed by the next Open that owns the store
// (options.disk.exclusive, not read_only; pack_orphans.h: one pass over the
// index, as the budget's inventory makes at mount). A batch destroyed
// uncommitted removes its unsealed packs; a crash leaves them as temp files,
// which DiskStore's exclusive Open removes (it walks packs/ too).
//
// Put (single): a loose blob, DiskStore's durable Put; nothing when the
// index names the blob in a pack that exists (when that pack is not here,
// the loose copy is written and the entry stays). Get: the index, then the
// pack's range with pread (verified, EBADMSG naming blob and pack); not
// indexed, or its pack not here: the loose blob; neither is ENOENT naming
// the pack (the caller reads the slow store's copy of the pack by range,
// pack_objects.h).
//
// Evict (the budget's, of a blob the slow store holds): the loose copy
// goes; a packed blob keeps its index entry (so a read knows which slow
// pack to ask), and once every live blob of its pack is evicted or
// deleted, the pack file goes (not durably: a crash brings it back, which
// costs space only). Which blobs of a pack are left is kept in memory from
// the first eviction in it since open.
//
// Pack objects: GetObjectRange reads a pack this store holds (what its
// upload sends, pack_objects.h's name); the other object calls are ENOTSUP.
//
// SealedPacks of a committed batch: its packs with their blobs, which the
// PairedStore queues as pack uploads.
//
// Delete: a tombstone in the index (committed, so
// durable, before Delete returns) and the loose copy; the pack's bytes stay.
// ReclaimDeleted (gc's and fsck -y's last step) then removes every pack the
// index names no live blob of (pack_orphans.h: one pass over the index and
// one listing of packs/; unlinks, then one fsync of packs/), holding off
// batch commits meanwhile, so that no pack between its seal and its index
// commit is taken for dead; only an exclusive, writable store does so, and
// only after a Delete tombstoned something since the last pass. A crash
// between the unlinks and the fsync leaves orphans the next Open removes.
// A pack with one live blob stays whole (repacking it: not yet).
// List: the index's live entries, then loose blobs not indexed.
//
// Thread-safety: every method is safe for concurrent calls; a batch's Puts
// may run concurrently, its Commit once no Put runs.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "store/blob_index.h"
#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/store.h"

namespace amberfs {

// How much of one pack the index names live (PackUses).
struct PackUse {
  Pointer pack;
  uint64_t live_blobs = 0;
  uint64_t live_bytes = 0;
};

struct PackedDiskStoreOptions {
  PackWriterOptions pack;
  BlobIndexOptions index;
  DiskStoreOptions disk{.exclusive = true};  // refs and loose blobs
  bool read_only = false;                   // a guest: see above
};

class PackedDiskStore : public Store, public BlobInventory {
 public:
  static Result<std::unique_ptr<PackedDiskStore>> Open(const std::string& root, PackedDiskStoreOptions options = {});

  std::string Describe() const override;
  // What seals and opens this store's pack tables (options.pack.tables;
  // null for an unencrypted volume), for the readers of its packs.
  const PackTableCodec* pack_tables() const { return options_.pack.tables.get(); }
  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  std::unique_ptr<PutBatch> NewPutBatch() override;
  // A batch that writes every blob put into it into its own new packs, even
  // one the store holds; at Commit the index names the new copies (a later
  // entry wins), so the packs they came from lose those live blobs (gc's
  // repacking: the old packs' space is freed once nothing live is left).
  std::unique_ptr<PutBatch> NewRepackBatch();
  // Every pack the index names, with its live blobs' count and bytes: one
  // pass over the index, memory per pack (64 a GiB), not per blob.
  Result<std::vector<PackUse>> PackUses();
  // The live blobs of each of packs: one more pass.
  Result<std::unordered_map<Pointer, std::vector<Pointer>>> LiveBlobsOf(const std::unordered_set<Pointer>& packs);
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  Status Evict(const Pointer& key) override;
  PackedDiskStore* packed_store() override { return this; }
  Result<uint64_t> ReclaimDeleted() override;
  Status List(const std::function<Status(const Pointer&)>& fn) override;
  // Pack objects (pack_objects.h): only reads, of the packs it holds (what
  // a pack's upload sends). Its other object calls are ENOTSUP.
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override;
  Result<size_t> ReadObjectInto(std::string_view name, AlignedBuffer* into) override;

  Status ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) override;
  Result<uint64_t> BlobDiskSize(const Pointer& key) override;
  // The blobs of pack `pack` (its table, checked against its name).
  Result<std::vector<Pointer>> PackBlobs(const Pointer& pack);
  // The blob's length in bytes (index, else the loose file's size); ENOENT.
  Result<uint64_t> StoredSize(const Pointer& key);
  void set_space_reserve(SpaceReserve* reserve) {
    space_reserve_ = reserve;
    loose_->set_space_reserve(reserve);
  }

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
  // The pack a pack object's name is of: EINVAL for an invalid name, ENOTSUP
  // for an index object (this store keeps none).
  Result<Pointer> PackOfObject(std::string_view name) const;
  // key of pack is evicted (`evicting`) or deleted: once no live blob of a
  // pack an eviction has begun on is left unevicted, its file goes.
  Status ForgetEvictable(const Pointer& pack, const Pointer& key, bool evicting);

  const std::unique_ptr<DiskStore> loose_;
  const std::unique_ptr<BlobIndex> index_;
  const std::string packs_dir_;
  const PackedDiskStoreOptions options_;
  SpaceReserve* space_reserve_ = nullptr;  // not owned
  // Shared by a batch's Commit from its first seal to its last index commit;
  // ReclaimDeleted takes it exclusively (a sealed pack not yet indexed would
  // look dead).
  std::shared_mutex commit_mu_;
  std::atomic<bool> tombstoned_{false};
  std::mutex evict_mu_;
  // Packs an Evict has begun on: their live blobs not yet evicted.
  std::unordered_map<Pointer, std::unordered_set<Pointer>> unevicted_;  // a Delete tombstoned a blob since the last ReclaimDeleted
};

}  // namespace amberfs
