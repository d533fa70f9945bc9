// Restore steps: rebuild a volume's snapshot state from a slow store (see
// restore_steps.h).
#include "snapshot/restore_steps.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "amberfs/log.h"
#include "amberfs/volume_config.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/image_writer.h"
#include "snapshot/index_tree.h"
#include "snapshot/internal.h"
#include "snapshot/restore_downloads.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"
#include "store/slow_store_locks.h"
#include "store/slow_packs.h"

namespace amberfs {
namespace {

std::string Describe(const std::vector<StoredVolume>& volumes) {
  std::string s;
  for (const StoredVolume& v : volumes) {
    s += "\n  " + v.uuid + " (" + std::to_string(v.snapshots.size()) + " snapshots";
    if (!v.snapshots.empty()) s += ": " + v.snapshots.front().name + (v.snapshots.size() > 1 ? " ... " + v.snapshots.back().name : "");
    s += ")";
  }
  return s;
}

Result<SnapshotRecord> FetchRecord(Store* store, const VolumeCodec& codec, const std::string& uuid,
                                   const StoredSnapshot& snap) {
  Result<std::vector<uint8_t>> bytes = GetBlob(*store, codec, BlobRole::kRecord, snap.record);
  if (!bytes.ok()) return bytes.status().Annotate("snapshot " + snap.name + " record");
  Result<SnapshotRecord> rec = DecodeSnapshotRecord(*bytes);
  if (!rec.ok()) return rec.status().Annotate("snapshot " + snap.name + " record " + snap.record.Hex());
  if (FormatVolumeUuid(rec->volume) != uuid || rec->name != snap.name) {
    return Status::Error(EBADMSG, "snapshot ref " + SnapshotRef(uuid, snap.name) + " points at the record of " +
                                      FormatVolumeUuid(rec->volume) + "/" + rec->name);
  }
  return rec;
}

// The source volume's codec, config text and key object: the key object
// opened with the passphrase (an encrypted volume), then the config (sealed
// when encrypted) for its compress setting. A volume with no published
// config is read as one of format 2 (no codec), which is what wrote none.
Status OpenSourceCodec(Store* store, const StoredVolume& v, std::span<const uint8_t> passphrase, RestorePlan* plan) {
  const std::string what = "volume " + v.uuid + " in " + store->Describe();
  VolumeCodec opener;
  if (v.encrypted) {
    if (passphrase.empty())
      return Status::Error(EACCES, what + " is encrypted: give its passphrase's key file (--key-file FILE)");
    AMBER_ASSIGN_OR_RETURN(plan->key_object, store->GetRef(VolumeKeyRef(v.uuid)));
    AMBER_ASSIGN_OR_RETURN(opener, VolumeCodec::Unlock(false, plan->key_object, passphrase, what));
  } else if (!passphrase.empty()) {
    return Status::Error(EINVAL, what + " is not encrypted, but a key file was given");
  }
  Result<std::vector<uint8_t>> config = store->GetRef(VolumeConfigRef(v.uuid));
  if (!config.ok() && config.status().code() != ENOENT) return config.status().Annotate("volume config");
  if (config.ok()) {
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> text, opener.OpenRef(VolumeConfigRef(v.uuid), std::move(config).value()));
    plan->config_text.assign(text.begin(), text.end());
  }
  if (plan->config_text.empty()) {
    if (v.encrypted) return Status::Error(EBADMSG, what + " has a key object but no config");
    plan->codec = VolumeCodec();
    return Status::OK();
  }
  Result<VolumeConfig> parsed = VolumeConfig::Parse(plan->config_text);
  if (!parsed.ok()) {
    return Status::Error(EBADMSG, what + ": its published config " + VolumeConfigRef(v.uuid) +
                                      " is damaged: " + parsed.status().message());
  }
  const VolumeConfig& published = *parsed;
  if (published.encrypted != v.encrypted)
    return Status::Error(EBADMSG, what + ": its config and its key object disagree on encryption");
  plan->codec = opener.WithCompression(published.compress);  // the key unwrapped above, not a second scrypt
  GivePackTables(store, plan->codec.PackTables());  // before the first blob is looked for in its packs
  return Status::OK();
}

Result<Pointer> ReadSnapshotRef(Store* store, const VolumeCodec& codec, const std::string& uuid,
                                const std::string& name) {
  const std::string ref = SnapshotRef(uuid, name);
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> value, store->GetRef(ref));
  AMBER_ASSIGN_OR_RETURN(value, codec.OpenRef(ref, std::move(value)));
  Result<Pointer> record = DecodeSnapshotRefValue(value);
  if (!record.ok()) return record.status().Annotate(ref);
  return record;
}

}  // namespace

