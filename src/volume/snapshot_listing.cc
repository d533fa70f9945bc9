// ListVolumeSnapshots (amberfs/snapshot_listing.h): the catalog read without
// the volume's lock, sizes from a walk of each tree, upload state from the
// slow store's refs. Nothing here writes.
#include "amberfs/snapshot_listing.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>

#include "amberfs/volume_config.h"
#include "snapshot/catalog.h"
#include "snapshot/index_tree.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/slow_packs.h"
#include "store/store.h"
#include "store/store_naming.h"
#include "store/store_url.h"
#include "volume/volume_key.h"

namespace amberfs {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A store directory that exists already, opened as a guest: no directory is
// created (it and its blobs/ must exist) and no temp file is removed (they
// may be a running mount's writes in progress).
Status RequireStoreDir(const std::string& root) {
  if (!IsDirectory(root + "/blobs")) return Status::Error(ENOENT, "store directory " + root + " is missing");
  return Status::OK();
}

DiskStoreOptions GuestDiskOptions() {
  DiskStoreOptions o;
  o.exclusive = false;
  o.stale_temp_age = std::chrono::hours(24 * 365 * 100);
  return o;
}

Result<std::unique_ptr<Store>> OpenExistingDiskStore(const std::string& root) {
  AMBER_RETURN_IF_ERROR(RequireStoreDir(root));
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<DiskStore> disk, DiskStore::Open(root, GuestDiskOptions()));
  return std::unique_ptr<Store>(std::make_unique<SlowPacks>(std::move(disk)));  // blobs in its packs too
}

// The volume's fast store: read-only too (its blob index is the mount's).
Result<std::unique_ptr<Store>> OpenExistingFastStore(const std::string& root) {
  AMBER_RETURN_IF_ERROR(RequireStoreDir(root));
  PackedDiskStoreOptions o;
  o.disk = GuestDiskOptions();
  o.read_only = true;
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackedDiskStore> packed, PackedDiskStore::Open(root, o));
  return std::unique_ptr<Store>(std::move(packed));
}

Result<std::unique_ptr<Store>> OpenSlowForReading(const std::string& url, const std::string& credentials) {
  AMBER_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  if (parsed.kind == StoreUrl::Kind::kFile) return OpenExistingDiskStore(parsed.path);
  return OpenStoreUrl(url, credentials);
}

// Reads blobs from the fast store, else the slow store (opened on first
// need). Only Get is used (IndexTree's walk); everything else refuses.
class BlobReader final : public Store {
 public:
  BlobReader(const std::string& voldir, const VolumeConfig& config, const std::string& credentials,
             std::shared_ptr<const PackTableCodec> pack_tables)
      : config_(config), credentials_(credentials), pack_tables_(std::move(pack_tables)) {
    Result<std::unique_ptr<Store>> fast = OpenExistingFastStore(VolumePath(voldir, kFastStoreDir));
    if (fast.ok()) fast_ = std::move(fast).value();
  }

  // The size blob p takes in the stores (the fast store's index, else the
  // slow store's pack map), without reading it; `plain` if neither knows.
  uint64_t StoredSize(const Pointer& p, uint64_t plain) {
    if (auto* packed = dynamic_cast<PackedDiskStore*>(fast_.get())) {
      Result<uint64_t> size = packed->StoredSize(p);
      if (size.ok()) return *size;
    }
    BlobLocation where;
    if (auto* packs = dynamic_cast<SlowPacks*>(slow()); packs != nullptr) {
      Result<bool> found = packs->Locate(p, &where);
      if (found.ok() && *found) return where.length;
    }
    return plain;
  }

  // The slow store, opened once; null with the reason in slow_error().
  Store* slow() {
    if (!slow_tried_) {
      slow_tried_ = true;
      Result<std::unique_ptr<Store>> s = OpenSlowForReading(config_.slow_url, credentials_);
      if (s.ok()) {
        slow_ = std::move(s).value();
        GivePackTables(slow_.get(), pack_tables_);
      } else {
        slow_error_ = AnnotateNamingOnce(s.status(), config_.slow_url, "slow store " + config_.slow_url, "slow store");
      }
    }
    return slow_.get();
  }
  const Status& slow_error() const { return slow_error_; }

  std::string Describe() const override { return "the volume's stores"; }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override {
    if (fast_) {
      Result<std::vector<uint8_t>> bytes = fast_->Get(key);
      if (bytes.ok() || bytes.status().code() != ENOENT) return bytes;
    }
    if (Store* s = slow()) return s->Get(key);
    return Status::Error(ENOENT, "blob " + key.Hex() + " is not in the fast store, and " + slow_error_.message());
  }
  Status Put(const Pointer&, std::span<const uint8_t>) override { return ReadOnly(); }
  Result<bool> Contains(const Pointer&) override { return ReadOnly(); }
  Status Delete(const Pointer&) override { return ReadOnly(); }
  Status List(const std::function<Status(const Pointer&)>&) override { return ReadOnly(); }
  Status PutRef(std::string_view, std::span<const uint8_t>) override { return ReadOnly(); }
  Result<std::vector<uint8_t>> GetRef(std::string_view) override { return ReadOnly(); }
  Status DeleteRef(std::string_view) override { return ReadOnly(); }
  Result<std::vector<std::string>> ListRefs(std::string_view) override { return ReadOnly(); }

 private:
  static Status ReadOnly() { return Status::Error(EROFS, "the snapshot listing only reads blobs"); }

