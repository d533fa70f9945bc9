#include "snapshot/snapshotter.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "base/durable_file.h"
#include "snapshot/snapshot_pointers.h"
#include "support/eventually.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::Pattern;
using amberfs::testing::OpenSharingSlowStore;
using amberfs::testing::SnapVolume;
using amberfs::testing::Eventually;
using amberfs::testing::TempDir;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kChunk = 64 << 10;

// Six snapshots 5 ms apart while `writers` threads each call write(w, seq,
// rng) for seq = 1, 2, ... (rng seeded with w, so a check can replay it);
// returns the snapshots' names.
std::vector<std::string> SnapshotsUnderWriters(
    SnapVolume& v, int writers, const std::function<Status(int w, uint64_t seq, std::mt19937_64& rng)>& write) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      for (uint64_t seq = 1; !stop.load(); ++seq) {
        if (!write(w, seq, rng).ok()) return;
      }
    });
  }
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(5ms);
    names.push_back("pit" + std::to_string(i));
    auto r = v.snap->Snapshot(names.back());
    CHECK_MESSAGE(r.ok(), r.status().ToString());
  }
  stop = true;
  for (auto& t : threads) t.join();
  return names;
}

std::set<Pointer> ListBlobs(Store& store) {
  std::set<Pointer> out;
  REQUIRE(store.List([&](const Pointer& p) {
                 out.insert(p);
                 return Status::OK();
               }).ok());
  return out;
}


}  // namespace

TEST_CASE("snapshotter: snapshots equal the volume at their moments; names are checked") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 64 * kChunk;
  REQUIRE(v.Open().ok());

  v.Write(0, Pattern(1, 20 * kChunk));
  v.Write(40 * kChunk + 100, Pattern(2, 3 * kChunk));
  auto a = v.Snapshot("A");
  CHECK(a.chunks_captured == 24);
  const auto copy_a = v.Contents();

  v.Write(5 * kChunk + 7, Pattern(3, 2 * kChunk));  // overwrite parts
  v.Discard(10 * kChunk, 4 * kChunk);               // discard whole chunks
  v.Discard(41 * kChunk + 5, 1000);                 // and part of one
  v.Write(63 * kChunk, Pattern(4, kChunk));
  auto b = v.Snapshot("B");
  CHECK(b.chunks_captured == 3 + 4 + 1 + 1);
  const auto copy_b = v.Contents();
  CHECK(copy_a != copy_b);

  CHECK(v.SnapshotContents("A") == copy_a);
  CHECK(v.SnapshotContents("B") == copy_b);
  // Snapshots survive a reopen, and read from the slow store alone once the
  // fast store has lost the blobs.
  v.Reopen();
  CHECK(v.SnapshotContents("A") == copy_a);
  REQUIRE(v.snap->Drain(20s).ok());
  for (const Pointer& p : ListBlobs(v.paired->fast())) REQUIRE(v.paired->fast().Delete(p).ok());
  v.Reopen();
  CHECK(v.SnapshotContents("B") == copy_b);

  CHECK(v.snap->Snapshot("A").status().code() == EEXIST);
  CHECK(v.snap->Snapshot(".hidden").status().code() == EINVAL);
  CHECK(v.snap->Snapshot("a/b").status().code() == EINVAL);
  CHECK(v.snap->Snapshot(std::string(65, 'x')).status().code() == EINVAL);
  CHECK(v.snap->ReadSnapshot("nope", nullptr, 0, 0).code() == ENOENT);
  auto list = v.snap->List();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "A");
  CHECK((*list)[1].name == "B");
  CHECK((*list)[0].created_ns <= (*list)[1].created_ns);
  // A default name is the UTC time.
  auto d = v.snap->Snapshot("");
  REQUIRE(d.ok());
  CHECK(d->name.size() == 16);
  CHECK(d->chunks_captured == 0);
}

