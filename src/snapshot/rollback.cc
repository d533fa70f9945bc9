// Snapshotter::Rollback: make the live volume equal a snapshot, rewriting only
// the chunks that can differ (see snapshotter.h).
#include <algorithm>
#include <chrono>

#include "amberfs/log.h"
#include "snapshot/snapshotter.h"

namespace amberfs {

Result<RollbackReply> Snapshotter::Rollback(std::string_view name) {
  const auto start = std::chrono::steady_clock::now();
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  if (conductor_ == nullptr) return Status::Error(EINVAL, "snapshotter is not attached to a volume");
  std::unique_lock op(op_mu_, std::try_to_lock);
  if (!op.owns_lock()) return Status::Error(EBUSY, "a snapshot, rollback, delete or gc is running");
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord target, RecordOf(name));

  // Live differs from the base only in marked chunks, and the base differs
  // from the target only where their trees do.
  std::vector<uint64_t> chunks = tracker_->Marked(ChangeTracker::Set::kEither);
  AMBER_RETURN_IF_ERROR(tree_.Diff(base_root_, target.root, [&](uint64_t c, const Pointer&, const Pointer&) {
    chunks.push_back(c);
    return Status::OK();
  }).Annotate("diff against the base snapshot"));
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());

  RollbackReply reply;
  reply.name = std::string(name);
  const uint64_t cs = options_.chunk_size;
  for (uint64_t c : chunks) {
    const uint64_t off = c * cs, len = std::min<uint64_t>(cs, options_.volume_size - off);
    AMBER_ASSIGN_OR_RETURN(Pointer ptr, tree_.Lookup(target.root, c));
    if (ptr.IsNull()) {
      AMBER_RETURN_IF_ERROR(Discard(off, len).Annotate("rollback: discard chunk " + std::to_string(c)));
      ++reply.chunks_discarded;
      continue;
    }
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<uint8_t>> blob, ChunkBlob(ptr));
    if (blob->size() != len) {
      return Status::Error(EBADMSG, "rollback: chunk " + std::to_string(c) + " of " + std::string(name) +
                                        " has " + std::to_string(blob->size()) + " bytes, expected " +
                                        std::to_string(len));
    }
    AMBER_RETURN_IF_ERROR(Write(blob->data(), len, off).Annotate("rollback: write chunk " + std::to_string(c)));
    ++reply.chunks_written;
  }
  AMBER_RETURN_IF_ERROR(conductor_->Flush().Annotate("rollback: flush"));
  reply.duration = std::chrono::steady_clock::now() - start;
  LOG_INFO("rolled back to %s: %llu chunks written, %llu discarded", reply.name.c_str(),
           (unsigned long long)reply.chunks_written, (unsigned long long)reply.chunks_discarded);
  std::lock_guard lk(stats_mu_);
  ++stats_.rollbacks;
  return reply;
}

}  // namespace amberfs
