// gc's repacking (repack.h) and the slow store's reclaim of packs whose live
// blobs have denser copies (slow_packs.h): a pack half dead after a delete
// is copied out and removed from both stores, every snapshot still reads
// back exact (also from the slow store alone), and a pack under the
// threshold is left alone.
#include <doctest/doctest.h>

#include <filesystem>

#include "snapshot/snapshotter.h"
#include "store/disk_store.h"
#include "store/pack_objects.h"
#include "store/slow_packs.h"
#include "support/pack_test_util.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using namespace amberfs::testing;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kChunk = 64 << 10;
constexpr uint64_t kChunks = 64;

size_t SlowPacksIn(const std::string& archive) {
  auto disk = DiskStore::Open(archive);
  REQUIRE(disk.ok());
  size_t n = 0;
  REQUIRE(ListPacks(**disk, [&](const Pointer&) {
            ++n;
            return Status::OK();
          }).ok());
  return n;
}

size_t FastPacksIn(const std::string& voldir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(voldir + "/fast/packs"))
    if (e.path().filename().string()[0] != '.') ++n;
  return n;
}

// s1 fills the volume (one pack); s2 rewrites every other chunk, or only
// `rewritten` of them; then s1 is deleted.
void TwoSnapshotsDeleteFirst(SnapVolume& v, uint64_t rewritten) {
  v.size = kChunks * kChunk;
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, kChunks * kChunk));
  v.Snapshot("s1");
  for (uint64_t c = 0; c < rewritten; ++c) v.Write(2 * c * kChunk, Pattern(100 + c, kChunk));
  v.Snapshot("s2");
  REQUIRE(v.snap->Drain(30s).ok());
  REQUIRE(v.snap->Delete("s1").ok());
}

}  // namespace

TEST_CASE("repack: gc copies a half-dead pack's live blobs out and removes it from both stores") {
  TempDir dir("repack");
  SnapVolume v;
  v.dir = dir.path();
  TwoSnapshotsDeleteFirst(v, kChunks / 2);
  const std::vector<uint8_t> s2 = v.SnapshotContents("s2");
  REQUIRE(SlowPacksIn(dir / "archive") == 2);
  auto gc = v.snap->Gc();
  REQUIRE_MESSAGE(gc.ok(), gc.status().ToString());
  MESSAGE(gc->ToString());
  CHECK(gc->repacked_packs == 1);
  CHECK(gc->repacked_bytes >= (kChunks / 2) * kChunk);  // s1's 32 chunks s2 still reaches, and index nodes
  CHECK(gc->freed_slow_bytes >= kChunks * kChunk);      // s1's whole pack
  CHECK(gc->freed_fast_bytes >= kChunks * kChunk);
  CHECK(SlowPacksIn(dir / "archive") == 2);  // s2's pack and the repacked one
  CHECK(FastPacksIn(dir.path()) == 2);
  CHECK(v.SnapshotContents("s2") == s2);
  // From the slow store alone: every fast copy gone.
  v.Reopen();
  for (const std::string& name : {std::string("packs"), std::string("index")})
    std::filesystem::remove_all(dir / ("fast/" + name));
  v.Reopen();
  CHECK(v.SnapshotContents("s2") == s2);
}

TEST_CASE("repack: a pack under the threshold is left alone, and nothing is deleted from it") {
  TempDir dir("repack");
  SnapVolume v;
  v.dir = dir.path();
  TwoSnapshotsDeleteFirst(v, 4);  // 4 of 64 chunks dead in s1's pack: 6 %
  auto gc = v.snap->Gc();
  REQUIRE(gc.ok());
  CHECK(gc->repacked_packs == 0);
  CHECK(gc->freed_slow_bytes == 0);
  CHECK(SlowPacksIn(dir / "archive") == 2);
}

TEST_CASE("SlowPacks: a pack goes once its live blobs have denser copies, never on a tie") {
  TempDir dir("slowpacks-dense");
  auto disk = DiskStore::Open(dir / "slow");
  REQUIRE(disk.ok());
  SlowPacks store(std::move(disk).value(), SlowPacksOptions{0ms});
  std::filesystem::create_directories(dir / "build");
  // a holds blobs 0..3; b holds copies of 2 and 3 only (as a repack makes them).
  BuiltPack a = BuildPack(dir / "build", 0, 4);
  BuiltPack b = BuildPackOf(dir / "build", {a.blobs[2], a.blobs[3]});
  REQUIRE(PutPack(store, a.sealed.name, a.bytes).ok());
  REQUIRE(PutPack(store, b.sealed.name, b.bytes).ok());

  // Nothing dead: duplicates alone free nothing.
  CHECK(store.ReclaimDeleted().value() == 0);
  // 0 dead in a (a: 25 % dead, b: none): 1 is only in a, so a stays.
  REQUIRE(store.Delete(Pointer::Of(a.blobs[0])).ok());
  CHECK(store.ReclaimDeleted().value() == 0);
  // 1 dead too: a's live blobs 2 and 3 are in b, which is denser: a goes.
  REQUIRE(store.Delete(Pointer::Of(a.blobs[1])).ok());
  CHECK(store.ReclaimDeleted().value() == a.bytes.size());
  for (int i : {2, 3}) CHECK(store.Get(Pointer::Of(a.blobs[i])).value() == a.blobs[i]);
  CHECK(SlowPacksIn(dir / "slow") == 1);
}

TEST_CASE("SlowPacks: two packs as dead as each other, each holding the other's live blob, both stay") {
  TempDir dir("slowpacks-tie");
  auto disk = DiskStore::Open(dir / "slow");
  REQUIRE(disk.ok());
  SlowPacks store(std::move(disk).value(), SlowPacksOptions{0ms});
  std::filesystem::create_directories(dir / "build");
  // a: blobs 0, 1; b: blobs 1, 2 (blob 1 in both).
  auto make = [&](std::vector<std::vector<uint8_t>> blobs) {
    BuiltPack built = BuildPackOf(dir / "build", std::move(blobs));
    REQUIRE(PutPack(store, built.sealed.name, built.bytes).ok());
  };
  const auto b0 = TestBlob(0, 3000), b1 = TestBlob(1, 3000), b2 = TestBlob(2, 3000);
  make({b0, b1});
  make({b1, b2});
  REQUIRE(store.Delete(Pointer::Of(b0)).ok());
  REQUIRE(store.Delete(Pointer::Of(b2)).ok());
  CHECK(store.ReclaimDeleted().value() == 0);
  CHECK(store.Get(Pointer::Of(b1)).value() == b1);
  CHECK(SlowPacksIn(dir / "slow") == 2);
}
