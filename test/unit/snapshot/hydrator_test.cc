// Hydrator (hydrator.h): a clone's remote chunks fetched into its image. A
// real origin (chunk blobs and index nodes packed in a file:// slow store, a
// record) and a clone of it (sparse image, its own fast store, RemoteChunks
// of the non-null chunks): EnsureLocal writes exactly the chunks' bytes and
// records them; concurrent callers each get correct bytes and every chunk
// is fetched once; sequential access reads ahead; HydrateAll fetches the
// rest and removes the remote files, or stops when cancelled; a slow store
// that is down or holds a damaged blob is EIO naming the chunk, never wrong
// bytes, and the next call tries again.
#include "snapshot/hydrator.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "snapshot/index_tree.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/slow_packs.h"
#include "support/eventually.h"
#include "support/fault_store.h"
#include "support/slow_store_damage.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FaultStore;
using testing::TempDir;

constexpr uint32_t kChunk = 4096;
constexpr uint64_t kChunks = 64;
constexpr uint64_t kSize = kChunks * kChunk - 1000;  // a partial last chunk
constexpr uint32_t kFanout = 4;                      // a tree of three levels

PairedOptions ShortRetries() {
  PairedOptions o;
  o.upload_workers = 2;
  o.retry_initial = 5ms;
  o.retry_max = 20ms;
  return o;
}

// Chunks 2, 5, 8, ... and 40..47 are null in the origin (26 of 64); 13
// holds the same blob as 10; the rest differ.
bool IsNullChunk(uint64_t c) { return c % 3 == 2 || (c >= 40 && c < 48); }
uint64_t ChunkLen(uint64_t c) { return std::min<uint64_t>(kChunk, kSize - c * kChunk); }

struct CloneRig {
  TempDir dir{"hydrator"};
  std::string slow_dir = dir / "slow";
  std::string voldir = dir / "clone";
  std::string image = voldir + "/image";
  std::vector<uint8_t> origin;   // the origin snapshot's bytes
  std::vector<uint64_t> remote;  // its non-null chunks
  std::vector<Pointer> pointers = std::vector<Pointer>(kChunks);
  uint64_t remote_bytes = 0;
  Pointer record;
  FaultStore* slow = nullptr;  // the clone's raw slow store, under its SlowPacks
  std::unique_ptr<PairedStore> store;
  std::unique_ptr<Hydrator> hydrator;

