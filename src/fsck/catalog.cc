// The catalog: every entry parses, its record is sound and of this volume,
// parents exist. A corrupt entry is rebuilt from the slow store's ref when it
// can be.
#include <dirent.h>

#include <algorithm>
#include <set>

#include <xxhash.h>

#include <cstring>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

constexpr size_t kMaxEntryBytes = 4096;

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// The record a snapshot entry points at, checked against the volume.
Result<SnapshotRecord> ReadRecord(Context& ctx, const Pointer& ptr, const std::string& name) {
  ReachedBlob& info = ctx.reached[ptr];
  info.is_record = true;
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> stored, FetchBlob(ctx, ptr, &info, "record of snapshot " + name));
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ctx.codec.Decode(BlobRole::kRecord, std::move(stored)));
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord record, DecodeSnapshotRecord(bytes));
  const VolumeConfig& config = *ctx.config;
  std::string why;
  if (!name.empty() && record.name != name) why = "names snapshot \"" + record.name + "\"";
  else if (FormatVolumeUuid(record.volume) != config.uuid) why = "belongs to volume " + FormatVolumeUuid(record.volume);
  // Smaller is a snapshot taken before the volume grew.
  else if (record.volume_size > config.size) why = "has volume size " + std::to_string(record.volume_size) + ", more than the volume's";
  else if (record.chunk_size != config.chunk_size) why = "has chunk size " + std::to_string(record.chunk_size);
  else if (!record.Geometry().ok()) why = record.Geometry().status().message();
  if (!why.empty()) return Status::Error(EBADMSG, "record " + Short(ptr) + " " + why);
  return record;
}

// A catalog entry rebuilt from the slow store's ref of the same name, if that
// ref names a sound record of this volume.
std::optional<CatalogEntry> EntryFromSlowRef(Context& ctx, const std::string& name) {
  if (!ctx.slow || !ValidateSnapshotName(name).ok()) return std::nullopt;
  const std::string ref_name = SnapshotRef(ctx.config->uuid, name);
  Result<std::vector<uint8_t>> ref = ctx.slow->GetRef(ref_name);
  if (ref.ok()) ref = ctx.codec.OpenRef(ref_name, std::move(ref).value());
  if (!ref.ok()) return std::nullopt;
  Result<Pointer> ptr = DecodeSnapshotRefValue(*ref);
  if (!ptr.ok()) return std::nullopt;
  Result<std::vector<uint8_t>> bytes = GetBlob(*ctx.slow, ctx.codec, BlobRole::kRecord, *ptr);
  if (!bytes.ok()) return std::nullopt;
  Result<SnapshotRecord> record = DecodeSnapshotRecord(*bytes);
  if (!record.ok() || record->name != name || FormatVolumeUuid(record->volume) != ctx.config->uuid) return std::nullopt;
  return CatalogEntry{name, record->created_ns, *ptr};
}

}  // namespace

Status WriteBaseFile(const std::string& voldir, const Pointer& record) {
  if (record.IsNull()) {
    Status s = RemoveDurably(voldir, kSnapshotBaseFile);
    return s.code() == ENOENT ? Status::OK() : s;
  }
  return WriteSnapshotBase(voldir, record);
}

