// PackedDiskStore: see packed_disk_store.h.
#include "store/packed_disk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <unordered_set>

#include "base/durable_file.h"
#include "base/unique_fd.h"

namespace amberfs {

class PackedDiskStore::Batch : public PutBatch {
 public:
  explicit Batch(PackedDiskStore* store) : store_(store) {}

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    if (key.IsNull() || data.size() > kMaxBlobBytes)
      return Status::Error(EINVAL, "put of blob " + key.Hex() + " (" + std::to_string(data.size()) +
                                       " bytes) into " + store_->Describe());
    {
      std::lock_guard lock(mu_);
      if (!taken_.insert(key).second) return Status::OK();  // this batch has it already
    }
    AMBER_ASSIGN_OR_RETURN(bool indexed, store_->index_->Contains(key));
    if (indexed) return Status::OK();
    AMBER_ASSIGN_OR_RETURN(bool loose, store_->loose_->Contains(key));
    if (loose) return Status::OK();
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<PackWriter> writer, Writer(nullptr));
    Result<PackEntry> appended = writer->Append(key, data);
    if (!appended.ok() && appended.status().code() == EFBIG) {  // no room left: a pack of its own
      AMBER_ASSIGN_OR_RETURN(writer, Writer(writer.get()));
      appended = writer->Append(key, data);
    }
    return appended.status().Annotate("put blob " + key.Hex() + " into " + store_->Describe());
  }

  Status Commit() override {
    std::lock_guard lock(mu_);
    if (current_) writers_.push_back(std::move(current_));
    std::vector<IndexUpdate> updates;
    size_t packs = 0;
    for (const std::shared_ptr<PackWriter>& w : writers_) {
      if (w->empty()) continue;
      AMBER_ASSIGN_OR_RETURN(SealedPack sealed, w->Seal());
      ++packs;
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
    return Status::OK();
  }

 private:
  // The pack to append to: the current one, unless it is full or is `done`
  // (it had no room); then it is set aside for Commit and a new one begun.
  Result<std::shared_ptr<PackWriter>> Writer(const PackWriter* done) {
    std::lock_guard lock(mu_);
    if (current_ && (current_->full() || current_.get() == done)) writers_.push_back(std::move(current_));
    if (!current_) {
      AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackWriter> w, PackWriter::Create(store_->packs_dir_, store_->options_.pack));
      current_ = std::move(w);
    }
    return current_;
  }

  PackedDiskStore* const store_;
  std::mutex mu_;
  std::unordered_set<Pointer> taken_;
  std::shared_ptr<PackWriter> current_;
  std::vector<std::shared_ptr<PackWriter>> writers_;  // set aside, sealed at Commit
};

Result<std::unique_ptr<PackedDiskStore>> PackedDiskStore::Open(const std::string& root, PackedDiskStoreOptions options) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<DiskStore> loose, DiskStore::Open(root, DiskStoreOptions{.exclusive = true}));
  const std::string packs = loose->root() + "/packs";
  if (::mkdir(packs.c_str(), 0700) == 0) {
    AMBER_RETURN_IF_ERROR(FsyncDir(loose->root()).Annotate("open packed store " + root));
  } else if (errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + packs);
  }
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<BlobIndex> index, BlobIndex::Open(loose->root() + "/index", options.index));
  return std::unique_ptr<PackedDiskStore>(new PackedDiskStore(std::move(loose), std::move(index), packs, options));
}

std::string PackedDiskStore::Describe() const { return loose_->Describe() + " (packed)"; }

Status PackedDiskStore::Put(const Pointer& key, std::span<const uint8_t> data) {
  if (key.IsNull()) return Status::Error(EINVAL, "put of the null pointer into " + Describe());
  AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
  if (indexed && Pointer::Of(data) == key) return Status::OK();
  return loose_->Put(key, data);  // checks the key (EINVAL)
}

std::unique_ptr<PutBatch> PackedDiskStore::NewPutBatch() { return std::make_unique<Batch>(this); }

Result<std::vector<uint8_t>> PackedDiskStore::Get(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "get of the null pointer from " + Describe());
  Result<BlobLocation> where = index_->Lookup(key);
  if (!where.ok() && where.status().code() == ENOENT) return loose_->Get(key);
  if (!where.ok()) return where.status().Annotate("get blob " + key.Hex() + " from " + Describe());
  const std::string path = PackPath(where->pack);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return Status::Error(ENOENT, "blob " + key.Hex() + " in " + Describe() + ": its pack " + where->pack.Hex() +
                                       " is missing");
    return Status::FromErrno(errno, "open pack " + path);
  }
  return ReadPackedBlob(fd.get(), path, key, where->offset, where->length);
}

Result<bool> PackedDiskStore::Contains(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "contains of the null pointer in " + Describe());
  AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
  if (indexed) return true;
  return loose_->Contains(key);
}

Status PackedDiskStore::Delete(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "delete of the null pointer from " + Describe());
  AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
  if (indexed) {
    const IndexUpdate removal{key, true, {}};
    AMBER_RETURN_IF_ERROR(index_->Commit(std::span(&removal, 1)).Annotate("delete blob " + key.Hex()));
  }
  return loose_->Delete(key);
}

Status PackedDiskStore::List(const std::function<Status(const Pointer&)>& fn) {
  AMBER_RETURN_IF_ERROR(index_->ForEach([&](const Pointer& key, const BlobLocation&) { return fn(key); }));
  return loose_->List([&](const Pointer& key) -> Status {
    AMBER_ASSIGN_OR_RETURN(bool indexed, index_->Contains(key));
    return indexed ? Status::OK() : fn(key);
  });
}

}  // namespace amberfs
