// Every snapshot's tree: each index node and chunk blob it reaches exists in
// some store, has its size, and nodes parse. Shared subtrees are walked once.

#include <cstring>

#include "snapshot/index_tree.h"
#include "fsck/internal.h"

namespace amberfs::fsck {

Result<std::vector<uint8_t>> FetchBlob(Context& ctx, const Pointer& key, ReachedBlob* info, const std::string& what,
                                       bool quiet) {
  if (info->unusable) return Status::Error(ENOENT, what + " " + Short(key) + " has no good copy");
  bool fast_bad = false;
  std::string fast_why;
  if (ctx.fast) {
    Result<std::vector<uint8_t>> bytes = ctx.fast->Get(key);
    if (bytes.ok()) {
      info->where = Where::kFast;
      return bytes;
    }
    if (bytes.status().code() != ENOENT) {
      fast_bad = true;
      fast_why = bytes.status().message();
    }
    if (const std::vector<uint8_t>* carried = ctx.log.Carried(key)) {
      info->where = Where::kFast;
      if (!quiet) ctx.NoteCarried(key, what, fast_bad ? "damaged (" + fast_why + ")" : "missing");
      return *carried;
    }
  }
  Status slow_status = Status::Error(ENOENT, "no slow store");
  if (ctx.slow) {
    Result<std::vector<uint8_t>> bytes = ctx.slow->Get(key);
    if (bytes.ok()) {
      info->where = Where::kSlowOnly;
      if (fast_bad && !info->fast_bad) {
        info->fast_bad = true;
        if (!quiet) {
          size_t p = ctx.Problem(FsckClass::kCorruptBlob, key.Hex(),
                                 what + ": fast copy is damaged (" + fast_why + "); the slow store has a good one");
          info->problem = static_cast<int>(p);
          ctx.plan.refetch.push_back({{{p}}, key});
        }
      }
      return bytes;
    }
    slow_status = bytes.status();
    if (slow_status.code() != ENOENT && slow_status.code() != EBADMSG && ctx.slow_error.empty()) {
      ctx.slow_error = slow_status.ToString();
    }
  }
  info->where = Where::kNowhere;
  info->fast_bad = fast_bad;
  info->unusable = true;
  std::string msg;
  if (fast_bad) {
    msg = what + ": damaged (" + fast_why + ") and the slow store has no good copy";
  } else {
    msg = what + ": missing from the fast store and " +
          (ctx.slow ? std::string("the slow store") : "the slow store is not available");
  }
  if (!quiet) {
    size_t p = ctx.Problem(fast_bad ? FsckClass::kCorruptBlob : FsckClass::kMissingBlob, key.Hex(), msg,
                           info->expected_size);
    info->problem = static_cast<int>(p);
  }
  return Status::Error(fast_bad ? EBADMSG : ENOENT, msg);
}

namespace {

// A chunk blob: present, of its size, without reading it.
void CheckChunk(Context& ctx, const Pointer& key, ReachedBlob& info, const std::string& what) {
  if (ctx.fast) {
    Result<uint64_t> stored = ctx.fast->StoredSize(key);
    if (stored.ok()) {
      // A codec's chunks are envelopes of any size: --read-data opens them.
      if (*stored == info.expected_size || !ctx.codec.off()) {
        info.where = Where::kFast;
        return;
      }
      std::string sizes = "fast copy is " + std::to_string(*stored) + " bytes, expected " +
                          std::to_string(info.expected_size);
      if (ctx.log.Carried(key)) {
        info.where = Where::kFast;
        return ctx.NoteCarried(key, what, std::to_string(*stored) + " bytes, not " + std::to_string(info.expected_size));
      }
      info.fast_bad = true;
      if (ctx.SlowHas(key)) {
        info.where = Where::kSlowOnly;
        size_t p = ctx.Problem(FsckClass::kCorruptBlob, key.Hex(), what + ": " + sizes + "; the slow store has it");
        info.problem = static_cast<int>(p);
        ctx.plan.refetch.push_back({{{p}}, key});
      } else {
        info.where = Where::kNowhere;
        info.unusable = true;
        info.problem = static_cast<int>(ctx.Problem(FsckClass::kCorruptBlob, key.Hex(),
                                                    what + ": " + sizes + " and the slow store has no copy",
                                                    info.expected_size));
      }
      return;
    }
    if (ctx.log.Carried(key)) {
      info.where = Where::kFast;
      return ctx.NoteCarried(key, what, "missing");
    }
  }
  if (ctx.SlowHas(key)) {
    info.where = Where::kSlowOnly;
    return;
  }
  info.where = Where::kNowhere;
  info.unusable = true;
  info.problem = static_cast<int>(ctx.Problem(
      FsckClass::kMissingBlob, key.Hex(),
      what + ": missing from the fast store and " + (ctx.slow ? "the slow store" : "the slow store is not available"),
      info.expected_size));
}

class Walker {
 public:
  Walker(Context& ctx, const Snapshot& snap, bool quiet)
      : ctx_(ctx), snap_(snap), geo_(*snap.record->Geometry()), quiet_(quiet) {}

