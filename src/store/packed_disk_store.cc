// PackedDiskStore: see packed_disk_store.h.
#include "store/packed_disk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "store/pack_objects.h"
#include "store/pack_orphans.h"

namespace amberfs {

class PackedDiskStore::Batch : public PutBatch {
 public:
  // rewrite: every blob goes into this batch's packs even if the store
  // holds it (a repack); the index then names the new copy.
  Batch(PackedDiskStore* store, bool rewrite) : store_(store), rewrite_(rewrite) {}

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    if (key.IsNull() || data.size() > kMaxBlobBytes)
      return Status::Error(EINVAL, "put of blob " + key.Hex() + " (" + std::to_string(data.size()) +
                                       " bytes) into " + store_->Describe());
    {
      std::lock_guard lock(mu_);
      if (!taken_.insert(key).second) return Status::OK();  // this batch has it already
    }
    Status put = PutNew(key, data);
    if (!put.ok()) {  // not taken after all: a retry must write it
      std::lock_guard lock(mu_);
      taken_.erase(key);
    }
    return put;
  }

  Status Commit() override {
    std::lock_guard lock(mu_);
    std::shared_lock committing(store_->commit_mu_);  // ReclaimDeleted waits for the index commit
    if (current_) writers_.push_back(std::move(current_));
    std::vector<IndexUpdate> updates;
    size_t packs = 0;
    for (const std::shared_ptr<PackWriter>& w : writers_) {
      if (w->empty()) continue;
      AMBER_ASSIGN_OR_RETURN(SealedPack sealed, w->Seal());
      ++packs;
      SealedPackBlobs& out = sealed_.emplace_back();
      out.name = sealed.name;
      for (const PackEntry& e : sealed.entries) out.blobs.push_back(e.id);
      for (const PackEntry& e : sealed.entries)
        updates.push_back(IndexUpdate{e.id, false,
                                      BlobLocation{sealed.name, static_cast<uint32_t>(e.offset), e.length, e.flags}});
    }
    writers_.clear();
    if (packs == 0) return Status::OK();
    const std::string what = "commit a batch of " + std::to_string(updates.size()) + " blobs in " +
                             std::to_string(packs) + " packs into " + store_->Describe();
    // The packs' names must be durable before the index names them.
    AMBER_RETURN_IF_ERROR(FsyncDir(store_->packs_dir_).Annotate(what));
    for (size_t first = 0; first < updates.size(); first += kMaxLogRecordEntries) {
      const size_t n = std::min<size_t>(kMaxLogRecordEntries, updates.size() - first);
      AMBER_RETURN_IF_ERROR(store_->index_->Commit(std::span(updates).subspan(first, n)).Annotate(what));
    }
    // The packs a repack copied from may hold nothing live now.
    if (rewrite_) store_->tombstoned_ = true;
    return Status::OK();
  }

  std::optional<std::vector<SealedPackBlobs>> SealedPacks() const override {
    std::lock_guard lock(mu_);
    return sealed_;
  }

 private:
  // A blob neither the store nor this batch holds yet: into the open pack.
  Status PutNew(const Pointer& key, std::span<const uint8_t> data) {
    if (!rewrite_) {
      AMBER_ASSIGN_OR_RETURN(bool indexed, store_->index_->Contains(key));
      if (indexed) return Status::OK();
      AMBER_ASSIGN_OR_RETURN(bool loose, store_->loose_->Contains(key));
      if (loose) return Status::OK();
    }
    if (store_->options_.read_only) return Status::Error(EROFS, store_->Describe() + " is open read-only: put refused");
    Result<SpaceReserve::Admission> admitted = SpaceReserve::AdmitData(
        store_->space_reserve_, data.size(), "put blob " + key.Hex() + " into " + store_->Describe());
    if (!admitted.ok()) return admitted.status();
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<PackWriter> writer, Writer(nullptr));
    Result<PackEntry> appended = writer->Append(key, data);
    if (!appended.ok() && appended.status().code() == EFBIG) {  // no room left: a pack of its own
      AMBER_ASSIGN_OR_RETURN(writer, Writer(writer.get()));
      appended = writer->Append(key, data);
    }
    return appended.status().Annotate("put blob " + key.Hex() + " into " + store_->Describe());
  }

  // The pack to append to: the current one, unless it is full or is `done`
  // (it had no room); then it is set aside for Commit and a new one begun.
  // A pack set aside starts its write-out now (StartWriteOut), outside the
  // lock, so the disk works during the capture rather than at Commit.
  Result<std::shared_ptr<PackWriter>> Writer(const PackWriter* done) {
    std::shared_ptr<PackWriter> set_aside;
    std::shared_ptr<PackWriter> current;
    {
      std::lock_guard lock(mu_);
      if (current_ && (current_->full() || current_.get() == done)) {
        set_aside = current_;
        writers_.push_back(std::move(current_));
      }
      if (!current_) {
        AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackWriter> w, PackWriter::Create(store_->packs_dir_, store_->options_.pack));
        current_ = std::move(w);
      }
      current = current_;
    }
    if (set_aside) set_aside->StartWriteOut();
    return current;
  }

  PackedDiskStore* const store_;
  const bool rewrite_;
  mutable std::mutex mu_;
  std::unordered_set<Pointer> taken_;
  std::vector<SealedPackBlobs> sealed_;  // by Commit
  std::shared_ptr<PackWriter> current_;
  std::vector<std::shared_ptr<PackWriter>> writers_;  // set aside, sealed at Commit
};

