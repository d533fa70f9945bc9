// PackWriter and PackReader (pack_file.h) on real files: what a sealed pack
// holds, concurrent appends, damage found on read, faults while sealing.
#include "store/pack_file.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/durable_file.h"
#include "support/fault_file_ops.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::FaultFileOps;
using testing::TempDir;
using testing::TestBlob;

std::vector<std::string> Files(const std::string& dir) { return testing::DirEntries(dir); }
void PokeByte(const std::string& path, off_t offset) { REQUIRE(testing::FlipByte(path, offset)); }




// Whether files in `dir` open with O_DIRECT (as PackWriter::Create tries).
bool TakesDirect(const std::string& dir) {
  const std::string probe = dir + "/direct-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

// Directories to run in: /tmp (O_DIRECT where it is a disk filesystem) and
// /dev/shm (tmpfs refuses O_DIRECT: the buffered path).
std::vector<std::string> Bases() {
  std::vector<std::string> bases = {"/tmp"};
  struct stat st;
  if (::stat("/dev/shm", &st) == 0) bases.push_back("/dev/shm");
  return bases;
}

TEST_CASE("pack file: sealed under its name, every blob reads back and verifies") {
  for (const std::string& base : Bases()) {
    CAPTURE(base);
    TempDir dir("pack", base.c_str());
    std::vector<std::vector<uint8_t>> blobs = {TestBlob(1, 65536), TestBlob(2, 8192), TestBlob(3, 200), {}, TestBlob(4, 65536),
                                               TestBlob(5, 4097)};
    auto w = PackWriter::Create(dir.path());
    REQUIRE(w.ok());
    for (size_t i = 0; i < blobs.size(); ++i) {
      auto e = (*w)->Append(Pointer::Of(blobs[i]), blobs[i], static_cast<uint32_t>(i % 4));
      REQUIRE(e.ok());
      CHECK(e->offset % 4096 == 0);
      CHECK(e->length == blobs[i].size());
    }
    // Appending a blob again stores nothing new.
    auto again = (*w)->Append(Pointer::Of(blobs[0]), blobs[0]);
    REQUIRE(again.ok());
    CHECK(again->offset == 0);
    CHECK((*w)->blob_count() == blobs.size());
    auto sealed = (*w)->Seal();
    REQUIRE(sealed.ok());
    CHECK(Files(dir.path()) == std::vector<std::string>{sealed->name.Hex()});
    const std::string path = dir / sealed->name.Hex();
    CHECK(static_cast<uint64_t>(std::filesystem::file_size(path)) == sealed->size);
    CHECK((*w)->Append(Pointer::Of(blobs[1]), blobs[1]).status().code() == EINVAL);  // sealed
    w->reset();
    CHECK(Files(dir.path()).size() == 1);  // the sealed pack stays

    auto r = PackReader::Open(path, sealed->name);
    REQUIRE(r.ok());
    CHECK((*r)->entries() == sealed->entries);
    for (const auto& b : blobs) CHECK((*r)->Read(Pointer::Of(b)).value() == b);
    CHECK((*r)->Read(Pointer::Of(TestBlob(9, 10))).status().code() == ENOENT);
    CHECK((*r)->VerifyAll().ok());
    auto whole = ReadSmallFile(path, kNoSizeLimit);
    REQUIRE(whole.ok());
    auto decoded = DecodePack(*whole, "p");
    REQUIRE(decoded.ok());
    CHECK(VerifyPackBlobs(*whole, *decoded, "p").ok());
  }
}

TEST_CASE("pack file: concurrent appends all land, in offset order, with write-out started meanwhile") {
  TempDir dir("pack");
  auto w = PackWriter::Create(dir.path(), PackWriterOptions{.target_bytes = 1 << 20, .align = 4096});
  REQUIRE(w.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::vector<uint8_t> b = TestBlob(t * 1000 + i, i % 3 == 0 ? 300 : 16384);
        CHECK((*w)->Append(Pointer::Of(b), b).ok());
      }
    });
  }
  // A batch starts the write-out of a pack it sets aside while late appends may still run.
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) {
      (*w)->StartWriteOut();
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  (*w)->StartWriteOut();
  CHECK((*w)->full());  // 200 blobs, well over 1 MiB
  auto sealed = (*w)->Seal();
  REQUIRE(sealed.ok());
  CHECK(sealed->entries.size() == 200);
  auto r = PackReader::Open(dir / sealed->name.Hex(), sealed->name);
  REQUIRE(r.ok());
  CHECK((*r)->VerifyAll().ok());
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 50; ++i) {
      std::vector<uint8_t> b = TestBlob(t * 1000 + i, i % 3 == 0 ? 300 : 16384);
      CHECK((*r)->Read(Pointer::Of(b)).value() == b);
    }
}

