// Conductor tests: a randomized run against a shadow model on both backends,
// fault injection on write-back and fdatasync, discard, the change observer,
// the dirty cap, and many threads at once (run under TSan by `make check`).
#include "cache/conductor.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "base/aligned_buffer.h"
#include "support/fault_io.h"
#include "support/io_test_util.h"

using namespace amberfs;
using amberfs::testing::FaultIO;
using amberfs::testing::ScratchDir;

namespace {

constexpr uint64_t kImageSize = 8ull << 20;

void MakeImage(const std::string& path, uint64_t size) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644));
  REQUIRE(fd.valid());
  REQUIRE(ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
}

// `size` bytes of a pattern set by `seed`, written into the image at `offset`
// behind the conductor's back; returns them.
std::vector<uint8_t> PutImageBytes(const std::string& path, uint64_t offset, size_t size, unsigned seed) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * seed + i / 4096);
  UniqueFd fd(open(path.c_str(), O_RDWR));
  REQUIRE(fd.valid());
  REQUIRE(pwrite(fd.get(), bytes.data(), size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size));
  return bytes;
}

std::vector<uint8_t> ReadImage(const std::string& path) {
  std::vector<uint8_t> out(kImageSize);
  UniqueFd fd(open(path.c_str(), O_RDONLY));
  REQUIRE(fd.valid());
  REQUIRE(pread(fd.get(), out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
  return out;
}

std::unique_ptr<BatchIO> Backend(bool uring) {
  if (!uring) return OpenPlainIO();
  auto r = OpenUringIO();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

struct Rig {
  std::string image;
  FaultIO* faults = nullptr;  // owned by the conductor
  std::unique_ptr<Conductor> conductor;
};

Rig Open(const std::string& image, std::unique_ptr<BatchIO> io, ConductorOptions options,
         DeviceOptions device_options = {}) {
  Rig rig;
  rig.image = image;
  auto device = Device::Open(image, device_options);
  REQUIRE(device.ok());
  auto faulty = std::make_unique<FaultIO>(std::move(io));
  rig.faults = faulty.get();
  auto c = Conductor::Open(std::move(device).value(), std::move(faulty), options);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  rig.conductor = std::move(c).value();
  return rig;
}

// Only Flush writes back: the background writer never starts on its own,
// so a test knows exactly which call meets an injected fault.
ConductorOptions FlushOnly();

ConductorOptions SmallCache() {
  ConductorOptions o;
  o.cache_bytes = 256 << 10;  // 64 blocks over a 2048-block image
  o.writeback_age = std::chrono::milliseconds(20);
  return o;
}

ConductorOptions FlushOnly() {
  ConductorOptions o = SmallCache();
  o.writeback_age = std::chrono::hours(1);
  o.writeback_start_ratio = 1.0;
  return o;
}

// stream_read_min as in ConductorOptions: with 8 KiB most of the model's
// reads (up to 64 KiB) are streams that do not fill the cache.
void RandomizedAgainstModel(bool uring, uint64_t stream_read_min = ConductorOptions().stream_read_min) {
  ScratchDir dir("conductor");
  std::string image = dir.File("image");
  MakeImage(image, kImageSize);
  auto io = Backend(uring);
  if (!io) {
    std::printf("SKIP: conductor randomized test on io_uring: io_uring cannot be set up here\n");
    return;
  }
  std::vector<uint8_t> model(kImageSize, 0);
  std::mt19937_64 rng(uring ? 7 : 11);
  {
    ConductorOptions options = SmallCache();
    options.stream_read_min = stream_read_min;
    Rig rig = Open(image, std::move(io), options);
    Conductor& c = *rig.conductor;
    std::vector<uint8_t> buf;
    AlignedBuffer aligned = AlignedBuffer::Uninitialized(4096 + 65536);
    for (int op = 0; op < 4000; ++op) {
      unsigned kind = rng() % 100;
      // Mostly small, sometimes up to 64 KiB, at any offset; clustered in a
      // 1 MiB hot zone half the time so the cache both hits and evicts.
      uint64_t len = (rng() % 4 == 0) ? 1 + rng() % 65536 : 1 + rng() % 9000;
      uint64_t zone = (rng() % 2) ? (1ull << 20) : kImageSize;
      uint64_t off = rng() % (zone - std::min(len, zone - 1));
      len = std::min(len, kImageSize - off);
      if (kind < 45) {
        buf.resize(len);
        for (auto& b : buf) b = static_cast<uint8_t>(rng());
        REQUIRE(c.WriteAt(buf.data(), len, off).ok());
        std::memcpy(model.data() + off, buf.data(), len);
      } else if (kind < 90) {
        buf.assign(len, 0xEE);
        // Half the reads bypass the cache for what it lacks (the capture's
        // scan). Half of each kind go to a buffer placed so that its whole
        // blocks are page-aligned (as the FUSE read buffer and a capture's
        // chunk buffer), which the image is read straight into.
        uint8_t* to = buf.data();
        if (op % 4 >= 2) to = aligned.data() + off % 4096;
        if (op % 2) REQUIRE(c.ReadAt(to, len, off).ok());
        else REQUIRE(c.ReadAtUncached(to, len, off).ok());
        REQUIRE_MESSAGE(std::memcmp(to, model.data() + off, len) == 0, "op " << op << " off " << off << " len " << len);
      } else if (kind < 96) {
        REQUIRE(c.Discard(off, len).ok());
        std::memset(model.data() + off, 0, len);
      } else {
        REQUIRE(c.Flush().ok());
      }
    }
    ConductorStats stats = c.Stats();
    CHECK(stats.read_hits > 0);
    CHECK(stats.read_misses > 0);
    CHECK(stats.evictions > 0);
    CHECK(stats.cached_bytes <= stats.cache_budget_bytes);
    CHECK(std::string(stats.backend) == (uring ? "io_uring" : "plain"));
    REQUIRE(c.Close().ok());
    CHECK(c.ReadAt(buf.data(), 1, 0).code() == ESHUTDOWN);
  }
  CHECK(ReadImage(image) == model);
}

class RecordingObserver : public ChangeObserver {
 public:
  Status WillChange(uint64_t offset, uint64_t length) override {
    std::lock_guard l(mu);
    changes.push_back({offset, length});
    return fail_changes ? Status::Error(EROFS, "observer refuses") : Status::OK();
  }
  Status BeforeImageWrite() override {
    ++image_writes;
    return fail_image_writes ? Status::Error(ENOSPC, "marks cannot be made durable") : Status::OK();
  }
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint64_t>> changes;
  std::atomic<int> image_writes{0};
  std::atomic<bool> fail_changes{false};
  std::atomic<bool> fail_image_writes{false};
};

}  // namespace

TEST_CASE("conductor: randomized against a shadow model, plain backend") { RandomizedAgainstModel(false); }
TEST_CASE("conductor: randomized against a shadow model, io_uring backend") { RandomizedAgainstModel(true); }
TEST_CASE("conductor: randomized against a shadow model, reads of 8 KiB and more as streams") {
  RandomizedAgainstModel(false, 8 << 10);
}

TEST_CASE("conductor: a read loads its whole blocks into a page-aligned buffer and its partial ends through a bounce") {
  ScratchDir dir("conductor");
  std::string image = dir.File("image");
  MakeImage(image, kImageSize);
  const std::vector<uint8_t> old_bytes = PutImageBytes(image, 1 << 20, 64 << 10, 7);
  Rig rig = Open(image, OpenPlainIO(), FlushOnly());
  Conductor& c = *rig.conductor;
  // 100 bytes into block 256 to 100 bytes short of block 271's end: two
  // partial blocks around 14 whole ones, which land page-aligned in `into`.
  const uint64_t off = (1 << 20) + 100, len = (16 << 12) - 200;
  AlignedBuffer aligned = AlignedBuffer::Uninitialized(64 << 10);
  uint8_t* into = aligned.data() + 100;
  std::memset(into, 0xEE, len);
  REQUIRE(c.ReadAt(into, len, off).ok());
  CHECK(std::memcmp(into, old_bytes.data() + 100, len) == 0);
  CHECK(c.Stats().read_misses == 16);
  // The same blocks again, into an unaligned buffer, after the image changed
  // under the cache: every byte must come from the slots the first read filled.
  REQUIRE(PutImageBytes(image, 1 << 20, old_bytes.size(), 5) != old_bytes);
  std::vector<uint8_t> again(old_bytes.size() + 1, 0xEE);
  REQUIRE(c.ReadAt(again.data() + 1, old_bytes.size(), 1 << 20).ok());
  CHECK(std::memcmp(again.data() + 1, old_bytes.data(), old_bytes.size()) == 0);
  CHECK(c.Stats().read_misses == 16);
  CHECK(c.Stats().read_hits == 16);
  REQUIRE(c.Close().ok());
}

// A read of stream_read_min bytes or more reads the blocks it lacks from the
// image without keeping them; a dirty block in its range still comes from
// the cache. Smaller reads, stream_read_min = 0 and an O_DIRECT image fill
// the cache as before.
TEST_CASE("conductor: a stream read does not fill the cache, except on an O_DIRECT image") {
  ScratchDir dir("conductor");
  std::string image = dir.File("image");
  MakeImage(image, kImageSize);
  std::vector<uint8_t> want = PutImageBytes(image, 0, 256 << 10, 13);
  auto run = [&](ConductorOptions o, DeviceOptions d) {
    o.cache_bytes = 1 << 20;
    Rig rig = Open(image, OpenPlainIO(), o, d);
    Conductor& c = *rig.conductor;
    // A block of the range written (dirty, newer than the image).
    std::vector<uint8_t> dirty(4096, 0x77);
    REQUIRE(c.WriteAt(dirty.data(), dirty.size(), 5 * 4096).ok());
    std::copy(dirty.begin(), dirty.end(), want.begin() + 5 * 4096);
    AlignedBuffer buf = AlignedBuffer::Uninitialized(want.size());
    for (int pass = 0; pass < 2; ++pass) {
      REQUIRE(c.ReadAt(buf.data(), want.size(), 0).ok());
      CHECK(std::memcmp(buf.data(), want.data(), want.size()) == 0);
    }
    ConductorStats st = c.Stats();
    REQUIRE(c.Close().ok());
    return st;
  };
  ConductorOptions streaming = FlushOnly();
  streaming.stream_read_min = 128 << 10;
  ConductorStats st = run(streaming, {});
  CHECK(st.read_misses == 2 * 63);  // both passes read the 63 clean blocks from the image
  CHECK(st.read_hits == 2);         // the dirty block, twice
  CHECK(st.cached_bytes == 4096);   // only the dirty block
  ConductorOptions filling = FlushOnly();
  filling.stream_read_min = 0;
  st = run(filling, {});
  CHECK(st.read_misses == 63);
  CHECK(st.read_hits == 1 + 64);
  if (UniqueFd probe(open(image.c_str(), O_RDONLY | O_DIRECT)); !probe.valid()) {
    MESSAGE("SKIP the O_DIRECT image case: " << dir.File("") << " refuses O_DIRECT");
  } else {
    st = run(streaming, DeviceOptions{.direct = true});
    CHECK(st.read_misses == 63);  // filled: an O_DIRECT image has no page cache behind it
    CHECK(st.read_hits == 1 + 64);
  }
}

TEST_CASE("conductor: out-of-range I/O fails at once and changes nothing") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  Rig rig = Open(dir.File("image"), OpenPlainIO(), SmallCache());
  Conductor& c = *rig.conductor;
  char b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(c.ReadAt(b, 8, kImageSize - 4).code() == EINVAL);
  CHECK(c.ReadAtUncached(b, 8, kImageSize - 4).code() == EINVAL);
  CHECK(c.WriteAt(b, 8, kImageSize - 4).code() == EINVAL);
  CHECK(c.WriteAt(b, 8, UINT64_MAX - 2).code() == EINVAL);
  CHECK(c.Discard(kImageSize, 1).code() == EINVAL);
  CHECK(c.Errors().empty());
  // Not poisoned: ordinary I/O right after works, at the very end too.
  REQUIRE(c.WriteAt(b, 8, kImageSize - 8).ok());
  char back[8] = {};
  REQUIRE(c.ReadAt(back, 8, kImageSize - 8).ok());
  CHECK(std::memcmp(b, back, 8) == 0);
  CHECK(c.Flush().ok());
  CHECK(c.DeviceSize() == kImageSize);
}

TEST_CASE("conductor: options that do not fit are refused") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize + 100);
  auto device = Device::Open(dir.File("image"), {});
  REQUIRE(device.ok());
  auto c = Conductor::Open(std::move(device).value(), OpenPlainIO(), {});
  CHECK(c.status().code() == EINVAL);  // size not a multiple of the block size
  MakeImage(dir.File("image2"), kImageSize);
  ConductorOptions tiny;
  tiny.cache_bytes = 4096 * 8;
  auto device2 = Device::Open(dir.File("image2"), {});
  REQUIRE(device2.ok());
  CHECK(Conductor::Open(std::move(device2).value(), OpenPlainIO(), tiny).status().code() == EINVAL);
}