TEST_CASE("snapshotter: incremental on a large sparse volume, dedup, zero chunks are null") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 1ull << 30;  // 16384 chunks: an index of depth 2
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(7, 4 * kChunk));
  v.Snapshot("base");

  v.Write(12345 * kChunk + 10, Pattern(8, 100));
  auto one = v.Snapshot("one");
  CHECK(one.chunks_captured == 1);
  // The chunk, the changed path of the index (depth 2), the record.
  CHECK(one.new_blobs <= 4);
  CHECK(one.new_blobs >= 3);

  // Dedup: content that exists already costs no chunk blob.
  v.Write(500 * kChunk, Pattern(7, kChunk));  // equal to chunk 0
  v.Write(501 * kChunk, Pattern(9, kChunk));
  v.Write(502 * kChunk, Pattern(9, kChunk));  // equal to 501
  v.Write(503 * kChunk, std::vector<uint8_t>(kChunk, 0));  // all zero
  auto dd = v.Snapshot("dedup");
  CHECK(dd.chunks_captured == 4);
  const uint64_t chunk_blobs = dd.new_blobs - 1 /*record*/;
  CHECK(chunk_blobs <= 1 + 3);  // one chunk blob, at most the root and two leaves
  CHECK(dd.bytes_stored < 2 * kChunk);
  auto tree_ptr = v.catalog->Get("dedup");
  REQUIRE(tree_ptr.ok());
  std::vector<uint8_t> zero(kChunk, 1);
  REQUIRE(v.snap->ReadSnapshot("dedup", zero.data(), kChunk, 503 * kChunk).ok());
  CHECK(zero == std::vector<uint8_t>(kChunk, 0));
  for (const Pointer& p : v.NeededBy("dedup")) CHECK(p != Pointer::Of(std::vector<uint8_t>(kChunk, 0)));
}

// Point-in-time: each writer writes a sequence of whole-chunk versions into
// its own region, one write at a time; the volume at any instant is, per
// region, the result of a prefix of that sequence. The snapshot must be one.
TEST_CASE("snapshotter: point-in-time under concurrent writers") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  const uint64_t kRegion = 16;
  const int kWriters = 2;
  v.size = kRegion * kWriters * kChunk;
  REQUIRE(v.Open().ok());
  auto version_bytes = [](uint64_t seq) {
    std::vector<uint8_t> b(kChunk);
    for (size_t i = 0; i < b.size(); i += 8) std::memcpy(&b[i], &seq, 8);
    return b;
  };
  // Prefill every chunk with a marker (bit 48 set, no writer's value has it) and commit it.
  auto prefill = [](uint64_t c) { return (1ull << 48) | c; };
  for (uint64_t c = 0; c < v.size / kChunk; ++c) v.Write(c * kChunk, version_bytes(prefill(c)));
  v.Snapshot("start");

  const std::vector<std::string> names = SnapshotsUnderWriters(v, kWriters, [&](int w, uint64_t seq, std::mt19937_64& rng) {
    const uint64_t c = w * kRegion + rng() % kRegion;
    auto b = version_bytes((uint64_t{static_cast<uint64_t>(w)} << 56) | seq);
    return v.snap->Write(b.data(), b.size(), c * kChunk);
  });

  // Replay each writer's sequence to check prefix consistency.
  for (const std::string& name : names) {
    auto snap = v.SnapshotContents(name);
    for (int w = 0; w < kWriters; ++w) {
      // The highest seq present in the region names the prefix length.
      uint64_t top = 0;
      for (uint64_t c = w * kRegion; c < (w + 1) * kRegion; ++c) {
        uint64_t s;
        std::memcpy(&s, &snap[c * kChunk], 8);
        if (!(s & (1ull << 48))) top = std::max<uint64_t>(top, s & ((1ull << 48) - 1));
      }
      std::vector<uint64_t> expect(kRegion);
      for (uint64_t i = 0; i < kRegion; ++i) expect[i] = prefill(w * kRegion + i);
      std::mt19937_64 rng(w);
      for (uint64_t seq = 1; seq <= top; ++seq) {
        const uint64_t c = rng() % kRegion;
        expect[c] = (uint64_t{static_cast<uint64_t>(w)} << 56) | seq;
      }
      for (uint64_t i = 0; i < kRegion; ++i) {
        const uint64_t c = w * kRegion + i;
        auto want = version_bytes(expect[i]);
        bool same = std::equal(want.begin(), want.end(), snap.begin() + static_cast<long>(c * kChunk));
        CHECK_MESSAGE(same, name << ": chunk " << c << " is not the state after write " << top << " of writer " << w);
      }
    }
  }
  auto stats = v.snap->Stats();
  MESSAGE("copy-before-write chunks: " << stats.cow_chunks << " of " << stats.chunks_captured);
}

