// TestVolume: a real volume directory with real snapshots, built from the
// library pieces (CreateVolume, ChangeTracker, ChunkHasher, PairedStore over
// two DiskStores, IndexTree, SnapshotRecord, Catalog) the way the snapshot
// engine lays them out, for fsck's tests and benchmark. Writes go to the image
// with their change marks made durable first ("changes marked before data");
// Snapshot captures the marked chunks.
//
// Not thread-safe. Close() (or the destructor) stops the upload workers.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "amberfs/volume_create.h"
#include "base/unique_fd.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/chunk_hasher.h"
#include "snapshot/index_tree.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/store.h"

namespace amberfs::testing {

// Pseudo-random bytes that differ with each (a, b): the content of chunk b
// as written for snapshot a.
inline std::vector<uint8_t> PatternChunk(uint64_t a, uint64_t b, size_t size) {
  std::vector<uint8_t> data(size);
  uint64_t x = (a + 1) * 0x9E3779B97F4A7C15ull ^ (b + 1) * 0xC2B2AE3D27D4EB4Full;
  for (auto& byte : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    byte = static_cast<uint8_t>(x);
  }
  return data;
}

class TestVolume {
 public:
  // fanout: small values give deep trees on small volumes.
  // slow_url: "" for VOLDIR/archive, or any store URL (s3 credentials from
  // s3_credentials, a credentials file, or the environment).
  static Result<std::unique_ptr<TestVolume>> Create(const std::string& voldir, uint64_t size,
                                                    uint32_t chunk_size = 65536, uint32_t fanout = 4,
                                                    const std::string& slow_url = "",
                                                    const std::string& s3_credentials = "") {
    CreateVolumeOptions o;
    o.voldir = voldir;
    o.size = size;
    o.chunk_size = chunk_size;
    o.slow_url = slow_url;
    o.s3_credentials = s3_credentials;
    // The blobs below are written by hand as plaintext (no codec); fsck of
    // compressed and encrypted volumes is what test/mount covers.
    o.compress = false;
    AMBER_ASSIGN_OR_RETURN(VolumeConfig config, CreateVolume(o));
    std::unique_ptr<TestVolume> v(new TestVolume(voldir, config, fanout, s3_credentials));
    AMBER_RETURN_IF_ERROR(v->Open(/*create=*/true));
    return v;
  }

  ~TestVolume() { Close().IgnoreError(); }  // tests call Close() to see its status

  const VolumeConfig& config() const { return config_; }
  std::string image() const { return config_.ImagePath(dir_); }
  PairedStore& store() { return *store_; }

  // Writes through the change tracker, as the Conductor does.
  Status Write(uint64_t offset, const std::vector<uint8_t>& data) {
    AMBER_RETURN_IF_ERROR(tracker_->WillChange(offset, data.size()));
    AMBER_RETURN_IF_ERROR(tracker_->BeforeImageWrite());
    if (::pwrite(image_.get(), data.data(), data.size(), static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(data.size()))
      return Status::FromErrno(errno, "pwrite image");
    return Status::OK();
  }

  Status Snapshot(const std::string& name) {
    AMBER_RETURN_IF_ERROR(tracker_->BeginCapture());
    Status s = Capture(name);
    if (!s.ok()) {
      tracker_->AbortCapture().IgnoreError();  // the error that matters is s
      return s;
    }
    return tracker_->CommitCapture();
  }

  Status Drain() { return store_->Drain(std::chrono::seconds(30)); }

  // Drains and closes everything; the directory is then a quiet volume.
  Status Close() {
    if (!store_) return Status::OK();
    Status s = Drain();
    store_.reset();
    tracker_.reset();
    image_ = UniqueFd();
    return s;
  }

  Pointer root() const { return root_; }
  Pointer last_record() const { return parent_; }

 private:
  TestVolume(std::string dir, VolumeConfig config, uint32_t fanout, std::string s3_credentials)
      : dir_(std::move(dir)), config_(std::move(config)), fanout_(fanout), s3_credentials_(std::move(s3_credentials)) {}

  Status Open(bool create) {
    const std::string changes = VolumePath(dir_, kChangesFile);
    auto tracker = create ? ChangeTracker::Create(changes, config_.size, config_.chunk_size)
                          : ChangeTracker::Open(changes, config_.size, config_.chunk_size);
    AMBER_RETURN_IF_ERROR(tracker.status());
    tracker_ = std::move(tracker).value();
    image_ = UniqueFd(::open(image().c_str(), O_RDWR | O_CLOEXEC));
    if (!image_.valid()) return Status::FromErrno(errno, "open image");
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackedDiskStore> fast,
                           PackedDiskStore::Open(VolumePath(dir_, kFastStoreDir)));
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<Store> slow, OpenStoreUrl(config_.slow_url, s3_credentials_));
    PairedOptions po;
    po.upload_workers = 2;
    AMBER_ASSIGN_OR_RETURN(store_, PairedStore::Open(std::move(fast), std::move(slow),
                                                     VolumePath(dir_, kUploadLogFile), po));
    AMBER_ASSIGN_OR_RETURN(catalog_, Catalog::Open(dir_));
    return Status::OK();
  }

