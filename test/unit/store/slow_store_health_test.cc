// SlowStoreHealth on its own: when an outage begins and ends, driven with a
// fixed clock (no threads, no timing).
#include <doctest/doctest.h>

#include "store/slow_store_health.h"

using namespace amberfs;
using namespace std::chrono_literals;

namespace {

const Status kDown = Status::Error(ECONNREFUSED, "connection refused");

}  // namespace

TEST_CASE("slow store health: only a probe's success ends an outage, not a try sent before it began") {
  SlowStoreHealth health("file:///slow", 100ms, 2s);
  const auto t0 = SlowStoreHealth::Clock::time_point{} + 1h;
  auto wake = t0 + 1h;
  REQUIRE(health.MayStart(t0, &wake) == SlowStoreHealth::Try::kNormal);

  // The first failure begins the outage; tries already in flight still end.
  CHECK(health.Failed(kDown, /*probe=*/false, 10, t0));
  CHECK(health.down());
  CHECK_FALSE(health.Failed(kDown, /*probe=*/false, 10, t0 + 1ms));  // no second beginning
  CHECK_FALSE(health.Succeeded(/*probe=*/false, 10, t0 + 2ms));      // sent before: tells nothing
  CHECK(health.down());

  // Nothing but one probe starts, and only after the gate opens.
  CHECK(health.MayStart(t0 + 50ms, &wake) == SlowStoreHealth::Try::kNo);
  CHECK(wake == t0 + 100ms);
  REQUIRE(health.MayStart(t0 + 100ms, &wake) == SlowStoreHealth::Try::kProbe);
  CHECK(health.MayStart(t0 + 100ms, &wake) == SlowStoreHealth::Try::kNo);  // one probe at a time
  CHECK(health.Succeeded(/*probe=*/true, 10, t0 + 120ms));
  CHECK_FALSE(health.down());
  CHECK(health.MayStart(t0 + 121ms, &wake) == SlowStoreHealth::Try::kNormal);
}
