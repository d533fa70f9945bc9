// Snapshotter::Rollback: make the live volume equal a snapshot, rewriting only
// the chunks that can differ (a snapshot from before the volume grew makes
// the chunks past its end zero), with a durable intent so that a rollback cut off
// by a crash or an error is finished later rather than left half done (see
// snapshotter.h and rollback_intent.h).
#include <algorithm>
#include <chrono>

#include "amberfs/log.h"
#include "snapshot/rollback_intent.h"
#include "snapshot/snapshotter.h"

namespace amberfs {

Status Snapshotter::RefuseWhileRollbackUnfinished(int err) const {
  if (!rollback_unfinished_.load(std::memory_order_acquire)) return Status::OK();
  std::string target;
  {
    std::lock_guard lk(stats_mu_);
    target = stats_.unfinished_rollback;
  }
  return Status::Error(err, "the volume is being rolled back to " + target +
                                ", or that rollback failed: run the rollback again (or remount) to finish it");
}

Status Snapshotter::RollbackWrite(const void* buf, size_t length, uint64_t offset) {
  WriteBarrier::Writer writer(barrier_);
  return conductor_->WriteAt(buf, length, offset);
}

Status Snapshotter::RollbackDiscard(uint64_t offset, uint64_t length) {
  WriteBarrier::Writer writer(barrier_);
  return conductor_->Discard(offset, length);
}

// The intent is durable before anything changes, and from here on the
// volume's own writes are refused: closing the barrier waits for those in
// flight, and every later one sees the flag.
Status Snapshotter::BeginRollback(const std::string& name, const Pointer& record) {
  AMBER_RETURN_IF_ERROR(WriteRollbackIntent(options_.voldir, RollbackIntent{name, record}));
  {
    std::lock_guard lk(stats_mu_);
    stats_.unfinished_rollback = name;
  }
  WriteBarrier::Closed closed(barrier_);
  rollback_unfinished_.store(true, std::memory_order_release);
  return Status::OK();
}

// Live differs from the base only in marked chunks, and the base differs from
// the target only where their trees do. The rollback's own writes mark what
// they change, so a redo after a crash covers the same chunks again.
Status Snapshotter::ApplyRollback(const std::string& name, const SnapshotRecord& target, RollbackReply* reply) {
  std::vector<uint64_t> chunks = tracker_->Marked(ChangeTracker::Set::kEither);
  // A clone's remote chunk was never written: a mark on it is spurious (a
  // rebuilt tracker), and every snapshot of the clone agrees with the base
  // there, so the diff below skips it too.
  if (options_.is_remote) std::erase_if(chunks, options_.is_remote);
  // Either tree may be from before the volume grew: Diff reads it as grown,
  // so the base's chunks past the target's end count as differing.
  AMBER_RETURN_IF_ERROR(tree_.Diff(base_root_, target.root, [&](uint64_t c, const Pointer&, const Pointer&) {
    chunks.push_back(c);
    return Status::OK();
  }, base_depth_, target.depth).Annotate("diff against the base snapshot"));
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());

  const uint64_t cs = options_.chunk_size;
  ProgressRun progress(&rollback_progress_, chunks.size());
  for (uint64_t c : chunks) {
    const uint64_t off = c * cs, len = std::min<uint64_t>(cs, options_.volume_size - off);
    // Past the target's end (it is older than a grow) the volume becomes zero.
    Pointer ptr;
    if (c < target.chunk_count()) {
      AMBER_ASSIGN_OR_RETURN(ptr, tree_.Lookup(target.root, c, target.depth));
    }
    if (ptr.IsNull()) {
      AMBER_RETURN_IF_ERROR(RollbackDiscard(off, len).Annotate("discard chunk " + std::to_string(c)));
      ++reply->chunks_discarded;
      rollback_progress_.Advance();
      continue;
    }
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<uint8_t>> blob, ChunkBlob(ptr));
    if (blob->size() != len) {
      return Status::Error(EBADMSG, "chunk " + std::to_string(c) + " of " + name + " has " +
                                        std::to_string(blob->size()) + " bytes, expected " + std::to_string(len));
    }
    AMBER_RETURN_IF_ERROR(RollbackWrite(blob->data(), len, off).Annotate("write chunk " + std::to_string(c)));
    ++reply->chunks_written;
    rollback_progress_.Advance();
  }
  return conductor_->Flush().Annotate("flush");
}