TEST_CASE("conductor: a failed write-back comes back from Flush and the data survives a retry") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  std::vector<uint8_t> data = amberfs::testing::Pattern(40000, 3);
  {
    Rig rig = Open(dir.File("image"), OpenPlainIO(), FlushOnly());
    Conductor& c = *rig.conductor;
    rig.faults->FailWritesInRange(1 << 20, 4096, EIO);
    REQUIRE(c.WriteAt(data.data(), data.size(), (1 << 20) - 1000).ok());
    Status st = c.Flush();
    CHECK(st.code() == EIO);
    CHECK(c.Errors().empty());  // Flush reported and cleared them
    // Still readable from the cache, and still dirty.
    std::vector<uint8_t> back(data.size());
    REQUIRE(c.ReadAt(back.data(), back.size(), (1 << 20) - 1000).ok());
    CHECK(back == data);
    CHECK(c.Stats().dirty_bytes > 0);
    CHECK(c.Stats().write_errors >= 1);
    rig.faults->ClearFaults();
    CHECK(c.Flush().ok());
    CHECK(c.Stats().dirty_bytes == 0);
    REQUIRE(c.Close().ok());
  }
  std::vector<uint8_t> image = ReadImage(dir.File("image"));
  CHECK(std::memcmp(image.data() + (1 << 20) - 1000, data.data(), data.size()) == 0);
}

