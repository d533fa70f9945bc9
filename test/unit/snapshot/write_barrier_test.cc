#include "snapshot/write_barrier.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/eventually.h"

using amberfs::WriteBarrier;
using amberfs::testing::Eventually;

namespace {

// Long enough that a thread which could proceed would have (not a timing
// assertion: a wrong barrier fails it on most runs, a right one never).
void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

}  // namespace

TEST_CASE("write barrier: closing waits for the writers in flight") {
  WriteBarrier barrier;
  std::atomic<bool> closed{false}, release{false};
  std::thread closer;
  {
    WriteBarrier::Writer writer(barrier);
    closer = std::thread([&] {
      WriteBarrier::Closed hold(barrier);
      closed = true;
      while (!release) std::this_thread::yield();
    });
    Settle();
    CHECK_FALSE(closed.load());
  }
  CHECK(Eventually([&] { return closed.load(); }));
  release = true;
  closer.join();
}

TEST_CASE("write barrier: writers wait while it is closed, and pass once it reopens") {
  WriteBarrier barrier;
  std::atomic<int> entered{0};
  std::thread writer;
  {
    WriteBarrier::Closed hold(barrier);
    writer = std::thread([&] {
      WriteBarrier::Writer pass(barrier);
      ++entered;
    });
    Settle();
    CHECK(entered.load() == 0);
  }
  CHECK(Eventually([&] { return entered.load() == 1; }));
  writer.join();
  // Open again: writers pass at once, any number together.
  WriteBarrier::Writer a(barrier);
  WriteBarrier::Writer b(barrier);
}
