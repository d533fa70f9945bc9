// ResizeVolume and the settling of an interrupted resize (amberfs/volume_resize.h),
// through real volumes; a failed rename or sync stands for a crash there.
#include "amberfs/volume_resize.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "amberfs/volume.h"
#include "amberfs/volume_create.h"
#include "snapshot/change_tracker.h"
#include "snapshot/volume_layout.h"
#include "support/fault_file_ops.h"
#include "support/temp_dir.h"
#include "support/test_volume.h"
#include "volume/ctl.h"
#include "volume/volume_lock.h"

using namespace amberfs;
using amberfs::testing::FaultFileOps;
using amberfs::testing::TempDir;

namespace {

constexpr uint64_t kOld = 4 << 20, kNew = 8 << 20;

std::unique_ptr<Volume> OpenVolume(const std::string& voldir) { return amberfs::testing::OpenTestVolume(voldir); }

std::vector<uint8_t> Pattern(uint8_t seed, size_t n) { return amberfs::testing::PatternBytes(seed, n); }

uint64_t FileSize(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

// A volume mounted once (so it has a change tracker) holding `data` at offset 0.
std::string MakeVolume(const TempDir& dir, const std::vector<uint8_t>& data) {
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kOld);
  std::unique_ptr<Volume> v = OpenVolume(voldir);
  REQUIRE(v->Write(data.data(), data.size(), 0).ok());
  REQUIRE(v->Close().ok());
  return voldir;
}

// The volume opens read-write at `size`, keeps `data`, and its tracker has the size's geometry.
void CheckOpensAt(const std::string& voldir, uint64_t size, const std::vector<uint8_t>& data) {
  {
    std::unique_ptr<Volume> v = OpenVolume(voldir);
    CHECK(v->size() == size);
    std::vector<uint8_t> back(data.size());
    REQUIRE(v->Read(back.data(), back.size(), 0).ok());
    CHECK(back == data);
    REQUIRE(v->Close().ok());
  }
  CHECK(FileSize(voldir + "/image") == size);
  CHECK(::access((voldir + "/" + kResizeChangesFile).c_str(), F_OK) != 0);
  CHECK(ChangeTracker::OpenReadOnly(voldir + "/" + kChangesFile, size, kDefaultChunkSize).ok());
}

}  // namespace

TEST_CASE("volume_resize: grows image, tracker and config; the marks and the data stay") {
  TempDir dir("resize");
  const std::vector<uint8_t> data = Pattern(3, 300000);
  const std::string voldir = MakeVolume(dir, data);
  Result<ResizeVolumeResult> r = ResizeVolume(voldir, kNew);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->old_size == kOld);
  CHECK(r->config.size == kNew);
  CHECK(VolumeConfig::Load(voldir)->size == kNew);
  struct stat st;
  REQUIRE(::stat((voldir + "/image").c_str(), &st) == 0);
  CHECK(st.st_blocks * 512 < static_cast<blkcnt_t>(kOld));  // the new tail is sparse
  {
    Result<std::unique_ptr<ChangeTracker>> t =
        ChangeTracker::OpenReadOnly(voldir + "/" + kChangesFile, kNew, kDefaultChunkSize);
    REQUIRE(t.ok());
    // 300000 bytes touch chunks 0..4 (64 KiB chunks): still marked, nothing past them.
    CHECK((*t)->CountMarked(ChangeTracker::Set::kActive) == 5);
    CHECK((*t)->IsMarked(4, ChangeTracker::Set::kActive));
  }
  CheckOpensAt(voldir, kNew, data);
  std::unique_ptr<Volume> v = OpenVolume(voldir);
  std::vector<uint8_t> tail = Pattern(9, 4096);
  REQUIRE(v->Write(tail.data(), tail.size(), kNew - 4096).ok());
  std::vector<uint8_t> back(4096);
  REQUIRE(v->Read(back.data(), back.size(), kNew - 4096).ok());
  CHECK(back == tail);
  REQUIRE(v->Close().ok());
}