  Status Capture(const std::string& name) {
    const std::vector<uint64_t> chunks = tracker_->Marked(ChangeTracker::Set::kCaptured);
    const uint64_t cs = config_.chunk_size;
    std::vector<uint8_t> bytes(chunks.size() * cs);
    std::vector<ChunkBytes> input;
    for (size_t i = 0; i < chunks.size(); ++i) {
      uint8_t* at = bytes.data() + i * cs;
      if (::pread(image_.get(), at, cs, static_cast<off_t>(chunks[i] * cs)) != static_cast<ssize_t>(cs))
        return Status::FromErrno(errno, "pread image");
      input.push_back({chunks[i], {at, cs}});
    }
    std::vector<ChunkPointer> pointers = hasher_.Hash(input);
    // The chunks in one batch, as the Snapshotter writes them: into packs.
    // Index nodes and the record are single Puts (loose blobs).
    std::unique_ptr<PutBatch> batch = store_->NewPutBatch();
    for (size_t i = 0; i < pointers.size(); ++i) {
      if (!pointers[i].pointer.IsNull()) AMBER_RETURN_IF_ERROR(batch->Put(pointers[i].pointer, input[i].bytes));
    }
    AMBER_RETURN_IF_ERROR(batch->Commit());
    AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, IndexGeometry::Make(config_.size / cs, fanout_));
    IndexTree tree(store_.get(), geo);
    AMBER_ASSIGN_OR_RETURN(Pointer root, tree.Update(root_, std::move(pointers)));

    SnapshotRecord r;
    AMBER_ASSIGN_OR_RETURN(r.volume, ParseVolumeUuid(config_.uuid));
    r.name = name;
    r.created_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    r.created_ns = std::max(r.created_ns, last_ns_ + 1);  // a strict order even within a clock tick
    last_ns_ = r.created_ns;
    r.volume_size = config_.size;
    r.chunk_size = config_.chunk_size;
    r.fanout = fanout_;
    r.depth = geo.depth;
    r.root = root;
    r.parent = parent_;
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> record, EncodeSnapshotRecord(r));
    const Pointer record_ptr = Pointer::Of(record);
    AMBER_RETURN_IF_ERROR(store_->Put(record_ptr, record));
    AMBER_RETURN_IF_ERROR(catalog_->Add({name, r.created_ns, record_ptr}));
    AMBER_RETURN_IF_ERROR(WriteSnapshotBase(dir_, record_ptr));
    // As a mount publishes it with its first snapshot (fsck --slow checks it).
    const std::string config_text = config_.Serialize();
    AMBER_RETURN_IF_ERROR(store_->PutRef(VolumeConfigRef(config_.uuid),
                                         {reinterpret_cast<const uint8_t*>(config_text.data()), config_text.size()}));
    const std::string ref = EncodeSnapshotRefValue(record_ptr);
    AMBER_RETURN_IF_ERROR(store_->PutRef(SnapshotRef(config_.uuid, name),
                                         {reinterpret_cast<const uint8_t*>(ref.data()), ref.size()}));
    root_ = root;
    parent_ = record_ptr;
    return Status::OK();
  }

  const std::string dir_;
  const VolumeConfig config_;
  const uint32_t fanout_;
  const std::string s3_credentials_;
  std::unique_ptr<ChangeTracker> tracker_;
  std::unique_ptr<PairedStore> store_;
  std::unique_ptr<Catalog> catalog_;
  ChunkHasher hasher_;
  UniqueFd image_;
  Pointer root_, parent_;
  uint64_t last_ns_ = 0;
};

}  // namespace amberfs::testing
