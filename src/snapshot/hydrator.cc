// Hydrator: a clone's remote chunks fetched into its image (see hydrator.h).
#include "snapshot/hydrator.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "snapshot/restore_downloads.h"
#include "snapshot/snapshot_record.h"

namespace amberfs {

std::string HydrateReply::ToString() const {
  return "chunks " + std::to_string(chunks) + "\nbytes " + std::to_string(bytes) + "\nduration_ms " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}

Result<std::unique_ptr<Hydrator>> Hydrator::Open(const std::string& voldir, const std::string& image_path,
                                                 PairedStore* store, const HydratorOptions& options) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<RemoteChunks> remote, RemoteChunks::Open(voldir));
  if (!remote) return std::unique_ptr<Hydrator>();
  const RemoteOrigin& origin = remote->origin();
  Result<std::vector<uint8_t>> bytes = GetBlob(*store, options.codec, BlobRole::kRecord, origin.record);
  if (!bytes.ok()) {
    return bytes.status().Annotate("read the record of snapshot " + origin.snapshot + ", which this clone's " +
                                   std::to_string(remote->remaining()) + " remote chunks come from");
  }
  AMBER_ASSIGN_OR_RETURN(SnapshotRecord record, DecodeSnapshotRecord(*bytes));
  AMBER_ASSIGN_OR_RETURN(IndexGeometry geo, record.Geometry());
  if (geo.chunk_count > remote->chunk_count()) {
    return Status::Error(EBADMSG, "snapshot " + origin.snapshot + " has " + std::to_string(geo.chunk_count) +
                                      " chunks but the clone's remote file " + std::to_string(remote->chunk_count()));
  }
  UniqueFd image(::open(image_path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!image.valid()) return Status::FromErrno(errno, "open image " + image_path);
  std::unique_ptr<Hydrator> h(
      new Hydrator(std::move(remote), std::move(image), image_path, store, record, geo, options));
  for (int i = 0; i < std::max(1, options.readahead_threads); ++i) {
    h->workers_.emplace_back([p = h.get()] { p->ReadAheadWorker(); });
  }
  LOG_INFO("clone: %llu chunks are still in the slow store (snapshot %s); they are fetched when first used, or by "
           "`hydrate`", (unsigned long long)h->remaining_.load(), h->remote_->origin().snapshot.c_str());
  return h;
}

Hydrator::Hydrator(std::unique_ptr<RemoteChunks> remote, UniqueFd image, std::string image_path, PairedStore* store,
                   const SnapshotRecord& origin, IndexGeometry geometry, const HydratorOptions& options)
    : remote_(std::move(remote)),
      image_(std::move(image)),
      image_path_(std::move(image_path)),
      store_(store),
      chunk_size_(origin.chunk_size),
      volume_size_(origin.volume_size),
      root_(origin.root),
      root_depth_(origin.depth),
      options_(options),
      tree_(store, geometry, options.node_cache, options.codec),
      remaining_(remote_->remaining()) {}

Hydrator::~Hydrator() { Stop(); }

void Hydrator::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  std::lock_guard lk(mu_);
  for (const std::vector<uint64_t>& job : read_ahead_) ReleaseLocked(job);
  read_ahead_.clear();
}

std::vector<uint64_t> Hydrator::ClaimLocked(uint64_t first, uint64_t last, size_t limit) {
  std::vector<uint64_t> mine;
  for (std::optional<uint64_t> c = remote_->NextRemote(first); c && *c <= last && mine.size() < limit;
       c = remote_->NextRemote(*c + 1)) {
    if (claimed_.insert(*c).second) mine.push_back(*c);
  }
  return mine;
}

void Hydrator::ReleaseLocked(const std::vector<uint64_t>& chunks) {
  for (uint64_t c : chunks) claimed_.erase(c);
  fetched_.notify_all();
}

