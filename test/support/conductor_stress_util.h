// Helpers for the Conductor stress tests (test/conductor_stress_test.cc):
//
//   - Watchdog: ends the process with a FAIL line when a test hangs, so a
//     deadlock fails the run instead of stalling it forever.
//   - GatedIO: a BatchIO whose next fdatasyncs wait until the test releases
//     them, each with a scripted result, and which counts the completed writes
//     of every block: enough to replay an exact interleaving of write-back and
//     group commit.
//   - DurabilityIO: a BatchIO that keeps a model of what would survive a crash
//     (the writes covered by a good fdatasync) and can fail fdatasyncs the way
//     Linux may: a failed fdatasync loses every write that reached the page
//     cache before it returned, and a later fdatasync does not report it again.
//
// All of them are thread-safe (one mutex each); the wrapped BatchIO is called
// without it held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "io/batch_io.h"
#include "amberfs/status.h"

namespace amberfs::testing {

// Passes every call to the wrapped BatchIO; the wrappers below override what
// they watch. LinkedWriteFsync is PwriteBatch then Fsync, so an override of
// those two sees it too.
class ForwardingIO : public BatchIO {
 public:
  explicit ForwardingIO(std::unique_ptr<BatchIO> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }
  const std::string& fallback_reason() const override { return inner_->fallback_reason(); }
  Status PreadBatch(int fd, std::span<const ReadOp> ops) override { return inner_->PreadBatch(fd, ops); }
  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override { return inner_->PwriteBatch(fd, ops); }
  Status Fsync(int fd) override { return inner_->Fsync(fd); }
  Status LinkedWriteFsync(int fd, std::span<const WriteOp> ops) override {
    AMBER_RETURN_IF_ERROR(PwriteBatch(fd, ops));
    return Fsync(fd);
  }
  void Close() override { inner_->Close(); }

 protected:
  BatchIO& inner() { return *inner_; }

 private:
  const std::unique_ptr<BatchIO> inner_;
};

class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::seconds limit) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock l(mu_);
      if (!cv_.wait_for(l, limit, [this] { return done_; })) {
        std::printf("FAIL: watchdog: \"%s\" still running after %lld s (deadlock or hang); exiting\n", what_.c_str(),
                    static_cast<long long>(limit.count()));
        std::fflush(stdout);
        std::_Exit(99);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class GatedIO final : public ForwardingIO {
 public:
  GatedIO(std::unique_ptr<BatchIO> inner, uint32_t block_size) : ForwardingIO(std::move(inner)), bs_(block_size) {}

  // The next results.size() fdatasyncs each wait for Release(), then fail
  // with results[i], or run for real when it is 0.
  void HoldFsyncs(std::vector<int> results) {
    std::lock_guard l(mu_);
    for (int r : results) script_.push_back(r);
  }
  // Waits until n held fdatasyncs have started; returns the thread of the n-th.
  std::thread::id WaitHeld(size_t n) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return held_threads_.size() >= n; });
    return held_threads_[n - 1];
  }
  // Lets the oldest held fdatasync that is still waiting go on.
  void Release() {
    std::lock_guard l(mu_);
    ++released_;
    cv_.notify_all();
  }
  // Drops what is left of the script and lets every held fdatasync go.
  void ReleaseAll() {
    std::lock_guard l(mu_);
    script_.clear();
    released_ = SIZE_MAX;
    write_released_ = true;
    cv_.notify_all();
  }
  // The next write batch that covers `block` waits, before it writes, until
  // ReleaseWrite().
  void HoldWriteOf(uint64_t block) {
    std::lock_guard l(mu_);
    hold_write_of_ = block;
    write_held_ = write_released_ = false;
  }
  void WaitWriteHeld() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return write_held_; });
  }
  void ReleaseWrite() {
    std::lock_guard l(mu_);
    write_released_ = true;
    cv_.notify_all();
  }
  // Completed write ops that covered block `block`.
  uint64_t WritesOf(uint64_t block) const {
    std::lock_guard l(mu_);
    auto it = writes_.find(block);
    return it == writes_.end() ? 0 : it->second;
  }
  void WaitWritesOf(uint64_t block, uint64_t n) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] {
      auto it = writes_.find(block);
      return it != writes_.end() && it->second >= n;
    });
  }

  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override {
    {
      std::unique_lock l(mu_);
      for (const WriteOp& op : ops) {
        if (hold_write_of_ != kNone && op.offset / bs_ <= hold_write_of_ && hold_write_of_ * bs_ < op.offset + op.len) {
          hold_write_of_ = kNone;
          write_held_ = true;
          cv_.notify_all();
          cv_.wait(l, [&] { return write_released_; });
          break;
        }
      }
    }
    Status st = inner().PwriteBatch(fd, ops);
    if (st.ok()) {
      std::lock_guard l(mu_);
      for (const WriteOp& op : ops)
        for (uint64_t b = op.offset / bs_; b * bs_ < op.offset + op.len; ++b) ++writes_[b];
      cv_.notify_all();
    }
    return st;
  }
  Status Fsync(int fd) override {
    int result = 0;
    {
      std::unique_lock l(mu_);
      if (!script_.empty()) {
        result = script_.front();
        script_.pop_front();
        size_t me = held_threads_.size();
        held_threads_.push_back(std::this_thread::get_id());
        cv_.notify_all();
        cv_.wait(l, [&] { return released_ > me; });
      }
    }
    if (result != 0) return Status::Error(result, "scripted fdatasync failure");
    return inner().Fsync(fd);
  }

 private:
  const uint32_t bs_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> script_;
  std::vector<std::thread::id> held_threads_;
  size_t released_ = 0;
  std::map<uint64_t, uint64_t> writes_;  // block -> completed writes
  static constexpr uint64_t kNone = UINT64_MAX;
  uint64_t hold_write_of_ = kNone;
  bool write_held_ = false, write_released_ = false;
};

