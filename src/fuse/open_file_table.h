// OpenFileTable: the per-open state of the mount's files, owned so that no
// FUSE handler can outlive it.
//
// The kernel may deliver RELEASE for a file on another worker thread the
// moment any reply for that file has been sent, so a handler that still uses
// the open's state after replying would race with its deletion. A raw pointer
// in fuse_file_info::fh makes that mistake easy; this table makes it
// impossible: fh is an id, Find() hands out a shared reference that keeps the
// state alive until the handler drops it, and Remove() (RELEASE) only drops
// the table's own reference.
//
// Ids start at 1 and are never reused while the table lives, so a stale id
// finds nothing rather than another open's state.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace amberfs {

template <typename State>
class OpenFileTable {
 public:
  // Keeps `state` and returns the id to put in fuse_file_info::fh.
  uint64_t Add(std::shared_ptr<State> state) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = next_id_++;
    open_.emplace(id, std::move(state));
    return id;
  }

  // The state of open `id`, or null if it was never added or was removed.
  std::shared_ptr<State> Find(uint64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(id);
    return it == open_.end() ? nullptr : it->second;
  }

  // Drops the table's reference; handlers still holding one keep the state.
  void Remove(uint64_t id) {
    std::shared_ptr<State> last;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(id);
    if (it == open_.end()) return;
    last = std::move(it->second);
    open_.erase(it);
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_.size();
  }

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                                // guarded by mu_
  std::map<uint64_t, std::shared_ptr<State>> open_;     // guarded by mu_
};

}  // namespace amberfs
