#include "store/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using amberfs::RateLimiter;

namespace {
double SecondsSince(RateLimiter::Clock::time_point start) {
  return std::chrono::duration<double>(RateLimiter::Clock::now() - start).count();
}
}  // namespace

TEST_CASE("rate_limiter: workers together keep to the rate") {
  RateLimiter limiter(4 << 20);  // 4 MiB/s
  const auto start = RateLimiter::Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < 8; ++i) CHECK(limiter.Acquire(64 << 10));  // 4 x 8 x 64K = 2 MiB
    });
  }
  for (std::thread& t : workers) t.join();
  const double took = SecondsSince(start);
  INFO("2 MiB at 4 MiB/s took " << took << " s");
  CHECK(took >= 0.45);  // the bucket starts empty: no free first second
  CHECK(took <= 0.75);
}

TEST_CASE("rate_limiter: a request larger than the burst goes after its time") {
  RateLimiter limiter(1 << 20);
  const auto start = RateLimiter::Clock::now();
  CHECK(limiter.Acquire(300 << 10));
  CHECK(limiter.Acquire(1));
  const double took = SecondsSince(start);
  INFO(took);
  CHECK(took >= 0.25);
  CHECK(took <= 0.5);
}

TEST_CASE("rate_limiter: 0 is no limit; Cancel wakes the waiters") {
  RateLimiter unlimited(0);
  const auto start = RateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) CHECK(unlimited.Acquire(1 << 30));
  CHECK(SecondsSince(start) < 0.5);

  RateLimiter slow(1024);
  std::atomic<int> returned_false{0};
  std::thread waiter([&] {
    if (!slow.Acquire(1 << 20)) ++returned_false;  // about 1000 s at this rate
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto cancel_at = RateLimiter::Clock::now();
  slow.Cancel();
  waiter.join();
  CHECK(SecondsSince(cancel_at) < 1);
  CHECK(returned_false == 1);
  CHECK_FALSE(slow.Acquire(1));
}