class DurabilityIO final : public ForwardingIO {
 public:
  // `image` is the image's content at open (what is durable then).
  DurabilityIO(std::unique_ptr<BatchIO> inner, std::vector<uint8_t> image, uint64_t seed)
      : ForwardingIO(std::move(inner)), durable_(std::move(image)), rng_(seed) {}

  // From now on, one fdatasync in `one_in` fails (0: none).
  void FailFsyncsOneIn(unsigned one_in) {
    std::lock_guard l(mu_);
    fail_one_in_ = one_in;
  }
  // A punch of [offset, offset+len) that has returned (it is not a BatchIO
  // call): like a write of zeros, durable at the next good fdatasync, but a
  // failed fdatasync does not undo it (it is metadata, journaled).
  void NoteDiscard(uint64_t offset, uint64_t len) {
    std::lock_guard l(mu_);
    pending_.push_back({++seq_, offset, std::vector<uint8_t>(len, 0), true});
  }
  // A copy of what would survive a crash now, [offset, offset+len).
  std::vector<uint8_t> Durable(uint64_t offset, size_t len) const {
    std::lock_guard l(mu_);
    return std::vector<uint8_t>(durable_.begin() + offset, durable_.begin() + offset + len);
  }
  uint64_t failed_fsyncs() const {
    std::lock_guard l(mu_);
    return failed_;
  }
  uint64_t lost_writes() const {
    std::lock_guard l(mu_);
    return lost_;
  }

  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override {
    Status st = inner().PwriteBatch(fd, ops);
    // A failed batch may have written some ops; the model counts none of them
    // as written, which can only make it stricter.
    if (st.ok()) {
      std::lock_guard l(mu_);
      for (const WriteOp& op : ops) {
        const uint8_t* p = static_cast<const uint8_t*>(op.buf);
        pending_.push_back({++seq_, op.offset, std::vector<uint8_t>(p, p + op.len), false});
      }
    }
    return st;
  }
  Status Fsync(int fd) override {
    uint64_t started;
    bool fail;
    {
      std::lock_guard l(mu_);
      started = seq_;
      fail = fail_one_in_ != 0 && rng_() % fail_one_in_ == 0;
    }
    Status st = fail ? Status::Error(EIO, "injected fdatasync failure (written pages lost)") : inner().Fsync(fd);
    std::lock_guard l(mu_);
    if (st.ok()) {
      // Covered: every write that completed before the fdatasync began.
      while (!pending_.empty() && pending_.front().seq <= started) {
        const Pending& w = pending_.front();
        std::memcpy(durable_.data() + w.offset, w.data.data(), w.data.size());
        pending_.pop_front();
      }
    } else {
      // Lost: every write that completed before the failure was reported.
      ++failed_;
      std::deque<Pending> kept;
      for (Pending& w : pending_) {
        if (w.punch) kept.push_back(std::move(w));
        else ++lost_;
      }
      pending_.swap(kept);
    }
    return st;
  }

 private:
  struct Pending {
    uint64_t seq;
    uint64_t offset;
    std::vector<uint8_t> data;
    bool punch;
  };
  mutable std::mutex mu_;
  std::vector<uint8_t> durable_;
  std::deque<Pending> pending_;  // completed writes not yet covered, oldest first
  uint64_t seq_ = 0;
  unsigned fail_one_in_ = 0;
  std::mt19937_64 rng_;
  uint64_t failed_ = 0, lost_ = 0;
};

}  // namespace amberfs::testing