TEST_CASE("conductor: a background write-back error is listed and returned by the next Flush") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  Rig rig = Open(dir.File("image"), OpenPlainIO(), SmallCache());
  Conductor& c = *rig.conductor;
  rig.faults->FailWritesInRange(0, kImageSize, ENOSPC);
  std::vector<uint8_t> block = amberfs::testing::Pattern(4096, 9);
  REQUIRE(c.WriteAt(block.data(), block.size(), 8192).ok());
  // writeback_age is 20 ms: the writer tries on its own and fails.
  for (int i = 0; i < 200 && c.Errors().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_FALSE(c.Errors().empty());
  CHECK(c.Errors().front().code() == ENOSPC);
  rig.faults->ClearFaults();
  // The retry inside this Flush succeeds, but the earlier failure is still reported once.
  CHECK(c.Flush().code() == ENOSPC);
  // A background write-back that met the fault just before it was cleared may
  // report once more; after that, nothing is left to fail.
  Status again = c.Flush();
  if (!again.ok()) again = c.Flush();
  CHECK(again.ok());
  CHECK(c.Stats().dirty_bytes == 0);
}

TEST_CASE("conductor: after a failed fdatasync the blocks are written again before Flush succeeds") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  Rig rig = Open(dir.File("image"), OpenPlainIO(), FlushOnly());
  Conductor& c = *rig.conductor;
  std::vector<uint8_t> data = amberfs::testing::Pattern(3 * 4096, 5);
  REQUIRE(c.WriteAt(data.data(), data.size(), 4096 * 10).ok());
  rig.faults->FailNextFsyncs(1, EIO);
  CHECK(c.Flush().code() == EIO);
  uint64_t writes_before = rig.faults->counts().write_ops;
  CHECK(c.Stats().dirty_bytes == 3 * 4096);  // re-dirtied, not trusted
  CHECK(c.Flush().ok());
  CHECK(rig.faults->counts().write_ops > writes_before);
  CHECK(c.Stats().fsync_errors == 1);
}