// The same with writes of 1 to 3 blocks of 4 KiB, most inside a chunk (the
// writer saves only the blocks it covers, SaveBlocks) and some across two
// chunks; cow memory holds four chunks, so the whole-chunk copy with the
// saved blocks laid over it (CopyChunk) runs as well.
TEST_CASE("snapshotter: point-in-time under concurrent block writers") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  const uint64_t kBlock = 4096, kRegionChunks = 8, kBlocks = kRegionChunks * kChunk / kBlock;
  const int kWriters = 2;
  v.size = kRegionChunks * kWriters * kChunk;
  REQUIRE(v.Open().ok());
  auto block_of = [](uint64_t value) {
    std::vector<uint8_t> b(4096);
    for (size_t i = 0; i < b.size(); i += 8) std::memcpy(&b[i], &value, 8);
    return b;
  };
  auto prefill = [](uint64_t block) { return (1ull << 48) | block; };
  // A writer's write seq: (first block in its region, count), the same stream on replay.
  auto next_write = [&](std::mt19937_64& rng) {
    const uint64_t first = rng() % kBlocks;
    return std::pair<uint64_t, uint64_t>(first, std::min<uint64_t>(1 + rng() % 3, kBlocks - first));
  };
  std::vector<uint8_t> all;
  for (uint64_t b = 0; b < v.size / kBlock; ++b) {
    auto one = block_of(prefill(b));
    all.insert(all.end(), one.begin(), one.end());
  }
  v.Write(0, all);
  v.Snapshot("start");

  const std::vector<std::string> names = SnapshotsUnderWriters(v, kWriters, [&](int w, uint64_t seq, std::mt19937_64& rng) {
    auto [first, n] = next_write(rng);
    std::vector<uint8_t> bytes;
    for (uint64_t i = 0; i < n; ++i) {
      auto one = block_of((uint64_t{static_cast<uint64_t>(w)} << 56) | seq);
      bytes.insert(bytes.end(), one.begin(), one.end());
    }
    return v.snap->Write(bytes.data(), bytes.size(), (w * kBlocks + first) * kBlock);
  });

  for (const std::string& name : names) {
    auto snap = v.SnapshotContents(name);
    for (int w = 0; w < kWriters; ++w) {
      uint64_t top = 0;
      for (uint64_t b = 0; b < kBlocks; ++b) {
        uint64_t s;
        std::memcpy(&s, &snap[(w * kBlocks + b) * kBlock], 8);
        if (!(s & (1ull << 48))) top = std::max<uint64_t>(top, s & ((1ull << 48) - 1));
      }
      std::vector<uint64_t> expect(kBlocks);
      for (uint64_t b = 0; b < kBlocks; ++b) expect[b] = prefill(w * kBlocks + b);
      std::mt19937_64 rng(w);
      for (uint64_t seq = 1; seq <= top; ++seq) {
        auto [first, n] = next_write(rng);
        for (uint64_t i = 0; i < n; ++i) expect[first + i] = (uint64_t{static_cast<uint64_t>(w)} << 56) | seq;
      }
      for (uint64_t b = 0; b < kBlocks; ++b) {
        auto want = block_of(expect[b]);
        bool same = std::equal(want.begin(), want.end(), snap.begin() + static_cast<long>((w * kBlocks + b) * kBlock));
        CHECK_MESSAGE(same, name << ": block " << b << " of writer " << w << " is not the state after write " << top);
      }
    }
  }
  auto stats = v.snap->Stats();
  MESSAGE("copy-before-write: " << stats.cow_blocks << " blocks saved, " << stats.cow_chunks << " chunks copied, of "
                                << stats.chunks_captured);
  CHECK(stats.cow_blocks > 0);
}

TEST_CASE("snapshotter: a failed Put or blob commit leaves no catalog entry and the next snapshot has every chunk") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 32 * kChunk;
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, 8 * kChunk));
  v.Snapshot("A");
  v.Write(2 * kChunk, Pattern(2, 10 * kChunk));
  // Failing while storing a chunk, or when the batch of blobs is made durable.
  SUBCASE("put") { v.fast_fault->Fail(testing::FaultStore::Op::kPut, ENOSPC, std::nullopt, 3); }
  SUBCASE("commit") { v.fast_fault->Fail(testing::FaultStore::Op::kCommit, ENOSPC, std::nullopt, 1); }
  auto failed = v.snap->Snapshot("B");
  CHECK(failed.status().code() == ENOSPC);
  CHECK(v.catalog->Get("B").status().code() == ENOENT);
  CHECK(v.tracker->CountMarked(ChangeTracker::Set::kActive) == 10);
  CHECK_FALSE(v.tracker->capturing());
  v.fast_fault->Clear();
  v.Write(30 * kChunk, Pattern(3, kChunk));
  auto b = v.Snapshot("B");
  CHECK(b.chunks_captured == 11);
  CHECK(v.SnapshotContents("B") == v.Contents());
  CHECK(v.snap->Stats().snapshot_failures == 1);
}

