// Internals shared by the Snapshotter's source files (see snapshotter.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
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
  // Old chunk copies made by writers, stored by the snapshot thread later.
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> stash;  // guarded by mu
  uint64_t stash_bytes = 0;                                       // guarded by mu
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
