// Internals shared by the Snapshotter's source files (see snapshotter.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "snapshot/snapshotter.h"

namespace amberfs {

// The bytes of a text value (a ref's contents) as the stores take them.
inline std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One capture in progress. The state array covers every chunk of the volume;
// only chunks of the capture set ever leave kOutside.
struct Snapshotter::CaptureState {
  enum : uint8_t { kOutside = 0, kPending = 1, kClaimed = 2, kDone = 3 };

  explicit CaptureState(uint64_t chunk_count) : state(new std::atomic<uint8_t>[chunk_count]()) {}

  // Claims chunk c if it is pending; returns false if it is outside the set,
  // done, or claimed by someone else (then WaitDone before relying on it).
  bool TryClaim(uint64_t c) {
    uint8_t expected = kPending;
    return state[c].compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel);
  }
  void MarkDone(uint64_t c) {
    {
      std::lock_guard lk(mu);
      state[c].store(kDone, std::memory_order_release);
    }
    cv.notify_all();
    if (progress != nullptr) progress->Advance();
  }
  void WaitDone(uint64_t c) {
    if (state[c].load(std::memory_order_acquire) != kClaimed) return;
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return state[c].load(std::memory_order_acquire) != kClaimed; });
  }
  // Blocks writers saved of a pending chunk, by their offset in it.
  using SavedBlocks = std::map<uint64_t, std::vector<uint8_t>>;
  // TryClaim, and on success take the blocks writers saved of c (the claimer
  // lays them over what it reads). Every claim that may meet saved blocks
  // goes through here: with SaveBlock, under saved_mu, a block is either
  // taken by the claimer or refused to the writer, never lost.
  bool ClaimWithSaved(uint64_t c, SavedBlocks* taken) {
    std::lock_guard lk(saved_mu);
    if (!TryClaim(c)) return false;
    if (auto it = saved.find(c); it != saved.end()) {
      *taken = std::move(it->second);
      saved.erase(it);
    }
    return true;
  }
  enum class Save { kSaved, kHadIt, kNotPending };
  // Keeps `old` as block `at` of chunk c if c is still pending and no
  // earlier copy of that block is kept (the first copy is the snapshot's:
  // every write to the block came after some writer's SaveBlock of it).
  Save SaveBlock(uint64_t c, uint64_t at, std::vector<uint8_t> old) {
    std::lock_guard lk(saved_mu);
    if (state[c].load(std::memory_order_acquire) != kPending) return Save::kNotPending;
    auto [it, first] = saved.try_emplace(c);
    if (first) hot.push_back(c);
    return it->second.try_emplace(at, std::move(old)).second ? Save::kSaved : Save::kHadIt;
  }
  // Up to n chunks writers saved blocks of, for capture workers to take
  // first: their blocks hold cow memory until the chunk is captured.
  std::vector<uint64_t> TakeHot(size_t n) {
    std::lock_guard lk(saved_mu);
    const size_t k = std::min(n, hot.size());
    std::vector<uint64_t> out(hot.end() - static_cast<long>(k), hot.end());
    hot.resize(hot.size() - k);
    return out;
  }
  bool HasSaved(uint64_t c, uint64_t at) {
    std::lock_guard lk(saved_mu);
    auto it = saved.find(c);
    return it != saved.end() && it->second.contains(at);
  }
  // Reserves bytes of cow_memory_bytes for a writer's copy; false if full.
  bool ReserveCowMemory(uint64_t bytes, uint64_t limit) {
    uint64_t have = cow_bytes.load(std::memory_order_relaxed);
    do {
      if (have + bytes > limit) return false;
    } while (!cow_bytes.compare_exchange_weak(have, have + bytes, std::memory_order_relaxed));
    return true;
  }
  void ReleaseCowMemory(uint64_t bytes) { cow_bytes.fetch_sub(bytes, std::memory_order_relaxed); }
  // Lays saved blocks over the chunk's bytes as read after the claim (null:
  // the read failed), and gives back their memory.
  void LaySaved(const SavedBlocks& blocks, uint8_t* chunk) {
    uint64_t bytes = 0;
    for (const auto& [at, old] : blocks) {
      if (chunk != nullptr) std::memcpy(chunk + at, old.data(), old.size());
      bytes += old.size();
    }
    ReleaseCowMemory(bytes);
  }

  void Fail(const Status& st) {
    std::lock_guard lk(mu);
    if (failure.ok()) failure = st;
  }
  Status Failure() {
    std::lock_guard lk(mu);
    return failure;
  }

  std::unique_ptr<std::atomic<uint8_t>[]> state;
  OperationProgress* progress = nullptr;  // counts chunks done, if set
  // Every blob of the capture goes into this batch, committed (made durable
  // with one sync) just before the catalog entry.
  std::unique_ptr<PutBatch> batch;
  std::mutex mu;
  std::condition_variable cv;
  Status failure;                     // guarded by mu
  std::vector<ChunkPointer> results;  // guarded by mu
  std::unordered_set<Pointer> stored; // blobs Put by this capture, guarded by mu
  uint64_t bytes_stored = 0;          // guarded by mu
  uint64_t bytes_logical = 0;         // guarded by mu
  uint64_t cow_chunks = 0;            // guarded by mu
  uint64_t cow_blocks = 0;            // guarded by mu
  // Old chunk copies made by writers, stored by capture workers later.
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> stash;  // guarded by mu
  // Old blocks writers saved of chunks still pending.
  std::mutex saved_mu;
  std::unordered_map<uint64_t, SavedBlocks> saved;  // guarded by saved_mu
  std::vector<uint64_t> hot;  // chunks that got their first saved block; guarded by saved_mu
  // Bytes of stash and saved blocks together, against cow_memory_bytes.
  std::atomic<uint64_t> cow_bytes{0};
};

// Copy-before-write in front of the change tracker.
class Snapshotter::CowObserver final : public ChangeObserver {
 public:
  CowObserver(Snapshotter* owner, ChangeTracker* tracker) : owner_(owner), tracker_(tracker) {}
  Status WillChange(uint64_t offset, uint64_t length) override {
    AMBER_RETURN_IF_ERROR(owner_->CopyBeforeWrite(offset, length));
    return tracker_->WillChange(offset, length);
  }
  Status BeforeImageWrite() override { return tracker_->BeforeImageWrite(); }

 private:
  Snapshotter* const owner_;
  ChangeTracker* const tracker_;
};

}  // namespace amberfs