TEST_CASE("conductor: a full dirty cache over a failing device fails writes instead of hanging") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  ConductorOptions o = SmallCache();
  o.dirty_max_bytes = 16 * 4096;
  Rig rig = Open(dir.File("image"), OpenPlainIO(), o);
  Conductor& c = *rig.conductor;
  rig.faults->FailWritesInRange(0, kImageSize, EIO);
  std::vector<uint8_t> block(4096, 0x5A);
  Status st;
  int accepted = 0;
  for (int i = 0; i < 64 && st.ok(); ++i) {
    st = c.WriteAt(block.data(), 4096, uint64_t(i) * 4096);
    if (st.ok()) ++accepted;
  }
  CHECK(st.code() == EIO);
  CHECK(accepted >= 16);
  rig.faults->ClearFaults();
  CHECK(c.Flush().code() == EIO);  // the failures are reported once
  CHECK(c.Flush().ok());
  // Everything accepted reached the image.
  REQUIRE(c.Close().ok());
  std::vector<uint8_t> image = ReadImage(dir.File("image"));
  for (int i = 0; i < accepted; ++i) CHECK(image[uint64_t(i) * 4096 + 100] == 0x5A);
}

TEST_CASE("conductor: discard drops cached and dirty blocks and punches the image") {
  ScratchDir dir("conductor");
  std::string image = dir.File("image");
  MakeImage(image, kImageSize);
  std::vector<uint8_t> data = amberfs::testing::Pattern(1 << 20, 4);
  {
    Rig rig = Open(image, OpenPlainIO(), SmallCache());
    Conductor& c = *rig.conductor;
    REQUIRE(c.WriteAt(data.data(), data.size(), 0).ok());
    REQUIRE(c.Flush().ok());
    struct stat before;
    REQUIRE(stat(image.c_str(), &before) == 0);
    // Dirty again in part, then discard an unaligned range over it.
    REQUIRE(c.WriteAt(data.data(), 8192, 4096).ok());
    REQUIRE(c.Discard(1000, 600000).ok());
    std::vector<uint8_t> back(1 << 20);
    REQUIRE(c.ReadAt(back.data(), back.size(), 0).ok());
    CHECK(std::memcmp(back.data(), data.data(), 1000) == 0);
    for (size_t i = 1000; i < 601000; ++i) REQUIRE(back[i] == 0);
    CHECK(std::memcmp(back.data() + 601000, data.data() + 601000, back.size() - 601000) == 0);
    REQUIRE(c.Flush().ok());
    struct stat after;
    REQUIRE(stat(image.c_str(), &after) == 0);
    CHECK(after.st_blocks < before.st_blocks);
    REQUIRE(c.Close().ok());
  }
  std::vector<uint8_t> on_disk = ReadImage(image);
  CHECK(std::memcmp(on_disk.data(), data.data(), 1000) == 0);
  for (size_t i = 1000; i < 601000; ++i) REQUIRE(on_disk[i] == 0);
  CHECK(std::memcmp(on_disk.data() + 601000, data.data() + 601000, (1 << 20) - 601000) == 0);
}