TEST_CASE("snapshotter: rollback, delete and gc") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 32 * kChunk;
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, 16 * kChunk));
  v.Snapshot("A");
  const auto copy_a = v.Contents();
  v.Write(4 * kChunk, Pattern(2, 4 * kChunk));
  v.Discard(0, 2 * kChunk);
  v.Write(20 * kChunk, Pattern(3, 2 * kChunk));
  v.Snapshot("B");
  const auto copy_b = v.Contents();
  v.Write(10 * kChunk, Pattern(4, kChunk));  // unsnapshotted changes are undone too
  v.Discard(12 * kChunk, kChunk);

  auto rb = v.snap->Rollback("A");
  REQUIRE_MESSAGE(rb.ok(), rb.status().ToString());
  CHECK(v.Contents() == copy_a);
  // Only chunks that can differ: 4 overwritten, 2 discarded, 2 new, 2 live changes.
  CHECK(rb->chunks_written + rb->chunks_discarded == 10);
  CHECK(rb->chunks_discarded == 2);
  v.Reopen();
  CHECK(v.Contents() == copy_a);
  auto c = v.Snapshot("C");
  CHECK(v.SnapshotContents("C") == copy_a);
  CHECK(v.snap->Rollback("nope").status().code() == ENOENT);

  // Delete A and C; gc leaves exactly what B needs in both stores (plus the
  // base, C, which the next snapshot builds on).
  REQUIRE(v.snap->Delete("A").ok());
  REQUIRE(v.snap->Delete("C").ok());
  CHECK(v.snap->Delete("A").code() == ENOENT);
  REQUIRE(v.snap->Drain(20s).ok());
  auto gc = v.snap->Gc();
  REQUIRE_MESSAGE(gc.ok(), gc.status().ToString());
  CHECK(gc->deleted_fast > 0);
  REQUIRE(v.snap->Drain(20s).ok());
  std::set<Pointer> need = v.NeededBy("B");
  // The base (C's record and tree) is kept: C's chunks equal A's.
  auto base = ReadSnapshotBase(v.dir);
  REQUIRE(base.ok());
  CHECK(*base == c.record);
  std::set<Pointer> fast = ListBlobs(v.paired->fast()), slow = ListBlobs(v.paired->slow());
  for (const Pointer& p : need) {
    CHECK(fast.count(p) == 1);
    CHECK(slow.count(p) == 1);
  }
  std::set<Pointer> extra;
  for (const Pointer& p : slow) if (!need.count(p)) extra.insert(p);
  CHECK(fast == slow);
  // Nothing besides B's blobs and the base's.
  auto base_bytes = v.paired->Get(c.record);
  REQUIRE(base_bytes.ok());
  auto base_rec = DecodeSnapshotRecord(*base_bytes);
  IndexTree tree(v.paired.get(), base_rec->Geometry().value(), 0);
  std::set<Pointer> base_blobs{c.record};
  REQUIRE(tree.ForEachBlob(base_rec->root, [&](const Pointer& p, BlobKind) -> Result<bool> {
                return base_blobs.insert(p).second;
              }).ok());
  for (const Pointer& p : extra) CHECK(base_blobs.count(p) == 1);
  CHECK(v.SnapshotContents("B") == copy_b);
  auto refs = v.paired->slow().ListRefs("volumes/");
  REQUIRE(refs.ok());
  // C was the base, so deleting it published the base ref.
  CHECK(*refs == std::vector<std::string>{"volumes/" + v.uuid + "/base", "volumes/" + v.uuid + "/config",
                                          "volumes/" + v.uuid + "/snapshots/B"});
}


