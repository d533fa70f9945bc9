// ChunkHasher: SHA-256 (and the volume's codec) of many chunks on every core.
//
// A snapshot hands over the changed chunks' bytes and gets back one Pointer
// per chunk, in input order: the SHA-256 of the bytes, or the null pointer
// for a chunk that is all zeros (such a chunk is never stored as a blob).
// Encode does the same through a VolumeCodec (snapshot/volume_codec.h): each
// chunk's stored form (compressed, sealed) and the pointer to it, so the
// codec's work is spread over the cores with the hashing.
// The work is spread over a small pool of threads started once; the calling
// thread works too, so a pool of n threads hashes on n+1 threads and a small
// batch is hashed without any hand-off.
//
// EncodeHere does the same on the calling thread only: for callers that are
// themselves one per core (a capture's workers), which would otherwise take
// turns on the pool and leave cores idle, and for a writer's one chunk, which
// must not queue behind them.
//
// Thread-safety: Hash and Encode may be called from several threads; calls
// are served one at a time (a mutex), each using the whole pool; EncodeHere
// takes no lock. The bytes must stay
// valid until Hash returns. Destruction joins the workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "snapshot/index_tree.h"
#include "snapshot/volume_codec.h"
#include "store/pointer.h"

namespace amberfs {

struct ChunkBytes {
  uint64_t chunk = 0;
  std::span<const uint8_t> bytes;
};

bool IsAllZero(std::span<const uint8_t> bytes);

// One chunk's stored form: a null pointer (all zeros: nothing to store), an
// encoding error, or the blob.
struct EncodedChunk {
  uint64_t chunk = 0;
  Status status;
  StoredBlob blob;
  const Pointer& pointer() const { return blob.pointer(); }
};

class ChunkHasher {
 public:
  // threads: extra worker threads; -1 means one fewer than the cores.
  explicit ChunkHasher(int threads = -1);
  ~ChunkHasher();
  ChunkHasher(const ChunkHasher&) = delete;
  ChunkHasher& operator=(const ChunkHasher&) = delete;

  // One (chunk, pointer) per input, same order.
  std::vector<ChunkPointer> Hash(std::span<const ChunkBytes> chunks);
  // One stored form per input, same order; views the input when codec is off.
  std::vector<EncodedChunk> Encode(std::span<const ChunkBytes> chunks, const VolumeCodec& codec);
  static std::vector<EncodedChunk> EncodeHere(std::span<const ChunkBytes> chunks, const VolumeCodec& codec);

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
  const VolumeCodec* codec_ = nullptr;
  std::vector<EncodedChunk>* out_ = nullptr;
  size_t next_ = 0;     // next index to claim, guarded by mu_
  size_t busy_ = 0;     // workers inside the current job, guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace amberfs