  const VolumeConfig& config_;
  const std::string credentials_;
  const std::shared_ptr<const PackTableCodec> pack_tables_;
  std::unique_ptr<Store> fast_;
  std::unique_ptr<Store> slow_;
  bool slow_tried_ = false;
  Status slow_error_;
};

// Per distinct blob: its size, how many snapshots reach it, and the last
// snapshot that did (so a walk counts a blob once per snapshot).
struct BlobUse {
  uint64_t bytes = 0;
  uint32_t snapshots = 0;
  size_t last = SIZE_MAX;
};
using BlobUses = std::unordered_map<Pointer, BlobUse>;

// Adds snapshot `index`'s blobs to `uses`; returns its stored bytes.
Result<uint64_t> WalkSnapshot(BlobReader& reader, const VolumeCodec& codec, const Pointer& record_ptr, size_t index,
                              BlobUses& uses, SnapshotListing& out) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, GetBlob(reader, codec, BlobRole::kRecord, record_ptr));
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord record, DecodeSnapshotRecord(bytes));
  if (record.name != out.name) {
    return Status::Error(EBADMSG, "record " + record_ptr.Hex() + " names snapshot '" + record.name + "'");
  }
  out.logical_bytes = record.volume_size;
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, record.Geometry());
  uint64_t stored = 0;
  // plain: the blob's plaintext size. A codec that is off stores each blob
  // as its plaintext; otherwise the stored size (compressed, sealed) is the
  // stores' to say, asked once per blob, when a walk first meets it.
  auto count = [&](const Pointer& p, uint64_t plain) {
    BlobUse& use = uses[p];
    if (use.last == index) return false;  // reached twice in this snapshot
    if (use.snapshots == 0) use.bytes = codec.off() ? plain : reader.StoredSize(p, plain);
    use.last = index;
    ++use.snapshots;
    stored += use.bytes;
    return true;
  };
  count(record_ptr, bytes.size());
  IndexTree tree(&reader, geo, 0, codec);
  AMBER_RETURN_IF_ERROR(tree.ForEachBlob(record.root, [&](const Pointer& p, BlobKind kind) -> Result<bool> {
    return count(p, kind == BlobKind::kChunk ? record.chunk_size : geo.node_bytes());
  }));
  return stored;
}

void AddSizes(BlobReader& reader, const VolumeCodec& codec, std::vector<CatalogEntry>& entries,
              std::vector<SnapshotListing>& out) {
  BlobUses uses;
  std::vector<bool> walked(entries.size(), false);
  for (size_t i = 0; i < entries.size(); ++i) {
    Result<uint64_t> stored = WalkSnapshot(reader, codec, entries[i].record, i, uses, out[i]);
    if (stored.ok()) {
      out[i].stored_bytes = *stored;
      walked[i] = true;
    } else {
      out[i].problem = "sizes unknown: " + stored.status().message();
    }
  }
  // Unique bytes are exact only when every snapshot could be walked: an
  // unreadable tree may share any blob.
  bool all_walked = std::find(walked.begin(), walked.end(), false) == walked.end();
  if (!all_walked) return;
  for (auto& s : out) s.unique_bytes = 0;
  for (const auto& [ptr, use] : uses) {
    if (use.snapshots == 1) *out[use.last].unique_bytes += use.bytes;
  }
}

void AddUploads(BlobReader& reader, const VolumeCodec& codec, const VolumeConfig& config,
                std::vector<SnapshotListing>& out) {
  Store* slow = reader.slow();
  for (SnapshotListing& s : out) {
    if (!slow) {
      if (s.problem.empty()) s.problem = "upload state unknown: " + reader.slow_error().message();
      continue;
    }
    const std::string name = SnapshotRef(config.uuid, s.name);
    Result<std::vector<uint8_t>> ref = slow->GetRef(name);
    if (ref.ok()) ref = codec.OpenRef(name, std::move(ref).value());
    if (!ref.ok()) {
      if (ref.status().code() == ENOENT) {
        s.uploaded = false;
      } else if (s.problem.empty()) {
        s.problem = "upload state unknown: " + ref.status().message();
      }
      continue;
    }
    Result<Pointer> named = DecodeSnapshotRefValue(*ref);
    s.uploaded = named.ok() && named->Hex() == s.record;
  }
}

}  // namespace

Result<std::vector<SnapshotListing>> ListVolumeSnapshots(const std::string& voldir,
                                                         const ListSnapshotsOptions& options) {
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, VolumeConfig::Load(voldir));
  Result<std::unique_ptr<Catalog>> catalog = Catalog::OpenForReading(voldir);
  if (!catalog.ok()) {
    // A volume that was never mounted read-write has no catalog yet.
    if (catalog.status().code() == ENOENT) return std::vector<SnapshotListing>();
    return catalog.status();
  }
  AMBER_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries, (*catalog)->List());
  std::vector<SnapshotListing> out;
  for (const CatalogEntry& e : entries) {
    SnapshotListing s;
    s.name = e.name;
    s.created_ns = e.created_ns;
    s.record = e.record.Hex();
    out.push_back(std::move(s));
  }
  if (out.empty() || (!options.sizes && !options.uploads)) return out;
  Result<VolumeCodec> codec = OpenVolumeCodec(voldir, config, options.key_file, nullptr);
  if (!codec.ok()) {
    for (SnapshotListing& s : out) s.problem = "sizes and upload state unknown: " + codec.status().message();
    return out;
  }
  BlobReader reader(voldir, config, options.s3_credentials, codec->PackTables());
  if (options.sizes) AddSizes(reader, *codec, entries, out);
  if (options.uploads) AddUploads(reader, *codec, config, out);
  return out;
}

}  // namespace amberfs