TEST_CASE("pack file: segments: a pack set aside takes a late append, seals whole, and reused buffers leave no stale bytes") {
  TempDir dir("pack");
  for (int round = 0; round < 2; ++round) {  // the second pack reuses the first's segment buffers
    auto w = PackWriter::Create(dir.path(), PackWriterOptions{.target_bytes = 2 << 20, .align = 4096});
    REQUIRE(w.ok());
    std::vector<std::vector<uint8_t>> blobs;
    // Unaligned sizes followed by aligned ones: zeros between them, across
    // segment boundaries (2.5 MiB in all).
    for (int i = 0; i < 40; ++i) blobs.push_back(TestBlob(round * 100 + i, i % 2 ? 65536 : 65536 + 16 + i));
    for (const auto& b : blobs) REQUIRE((*w)->Append(Pointer::Of(b), b).ok());
    (*w)->StartWriteOut();  // idle: the flusher writes the partial last segment
    std::vector<uint8_t> late = TestBlob(round * 100 + 99, 5000);
    // Before the flusher takes the segments: staged with them; after: through
    // the page cache at once. The pack must be whole either way.
    REQUIRE((*w)->Append(Pointer::Of(late), late).ok());
    blobs.push_back(late);
    auto sealed = (*w)->Seal();
    REQUIRE(sealed.ok());
    auto r = PackReader::Open(dir / sealed->name.Hex(), sealed->name);
    REQUIRE(r.ok());
    CHECK((*r)->VerifyAll().ok());  // every gap zero
    for (const auto& b : blobs) CHECK((*r)->Read(Pointer::Of(b)).value() == b);
  }
}

