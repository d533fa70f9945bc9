// DiskStore: a Store kept in a directory, one file per blob and per ref.
//
// Layout under root (the slow-store layout of store.h, also used for the fast
// store):
//   blobs/<ab>/<64 hex>   a blob, <ab> its first two hex digits; all 256
//                         subdirectories are created (and fsynced) at Open
//   <ref name>            a ref, e.g. volumes/<uuid>/snapshots/<name>
//   packs/<ab>/<64 hex>   a pack object, index/<ab>/<64 hex> its index
//                         object (pack_objects.h): only with
//                         options.pack_objects (a slow store); directories
//                         made as objects are put
//   .../.tmp.*            a write in progress (never a valid blob or ref name;
//                         see MakeTempName in base/durable_file.h)
//
// Crash safety: Put and PutRef write a temp file in the target's directory
// (unique name, O_EXCL), fdatasync it, rename it over the target and fsync the
// directory (and every parent directory they had to create), so after a crash
// a blob or ref is whole or absent, and once Put returns it survives a crash.
// Delete and DeleteRef fsync the directory too. Concurrent callers in the same
// blob directory share one directory fsync (group commit), never skip it;
// fsyncs of different directories run in parallel, so the filesystem's own
// journal batching still applies across them.
//
// Pack objects (PutObject, GetObjectRange, ListObjects, DeleteObject of
// store.h) need options.pack_objects: the fast store (PackedDiskStore) opens
// a DiskStore at its own root, where packs/ and index/ hold its own layout,
// which these must never write into or list. Without it they are ENOTSUP.
// PutObject is Put's protocol (temp, fdatasync, rename, directory fsync);
// GetObjectRange one pread.
//
// Batches (NewPutBatch) write temp files without syncing each, and make the
// whole batch durable at Commit with syncfs, renames, syncfs: the same
// whole-or-absent guarantee for two syncs per batch instead of two per blob.
//
// Staged blobs (StageBlob): a blob written to a temp file with no sync, made
// visible by Publish (a rename, still no sync) and durable only by a later
// SyncAll (syncfs of the store's filesystem). For a caller that holds a
// durable copy of the bytes itself until then (the Paired store's upload
// log); dropping a StagedBlob unpublished removes its temp file.
//
// Leftover temp files: List and ListRefs ignore them. Open removes them when
// options.exclusive (one process owns the store: the fast store, guarded by
// the volume lock); a shared store (a slow store several volumes write to)
// only removes temp files older than options.stale_temp_age, so another
// writer's file in flight is never pulled from under it. One LOG_INFO line
// gives how many went (a kill -9 during a snapshot may leave thousands).
//
// Modes: directories are created 0700 and files 0600 (volume data, private
// like the volume directory). A shared store whose root is open to others
// (made so by an older version, or on purpose for a group) is left as it is,
// with a LOG_WARN at Open.
//
// Bounds: a blob over kMaxBlobBytes or a ref over kMaxRefBytes (store.h) is
// refused by Put/PutRef (EINVAL) and never read whole by Get/GetRef: a blob
// file that big is corrupt (EBADMSG, so the Paired store fetches it again),
// a ref file is EFBIG.
//
// Verification: Get hashes what it read; a mismatch is EBADMSG naming the blob
// and the store. Put checks the key is the SHA-256 of the data (EINVAL). Put of
// a blob whose file exists with the right size is not rewritten (it is the
// same content unless damaged, and rereading it would cost a full read and
// hash); to replace a damaged copy, Delete it and Put again. A
// file under blobs/ whose name is not a valid pointer is skipped by List with
// a LOG_WARN.
//
// Thread-safety: every method is safe for concurrent calls. Internal locks
// (the group-commit state) are leaves: no callback runs under them.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/group_commit.h"
#include "store/store.h"
#include "base/space_reserve.h"
#include "base/unique_fd.h"

namespace amberfs {

struct DiskStoreOptions {
  // One process owns the store: every leftover temp file is removed at Open.
  bool exclusive = false;
  // In a shared store, temp files older than this are removed at Open.
  std::chrono::seconds stale_temp_age{3600};
  // Keep pack objects under packs/ and index/ (a slow store; see above).
  // PackedDiskStore turns it off for the DiskStore at its own root.
  bool pack_objects = true;
};

// What the fast-store budget needs to know about a blob.
struct BlobInfo {
  Pointer key;
  uint64_t disk_bytes = 0;  // space the blob occupies (allocated blocks)
  time_t last_access = 0;   // max(atime, mtime), seconds; atime is relatime-coarse
};

// A store that can report blob sizes cheaply (for the Paired budget).
class BlobInventory {
 public:
  virtual ~BlobInventory() = default;
  // Calls fn for every blob; stops at and returns fn's first error.
  virtual Status ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) = 0;
  // Disk bytes of one blob; ENOENT if absent.
  virtual Result<uint64_t> BlobDiskSize(const Pointer& key) = 0;
};

