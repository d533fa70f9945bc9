// Orphans: fast-store blobs that no snapshot reaches. They are leaks (space,
// no harm to data); -y removes them only when it is certain nothing needs them.
// Orphan packs (pack_orphans.h) are leaks too: the fast store's open removes
// them when fsck repairs (it holds the volume lock), so only a check without
// -y finds any. The packs -y's orphan removal leaves with no live blob go at
// its end (repair.cc: PackedDiskStore::ReclaimDeleted).
#include <set>

#include "fsck/internal.h"
#include "store/pack_orphans.h"

namespace amberfs::fsck {
namespace {

// Why orphans must stay, or "" if they may go.
std::string WhyKeepOrphans(Context& ctx) {
  if (!ctx.catalog_complete) return "a catalog entry or record is unreadable and may reach them";
  for (const UploadEntry& e : ctx.log.scan.pending) {
    if (e.kind != UploadEntry::Kind::kRef) continue;
    Result<Pointer> record = DecodeSnapshotRefValue(e.ref_data);
    if (record.ok() && !ctx.reached.count(*record)) return "a pending ref upload names a snapshot not in the catalog";
  }
  if (ctx.slow) {
    Result<std::vector<std::string>> refs = ctx.slow->ListRefs(SnapshotRefPrefix(ctx.config->uuid));
    if (!refs.ok()) return "the slow store's snapshot refs cannot be listed";
    std::set<std::string> local;
    for (const Snapshot& s : ctx.snapshots) local.insert(s.entry.name);
    for (const std::string& ref : *refs) {
      std::string name = ref.substr(ref.rfind('/') + 1);
      if (!local.count(name)) return "the slow store holds snapshot " + name + ", which the catalog lacks";
    }
  }
  return "";
}

void CheckOrphanPacks(Context& ctx) {
  Result<std::vector<OrphanPack>> packs = FindOrphanPacks(ctx.fast->packs_dir(), ctx.fast->index());
  if (!packs.ok()) return ctx.Skip("looking for orphan packs: " + packs.status().ToString());
  for (const OrphanPack& o : *packs)
    ctx.Problem(FsckClass::kLeak, "pack " + o.name.Hex(),
                "orphan pack: the blob index names none of its blobs (" + HumanBytes(o.bytes) +
                    "; a batch a crash interrupted before its index commit, or every blob deleted); -y removes it",
                o.bytes);
}

}  // namespace

Status CheckOrphans(Context& ctx) {
  if (!ctx.fast) return Status::OK();
  if (!ctx.opt.repair) CheckOrphanPacks(ctx);
  std::vector<BlobInfo> orphans;
  uint64_t total = 0;
  Status s = ctx.fast->ListBlobInfo([&](const BlobInfo& info) {
    ++total;
    if (!ctx.reached.count(info.key)) orphans.push_back(info);
    return Status::OK();
  });
  if (!s.ok()) return s.Annotate("list the fast store");
  ctx.report.counts.fast_blobs = total;
  if (orphans.empty()) return Status::OK();

  const std::string keep = ctx.opt.repair ? WhyKeepOrphans(ctx) : "";
  if (!keep.empty()) ctx.Skip("removing orphan blobs: " + keep);
  for (const BlobInfo& info : orphans) {
    const bool pending = ctx.log.pending_blobs.count(info.key) > 0;
    size_t p = ctx.Problem(FsckClass::kLeak, info.key.Hex(),
                           "no snapshot reaches this blob (" + HumanBytes(info.disk_bytes) + " on disk" +
                               (pending ? ", upload pending; left to gc)" : ")"),
                           info.disk_bytes);
    if (keep.empty() && !pending) ctx.plan.orphans.push_back({info.key, p});
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
