// RateLimiter: a token bucket that holds the upload workers of an
// UploadQueue to a byte rate (the `upload_rate=` mount option, like
// s3backer's --maxUploadSpeed).
//
// Tokens are bytes; they accrue at `bytes_per_second` up to a burst of a
// tenth of a second's worth (the bucket starts empty), so a long transfer
// keeps to the rate over any second. Acquire(n) takes n tokens at once, letting the count go
// negative, and waits until the debt is paid back: a blob larger than the
// burst still goes (after its time), and workers acquiring together are
// served one after the other, so their sum keeps to the rate. A rate of 0
// means no limit (Acquire returns at once).
//
// Cancel() wakes every waiter and makes Acquire return false from then on
// (the queue is stopping; the upload stays pending for the next mount).
//
// Thread-safety: every method is safe for concurrent calls.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace amberfs {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(uint64_t bytes_per_second)
      : rate_(static_cast<double>(bytes_per_second)), refilled_(Clock::now()) {}

  bool limited() const { return rate_ > 0; }

  // Waits until `bytes` may be sent; false once cancelled.
  bool Acquire(uint64_t bytes) {
    if (!limited()) return true;
    std::unique_lock lock(mu_);
    if (cancelled_) return false;
    RefillLocked(Clock::now());
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return true;
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(-tokens_ / rate_));
    cv_.wait_until(lock, until, [&] { return cancelled_; });
    return !cancelled_;
  }

  void Cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }

 private:
  void RefillLocked(Clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min(rate_ / 10, tokens_ + seconds * rate_);
  }

  const double rate_;
  std::mutex mu_;
  std::condition_variable cv_;
  double tokens_ = 0;           // guarded by mu_; negative: a debt being waited out
  Clock::time_point refilled_;  // guarded by mu_
  bool cancelled_ = false;      // guarded by mu_
};

}  // namespace amberfs
