// Change tracking: the tracker's file is sound, and every chunk it does not
// hold as changed still equals the base snapshot in the image (a lost mark
// would make the next snapshot miss a change, silently).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "base/aligned_buffer.h"
#include "snapshot/change_tracker.h"
#include "snapshot/chunk_hasher.h"
#include "snapshot/remote_chunks.h"
#include "base/unique_fd.h"
#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

// chunk -> pointer of the snapshot's non-null chunks; false if a node is unreadable.
bool ChunkMap(Context& ctx, const Snapshot& snap, std::map<uint64_t, Pointer>* out) {
  const SnapshotRecord& r = *snap.record;
  if (r.root.IsNull()) return true;
  const IndexGeometry geo = *r.Geometry();
  struct Frame {
    Pointer ptr;
    uint64_t first;
    uint32_t height;
  };
  std::vector<Frame> stack{{r.root, 0, r.depth}};
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    Result<std::vector<uint8_t>> bytes = FetchBlob(ctx, f.ptr, &ctx.reached[f.ptr], "", /*quiet=*/true);
    if (bytes.ok()) bytes = ctx.codec.Decode(BlobRole::kNode, std::move(bytes).value());
    if (!bytes.ok()) return false;
    Result<std::vector<Pointer>> slots = DecodeIndexNode(geo, *bytes, f.first, f.height);
    if (!slots.ok()) return false;
    const uint64_t span = geo.SlotSpan(f.height);
    for (size_t s = 0; s < slots->size(); ++s) {
      if ((*slots)[s].IsNull()) continue;
      if (f.height == 1) (*out)[f.first + s] = (*slots)[s];
      else stack.push_back({(*slots)[s], f.first + s * span, f.height - 1});
    }
  }
  return true;
}

// Chunks with any allocated data in the image; holes read as zeros.
std::vector<std::pair<uint64_t, uint64_t>> DataRanges(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      return {{0, size}};         // no SEEK_DATA (a block device): read it all
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    ranges.push_back({static_cast<uint64_t>(data), std::min<uint64_t>(hole, size)});
    pos = hole;
  }
  return ranges;
}

// Opens the tracker's file read-only into *tracker (left null when the file
// is missing or unusable, which is recorded as a problem). A missing file on
// a volume never snapshotted is how a volume starts: *fresh is set.
Status OpenTracker(Context& ctx, std::unique_ptr<ChangeTracker>* tracker, std::vector<size_t>* file_problems,
                   bool* fresh) {
  const VolumeConfig& config = *ctx.config;
  const std::string path = ctx.Path(kChangesFile);
  ChangeTrackerOpenReport open_report;
  Result<std::unique_ptr<ChangeTracker>> opened =
      ChangeTracker::OpenReadOnly(path, config.size, config.chunk_size, &open_report);
  *fresh = false;
  if (opened.ok()) {
    *tracker = std::move(opened).value();
    if (open_report.bad_pages > 0) {
      ctx.plan.rewrite_tracker.problems.push_back(
          ctx.Problem(FsckClass::kChangeTracking, path,
                      std::to_string(open_report.bad_pages) +
                          " damaged bitmap pages (their chunks count as changed; the next snapshot re-reads them)"));
    }
    return Status::OK();
  }
  const int code = opened.status().code();
  if (code == ENOENT && ctx.snapshots.empty()) {
    *fresh = true;
    return Status::OK();
  }
  if (code != ENOENT && code != EBADMSG && code != EINVAL) return opened.status();
  file_problems->push_back(ctx.Problem(
      FsckClass::kChangeTracking, path,
      code == ENOENT ? "the change-tracker state is missing"
                     : "the change-tracker state is unusable: " + opened.status().message()));
  ctx.plan.create_tracker = true;
  return Status::OK();
}

