// GroupCommit: callers share syncs, each gets the status of a sync that
// started after it arrived, errors reach every member of their round and do
// not stick, sync never overlaps itself, and the gather delay lets late
// callers join the leader's round.
#include "base/group_commit.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "support/conductor_stress_util.h"
#include "support/eventually.h"

using namespace amberfs;
using amberfs::testing::Watchdog;

TEST_CASE("GroupCommit: a lone caller runs its sync and gets its status") {
  GroupCommit commit;
  int syncs = 0;
  CHECK(commit.Commit([&] {
    ++syncs;
    return Status::OK();
  }).ok());
  Status st = commit.Commit([&] {
    ++syncs;
    return Status::Error(EIO, "disk on fire");
  });
  CHECK(st.code() == EIO);
  CHECK(syncs == 2);
}

TEST_CASE("GroupCommit: concurrent callers share syncs, each covered by a sync that started after it") {
  constexpr int kThreads = 8, kPerThread = 200;
  GroupCommit commit;
  std::atomic<uint64_t> work_done{0};   // callers' work, counted before they commit
  std::atomic<uint64_t> covered{0};     // the work count a finished sync saw as it started
  std::atomic<int> inside{0}, overlaps{0}, syncs{0}, uncovered{0};
  auto sync = [&] {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    const uint64_t seen = work_done.load();
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // an fdatasync's worth
    uint64_t prev = covered.load();
    while (prev < seen && !covered.compare_exchange_weak(prev, seen)) {
    }
    syncs.fetch_add(1);
    inside.fetch_sub(1);
    return Status::OK();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t mine = work_done.fetch_add(1) + 1;
        if (!commit.Commit(sync).ok() || covered.load() < mine) uncovered.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(overlaps.load() == 0);
  CHECK(uncovered.load() == 0);
  CHECK(syncs.load() < kThreads * kPerThread);
  MESSAGE("commits " << kThreads * kPerThread << ", syncs " << syncs.load());
}

TEST_CASE("GroupCommit: a failed round's error reaches every member; the next round syncs again") {
  GroupCommit commit;
  std::atomic<bool> release{false};
  std::atomic<int> arrived{0}, syncs{0};
  // The first sync holds the lead until the others are in Commit, so they
  // all wait for a later round; every later round fails.
  Status leader_status;
  std::thread leader([&] {
    leader_status = commit.Commit([&] {
      syncs.fetch_add(1);
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return Status::OK();
    });
  });
  REQUIRE(testing::Eventually([&] { return syncs.load() == 1; }));
  constexpr int kMembers = 4;
  std::vector<Status> results(kMembers);
  std::vector<std::thread> members;
  for (int i = 0; i < kMembers; ++i) {
    members.emplace_back([&, i] {
      arrived.fetch_add(1);
      results[i] = commit.Commit([&] {
        syncs.fetch_add(1);
        return Status::Error(EIO, "fdatasync failed");
      });
    });
  }
  REQUIRE(testing::Eventually([&] { return arrived.load() == kMembers; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let them reach the wait
  release = true;
  leader.join();
  for (auto& th : members) th.join();
  CHECK(leader_status.ok());
  for (const Status& st : results) CHECK(st.code() == EIO);
  CHECK(syncs.load() >= 2);
  CHECK(syncs.load() <= 1 + kMembers);
  MESSAGE("syncs for the " << kMembers << " members: " << syncs.load() - 1);

  // Not sticky: the next caller runs sync again and gets its own status.
  CHECK(commit.Commit([&] {
    syncs.fetch_add(1);
    return Status::OK();
  }).ok());
}

TEST_CASE("GroupCommit: the gather delay lets a late caller join the leader's round") {
  GroupCommit commit(std::chrono::milliseconds(300));
  std::atomic<int> syncs{0};
  auto sync = [&] {
    syncs.fetch_add(1);
    return Status::OK();
  };
  const auto start = std::chrono::steady_clock::now();
  Status leader_status;
  std::thread leader([&] { leader_status = commit.Commit(sync); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // well inside the delay
  CHECK(commit.Commit(sync).ok());
  leader.join();
  CHECK(leader_status.ok());
  CHECK(syncs.load() == 1);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
}

// A sync that throws (bad_alloc while building an error, say) ended its round
// never: every later caller, members of that round first, waited for good.
TEST_CASE("GroupCommit: a sync that throws ends its round; members get ENOMEM, the next round runs") {
  Watchdog watchdog("GroupCommit after a sync threw", std::chrono::seconds(30));
  GroupCommit commit(std::chrono::milliseconds(300));
  std::atomic<int> syncs{0};
  auto throwing = [&]() -> Status {
    syncs.fetch_add(1);
    throw std::bad_alloc();
  };
  bool leader_threw = false;
  std::thread leader([&] {
    try {
      (void)commit.Commit(throwing);
    } catch (const std::bad_alloc&) {
      leader_threw = true;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // joins the leader's round, inside its delay
  Status member = commit.Commit(throwing);
  leader.join();
  CHECK(leader_threw);
  CHECK(member.code() == ENOMEM);
  CHECK(syncs.load() == 1);
  // Not stuck: the next caller leads a round of its own.
  CHECK(commit.Commit([&] {
    syncs.fetch_add(1);
    return Status::OK();
  }).ok());
  CHECK(syncs.load() == 2);
}
