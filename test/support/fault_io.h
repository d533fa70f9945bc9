// FaultIO: a BatchIO that wraps a real one and fails chosen operations, for
// testing the layers above (the Conductor's error paths) against real files.
//
// Faults, each armed until it fires (or until ClearFaults):
//   - FailNthWrite(n, err): the n-th write op from now (1-based, counting ops,
//     not batches, in PwriteBatch and LinkedWriteFsync alike) fails.
//   - FailWritesInRange(offset, len, err): every write op overlapping the range
//     fails, until ClearFaults.
//   - FailReadsInRange(offset, len, err): the same for read ops.
//   - FailNextFsyncs(k, err): the next k fdatasyncs fail (Fsync and the sync of
//     LinkedWriteFsync alike).
//   - SetDelay(d): every call sleeps d first (to widen race windows).
//   - ThrowOnNextReads(k), ThrowOnNextWrites(k), ThrowOnNextFsyncs(k): the
//     next k PreadBatch calls (PwriteBatch or LinkedWriteFsync calls; Fsync
//     calls) throw std::bad_alloc before doing anything, as an allocation
//     failing in the middle of the caller's work would.
// A batch with a failing op writes (or reads) the ops before it, then returns
// the injected error for the op's offset, as a real failed batch may have
// done; a failed fdatasync does not sync. LinkedWriteFsync does not sync when
// one of its writes failed. Injected messages start with "injected".
//
// Counters (counts()) see every call, failed or not.
//
// Thread-safe: one mutex guards the fault state; the wrapped BatchIO is called
// without it held, so concurrent callers still overlap in the real I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/batch_io.h"
#include "amberfs/status.h"

namespace amberfs::testing {

class FaultIO final : public BatchIO {
 public:
  struct Counts {
    uint64_t read_batches = 0;
    uint64_t read_ops = 0;
    uint64_t write_batches = 0;  // PwriteBatch calls
    uint64_t write_ops = 0;      // ops of PwriteBatch and LinkedWriteFsync
    uint64_t fsyncs = 0;         // Fsync calls plus LinkedWriteFsync calls
    uint64_t linked_calls = 0;   // LinkedWriteFsync calls
    uint64_t linked_ops = 0;     // write ops of LinkedWriteFsync
    uint64_t injected = 0;       // faults that fired
  };

  explicit FaultIO(std::unique_ptr<BatchIO> inner) : inner_(std::move(inner)) {}

  void FailNthWrite(uint64_t n, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    nth_write_ = n == 0 ? std::nullopt : std::optional<uint64_t>(n);
    nth_write_err_ = err;
  }
  void FailWritesInRange(uint64_t offset, uint64_t len, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    write_ranges_.push_back(Range{offset, len, err});
  }
  void FailReadsInRange(uint64_t offset, uint64_t len, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    read_ranges_.push_back(Range{offset, len, err});
  }
  void FailNextFsyncs(uint64_t k, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    fsyncs_to_fail_ = k;
    fsync_err_ = err;
  }
  void SetDelay(std::chrono::microseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  void ThrowOnNextReads(uint64_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    reads_to_throw_ = k;
  }
  void ThrowOnNextWrites(uint64_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    writes_to_throw_ = k;
  }
  void ThrowOnNextFsyncs(uint64_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    fsyncs_to_throw_ = k;
  }
  void ClearFaults() {
    std::lock_guard<std::mutex> lock(mu_);
    reads_to_throw_ = 0;
    writes_to_throw_ = 0;
    fsyncs_to_throw_ = 0;
    nth_write_.reset();
    write_ranges_.clear();
    read_ranges_.clear();
    fsyncs_to_fail_ = 0;
  }
  Counts counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }
  BatchIO& inner() { return *inner_; }

  const char* name() const override { return inner_->name(); }
  const std::string& fallback_reason() const override { return inner_->fallback_reason(); }

