// PairedStore while its slow store is down: one probe at a time, a handful of
// log lines, gauges that say so, and a backlog that goes at once when the
// store is back.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "store/paired_store.h"
#include "support/eventually.h"
#include "support/paired_rig.h"
#include "support/stderr_capture.h"

using namespace amberfs;
using namespace amberfs::testing;
using namespace std::chrono_literals;

namespace {

// The defaults a mount uses, with the upload marker.
PairedOptions MountLike() {
  PairedOptions o;
  o.lock_owner = "01234567-89ab-4cde-8f01-23456789abcd";
  o.lock_linger = 50ms;
  return o;
}

}  // namespace

TEST_CASE("Paired: an outage is a few log lines and gauges, and the backlog goes at once when it ends") {
  PairedRig rig;
  StderrCapture log;
  rig.Open(MountLike());
  rig.PutUploaded(1000);  // the store works, and the marker was written once
  // Uploads are in flight (every worker busy) when the store goes down.
  rig.slow->SetDelay(100ms);
  const int kBlobs = 400;
  std::vector<Pointer> keys = rig.PutBlobs(kBlobs);
  REQUIRE(Eventually([&] { return rig.store->Stats().uploaded >= 30; }));
  rig.slow->SetDown(true);
  std::this_thread::sleep_for(4s);

  // Down: a probe now and then, not every upload in turn.
  const int tries = rig.slow->injected();
  MESSAGE(tries << " tries failed in 4 s of outage");
  CHECK(tries <= 16 + 12);
  PairedStats down = rig.store->Stats();
  CHECK_FALSE(down.slow_store_up);
  CHECK(down.slow_store_down_since > 0);
  const uint64_t waiting = down.pending;

  rig.slow->SetDown(false);
  const auto back = std::chrono::steady_clock::now();
  Status drained = rig.store->Drain(20s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
  REQUIRE_MESSAGE(drained.ok(), drained.ToString());
  MESSAGE("drained " << waiting << " uploads " << took << " s after the store came back");
  // The longest probe interval (2 s), then the backlog at full speed (16
  // workers, 100 ms each).
  CHECK(took < 2.0 + waiting / 16 * 0.1 * 1.5 + 0.5);
  for (const Pointer& k : keys) CHECK(rig.InSlow(k));
  PairedStats up = rig.store->Stats();
  CHECK(up.slow_store_up);
  CHECK(up.slow_store_down_since == 0);
  CHECK(up.slow_store_outages == 1);

  CHECK(log.Lines("unreachable since") == 1);
  CHECK(log.Lines("reachable again after") == 1);
  CHECK(log.Lines(std::to_string(waiting) + " uploads waiting") >= 1);
  CHECK(log.Lines("failed (attempt") <= 1);  // the one failure that began it
  CHECK(log.Lines(" warn: ") + log.Lines(" info: ") <= 6);
}

TEST_CASE("Paired: a store down from the start is probed, not hammered, and its backlog goes once it answers") {
  PairedRig rig;
  StderrCapture log;
  PairedOptions o = MountLike();
  o.probe_max = 200ms;
  rig.Open(o, /*read_only=*/false, /*slow_down=*/true);
  std::vector<Pointer> keys = rig.PutBlobs(50);
  // The first uploads go out together (up to a try per worker) before the
  // first failure says the store is down; from then on, one probe at a time.
  REQUIRE(Eventually([&] { return !rig.store->Stats().slow_store_up; }));
  const int before = rig.slow->injected();
  std::this_thread::sleep_for(2s);
  const int probes = rig.slow->injected() - before;
  MESSAGE(before << " tries before the outage was known, " << probes << " in the 2 s after");
  CHECK(probes <= 2000 / 200 + 2);  // probe_max apart, and a marker write
  CHECK(log.Lines("unreachable since") == 1);
  rig.slow->SetDown(false);
  REQUIRE(rig.store->Drain(10s).ok());
  for (const Pointer& k : keys) CHECK(rig.InSlow(k));
  CHECK(log.Lines("reachable again after") == 1);
}