// The snapshot the marks are relative to: the base, or with --drop-broken
// and a damaged base the latest undamaged snapshot (null = zeros: no
// snapshot yet). False when the comparison cannot be made (said as a skip).
bool PickBaseline(Context& ctx, const Snapshot** baseline) {
  *baseline = nullptr;
  if (ctx.base.IsNull()) return true;
  for (const Snapshot& s : ctx.snapshots) {
    if (s.entry.record == ctx.base) *baseline = &s;
  }
  if (*baseline != nullptr && !(*baseline)->broken && (*baseline)->record) return true;
  const std::string name = *baseline ? (*baseline)->entry.name : Short(ctx.base);
  if (!ctx.opt.drop_broken) {
    ctx.Skip("image vs the base snapshot (snapshot " + name + " is damaged)");
    return false;
  }
  // Dropping it: the latest undamaged snapshot becomes the base.
  *baseline = nullptr;
  for (auto it = ctx.snapshots.rbegin(); it != ctx.snapshots.rend(); ++it) {
    if (!it->base_only && !it->broken && it->record) {
      *baseline = &*it;
      break;
    }
  }
  ctx.plan.new_base = *baseline ? (*baseline)->entry.record : Pointer();
  return true;
}

// Unmarked chunks the snapshot has data for or the image has data in; the
// rest are zeros in both.
std::vector<uint64_t> ChunksToRead(const VolumeConfig& config, int fd, const std::map<uint64_t, Pointer>& expected,
                                   const std::function<bool(uint64_t)>& marked) {
  std::vector<uint64_t> candidates, to_read;
  for (const auto& [c, p] : expected) candidates.push_back(c);
  for (const auto& [begin, end] : DataRanges(fd, config.size)) {
    for (uint64_t c = begin / config.chunk_size; c * config.chunk_size < end; ++c) candidates.push_back(c);
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (uint64_t c : candidates) {
    if (!marked(c)) to_read.push_back(c);
  }
  return to_read;
}

// Reads `to_read` from the image on a few threads and returns the chunks
// whose content differs from `expected`.
Result<std::vector<uint64_t>> DifferingChunks(Context& ctx, int fd, const std::vector<uint64_t>& to_read,
                                              const std::map<uint64_t, Pointer>& expected) {
  const uint64_t chunk_size = ctx.config->chunk_size;
  std::vector<uint8_t> differs(to_read.size(), 0);
  std::atomic<size_t> next{0}, done{0};
  std::atomic<int> io_error{0};
  auto work = [&] {
    AlignedBuffer buf(chunk_size);
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < to_read.size();) {
      const uint64_t c = to_read[i];
      ssize_t n = ::pread(fd, buf.data(), chunk_size, static_cast<off_t>(c * chunk_size));
      if (n != static_cast<ssize_t>(chunk_size)) {
        io_error.store(n < 0 ? errno : EIO);
      } else {
        std::span<const uint8_t> bytes(buf.data(), chunk_size);
        // What a snapshot would store for these bytes (the codec is
        // deterministic), compared with what the base names.
        Pointer actual;
        if (!IsAllZero(bytes)) {
          Result<StoredBlob> stored = ctx.codec.Encode(BlobRole::kChunk, bytes);
          if (stored.ok()) actual = stored->pointer();
          else io_error.store(stored.status().code());
        }
        auto it = expected.find(c);
        differs[i] = actual != (it == expected.end() ? Pointer() : it->second);
      }
      done.fetch_add(1, std::memory_order_release);
    }
  };
  int threads = ctx.opt.threads > 0 ? ctx.opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  while (done.load(std::memory_order_acquire) < to_read.size()) {
    ctx.Progress("image", done.load(std::memory_order_relaxed), to_read.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(ctx.opt.progress ? 100 : 5));
  }
  for (std::thread& t : pool) t.join();
  if (io_error.load() != 0) {
    return Status::FromErrno(io_error.load(), "read image " + ctx.config->ImagePath(ctx.voldir));
  }
  std::vector<uint64_t> out;
  for (size_t i = 0; i < to_read.size(); ++i) {
    if (differs[i]) out.push_back(to_read[i]);
  }
  return out;
}