namespace {

// The packs of batches a crash interrupted between seal and index commit
// (pack_orphans.h). Housekeeping: a failure leaves them and is only logged.
void SweepOrphanPacks(const std::string& packs_dir, const BlobIndex& index) {
  Result<std::vector<OrphanPack>> orphans = FindOrphanPacks(packs_dir, index);
  Status removed = orphans.ok() ? RemoveOrphanPacks(packs_dir, *orphans) : orphans.status();
  if (!removed.ok()) {
    LOG_WARN("%s: orphan packs left in place: %s", packs_dir.c_str(), removed.ToString().c_str());
    return;
  }
  if (orphans->empty()) return;
  uint64_t bytes = 0;
  for (const OrphanPack& o : *orphans) bytes += o.bytes;
  LOG_INFO("%s: removed %zu orphan packs (%llu bytes: sealed by batches a crash interrupted before their index commit)",
           packs_dir.c_str(), orphans->size(), static_cast<unsigned long long>(bytes));
}

}  // namespace

Result<std::unique_ptr<PackedDiskStore>> PackedDiskStore::Open(const std::string& root, PackedDiskStoreOptions options) {
  options.disk.pack_objects = false;  // packs/ and index/ are ours, in our layout
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<DiskStore> loose, DiskStore::Open(root, options.disk));
  const std::string packs = loose->root() + "/packs";
  options.index.read_only = options.index.read_only || options.read_only;
  if (options.read_only) {
    // Nothing to create: a guest reads what is there.
  } else if (::mkdir(packs.c_str(), 0700) == 0) {
    AMBER_RETURN_IF_ERROR(FsyncDir(loose->root()).Annotate("open packed store " + root));
  } else if (errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + packs);
  }
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<BlobIndex> index, BlobIndex::Open(loose->root() + "/index", options.index));
  if (!options.read_only && options.disk.exclusive) SweepOrphanPacks(packs, *index);
  return std::unique_ptr<PackedDiskStore>(new PackedDiskStore(std::move(loose), std::move(index), packs, options));
}

std::string PackedDiskStore::Describe() const { return loose_->Describe() + " (packed)"; }

Status PackedDiskStore::Put(const Pointer& key, std::span<const uint8_t> data) {
  if (key.IsNull()) return Status::Error(EINVAL, "put of the null pointer into " + Describe());
  Result<BlobLocation> where = index_->Lookup(key);
  if (!where.ok() && where.status().code() != ENOENT) return where.status().Annotate("put blob " + key.Hex());
  if (where.ok() && Pointer::Of(data) == key) {
    struct stat st;
    if (::stat(PackPath(where->pack).c_str(), &st) == 0) return Status::OK();
    // Its pack is gone here (evicted, or lost): a loose copy, which Get
    // finds next; the index entry stays, naming the pack in the slow store.
  }
  return loose_->Put(key, data);  // checks the key (EINVAL)
}

std::unique_ptr<PutBatch> PackedDiskStore::NewPutBatch() { return std::make_unique<Batch>(this, false); }

std::unique_ptr<PutBatch> PackedDiskStore::NewRepackBatch() { return std::make_unique<Batch>(this, true); }

Result<std::vector<PackUse>> PackedDiskStore::PackUses() {
  std::unordered_map<Pointer, size_t> slot;
  std::vector<PackUse> uses;
  AMBER_RETURN_IF_ERROR(index_->ForEach([&](const Pointer&, const BlobLocation& where) {
    auto [it, added] = slot.try_emplace(where.pack, uses.size());
    if (added) uses.push_back(PackUse{where.pack, 0, 0});
    ++uses[it->second].live_blobs;
    uses[it->second].live_bytes += where.length;
    return Status::OK();
  }));
  return uses;
}