Status CheckCatalog(Context& ctx) {
  const std::string dir = ctx.Path(kCatalogDir);
  Result<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) {
    if (names.status().code() != ENOENT) return names.status();
    ctx.Problem(FsckClass::kConfig, dir, "the catalog directory is missing (no snapshot can be found)");
    return Status::OK();
  }
  for (const std::string& name : *names) {
    const std::string path = dir + "/" + name;
    if (IsTempName(name)) {
      ctx.Problem(FsckClass::kNote, path, "an unfinished catalog write left by a crash (the mount removes it)");
      continue;
    }
    Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, kMaxEntryBytes);
    Result<CatalogEntry> entry =
        bytes.ok() ? DecodeCatalogEntry(*bytes, name)
                   : Result<CatalogEntry>(Status::Error(EBADMSG, bytes.status().message()));
    if (!entry.ok()) {
      ctx.catalog_complete = false;
      size_t p = ctx.Problem(FsckClass::kCatalog, path, "catalog entry is corrupt: " + entry.status().message());
      if (std::optional<CatalogEntry> rebuilt = EntryFromSlowRef(ctx, name)) {
        ctx.plan.rewrite_entries.push_back({{{p}}, *rebuilt});
      } else if (ctx.opt.drop_broken) {
        ctx.plan.drop_entries.push_back({{{p}}, name});
      }
      continue;
    }
    Snapshot snap;
    snap.entry = std::move(entry).value();
    Result<SnapshotRecord> record = ReadRecord(ctx, snap.entry.record, name);
    if (!record.ok()) {
      ctx.catalog_complete = false;
      snap.broken = true;
      // A missing or damaged blob was reported by FetchBlob already.
      if (record.status().code() == EBADMSG) {
        snap.problems.push_back(ctx.Problem(FsckClass::kCatalog, "snapshot " + name, record.status().message()));
      }
    } else {
      snap.record = std::move(record).value();
    }
    ctx.snapshots.push_back(std::move(snap));
  }
  std::sort(ctx.snapshots.begin(), ctx.snapshots.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.entry.created_ns != b.entry.created_ns ? a.entry.created_ns < b.entry.created_ns
                                                    : a.entry.name < b.entry.name;
  });
  ctx.report.counts.snapshots = ctx.snapshots.size();

  // The base: the change marks are relative to it, and gc keeps its blobs
  // even after its snapshot was deleted, so its tree is checked too.
  Result<Pointer> base = ReadSnapshotBase(ctx.voldir);
  if (!base.ok()) {
    ctx.base_ok = false;
    ctx.catalog_complete = false;
    size_t p = ctx.Problem(FsckClass::kChangeTracking, ctx.Path(kSnapshotBaseFile), base.status().message());
    // The latest readable snapshot becomes the base, with every chunk marked:
    // the next snapshot then reads them all, which is right whatever the base was.
    ctx.plan.new_base = Pointer();
    for (auto it = ctx.snapshots.rbegin(); it != ctx.snapshots.rend(); ++it) {
      if (it->record) {
        ctx.plan.new_base = it->entry.record;
        break;
      }
    }
    ctx.plan.new_base_problems.push_back(p);
    ctx.plan.mark_all = true;
  } else {
    ctx.base = *base;
    bool in_catalog = false;
    for (const Snapshot& s : ctx.snapshots) in_catalog |= s.entry.record == ctx.base;
    if (!ctx.base.IsNull() && !in_catalog) {
      Snapshot snap;
      snap.base_only = true;
      snap.entry = {"(base)", 0, ctx.base};
      Result<SnapshotRecord> record = ReadRecord(ctx, ctx.base, "");
      if (record.ok()) {
        snap.entry.name = record->name + " (deleted; the base of the change marks)";
        snap.record = std::move(record).value();
      } else {
        snap.broken = true;
        ctx.catalog_complete = false;
        if (record.status().code() == EBADMSG)
          snap.problems.push_back(ctx.Problem(FsckClass::kCatalog, "base record", record.status().message()));
      }
      ctx.snapshots.insert(ctx.snapshots.begin(), std::move(snap));
    }
  }

  std::set<Pointer> records;
  for (const Snapshot& s : ctx.snapshots) records.insert(s.entry.record);
  for (const Snapshot& s : ctx.snapshots) {
    if (s.record && !s.record->parent.IsNull() && !records.count(s.record->parent)) {
      ctx.Problem(FsckClass::kNote, "snapshot " + s.entry.name,
                  "its parent record " + Short(s.record->parent) + " is not in the catalog (deleted)");
    }
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