Status Hydrator::EnsureLocal(uint64_t offset, uint64_t length) {
  if (remaining_.load(std::memory_order_acquire) == 0 || length == 0) return Status::OK();
  const uint64_t first = offset / chunk_size_;
  const uint64_t last = (offset + length - 1) / chunk_size_;
  std::unique_lock lk(mu_);
  ReadAheadLocked(first, last);
  for (;;) {
    std::vector<uint64_t> mine = ClaimLocked(first, last);
    if (!mine.empty()) {
      lk.unlock();
      Status st = Fetch(mine);
      if (!st.ok()) return st;
      lk.lock();
      continue;
    }
    // What is left remote is claimed by other fetches: wait for them.
    std::optional<uint64_t> next = remote_->NextRemote(first);
    if (!next || *next > last) return Status::OK();
    fetched_.wait(lk);
  }
}

void Hydrator::ReadAheadLocked(uint64_t first, uint64_t last) {
  if (first != next_sequential_ && !(first < next_sequential_ && last >= next_sequential_)) {
    // Not sequential: start over with no window.
    next_sequential_ = last + 1;
    window_ = 0;
    read_ahead_until_ = 0;
    return;
  }
  next_sequential_ = last + 1;
  window_ = std::min<uint64_t>(std::max<uint64_t>(window_ * 2, 8), std::max<uint64_t>(options_.max_window_chunks, 1));
  const uint64_t from = std::max(last + 1, read_ahead_until_);
  const uint64_t to = std::min(remote_->chunk_count(), last + 1 + window_);
  if (from >= to || stopping_) return;
  // In jobs of a quarter window, so that every worker streams; and only
  // whole jobs (but for the volume's end): as the reader advances a request
  // at a time, a job a request long would cost a round trip each (measured
  // on s3rver: a dd of a clone at 110 MiB/s so, 220 MiB/s with whole jobs).
  const uint64_t job = std::min<uint64_t>(window_, std::max<uint64_t>(8, window_ / 4));
  if (to - from < job && to < remote_->chunk_count()) return;
  for (uint64_t a = from; a < to; a += job) {
    std::vector<uint64_t> claim = ClaimLocked(a, std::min(to, a + job) - 1);
    if (!claim.empty()) read_ahead_.push_back(std::move(claim));
  }
  read_ahead_until_ = to;
  work_.notify_all();
}

void Hydrator::ReadAheadWorker() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_.wait(lk, [&] { return stopping_ || !read_ahead_.empty(); });
    if (stopping_) return;
    std::vector<uint64_t> job = std::move(read_ahead_.front());
    read_ahead_.pop_front();
    lk.unlock();
    Status st = Fetch(job);  // a failure is logged and counted; the reader tries again itself
    if (!st.ok()) LOG_WARN("clone read-ahead: %s", st.ToString().c_str());
    lk.lock();
  }
}

Status Hydrator::Fetch(const std::vector<uint64_t>& chunks, uint64_t* fetched_bytes) {
  uint64_t bytes = 0;
  Status st = FetchUnlocked(chunks, &bytes);
  if (st.ok() && fetched_bytes != nullptr) *fetched_bytes += bytes;
  std::lock_guard lk(mu_);
  if (st.ok()) st = remote_->MarkLocal(chunks);
  if (st.ok()) {
    remaining_.store(remote_->remaining(), std::memory_order_release);
    stats_.fetched_chunks += chunks.size();
    stats_.fetched_bytes += bytes;
  } else {
    ++stats_.fetch_errors;
  }
  ReleaseLocked(chunks);
  return st;
}