TEST_CASE("snapshotter: gc keeps what another volume sharing the slow store needs") {
  TempDir dir("snapeng");
  SnapVolume v1, v2;
  OpenSharingSlowStore(dir.path(), v1, v2, 16 * kChunk);
  v1.Write(0, Pattern(1, 4 * kChunk));
  v2.Write(0, Pattern(2, 4 * kChunk));
  v1.Snapshot("one");
  v2.Snapshot("two");
  REQUIRE(v1.snap->Drain(20s).ok());
  REQUIRE(v2.snap->Drain(20s).ok());
  REQUIRE(v1.snap->Delete("one").ok());
  REQUIRE(v1.snap->Rollback("one").status().code() == ENOENT);
  // gc gives way while v2 still holds its upload marker (a short linger after its drain).
  REQUIRE(Eventually([&] { return !v1.paired->slow().GetRef("locks/upload/" + v2.uuid).ok(); }));
  auto gc = v1.snap->Gc();
  REQUIRE(gc.ok());
  CHECK(gc->snapshots_of_other_volumes == 1);
  v2.Reopen();
  for (const Pointer& p : ListBlobs(v2.paired->fast())) REQUIRE(v2.paired->fast().Delete(p).ok());
  CHECK(v2.SnapshotContents("two") == v2.Contents());
}

TEST_CASE("snapshotter: deleting the base snapshot keeps its blobs from another volume's gc") {
  TempDir dir("snapeng");
  SnapVolume v1, v2;
  OpenSharingSlowStore(dir.path(), v1, v2, 16 * kChunk);
  v1.Write(0, Pattern(1, 4 * kChunk));
  v1.Snapshot("one");  // v1's base from now on
  REQUIRE(v1.snap->Delete("one").ok());
  CHECK(v1.paired->slow().GetRef("volumes/" + v1.uuid + "/base").ok());
  REQUIRE(v1.snap->Drain(20s).ok());
  REQUIRE(Eventually([&] { return !v1.paired->slow().GetRef("locks/upload/" + v1.uuid).ok(); }));
  const auto before = ListBlobs(v1.paired->slow());
  auto gc = v2.snap->Gc();  // v2 knows of v1 only through the slow store
  REQUIRE_MESSAGE(gc.ok(), gc.status().ToString());
  CHECK(ListBlobs(v1.paired->slow()) == before);
  // v1's next snapshot reuses the base's unchanged chunks; from the slow store
  // alone it is complete.
  v1.Write(8 * kChunk, Pattern(2, kChunk));
  v1.Snapshot("two");
  REQUIRE(v1.snap->Drain(20s).ok());
  for (const Pointer& p : ListBlobs(v1.paired->fast())) REQUIRE(v1.paired->fast().Delete(p).ok());
  CHECK(v1.SnapshotContents("two") == v1.Contents());
}

TEST_CASE("snapshotter: gc gives way to another volume's uploads in flight") {
  TempDir dir("snapeng");
  SnapVolume v1, v2;
  v2.lock_linger = 3600s;  // v2 looks busy uploading until it closes
  OpenSharingSlowStore(dir.path(), v1, v2, 16 * kChunk);
  v1.Write(0, Pattern(1, 4 * kChunk));
  v1.Snapshot("one");
  REQUIRE(v1.snap->Drain(20s).ok());
  REQUIRE(v1.snap->Delete("one").ok());
  // v2's blobs are in the shared slow store; from there alone they would
  // look unreachable if its ref were not published yet.
  v2.Write(0, Pattern(2, 4 * kChunk));
  v2.Snapshot("two");
  REQUIRE(v2.snap->Drain(20s).ok());
  auto blobs_before = ListBlobs(v1.paired->slow());
  auto busy = v1.snap->Gc();
  REQUIRE(busy.status().code() == EBUSY);
  CHECK(busy.status().message().find("locks/upload/" + v2.uuid) != std::string::npos);
  CHECK(ListBlobs(v1.paired->slow()) == blobs_before);               // nothing swept
  CHECK(v1.paired->slow().ListRefs("locks/gc/").value().empty());  // and no gc marker left

  v2.Reopen();  // closing with nothing pending releases its marker
  CHECK(v1.paired->slow().GetRef("locks/upload/" + v2.uuid).status().code() == ENOENT);
  auto gc = v1.snap->Gc();
  REQUIRE_MESSAGE(gc.ok(), gc.status().ToString());
  CHECK(gc->snapshots_of_other_volumes == 1);
  for (const Pointer& p : ListBlobs(v2.paired->fast())) REQUIRE(v2.paired->fast().Delete(p).ok());
  CHECK(v2.SnapshotContents("two") == v2.Contents());
}

