#include "snapshot/chunk_hasher.h"

#include <algorithm>
#include <cstring>

#include "base/thread_priority.h"

namespace amberfs {

bool IsAllZero(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return true;
  // Comparing the buffer with itself shifted by one byte is memcmp-fast.
  return bytes[0] == 0 && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0;
}

ChunkHasher::ChunkHasher(int threads) {
  if (threads < 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) - 1;
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ChunkHasher::~ChunkHasher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

// Claims chunks one at a time (a chunk is 64 KiB of SHA-256, ~100 us, so the
// claim's lock is noise) until none are left.
namespace {

void EncodeOne(const ChunkBytes& in, const VolumeCodec& codec, EncodedChunk* out) {
  out->chunk = in.chunk;
  if (IsAllZero(in.bytes)) return;
  Result<StoredBlob> blob = codec.Encode(BlobRole::kChunk, in.bytes);
  if (blob.ok()) out->blob = std::move(blob).value();
  else out->status = blob.status();
}

}  // namespace

void ChunkHasher::HashSome() {
  std::unique_lock lk(mu_);
  while (next_ < job_.size()) {
    const size_t i = next_++;
    const ChunkBytes& in = job_[i];
    EncodedChunk* out = &(*out_)[i];  // each slot written by its claimer only
    lk.unlock();
    EncodeOne(in, *codec_, out);
    lk.lock();
  }
}

void ChunkHasher::WorkerLoop() {
  LowerThisThreadPriority();  // a snapshot's hashing must not stall the volume's requests
  uint64_t seen = 0;
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || job_id_ != seen; });
    if (stop_) return;
    seen = job_id_;
    ++busy_;
    lk.unlock();
    HashSome();
    lk.lock();
    if (--busy_ == 0) done_cv_.notify_all();
  }
}

std::vector<ChunkPointer> ChunkHasher::Hash(std::span<const ChunkBytes> chunks) {
  std::vector<EncodedChunk> encoded = Encode(chunks, VolumeCodec());
  std::vector<ChunkPointer> out;
  out.reserve(encoded.size());
  for (const EncodedChunk& e : encoded) out.push_back(ChunkPointer{e.chunk, e.pointer()});  // off: cannot fail
  return out;
}

std::vector<EncodedChunk> ChunkHasher::EncodeHere(std::span<const ChunkBytes> chunks, const VolumeCodec& codec) {
  std::vector<EncodedChunk> out(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) EncodeOne(chunks[i], codec, &out[i]);
  return out;
}

std::vector<EncodedChunk> ChunkHasher::Encode(std::span<const ChunkBytes> chunks, const VolumeCodec& codec) {
  std::lock_guard call(call_mu_);
  std::vector<EncodedChunk> out(chunks.size());
  {
    std::lock_guard lk(mu_);
    job_ = chunks;
    codec_ = &codec;
    out_ = &out;
    next_ = 0;
    ++job_id_;
  }
  if (chunks.size() > 1) work_cv_.notify_all();
  HashSome();
  std::unique_lock lk(mu_);
  // Every chunk is claimed; wait for the workers still finishing theirs.
  done_cv_.wait(lk, [&] { return busy_ == 0; });
  job_ = {};
  codec_ = nullptr;
  out_ = nullptr;
  return out;
}

}  // namespace amberfs
