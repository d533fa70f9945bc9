// RunOnThreads: job(i) for every i in [0, count), on at most `threads`
// threads, the calling thread among them (so threads <= 1, or a single
// job, runs everything here and starts no thread). Each index is taken
// once, in increasing order across the threads; returns when every job has
// returned. A job that wants the rest skipped after a failure checks a
// flag of its own at its start.
//
// Thread-safety: job runs concurrently for different i; it must not throw.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace amberfs {

inline void RunOnThreads(size_t count, size_t threads, const std::function<void(size_t)>& job) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) job(i);
  };
  const size_t helpers = std::min(std::max<size_t>(threads, 1), count) - (count > 0 ? 1 : 0);
  std::vector<std::thread> pool;
  pool.reserve(helpers);
  for (size_t t = 0; t < helpers; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

}  // namespace amberfs