// The queue of full segments waiting for the flusher is bounded (64 over
// all packs, 64 MiB): with the flusher stuck in its first write, appends
// queue 63 more segments and then write each segment they fill themselves,
// without waiting for it; the pack still seals whole.
TEST_CASE("pack file: past 64 queued segments an append writes the segment it filled itself") {
  TempDir dir("pack-bound", "/tmp");
  if (!TakesDirect(dir.path())) {
    MESSAGE("SKIP the segment bound: /tmp refuses O_DIRECT, so packs are written without segments");
    return;
  }
  FaultFileOps ops;
  ops.HoldPwrites(1);
  ScopedFileOps scoped(&ops);
  auto w = PackWriter::Create(dir.path(), PackWriterOptions{.target_bytes = 128 << 20, .align = 4096});
  REQUIRE(w.ok());
  // Declared after the writer, so gone before it: a failed check must not
  // leave the flusher held while the writer's destructor joins it.
  struct Release {
    FaultFileOps& ops;
    ~Release() { ops.ReleaseHeld(); }
  } release{ops};
  constexpr int kBlobsPerSegment = int{kPackSegmentBytes / 65536};
  auto fill_segment = [&](int segment) {
    for (int k = 0; k < kBlobsPerSegment; ++k) {
      std::vector<uint8_t> blob = TestBlob(static_cast<uint32_t>(segment * kBlobsPerSegment + k), 65536);
      REQUIRE((*w)->Append(Pointer::Of(blob), blob, 1).ok());
    }
  };
  fill_segment(0);
  for (int i = 0; i < 1000 && ops.Held() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(ops.Held() == 1);  // the flusher, in segment 0's write
  for (int segment = 1; segment < 70; ++segment) fill_segment(segment);
  CHECK(ops.Held() == 1);
  CHECK(ops.Calls(FaultFileOps::Call::kPwrite) == 1 + 6);  // segments 64..69, by the appender
  ops.ReleaseHeld();
  auto sealed = (*w)->Seal();
  REQUIRE(sealed.ok());
  CHECK(sealed->entries.size() == 70u * kBlobsPerSegment);
  auto r = PackReader::Open(dir / sealed->name.Hex(), sealed->name);
  REQUIRE(r.ok());
  CHECK((*r)->VerifyAll().ok());
}

TEST_CASE("pack file: bad arguments, empty packs and unsealed writers leave nothing") {
  TempDir dir("pack");
  CHECK(PackWriter::Create(dir.path(), PackWriterOptions{.align = 3}).status().code() == EINVAL);
  CHECK(PackWriter::Create(dir / "missing").status().code() == ENOENT);
  {
    auto w = PackWriter::Create(dir.path());
    REQUIRE(w.ok());
    CHECK((*w)->Append(Pointer(), {}).status().code() == EINVAL);
    std::vector<uint8_t> b = TestBlob(1, 10);
    CHECK((*w)->Append(Pointer::Of(b), b, 4).status().code() == EINVAL);
    CHECK((*w)->Seal().status().code() == EINVAL);  // no blobs
    CHECK((*w)->Append(Pointer::Of(b), b).ok());
    CHECK(Files(dir.path()).size() == 1);  // the temp file
  }
  CHECK(Files(dir.path()).empty());  // dropped unsealed: the temp file went
}

TEST_CASE("pack file: damage is found on open, on read and by VerifyAll") {
  TempDir dir("pack");
  std::vector<uint8_t> a = TestBlob(1, 8192), b = TestBlob(2, 300);
  auto w = PackWriter::Create(dir.path());
  REQUIRE(w.ok());
  REQUIRE((*w)->Append(Pointer::Of(a), a).ok());
  REQUIRE((*w)->Append(Pointer::Of(b), b).ok());
  auto sealed = (*w)->Seal();
  REQUIRE(sealed.ok());
  const std::string path = dir / sealed->name.Hex();
  const std::string copy = dir / "copy";
  std::filesystem::copy_file(path, copy);

  SUBCASE("a flipped blob byte: that blob fails, the other reads") {
    PokeByte(copy, 8192 + 7);
    auto r = PackReader::Open(copy, sealed->name);
    REQUIRE(r.ok());
    CHECK((*r)->Read(Pointer::Of(a)).ok());
    auto bad = (*r)->Read(Pointer::Of(b));
    CHECK(bad.status().code() == EBADMSG);
    CHECK(bad.status().message().find(Pointer::Of(b).Hex()) != std::string::npos);
    CHECK((*r)->VerifyAll().code() == EBADMSG);
  }
  SUBCASE("a flipped trailer byte") {
    PokeByte(copy, static_cast<off_t>(sealed->size - 10));
    auto r = PackReader::Open(copy);
    CHECK(r.status().code() == EBADMSG);
  }
  SUBCASE("truncated") {
    REQUIRE(::truncate(copy.c_str(), static_cast<off_t>(sealed->size - 1)) == 0);
    CHECK(PackReader::Open(copy).status().code() == EBADMSG);
    REQUIRE(::truncate(copy.c_str(), 10) == 0);
    CHECK(PackReader::Open(copy).status().code() == EBADMSG);
  }
  SUBCASE("another pack's name") {
    CHECK(PackReader::Open(copy, Pointer::Of(a)).status().code() == EBADMSG);
    CHECK(PackReader::Open(copy, sealed->name).ok());
  }
  SUBCASE("missing") { CHECK(PackReader::Open(dir / "nope").status().code() == ENOENT); }
  SUBCASE("a location past the end") {
    auto r = PackReader::Open(copy);
    REQUIRE(r.ok());
    PackEntry past{Pointer::Of(a), sealed->size - 4, 8192, 0};
    CHECK((*r)->Read(past).status().code() == EBADMSG);
  }
}

TEST_CASE("pack file: a gap damaged between blobs fails VerifyAll only") {
  TempDir dir("pack");
  std::vector<uint8_t> a = TestBlob(1, 300), b = TestBlob(2, 8192);
  auto w = PackWriter::Create(dir.path());
  REQUIRE(w.ok());
  REQUIRE((*w)->Append(Pointer::Of(a), a).ok());
  REQUIRE((*w)->Append(Pointer::Of(b), b).ok());
  auto sealed = (*w)->Seal();
  REQUIRE(sealed.ok());
  const std::string path = dir / sealed->name.Hex();
  PokeByte(path, 1000);  // between a (0..300) and b (at 4096)
  auto r = PackReader::Open(path, sealed->name);
  REQUIRE(r.ok());
  CHECK((*r)->Read(Pointer::Of(a)).ok());
  CHECK((*r)->Read(Pointer::Of(b)).ok());
  Status v = (*r)->VerifyAll();
  CHECK(v.code() == EBADMSG);
  CHECK(v.message().find("gap before blob") != std::string::npos);
}

TEST_CASE("pack file: a failed sync or rename seals nothing and sticks") {
  for (auto call : {FaultFileOps::Call::kFdatasync, FaultFileOps::Call::kRename, FaultFileOps::Call::kPwrite}) {
    CAPTURE(static_cast<int>(call));
    TempDir dir("pack");
    std::vector<uint8_t> a = TestBlob(1, 300);
    auto w = PackWriter::Create(dir.path());
    REQUIRE(w.ok());
    REQUIRE((*w)->Append(Pointer::Of(a), a).ok());
    FaultFileOps faults;
    faults.Fail(call, EIO);
    {
      ScopedFileOps scoped(&faults);
      auto sealed = (*w)->Seal();
      CHECK(sealed.status().code() == EIO);
      CHECK((*w)->Seal().status().code() == EIO);  // sticky
    }
    w->reset();
    CHECK(Files(dir.path()).empty());  // no pack under a name, no temp file
  }
}

}  // namespace
}  // namespace amberfs
