// ChunkHasher: SHA-256 of many chunks on every core.
//
// A snapshot hands over the changed chunks' bytes and gets back one Pointer
// per chunk, in input order: the SHA-256 of the bytes, or the null pointer
// for a chunk that is all zeros (such a chunk is never stored as a blob).
// The work is spread over a small pool of threads started once; the calling
// thread works too, so a pool of n threads hashes on n+1 threads and a small
// batch is hashed without any hand-off.
//
// Thread-safety: Hash may be called from several threads; calls are served
// one at a time (a mutex), each using the whole pool. The bytes must stay
// valid until Hash returns. Destruction joins the workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "snapshot/index_tree.h"
#include "store/pointer.h"

namespace amberfs {

struct ChunkBytes {
  uint64_t chunk = 0;
  std::span<const uint8_t> bytes;
};

bool IsAllZero(std::span<const uint8_t> bytes);

class ChunkHasher {
 public:
  // threads: extra worker threads; -1 means one fewer than the cores.
  explicit ChunkHasher(int threads = -1);
  ~ChunkHasher();
  ChunkHasher(const ChunkHasher&) = delete;
  ChunkHasher& operator=(const ChunkHasher&) = delete;

  // One (chunk, pointer) per input, same order.
  std::vector<ChunkPointer> Hash(std::span<const ChunkBytes> chunks);

  size_t threads() const { return workers_.size() + 1; }

 private:
  void WorkerLoop();
  void HashSome();

  std::mutex call_mu_;  // one Hash at a time; taken before mu_

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  bool stop_ = false;
  uint64_t job_id_ = 0;
  std::span<const ChunkBytes> job_;
  std::vector<ChunkPointer>* out_ = nullptr;
  size_t next_ = 0;     // next index to claim, guarded by mu_
  size_t busy_ = 0;     // workers inside the current job, guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace amberfs