Result<std::vector<StoredVolume>> ListStoredVolumes(Store* store) {
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> refs, store->ListRefs("volumes/"));
  std::map<std::string, StoredVolume> by_uuid;
  for (const std::string& ref : refs) {
    // volumes/<uuid>/config or volumes/<uuid>/snapshots/<name>
    const size_t a = ref.find('/'), b = ref.find('/', a + 1);
    if (b == std::string::npos) continue;
    const std::string uuid = ref.substr(a + 1, b - a - 1);
    if (!ParseVolumeUuid(uuid).ok()) continue;
    StoredVolume& v = by_uuid[uuid];
    v.uuid = uuid;
    const std::string snapshots = SnapshotRefPrefix(uuid);
    if (ref == VolumeConfigRef(uuid)) {
      v.has_config = true;
    } else if (ref == VolumeKeyRef(uuid)) {
      v.encrypted = true;
    } else if (ref.starts_with(snapshots) && ValidateSnapshotName(ref.substr(snapshots.size())).ok()) {
      v.snapshots.push_back(StoredSnapshot{ref.substr(snapshots.size()), Pointer(), 0});
    }
  }
  std::vector<StoredVolume> out;
  for (auto& [uuid, v] : by_uuid) out.push_back(std::move(v));
  return out;
}

RestoreChoice RestorePlan::Choice() const {
  return RestoreChoice{uuid, record.name, record.created_ns, record.volume_size, record.chunk_size};
}

Result<RestorePlan> PlanRestore(Store* store, const std::string& volume, const std::string& snapshot,
                                std::span<const uint8_t> passphrase) {
  AMBER_ASSIGN_OR_RETURN(std::vector<StoredVolume> volumes, ListStoredVolumes(store));
  std::erase_if(volumes, [](const StoredVolume& v) { return v.snapshots.empty(); });
  if (volumes.empty()) return Status::Error(ENOENT, store->Describe() + " holds no volume with a snapshot");
  const StoredVolume* chosen = nullptr;
  if (volume.empty()) {
    if (volumes.size() > 1) {
      return Status::Error(EINVAL, store->Describe() + " holds several volumes; choose one with --volume:" +
                                       Describe(volumes));
    }
    chosen = &volumes.front();
  } else {
    for (const StoredVolume& v : volumes) {
      if (v.uuid == volume) chosen = &v;
    }
    if (chosen == nullptr) {
      return Status::Error(ENOENT, "no volume " + volume + " with snapshots in " + store->Describe() +
                                       "; it holds:" + Describe(volumes));
    }
  }
  RestorePlan plan;
  plan.uuid = chosen->uuid;
  AMBER_RETURN_IF_ERROR(OpenSourceCodec(store, *chosen, passphrase, &plan));
  std::vector<StoredSnapshot> snaps = chosen->snapshots;
  for (StoredSnapshot& s : snaps) {
    AMBER_ASSIGN_OR_RETURN(s.record, ReadSnapshotRef(store, plan.codec, plan.uuid, s.name));
  }
  if (!snapshot.empty()) {
    auto it = std::find_if(snaps.begin(), snaps.end(), [&](const StoredSnapshot& s) { return s.name == snapshot; });
    if (it == snaps.end()) {
      std::string names;
      for (const StoredSnapshot& s : chosen->snapshots) names += " " + s.name;
      return Status::Error(ENOENT, "volume " + chosen->uuid + " has no snapshot " + snapshot + "; it has:" + names);
    }
    AMBER_ASSIGN_OR_RETURN(plan.record, FetchRecord(store, plan.codec, chosen->uuid, *it));
    plan.record_pointer = it->record;
  } else {
    // The newest, by the time in its record.
    bool any = false;
    for (const StoredSnapshot& s : snaps) {
      AMBER_ASSIGN_OR_RETURN(SnapshotRecord rec, FetchRecord(store, plan.codec, chosen->uuid, s));
      if (!any || rec.created_ns > plan.record.created_ns) {
        plan.record = rec;
        plan.record_pointer = s.record;
        any = true;
      }
    }
  }
  return plan;
}

