#include "base/durable_file.h"

#include <doctest/doctest.h>
#include <dirent.h>

#include <string>

#include "support/temp_dir.h"

using amberfs::testing::TempDir;

namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

size_t EntriesIn(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (struct dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

}  // namespace

TEST_CASE("durable file: atomic replace, no-replace, bounded reads, removal") {
  TempDir dir("snap");
  REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("one"), false).ok());
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("one"));
  REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("two!"), false).ok());
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("two!"));
  CHECK(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("three"), true).code() == EEXIST);
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("two!"));
  CHECK(EntriesIn(dir.path()) == 1);  // no temporary left behind
  CHECK(amberfs::ReadSmallFile(dir / "f", 3).status().code() == EFBIG);
  CHECK(amberfs::ReadSmallFile(dir / "g", 3).status().code() == ENOENT);
  CHECK(amberfs::WriteFileAtomic(dir / "nodir", "f", Bytes("x"), false).code() == ENOENT);
  REQUIRE(amberfs::RemoveDurably(dir.path(), "f").ok());
  CHECK(amberfs::RemoveDurably(dir.path(), "f").code() == ENOENT);
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).status().code() == ENOENT);
}
