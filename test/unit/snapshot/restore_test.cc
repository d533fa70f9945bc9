#include "snapshot/restore_steps.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"
#include "store/packed_disk_store.h"
#include "store/s3_store.h"
#include "store/slow_packs.h"
#include "store/slow_store_locks.h"
#include "support/s3rver.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::Pattern;
using amberfs::testing::S3rver;
using amberfs::testing::SnapVolume;
using amberfs::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// A directory as every slow store is opened (packed blobs are blobs).
Result<std::unique_ptr<Store>> OpenSlow(const std::string& dir) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<DiskStore> disk, DiskStore::Open(dir));
  return std::unique_ptr<Store>(std::make_unique<SlowPacks>(std::move(disk)));
}

constexpr uint32_t kChunk = 64 << 10;

std::vector<uint8_t> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  REQUIRE(::pread(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
  ::close(fd);
  return out;
}

void MakeSparse(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
}

// Snapshots A and B of a volume whose slow store `source` opens, drained;
// then a restore into a fresh directory from `restore_store` must equal B,
// and a volume continued from it snapshots incrementally.
void RestoreRoundTrip(const TempDir& dir, const std::function<Result<std::unique_ptr<Store>>()>& open_slow) {
  std::vector<uint8_t> copy_a, copy_b;
  const uint64_t size = 64 * kChunk;
  {
    SnapVolume v;
    v.dir = dir / "src";
    REQUIRE(::mkdir(v.dir.c_str(), 0700) == 0);
    v.size = size;
    v.open_slow = open_slow;
    REQUIRE(v.Open().ok());
    v.Write(0, Pattern(1, 10 * kChunk));
    v.Write(50 * kChunk + 3, Pattern(2, 5 * kChunk));
    v.Snapshot("A");
    copy_a = v.Contents();
    v.Discard(2 * kChunk, 3 * kChunk);
    v.Write(30 * kChunk, Pattern(3, kChunk));
    v.Snapshot("B");
    copy_b = v.Contents();
    REQUIRE(v.snap->Drain(30s).ok());
  }
  auto slow = open_slow();
  REQUIRE(slow.ok());
  auto plan = PlanRestore(slow->get(), "", "");
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  CHECK(plan->record.name == "B");
  CHECK(plan->uuid == testing::kTestUuid);
  CHECK(plan->config_text == testing::TestConfigText(testing::kTestUuid, size, kChunk));

  const std::string voldir = dir / "restored";
  REQUIRE(::mkdir(voldir.c_str(), 0700) == 0);
  MakeSparse(voldir + "/image", size);
  uint64_t last_done = 0;
  auto stats = RestoreImage(slow->get(), plan->record, voldir + "/image", 8,
                            [&](const RestoreProgress& p) { last_done = p.chunks_done; });
  REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
  CHECK(ReadFile(voldir + "/image") == copy_b);
  CHECK(stats->downloaded == last_done);
  CHECK(stats->downloaded < 64);  // null chunks are not downloaded
  struct stat st;
  REQUIRE(::stat((voldir + "/image").c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 < size);  // still sparse
  // Taking over the identity: the source's own record.
  REQUIRE(InstallRestoredSnapshot(voldir, *plan, plan->record_pointer).ok());

  // A: by name.
  const std::string voldir_a = dir / "restored-a";
  REQUIRE(::mkdir(voldir_a.c_str(), 0700) == 0);
  MakeSparse(voldir_a + "/image", size);
  auto plan_a = PlanRestore(slow->get(), testing::kTestUuid, "A");
  REQUIRE(plan_a.ok());
  REQUIRE(RestoreImage(slow->get(), plan_a->record, voldir_a + "/image").ok());
  CHECK(ReadFile(voldir_a + "/image") == copy_a);
  CHECK(PlanRestore(slow->get(), "", "nope").status().code() == ENOENT);
  CHECK(PlanRestore(slow->get(), "11111111-2222-4333-8444-555555555555", "").status().code() == ENOENT);

  // The restored volume continues the identity: same uuid, incremental next snapshot.
  SnapVolume r;
  r.dir = voldir;
  r.size = size;
  r.open_slow = open_slow;
  REQUIRE(r.Open().ok());
  CHECK(r.SnapshotContents("B") == copy_b);
  r.Write(7 * kChunk, Pattern(9, 10));
  auto c = r.Snapshot("C");
  CHECK(c.chunks_captured == 1);
  CHECK(r.SnapshotContents("C") == r.Contents());
  auto rec = r.paired->Get(c.record);
  REQUIRE(rec.ok());
  CHECK(DecodeSnapshotRecord(*rec)->parent == plan->record_pointer);
}

// A source volume in dir/src on slow_dir with snapshot "S" of 3 chunks of
// data, drained; returns its contents.
std::vector<uint8_t> SnapshotSource(const TempDir& dir, const std::string& slow_dir, uint64_t size) {
  SnapVolume v;
  v.dir = dir / "src";
  REQUIRE(::mkdir(v.dir.c_str(), 0700) == 0);
  v.slow_dir = slow_dir;
  v.size = size;
  REQUIRE(v.Open().ok());
  v.Write(0, Pattern(1, 3 * kChunk));
  v.Snapshot("S");
  REQUIRE(v.snap->Drain(30s).ok());
  return v.Contents();
}

}  // namespace

TEST_CASE("restore: from file://, equal to the snapshot, and the volume continues") {
  TempDir dir("snapeng");
  const std::string slow_dir = dir / "archive";
  RestoreRoundTrip(dir, [&]() -> Result<std::unique_ptr<Store>> { return OpenStoreUrl("file://" + slow_dir); });
}

TEST_CASE("restore: from s3:// (s3rver)") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  TempDir dir("snapeng");
  RestoreRoundTrip(dir, [&]() -> Result<std::unique_ptr<Store>> {
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<S3Store> store, S3Store::Open(s3->Options("pfx")));
    return std::unique_ptr<Store>(std::make_unique<SlowPacks>(std::move(store)));
  });
}