Status ForEachChunk(Store* store, const SnapshotRecord& record, int threads,
                    const std::function<void(uint64_t chunk, const Pointer& pointer)>& fn, const VolumeCodec& codec) {
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, record.Geometry());
  std::vector<std::pair<uint64_t, Pointer>> level;  // (first chunk a node covers, node)
  if (!record.root.IsNull()) level.emplace_back(0, record.root);
  for (uint32_t height = record.depth; height >= 1 && !level.empty(); --height) {
    AMBER_ASSIGN_OR_RETURN(std::vector<Download> downloads, PlanDownloads(store, level));
    std::mutex mu;  // guards next and the calls of fn
    std::vector<std::pair<uint64_t, Pointer>> next;
    const uint64_t span = geo.SlotSpan(height);
    auto read_node = [&](const WantedBlob& w, std::span<const uint8_t> bytes) -> Status {
      for (uint64_t first : w.chunks) {  // a node shared by several subtrees (repeated data) is at each
        AMBER_ASSIGN_OR_RETURN(std::vector<Pointer> slots, DecodeIndexNode(geo, bytes, first, height));
        std::lock_guard lk(mu);
        for (size_t s = 0; s < slots.size(); ++s) {
          if (slots[s].IsNull()) continue;
          if (height == 1) {
            fn(first + s, slots[s]);
          } else {
            next.emplace_back(first + s * span, slots[s]);
          }
        }
      }
      return Status::OK();
    };
    Status st = FetchAll(store, downloads, threads, Decoded(codec, BlobRole::kNode, read_node));
    AMBER_RETURN_IF_ERROR(st.Annotate("read the index of snapshot " + record.name));
    level = std::move(next);
  }
  return Status::OK();
}

Result<RestoreStats> RestoreImage(Store* store, const SnapshotRecord& record, const std::string& image_path,
                                  int threads, const std::function<void(const RestoreProgress&)>& progress,
                                  const VolumeCodec& codec) {
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  AMBER_RETURN_IF_ERROR(ForEachChunk(
      store, record, threads, [&](uint64_t c, const Pointer& p) { chunks.emplace_back(c, p); }, codec));
  std::sort(chunks.begin(), chunks.end());
  // By ranges of packs where the store keeps them so: one request for many chunks.
  AMBER_ASSIGN_OR_RETURN(std::vector<Download> downloads, PlanDownloads(store, chunks));

  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<ImageWriter> image, ImageWriter::Open(image_path));

  RestoreStats stats;
  stats.chunks = record.chunk_count();
  std::atomic<uint64_t> done{0}, bytes{0};
  std::mutex mu;  // serialises progress calls
  // Writes one blob at each of its chunks.
  auto write_blob = [&](const WantedBlob& w, std::span<const uint8_t> data) -> Status {
    for (uint64_t chunk : w.chunks) {
      const uint64_t off = chunk * record.chunk_size;
      const uint64_t len = std::min<uint64_t>(record.chunk_size, record.volume_size - off);
      if (data.size() != len)
        return Status::Error(EBADMSG, "chunk " + std::to_string(chunk) + " is " + std::to_string(data.size()) +
                                          " bytes, expected " + std::to_string(len));
      AMBER_RETURN_IF_ERROR(image->Add(off, data));
      const uint64_t n = done.fetch_add(1) + 1;
      bytes += len;
      std::lock_guard lk(mu);
      if (progress && n % 64 == 0 && n < chunks.size()) progress(RestoreProgress{n, chunks.size(), bytes.load()});
    }
    return Status::OK();
  };
  AMBER_RETURN_IF_ERROR(
      FetchAll(store, downloads, threads, Decoded(codec, BlobRole::kChunk, write_blob)).Annotate("restore"));
  AMBER_RETURN_IF_ERROR(image->Finish());
  // The last report (the tool's "all chunks" line) only once every byte is
  // in the image and synced: up to a run a thread was still gathered.
  if (progress) progress(RestoreProgress{done.load(), chunks.size(), bytes.load()});
  stats.downloaded = done.load();
  stats.bytes = bytes.load();
  return stats;
}