  // True if the subtree reaches a blob with no good copy.
  bool Node(const Pointer& ptr, uint64_t first_chunk, uint32_t height) {
    auto seen = ctx_.node_broken.find(ptr);
    if (seen != ctx_.node_broken.end()) return seen->second;
    ReachedBlob& info = ctx_.reached[ptr];
    info.kind = BlobKind::kIndexNode;
    info.expected_size = geo_.node_bytes();
    const std::string what = "index node (height " + std::to_string(height) + ", chunk " +
                             std::to_string(first_chunk) + ") of snapshot " + snap_.entry.name;
    bool broken = false;
    Result<std::vector<uint8_t>> bytes = FetchBlob(ctx_, ptr, &info, what, quiet_);
    if (!bytes.ok()) {
      broken = true;
    } else {
      Result<std::vector<uint8_t>> plain = ctx_.codec.Decode(BlobRole::kNode, std::move(bytes).value());
      Result<std::vector<Pointer>> slots =
          plain.ok() ? DecodeIndexNode(geo_, *plain, first_chunk, height) : Result<std::vector<Pointer>>(plain.status());
      if (!slots.ok()) {
        broken = true;
        info.unusable = true;
        if (!quiet_) info.problem = static_cast<int>(ctx_.Problem(FsckClass::kBadIndexNode, ptr.Hex(),
                                                                  what + ": " + slots.status().message()));
      } else {
        const uint64_t span = geo_.SlotSpan(height);
        for (size_t s = 0; s < slots->size(); ++s) {
          const Pointer& child = (*slots)[s];
          if (child.IsNull()) continue;
          const uint64_t child_first = first_chunk + s * span;
          broken |= height == 1 ? Chunk(child, child_first) : Node(child, child_first, height - 1);
        }
      }
    }
    ctx_.node_broken[ptr] = broken;
    return broken;
  }

 private:
  bool Chunk(const Pointer& ptr, uint64_t chunk) {
    auto [it, fresh] = ctx_.reached.try_emplace(ptr);
    ReachedBlob& info = it->second;
    if (fresh) {
      info.kind = BlobKind::kChunk;
      const uint64_t offset = chunk * snap_.record->chunk_size;
      info.expected_size = std::min<uint64_t>(snap_.record->chunk_size, snap_.record->volume_size - offset);
      if (!quiet_) CheckChunk(ctx_, ptr, info, "chunk " + std::to_string(chunk) + " of snapshot " + snap_.entry.name);
    }
    return info.unusable;
  }

  Context& ctx_;
  const Snapshot& snap_;
  const IndexGeometry geo_;
  const bool quiet_;
};

}  // namespace

void WalkSnapshots(Context& ctx, bool quiet) {
  ctx.node_broken.clear();
  uint64_t done = 0;
  for (Snapshot& snap : ctx.snapshots) {
    ctx.Progress("trees", done++, ctx.snapshots.size());
    if (!snap.record) continue;
    if (snap.record->root.IsNull()) continue;
    snap.broken |= Walker(ctx, snap, quiet).Node(snap.record->root, 0, snap.record->depth);
  }
  ctx.Progress("trees", done, ctx.snapshots.size());
}

void PlanDrops(Context& ctx) {
  for (Snapshot& snap : ctx.snapshots) {
    if (!snap.broken) continue;
    if (snap.base_only) {
      ctx.plan.new_base_problems.push_back(ctx.Problem(
          FsckClass::kNote, "snapshot " + snap.entry.name,
          "the base of the change marks is damaged" +
              std::string(ctx.opt.drop_broken ? "" : "; --drop-broken -y moves the base to the latest good snapshot")));
      continue;
    }
    size_t p = ctx.Problem(FsckClass::kNote, "snapshot " + snap.entry.name,
                           "snapshot is damaged (it reaches blobs no store holds)" +
                               std::string(ctx.opt.drop_broken ? "" : "; --drop-broken -y removes it"));
    if (!ctx.opt.drop_broken) continue;
    RepairPlan::Drop drop;
    drop.name = snap.entry.name;
    drop.problems = snap.problems;
    drop.problems.push_back(p);
    ctx.plan.drop_entries.push_back(std::move(drop));
  }
  ctx.plan.drop_settles_blobs = ctx.opt.drop_broken;
}

Status CheckTrees(Context& ctx) {
  WalkSnapshots(ctx, /*quiet=*/false);
  FsckCounts& counts = ctx.report.counts;
  for (const auto& [key, info] : ctx.reached) {
    if (info.is_record) continue;
    if (info.kind == BlobKind::kIndexNode) ++counts.index_nodes;
    else ++counts.chunk_blobs;
    counts.referenced_bytes += info.expected_size;
  }
  return Status::OK();
}

}  // namespace amberfs::fsck