TEST_CASE("volume_resize: refusals change nothing") {
  TempDir dir("resize");
  const std::vector<uint8_t> data = Pattern(5, 1000);
  const std::string voldir = MakeVolume(dir, data);
  CHECK(ResizeVolume(voldir, kOld / 2).status().code() == EINVAL);           // shrink
  CHECK(ResizeVolume(voldir, kOld).status().code() == EINVAL);               // same size
  CHECK(ResizeVolume(voldir, kNew + 4096).status().code() == EINVAL);        // not a chunk multiple
  CHECK(ResizeVolume(voldir, kNew + 512).status().code() == EINVAL);         // not a block multiple
  CHECK(ResizeVolume(dir / "nothing", kNew).status().code() == ENOENT);
  {
    Result<VolumeLock> lock = VolumeLock::Acquire(voldir, "mount");  // as a mount holds it
    REQUIRE(lock.ok());
    Result<ResizeVolumeResult> busy = ResizeVolume(voldir, kNew);
    CHECK(busy.status().code() == EBUSY);
  }
  {
    std::unique_ptr<Volume> v = OpenVolume(voldir);
    CHECK(ResizeVolume(voldir, kNew).status().code() == EBUSY);
    CtlDispatcher ctl;
    v->RegisterCtl(&ctl);
    REQUIRE(ctl.Execute("snapshot s1").status.ok());
    REQUIRE(v->Close().ok());
  }
  Result<ResizeVolumeResult> snap = ResizeVolume(voldir, kNew);
  CHECK(snap.status().code() == ENOTSUP);
  CHECK(snap.status().message().find("snapshots") != std::string::npos);
  CHECK(VolumeConfig::Load(voldir)->size == kOld);
  CHECK(FileSize(voldir + "/image") == kOld);
  CHECK(::access((voldir + "/" + kResizeChangesFile).c_str(), F_OK) != 0);
}

TEST_CASE("volume_resize: a volume never mounted has no tracker to grow") {
  TempDir dir("resize");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kOld);
  REQUIRE(ResizeVolume(voldir, kNew).ok());
  CheckOpensAt(voldir, kNew, {});
}

// Renames: the tracker's creation, the config (the commit), the tracker into
// place. A failure at each leaves the old or the new volume, settled by the
// next mount (or by the next resize, or by a read-write mount after a
// read-only one was refused).
TEST_CASE("volume_resize: cut off at each rename, the next mount has the old or the new volume") {
  for (int skip = 0; skip < 3; ++skip) {
    CAPTURE(skip);
    TempDir dir("resize");
    const std::vector<uint8_t> data = Pattern(7, 200000);
    const std::string voldir = MakeVolume(dir, data);
    {
      FaultFileOps faults;
      ScopedFileOps scoped(&faults);
      faults.Fail(FaultFileOps::Call::kRename, EIO, 1, skip);
      CHECK(ResizeVolume(voldir, kNew).status().code() == EIO);
    }
    const uint64_t expect = skip >= 2 ? kNew : kOld;
    const VolumeConfig config = VolumeConfig::Load(voldir).value();
    CHECK(config.size == expect);
    if (skip >= 1) {
      CHECK(!DescribeInterruptedResize(voldir, config).empty());
      VolumeOptions ro_options;
      ro_options.io = IoBackend::kPlain;
      ro_options.read_only = true;
      Result<std::unique_ptr<Volume>> ro = Volume::Open(voldir, ro_options);
      CHECK(ro.status().code() == EBUSY);
    }
    CheckOpensAt(voldir, expect, data);
    if (expect == kOld) REQUIRE(ResizeVolume(voldir, kNew).ok());
    CheckOpensAt(voldir, kNew, data);
  }
}

TEST_CASE("volume_resize: a failed sync of the tracker or the image leaves the old volume") {
  for (FaultFileOps::Call call : {FaultFileOps::Call::kFdatasync, FaultFileOps::Call::kFsync}) {
    TempDir dir("resize");
    const std::vector<uint8_t> data = Pattern(11, 70000);
    const std::string voldir = MakeVolume(dir, data);
    {
      FaultFileOps faults;
      ScopedFileOps scoped(&faults);
      faults.Fail(call, EIO, 1, 0);
      CHECK(!ResizeVolume(voldir, kNew).ok());
    }
    CheckOpensAt(voldir, VolumeConfig::Load(voldir)->size, data);
  }
}

TEST_CASE("volume_resize: a leftover of another geometry with the old config is undone") {
  TempDir dir("resize");
  const std::vector<uint8_t> data = Pattern(13, 5000);
  const std::string voldir = MakeVolume(dir, data);
  // As a resize cut off after growing the image, before its config.
  REQUIRE(ChangeTracker::Create(voldir + "/" + kResizeChangesFile, kNew, kDefaultChunkSize).ok());
  REQUIRE(::truncate((voldir + "/image").c_str(), kNew) == 0);
  const VolumeConfig config = VolumeConfig::Load(voldir).value();
  std::string what;
  REQUIRE(FinishInterruptedResize(voldir, config, &what).ok());
  CHECK(what.find("did not commit") != std::string::npos);
  CheckOpensAt(voldir, kOld, data);
}
