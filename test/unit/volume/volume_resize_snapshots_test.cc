// ResizeVolume on a volume with snapshots, through real volumes: each
// snapshot keeps its own size and content, the next one has the new size and
// is incremental over the old base, and a rollback to an older, smaller
// snapshot zeroes the grown tail (amberfs/volume_resize.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "amberfs/volume.h"
#include "amberfs/volume_resize.h"
#include "support/temp_dir.h"
#include "support/test_volume.h"
#include "volume/ctl.h"

using namespace amberfs;
using amberfs::testing::TempDir;

namespace {

// 64 KiB chunks, fanout 256: 4 MiB is 64 chunks (index depth 1), 32 MiB is
// 512 chunks (depth 2), so the grow adds an index level too.
constexpr uint64_t kOld = 4 << 20, kNew = 32 << 20, kTail = 20 << 20;

CtlOutcome Ctl(Volume* v, const std::string& command) {
  CtlDispatcher ctl;
  v->RegisterCtl(&ctl);
  return ctl.Execute(command);
}

std::vector<uint8_t> ReadSnapshot(Volume* v, const std::string& name, uint64_t off, size_t n) {
  Result<SnapshotHandle> h = v->OpenSnapshot(name);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  std::vector<uint8_t> out(n);
  Status st = v->ReadSnapshot(*h, out.data(), n, off);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

std::vector<uint8_t> ReadVolume(Volume* v, uint64_t off, size_t n) {
  std::vector<uint8_t> out(n);
  REQUIRE(v->Read(out.data(), n, off).ok());
  return out;
}

uint64_t SizeOf(Volume* v, const std::string& name) {
  Result<std::vector<SnapshotInfo>> list = v->ListSnapshots();
  REQUIRE(list.ok());
  for (const SnapshotInfo& i : *list)
    if (i.name == name) return i.size;
  FAIL("no snapshot " << name);
  return 0;
}

}  // namespace

TEST_CASE("volume_resize: snapshots keep their size; the next is incremental; rollback zeroes the tail") {
  TempDir dir("resize_snap");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kOld);
  const std::vector<uint8_t> data = amberfs::testing::PatternBytes(4, 300000);  // chunks 0..4
  {
    std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
    REQUIRE(v->Write(data.data(), data.size(), 0).ok());
    REQUIRE(Ctl(v.get(), "snapshot s1").status.ok());
    REQUIRE(v->Close().ok());
  }
  Result<ResizeVolumeResult> r = ResizeVolume(voldir, kNew);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());

  std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
  REQUIRE(v->size() == kNew);
  // s1 as it was: its own size, its data, zeros after, nothing past its end.
  CHECK(SizeOf(v.get(), "s1") == kOld);
  Result<SnapshotHandle> s1 = v->OpenSnapshot("s1");
  REQUIRE(s1.ok());
  CHECK(s1->size == kOld);
  CHECK(ReadSnapshot(v.get(), "s1", 0, data.size()) == data);
  CHECK(ReadSnapshot(v.get(), "s1", kOld - 4096, 4096) == std::vector<uint8_t>(4096, 0));
  std::vector<uint8_t> past(4096);
  CHECK(v->ReadSnapshot(*s1, past.data(), past.size(), kOld).code() == EINVAL);

  // One chunk written in the new tail: s2 captures that chunk alone.
  const std::vector<uint8_t> tail = amberfs::testing::PatternBytes(7, 4096);
  REQUIRE(v->Write(tail.data(), tail.size(), kTail).ok());
  CtlOutcome s2 = Ctl(v.get(), "snapshot s2");
  REQUIRE_MESSAGE(s2.status.ok(), s2.status.ToString());
  CHECK_MESSAGE(s2.reply.find("chunks_captured 1\n") != std::string::npos, s2.reply);
  CHECK(SizeOf(v.get(), "s2") == kNew);
  CHECK(ReadSnapshot(v.get(), "s2", 0, data.size()) == data);
  CHECK(ReadSnapshot(v.get(), "s2", kTail, tail.size()) == tail);
  CHECK(ReadSnapshot(v.get(), "s2", kNew - 4096, 4096) == std::vector<uint8_t>(4096, 0));

  // Back to s1: the volume keeps its size; past s1's end it is zero.
  CtlOutcome back = Ctl(v.get(), "rollback s1");
  REQUIRE_MESSAGE(back.status.ok(), back.status.ToString());
  CHECK(v->size() == kNew);
  CHECK(ReadVolume(v.get(), 0, data.size()) == data);
  CHECK(ReadVolume(v.get(), kTail, tail.size()) == std::vector<uint8_t>(tail.size(), 0));
  // And forward again to s2 (a rollback across the grow both ways).
  REQUIRE(Ctl(v.get(), "rollback s2").status.ok());
  CHECK(ReadVolume(v.get(), kTail, tail.size()) == tail);
  REQUIRE(v->Close().ok());
  v.reset();  // the volume lock goes with it

  // Reopened: the base is s2 (new size); the snapshots still read right.
  v = amberfs::testing::OpenTestVolume(voldir);
  CHECK(ReadSnapshot(v.get(), "s1", 0, data.size()) == data);
  CtlOutcome s3 = Ctl(v.get(), "snapshot s3");
  REQUIRE_MESSAGE(s3.status.ok(), s3.status.ToString());
  CHECK(ReadSnapshot(v.get(), "s3", kTail, tail.size()) == tail);
  REQUIRE(v->Close().ok());
}

TEST_CASE("volume_resize: a base snapshot whose name was deleted still starts the next snapshot") {
  TempDir dir("resize_snap");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kOld);
  const std::vector<uint8_t> data = amberfs::testing::PatternBytes(5, 200000);
  {
    std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
    REQUIRE(v->Write(data.data(), data.size(), 0).ok());
    REQUIRE(Ctl(v.get(), "snapshot s1").status.ok());
    REQUIRE(Ctl(v.get(), "delete s1").status.ok());  // the base stays
    REQUIRE(v->Close().ok());
  }
  REQUIRE(ResizeVolume(voldir, kNew).ok());
  std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
  CtlOutcome s2 = Ctl(v.get(), "snapshot s2");
  REQUIRE_MESSAGE(s2.status.ok(), s2.status.ToString());
  CHECK_MESSAGE(s2.reply.find("chunks_captured 0\n") != std::string::npos, s2.reply);
  CHECK(ReadSnapshot(v.get(), "s2", 0, data.size()) == data);
  REQUIRE(v->Close().ok());
}