Status CheckIdentityUnused(Store* store, const std::string& uuid) {
  for (const std::string& ref : {UploadMarkerRef(uuid), GcMarkerRef(uuid)}) {
    Result<std::optional<int64_t>> age = MarkerAgeSeconds(*store, ref);
    if (!age.ok()) return age.status().Annotate("read " + ref);
    if (*age && **age < kIdentityQuietSeconds) {
      return Status::Error(EBUSY, "volume " + uuid + " looks alive: its marker " + ref + " in " + store->Describe() +
                                      " was written " + std::to_string(std::max<int64_t>(**age, 0)) +
                                      " s ago; two volumes with one identity would overwrite each other's snapshots "
                                      "and gc. Stop that volume and let it drain, or restore without "
                                      "--take-over-identity (a new uuid). If it is gone for good, delete " + ref);
    }
  }
  return Status::OK();
}

Result<Pointer> AdoptRestoredSnapshot(PairedStore* store, const RestorePlan& plan, const std::string& uuid,
                                      const std::string& config_text) {
  SnapshotRecord rec = plan.record;
  AMBER_ASSIGN_OR_RETURN(rec.volume, ParseVolumeUuid(uuid));
  rec.parent = Pointer();  // the first snapshot of this volume
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> plain, EncodeSnapshotRecord(rec));
  AMBER_ASSIGN_OR_RETURN(StoredBlob stored, plan.codec.Encode(BlobRole::kRecord, plain));
  const Pointer record = stored.pointer();
  // Our upload marker first (slow_store_locks.h): from here on no other
  // volume's gc sweeps. EBUSY only says a gc marker is there; ours is
  // written all the same, and the uploads below wait for that gc.
  Store& slow = store->slow();
  if (Status st = AcquireUploadMarker(slow, uuid); !st.ok() && st.code() != EBUSY) {
    return st.Annotate("publish the restored snapshot");
  }
  // The source ref must still name the snapshot: then its blobs were never
  // unreferenced while we downloaded them, and they stay referenced until
  // our own ref is up.
  Result<Pointer> now = ReadSnapshotRef(&slow, plan.codec, plan.uuid, plan.record.name);
  if (!now.ok() || *now != plan.record_pointer) {
    if (Status st = slow.DeleteRef(UploadMarkerRef(uuid)); !st.ok()) LOG_WARN("%s", st.ToString().c_str());
    return Status::Error(ESTALE, "snapshot " + plan.record.name + " of volume " + plan.uuid +
                                     " was deleted or replaced in " + slow.Describe() +
                                     " while it was restored; its blobs may be gone: restore again");
  }
  AMBER_RETURN_IF_ERROR(store->Put(record, stored.bytes()).Annotate("store the restored snapshot's record"));
  // The key object first: whoever reads the new volume's refs needs it.
  if (!plan.key_object.empty()) AMBER_RETURN_IF_ERROR(store->PutRef(VolumeKeyRef(uuid), plan.key_object));
  if (!config_text.empty()) {
    const std::string config_ref = VolumeConfigRef(uuid);
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> value, plan.codec.SealRef(config_ref, AsBytes(config_text)));
    AMBER_RETURN_IF_ERROR(store->PutRef(config_ref, value));
  }
  const std::string ref = SnapshotRef(uuid, rec.name);
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> ref_value,
                         plan.codec.SealRef(ref, AsBytes(EncodeSnapshotRefValue(record))));
  AMBER_RETURN_IF_ERROR(store->PutRef(ref, ref_value).Annotate("queue the ref"));
  return record;
}

Status InstallRestoredSnapshot(const std::string& voldir, const RestorePlan& plan, const Pointer& record) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<Catalog> catalog, Catalog::Open(voldir));
  AMBER_RETURN_IF_ERROR(catalog->Add(CatalogEntry{plan.record.name, plan.record.created_ns, record}));
  AMBER_RETURN_IF_ERROR(WriteSnapshotBase(voldir, record));
  const std::string changes = VolumePath(voldir, kChangesFile);
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<ChangeTracker> tracker,
                         ChangeTracker::Create(changes, plan.record.volume_size, plan.record.chunk_size));
  return Status::OK();
}

}  // namespace amberfs
