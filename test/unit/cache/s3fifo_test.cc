#include "cache/s3fifo.h"

#include <doctest/doctest.h>

#include <memory>
#include <random>
#include <unordered_map>

using namespace amberfs;

namespace {

// Gives nodes[i] key i and inserts them in that order.
void InsertKeys(S3Fifo& policy, std::vector<PolicyNode>& nodes) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].key = i;
    policy.Insert(&nodes[i]);
  }
}

}  // namespace

TEST_CASE("s3fifo: a hot set survives a large one-pass scan where LRU loses it") {
  std::vector<uint64_t> trace;
  std::mt19937_64 rng(1);
  uint64_t scan_key = 1'000'000;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 5000; ++i) trace.push_back(rng() % 500);      // hot set of 500 keys
    for (int i = 0; i < 3000; ++i) trace.push_back(scan_key++);      // a scan of new keys
  }
  double fifo = SimulateHitRatio<S3Fifo>(1000, trace);
  double lru = SimulateHitRatio<Lru>(1000, trace);
  MESSAGE("hit ratio: s3fifo " << fifo << ", lru " << lru);
  CHECK(fifo > lru);
}

TEST_CASE("s3fifo: pinned nodes are skipped and a fully pinned cache gives up") {
  S3Fifo policy(8);
  std::vector<PolicyNode> nodes(8);
  InsertKeys(policy, nodes);
  CHECK(policy.Evict([](PolicyNode*) { return false; }) == nullptr);
  PolicyNode* v = policy.Evict([](PolicyNode* n) { return n->key == 5; });
  REQUIRE(v != nullptr);
  CHECK(v->key == 5);
  CHECK(policy.size() == 7);
  policy.Remove(&nodes[2]);
  CHECK(policy.size() == 6);
  // A ghost hit goes straight to main and is not the next small-queue victim.
  nodes[5].freq = 0;
  policy.Insert(&nodes[5]);
  CHECK(policy.size() == 7);
}

TEST_CASE("s3fifo: refused nodes are parked, not walked past again, and come back by Unpark") {
  S3Fifo policy(100);  // small queue target: 10
  std::vector<PolicyNode> nodes(20);
  InsertKeys(policy, nodes);
  for (size_t i = 0; i < 10; ++i) policy.Touch(&nodes[i]);  // 0-9 will earn main
  size_t asked = 0;
  // Everything pinned: 0-9 move to main on the way; each of the 20 nodes is
  // asked about once and parked, then the call gives up.
  CHECK(policy.Evict([&](PolicyNode*) { ++asked; return false; }) == nullptr);
  CHECK(asked == 20);
  CHECK(policy.parked() == 20);
  CHECK(policy.size() == 20);
  // 3 (from main) and 15 (from small) are made clean and handed back.
  policy.Unpark(&nodes[3]);
  policy.Unpark(&nodes[15]);
  policy.Unpark(&nodes[15]);  // a second Unpark changes nothing
  CHECK(policy.parked() == 18);
  // The queues hold only the two handed back: found without asking any parked node.
  asked = 0;
  PolicyNode* v = policy.Evict([&](PolicyNode*) { ++asked; return true; });
  REQUIRE(v != nullptr);
  CHECK(v->key == 3);  // small (only 15) is below its target, so main gives first
  CHECK(asked == 1);
  CHECK(policy.size() == 19);
}

TEST_CASE("s3fifo: a node that became free without Unpark is still found, by one more look at the parked") {
  S3Fifo policy(100);
  std::vector<PolicyNode> nodes(30);
  InsertKeys(policy, nodes);
  std::vector<bool> pinned(nodes.size(), true);
  CHECK(policy.Evict([&](PolicyNode* n) { return !pinned[n->key]; }) == nullptr);
  CHECK(policy.parked() == 30);
  pinned[7] = false;  // the owner forgot to Unpark it
  size_t asked = 0;
  PolicyNode* v = policy.Evict([&](PolicyNode* n) { ++asked; return !pinned[n->key]; });
  REQUIRE(v != nullptr);
  CHECK(v->key == 7);
  CHECK(asked == 31);  // each parked node once, then 7 again from its queue
  CHECK(policy.parked() == 29);
  // Remove takes a parked node off the parked list.
  policy.Remove(&nodes[8]);
  CHECK(policy.parked() == 28);
  CHECK(policy.size() == 28);
}

TEST_CASE("s3fifo: a hot main node behind pinned ones is still found once its count runs down") {
  S3Fifo policy(100);
  std::vector<PolicyNode> nodes(6);
  InsertKeys(policy, nodes);
  for (PolicyNode& n : nodes) policy.Touch(&n);
  // Everything pinned: all six earn main on the way and are parked there.
  CHECK(policy.Evict([](PolicyNode*) { return false; }) == nullptr);
  // 0 is handed back with a count of 2 and 1-5 stay pinned: its count runs
  // down going round main, then it is given.
  policy.Unpark(&nodes[0]);
  policy.Touch(&nodes[0]);
  policy.Touch(&nodes[0]);
  PolicyNode* v = policy.Evict([](PolicyNode* n) { return n->key == 0; });
  REQUIRE(v != nullptr);
  CHECK(v->key == 0);
}

TEST_CASE("s3fifo: randomized pins, unparks and hits: Evict only gives accepted nodes, asks each node at most twice, and finds a victim within four calls") {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t capacity = 1 + rng() % 64;
    S3Fifo policy(capacity);
    std::vector<PolicyNode> nodes(capacity + 8);
    std::vector<bool> in(nodes.size(), false), pinned(nodes.size(), false);
    size_t held = 0;
    for (size_t i = 0; i < nodes.size(); ++i) nodes[i].key = i * 1000 + static_cast<uint64_t>(trial);
    for (int step = 0; step < 2000; ++step) {
      const size_t i = rng() % nodes.size();
      switch (rng() % 6) {
        case 0:
        case 1:
          if (!in[i]) {
            policy.Insert(&nodes[i]);
            in[i] = true;
            ++held;
          } else {
            policy.Touch(&nodes[i]);
          }
          break;
        case 2:
          pinned[i] = !pinned[i];
          // Half the time the owner says so, half it forgets.
          if (!pinned[i] && in[i] && rng() % 2 == 0) policy.Unpark(&nodes[i]);
          break;
        case 3:
          if (in[i]) {
            policy.Remove(&nodes[i]);
            in[i] = false;
            --held;
          }
          break;
        default: {
          size_t asked = 0;
          auto can_evict = [&](PolicyNode* n) {
            ++asked;
            const size_t k = static_cast<size_t>(n - nodes.data());
            REQUIRE(in[k]);
            return !pinned[k];
          };
          bool any_free = false;
          for (size_t k = 0; k < nodes.size(); ++k) any_free |= in[k] && !pinned[k];
          PolicyNode* v = nullptr;
          for (int call = 0; call < 4 && v == nullptr; ++call) {
            asked = 0;
            v = policy.Evict(can_evict);
            REQUIRE(asked <= 2 * held + 2);
          }
          if (v != nullptr) {
            const size_t k = static_cast<size_t>(v - nodes.data());
            REQUIRE(in[k]);
            REQUIRE_FALSE(pinned[k]);
            in[k] = false;
            --held;
          }
          REQUIRE((v != nullptr) == any_free);
        }
      }
      REQUIRE(policy.size() == held);
    }
  }
}