  Status PreadBatch(int fd, std::span<const ReadOp> ops) override {
    Sleep();
    std::optional<Fault> fault;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.read_batches;
      counts_.read_ops += ops.size();
      for (size_t i = 0; i < ops.size() && !fault; ++i) {
        if (int err = MatchRange(read_ranges_, ops[i].offset, ops[i].len)) fault = Fault{i, err};
      }
      if (fault) ++counts_.injected;
      ThrowIfArmed(&reads_to_throw_);
    }
    if (!fault) return inner_->PreadBatch(fd, ops);
    Status st = inner_->PreadBatch(fd, ops.first(fault->index));
    if (!st.ok()) return st;
    return Injected(fault->err, "pread", ops[fault->index].offset);
  }

  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override {
    Sleep();
    std::optional<Fault> fault;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfArmed(&writes_to_throw_);
      ++counts_.write_batches;
      fault = ClaimWriteFault(ops);
    }
    if (!fault) return inner_->PwriteBatch(fd, ops);
    Status st = inner_->PwriteBatch(fd, ops.first(fault->index));
    if (!st.ok()) return st;
    return Injected(fault->err, "pwrite", ops[fault->index].offset);
  }

  Status Fsync(int fd) override {
    Sleep();
    int err = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfArmed(&fsyncs_to_throw_);
      ++counts_.fsyncs;
      err = ClaimFsyncFault();
    }
    if (err != 0) return Status::Error(err, "injected fdatasync failure");
    return inner_->Fsync(fd);
  }

  Status LinkedWriteFsync(int fd, std::span<const WriteOp> ops) override {
    Sleep();
    std::optional<Fault> fault;
    int fsync_err = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ThrowIfArmed(&writes_to_throw_);
      ++counts_.linked_calls;
      counts_.linked_ops += ops.size();
      ++counts_.fsyncs;
      fault = ClaimWriteFault(ops);
      // As with the kernel's link, a failed write means the sync never runs,
      // so it does not use up an armed fsync fault either.
      if (!fault) fsync_err = ClaimFsyncFault();
    }
    if (fault) {
      Status st = inner_->PwriteBatch(fd, ops.first(fault->index));
      if (!st.ok()) return st;
      return Injected(fault->err, "pwrite", ops[fault->index].offset);
    }
    if (fsync_err != 0) {
      Status st = inner_->PwriteBatch(fd, ops);
      if (!st.ok()) return st;
      return Status::Error(fsync_err, "injected fdatasync failure (linked)");
    }
    return inner_->LinkedWriteFsync(fd, ops);
  }

  void Close() override { inner_->Close(); }

 private:
  struct Range {
    uint64_t offset;
    uint64_t len;
    int err;
  };
  struct Fault {
    size_t index;
    int err;
  };

  static int MatchRange(const std::vector<Range>& ranges, uint64_t offset, uint64_t len) {
    for (const Range& r : ranges) {
      if (len > 0 && offset < r.offset + r.len && r.offset < offset + len) return r.err;
    }
    return 0;
  }

  // Requires mu_ (released as the exception unwinds).
  void ThrowIfArmed(uint64_t* armed) {
    if (*armed == 0) return;
    --*armed;
    ++counts_.injected;
    throw std::bad_alloc();
  }

  static Status Injected(int err, const char* op, uint64_t offset) {
    return Status::Error(err, std::string("injected ") + op + " failure at offset " + std::to_string(offset));
  }

  // Counts the ops and decides which (if any) fails. Requires mu_.
  std::optional<Fault> ClaimWriteFault(std::span<const WriteOp> ops) {
    std::optional<Fault> fault;
    for (size_t i = 0; i < ops.size(); ++i) {
      ++counts_.write_ops;
      if (fault) continue;
      if (nth_write_ && --*nth_write_ == 0) {
        nth_write_.reset();
        fault = Fault{i, nth_write_err_};
      } else if (int err = MatchRange(write_ranges_, ops[i].offset, ops[i].len)) {
        fault = Fault{i, err};
      }
    }
    if (fault) ++counts_.injected;
    return fault;
  }

  // Requires mu_.
  int ClaimFsyncFault() {
    if (fsyncs_to_fail_ == 0) return 0;
    --fsyncs_to_fail_;
    ++counts_.injected;
    return fsync_err_;
  }

  void Sleep() {
    std::chrono::microseconds delay;
    {
      std::lock_guard<std::mutex> lock(mu_);
      delay = delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }

  const std::unique_ptr<BatchIO> inner_;
  mutable std::mutex mu_;
  Counts counts_;                       // guarded by mu_
  std::optional<uint64_t> nth_write_;   // write ops left until the fault; guarded by mu_
  int nth_write_err_ = EIO;             // guarded by mu_
  std::vector<Range> write_ranges_;     // guarded by mu_
  std::vector<Range> read_ranges_;      // guarded by mu_
  uint64_t fsyncs_to_fail_ = 0;         // guarded by mu_
  uint64_t reads_to_throw_ = 0;         // guarded by mu_
  uint64_t writes_to_throw_ = 0;        // guarded by mu_
  uint64_t fsyncs_to_throw_ = 0;        // guarded by mu_
  int fsync_err_ = EIO;                 // guarded by mu_
  std::chrono::microseconds delay_{0};  // guarded by mu_
};

}  // namespace amberfs::testing