  CloneRig() {
    MakeOrigin();
    REQUIRE(::mkdir(voldir.c_str(), 0700) == 0);
    const int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(kSize)) == 0);
    ::close(fd);
    OpenStore();
    Status st = RemoteChunks::Create(voldir, RemoteOrigin{"base", record}, kChunks, remote);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  ~CloneRig() {
    hydrator.reset();
    store.reset();
  }

  // The origin volume's snapshot "base", drained into the slow store: its
  // chunk blobs and index nodes in packs (one batch), its record loose.
  void MakeOrigin() {
    origin.assign(kSize, 0);
    auto fast = PackedDiskStore::Open(dir / "origin-fast");
    REQUIRE(fast.ok());
    auto paired = PairedStore::Open(std::move(fast).value(), testing::OpenSlowDir(slow_dir), dir / "origin-upload.log",
                                    ShortRetries());
    REQUIRE_MESSAGE(paired.ok(), paired.status().ToString());
    std::unique_ptr<PutBatch> batch = (*paired)->NewPutBatch();
    std::vector<ChunkPointer> changes;
    for (uint64_t c = 0; c < kChunks; ++c) {
      if (IsNullChunk(c)) continue;
      const std::vector<uint8_t> data = testing::TestBlob(static_cast<int>(c == 13 ? 10 : c), ChunkLen(c));
      std::copy(data.begin(), data.end(), origin.begin() + static_cast<ptrdiff_t>(c * kChunk));
      pointers[c] = Pointer::Of(data);
      if (c != 13) REQUIRE(batch->Put(pointers[c], data).ok());
      changes.push_back(ChunkPointer{c, pointers[c]});
      remote.push_back(c);
      remote_bytes += data.size();
    }
    auto geo = IndexGeometry::Make(kChunks, kFanout);
    REQUIRE(geo.ok());
    IndexTree tree(paired->get(), *geo, 0);
    auto root = tree.Update(Pointer(), changes, nullptr, batch.get());
    REQUIRE_MESSAGE(root.ok(), root.status().ToString());
    REQUIRE(batch->Commit().ok());
    SnapshotRecord rec;
    rec.name = "base";
    rec.created_ns = 1;
    rec.volume_size = kSize;
    rec.chunk_size = kChunk;
    rec.fanout = kFanout;
    rec.depth = geo->depth;
    rec.root = *root;
    auto bytes = EncodeSnapshotRecord(rec);
    REQUIRE(bytes.ok());
    record = Pointer::Of(*bytes);
    REQUIRE((*paired)->Put(record, *bytes).ok());
    Status drained = (*paired)->Drain(10s);
    REQUIRE_MESSAGE(drained.ok(), drained.ToString());
  }

  // The clone's PairedStore: its own fast store, the origin's slow store
  // (behind a FaultStore, as every slow store is opened: in a SlowPacks).
  void OpenStore() {
    auto fast = PackedDiskStore::Open(voldir + "/fast");
    REQUIRE(fast.ok());
    auto disk = DiskStore::Open(slow_dir);
    REQUIRE(disk.ok());
    auto fault = std::make_unique<FaultStore>(std::move(disk).value(), "slow");
    slow = fault.get();
    auto packs = std::make_unique<SlowPacks>(std::move(fault), SlowPacksOptions{0ms});
    auto paired = PairedStore::Open(std::move(fast).value(), std::move(packs), voldir + "/upload.log", ShortRetries());
    REQUIRE_MESSAGE(paired.ok(), paired.status().ToString());
    store = std::move(paired).value();
  }

  Hydrator& Open(HydratorOptions options = {}) {
    hydrator.reset();
    auto h = Hydrator::Open(voldir, image, store.get(), options);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
    REQUIRE(*h);
    hydrator = std::move(h).value();
    return *hydrator;
  }

  std::vector<uint8_t> Image(uint64_t offset = 0, uint64_t length = kSize) const {
    std::vector<uint8_t> out(length);
    const int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ssize_t n = ::pread(fd, out.data(), length, static_cast<off_t>(offset));
    ::close(fd);
    REQUIRE(n == static_cast<ssize_t>(length));
    return out;
  }
  std::vector<uint8_t> Origin(uint64_t offset, uint64_t length) const {
    return std::vector<uint8_t>(origin.begin() + static_cast<ptrdiff_t>(offset),
                                origin.begin() + static_cast<ptrdiff_t>(offset + length));
  }
  std::vector<uint8_t> ChunkOfImage(uint64_t c) const { return Image(c * kChunk, ChunkLen(c)); }
  bool ChunkIsZero(uint64_t c) const {
    const std::vector<uint8_t> b = ChunkOfImage(c);
    return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
  }
  bool Exists(const char* name) const { return ::access(VolumePath(voldir, name).c_str(), F_OK) == 0; }
  std::unique_ptr<RemoteChunks> RemoteReadOnly() const {
    auto r = RemoteChunks::Open(voldir, true);
    REQUIRE(r.ok());
    return std::move(r).value();
  }
};

