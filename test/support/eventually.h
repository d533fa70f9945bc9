// Eventually(cond): polls cond every 5 ms for up to 10 s. A liveness bound
// for tests that wait on background work, not a timing assertion.
#pragma once

#include <chrono>
#include <thread>

namespace amberfs::testing {

template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace amberfs::testing
