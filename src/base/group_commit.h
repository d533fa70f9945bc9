// GroupCommit: lets concurrent callers share one expensive sync (fdatasync of
// a log, fsync of directories).
//
// Protocol: a caller finishes its own work (write(2) of a record, rename of a
// file) and then calls Commit(sync). If no sync is running, the caller becomes
// the leader and runs sync() for everyone who arrived so far; callers arriving
// while it runs wait and share the *next* sync (the running one may have
// started before their work), which the first of them leads. Each caller gets
// the Status of a sync that started after its work was done. Errors are not
// sticky: a later batch runs sync() again.
//
// sync is called without any GroupCommit lock held and never concurrently
// with itself. It must cover the work of every caller that entered Commit
// before it started (e.g. fsync every directory recorded as dirty so far).
//
// Thread-safety: Commit may be called from any thread. Lock order: callers
// may hold no lock that sync() takes.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "amberfs/status.h"

namespace amberfs {

class GroupCommit {
 public:
  Status Commit(const std::function<Status()>& sync) {
    std::unique_lock<std::mutex> lock(mu_);
    std::shared_ptr<Batch> mine = open_;
    while (!mine->done) {
      if (!running_) {
        // No sync runs, so no batch is closed and unfinished: mine is open_.
        running_ = true;
        open_ = std::make_shared<Batch>();
        lock.unlock();
        Status status = sync();
        lock.lock();
        mine->status = std::move(status);
        mine->done = true;
        running_ = false;
        cv_.notify_all();
      } else {
        cv_.wait(lock);
      }
    }
    return mine->status;
  }

 private:
  struct Batch {
    bool done = false;
    Status status;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  std::shared_ptr<Batch> open_ = std::make_shared<Batch>();
};

}  // namespace amberfs
