// gc against other volumes sharing the slow store (the marker protocol of
// slow_store_locks.h), and the requests it sends the slow store.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshotter.h"
#include "store/slow_store_locks.h"
#include "support/counting_store.h"
#include "support/eventually.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using namespace amberfs::testing;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kChunk = 64 << 10;

}  // namespace

TEST_CASE("gc: a ref another volume deletes during our gc cannot get what its pending snapshot needs swept") {
  TempDir dir("gc-race");
  SnapVolume v1, v2;
  OpenSharingSlowStore(dir.path(), v1, v2, 16 * kChunk);
  v2.Write(0, Pattern(1, 4 * kChunk));
  v2.Snapshot("s1");
  REQUIRE(v2.snap->Drain(20s).ok());
  REQUIRE(Eventually([&] { return !v2.paired->slow().GetRef(UploadMarkerRef(v2.uuid)).ok(); }));

  // v1's gc has checked for upload markers (none) and waits before it lists
  // the refs.
  v1.slow_fault->PauseNext(FaultStore::Op::kListRefs, std::nullopt, false, "listrefs volumes/");
  Result<GcReply> gc = Status::Error(EINPROGRESS, "not run");
  std::thread gc_thread([&] { gc = v1.snap->Gc(); });
  REQUIRE(v1.slow_fault->WaitPaused());

  // Meanwhile v2 takes s2, which reuses s1's unchanged chunks; its first
  // upload (the marker) is slow to reach the store. Then it deletes s1.
  v2.slow_fault->PauseNext(FaultStore::Op::kPutRef, std::nullopt, false, UploadMarkerRef(v2.uuid));
  v2.Write(8 * kChunk, Pattern(2, kChunk));
  v2.Snapshot("s2");
  REQUIRE(v2.slow_fault->WaitPaused());
  const std::set<Pointer> needed = v2.NeededBy("s2");
  REQUIRE(v2.snap->Delete("s1").ok());

  v1.slow_fault->Resume();
  gc_thread.join();
  v2.slow_fault->Resume();
  REQUIRE(v2.snap->Drain(20s).ok());
  // Whatever gc did, s2 is whole in the slow store.
  size_t missing = 0;
  for (const Pointer& p : needed) missing += !v2.paired->slow().Contains(p).value();
  CHECK(missing == 0);
  CHECK(gc.status().code() == EBUSY);  // it saw v2's marker the second time it looked
  CHECK(v1.paired->slow().ListRefs("locks/gc/").value().empty());
}

TEST_CASE("gc: what is in the slow store comes from its listing, not a request per blob") {
  TempDir dir("gc-count");
  SnapVolume v;
  v.dir = dir.path();
  v.size = 64 * kChunk;
  CountingStore* counted = nullptr;
  v.open_slow = [&]() -> Result<std::unique_ptr<Store>> {
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<DiskStore> disk, DiskStore::Open(dir / "archive"));
    auto c = std::make_unique<CountingStore>(std::move(disk));
    counted = c.get();
    return std::unique_ptr<Store>(std::move(c));
  };
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, v.size));
  v.Snapshot("s1");
  v.Write(0, Pattern(2, v.size));
  v.Snapshot("s2");
  REQUIRE(v.snap->Drain(20s).ok());
  REQUIRE(v.snap->Delete("s1").ok());  // its 64 chunks are garbage in both stores
  // Garbage only the fast store holds (never uploaded).
  const int kFastOnly = 200;
  for (int i = 0; i < kFastOnly; ++i) {
    auto data = Pattern(1000 + i, 512);
    REQUIRE(v.paired->fast().Put(Pointer::Of(data), data).ok());
  }
  REQUIRE(Eventually([&] { return !v.paired->slow().GetRef(UploadMarkerRef(v.uuid)).ok(); }));

  uint64_t packs = 0;  // in the slow store before gc: each has an index object
  REQUIRE(counted->ListObjects("index/", [&](std::string_view) {
    ++packs;
    return Status::OK();
  }).ok());
  counted->Reset();
  auto gc = v.snap->Gc();
  REQUIRE_MESSAGE(gc.ok(), gc.status().ToString());
  CHECK(gc->deleted_slow >= 64);
  CHECK(gc->deleted_fast >= 64 + kFastOnly);
  MESSAGE("gc: " << counted->requests() << " slow-store requests for " << gc->deleted_slow
                 << " slow and " << gc->deleted_fast << " fast deletions");
  CHECK(counted->contains == 0);
  // At most each index object once (the pack map; this process's uploads
  // entered their packs already); our own trees come from the fast store.
  CHECK(counted->gets <= packs);
  CHECK(counted->lists == 2);     // the loose blobs and the index objects
  // s1's pack is all garbage: its index object and its object go, and no
  // request is made per blob.
  CHECK(gc->freed_slow_bytes > 64 * kChunk);
  CHECK(counted->deletes == 2);
  // The listings, the pack map, the deletes, and a few requests per ref and marker.
  CHECK(counted->requests() <= 2 + packs + 2 + 10 * 4);
  CHECK(v.SnapshotContents("s2") == v.Contents());
}
