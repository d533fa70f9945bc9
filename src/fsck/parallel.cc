// ForEachOnWorkers: the worker pool of fsck's long read phases (see
// internal.h).
#include <atomic>
#include <chrono>
#include <thread>

#include "fsck/internal.h"

namespace amberfs::fsck {

void ForEachOnWorkers(const Context& ctx, const char* phase, size_t count, const std::function<void(size_t)>& job) {
  if (count == 0) return;
  std::atomic<size_t> next{0}, done{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) {
      job(i);
      done.fetch_add(1, std::memory_order_release);
    }
  };
  int threads = ctx.opt.threads > 0 ? ctx.opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  // The calling thread only reports progress, so the callback never runs on a worker.
  while (done.load(std::memory_order_acquire) < count) {
    ctx.Progress(phase, done.load(std::memory_order_relaxed), count);
    std::this_thread::sleep_for(std::chrono::milliseconds(ctx.opt.progress ? 100 : 5));
  }
  for (std::thread& t : pool) t.join();
  ctx.Progress(phase, count, count);
}

}  // namespace amberfs::fsck