TEST_CASE("conductor: the observer hears of every change first and can veto it") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  RecordingObserver observer;
  ConductorOptions o = FlushOnly();
  o.observer = &observer;
  Rig rig = Open(dir.File("image"), OpenPlainIO(), o);
  Conductor& c = *rig.conductor;
  std::vector<uint8_t> a(5000, 0xA1);
  REQUIRE(c.WriteAt(a.data(), a.size(), 123).ok());
  REQUIRE(c.Discard(65536, 65536).ok());
  {
    std::lock_guard l(observer.mu);
    REQUIRE(observer.changes.size() == 2);
    CHECK(observer.changes[0] == std::make_pair<uint64_t, uint64_t>(123, 5000));
    CHECK(observer.changes[1] == std::make_pair<uint64_t, uint64_t>(65536, 65536));
  }
  observer.fail_changes = true;
  std::vector<uint8_t> b(100, 0xB2);
  CHECK(c.WriteAt(b.data(), b.size(), 200).code() == EROFS);
  std::vector<uint8_t> back(100);
  REQUIRE(c.ReadAt(back.data(), back.size(), 200).ok());
  CHECK(back == std::vector<uint8_t>(100, 0xA1));  // the vetoed write changed nothing
  observer.fail_changes = false;

  // Marks that cannot be made durable keep the data out of the image.
  observer.fail_image_writes = true;
  uint64_t writes = rig.faults->counts().write_ops;
  CHECK(c.Flush().code() == ENOSPC);
  CHECK(rig.faults->counts().write_ops == writes);
  CHECK(c.Stats().dirty_bytes > 0);
  observer.fail_image_writes = false;
  int before = observer.image_writes.load();
  CHECK(c.Flush().ok());
  CHECK(observer.image_writes.load() > before);
  CHECK(rig.faults->counts().write_ops > writes);
}