TEST_CASE("snapshotter: one operation at a time") {
  TempDir dir("snapeng");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 64 * kChunk;
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, 64 * kChunk));
  v.slow_fault->SetDelay(0ms);
  v.fast_fault->SetDelay(20ms);  // each Put is slow: the snapshot takes a while
  Status slow;
  std::thread t([&] { slow = v.snap->Snapshot("slow").status(); });
  // Try until one of the two finds the other holding the operation lock.
  // Usually "slow" has it first; on a loaded machine "other" can start
  // before the thread does, and then "slow" is the one refused.
  Status busy;
  for (int i = 0; i < 200 && busy.code() != EBUSY; ++i) {
    std::this_thread::sleep_for(2ms);
    busy = v.snap->Snapshot("other").status();
    if (busy.ok()) break;
  }
  t.join();
  CHECK_MESSAGE((slow.ok() || slow.code() == EBUSY), slow.ToString());
  CHECK_MESSAGE((busy.ok() || busy.code() == EBUSY), busy.ToString());
  CHECK_FALSE((slow.code() == EBUSY && busy.code() == EBUSY));  // one of them ran
  if (slow.ok() && busy.ok())
    std::printf("SKIP: snapshotter EBUSY check: the two snapshots ran one after the other, never overlapping\n");
  v.fast_fault->Clear();
}

// A child writes, takes snapshots (one thread, so after each snapshot the
// volume equals it) and reports each snapshot's content hash; it is killed at
// random, during writes or during a snapshot. After reopening, every reported
// snapshot is intact and the next snapshot equals the volume.
TEST_CASE("snapshotter: kill -9 during writes and snapshots") {
  TempDir dir("snapeng");
  const uint64_t size = 32 * kChunk;
  std::mt19937_64 rng(99);
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const uint64_t seed = rng();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      SnapVolume v;
      v.dir = dir.path();
      v.size = size;
      if (!v.Open().ok()) ::_exit(3);
      std::mt19937_64 r(seed);
      for (int i = 0;; ++i) {
        for (int k = 0; k < 4; ++k) {
          auto data = Pattern(r(), 1 + r() % (3 * kChunk));
          const uint64_t off = r() % (size - data.size());
          if (r() % 5 == 0) {
            if (!v.snap->Discard(off, data.size()).ok()) ::_exit(4);
          } else if (!v.snap->Write(data.data(), data.size(), off).ok()) {
            ::_exit(4);
          }
        }
        std::vector<uint8_t> all(size);
        if (!v.conductor->ReadAt(all.data(), size, 0).ok()) ::_exit(5);
        char name[32];
        std::snprintf(name, sizeof name, "r%d-%d", round, i);
        if (!v.snap->Snapshot(name).ok()) ::_exit(6);
        Pointer h = Pointer::Of(all);
        char rec[32 + 32] = {};
        std::memcpy(rec, name, std::strlen(name));
        std::memcpy(rec + 32, h.bytes().data(), 32);
        if (::write(fds[1], rec, sizeof rec) != sizeof rec) ::_exit(7);
      }
    }
    ::close(fds[1]);
    ::usleep(static_cast<useconds_t>(50000 + rng() % 350000));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK_MESSAGE(WIFSIGNALED(status), "child exited with " << WEXITSTATUS(status));
    std::vector<std::pair<std::string, Pointer>> reported;
    char rec[64];
    while (::read(fds[0], rec, sizeof rec) == sizeof rec) {
      std::array<uint8_t, 32> h;
      std::memcpy(h.data(), rec + 32, 32);
      reported.emplace_back(std::string(rec, strnlen(rec, 32)), Pointer(h));
    }
    ::close(fds[0]);

    SnapVolume v;
    v.dir = dir.path();
    v.size = size;
    Status st = v.Open();
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    for (const auto& [name, hash] : reported) CHECK_MESSAGE(Pointer::Of(v.SnapshotContents(name)) == hash, name);
    const std::string after = "after" + std::to_string(round);
    v.Snapshot(after);
    CHECK(v.SnapshotContents(after) == v.Contents());
    MESSAGE("round " << round << ": " << reported.size() << " snapshots before the kill");
  }
}
