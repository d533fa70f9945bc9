// RunFsck: runs the checks in order over one Context, then the repairs.
#include "amberfs/fsck.h"

#include <chrono>
#include <cstdio>

#include "fsck/internal.h"
#include "store/pack_objects.h"

namespace amberfs {
namespace fsck {

size_t Context::Problem(FsckClass cls, std::string object, std::string message, uint64_t bytes) {
  report.problems.push_back(FsckProblem{cls, std::move(object), std::move(message), bytes, false});
  return report.problems.size() - 1;
}

bool Context::SlowHas(const Pointer& key) {
  if (!slow || slow_listing_failed) return false;
  if (!slow_listed && (opt.slow || ++slow_contains_asked > kSlowContainsBeforeListing)) {
    Result<ListedBlobs> listed = ListedBlobs::Load(*slow);
    if (!listed.ok()) {
      // Every later answer would fail the same way: ask no more.
      slow_listing_failed = true;
      if (slow_error.empty()) slow_error = listed.status().ToString();
      return false;
    }
    slow_listed = std::move(listed).value();
    report.counts.slow_blobs_listed = slow_listed->size();
  }
  if (slow_listed) return slow_listed->Has(key);
  Result<bool> has = slow->Contains(key);
  if (!has.ok()) {
    if (slow_error.empty()) slow_error = has.status().ToString();
    return false;
  }
  return *has;
}

const std::unordered_set<Pointer>* Context::SlowIndexedPacks() {
  if (slow_indexed_packs) return &*slow_indexed_packs;
  if (!slow) return nullptr;
  std::unordered_set<Pointer> packs;
  Status s = ListPacks(*slow, [&](const Pointer& pack) {
    packs.insert(pack);
    return Status::OK();
  });
  // A store that keeps no pack objects has no packs.
  if (!s.ok() && s.code() != ENOTSUP) {
    if (slow_error.empty()) slow_error = s.ToString();
    return nullptr;
  }
  slow_indexed_packs = std::move(packs);
  return &*slow_indexed_packs;
}

std::string Short(const Pointer& p) { return p.Hex().substr(0, 16); }

}  // namespace fsck

Result<FsckReport> RunFsck(const FsckOptions& options) {
  using namespace fsck;
  const auto start = std::chrono::steady_clock::now();
  if (options.read_data_percent <= 0 || options.read_data_percent > 100) {
    return Status::Error(EINVAL, "read-data subset must be in (0, 100] percent");
  }
  if (options.drop_broken && !options.repair) {
    return Status::Error(EINVAL, "--drop-broken needs -y (it is a repair)");
  }
  FsckReport report;
  report.repair = options.repair;
  Context ctx(options, report);
  ctx.voldir = options.voldir;
  while (ctx.voldir.size() > 1 && ctx.voldir.back() == '/') ctx.voldir.pop_back();
  report.voldir = ctx.voldir;

  // Each check copes with what earlier ones could not provide; only an
  // operational failure stops the run.
  AMBER_RETURN_IF_ERROR(CheckVolume(ctx));
  if (ctx.config) {
    AMBER_RETURN_IF_ERROR(OpenStores(ctx));
    AMBER_RETURN_IF_ERROR(CheckCatalog(ctx));
    AMBER_RETURN_IF_ERROR(ScanUploadLog(ctx));
    AMBER_RETURN_IF_ERROR(CheckFastPacks(ctx));
    AMBER_RETURN_IF_ERROR(CheckTrees(ctx));
    if (options.read_data) AMBER_RETURN_IF_ERROR(ReadData(ctx));
    PlanDrops(ctx);
    AMBER_RETURN_IF_ERROR(CheckUploadLog(ctx));
    if (options.slow) AMBER_RETURN_IF_ERROR(CheckSlowStore(ctx));
    if (options.slow) AMBER_RETURN_IF_ERROR(CheckSlowPacks(ctx));
    AMBER_RETURN_IF_ERROR(CheckChanges(ctx));
    AMBER_RETURN_IF_ERROR(CheckOrphans(ctx));
    if (!ctx.slow_error.empty()) {
      // slow_error names the store already.
      ctx.Skip("slow store was not fully usable: " + ctx.slow_error);
    }
    if (options.repair) AMBER_RETURN_IF_ERROR(Repair(ctx));
  }
  if (ctx.slow) report.counts.slow_requests = ctx.slow->RemoteRequests();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace amberfs
