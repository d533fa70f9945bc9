// WriteBarrier: the snapshot layer's write barrier, taken only through RAII
// guards.
//
//   WriteBarrier::Writer  held by each write and discard of the volume for its
//                         whole length; any number at once. Waits while the
//                         barrier is closed.
//   WriteBarrier::Closed  held by a capture around its instant (and around
//                         detaching a capture): waits until no other Closed is
//                         held, then shuts out new writers and waits for the
//                         ones in flight. Reopens when destroyed.
// A closer waiting for writers keeps new ones out, so a steady stream of
// writes cannot starve a capture.
//
// Thread-safety: every guard may be taken from any thread. The barrier's own
// mutex is a leaf, never held while a guard's owner runs. A thread that holds
// a Writer must not take Closed (it would wait for itself).
#pragma once

#include <condition_variable>
#include <mutex>

namespace amberfs {

class WriteBarrier {
 private:
  void Enter() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !closed_; });
    ++writers_;
  }
  void Leave() {
    std::lock_guard lk(mu_);
    if (--writers_ == 0 && closed_) cv_.notify_all();
  }
  void Close() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !closed_; });
    closed_ = true;  // new writers wait from here on, so the wait below ends
    cv_.wait(lk, [&] { return writers_ == 0; });
  }
  void Open() {
    {
      std::lock_guard lk(mu_);
      closed_ = false;
    }
    cv_.notify_all();
  }

  // Takes the barrier one way for as long as it lives.
  template <void (WriteBarrier::*kTake)(), void (WriteBarrier::*kRelease)()>
  class [[nodiscard]] Guard {
   public:
    explicit Guard(WriteBarrier& barrier) : barrier_(barrier) { (barrier_.*kTake)(); }
    ~Guard() { (barrier_.*kRelease)(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    WriteBarrier& barrier_;
  };

 public:
  WriteBarrier() = default;
  WriteBarrier(const WriteBarrier&) = delete;
  WriteBarrier& operator=(const WriteBarrier&) = delete;

  using Writer = Guard<&WriteBarrier::Enter, &WriteBarrier::Leave>;
  using Closed = Guard<&WriteBarrier::Close, &WriteBarrier::Open>;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int writers_ = 0;      // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

}  // namespace amberfs
