#include "snapshot/restore_steps.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/s3_store.h"
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
  CHECK(plan->config_text == std::string("test volume ") + testing::kTestUuid + "\n");

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
  REQUIRE(InstallRestoredSnapshot(voldir, *plan).ok());

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

  // The restored volume continues: same uuid, incremental next snapshot.
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
    return std::unique_ptr<Store>(std::move(store));
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
  auto slow = DiskStore::Open(dir / "shared");
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
