// PairedStore while its slow store is down: one probe at a time, a handful of
// log lines, gauges that say so, and a backlog that goes at once when the
// store is back.
#include <doctest/doctest.h>

#include <chrono>
#include <sstream>
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

namespace {

// How many times `text` contains `name`.
int Mentions(const std::string& text, const std::string& name) {
  int n = 0;
  for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + name.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("Paired: the errors and log lines of an outage name the slow store once") {
  PairedRig rig;
  StderrCapture log;
  PairedOptions o = MountLike();
  o.lock_linger = 300ms;
  o.max_pending = 5;
  rig.Open(o);
  rig.PutUploaded(1000);  // the marker is written, and released after the linger
  const std::string slow = rig.slow->Describe();
  REQUIRE(Eventually([&] { return rig.slow->inner().ListRefs("locks/upload/").value().empty(); }));

  // A release that fails (the store goes down within the linger): a
  // warning that quotes the store's error.
  REQUIRE(rig.store->Put(Pointer::Of(Blob(1)), Blob(1)).ok());
  REQUIRE(rig.store->Drain(10s).ok());
  rig.slow->SetDown(true);
  REQUIRE(Eventually([&] { return log.Lines("release upload marker") >= 1; }));

  rig.PutBlobs(4);
  // The put bound: the refusal quotes the last upload error.
  Status refused;
  for (int i = 10; i < 20 && refused.ok(); ++i) refused = rig.store->Put(Pointer::Of(Blob(i)), Blob(i));
  REQUIRE(refused.code() == EAGAIN);
  CHECK_MESSAGE(Mentions(refused.message(), slow) == 1, refused.ToString());
  // A drain that times out: the same.
  Status drained = rig.store->Drain(300ms);
  REQUIRE(drained.code() == ETIMEDOUT);
  CHECK_MESSAGE(Mentions(drained.message(), slow) == 1, drained.ToString());

  rig.slow->SetDown(false);
  REQUIRE(rig.store->Drain(10s).ok());
  rig.store.reset();
  std::istringstream lines(log.Text());
  int naming = 0;
  for (std::string line; std::getline(lines, line);) {
    if (Mentions(line, slow) == 0) continue;
    ++naming;
    CHECK_MESSAGE(Mentions(line, slow) == 1, line);
  }
  CHECK(naming >= 2);  // the release warning, the outage's start
}

TEST_CASE("Paired: after a long outage with a small backlog, the store is probed at the gate's pace, not the jobs'") {
  // Each failed probe doubles its job's own backoff (up to retry_max); with
  // one job, that backoff would soon space the probes far beyond probe_max.
  PairedRig rig;
  StderrCapture log;
  PairedOptions o;
  o.retry_initial = 10ms;
  o.retry_max = 30s;
  o.probe_max = 100ms;
  rig.Open(o, /*read_only=*/false, /*slow_down=*/true);
  const Pointer key = rig.PutBlobs(1)[0];
  std::this_thread::sleep_for(3s);  // the job's own backoff is past 1 s now
  const int tries = rig.slow->injected();
  MESSAGE(tries << " tries in 3 s of outage");
  CHECK(tries >= 15);  // about one per 100 ms once the gate is at its longest
  rig.slow->SetDown(false);
  const auto back = std::chrono::steady_clock::now();
  REQUIRE(rig.store->Drain(10s).ok());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
  MESSAGE("drained " << took << " s after the store came back");
  CHECK(took < 0.5);
  CHECK(rig.InSlow(key));
}
