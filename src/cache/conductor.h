// Conductor: a bounded write-back block cache over a Device.
//
// Every read and write of the volume goes through the Conductor. It caches
// the image in blocks of `block_size` bytes (default 4 KiB) within a byte
// budget fixed at open, keeps written blocks dirty up to a cap, and writes
// them back in the background, oldest first, sorted by offset and coalesced:
// a run of adjacent blocks goes as requests of up to 256 KiB, in one batch.
//
// Contract
//   ReadAt/WriteAt take any offset and length inside the device, unaligned
//   included. A range that leaves the device is EINVAL at once: no retry, no
//   lasting effect. A partial-block write of an uncached block reads the block
//   first (read-modify-write).
//
//   Flush writes every block that was dirty when it was called, then
//   fdatasyncs; OK means all of it is durable. It returns the first error
//   recorded since the previous Flush returned (a failed background write, a
//   failed fdatasync, its own failures) and clears that record. Concurrent
//   Flush callers share one fdatasync (group commit); with sync_delay > 0 the
//   leader waits that long first to gather more callers.
//
//   Errors are never dropped. A failed write-back leaves its blocks dirty (to
//   be retried, with backoff in the background and at once by Flush) and
//   records the error. A failed fdatasync makes every block written since the
//   last good fdatasync dirty again, because the kernel may have dropped those
//   pages: they are written once more before a later Flush can return OK.
//   Until a block's write-back is covered by a good fdatasync it is not
//   evicted. While the dirty cap is reached and write-back keeps failing,
//   WriteAt of a new dirty block fails with the write-back error instead of
//   waiting forever.
//
//   Discard(offset, length) makes the range read as zeros: whole blocks are
//   dropped from the cache (clean or dirty) and the range is punched out of
//   the image; partial blocks at the ends are zeroed through the cache. A
//   discarded block's old data never comes back from a pending write-back.
//
//   Close() writes everything back, fdatasyncs, stops the writer thread and
//   returns the result. After Close every call returns ESHUTDOWN. Close must
//   not race with other calls (the FUSE frontend calls it from destroy).
//
// Change observer
//   Before a WriteAt or Discard changes any byte (in the cache or, later, in
//   the image), the Conductor calls observer->WillChange(offset, length) with
//   no Conductor lock held, so the observer may call ReadAt (to copy a chunk
//   before it is overwritten) and may block. If it fails, the write or discard
//   fails with its Status and changes nothing.
//   Before any write-back batch reaches the image, and before a Discard
//   punches the image, the Conductor calls observer->BeforeImageWrite(), so a
//   change tracker can make every mark it took so far durable with one
//   fdatasync per batch instead of one per write. For write-back it is called
//   after the batch is staged (so every change in it was announced first)
//   with the I/O gate held shared: it must not call back into the Conductor. If it fails, nothing is
//   written: the blocks stay dirty and the error is recorded like a failed
//   write-back (a Discard returns it).
//
// Memory
//   Block buffers come from one arena sized from cache_bytes, so memory in
//   use stays within the budget plus the index (about 3-5% at 4 KiB blocks:
//   an Entry per block, the shards' flat maps and the ghost keys),
//   the staging buffer of each write-back in flight (at most
//   writeback_batch_bytes each: the writer's and each flushing caller's) and
//   what a read needs beside the caller's buffer: two bounce blocks for its
//   partial ends, and a staging buffer (at most 256 blocks, 1 MiB at 4 KiB)
//   where the caller's buffer is not aligned for the device.
//
// Replacement
//   S3-FIFO (Yang et al., SOSP'23): a small probationary FIFO, a main FIFO
//   with a 2-bit access counter, and a ghost FIFO of recently evicted keys.
//   One-hit blocks of a large scan leave through the small queue without
//   pushing the hot set out; see s3fifo.h. Dirty, loading and not-yet-synced
//   blocks are never victims.
//
// Thread-safety and lock order
//   All methods are safe to call from many threads. The cache is split into
//   shards by block number, each with its own mutex; a cache hit takes only
//   its shard's mutex. Locks are taken in this order and never the reverse:
//     io_gate_ (shared for device reads and write-backs, exclusive for the
//               punch of a Discard)
//       -> Shard::mu (at most one shard at a time)
//         -> dirty_mu_ (the global oldest-first dirty order), or
//            unsynced_mu_ (blocks written back but not yet fdatasynced);
//            never both at once
//     The group commit's lock (base/group_commit.h) is never held while any
//     of the above is taken. Without group commit (a benchmark baseline) the
//     lock that runs one fdatasync at a time comes first: it is taken with
//     nothing else held and held across the fdatasync and its bookkeeping.
//   No lock is held while calling the observer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/batch_io.h"
#include "io/device.h"
#include "amberfs/status.h"

