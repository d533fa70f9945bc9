// Restore steps: rebuild a volume's snapshot state from a slow store (see
// restore_steps.h).
#include "snapshot/restore_steps.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/index_tree.h"
#include "snapshot/internal.h"
#include "snapshot/restore_downloads.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"
#include "store/slow_store_locks.h"

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

Result<SnapshotRecord> FetchRecord(Store* store, const std::string& uuid, const StoredSnapshot& snap) {
  Result<std::vector<uint8_t>> bytes = store->Get(snap.record);
  if (!bytes.ok()) return bytes.status().Annotate("snapshot " + snap.name + " record");
  Result<SnapshotRecord> rec = DecodeSnapshotRecord(*bytes);
  if (!rec.ok()) return rec.status().Annotate("snapshot " + snap.name + " record " + snap.record.Hex());
  if (FormatVolumeUuid(rec->volume) != uuid || rec->name != snap.name) {
    return Status::Error(EBADMSG, "snapshot ref " + SnapshotRef(uuid, snap.name) + " points at the record of " +
                                      FormatVolumeUuid(rec->volume) + "/" + rec->name);
  }
  return rec;
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
    } else if (ref.starts_with(snapshots) && ValidateSnapshotName(ref.substr(snapshots.size())).ok()) {
      AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> value, store->GetRef(ref));
      Result<Pointer> record = DecodeSnapshotRefValue(value);
      if (!record.ok()) return record.status().Annotate(ref);
      v.snapshots.push_back(StoredSnapshot{ref.substr(snapshots.size()), *record, 0});
    }
  }
  std::vector<StoredVolume> out;
  for (auto& [uuid, v] : by_uuid) out.push_back(std::move(v));
  return out;
}

RestoreChoice RestorePlan::Choice() const {
  return RestoreChoice{uuid, record.name, record.created_ns, record.volume_size, record.chunk_size};
}

Result<RestorePlan> PlanRestore(Store* store, const std::string& volume, const std::string& snapshot) {
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
  if (!snapshot.empty()) {
    auto it = std::find_if(chosen->snapshots.begin(), chosen->snapshots.end(),
                           [&](const StoredSnapshot& s) { return s.name == snapshot; });
    if (it == chosen->snapshots.end()) {
      std::string names;
      for (const StoredSnapshot& s : chosen->snapshots) names += " " + s.name;
      return Status::Error(ENOENT, "volume " + chosen->uuid + " has no snapshot " + snapshot + "; it has:" + names);
    }
    AMBER_ASSIGN_OR_RETURN(plan.record, FetchRecord(store, chosen->uuid, *it));
    plan.record_pointer = it->record;
  } else {
    // The newest, by the time in its record.
    bool any = false;
    for (const StoredSnapshot& s : chosen->snapshots) {
      AMBER_ASSIGN_OR_RETURN(SnapshotRecord rec, FetchRecord(store, chosen->uuid, s));
      if (!any || rec.created_ns > plan.record.created_ns) {
        plan.record = rec;
        plan.record_pointer = s.record;
        any = true;
      }
    }
  }
  Result<std::vector<uint8_t>> config = store->GetRef(VolumeConfigRef(plan.uuid));
  if (config.ok()) {
    plan.config_text.assign(config->begin(), config->end());
  } else if (config.status().code() != ENOENT) {
    return config.status().Annotate("volume config");
  }
  return plan;
}

Status ForEachChunk(Store* store, const SnapshotRecord& record, int threads,
                    const std::function<void(uint64_t chunk, const Pointer& pointer)>& fn) {
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, record.Geometry());
  std::vector<std::pair<uint64_t, Pointer>> level;  // (first chunk a node covers, node)
  if (!record.root.IsNull()) level.emplace_back(0, record.root);
  for (uint32_t height = record.depth; height >= 1 && !level.empty(); --height) {
    AMBER_ASSIGN_OR_RETURN(std::vector<Download> downloads, PlanDownloads(store, level));
    std::mutex mu;  // guards next and the calls of fn
    std::vector<std::pair<uint64_t, Pointer>> next;
    const uint64_t span = geo.SlotSpan(height);
    Status st = FetchAll(store, downloads, threads, [&](const WantedBlob& w, const std::vector<uint8_t>& bytes) {
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
    });
    AMBER_RETURN_IF_ERROR(st.Annotate("read the index of snapshot " + record.name));
    level = std::move(next);
  }
  return Status::OK();
}