TEST_CASE("conductor: write-back is sorted and coalesced") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  ConductorOptions o;
  o.cache_bytes = 4 << 20;
  o.writeback_age = std::chrono::hours(1);  // only Flush writes back here
  Rig rig = Open(dir.File("image"), OpenPlainIO(), o);
  Conductor& c = *rig.conductor;
  std::vector<uint8_t> block(4096, 1);
  // 64 adjacent blocks written in reverse order, plus one far away.
  for (int i = 63; i >= 0; --i) REQUIRE(c.WriteAt(block.data(), 4096, 4096 * uint64_t(100 + i)).ok());
  REQUIRE(c.WriteAt(block.data(), 4096, 4096 * 1000).ok());
  REQUIRE(c.Flush().ok());
  CHECK(rig.faults->counts().write_ops == 2);
  CHECK(c.Stats().writeback_requests == 2);
  CHECK(c.Stats().writeback_direct_requests == 0);  // not asked for (DeviceOptions)
  CHECK(c.Stats().writeback_bytes == 65 * 4096);
}

TEST_CASE("conductor: with direct_scattered_writes, scattered blocks are written back with O_DIRECT, long runs through the page cache") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  ConductorOptions o;
  o.cache_bytes = 4 << 20;
  o.writeback_age = std::chrono::hours(1);  // only Flush writes back here
  std::unique_ptr<BatchIO> io = Backend(true);
  if (!io) io = OpenPlainIO();
  Rig rig = Open(dir.File("image"), std::move(io), o, DeviceOptions{.direct_scattered_writes = true});
  Conductor& c = *rig.conductor;
  std::vector<uint8_t> run = amberfs::testing::Pattern(64 * 4096, 21);
  std::vector<uint8_t> lone = amberfs::testing::Pattern(4096, 22);
  std::vector<uint8_t> pair = amberfs::testing::Pattern(2 * 4096, 23);
  REQUIRE(c.WriteAt(run.data(), run.size(), 4096 * 100).ok());   // 256 KiB: the page cache
  REQUIRE(c.WriteAt(lone.data(), lone.size(), 4096 * 7).ok());   // O_DIRECT
  REQUIRE(c.WriteAt(pair.data(), pair.size(), 4096 * 900).ok()); // O_DIRECT
  REQUIRE(c.Flush().ok());
  ConductorStats stats = c.Stats();
  CHECK(stats.writeback_requests == 3);
  UniqueFd probe(open(dir.File("image").c_str(), O_RDWR | O_DIRECT));
  if (!probe.valid()) {
    std::printf("SKIP: O_DIRECT write-back check: %s refuses O_DIRECT\n", dir.File("image").c_str());
    CHECK(stats.writeback_direct_requests == 0);
  } else {
    CHECK(stats.writeback_direct_requests == 2);
  }
  REQUIRE(c.Close().ok());
  std::vector<uint8_t> image = ReadImage(dir.File("image"));
  CHECK(std::memcmp(image.data() + 4096 * 100, run.data(), run.size()) == 0);
  CHECK(std::memcmp(image.data() + 4096 * 7, lone.data(), lone.size()) == 0);
  CHECK(std::memcmp(image.data() + 4096 * 900, pair.data(), pair.size()) == 0);
}

TEST_CASE("conductor: an image that refuses O_DIRECT writes (EINVAL) is written through the page cache from then on") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  Rig rig = Open(dir.File("image"), OpenPlainIO(), FlushOnly(), DeviceOptions{.direct_scattered_writes = true});
  Conductor& c = *rig.conductor;
  rig.faults->FailNthWrite(1, EINVAL);  // the first write-back request: a scattered block
  std::vector<uint8_t> a = amberfs::testing::Pattern(4096, 31), b = amberfs::testing::Pattern(4096, 32);
  REQUIRE(c.WriteAt(a.data(), a.size(), 4096 * 3).ok());
  REQUIRE(c.Flush().ok());  // written again through the page cache, no error
  CHECK(c.Errors().empty());
  REQUIRE(c.WriteAt(b.data(), b.size(), 4096 * 500).ok());
  REQUIRE(c.Flush().ok());
  ConductorStats stats = c.Stats();
  CHECK(stats.writeback_direct_requests == 0);
  CHECK(stats.writeback_requests == 2);
  CHECK(stats.write_errors == 0);
  REQUIRE(c.Close().ok());
  std::vector<uint8_t> image = ReadImage(dir.File("image"));
  CHECK(std::memcmp(image.data() + 4096 * 3, a.data(), a.size()) == 0);
  CHECK(std::memcmp(image.data() + 4096 * 500, b.data(), b.size()) == 0);
}