namespace amberfs {

class SpaceReserve;

class ChangeObserver {
 public:
  virtual ~ChangeObserver() = default;
  // [offset, offset+length) is about to change. See the contract above.
  virtual Status WillChange(uint64_t offset, uint64_t length) = 0;
  // Changed data is about to reach the image. See the contract above.
  virtual Status BeforeImageWrite() = 0;
};

struct ConductorOptions {
  uint64_t cache_bytes = 64ull << 20;
  uint32_t block_size = 4096;
  // Dirty cap; 0 means half of cache_bytes.
  uint64_t dirty_max_bytes = 0;
  // The background writer starts when dirty bytes pass this fraction of the cap.
  double writeback_start_ratio = 0.25;
  // Dirty data older than this is written back even below the start ratio.
  std::chrono::milliseconds writeback_age{2000};
  // Largest single write-back batch (the staging buffer size).
  uint64_t writeback_batch_bytes = 8ull << 20;
  // Group-commit gathering delay for Flush; 0 means none.
  std::chrono::microseconds sync_delay{0};
  // false: every Flush runs its own fdatasync, one at a time (no sharing).
  // Only for measuring what group commit buys; never faster.
  bool group_commit = true;
  // A ReadAt of at least this many bytes is a stream (a sequential reader,
  // a copy, a file system's read-ahead): its absent blocks are read from the
  // image without being kept, as ReadAtUncached does. 0: every read fills
  // the cache. Ignored (every read fills) on an O_DIRECT image, which has no
  // page cache to serve a second read.
  uint64_t stream_read_min = 128ull << 10;
  // Not owned; may be null. Must outlive the Conductor.
  ChangeObserver* observer = nullptr;
  // The room kept for delete and gc on the image's file system: each
  // write-back round asks it first (space_reserve.h). Not owned; may be null.
  SpaceReserve* space_reserve = nullptr;
};

struct ConductorStats {
  uint64_t read_hits = 0;        // blocks served from the cache
  uint64_t read_misses = 0;      // blocks read from the image
  uint64_t cached_bytes = 0;     // gauge
  uint64_t dirty_bytes = 0;      // gauge
  uint64_t cache_budget_bytes = 0;
  uint64_t dirty_max_bytes = 0;
  uint64_t writeback_bytes = 0;  // bytes written to the image
  uint64_t writeback_requests = 0;  // coalesced write requests to the image
  uint64_t writeback_direct_requests = 0;  // of which with O_DIRECT (Device::direct_fd)
  uint64_t fsyncs = 0;           // fdatasync calls
  uint64_t flushes = 0;          // Flush calls
  uint64_t write_errors = 0;     // failed write-backs
  uint64_t fsync_errors = 0;     // failed fdatasyncs
  uint64_t discards = 0;
  uint64_t throttled_writes = 0; // WriteAt calls that waited for the dirty cap
  uint64_t evictions = 0;
  std::string backend;           // "io_uring" or "plain"
  std::string backend_fallback_reason;
};

class Conductor {
 public:
  // Takes ownership of the device and the I/O backend. Starts the background
  // writer and syncer threads. EINVAL for options that do not fit the device (block size not a
  // power of two or not a multiple of the device alignment, a cache smaller
  // than 16 blocks, a device size not a multiple of the block size).
  static Result<std::unique_ptr<Conductor>> Open(std::unique_ptr<Device> device,
                                                 std::unique_ptr<BatchIO> io,
                                                 const ConductorOptions& options);
  ~Conductor();  // Closes if still open (errors are logged).

  Conductor(const Conductor&) = delete;
  Conductor& operator=(const Conductor&) = delete;

  // Cached blocks come from the cache. Absent ones are read from the image
  // and kept, unless the read is a stream (options.stream_read_min).
  Status ReadAt(void* buf, size_t length, uint64_t offset);
  // ReadAt for a scan that will not come back (a snapshot capture): cached
  // blocks are copied from the cache, the others are read from the image
  // and not kept (straight into buf where it is aligned for the device,
  // else through a staging buffer), so the scan neither evicts the working
  // set nor pays for filling the cache. Same result as ReadAt.
  Status ReadAtUncached(void* buf, size_t length, uint64_t offset);
  Status WriteAt(const void* buf, size_t length, uint64_t offset);
  Status Discard(uint64_t offset, uint64_t length);
  Status Flush();
  Status Close();

  // Errors recorded since the last Flush returned, oldest first (a copy).
  std::vector<Status> Errors() const;
  uint64_t DeviceSize() const;
  uint32_t BlockSize() const;
  ConductorStats Stats() const;

  class Impl;

 private:
  explicit Conductor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace amberfs
