// The upload log: every record sound, every pending blob still in the fast
// store, no blob a snapshot needs left without a way to the slow store.
#include <algorithm>

#include "fsck/internal.h"
#include "store/pack_objects.h"

namespace amberfs::fsck {

Status ScanUploadLog(Context& ctx) {
  const std::string path = ctx.Path(kUploadLogFile);
  Result<UploadLogScan> scan = UploadLog::Scan(path);
  if (!scan.ok()) {
    if (scan.status().code() == ENOENT) return Status::OK();  // nothing was ever stored
    if (scan.status().code() == EBADMSG) {
      ctx.Problem(FsckClass::kUploadLog, path, scan.status().message());
      return Status::OK();
    }
    return scan.status();
  }
  ctx.log.present = true;
  ctx.log.scan = std::move(scan).value();
  // Carried bytes count only if they are the blob (checked once, here).
  std::erase_if(ctx.log.scan.carried, [](const auto& c) { return Pointer::Of(c.second) != c.first; });
  for (const UploadEntry& e : ctx.log.scan.pending) {
    if (e.kind == UploadEntry::Kind::kBlob) ctx.log.pending_blobs.insert(e.key);
    // A pending pack's blobs are on their way too (its table names them; a
    // pack that cannot be read is CheckUploadLog's to report).
    if (e.kind == UploadEntry::Kind::kPack && ctx.fast) {
      Result<std::vector<Pointer>> blobs = ctx.fast->PackBlobs(e.key);
      if (blobs.ok()) ctx.log.pending_blobs.insert(blobs->begin(), blobs->end());
    }
  }
  ctx.log.lost.insert(ctx.log.scan.lost.begin(), ctx.log.scan.lost.end());
  // Uploads only: a delete a crash interrupted (the next open finishes it) is none.
  ctx.report.counts.pending_uploads = std::count_if(ctx.log.scan.pending.begin(), ctx.log.scan.pending.end(),
                                                    [](const UploadEntry& e) { return e.kind != UploadEntry::Kind::kDelete; });
  if (ctx.log.scan.corrupt_records > 0) {
    size_t p = ctx.Problem(FsckClass::kUploadLog, path,
                           std::to_string(ctx.log.scan.corrupt_records) +
                               " corrupt records between good ones (uploads they queued may be lost)");
    ctx.plan.rewrite_log.problems.push_back(p);
  }
  if (ctx.log.scan.torn_tail_bytes > 0) {
    ctx.Problem(FsckClass::kNote, path,
                "a torn tail of " + std::to_string(ctx.log.scan.torn_tail_bytes) +
                    " bytes (an unacknowledged write; the next open drops it)");
  }
  return Status::OK();
}

namespace {

bool FastHas(Context& ctx, const Pointer& key) {
  if (!ctx.fast) return false;
  Result<bool> has = ctx.fast->Contains(key);
  return has.ok() && *has;
}

// A pending pack upload whose pack the fast store cannot read: done if the
// slow store has the pack, else lost (its blobs are then reported as reached
// blobs the slow store lacks, and requeued where the fast store has them).
void CheckPendingPack(Context& ctx, const UploadEntry& e) {
  if (!ctx.fast) return;
  Result<std::vector<Pointer>> blobs = ctx.fast->PackBlobs(e.key);
  if (blobs.ok()) return;
  const std::string what = "pending upload " + std::to_string(e.seq) + " of pack " + e.key.Hex();
  if (!ctx.slow) {
    ctx.Skip(what + ": unreadable here (" + blobs.status().message() + "), and the slow store is not available");
    return;
  }
  Result<std::vector<PackEntry>> in_slow = GetPackIndex(*ctx.slow, e.key, ctx.pack_tables.get());
  if (!in_slow.ok() && in_slow.status().code() != ENOENT) {
    ctx.Skip(what + ": " + in_slow.status().ToString());
    return;
  }
  size_t p = ctx.Problem(FsckClass::kUploadLog, e.key.Hex(),
                         what + ": unreadable in the fast store (" + blobs.status().message() +
                             (in_slow.ok() ? "); the slow store has it" : "); the slow store lacks it"));
  ctx.plan.settle.push_back({e.seq, p, /*lost=*/!in_slow.ok()});
}

}  // namespace

Status CheckUploadLog(Context& ctx) {
  if (!ctx.log.present) return Status::OK();
  const std::string path = ctx.Path(kUploadLogFile);
  for (const UploadEntry& e : ctx.log.scan.pending) {
    if (e.kind == UploadEntry::Kind::kPack) CheckPendingPack(ctx, e);
    if (e.kind != UploadEntry::Kind::kBlob || FastHas(ctx, e.key)) continue;
    if (ctx.log.Carried(e.key)) {
      // A carried Put whose fast copy a crash lost: the next open puts it back.
      ctx.NoteCarried(e.key, "pending upload " + std::to_string(e.seq), "missing");
      continue;
    }
    if (ctx.SlowHas(e.key)) {
      size_t p = ctx.Problem(FsckClass::kUploadLog, e.key.Hex(),
                             "pending upload " + std::to_string(e.seq) + ": the fast copy is gone (the slow store has it)");
      ctx.plan.settle.push_back({e.seq, p, /*lost=*/false});
    } else {
      size_t p = ctx.Problem(FsckClass::kUploadLog, e.key.Hex(),
                             "pending upload " + std::to_string(e.seq) + ": the blob is in no store");
      ctx.plan.settle.push_back({e.seq, p, /*lost=*/true});
    }
  }
  for (const Pointer& key : ctx.log.lost) {
    auto it = ctx.reached.find(key);
    if (it == ctx.reached.end() || it->second.where != Where::kFast || ctx.log.pending_blobs.count(key)) continue;
    if (ctx.SlowHas(key)) continue;
    size_t p = ctx.Problem(FsckClass::kUploadLog, key.Hex(),
                           "its upload was abandoned, but a snapshot needs it and the slow store lacks it");
    ctx.plan.requeue.push_back({key, p, false});
  }

  // Blobs the log should still be carrying: after damage to the log (a lost
  // queued record), or when asked to check the slow store anyway.
  const bool damaged = ctx.log.scan.corrupt_records > 0 || ctx.log.scan.torn_tail_bytes > 0;
  if (!damaged && !ctx.opt.slow) return Status::OK();
  if (!ctx.slow) {
    ctx.Skip("uploads owed to the slow store (it is not available)");
    return Status::OK();
  }
  std::set<Pointer> queued;
  for (const auto& r : ctx.plan.requeue) queued.insert(r.key);
  uint64_t done = 0;
  for (const auto& [key, info] : ctx.reached) {
    if (++done % 1024 == 0) ctx.Progress("uploads", done, ctx.reached.size());
    if (info.where != Where::kFast || info.unusable || ctx.log.pending_blobs.count(key) || queued.count(key)) continue;
    if (ctx.SlowHas(key)) continue;
    size_t p = ctx.Problem(damaged ? FsckClass::kUploadLog : FsckClass::kSlowStore, key.Hex(),
                           "reached blob is neither in the slow store nor queued for upload");
    ctx.plan.requeue.push_back({key, p, false});
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
