// --read-data: read every reached chunk blob (or a sample) and check its
// SHA-256 against its key, on every core. Index nodes and records were read
// and verified by the walk already, and a fast copy in a pack that
// CheckFastPacks read whole and verified (packs.cc) is not read again: it
// counts as read.
#include <atomic>
#include <chrono>

#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

struct ReadJob {
  Pointer key;
  bool from_slow;
  Status result;
};

// Sampling keyed by the blob, so a seed gives a repeatable sample.
bool Sampled(const Pointer& key, double percent, uint64_t seed) {
  if (percent >= 100) return true;
  uint64_t h = std::hash<Pointer>{}(key) ^ seed;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h % 1000000) < percent * 10000;
}

// Whether the fast copy of key lies in a pack CheckFastPacks read whole and
// verified: then reading it again would only repeat that; its length goes
// to *length.
bool InVerifiedPack(Context& ctx, const Pointer& key, uint64_t* length) {
  if (ctx.verified_packs.empty()) return false;
  Result<BlobLocation> where = ctx.fast->index().Lookup(key);
  if (!where.ok() || !ctx.verified_packs.count(where->pack)) return false;
  *length = where->length;
  return true;
}

}  // namespace

Status ReadData(Context& ctx) {
  uint64_t seed = ctx.opt.sample_seed;
  if (seed == 0) seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1;
  std::vector<ReadJob> jobs;
  for (const auto& [key, info] : ctx.reached) {
    if (info.is_record || info.kind != BlobKind::kChunk || info.unusable) continue;
    if (!Sampled(key, ctx.opt.read_data_percent, seed)) continue;
    if (info.where == Where::kFast) {
      uint64_t length = 0;
      if (InVerifiedPack(ctx, key, &length)) {
        ++ctx.report.counts.blobs_read;
        ctx.report.counts.bytes_read += length;
      } else {
        jobs.push_back({key, false, {}});
      }
      if (ctx.opt.slow && ctx.slow && !ctx.log.pending_blobs.count(key)) jobs.push_back({key, true, {}});
    } else if (info.where == Where::kSlowOnly && !info.fast_bad) {
      jobs.push_back({key, true, {}});
    }
  }
  if (jobs.empty()) return Status::OK();

  std::atomic<uint64_t> bytes{0};
  ForEachOnWorkers(ctx, "read-data", jobs.size(), [&](size_t i) {
    ReadJob& job = jobs[i];
    Store* store = job.from_slow ? ctx.slow.get() : static_cast<Store*>(ctx.fast.get());
    Result<std::vector<uint8_t>> data = store->Get(job.key);
    if (data.ok()) bytes.fetch_add(data->size(), std::memory_order_relaxed);
    // A codec's envelope: open it (authenticates it under the key) and check
    // the chunk's size inside.
    if (data.ok() && !ctx.codec.off()) {
      data = ctx.codec.Decode(BlobRole::kChunk, std::move(data).value());
      auto reached = ctx.reached.find(job.key);  // find: workers must not insert
      const uint64_t want = reached == ctx.reached.end() ? 0 : reached->second.expected_size;
      if (data.ok() && want != 0 && data->size() != want)
        data = Status::Error(EBADMSG, "holds " + std::to_string(data->size()) + " bytes, not " + std::to_string(want));
    }
    if (!data.ok()) job.result = data.status();
  });
  ctx.report.counts.blobs_read += jobs.size();
  ctx.report.counts.bytes_read += bytes.load();

  bool newly_unusable = false;
  for (const ReadJob& job : jobs) {
    if (job.result.ok()) continue;
    ReachedBlob& info = ctx.reached[job.key];
    const std::string why = job.result.message();
    if (job.from_slow && info.where == Where::kFast) {
      // The fast copy is good; only the off-site copy is bad.
      size_t p = ctx.Problem(FsckClass::kSlowStore, job.key.Hex(), "slow-store copy of a chunk blob is damaged: " + why);
      ctx.plan.requeue.push_back({job.key, p, /*replace_slow=*/true});
      continue;
    }
    if (!job.from_slow && ctx.log.Carried(job.key)) {
      ctx.NoteCarried(job.key, "chunk blob", job.result.code() == ENOENT ? "missing" : "damaged (" + why + ")");
      continue;
    }
    if (!job.from_slow) {
      info.fast_bad = true;
      Result<std::vector<uint8_t>> good = ctx.slow ? ctx.slow->Get(job.key) : Result<std::vector<uint8_t>>(job.result);
      if (good.ok()) {
        info.where = Where::kSlowOnly;
        size_t p = ctx.Problem(FsckClass::kCorruptBlob, job.key.Hex(),
                               "chunk blob: fast copy is damaged (" + why + "); the slow store has a good one");
        info.problem = static_cast<int>(p);
        ctx.plan.refetch.push_back({{{p}}, job.key});
        continue;
      }
    }
    info.where = Where::kNowhere;
    info.unusable = true;
    newly_unusable = true;
    info.problem = static_cast<int>(ctx.Problem(FsckClass::kCorruptBlob, job.key.Hex(),
                                                "chunk blob is damaged (" + why + ") and no store has a good copy",
                                                info.expected_size));
  }
  // Find which snapshots the new damage breaks (the walk kept no child lists).
  if (newly_unusable) WalkSnapshots(ctx, /*quiet=*/true);
  return Status::OK();
}

}  // namespace amberfs::fsck