Result<std::unordered_map<Pointer, std::vector<Pointer>>> PackedDiskStore::LiveBlobsOf(
    const std::unordered_set<Pointer>& packs) {
  std::unordered_map<Pointer, std::vector<Pointer>> live;
  AMBER_RETURN_IF_ERROR(index_->ForEach([&](const Pointer& key, const BlobLocation& where) {
    if (packs.count(where.pack)) live[where.pack].push_back(key);
    return Status::OK();
  }));
  return live;
}

Result<std::vector<uint8_t>> PackedDiskStore::Get(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "get of the null pointer from " + Describe());
  Result<BlobLocation> where = index_->Lookup(key);
  if (!where.ok() && where.status().code() == ENOENT) return loose_->Get(key);
  if (!where.ok()) return where.status().Annotate("get blob " + key.Hex() + " from " + Describe());
  const std::string path = PackPath(where->pack);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno != ENOENT) return Status::FromErrno(errno, "open pack " + path);
    // Evicted (or lost): a copy fetched back since is loose.
    Result<std::vector<uint8_t>> loose = loose_->Get(key);
    if (loose.ok() || loose.status().code() != ENOENT) return loose;
    return Status::Error(ENOENT, "blob " + key.Hex() + " in " + Describe() + ": its pack " + where->pack.Hex() +
                                     " is not here");
  }
  return ReadPackedBlob(fd.get(), path, key, where->offset, where->length);
}

Result<Pointer> PackedDiskStore::PackOfObject(std::string_view name) const {
  // A pack object is a sealed pack's bytes, which this store keeps as
  // packs/<hex> (the upload of a pack reads it here).
  AMBER_RETURN_IF_ERROR(ValidateObjectName(name).Annotate(Describe()));
  if (!name.starts_with("packs/"))
    return Status::Error(ENOTSUP, Describe() + " keeps no index objects (" + std::string(name) + ")");
  return ObjectNamePack(name);
}

Result<std::vector<uint8_t>> PackedDiskStore::GetObjectRange(std::string_view name, uint64_t offset,
                                                             uint64_t length) {
  AMBER_ASSIGN_OR_RETURN(const Pointer pack, PackOfObject(name));
  return ReadObjectFileRange(PackPath(pack), offset, length, "pack " + pack.Hex() + " in " + Describe());
}

Result<size_t> PackedDiskStore::ReadObjectInto(std::string_view name, AlignedBuffer* into) {
  AMBER_ASSIGN_OR_RETURN(const Pointer pack, PackOfObject(name));
  return ReadFileInto(PackPath(pack), kMaxPackBytes, into, "pack " + pack.Hex() + " in " + Describe());
}

Result<std::vector<Pointer>> PackedDiskStore::PackBlobs(const Pointer& pack) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackReader> reader, PackReader::Open(PackPath(pack), pack, pack_tables()));
  std::vector<Pointer> blobs;
  for (const PackEntry& e : reader->entries()) blobs.push_back(e.id);
  return blobs;
}

Result<bool> PackedDiskStore::Contains(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "contains of the null pointer in " + Describe());
  AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
  if (indexed) return true;
  return loose_->Contains(key);
}

Status PackedDiskStore::Delete(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "delete of the null pointer from " + Describe());
  Result<BlobLocation> where = index_->Lookup(key);
  if (!where.ok() && where.status().code() != ENOENT) return where.status().Annotate("delete blob " + key.Hex());
  if (where.ok()) {
    const IndexUpdate removal{key, true, {}};
    AMBER_RETURN_IF_ERROR(index_->Commit(std::span(&removal, 1)).Annotate("delete blob " + key.Hex()));
    tombstoned_ = true;
    AMBER_RETURN_IF_ERROR(ForgetEvictable(where->pack, key, /*evicting=*/false));
  }
  return loose_->Delete(key);
}

Status PackedDiskStore::Evict(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "evict of the null pointer from " + Describe());
  AMBER_RETURN_IF_ERROR(loose_->Delete(key));  // a copy fetched back, or a single Put
  Result<BlobLocation> where = index_->Lookup(key);
  if (!where.ok()) return where.status().code() == ENOENT ? Status::OK() : where.status().Annotate("evict " + key.Hex());
  return ForgetEvictable(where->pack, key, /*evicting=*/true);
}

