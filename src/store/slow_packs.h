// SlowPacks: a slow store (a directory or an S3 bucket) seen as a plain blob
// store whether its blobs lie loose (blobs/<ab>/<hex>, one object a blob)
// or inside packs (packs/ and index/ objects, pack_objects.h). Every user of
// a slow store (restore, fsck --slow, gc, the Paired store's fallback reads)
// goes through it: OpenStoreUrl returns the raw store wrapped in one.
//
// The pack map: blob -> where it lies (pack, offset, length), built from the
// index objects on the first blob not found loose, and refreshed on a later
// miss (only index objects not loaded yet are read, eight at a time, and at most once per
// options.refresh_interval, so a run of misses lists the store once). A
// pack put or deleted through this store (PutObject / DeleteObject of its
// index object, as PutPack / DeletePack do) enters or leaves the map at
// once. An index object that is damaged (EBADMSG) is logged, remembered and
// skipped: its blobs are not found (fsck of the slow store is the place to
// report it); any other error of a refresh is the caller's error and the
// refresh is tried again at the next miss. An encrypted volume's index
// objects hold sealed tables (pack version 2), opened with the tables
// given by set_pack_tables; one this store cannot open (no tables given, or
// another volume's key: EACCES) is another volume's pack in a shared store,
// remembered as foreign and skipped without a word.
//
// Reads: Get of a blob in the map reads its range from the pack (one
// request) and falls back to a loose copy if the pack read fails; when
// neither exists (ENOENT: another volume's gc deleted the pack after
// repacking it, or the store is away), the map is refreshed and the blob is
// read from another pack that holds it, if any, which reads of it use from
// then on (the old pack stays in the map: the store may come back); a blob
// not in the map is read loose, and on ENOENT looked up in the refreshed
// map. Contains and List answer from the map and the loose blobs; List
// first refreshes the map whatever the interval (a listing is complete) and
// gives each key once (loose blobs, then packed ones not listed loose).
//
// Deletes: Delete removes the loose copy (after a List, only if that
// listing showed one: gc deletes thousands of packed blobs and must not pay
// a request for each) and marks a packed blob dead, in memory: it is then not found (Get ENOENT, Contains false, not listed)
// until a pack loaded later holds it again. ReclaimDeleted deletes every
// pack some of whose blobs are dead and each of whose other blobs has a
// copy in a pack that stays and has a smaller share of dead blobs (all dead
// is the plain case; a repack's new pack, all live, holds the copies of
// the old one's live blobs): DeletePack, index object first. It returns
// the bytes freed. Packs are decided sparsest first, so no two count on
// each other. A pack with a live blob found nowhere denser stays whole
// (gc repacks it first, repack.h). The dead marks live as long as this object:
// gc calls Delete for each unreachable blob and then ReclaimDeleted on the
// same SlowPacks.
//
// A raw store without pack objects (ENOTSUP) simply has no packed blobs.
//
// Memory: the map holds every packed blob of the store, some 150 bytes a
// blob (about 2.5 GiB of RAM per TiB of 64 KiB chunks); a bounded index
// (on disk, or per-pack lookups) is later work. Index objects are read one
// after another at a refresh: parallel reads are later work too.
//
// Everything else (Put, NewPutBatch, refs, the object primitives,
// Describe, RemoteRequests) is the raw store's; raw() gives the raw store
// for callers that need its own type (a DiskStore's root, say).
//
// Thread-safety: every method is safe for concurrent calls. Two locks:
// refresh_mu_ serializes refreshes and ReclaimDeleted (held across their
// store requests), mu_ guards the map and is held only to read or change
// it, never across a request; the order is refresh_mu_, then mu_.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/blob_index_format.h"
#include "store/pack_format.h"
#include "store/store.h"

namespace amberfs {

struct SlowPacksOptions {
  // A miss reloads the pack map at most this often (0: at every miss, for
  // tests).
  std::chrono::milliseconds refresh_interval{1000};
};

class SlowPacks : public Store {
 public:
  // Index objects a refresh of the map reads at once.
  static constexpr size_t kIndexReaders = 8;

  explicit SlowPacks(std::unique_ptr<Store> raw, SlowPacksOptions options = {});

  Store& raw() { return *raw_; }
  // The volume's pack table codec, for packs with sealed tables (before
  // the map is needed; a change forgets which packs were foreign).
  void set_pack_tables(std::shared_ptr<const PackTableCodec> tables);
  // Where key lies in a pack (the map loaded first if it never was); false
  // if in no pack the map knows (a loose blob, or none).
  Result<bool> Locate(const Pointer& key, BlobLocation* where);

