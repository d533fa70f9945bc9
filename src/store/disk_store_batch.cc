// DiskStore writes made durable later, by a sync of the whole store: PutBatch
// and StageBlob.
//
// PutBatch: every blob is written to a temp file in its blob directory with no
// sync of its own (with O_DIRECT, or with writeback started at once, so the
// disk works while the caller hashes the next ones); Commit then makes the
// whole batch durable with two syncfs calls instead of two fsyncs per blob:
//   1. syncfs: every temp file's data is on disk;
//   2. rename each temp file to its blob name;
//   3. syncfs: the renames are on disk.
// So a blob file is whole or absent after any crash, as with Put; a crash
// before step 2 leaves only temp files, which Open removes. syncfs reports the
// writeback errors of the filesystem since the batch opened its root fd
// (Linux 5.8 and later), so an error on any of the batch's files is seen.
//
// StageBlob writes the same kind of temp file for one blob; its caller keeps
// the bytes durable elsewhere until SyncAll.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "base/aligned_buffer.h"
#include "store/disk_store.h"
#include "base/durable_file.h"
#include "amberfs/log.h"
#include "base/unique_fd.h"
#include "store/disk_store_internal.h"

namespace amberfs {

namespace {
constexpr size_t kDirectAlign = 4096;
}  // namespace

// With `direct`, blobs of whole 4 KiB blocks (a batch's chunks and index
// nodes) are written with O_DIRECT: the page cache would cost a copy and a
// writeback pass per byte, which on small machines is most of a snapshot's
// CPU. Other sizes, filesystems without O_DIRECT, and single blobs (where the
// caller waits for the device write; measured slower in paired_bench) go
// through the page cache with writeback started at once. Either way a later
// syncfs makes them durable.
Status WriteUnsyncedTemp(const std::string& temp, std::span<const uint8_t> data, bool direct) {
  const bool whole_blocks = direct && !data.empty() && data.size() % kDirectAlign == 0;
  UniqueFd fd;
  if (whole_blocks) fd = UniqueFd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0600));
  if (fd.valid()) {
    const uint8_t* src = data.data();
    AlignedBuffer bounce;
    if (reinterpret_cast<uintptr_t>(src) % kDirectAlign != 0) {
      bounce = AlignedBuffer::Uninitialized(data.size(), kDirectAlign);
      std::memcpy(bounce.data(), src, data.size());
      src = bounce.data();
    }
    Status s = PwriteAll(fd.get(), src, data.size(), 0, temp);
    if (s.ok()) return fd.Close();
    if (s.code() != EINVAL) return s;
    // O_DIRECT refused after all (some filesystems accept the open only):
    // write it again through the page cache.
    fd = UniqueFd(::open(temp.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  } else {
    // Without O_EXCL: a filesystem that refuses O_DIRECT at open may have
    // created the file already (the name is ours alone either way).
    fd = UniqueFd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  }
  if (!fd.valid()) return Status::FromErrno(errno, "create " + temp);
  AMBER_RETURN_IF_ERROR(PwriteAll(fd.get(), data.data(), data.size(), 0, temp));
  // A hint: start writeback now so Commit's syncfs has little left to wait for.
  if (::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
    LOG_DEBUG("sync_file_range %s: %s", temp.c_str(), std::strerror(errno));
  return fd.Close();
}

namespace {

class DiskStoreBatch : public PutBatch {
 public:
  DiskStoreBatch(DiskStore* store, UniqueFd root) : store_(store), root_(std::move(root)) {}

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    AMBER_ASSIGN_OR_RETURN(DiskStore::StagedBlob blob, store_->StageBlob(key, data, DiskStore::StageFor::kBatch));
    if (!blob.needed()) return Status::OK();
    std::lock_guard<std::mutex> lock(mu_);
    staged_.push_back(std::move(blob));
    return Status::OK();
  }

  Status Commit() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (staged_.empty()) return Status::OK();
    const std::string what = "commit a batch of " + std::to_string(staged_.size()) + " blobs into " + store_->Describe();
    AMBER_RETURN_IF_ERROR(SyncFilesystem(root_.get(), "before the renames").Annotate(what));
    for (DiskStore::StagedBlob& blob : staged_) AMBER_RETURN_IF_ERROR(blob.Publish().Annotate(what));
    AMBER_RETURN_IF_ERROR(SyncFilesystem(root_.get(), "after the renames").Annotate(what));
    staged_.clear();
    return Status::OK();
  }

 private:
  DiskStore* const store_;
  const UniqueFd root_;  // opened with the batch: syncfs reports errors since then
  std::mutex mu_;
  std::vector<DiskStore::StagedBlob> staged_;  // unpublished ones remove their temp files
};

}  // namespace

DiskStore::StagedBlob& DiskStore::StagedBlob::operator=(StagedBlob&& other) noexcept {
  if (this != &other) {
    if (needed()) ::unlink(temp_.c_str());
    temp_ = std::exchange(other.temp_, {});
    target_ = std::exchange(other.target_, {});
  }
  return *this;
}

DiskStore::StagedBlob::~StagedBlob() {
  if (needed()) ::unlink(temp_.c_str());
}

Status DiskStore::StagedBlob::Publish() {
  if (!needed()) return Status::OK();
  AMBER_RETURN_IF_ERROR(RenameFile(temp_, target_));
  temp_.clear();
  return Status::OK();
}

Result<DiskStore::StagedBlob> DiskStore::StageBlob(const Pointer& key, std::span<const uint8_t> data,
                                                   StageFor use) {
  AMBER_RETURN_IF_ERROR(CheckPut(key, data, /*hash=*/use == StageFor::kOne));
  StagedBlob staged;
  std::string target = BlobPath(key);
  if (HoldsBlobFile(target, data.size())) return staged;
  Result<SpaceReserve::Admission> admitted =
      SpaceReserve::AdmitData(space_reserve_, data.size(), "put blob " + key.Hex() + " into " + Describe());
  if (!admitted.ok()) return admitted.status();
  std::string temp = target.substr(0, target.rfind('/') + 1) + MakeTempName();
  Status s = WriteUnsyncedTemp(temp, data, /*direct=*/use == StageFor::kBatch);
  if (!s.ok()) {
    ::unlink(temp.c_str());
    return s.Annotate("put blob " + key.Hex() + " into " + Describe());
  }
  staged.temp_ = std::move(temp);
  staged.target_ = std::move(target);
  return staged;
}

Status DiskStore::SyncAll() {
  return SyncFilesystem(root_fd_.get(), root_);
}

std::unique_ptr<PutBatch> DiskStore::NewPutBatch() {
  UniqueFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid())
    return NewFailedPutBatch(Status::FromErrno(errno, "open " + root_ + " for a batch of puts"));
  return std::make_unique<DiskStoreBatch>(this, std::move(root));
}

}  // namespace amberfs
