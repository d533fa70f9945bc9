#include "volume/volume_build.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "amberfs/volume_create.h"
#include "snapshot/volume_layout.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::TempDir;
namespace fs = std::filesystem;

namespace {

Result<VolumeConfig> Make(const std::string& voldir, bool force = false) {
  CreateVolumeOptions o;
  o.voldir = voldir;
  o.size = 16 << 20;
  o.force = force;
  return CreateVolume(o);
}

void Touch(const std::string& path, const std::string& text = "x") { std::ofstream(path) << text; }

std::string Listing(const std::string& dir) {
  std::string out;
  if (!fs::exists(dir)) return "(missing)";
  for (const auto& e : fs::recursive_directory_iterator(dir)) out += e.path().string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("volume_build: a build that is not installed leaves nothing behind") {
  TempDir tmp("volume-build");
  const std::string vol = tmp / "a/b/vol";
  {
    auto build = VolumeBuild::Begin(vol, false, "test build");
    REQUIRE(build.ok());
    CHECK((*build)->dir() == tmp / "a/b/.vol.amberfs-new");
    CHECK(fs::is_directory((*build)->dir()));
    Touch((*build)->dir() + "/image");
    // Another mkfs of the same VOLDIR meanwhile: refused, nothing touched.
    auto other = VolumeBuild::Begin(vol, true, "other");
    CHECK(other.status().code() == EBUSY);
    CHECK(other.status().message().find("test build") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(tmp / "a"));  // the parents it made are gone too
}

TEST_CASE("volume_build: --force replaces the whole volume and keeps only the archive") {
  TempDir tmp("volume-build");
  const std::string vol = tmp / "vol";
  auto old = Make(vol);
  REQUIRE(old.ok());
  for (const char* leftover : {kChangesFile, kSnapshotBaseFile, kUploadLogFile}) Touch(vol + "/" + leftover);
  Touch(vol + "/archive/keep", "old snapshots");
  CHECK(Make(vol).status().code() == EEXIST);
  auto fresh = Make(vol, /*force=*/true);
  REQUIRE_MESSAGE(fresh.ok(), fresh.status().ToString());
  CHECK(fresh->uuid != old->uuid);
  for (const char* gone : {kChangesFile, kSnapshotBaseFile, kUploadLogFile, kPendingMarker}) {
    CAPTURE(gone);
    CHECK_FALSE(fs::exists(vol + "/" + gone));
  }
  CHECK(fs::exists(vol + "/archive/keep"));
  CHECK(VolumeConfig::Load(vol)->uuid == fresh->uuid);
  CHECK_FALSE(fs::exists(StagingDir(vol)));
}

TEST_CASE("volume_build: a directory of other files is refused, also with force") {
  TempDir tmp("volume-build");
  const std::string vol = tmp / "vol";
  fs::create_directories(vol);
  Touch(vol + "/notes.txt");
  const std::string before = Listing(tmp.path());
  Status st = Make(vol, /*force=*/true).status();
  CHECK(st.code() == EEXIST);
  CHECK(st.message().find("notes.txt") != std::string::npos);
  CHECK(Listing(tmp.path()) == before);
  // An empty directory is fine without force.
  const std::string empty = tmp / "empty";
  fs::create_directories(empty);
  CHECK(Make(empty).ok());
}

TEST_CASE("volume_build: an interrupted install is refused, then finished, carrying the archive") {
  TempDir tmp("volume-build");
  const std::string vol = tmp / "vol", fresh = tmp / "fresh";
  REQUIRE(Make(vol).ok());
  Touch(vol + "/archive/keep", "old snapshots");
  auto made = Make(fresh);
  REQUIRE(made.ok());
  fs::remove_all(fresh + "/archive");  // a build beside a VOLDIR with an archive makes none
  Touch(fresh + "/" + kPendingMarker, "mkfs.amberfs of volume " + made->uuid + "\n");
  // The state a crash right after the exchange leaves.
  fs::rename(vol, StagingDir(vol));
  fs::rename(fresh, vol);

  Status refused = RefuseInterruptedInstall(vol);
  CHECK(refused.code() == EBUSY);
  CHECK(refused.message().find("fsck.amberfs -y " + vol) != std::string::npos);
  CHECK(refused.message().find(made->uuid) != std::string::npos);

  auto done = FinishInterruptedMkfs(vol);
  REQUIRE_MESSAGE(done.ok(), done.status().ToString());
  CHECK_FALSE(done->empty());
  CHECK(RefuseInterruptedInstall(vol).ok());
  CHECK(fs::exists(vol + "/archive/keep"));
  CHECK_FALSE(fs::exists(StagingDir(vol)));
  CHECK(VolumeConfig::Load(vol)->uuid == made->uuid);
  CHECK(FinishInterruptedMkfs(vol)->empty());  // nothing left: idempotent
}

TEST_CASE("volume_build: an interrupted build is named, and the next build removes it") {
  TempDir tmp("volume-build");
  const std::string vol = tmp / "vol";
  fs::create_directories(StagingDir(vol));
  Touch(StagingDir(vol) + "/" + kPendingMarker, "mkfs.amberfs --restore file:///x (new uuid u)\n");
  Touch(StagingDir(vol) + "/image");
  std::string said = DescribeInterruptedBuild(vol);
  CHECK(said.find("interrupted") != std::string::npos);
  CHECK(said.find("--restore file:///x") != std::string::npos);
  {
    auto build = VolumeBuild::Begin(vol, false, "again");
    REQUIRE(build.ok());
    CHECK((*build)->previous_what() == "mkfs.amberfs --restore file:///x (new uuid u)");
    CHECK_FALSE(fs::exists((*build)->dir() + "/image"));  // started over
  }
  CHECK(DescribeInterruptedBuild(vol).empty());
}
