#include "amberfs/volume_holder.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "support/temp_dir.h"
#include "volume/volume_lock.h"

using namespace amberfs;

TEST_CASE("volume_holder: the lock's holder from /proc/locks, the unclean marker") {
  testing::TempDir dir("volume-holder");
  {
    Result<std::optional<VolumeHolder>> none = FindVolumeHolder(dir.path());
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());  // no lock file yet: never used
  }
  std::optional<VolumeLock> lock;
  {
    Result<VolumeLock> taken = VolumeLock::Acquire(dir.path(), "mount");
    REQUIRE(taken.ok());
    lock.emplace(std::move(taken).value());
  }
  Result<std::optional<VolumeHolder>> held = FindVolumeHolder(dir.path());
  REQUIRE(held.ok());
  REQUIRE(held->has_value());
  CHECK((*held)->pid == ::getpid());
  CHECK((*held)->what.rfind("mount by pid " + std::to_string(::getpid()) + " since ", 0) == 0);
  CHECK(PidNamedIn((*held)->what) == ::getpid());

  REQUIRE(lock->MarkMounted().ok());
  Result<std::optional<std::string>> marker = ReadMountedMarker(dir.path());
  REQUIRE(marker.ok());
  REQUIRE(marker->has_value());
  CHECK(PidNamedIn(**marker) == ::getpid());
  REQUIRE(lock->MarkClean().ok());
  marker = ReadMountedMarker(dir.path());
  REQUIRE(marker.ok());
  CHECK_FALSE(marker->has_value());

  lock.reset();  // released: the line stays in the file, the lock does not
  held = FindVolumeHolder(dir.path());
  REQUIRE(held.ok());
  CHECK_FALSE(held->has_value());

  CHECK(PidNamedIn("mkfs by pid 12 since 2026-01-01T00:00:00Z") == 12);
  CHECK(PidNamedIn("no pid here") == 0);
  CHECK(PidNamedIn("by pid x") == 0);
}

TEST_CASE("volume_holder: a pid too big, or not right after \"by pid \", names no process") {
  CHECK(PidNamedIn("mounted by pid 2147483647 at 2026-01-02T03:04:05Z") == 2147483647);
  // Once these named 42 (wrapped to 32 bits), 1234567890 (cut to 10 digits)
  // and 42 (blanks and sign skipped).
  CHECK(PidNamedIn("mount by pid 4294967338 since 2026-01-02T03:04:05Z") == 0);
  CHECK(PidNamedIn("mount by pid 12345678901 since 2026-01-02T03:04:05Z") == 0);
  CHECK(PidNamedIn("mount by pid 2147483648") == 0);
  CHECK(PidNamedIn("mount by pid  42") == 0);
  CHECK(PidNamedIn("mount by pid +42") == 0);
}