Status PackedDiskStore::ForgetEvictable(const Pointer& pack, const Pointer& key, bool evicting) {
  std::lock_guard lock(evict_mu_);
  // A delete from a pack no eviction has begun on leaves it to ReclaimDeleted.
  if (!evicting && !unevicted_.count(pack)) return Status::OK();
  auto [it, added] = unevicted_.try_emplace(pack);
  if (added) {
    // First eviction from this pack since open: which of its blobs are live.
    auto reader = PackReader::Open(PackPath(pack), pack, pack_tables());
    if (!reader.ok()) {
      unevicted_.erase(it);
      return reader.status().code() == ENOENT ? Status::OK() : reader.status().Annotate("evict from " + Describe());
    }
    for (const PackEntry& e : (*reader)->entries()) {
      Result<BlobLocation> at = index_->Lookup(e.id);
      if (at.ok() && at->pack == pack) it->second.insert(e.id);
    }
  }
  it->second.erase(key);
  if (!it->second.empty()) return Status::OK();
  unevicted_.erase(it);
  // Every live blob of the pack is evicted or deleted. Not made durable: a
  // crash brings the file back, which costs space, not data.
  const std::string path = PackPath(pack);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove evicted pack " + path);
  return Status::OK();
}

Result<uint64_t> PackedDiskStore::ReclaimDeleted() {
  if (options_.read_only || !options_.disk.exclusive) return uint64_t{0};
  if (!tombstoned_.exchange(false)) return uint64_t{0};
  std::unique_lock no_commits(commit_mu_);
  // Every tombstone is committed (Delete returned after its index commit),
  // so the index names none of these packs before they go.
  Result<std::vector<OrphanPack>> dead = FindOrphanPacks(packs_dir_, *index_);
  Status removed = dead.ok() ? RemoveOrphanPacks(packs_dir_, *dead) : dead.status();
  if (!removed.ok()) {
    tombstoned_ = true;  // the next call looks again
    return removed.Annotate("remove the packs of deleted blobs from " + Describe());
  }
  uint64_t bytes = 0;
  for (const OrphanPack& o : *dead) bytes += o.bytes;
  if (!dead->empty())
    LOG_INFO("%s: removed %zu packs none of whose blobs is live (%llu bytes)", packs_dir_.c_str(), dead->size(),
             static_cast<unsigned long long>(bytes));
  return bytes;
}

Status PackedDiskStore::List(const std::function<Status(const Pointer&)>& fn) {
  AMBER_RETURN_IF_ERROR(index_->ForEach([&](const Pointer& key, const BlobLocation&) { return fn(key); }));
  return loose_->List([&](const Pointer& key) -> Status {
    AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
    return indexed ? Status::OK() : fn(key);
  });
}

Status PackedDiskStore::ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) {
  std::unordered_map<Pointer, time_t> pack_times;  // pack -> mtime (0: missing)
  auto pack_time = [&](const Pointer& pack) {
    auto [it, added] = pack_times.emplace(pack, 0);
    struct stat st;
    if (added && ::stat(PackPath(pack).c_str(), &st) == 0) it->second = st.st_mtime;
    return it->second;
  };
  // A blob whose pack was evicted takes no space here, unless a copy was
  // fetched back (loose).
  AMBER_RETURN_IF_ERROR(index_->ForEach([&](const Pointer& key, const BlobLocation& where) {
    const time_t mtime = pack_time(where.pack);
    return mtime == 0 ? Status::OK() : fn(BlobInfo{key, where.length, mtime});
  }));
  return loose_->ListBlobInfo([&](const BlobInfo& info) -> Status {
    Result<BlobLocation> where = index_->Lookup(info.key);
    if (!where.ok() && where.status().code() != ENOENT) return where.status();
    return where.ok() && pack_time(where->pack) != 0 ? Status::OK() : fn(info);
  });
}

Result<uint64_t> PackedDiskStore::BlobDiskSize(const Pointer& key) {
  Result<BlobLocation> where = index_->Lookup(key);
  if (where.ok()) return uint64_t{where->length};
  if (where.status().code() != ENOENT) return where.status();
  return loose_->BlobDiskSize(key);
}

Result<uint64_t> PackedDiskStore::StoredSize(const Pointer& key) {
  Result<BlobLocation> where = index_->Lookup(key);
  if (where.ok()) return uint64_t{where->length};
  if (where.status().code() != ENOENT) return where.status();
  struct stat st;
  const std::string path = loose_->BlobPath(key);
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace amberfs