  // What the map made of pack's index object, without a request: kLoaded
  // (it decoded), kBroken (EBADMSG: skipped), kForeign (a sealed table this
  // store cannot open: skipped), kUnknown (not read, or gone since). fsck
  // --slow reports the broken ones without reading every index object a
  // second time.
  enum class IndexState { kUnknown, kLoaded, kBroken, kForeign };
  IndexState PackIndexState(const Pointer& pack);

  std::string Describe() const override { return raw_->Describe(); }
  uint64_t RemoteRequests() const override { return raw_->RemoteRequests(); }

  Status Put(const Pointer& key, std::span<const uint8_t> data) override { return raw_->Put(key, data); }
  std::unique_ptr<PutBatch> NewPutBatch() override { return raw_->NewPutBatch(); }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  Result<uint64_t> ReclaimDeleted() override;
  Status List(const std::function<Status(const Pointer&)>& fn) override;

  Status PutRef(std::string_view name, std::span<const uint8_t> data) override { return raw_->PutRef(name, data); }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override { return raw_->GetRef(name); }
  Status DeleteRef(std::string_view name) override { return raw_->DeleteRef(name); }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override { return raw_->ListRefs(prefix); }

  // The raw store's, keeping the map in step with index objects put or
  // deleted here.
  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override;
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override {
    return raw_->GetObjectRange(name, offset, length);
  }
  Status GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                            std::vector<uint8_t>* into) override {
    return raw_->GetObjectRangeInto(name, offset, length, into);
  }
  Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn) override {
    return raw_->ListObjects(prefix, fn);
  }
  Status DeleteObject(std::string_view name) override;

 private:
  struct Pack {
    uint64_t size = 0;
    std::vector<Pointer> blobs;
  };
  enum class Refresh {
    kIfDue,    // a miss: unless the last refresh is younger than the interval
    kAlways,   // List: the map must be complete now
    kIfEmpty,  // Delete: only if the map was never loaded
  };

  // Where key lies in a pack, if the map has it.
  bool Lookup(const Pointer& key, BlobLocation* where);
  // key from a pack other than failed_pack (after a refresh of the map),
  // which Get reads from then on; ENOENT if no other copy reads.
  Result<std::vector<uint8_t>> GetAnotherCopy(const Pointer& key, const Pointer& failed_pack);
  // Loads the index objects of packs not seen yet, as `when` says.
  Status RefreshMap(Refresh when);
  // The index objects of packs, read kIndexReaders at a time; each entry is
  // its pack's GetPackIndex.
  struct IndexRead {
    Result<std::vector<PackEntry>> entries = Status::Error(ECANCELED, "not read");
    uint64_t pack_size = 0;
  };
  std::vector<IndexRead> ReadIndexObjects(const std::vector<Pointer>& packs, const PackTableCodec* tables);
  // Enters a pack's blobs into the map (a blob dead before is live again).
  void AddPackLocked(const Pointer& pack, uint64_t size, const std::vector<PackEntry>& entries);
  void RemovePackLocked(const Pointer& pack);
  // tables_, read under mu_ (set_pack_tables may change it).
  std::shared_ptr<const PackTableCodec> PackTables();
  // The packs ReclaimDeleted deletes, with their sizes (see there).
  std::vector<std::pair<Pointer, uint64_t>> DoomedPacksLocked() const;

  const std::unique_ptr<Store> raw_;
  const SlowPacksOptions options_;

  std::mutex refresh_mu_;  // serializes RefreshMap and ReclaimDeleted
  bool loaded_ = false;    // guarded by refresh_mu_
  std::chrono::steady_clock::time_point last_refresh_;  // guarded by refresh_mu_

  std::mutex mu_;  // guards what follows; a leaf lock
  std::unordered_map<Pointer, BlobLocation> blobs_;  // live packed blobs
  // Further packed copies of a live blob (rare: one uploaded twice), so
  // that it stays found when the pack blobs_ names goes.
  std::unordered_multimap<Pointer, BlobLocation> copies_;
  std::unordered_map<Pointer, Pack> packs_;          // packs loaded
  std::unordered_set<Pointer> broken_;               // index objects that did not decode
  std::unordered_set<Pointer> foreign_;              // sealed tables not ours to open
  std::shared_ptr<const PackTableCodec> tables_;
  std::unordered_set<Pointer> dead_;                 // packed blobs deleted
  // The loose blobs of the last List (loose_listed_: there was one): Delete
  // sends no request for a packed blob not among them.
  std::unordered_set<Pointer> loose_;
  bool loose_listed_ = false;
};

// Gives store the volume's pack tables if it is a SlowPacks (what
// OpenStoreUrl returns); other stores keep no pack objects to read.
void GivePackTables(Store* store, std::shared_ptr<const PackTableCodec> tables);

}  // namespace amberfs