TEST_CASE("Hydrator: EnsureLocal writes exactly the remote chunks of a range into the image and records them") {
  CloneRig rig;
  REQUIRE(rig.remote.size() == 38);
  Hydrator& h = rig.Open();
  CHECK(h.Stats().remote_chunks == rig.remote.size());
  CHECK(h.Stats().fetched_chunks == 0);
  CHECK(h.PinnedSnapshot() == "base");

  // Chunks 3..7 (of which 5 is null), the range starting and ending inside chunks.
  REQUIRE(h.EnsureLocal(3 * kChunk + 100, 4 * kChunk).ok());
  HydratorStats s = h.Stats();
  CHECK(s.fetched_chunks == 4);
  CHECK(s.fetched_bytes == 4 * kChunk);
  CHECK(s.remote_chunks == rig.remote.size() - 4);
  CHECK(s.fetch_errors == 0);
  std::vector<uint8_t> want(kSize, 0);
  for (uint64_t c : {3, 4, 6, 7})
    std::copy_n(rig.origin.begin() + static_cast<ptrdiff_t>(c * kChunk), kChunk,
                want.begin() + static_cast<ptrdiff_t>(c * kChunk));
  CHECK(rig.Image() == want);  // those chunks, nothing else

  // Again: nothing to fetch.
  REQUIRE(h.EnsureLocal(3 * kChunk, 5 * kChunk).ok());
  CHECK(h.Stats().fetched_chunks == 4);

  // The partial last chunk; chunks 10..14: 13's blob is 10's, 11 and 14 are null.
  REQUIRE(h.EnsureLocal(kSize - 10, 10).ok());
  REQUIRE(h.EnsureLocal(10 * kChunk + 5, 4 * kChunk).ok());
  CHECK(rig.ChunkOfImage(63) == rig.Origin(63 * kChunk, ChunkLen(63)));
  CHECK(ChunkLen(63) == kChunk - 1000);
  CHECK(rig.ChunkOfImage(10) == rig.Origin(10 * kChunk, kChunk));
  CHECK(rig.ChunkOfImage(12) == rig.Origin(12 * kChunk, kChunk));
  CHECK(rig.ChunkOfImage(13) == rig.ChunkOfImage(10));
  CHECK(rig.ChunkIsZero(11));
  CHECK(h.Stats().fetched_chunks == 8);
  CHECK(h.Stats().fetched_bytes == 7 * kChunk + ChunkLen(63));
  CHECK(rig.ChunkIsZero(0));
  rig.hydrator.reset();

  // Recorded: local after a reopen, the rest still remote.
  auto rc = rig.RemoteReadOnly();
  REQUIRE(rc);
  CHECK(rc->remaining() == rig.remote.size() - 8);
  for (uint64_t c : {3, 4, 6, 7, 10, 12, 13, 63}) CHECK_FALSE_MESSAGE(rc->IsRemote(c), "chunk ", c);
  for (uint64_t c : {0, 1, 9, 15, 60}) CHECK_MESSAGE(rc->IsRemote(c), "chunk ", c);
  CHECK(rig.Open().Stats().remote_chunks == rig.remote.size() - 8);
}

TEST_CASE("Hydrator: null chunks cost nothing, even with the slow store down") {
  CloneRig rig;
  Hydrator& h = rig.Open();
  rig.slow->SetDown(true);
  CHECK(h.EnsureLocal(40 * kChunk, 8 * kChunk).ok());  // a run of null chunks
  CHECK(h.EnsureLocal(2 * kChunk + 7, 100).ok());      // one
  CHECK(h.EnsureLocal(0, 0).ok());                      // nothing
  CHECK(h.Stats().fetched_chunks == 0);
  CHECK(h.Stats().fetch_errors == 0);
  CHECK(h.Stats().remote_chunks == rig.remote.size());
  // The store really is down for a chunk with data.
  CHECK(h.EnsureLocal(39 * kChunk, 1).code() == EIO);
}

