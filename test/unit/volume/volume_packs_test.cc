// A volume's fast store keeps snapshots' blobs in packs (docs/DESIGN.md,
// "Packs"), and a volume of the older one-file-per-blob format is refused
// at open with both format versions named.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "amberfs/volume.h"
#include "amberfs/volume_config.h"
#include "support/temp_dir.h"
#include "support/test_volume.h"
#include "volume/ctl.h"

using namespace amberfs;
using amberfs::testing::TempDir;

namespace {

constexpr uint64_t kSize = 4 << 20;

// Regular files under dir whose names do not start with '.' (no temp files).
size_t FilesUnder(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') ++n;
  return n;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("volume: a snapshot's blobs go into packs, not one file each, and read back") {
  TempDir dir("volume-packs");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kSize);
  CHECK(ReadText(voldir + "/config").starts_with("amberfs-volume " + std::to_string(kVolumeFormatVersion) + "\n"));
  CHECK(kVolumeFormatVersion == 3);
  const std::vector<uint8_t> a = amberfs::testing::PatternBytes(7, 1 << 20);
  {
    std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
    REQUIRE(v->Write(a.data(), a.size(), 65536).ok());
    CtlDispatcher ctl;
    v->RegisterCtl(&ctl);
    REQUIRE(ctl.Execute("snapshot A").status.ok());
    REQUIRE(v->Close().ok());
  }
  // 16 chunks, index nodes and a record: one pack, no loose blob files.
  CHECK(FilesUnder(voldir + "/fast/packs") == 1);
  CHECK(FilesUnder(voldir + "/fast/blobs") == 0);
  std::unique_ptr<Volume> v = amberfs::testing::OpenTestVolume(voldir);
  std::vector<uint8_t> back(a.size());
  REQUIRE(v->ReadSnapshot("A", back.data(), back.size(), 65536).ok());
  CHECK(back == a);
  REQUIRE(v->Close().ok());
}

TEST_CASE("volume: a volume of format version 1 is refused at open, naming both versions") {
  TempDir dir("volume-packs");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kSize);
  // The same config as a version-1 mkfs wrote it: first line, then the checksum line recomputed.
  std::string text = ReadText(voldir + "/config");
  const std::string first = "amberfs-volume " + std::to_string(kVolumeFormatVersion) + "\n";
  REQUIRE(text.starts_with(first));
  std::string body = "amberfs-volume 1\n" + text.substr(first.size(), text.rfind("checksum xxh3 ") - first.size());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits(body.data(), body.size())));
  std::ofstream(voldir + "/config", std::ios::trunc) << body << "checksum xxh3 " << hex << "\n";

  VolumeOptions o;
  o.io = IoBackend::kPlain;
  Result<std::unique_ptr<Volume>> v = Volume::Open(voldir, o);
  REQUIRE_FALSE(v.ok());
  INFO(v.status().ToString());
  CHECK(v.status().code() == EINVAL);
  CHECK(v.status().message().find("format version 1 is not supported (this amberfs reads 2") != std::string::npos);
  CHECK(v.status().message().find("does not migrate") != std::string::npos);
}
