// GroupCommit: lets concurrent callers share one expensive sync (fdatasync of
// a log or an image, fsync of directories, a write round of a bitmap file).
//
// Protocol: a caller finishes its own work (write(2) of a record, rename of a
// file, a change it marked) and then calls Commit(sync). Callers gather in a
// round. If no sync is running, the caller leads its round: it waits
// gather_delay (if any) so more callers can join, closes the round and runs
// sync() for everyone in it. Callers arriving while a sync runs join the
// *next* round (the running sync may have started before their work), which
// the first of them to wake leads once the running one ends. So each caller
// gets the Status of a sync that started after its work was done: the one of
// its own round, delivered to every member, error or not. Errors are not
// sticky: a later round runs sync() again. If sync() throws, the leader gets
// the exception and the other members an error (ENOMEM for bad_alloc, else
// EIO); the next round runs as usual.
//
// sync is called without any GroupCommit lock held and never concurrently
// with itself. It must cover the work of every caller that entered Commit
// before it started (e.g. fsync every directory recorded as dirty so far).
//
// Waiting: the members of a round sleep on an atomic count of ended rounds,
// not on the mutex, so when their round ends they return without queueing
// for the mutex; only the members of the next round take it again.
//
// Thread-safety: Commit may be called from any thread. Lock order: callers
// may hold no lock that sync() takes; the GroupCommit's own mutex is a leaf,
// never held while sync() runs.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include "amberfs/status.h"

namespace amberfs {

class GroupCommit {
 public:
  GroupCommit() = default;
  // gather_delay: how long a leader waits before it closes its round, to let
  // more callers join (fewer syncs, at the cost of that much latency).
  explicit GroupCommit(std::chrono::microseconds gather_delay) : gather_delay_(gather_delay) {}

  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  Status Commit(const std::function<Status()>& sync) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!gathering_) gathering_ = std::make_shared<Round>();
    const std::shared_ptr<Round> round = gathering_;
    for (;;) {
      if (round->done.load(std::memory_order_acquire)) return round->status;
      if (!running_ && gathering_ == round) break;  // lead this round
      // Read under mu_, so a round that ends after this changes it.
      const uint32_t seen = rounds_ended_.load(std::memory_order_relaxed);
      lock.unlock();
      rounds_ended_.wait(seen, std::memory_order_acquire);
      if (round->done.load(std::memory_order_acquire)) return round->status;
      lock.lock();
    }
    running_ = true;
    if (gather_delay_.count() > 0) {
      lock.unlock();
      std::this_thread::sleep_for(gather_delay_);
      lock.lock();
    }
    gathering_.reset();  // closed: later callers start the next round
    lock.unlock();
    Status status;
    try {
      status = sync();
    } catch (...) {
      // The round ends however sync() does: left running, it would hold every
      // later caller for good. Its members get an error (their work may not
      // be synced); the exception goes on to the leader's caller.
      EndRound(*round, std::current_exception());
      throw;
    }
    EndRound(*round, status);
    return status;
  }

 private:
  struct Round;

  void EndRound(Round& round, const Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    round.status = status;
    round.done.store(true, std::memory_order_release);
    running_ = false;
    rounds_ended_.fetch_add(1, std::memory_order_release);
    lock.unlock();
    rounds_ended_.notify_all();
  }
  void EndRound(Round& round, std::exception_ptr thrown) {
    int err = EIO;
    try {
      std::rethrow_exception(thrown);
    } catch (const std::bad_alloc&) {
      err = ENOMEM;
    } catch (...) {
    }
    // Short messages: no allocation while memory may be short.
    EndRound(round, Status::Error(err, err == ENOMEM ? "out of memory" : "sync threw"));
  }

  // The callers that share one sync.
  struct Round {
    Status status;  // written before done is set, read only after
    std::atomic<bool> done{false};
  };

  const std::chrono::microseconds gather_delay_{0};
  std::mutex mu_;
  std::shared_ptr<Round> gathering_;  // the round new callers join; null until one arrives
  bool running_ = false;              // a leader is gathering its round or syncing
  // Bumped (under mu_) as each round ends; waiters sleep on it without mu_.
  std::atomic<uint32_t> rounds_ended_{0};
};

}  // namespace amberfs