// Every chunk is rewritten and durable: the intent goes, then writes are
// accepted again. If the intent cannot be removed, writes stay refused: a
// write acknowledged now would be undone by the next open's redo.
Status Snapshotter::EndRollback() {
  AMBER_RETURN_IF_ERROR(RemoveRollbackIntent(options_.voldir));
  rollback_unfinished_.store(false, std::memory_order_release);
  std::lock_guard lk(stats_mu_);
  stats_.unfinished_rollback.clear();
  ++stats_.rollbacks;
  return Status::OK();
}

Result<RollbackReply> Snapshotter::Rollback(std::string_view name) {
  const auto start = std::chrono::steady_clock::now();
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  if (conductor_ == nullptr) return Status::Error(EINVAL, "snapshotter is not attached to a volume");
  std::unique_lock op(op_mu_, std::try_to_lock);
  if (!op.owns_lock()) return Status::Error(EBUSY, "a snapshot, rollback, delete or gc is running");
  AMBER_ASSIGN_OR_RETURN(auto target, RecordOf(name));

  RollbackReply reply;
  reply.name = std::string(name);
  AMBER_RETURN_IF_ERROR(BeginRollback(reply.name, target.first.record));
  Status st = ApplyRollback(reply.name, *target.second, &reply);
  if (st.ok()) st = EndRollback();
  if (!st.ok()) {
    LOG_ERROR("rollback to %s failed, the volume is half rolled back (writes refused until a rollback "
              "finishes): %s", reply.name.c_str(), st.ToString().c_str());
    return st.Annotate("the volume is half rolled back; run the rollback again or remount to finish it");
  }
  reply.duration = std::chrono::steady_clock::now() - start;
  LOG_INFO("rollback to %s: %llu chunks written, %llu discarded", reply.name.c_str(),
           (unsigned long long)reply.chunks_written, (unsigned long long)reply.chunks_discarded);
  return reply;
}

Status Snapshotter::ResumeRollback() {
  if (conductor_ == nullptr) return Status::Error(EINVAL, "snapshotter is not attached to a volume");
  std::unique_lock op(op_mu_);
  Result<std::optional<RollbackIntent>> found = ReadRollbackIntent(options_.voldir);
  if (!found.ok()) {
    // Which snapshot it was is lost; the volume is still half rolled back.
    {
      std::lock_guard lk(stats_mu_);
      stats_.unfinished_rollback = "an unknown snapshot (the intent file is damaged; roll back to any snapshot)";
    }
    rollback_unfinished_.store(true, std::memory_order_release);
    return found.status().Annotate("read the rollback intent");
  }
  std::optional<RollbackIntent> intent = std::move(found).value();
  if (!intent) return Status::OK();
  LOG_WARN("a rollback to %s did not finish (crash or error): finishing it", intent->name.c_str());
  RollbackReply reply;
  Status st = BeginRollback(intent->name, intent->record);
  if (st.ok()) {
    Result<std::shared_ptr<const SnapshotRecord>> target = CachedRecord(intent->record);
    st = target.ok() ? ApplyRollback(intent->name, **target, &reply) : target.status();
  }
  if (st.ok()) st = EndRollback();
  if (!st.ok()) {
    // Nothing acknowledged may be undone by a later redo: keep refusing writes.
    {
      std::lock_guard lk(stats_mu_);
      stats_.unfinished_rollback = intent->name;
    }
    rollback_unfinished_.store(true, std::memory_order_release);
    return st.Annotate("finish the rollback to " + intent->name);
  }
  LOG_INFO("finished the rollback to %s: %llu chunks written, %llu discarded", intent->name.c_str(),
           (unsigned long long)reply.chunks_written, (unsigned long long)reply.chunks_discarded);
  return Status::OK();
}

}  // namespace amberfs
