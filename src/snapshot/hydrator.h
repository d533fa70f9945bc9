// Hydrator: a clone's remote chunks (remote_chunks.h) fetched into the image
// when they are first touched, ahead of a sequential reader, or all at once.
//
// Every read, write and discard of a clone goes through EnsureLocal(range)
// before it reaches the cache: each remote chunk of the range is fetched,
// verified, written into the image and recorded as local (RemoteChunks::
// MarkLocal) before EnsureLocal returns, so the cache never sees a hole
// where the clone has data, and no write lands in a chunk that a crash could
// make remote again. The bytes of a remote chunk are the origin snapshot's
// blob for it: the same in every later snapshot of the clone, since a remote
// chunk was never written (so a lookup in the origin's tree is always
// right, and that snapshot cannot be deleted while chunks are remote:
// PinsSnapshot).
//
// Fetching. The pointers come from the origin's tree (IndexTree lookups
// through the PairedStore, which keeps the nodes in the fast store); the
// chunk blobs come from the slow store by ranges of its packs
// (restore_downloads.h: one GET for many chunks, each blob checked by its
// SHA-256), written with pwrite, then one fdatasync of the image and one
// MarkLocal per fetch. A chunk being fetched is claimed: another thread that
// needs it waits for that fetch, and if it failed, tries it itself.
//
// Read-ahead. An access that starts where the previous one ended is
// sequential: the following remote chunks are claimed and fetched by the
// background threads, a window that doubles with each sequential access up
// to options.max_window_chunks, so a `dd` of a clone streams at the slow
// store's speed rather than one round trip per request.
//
// HydrateAll fetches every remote chunk on options.threads threads, in
// windows; after it (or after the last chunk is fetched any other way) the
// volume has no remote file and no longer needs the slow store to read.
//
// Errors: a chunk that cannot be fetched (slow store down, blob missing or
// damaged) fails the access with EIO, naming the chunk and the cause; nothing
// else is affected, and the next access tries again. An image write or sync
// failure is returned as is (ENOSPC stays ENOSPC).
//
// Thread-safety: every method may be called from many threads. mu_ guards
// the claims, the RemoteChunks and the read-ahead state and is never held
// across I/O; RemoteChunks::MarkLocal runs under it (one log append), which
// serializes the records.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "amberfs/status.h"
#include "base/unique_fd.h"
#include "snapshot/index_tree.h"
#include "snapshot/remote_chunks.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_codec.h"
#include "store/paired_store.h"

namespace amberfs {

struct HydratorOptions {
  VolumeCodec codec;                 // how the origin's blobs are stored
  int threads = 8;                   // HydrateAll's fetchers
  int readahead_threads = 4;         // background fetchers of sequential read-ahead
  uint64_t max_window_chunks = 512;  // the largest read-ahead window (32 MiB at 64 KiB chunks)
  size_t node_cache = 1024;          // index nodes kept for lookups (8 MiB at the default fanout)
};

struct HydratorStats {
  uint64_t remote_chunks = 0;   // still only in the slow store
  uint64_t fetched_chunks = 0;  // fetched by this process
  uint64_t fetched_bytes = 0;
  uint64_t fetch_errors = 0;
  bool hydrating = false;       // a HydrateAll runs
};

struct HydrateReply {
  uint64_t chunks = 0;  // fetched by this call
  uint64_t bytes = 0;
  std::chrono::nanoseconds duration{0};
  std::string ToString() const;
};

class Hydrator {
 public:
  // nullptr when VOLDIR has no remote chunks. `store` and the image must
  // outlive the Hydrator.
  static Result<std::unique_ptr<Hydrator>> Open(const std::string& voldir, const std::string& image_path,
                                                PairedStore* store, const HydratorOptions& options = {});
  ~Hydrator();
  Hydrator(const Hydrator&) = delete;
  Hydrator& operator=(const Hydrator&) = delete;

  // Returns once every chunk of [offset, offset+length) is local.
  Status EnsureLocal(uint64_t offset, uint64_t length);
  // Fetches every remote chunk; stops with EINTR when cancelled() says so.
  Result<HydrateReply> HydrateAll(const std::function<bool()>& cancelled = nullptr);
  // The snapshot the remote chunks come from, while any is remote: deleting
  // it would let gc take their blobs. Returns "" once all are local.
  std::string PinnedSnapshot() const;
  bool IsRemote(uint64_t chunk) const;
  HydratorStats Stats() const;
  // Stops the read-ahead threads (their fetches finish); later accesses still work.
  void Stop();

 private:
  Hydrator(std::unique_ptr<RemoteChunks> remote, UniqueFd image, std::string image_path, PairedStore* store,
           const SnapshotRecord& origin, IndexGeometry geometry, const HydratorOptions& options);
  // Claims the remote, unclaimed chunks of [first, last] (under mu_).
  std::vector<uint64_t> ClaimLocked(uint64_t first, uint64_t last, size_t limit = SIZE_MAX);
  // Fetches claimed chunks into the image, records them and releases them;
  // adds the bytes written to *bytes if given.
  Status Fetch(const std::vector<uint64_t>& chunks, uint64_t* bytes = nullptr);
  Status FetchUnlocked(const std::vector<uint64_t>& chunks, uint64_t* bytes);
  void ReleaseLocked(const std::vector<uint64_t>& chunks);
  void ReadAheadLocked(uint64_t first, uint64_t last);
  void ReadAheadWorker();

  const std::unique_ptr<RemoteChunks> remote_;
  const UniqueFd image_;
  const std::string image_path_;
  PairedStore* const store_;
  const uint32_t chunk_size_;
  const uint64_t volume_size_;
  const Pointer root_;
  const uint32_t root_depth_;
  const HydratorOptions options_;
  IndexTree tree_;

  std::atomic<uint64_t> remaining_;  // a copy of remote_->remaining() for the lock-free fast path
  mutable std::mutex mu_;
  std::condition_variable fetched_;  // a claim was released
  std::unordered_set<uint64_t> claimed_;
  uint64_t next_sequential_ = UINT64_MAX;  // where a sequential access would start
  uint64_t window_ = 0;                    // the current read-ahead window in chunks
  uint64_t read_ahead_until_ = 0;          // chunks below this were queued already
  std::deque<std::vector<uint64_t>> read_ahead_;  // claimed, waiting for a worker
  std::condition_variable work_;
  bool stopping_ = false;
  bool hydrating_ = false;
  HydratorStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace amberfs