// Bytes [offset, offset + length) of the file at path, which holds a pack
// object (length 0: the whole file): GetObjectRange's rules (store.h), with
// `what` naming the object in errors. A DiskStore's objects and a
// PackedDiskStore's own packs are read so. The bytes are read into `data`'s
// memory where it is large enough (GetObjectRangeInto).
Result<std::vector<uint8_t>> ReadObjectFileRange(const std::string& path, uint64_t offset, uint64_t length,
                                                 const std::string& what, std::vector<uint8_t> data = {});

class DiskStore : public Store, public BlobInventory {
 public:
  // Opens (creating root and its blob directories if missing) the store at
  // root. A relative root is made absolute.
  static Result<std::unique_ptr<DiskStore>> Open(const std::string& root, DiskStoreOptions options = {});

  std::string Describe() const override;
  const std::string& root() const { return root_; }

  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  // Temp files without syncs, then syncfs, renames, syncfs at Commit (see
  // disk_store_batch.cc). The key is not re-hashed (the caller vouches).
  std::unique_ptr<PutBatch> NewPutBatch() override;
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  Status List(const std::function<Status(const Pointer&)>& fn) override;

  Status PutRef(std::string_view name, std::span<const uint8_t> data) override;
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override;
  Status DeleteRef(std::string_view name) override;
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override;

  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override;
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override;
  Status GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                            std::vector<uint8_t>* into) override;
  Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn) override;
  Status DeleteObject(std::string_view name) override;

  Status ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) override;
  Result<uint64_t> BlobDiskSize(const Pointer& key) override;

  // A blob in a temp file beside its target, not yet visible nor durable.
  class StagedBlob {
   public:
    StagedBlob() = default;
    StagedBlob(StagedBlob&& other) noexcept { *this = std::move(other); }
    StagedBlob& operator=(StagedBlob&& other) noexcept;
    ~StagedBlob();
    // False when the blob was already in the store: nothing to publish.
    bool needed() const { return !temp_.empty(); }
    // Renames the temp file to the blob's name (no sync).
    Status Publish();

   private:
    friend class DiskStore;
    std::string temp_, target_;
  };
  enum class StageFor {
    kOne,    // a single blob: the key is checked (EINVAL if it is not the
             // SHA-256 of the data); written through the page cache
    kBatch,  // a PutBatch's: the caller vouches for the key; whole 4 KiB
             // blocks go O_DIRECT
  };
  // Writes key's blob to a temp file with no sync. A whole file of the right
  // size under the blob's name already counts as stored, as in Put: needed()
  // is then false.
  Result<StagedBlob> StageBlob(const Pointer& key, std::span<const uint8_t> data, StageFor use = StageFor::kOne);
  // Makes everything written under root durable (syncfs); reports writeback
  // errors of the filesystem since the previous SyncAll (Linux 5.8+).
  Status SyncAll();

  // The path of a blob's file (for tests and fsck messages).
  std::string BlobPath(const Pointer& key) const;

  // The room kept for delete and gc on root's file system: blob writes ask
  // it first (space_reserve.h); refs are not bulk and do not. Not owned; set
  // before the store is shared; null (the default): none.
  void set_space_reserve(SpaceReserve* reserve) { space_reserve_ = reserve; }

 private:
  DiskStore(std::string root, bool pack_objects) : root_(std::move(root)), pack_objects_(pack_objects) {}
  Status Init(const DiskStoreOptions& options);
  // A Put's argument checks: not the null pointer; with hash, key is the
  // SHA-256 of data (EINVAL).
  Status CheckPut(const Pointer& key, std::span<const uint8_t> data, bool hash) const;
  // Writes data to dir/name atomically (temp, fdatasync, rename, fsync dir).
  Status WriteAtomically(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                         int bucket = -1);
  // WriteAtomically to root_/rel, first creating (and syncing) the
  // directories it needs; what names the write in errors.
  Status WriteUnderRoot(const std::string& rel, std::span<const uint8_t> data, const std::string& what);
  // ENOTSUP unless options.pack_objects, else ValidateObjectName's verdict.
  Status CheckObjectName(std::string_view name) const;
  // fsyncs dir; bucket >= 0 names a blob directory whose fsync concurrent
  // callers share.
  Status SyncDir(const std::string& dir, int bucket = -1);
  Status ListBlobFiles(const std::function<Status(const Pointer&, const std::string& path)>& fn);

  const std::string root_;
  const bool pack_objects_;
  UniqueFd root_fd_;  // opened at Open, for syncfs
  GroupCommit bucket_commit_[256];  // one per blobs/<ab> directory
  SpaceReserve* space_reserve_ = nullptr;
};

}  // namespace amberfs