TEST_CASE("restore: several volumes need a choice, and the error lists them") {
  TempDir dir("snapeng");
  for (const char* uuid : {"01234567-89ab-4cde-8f01-23456789abcd", "11111111-2222-4333-8444-555555555555"}) {
    SnapVolume v;
    v.dir = dir / uuid;
    REQUIRE(::mkdir(v.dir.c_str(), 0700) == 0);
    v.slow_dir = dir / "shared";
    v.uuid = uuid;
    v.size = 8 * kChunk;
    REQUIRE(v.Open().ok());
    v.Write(0, Pattern(1, kChunk));
    v.Snapshot("s");
    REQUIRE(v.snap->Drain(20s).ok());
  }
  auto slow = OpenSlow(dir / "shared");
  REQUIRE(slow.ok());
  auto plan = PlanRestore(slow->get(), "", "");
  CHECK(plan.status().code() == EINVAL);
  CHECK(plan.status().message().find("01234567-89ab-4cde-8f01-23456789abcd") != std::string::npos);
  CHECK(plan.status().message().find("11111111-2222-4333-8444-555555555555") != std::string::npos);
  CHECK(PlanRestore(slow->get(), "11111111-2222-4333-8444-555555555555", "").ok());
  auto empty = DiskStore::Open(dir / "empty");
  REQUIRE(empty.ok());
  CHECK(PlanRestore(empty->get(), "", "").status().code() == ENOENT);
}

