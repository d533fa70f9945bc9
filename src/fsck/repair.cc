// -y: carries out the plans the checks made (see fsck.h for what is safe).
// Each plan marks its problems repaired only when it succeeded; a failed
// repair is logged in the report's skipped list and leaves its problems open.
#include <unistd.h>

#include <set>

#include "snapshot/change_tracker.h"
#include "base/durable_file.h"
#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

void Settled(Context& ctx, const std::vector<size_t>& problems) {
  for (size_t p : problems) ctx.report.problems[p].repaired = true;
}

void Failed(Context& ctx, const std::string& what, const Status& s) { ctx.Skip("repair: " + what + ": " + s.ToString()); }

Status RefetchFast(Context& ctx, const Pointer& key) {
  if (!ctx.slow || !ctx.fast) return Status::Error(ENOENT, "no store to fetch from");
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> good, ctx.slow->Get(key));  // verified by the store
  AMBER_RETURN_IF_ERROR(ctx.fast->Delete(key));
  return ctx.fast->Put(key, good);
}

void RepairUploads(Context& ctx) {
  RepairPlan& plan = ctx.plan;
  if (plan.rewrite_log.problems.empty() && plan.requeue.empty() && plan.settle.empty()) return;
  // Open drops corrupt records and a torn tail, rewriting the log.
  Result<std::unique_ptr<UploadLog>> log = UploadLog::Open(ctx.Path(kUploadLogFile));
  if (!log.ok()) return Failed(ctx, "open the upload log", log.status());
  // The lost records' uploads were found again by the requeue scan, which
  // needs the slow store.
  if (ctx.slow) Settled(ctx, plan.rewrite_log.problems);
  for (const RepairPlan::Settle& s : plan.settle) {
    Status st = s.lost ? (*log)->MarkLost(s.seq) : (*log)->MarkDone(s.seq);
    if (st.ok()) Settled(ctx, {s.problem});
    else Failed(ctx, "settle upload " + std::to_string(s.seq), st);
  }
  std::set<size_t> failed;
  std::set<Pointer> queued;
  for (const RepairPlan::Requeue& r : plan.requeue) {
    if (r.key.IsNull()) {
      failed.insert(r.problem);
      continue;
    }
    if (!queued.insert(r.key).second) continue;
    Status st;
    if (r.replace_slow) st = ctx.slow ? ctx.slow->Delete(r.key) : Status::Error(ENOENT, "no slow store");
    if (st.ok()) st = (*log)->AppendBlob(r.key).status();
    if (!st.ok()) {
      failed.insert(r.problem);
      Failed(ctx, "queue the upload of " + r.key.Hex(), st);
    }
  }
  for (const RepairPlan::Requeue& r : plan.requeue) {
    if (!failed.count(r.problem)) Settled(ctx, {r.problem});
  }
  Status st = (*log)->Sync();
  if (!st.ok()) Failed(ctx, "sync the upload log", st);
}

void RepairTracker(Context& ctx) {
  RepairPlan& plan = ctx.plan;
  if (!plan.create_tracker && !plan.mark_all && !plan.new_base && plan.rewrite_tracker.problems.empty() &&
      plan.mark.chunks.empty())
    return;
  const VolumeConfig& config = *ctx.config;
  const std::string path = ctx.Path(kChangesFile);
  if (plan.create_tracker) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Failed(ctx, "remove " + path, Status::FromErrno(errno, path));
    Result<std::unique_ptr<ChangeTracker>> created = ChangeTracker::Create(path, config.size, config.chunk_size);
    if (!created.ok()) return Failed(ctx, "create " + path, created.status());
  }
  // The base first: the marks written below are relative to it.
  if (plan.new_base) {
    Status st = WriteBaseFile(ctx.voldir, *plan.new_base);
    if (!st.ok()) return Failed(ctx, "rewrite the snapshot base", st);
    Settled(ctx, plan.new_base_problems);
  }
  // Open rewrites damaged pages as "all changed".
  Result<std::unique_ptr<ChangeTracker>> tracker = ChangeTracker::Open(path, config.size, config.chunk_size);
  if (!tracker.ok()) return Failed(ctx, "open " + path, tracker.status());
  Settled(ctx, plan.rewrite_tracker.problems);
  Status st;
  if (plan.mark_all) {
    st = (*tracker)->MarkAll();
  } else {
    for (uint64_t c : plan.mark.chunks) {
      st = (*tracker)->WillChange(c * config.chunk_size, config.chunk_size);
      if (!st.ok()) break;
    }
    if (st.ok()) st = (*tracker)->Sync();
  }
  if (st.ok()) Settled(ctx, plan.mark.problems);
  else Failed(ctx, "mark chunks changed in " + path, st);
}

}  // namespace

Status Repair(Context& ctx) {
  RepairPlan& plan = ctx.plan;
  for (const RepairPlan::RefetchFast& r : plan.refetch) {
    Status s = RefetchFast(ctx, r.key);
    if (s.ok()) Settled(ctx, r.problems);
    else Failed(ctx, "replace the damaged fast copy of " + r.key.Hex(), s);
  }

  const std::string catalog = ctx.Path(kCatalogDir);
  for (const RepairPlan::RewriteEntry& r : plan.rewrite_entries) {
    Status s = WriteFileAtomic(catalog, r.entry.name, EncodeCatalogEntry(r.entry), /*no_replace=*/false);
    if (s.ok()) Settled(ctx, r.problems);
    else Failed(ctx, "rewrite catalog entry " + r.entry.name, s);
  }
  bool all_dropped = true;
  for (const RepairPlan::Drop& d : plan.drop_entries) {
    Status s = RemoveDurably(catalog, d.name);
    if (s.ok()) {
      Settled(ctx, d.problems);
    } else {
      all_dropped = false;
      Failed(ctx, "remove catalog entry " + d.name, s);
    }
  }
  // Every snapshot that reached an unusable blob is gone, so those blobs are
  // no longer needed: their problems are settled.
  if (plan.drop_settles_blobs && all_dropped) {
    for (const auto& [key, info] : ctx.reached) {
      if (info.unusable && info.problem >= 0) ctx.report.problems[info.problem].repaired = true;
    }
  }

  RepairUploads(ctx);
  RepairTracker(ctx);

  for (const auto& [key, p] : plan.orphans) {
    Status s = ctx.fast->Delete(key);
    if (s.ok()) Settled(ctx, {p});
    else Failed(ctx, "remove orphan " + key.Hex(), s);
  }
  // The packs those deletes left with no live blob go now (store.h).
  if (ctx.fast) {
    Result<uint64_t> freed = ctx.fast->ReclaimDeleted();
    if (!freed.ok()) Failed(ctx, "remove packs with no live blob", freed.status());
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