TEST_CASE("Hydrator: concurrent EnsureLocal of overlapping ranges: correct bytes for all, each chunk fetched once") {
  CloneRig rig;
  rig.slow->SetDelay(2ms);  // fetches overlap
  HydratorOptions o;
  o.readahead_threads = 2;
  Hydrator& h = rig.Open(o);
  std::atomic<int> bad{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      for (int i = 0; i < 12; ++i) {
        const uint64_t off = rng() % kSize;
        const uint64_t len = 1 + rng() % std::min<uint64_t>(kSize - off, 12 * kChunk);
        if (!h.EnsureLocal(off, len).ok()) {
          ++failed;
          continue;
        }
        if (rig.Image(off, len) != rig.Origin(off, len)) ++bad;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(bad == 0);
  REQUIRE(h.EnsureLocal(0, kSize).ok());
  h.Stop();
  CHECK(rig.Image() == rig.origin);
  const HydratorStats s = h.Stats();
  CHECK(s.fetched_chunks == rig.remote.size());
  CHECK(s.fetched_bytes == rig.remote_bytes);
  CHECK(s.remote_chunks == 0);
  CHECK(s.fetch_errors == 0);
  CHECK_FALSE(rig.Exists(kRemoteChunksFile));
}

TEST_CASE("Hydrator: HydrateAll fetches every remote chunk, removes the remote files and unpins the origin") {
  CloneRig rig;
  HydratorOptions o;
  o.threads = 4;
  o.max_window_chunks = 8;  // several windows
  Hydrator& h = rig.Open(o);
  REQUIRE(h.EnsureLocal(0, kChunk).ok());  // one already local
  CHECK(h.PinnedSnapshot() == "base");
  auto reply = h.HydrateAll();
  REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
  CHECK(reply->chunks == rig.remote.size() - 1);
  CHECK(reply->bytes == rig.remote_bytes - kChunk);
  CHECK(reply->ToString().find("chunks " + std::to_string(rig.remote.size() - 1) + "\n") == 0);
  CHECK(h.PinnedSnapshot() == "");
  CHECK(h.Stats().remote_chunks == 0);
  CHECK_FALSE(h.Stats().hydrating);
  CHECK_FALSE(rig.Exists(kRemoteChunksFile));
  CHECK_FALSE(rig.Exists(kRemoteLogFile));
  CHECK(rig.Image() == rig.origin);
  CHECK(h.EnsureLocal(0, kSize).ok());
  rig.hydrator.reset();
  auto again = Hydrator::Open(rig.voldir, rig.image, rig.store.get());
  REQUIRE(again.ok());
  CHECK(*again == nullptr);
}

TEST_CASE("Hydrator: HydrateAll stops with EINTR when cancelled, and a later one finishes") {
  CloneRig rig;
  HydratorOptions o;
  o.threads = 1;
  o.max_window_chunks = 8;
  Hydrator& h = rig.Open(o);
  auto at_once = h.HydrateAll([] { return true; });
  CHECK(at_once.status().code() == EINTR);
  CHECK(h.Stats().fetched_chunks == 0);
  CHECK(h.Stats().remote_chunks == rig.remote.size());
  CHECK_FALSE(h.Stats().hydrating);
  CHECK(h.PinnedSnapshot() == "base");

  int asked = 0;
  auto later = h.HydrateAll([&] { return ++asked > 2; });  // two windows, then stop
  CHECK(later.status().code() == EINTR);
  const uint64_t fetched = h.Stats().fetched_chunks;
  CHECK(fetched > 0);
  CHECK(fetched < rig.remote.size());
  CHECK(h.Stats().remote_chunks == rig.remote.size() - fetched);
  CHECK(rig.Exists(kRemoteChunksFile));

  auto done = h.HydrateAll();
  REQUIRE_MESSAGE(done.ok(), done.status().ToString());
  CHECK(done->chunks == rig.remote.size() - fetched);
  CHECK(rig.Image() == rig.origin);
  CHECK(h.PinnedSnapshot() == "");
}

TEST_CASE("Hydrator: sequential access reads ahead; random access does not") {
  CloneRig rig;
  HydratorOptions o;
  o.readahead_threads = 2;
  o.max_window_chunks = 16;
  SUBCASE("sequential") {
    Hydrator& h = rig.Open(o);
    for (uint64_t c = 0; c < 4; ++c) REQUIRE(h.EnsureLocal(c * kChunk, kChunk).ok());
    // Asked for chunks 0..3: 0, 1 and 3 are remote.
    CHECK(Eventually([&] { return h.Stats().fetched_chunks >= 10; }));
    h.Stop();
    CHECK(h.Stats().fetched_chunks > 3);
    CHECK(h.Stats().fetch_errors == 0);
    // Fetched ahead without being asked, with the right bytes.
    CHECK(rig.ChunkOfImage(9) == rig.Origin(9 * kChunk, kChunk));
    CHECK(rig.ChunkOfImage(4) == rig.Origin(4 * kChunk, kChunk));
    // After Stop, accesses still work.
    REQUIRE(h.EnsureLocal(60 * kChunk, kChunk).ok());
    CHECK(rig.ChunkOfImage(60) == rig.Origin(60 * kChunk, kChunk));
  }
  SUBCASE("random") {
    Hydrator& h = rig.Open(o);
    for (uint64_t c : {30, 0, 21, 9, 51}) REQUIRE(h.EnsureLocal(c * kChunk, kChunk).ok());
    h.Stop();  // joins the read-ahead threads: anything they were given is done
    CHECK(h.Stats().fetched_chunks == 5);
    CHECK(rig.ChunkIsZero(1));
    CHECK(rig.ChunkIsZero(31));
  }
}

TEST_CASE("Hydrator: a slow store that fails is EIO naming the chunk; the chunk stays remote; the next call works") {
  CloneRig rig;
  Hydrator& h = rig.Open();
  // Chunk 15 first: its leaf (chunks 12..15) and the nodes above it are
  // cached, so what fails below is the blob's download, not a lookup.
  REQUIRE(h.EnsureLocal(15 * kChunk, kChunk).ok());
  const uint64_t remote = rig.remote.size() - 1;
  SUBCASE("down") { rig.slow->SetDown(true); }
  SUBCASE("its reads fail") { rig.slow->Fail(FaultStore::Op::kGet, EIO); }
  Status st = h.EnsureLocal(12 * kChunk + 1, 10);
  CHECK(st.code() == EIO);
  CHECK_MESSAGE(st.message().find("chunk 12") != std::string::npos, st.ToString());
  HydratorStats s = h.Stats();
  CHECK(s.fetch_errors == 1);
  CHECK(s.fetched_chunks == 1);
  CHECK(s.remote_chunks == remote);
  CHECK(rig.ChunkIsZero(12));
  CHECK(h.PinnedSnapshot() == "base");
  CHECK(rig.RemoteReadOnly()->IsRemote(12));
  // HydrateAll fails too.
  auto all = h.HydrateAll();
  CHECK(all.status().code() == EIO);
  CHECK(h.Stats().remote_chunks == remote);

  rig.slow->Clear();
  st = h.EnsureLocal(12 * kChunk + 1, 10);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(rig.ChunkOfImage(12) == rig.Origin(12 * kChunk, kChunk));
  CHECK(h.Stats().remote_chunks == remote - 1);
  CHECK_FALSE(rig.RemoteReadOnly()->IsRemote(12));
}

TEST_CASE("Hydrator: a damaged blob in the slow store is EIO, never wrong bytes in the image") {
  CloneRig rig;
  Hydrator& h = rig.Open();
  REQUIRE(testing::FlipSlowBlob(rig.slow_dir, rig.pointers[16], 100));
  Status st = h.EnsureLocal(16 * kChunk, kChunk);
  CHECK(st.code() == EIO);
  CHECK_MESSAGE(st.message().find("chunk 16") != std::string::npos, st.ToString());
  CHECK(rig.ChunkIsZero(16));
  CHECK(h.Stats().fetch_errors == 1);
  CHECK(h.Stats().remote_chunks == rig.remote.size());
  // In a range with good chunks: still EIO, chunk 16 never written, and
  // what is recorded local holds the origin's bytes.
  st = h.EnsureLocal(15 * kChunk, 3 * kChunk);
  CHECK(st.code() == EIO);
  CHECK(rig.ChunkIsZero(16));
  auto rc = rig.RemoteReadOnly();
  CHECK(rc->IsRemote(16));
  for (uint64_t c = 0; c < kChunks; ++c)
    if (!rc->IsRemote(c)) CHECK(rig.ChunkOfImage(c) == rig.Origin(c * kChunk, ChunkLen(c)));
  // Repaired (flipped back): fetched.
  REQUIRE(testing::FlipSlowBlob(rig.slow_dir, rig.pointers[16], 100));
  REQUIRE(h.EnsureLocal(16 * kChunk, kChunk).ok());
  CHECK(rig.ChunkOfImage(16) == rig.Origin(16 * kChunk, kChunk));
}

}  // namespace
}  // namespace amberfs