Status Hydrator::FetchUnlocked(const std::vector<uint64_t>& chunks, uint64_t* bytes) {
  auto fail = [&](const Status& cause) {
    if (cause.code() == ENOSPC || cause.code() == EDQUOT) return cause;
    return Status::Error(EIO, "clone: chunk " + std::to_string(chunks.front()) +
                                  (chunks.size() > 1 ? " (of " + std::to_string(chunks.size()) + ")" : "") +
                                  " is still in the slow store and could not be fetched: " + cause.ToString());
  };
  std::vector<std::pair<uint64_t, Pointer>> wanted;
  for (uint64_t c : chunks) {
    Result<Pointer> p = tree_.Lookup(root_, c, root_depth_);
    if (!p.ok()) return fail(p.status().Annotate("look up chunk " + std::to_string(c) + " in snapshot " +
                                                 remote_->origin().snapshot));
    if (!p->IsNull()) wanted.emplace_back(c, *p);  // a null chunk is the image's hole already
  }
  if (wanted.empty()) return Status::OK();
  Store& slow = store_->slow();
  Result<std::vector<Download>> downloads = PlanDownloads(&slow, wanted);
  if (!downloads.ok()) return fail(downloads.status());
  std::atomic<uint64_t> written{0};
  auto write_blob = [&](const WantedBlob& w, std::span<const uint8_t> data) -> Status {
    for (uint64_t c : w.chunks) {
      const uint64_t off = c * chunk_size_;
      const uint64_t len = std::min<uint64_t>(chunk_size_, volume_size_ - off);
      if (data.size() != len) {
        return Status::Error(EBADMSG, "its blob " + w.id.Hex() + " is " + std::to_string(data.size()) +
                                          " bytes, expected " + std::to_string(len));
      }
      AMBER_RETURN_IF_ERROR(PwriteAll(image_.get(), data.data(), len, static_cast<off_t>(off), image_path_));
      written += len;
    }
    return Status::OK();
  };
  // One thread: read-ahead and hydrate run several fetches at once already.
  // A range that fails is fetched blob by blob, which finds a pack another
  // volume's gc repacked (SlowPacks::Get).
  if (Status st = FetchAll(&slow, *downloads, 1, Decoded(options_.codec, BlobRole::kChunk, write_blob)); !st.ok())
    return fail(st);
  *bytes += written.load();
  return SyncFileData(image_.get(), image_path_);
}

Result<HydrateReply> Hydrator::HydrateAll(const std::function<bool()>& cancelled) {
  const auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    if (hydrating_) return Status::Error(EBUSY, "a hydrate is running already");
    hydrating_ = true;
  }
  HydrateReply reply;
  std::mutex mu;  // guards failure, reply and cursor
  Status failure;
  uint64_t cursor = 0;
  const uint64_t chunks = remote_->chunk_count();
  const uint64_t window = std::max<uint64_t>(1, options_.max_window_chunks);
  auto worker = [&] {
    for (;;) {
      uint64_t first;
      {
        std::lock_guard lk(mu);
        if (!failure.ok() || cursor >= chunks) return;
        if (cancelled && cancelled()) {
          failure = Status::Error(EINTR, "hydrate interrupted");
          return;
        }
        first = cursor;
        cursor += window;
      }
      std::vector<uint64_t> mine;
      {
        std::lock_guard lk(mu_);
        mine = ClaimLocked(first, std::min(chunks, first + window) - 1);
      }
      if (mine.empty()) continue;
      // This fetch's own bytes: a difference of Stats() would count the
      // other workers' fetches meanwhile too.
      uint64_t bytes = 0;
      Status st = Fetch(mine, &bytes);
      std::lock_guard lk(mu);
      if (!st.ok()) {
        if (failure.ok()) failure = st;
        return;
      }
      reply.chunks += mine.size();
      reply.bytes += bytes;
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, options_.threads); ++i) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  // Chunks claimed by readers or read-ahead meanwhile: wait for them.
  Status st = failure.ok() ? EnsureLocal(0, volume_size_) : failure;
  {
    std::lock_guard lk(mu_);
    hydrating_ = false;
  }
  AMBER_RETURN_IF_ERROR(st);
  reply.duration = std::chrono::steady_clock::now() - start;
  LOG_INFO("clone hydrated: %llu chunks, %llu bytes fetched in %.1f s; the volume no longer needs snapshot %s",
           (unsigned long long)reply.chunks, (unsigned long long)reply.bytes, reply.duration.count() / 1e9,
           remote_->origin().snapshot.c_str());
  return reply;
}

std::string Hydrator::PinnedSnapshot() const {
  std::lock_guard lk(mu_);
  return remote_->remaining() > 0 ? remote_->origin().snapshot : std::string();
}

bool Hydrator::IsRemote(uint64_t chunk) const {
  if (remaining_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lk(mu_);
  return remote_->IsRemote(chunk);
}

HydratorStats Hydrator::Stats() const {
  std::lock_guard lk(mu_);
  HydratorStats s = stats_;
  s.remote_chunks = remote_->remaining();
  s.hydrating = hydrating_;
  return s;
}

}  // namespace amberfs