void ReportLostMarks(Context& ctx, const std::vector<uint64_t>& lost_marks, const std::string& baseline_name) {
  if (lost_marks.empty()) return;
  std::string first;
  for (size_t i = 0; i < lost_marks.size() && i < 8; ++i) first += (i ? ", " : "") + std::to_string(lost_marks[i]);
  if (lost_marks.size() > 8) first += ", ...";
  ctx.plan.mark.problems.push_back(ctx.Problem(
      FsckClass::kChangeTracking, ctx.config->ImagePath(ctx.voldir),
      std::to_string(lost_marks.size()) + " chunks differ from " + baseline_name +
          " but are not marked changed (chunk " + first + "); the next snapshot would miss them",
      lost_marks.size() * ctx.config->chunk_size));
}

}  // namespace

Status CheckChanges(Context& ctx) {
  const VolumeConfig& config = *ctx.config;
  const uint64_t chunks = config.size / config.chunk_size;
  std::unique_ptr<ChangeTracker> tracker;
  std::vector<size_t> file_problems;
  bool fresh = false;
  AMBER_RETURN_IF_ERROR(OpenTracker(ctx, &tracker, &file_problems, &fresh));
  if (fresh) return Status::OK();
  if (tracker) ctx.report.counts.chunks_marked = tracker->CountMarked(ChangeTracker::Set::kActive);
  ctx.plan.mark.problems = file_problems;  // recreating the file settles these
  // Until the comparison says which chunks differ, a new tracker marks all.
  const bool mark_all_before = ctx.plan.mark_all;
  ctx.plan.mark_all = mark_all_before || ctx.plan.create_tracker;

  if (ctx.report.mounted) {
    ctx.Skip("image vs the base snapshot (the volume is mounted: its cache may hold newer data)");
    return Status::OK();
  }
  if (!ctx.base_ok) {
    ctx.Skip("image vs the base snapshot (the base file is corrupt)");
    return Status::OK();
  }
  if (!ctx.image_ok) {
    ctx.Skip("image vs the base snapshot (the image is unusable)");
    return Status::OK();
  }
  // The marks are relative to the base; with no base (no snapshot yet) every
  // unmarked chunk must be zeros.
  const Snapshot* baseline = nullptr;
  if (!PickBaseline(ctx, &baseline)) return Status::OK();
  const std::string baseline_name = baseline ? "snapshot " + baseline->entry.name : "zeros (no snapshot yet)";
  std::map<uint64_t, Pointer> expected;
  if (baseline && !ChunkMap(ctx, *baseline, &expected)) {
    ctx.Skip("image vs the base snapshot (" + baseline_name + " is damaged)");
    return Status::OK();
  }

  // A clone's remote chunks (remote_chunks.h) are holes in the image by
  // design: their bytes are still only in the slow store.
  Result<std::unique_ptr<RemoteChunks>> remote = RemoteChunks::Open(ctx.voldir, /*read_only=*/true);
  if (!remote.ok()) {
    ctx.Problem(FsckClass::kImage, ctx.Path(kRemoteChunksFile),
                "this clone's list of chunks still in the slow store is unusable, so which chunks of the image "
                "hold data cannot be told: " + remote.status().message());
    ctx.Skip("image vs the base snapshot (the clone's remote-chunks file is unusable)");
    return Status::OK();
  }
  if (*remote) ctx.report.counts.chunks_remote = (*remote)->remaining();

  UniqueFd fd(::open(config.ImagePath(ctx.voldir).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + config.ImagePath(ctx.voldir));
  auto marked = [&](uint64_t c) { return tracker && tracker->IsMarked(c, ChangeTracker::Set::kActive); };
  auto skipped = [&](uint64_t c) { return marked(c) || (*remote && (*remote)->IsRemote(c)); };
  uint64_t unmarked = 0;
  for (uint64_t c = 0; c < chunks; ++c) unmarked += !skipped(c);
  ctx.report.counts.chunks_compared = unmarked;
  const std::vector<uint64_t> to_read = ChunksToRead(config, fd.get(), expected, skipped);
  AMBER_ASSIGN_OR_RETURN(std::vector<uint64_t> lost_marks, DifferingChunks(ctx, fd.get(), to_read, expected));
  ReportLostMarks(ctx, lost_marks, baseline_name);
  ctx.plan.mark.chunks = std::move(lost_marks);
  ctx.plan.mark_all = mark_all_before;
  return Status::OK();
}

}  // namespace amberfs::fsck
