// ImageWriter: how a restore writes the chunks it fetched into the volume's
// image file.
//
// Chunks arrive from many threads in no overall order, but each thread's
// come in runs of adjacent chunks: a download is a range of one pack, a pack
// holds a stretch of the volume, and PlanDownloads hands a range's blobs on
// in the order of their chunks (restore_downloads.h). So each thread gathers
// its run in a buffer of its own (aligned, kImageRunBytes,
// reused run after run) and writes it with one request when the run ends: at
// a chunk not adjacent to it, when the buffer is full, or at Finish. The
// bytes are copied in with non-temporal stores (base/stream_copy.h): the run
// goes to the device, not back to the CPU. With memcpy, which reads every
// destination line into the cache first, a 1 GiB restore used 1.2-1.4 s of
// user CPU on a 2-core VM; with these stores 1.05-1.15 s.
//
// A run whose offset and length are multiples of kImageDirectAlign is
// written with O_DIRECT where the file system allows it; the rest, and every
// run once the file system refuses an O_DIRECT open or write (EINVAL), go
// through the page cache, whose write-out is started every
// kImageWriteBehind bytes. Why O_DIRECT: through the page cache a restore
// copies every byte once more and fills a GiB of fresh page cache a GiB; on
// a VM that hands free memory back to its host, touching a fresh GiB cost
// 0.7-1.1 s of CPU, and the pages are the image's, never read again.
//
// O_DIRECT writes from different threads run at once (the file system
// orders them, and its waiters sleep on the I/O); page-cache writes are made
// one at a time (see write_mu_). An error is a Status naming the image;
// what was written stays written, and the caller discards the image (a
// restore that failed is not a volume).
//
// Finish writes every run still gathered and fdatasyncs the image: when it
// returns OK every byte Add took is durable in the file.
//
// Thread-safety: Add from any number of threads at once; Finish once, after
// every Add has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>

#include "amberfs/status.h"
#include "base/aligned_buffer.h"
#include "base/unique_fd.h"

namespace amberfs {

inline constexpr size_t kImageRunBytes = size_t{4} << 20;
inline constexpr size_t kImageDirectAlign = 4096;
inline constexpr uint64_t kImageWriteBehind = uint64_t{32} << 20;

class ImageWriter {
 public:
  // Opens the existing image at `path` to be written.
  static Result<std::unique_ptr<ImageWriter>> Open(const std::string& path);

  // Takes `data` to be written at `offset` (the bytes are copied or written
  // before it returns).
  Status Add(uint64_t offset, std::span<const uint8_t> data);
  // Writes what is gathered, fdatasyncs and closes the image.
  Status Finish();

  // Whether a write has gone with O_DIRECT so far (for tests).
  bool wrote_direct() const { return wrote_direct_.load(); }

 private:
  struct Run {
    AlignedBuffer buffer;  // allocated at the thread's first Add
    uint64_t offset = 0;
    size_t length = 0;
  };

  explicit ImageWriter(std::string path) : path_(std::move(path)) {}
  Run* RunOfThisThread();
  Status Flush(Run* run);
  Status Write(const uint8_t* data, size_t length, uint64_t offset);

  const std::string path_;
  UniqueFd fd_;         // through the page cache
  UniqueFd direct_fd_;  // O_DIRECT, or invalid where the file system refuses it
  std::atomic<bool> direct_refused_{false};
  std::atomic<bool> wrote_direct_{false};
  // One page-cache write at a time. Writes into the unwritten parts of a file are
  // serialised by the file system anyway (ext4 holds the inode's lock); but
  // there the waiters spin for it, and with 12 threads on 2 cores the
  // spinning took a core from verifying and decrypting (perf:
  // rwsem_spin_on_owner 14% of an encrypted restore's CPU). Here they sleep.
  std::mutex write_mu_;
  uint64_t unflushed_ = 0;  // page-cache bytes since the last write-out kick; guarded by write_mu_
  std::mutex runs_mu_;      // guards runs_ (each Run is its thread's alone)
  std::unordered_map<std::thread::id, std::unique_ptr<Run>> runs_;
};

}  // namespace amberfs
