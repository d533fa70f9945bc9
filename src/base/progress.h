// OperationProgress: how far a long operation (a snapshot's capture, a
// rollback, a gc's sweep, a drain) has come, for the `stats` file's progress
// gauges.
//
// Begin(goal) starts a run with done = 0; Advance adds to done; SetGoal
// changes the goal once it is known (a gc learns it only after marking); End
// marks the run finished and keeps its last figures, so a scrape after a
// short run still sees what it did. Units are the operation's own (chunks,
// blobs, uploads), documented with the metrics in docs/FORMATS.md.
//
// Thread-safety: every method may be called from any thread; a Read() taken
// while a run advances may mix figures of two moments (done <= goal is not
// guaranteed to a reader, only that each figure was true at some instant).
#pragma once

#include <atomic>
#include <cstdint>

namespace amberfs {

class OperationProgress {
 public:
  struct Figures {
    bool running = false;
    uint64_t done = 0;
    uint64_t goal = 0;
  };

  void Begin(uint64_t goal) {
    done_.store(0, std::memory_order_relaxed);
    goal_.store(goal, std::memory_order_relaxed);
    running_.store(true, std::memory_order_release);
  }
  void SetGoal(uint64_t goal) { goal_.store(goal, std::memory_order_relaxed); }
  void Advance(uint64_t n = 1) { done_.fetch_add(n, std::memory_order_relaxed); }
  void End() { running_.store(false, std::memory_order_release); }

  Figures Read() const {
    return Figures{running_.load(std::memory_order_acquire), done_.load(std::memory_order_relaxed),
                   goal_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> goal_{0};
};

// Ends a run when it goes out of scope, whichever way the operation returns.
class ProgressRun {
 public:
  ProgressRun(OperationProgress* progress, uint64_t goal) : progress_(progress) { progress_->Begin(goal); }
  ~ProgressRun() { progress_->End(); }
  ProgressRun(const ProgressRun&) = delete;
  ProgressRun& operator=(const ProgressRun&) = delete;

 private:
  OperationProgress* progress_;
};

}  // namespace amberfs