TEST_CASE("restore: a new identity gets its own record and refs, and continues incrementally") {
  TempDir dir("snapeng");
  const uint64_t size = 16 * kChunk;
  const std::string slow_dir = dir / "archive";
  const std::vector<uint8_t> copy = SnapshotSource(dir, slow_dir, size);
  auto slow = OpenSlow(slow_dir);
  REQUIRE(slow.ok());
  auto plan = PlanRestore(slow->get(), "", "S");
  REQUIRE(plan.ok());
  const std::string copy_uuid = "11111111-2222-4333-8444-555555555555";
  const std::string voldir = dir / "copy";
  REQUIRE(::mkdir(voldir.c_str(), 0700) == 0);
  // The copy's own store pair, as its mount opens it.
  auto own = [&]() {
    PairedOptions o;
    o.lock_owner = copy_uuid;
    o.lock_linger = 0ms;
    auto p = PairedStore::Open(PackedDiskStore::Open(voldir + "/fast").value(), OpenSlow(slow_dir).value(),
                               voldir + "/upload.log", o);
    REQUIRE(p.ok());
    return std::move(p).value();
  };
  Pointer adopted;
  {
    auto paired = own();
    auto made = AdoptRestoredSnapshot(paired.get(), *plan, copy_uuid, "config text\n");
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    adopted = *made;
    CHECK(adopted != plan->record_pointer);
    auto again = AdoptRestoredSnapshot(paired.get(), *plan, copy_uuid, "config text\n");  // a rerun
    REQUIRE(again.ok());
    CHECK(*again == adopted);
    REQUIRE(paired->Drain(30s).ok());
  }
  auto rec = DecodeSnapshotRecord((*slow)->Get(adopted).value());
  REQUIRE(rec.ok());
  CHECK(FormatVolumeUuid(rec->volume) == copy_uuid);
  CHECK(rec->parent.IsNull());
  CHECK(rec->root == plan->record.root);  // every blob shared
  CHECK(DecodeSnapshotRefValue((*slow)->GetRef(SnapshotRef(copy_uuid, "S")).value()).value() == adopted);
  CHECK((*slow)->GetRef(UploadMarkerRef(copy_uuid)).status().code() == ENOENT);  // released

  MakeSparse(voldir + "/image", size);
  REQUIRE(RestoreImage(slow->get(), plan->record, voldir + "/image").ok());
  REQUIRE(InstallRestoredSnapshot(voldir, *plan, adopted).ok());
  SnapVolume r;
  r.dir = voldir;
  r.uuid = copy_uuid;
  r.slow_dir = slow_dir;
  r.size = size;
  REQUIRE(r.Open().ok());  // the base record is the copy's own
  CHECK(r.SnapshotContents("S") == copy);
  r.Write(5 * kChunk, Pattern(4, 10));
  auto next = r.Snapshot("T");
  CHECK(next.chunks_captured == 1);
  CHECK(DecodeSnapshotRecord(r.paired->Get(next.record).value())->parent == adopted);
}

TEST_CASE("restore: a new identity is refused when the source snapshot went away meanwhile") {
  TempDir dir("snapeng");
  const std::string slow_dir = dir / "archive";
  SnapshotSource(dir, slow_dir, 8 * kChunk);
  auto slow = OpenSlow(slow_dir);
  REQUIRE(slow.ok());
  auto plan = PlanRestore(slow->get(), "", "S");
  REQUIRE(plan.ok());
  REQUIRE((*slow)->DeleteRef(SnapshotRef(plan->uuid, "S")).ok());  // its blobs may be gone
  const std::string copy_uuid = "22222222-2222-4333-8444-555555555555";
  REQUIRE(::mkdir((dir / "copy").c_str(), 0700) == 0);
  PairedOptions o;
  o.lock_owner = copy_uuid;
  auto paired = PairedStore::Open(DiskStore::Open(dir / "copy/fast").value(), OpenSlow(slow_dir).value(),
                                  dir / "copy/upload.log", o);
  REQUIRE(paired.ok());
  CHECK(AdoptRestoredSnapshot(paired->get(), *plan, copy_uuid, "").status().code() == ESTALE);
  CHECK((*slow)->GetRef(UploadMarkerRef(copy_uuid)).status().code() == ENOENT);  // not left behind
  CHECK((*slow)->GetRef(SnapshotRef(copy_uuid, "S")).status().code() == ENOENT);
}

TEST_CASE("restore: taking over an identity is refused while its markers are fresh") {
  TempDir dir("snapeng");
  auto slow = DiskStore::Open(dir / "archive");
  REQUIRE(slow.ok());
  CHECK(CheckIdentityUnused(slow->get(), testing::kTestUuid).ok());
  REQUIRE(AcquireUploadMarker(**slow, testing::kTestUuid).ok());
  Status st = CheckIdentityUnused(slow->get(), testing::kTestUuid);
  CHECK(st.code() == EBUSY);
  CHECK(st.message().find(UploadMarkerRef(testing::kTestUuid)) != std::string::npos);
  // An hour-old marker is a volume that is gone.
  const std::string old = "amberfs upload marker, unix time " + std::to_string(std::time(nullptr) - 3601) + "\n";
  REQUIRE((*slow)->PutRef(UploadMarkerRef(testing::kTestUuid), std::span(reinterpret_cast<const uint8_t*>(old.data()), old.size())).ok());
  CHECK(CheckIdentityUnused(slow->get(), testing::kTestUuid).ok());
  REQUIRE(AcquireGcMarker(**slow, testing::kTestUuid, /*refresh_only=*/true).ok());
  CHECK(CheckIdentityUnused(slow->get(), testing::kTestUuid).code() == EBUSY);
}
