// Every snapshot in the catalog gets its ref into the slow store, whatever
// came between its catalog entry and its ref (snapshot_refs.h), and drain is
// not done before.
#include <doctest/doctest.h>

#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"
#include "support/eventually.h"
#include "support/fault_file_ops.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using namespace amberfs::testing;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kChunk = 64 << 10;

void OpenVolume(const TempDir& dir, SnapVolume& v) {
  v.dir = dir.path();
  v.size = 16 * kChunk;
  REQUIRE(v.Open().ok());
}

bool RefInSlow(SnapVolume& v, const std::string& name) {
  return v.paired->slow().GetRef(SnapshotRef(v.uuid, name)).ok();
}

}  // namespace

TEST_CASE("snapshot refs: a catalog snapshot whose ref was never queued (a crash) is queued at the next open") {
  TempDir dir("refs-crash");
  SnapVolume v;
  OpenVolume(dir, v);
  v.Write(0, Pattern(1, 2 * kChunk));
  v.Snapshot("s1");
  REQUIRE(v.snap->Drain(20s).ok());
  v.Close();
  // As if the process had died between the catalog entry and the ref: no
  // ref in either store, none in the upload log.
  {
    auto slow = DiskStore::Open(v.slow_dir).value();
    auto fast = DiskStore::Open(VolumePath(v.dir, kFastStoreDir)).value();
    REQUIRE(slow->DeleteRef(SnapshotRef(v.uuid, "s1")).ok());
    REQUIRE(fast->DeleteRef(SnapshotRef(v.uuid, "s1")).ok());
  }
  REQUIRE(v.Open().ok());
  Status drained = v.snap->Drain(20s);
  REQUIRE_MESSAGE(drained.ok(), drained.ToString());
  CHECK(RefInSlow(v, "s1"));
  CHECK(v.snap->Stats().refs_requeued == 1);
  CHECK(v.snap->Stats().refs_verified);
}

TEST_CASE("snapshot refs: a ref that cannot be queued is retried, and drain is not done until it is") {
  TempDir dir("refs-error");
  SnapVolume v;
  OpenVolume(dir, v);
  v.Write(0, Pattern(1, kChunk));
  v.Snapshot("s1");  // the config ref is out of the way
  REQUIRE(v.snap->Drain(20s).ok());
  v.fast_fault->Fail(FaultStore::Op::kPutRef, EIO);  // PutRef keeps the ref in the fast store first
  v.Write(kChunk, Pattern(2, kChunk));
  v.Snapshot("s2");  // committed; its ref is not queued
  CHECK(v.snap->Stats().ref_errors == 1);
  Status drained = v.snap->Drain(2s);
  CHECK_FALSE(drained.ok());
  CHECK(drained.message().find("s2") != std::string::npos);
  CHECK_FALSE(RefInSlow(v, "s2"));

  v.fast_fault->Clear();
  drained = v.snap->Drain(20s);
  REQUIRE_MESSAGE(drained.ok(), drained.ToString());
  CHECK(RefInSlow(v, "s2"));
  // Without a drain, the background check gets there too.
  v.fast_fault->Fail(FaultStore::Op::kPutRef, EIO, std::nullopt, 1);
  v.Write(2 * kChunk, Pattern(3, kChunk));
  v.Snapshot("s3");
  REQUIRE(Eventually([&] { return RefInSlow(v, "s3"); }));
}

TEST_CASE("snapshot refs: a catalog write that fails after its rename leaves no listed snapshot without a ref") {
  TempDir dir("refs-fsync");
  SnapVolume v;
  OpenVolume(dir, v);
  v.Write(0, Pattern(1, kChunk));
  v.Snapshot("s1");
  REQUIRE(v.snap->Drain(20s).ok());
  v.slow_fault->SetDown(true);  // no uploads (their writes would meet the fault)
  v.Write(kChunk, Pattern(2, kChunk));
  Result<SnapshotReply> failed = Status::Error(EINPROGRESS, "not run");
  {
    FaultFileOps faults;
    // The batch's one fsync (of fast/packs/) passes; the catalog directory's fails.
    faults.Fail(FaultFileOps::Call::kFsync, EIO, 1, /*skip=*/1);
    ScopedFileOps scoped(&faults);
    failed = v.snap->Snapshot("s2");
  }
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().message().find("add to catalog") != std::string::npos);
  v.slow_fault->SetDown(false);
  REQUIRE(v.snap->Drain(20s).ok());
  // Every snapshot listed has its ref in the slow store.
  std::vector<SnapshotInfo> listed = v.snap->List().value();
  for (const SnapshotInfo& s : listed) {
    CAPTURE(s.name);
    CHECK(RefInSlow(v, s.name));
  }
  v.Reopen();
  listed = v.snap->List().value();
  for (const SnapshotInfo& s : listed) CHECK(RefInSlow(v, s.name));
}
