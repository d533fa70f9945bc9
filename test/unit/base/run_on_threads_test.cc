// RunOnThreads (run_on_threads.h): every job once, on at most the threads
// asked for, the caller's among them; nothing started for one job.
#include "base/run_on_threads.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace amberfs {
namespace {

TEST_CASE("RunOnThreads: every index once, on at most the threads asked for") {
  constexpr size_t kJobs = 2000;
  std::vector<std::atomic<int>> calls(kJobs);
  std::mutex mu;
  std::set<std::thread::id> ran_on;
  RunOnThreads(kJobs, 4, [&](size_t i) {
    calls[i].fetch_add(1);
    std::lock_guard lk(mu);
    ran_on.insert(std::this_thread::get_id());
  });
  for (size_t i = 0; i < kJobs; ++i) CHECK(calls[i].load() == 1);
  CHECK(ran_on.size() <= 4);
}

TEST_CASE("RunOnThreads: k jobs that each wait for all k to start all start: k threads, the caller one of them") {
  // Only threads - 1 helpers are started, so all four can be running at
  // once only if the caller runs one; a pool one short would time out.
  constexpr size_t kThreads = 4;
  std::mutex mu;
  std::condition_variable cv;
  size_t started = 0;
  bool all_started = true, caller_ran = false;
  const std::thread::id caller = std::this_thread::get_id();
  RunOnThreads(kThreads, kThreads, [&](size_t) {
    std::unique_lock lk(mu);
    if (std::this_thread::get_id() == caller) caller_ran = true;
    ++started;
    cv.notify_all();
    if (!cv.wait_for(lk, std::chrono::seconds(10), [&] { return started == kThreads; })) all_started = false;
  });
  CHECK(all_started);
  CHECK(caller_ran);
}

TEST_CASE("RunOnThreads: one job, one thread asked for, or none: all on the caller; no jobs: no call") {
  for (auto [count, threads] : std::vector<std::pair<size_t, size_t>>{{1, 8}, {50, 1}, {50, 0}}) {
    CAPTURE(count);
    CAPTURE(threads);
    const std::thread::id caller = std::this_thread::get_id();
    size_t done = 0, elsewhere = 0;
    RunOnThreads(count, threads, [&](size_t) {
      ++done;  // no lock: one thread only, or TSan says so
      if (std::this_thread::get_id() != caller) ++elsewhere;
    });
    CHECK(done == count);
    CHECK(elsewhere == 0);
  }
  bool called = false;
  RunOnThreads(0, 8, [&](size_t) { called = true; });
  CHECK_FALSE(called);
}

}  // namespace
}  // namespace amberfs