TEST_CASE("conductor: concurrent Flush callers share fdatasyncs") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  ConductorOptions o = SmallCache();
  o.sync_delay = std::chrono::microseconds(2000);
  bool shared = true;
  SUBCASE("group commit") {}
  SUBCASE("without group commit (the benchmark's baseline)") {
    o.group_commit = false;
    shared = false;
  }
  Rig rig = Open(dir.File("image"), OpenPlainIO(), o);
  Conductor& c = *rig.conductor;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  constexpr int kThreads = 8, kRounds = 25;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> block(4096, static_cast<uint8_t>(t));
      for (int i = 0; i < kRounds; ++i) {
        if (!c.WriteAt(block.data(), 4096, 4096 * uint64_t(t * kRounds + i)).ok()) failed = true;
        if (!c.Flush().ok()) failed = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_FALSE(failed.load());
  ConductorStats s = c.Stats();
  CHECK(s.flushes == kThreads * kRounds);
  if (shared) CHECK(s.fsyncs < s.flushes);
  else CHECK(s.fsyncs >= s.flushes);  // background syncs may add some
  MESSAGE("flushes " << s.flushes << ", fdatasyncs " << s.fsyncs);
}

TEST_CASE("conductor: many threads writing, reading and flushing at once") {
  ScratchDir dir("conductor");
  MakeImage(dir.File("image"), kImageSize);
  std::string image = dir.File("image");
  constexpr int kWriters = 4;
  constexpr uint64_t kRegion = 256 << 10;
  std::vector<std::vector<uint8_t>> final_content(kWriters);
  {
    Rig rig = Open(image, OpenPlainIO(), SmallCache());
    Conductor& c = *rig.conductor;
    std::atomic<bool> stop{false}, failed{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        // Each writer owns a region; it checks its own writes as it goes.
        std::mt19937 rng(w);
        std::vector<uint8_t> mine(kRegion, 0);
        uint64_t base = uint64_t(w) * kRegion;
        for (int i = 0; i < 400; ++i) {
          uint64_t len = 1 + rng() % 20000, off = rng() % (kRegion - len);
          std::vector<uint8_t> buf(len, static_cast<uint8_t>(rng()));
          if (!c.WriteAt(buf.data(), len, base + off).ok()) failed = true;
          std::memcpy(mine.data() + off, buf.data(), len);
          std::vector<uint8_t> back(len);
          // Read-your-writes holds through the cache and around it alike.
          Status read = i % 2 ? c.ReadAt(back.data(), len, base + off) : c.ReadAtUncached(back.data(), len, base + off);
          if (!read.ok() || back != buf) failed = true;
        }
        final_content[w] = mine;
      });
    }
    // A shared zone written by everyone, plus readers of everything and a flusher.
    threads.emplace_back([&] {
      std::vector<uint8_t> buf(9000, 0x77);
      while (!stop) {
        if (!c.WriteAt(buf.data(), buf.size(), 4 * kRegion + 777).ok()) failed = true;
      }
    });
    threads.emplace_back([&] {
      std::vector<uint8_t> buf(65536);
      std::mt19937 rng(99);
      while (!stop) {
        uint64_t off = rng() % (kImageSize - buf.size());
        if (!(rng() % 2 ? c.ReadAt(buf.data(), buf.size(), off) : c.ReadAtUncached(buf.data(), buf.size(), off)).ok())
          failed = true;
      }
    });
    threads.emplace_back([&] {
      while (!stop) {
        if (!c.Flush().ok()) failed = true;
        if (!c.Discard(6 * kRegion, 2 * kRegion).ok()) failed = true;
      }
    });
    for (int w = 0; w < kWriters; ++w) threads[w].join();
    stop = true;
    for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
    CHECK_FALSE(failed.load());
    REQUIRE(c.Close().ok());
  }
  std::vector<uint8_t> on_disk = ReadImage(image);
  for (int w = 0; w < kWriters; ++w)
    CHECK(std::memcmp(on_disk.data() + uint64_t(w) * kRegion, final_content[w].data(), kRegion) == 0);
  CHECK(on_disk[4 * kRegion + 777] == 0x77);
}