Result<RestoreStats> RestoreImage(Store* store, const SnapshotRecord& record, const std::string& image_path,
                                  int threads, const std::function<void(const RestoreProgress&)>& progress) {
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  AMBER_RETURN_IF_ERROR(ForEachChunk(store, record, threads, [&](uint64_t c, const Pointer& p) {
    chunks.emplace_back(c, p);
  }));
  std::sort(chunks.begin(), chunks.end());
  // By ranges of packs where the store keeps them so: one request for many chunks.
  AMBER_ASSIGN_OR_RETURN(std::vector<Download> downloads, PlanDownloads(store, chunks));

  UniqueFd fd(::open(image_path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + image_path);

  RestoreStats stats;
  stats.chunks = record.chunk_count();
  std::atomic<uint64_t> done{0}, bytes{0};
  std::mutex mu;  // serialises progress calls
  // Writes one blob at each of its chunks.
  auto write_blob = [&](const WantedBlob& w, const std::vector<uint8_t>& data) -> Status {
    for (uint64_t chunk : w.chunks) {
      const uint64_t off = chunk * record.chunk_size;
      const uint64_t len = std::min<uint64_t>(record.chunk_size, record.volume_size - off);
      if (data.size() != len)
        return Status::Error(EBADMSG, "chunk " + std::to_string(chunk) + " is " + std::to_string(data.size()) +
                                          " bytes, expected " + std::to_string(len));
      AMBER_RETURN_IF_ERROR(PwriteAll(fd.get(), data.data(), len, static_cast<off_t>(off), image_path));
      const uint64_t n = done.fetch_add(1) + 1;
      bytes += len;
      std::lock_guard lk(mu);
      if (progress && (n % 64 == 0 || n == chunks.size())) progress(RestoreProgress{n, chunks.size(), bytes.load()});
    }
    return Status::OK();
  };
  AMBER_RETURN_IF_ERROR(FetchAll(store, downloads, threads, write_blob).Annotate("restore"));
  if (::fdatasync(fd.get()) != 0) return Status::FromErrno(errno, "fdatasync " + image_path);
  AMBER_RETURN_IF_ERROR(fd.Close());
  if (progress && chunks.empty()) progress(RestoreProgress{0, 0, 0});
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
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, EncodeSnapshotRecord(rec));
  const Pointer record = Pointer::Of(bytes);
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
  const std::string source = SnapshotRef(plan.uuid, plan.record.name);
  Result<std::vector<uint8_t>> value = slow.GetRef(source);
  Result<Pointer> now = value.ok() ? DecodeSnapshotRefValue(*value) : Result<Pointer>(value.status());
  if (!now.ok() || *now != plan.record_pointer) {
    if (Status st = slow.DeleteRef(UploadMarkerRef(uuid)); !st.ok()) LOG_WARN("%s", st.ToString().c_str());
    return Status::Error(ESTALE, "snapshot " + plan.record.name + " of volume " + plan.uuid +
                                     " was deleted or replaced in " + slow.Describe() +
                                     " while it was restored; its blobs may be gone: restore again");
  }
  AMBER_RETURN_IF_ERROR(store->Put(record, bytes).Annotate("store the restored snapshot's record"));
  if (!config_text.empty()) AMBER_RETURN_IF_ERROR(store->PutRef(VolumeConfigRef(uuid), AsBytes(config_text)));
  const std::string ref_value = EncodeSnapshotRefValue(record);
  AMBER_RETURN_IF_ERROR(store->PutRef(SnapshotRef(uuid, rec.name), AsBytes(ref_value)).Annotate("queue the ref"));
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
