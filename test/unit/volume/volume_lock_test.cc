#include "volume/volume_lock.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "amberfs/volume_create.h"
#include "base/durable_file.h"
#include "snapshot/volume_layout.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::TempDir;
namespace fs = std::filesystem;

namespace {

ino_t Inode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

}  // namespace

TEST_CASE("volume_lock: marking a mount takes no new file, so a full disk cannot stop it") {
  TempDir tmp("volume-lock");
  const std::string vol = tmp.path() + "/vol";
  CreateVolumeOptions o;
  o.voldir = vol;
  o.size = 16 << 20;
  REQUIRE(CreateVolume(o).ok());
  const std::string spare = vol + "/" + kSpareMarker, marker = vol + "/" + kMountedMarker;
  REQUIRE(fs::exists(spare));  // mkfs makes it
  CHECK(fs::file_size(spare) == VolumeLock::kMarkerBytes);
  const ino_t file = Inode(spare);
  {
    Result<VolumeLock> lock = VolumeLock::Acquire(vol, "mount");
    REQUIRE(lock.ok());
    CHECK_FALSE(lock->previous_unclean());
    REQUIRE(lock->MarkMounted().ok());
    CHECK_FALSE(fs::exists(spare));
    CHECK(Inode(marker) == file);  // the same file, rewritten in place and renamed
    REQUIRE(lock->MarkClean().ok());
    CHECK_FALSE(fs::exists(marker));
    CHECK(Inode(spare) == file);
    REQUIRE(lock->MarkMounted().ok());
  }  // dies marked, like a killed daemon
  {
    Result<VolumeLock> lock = VolumeLock::Acquire(vol, "mount");
    REQUIRE(lock.ok());
    CHECK(lock->previous_unclean());
    CHECK(lock->previous_marker().find("mounted by pid " + std::to_string(::getpid())) == 0);
    CHECK(lock->previous_marker().find('\0') == std::string::npos);
    REQUIRE(lock->MarkMounted().ok());  // rewritten in place
    CHECK(Inode(marker) == file);
    REQUIRE(lock->MarkClean().ok());
  }
  for (const auto& e : fs::directory_iterator(vol)) CHECK_FALSE(IsTempName(e.path().filename().string()));
}

TEST_CASE("volume_lock: a volume without a spare (older mkfs) gets one; old markers still read") {
  TempDir tmp("volume-lock");
  {
    Result<VolumeLock> lock = VolumeLock::Acquire(tmp.path(), "mount");
    REQUIRE(lock.ok());
    REQUIRE(lock->MarkMounted().ok());
    REQUIRE(lock->MarkClean().ok());
    CHECK(fs::exists(tmp.path() + "/" + kSpareMarker));
  }
  // The marker an older version wrote: one short line, no padding.
  { FILE* f = fopen((tmp.path() + "/" + kMountedMarker).c_str(), "w"); fputs("mounted by pid 7 at 2026-01-01T00:00:00Z\n", f); fclose(f); }
  Result<VolumeLock> lock = VolumeLock::Acquire(tmp.path(), "mount");
  REQUIRE(lock.ok());
  CHECK(lock->previous_marker() == "mounted by pid 7 at 2026-01-01T00:00:00Z");
  REQUIRE(lock->MarkMounted().ok());
  REQUIRE(lock->MarkClean().ok());
  CHECK_FALSE(fs::exists(tmp.path() + "/" + kMountedMarker));
}
