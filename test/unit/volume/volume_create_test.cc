#include "amberfs/volume_create.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "volume/volume_lock.h"

using namespace amberfs;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mount-create-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

CreateVolumeOptions Options(const std::string& voldir, uint64_t size = 16 << 20) {
  CreateVolumeOptions o;
  o.voldir = voldir;
  o.size = size;
  return o;
}

// Every path under `dir` with its size, to prove a refusal changed nothing.
std::string Snapshot(const std::string& dir) {
  std::string out;
  if (!fs::exists(dir)) return "(missing)";
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out += e.path().string();
    if (e.is_regular_file()) out += " " + std::to_string(e.file_size());
    out += "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("volume_create: lays out a volume directory") {
  TempDir tmp;
  const std::string vol = tmp.path + "/a/b/vol";
  Result<VolumeConfig> c = CreateVolume(Options(vol));
  REQUIRE(c.ok());
  CHECK(c->size == 16 << 20);
  CHECK(c->image == "image");
  CHECK(c->slow_url == "file://" + vol + "/archive");
  for (const char* dir : {"fast", "catalog", "archive"}) CHECK(fs::is_directory(vol + "/" + dir));
  struct stat st;
  REQUIRE(::stat((vol + "/image").c_str(), &st) == 0);
  CHECK(st.st_size == 16 << 20);
  CHECK(st.st_blocks == 0);  // sparse
  Result<VolumeConfig> loaded = VolumeConfig::Load(vol);
  REQUIRE(loaded.ok());
  CHECK(loaded->uuid == c->uuid);
}

TEST_CASE("volume_create: refuses to replace a volume without force") {
  TempDir tmp;
  const std::string vol = tmp.path + "/vol";
  Result<VolumeConfig> first = CreateVolume(Options(vol));
  REQUIRE(first.ok());
  const std::string before = Snapshot(vol);
  Result<VolumeConfig> again = CreateVolume(Options(vol, 32 << 20));
  CHECK(again.status().code() == EEXIST);
  CHECK(again.status().message().find(first->uuid) != std::string::npos);
  CHECK(Snapshot(vol) == before);

  CreateVolumeOptions forced = Options(vol, 32 << 20);
  forced.force = true;
  Result<VolumeConfig> second = CreateVolume(forced);
  REQUIRE(second.ok());
  CHECK(second->uuid != first->uuid);
  CHECK(fs::file_size(vol + "/image") == 32u << 20);
}

TEST_CASE("volume_create: force refuses a volume that is in use") {
  TempDir tmp;
  const std::string vol = tmp.path + "/vol";
  REQUIRE(CreateVolume(Options(vol)).ok());
  Result<VolumeLock> held = VolumeLock::Acquire(vol, "mount");
  REQUIRE(held.ok());
  const std::string before = Snapshot(vol);
  CreateVolumeOptions forced = Options(vol);
  forced.force = true;
  Status st = CreateVolume(forced).status();
  CHECK(st.code() == EBUSY);
  CHECK(st.message().find("mount by pid") != std::string::npos);
  CHECK(Snapshot(vol) == before);
}

TEST_CASE("volume_create: nonsense is refused and nothing is created") {
  TempDir tmp;
  const std::string vol = tmp.path + "/vol";
  struct Case { const char* why; CreateVolumeOptions o; int err; };
  CreateVolumeOptions no_size = Options(vol, 0);
  CreateVolumeOptions odd_chunk = Options(vol);
  odd_chunk.chunk_size = 96 << 10;
  CreateVolumeOptions small_chunk = Options(vol);
  small_chunk.block_size = 8192;
  small_chunk.chunk_size = 4096;
  CreateVolumeOptions ragged = Options(vol, (16 << 20) + 4096);
  CreateVolumeOptions bad_url = Options(vol);
  bad_url.slow_url = "ftp://x";
  CreateVolumeOptions bad_block = Options(vol);
  bad_block.block_size = 1000;
  Case cases[] = {
      {"no size", no_size, EINVAL},      {"chunk not a power of two", odd_chunk, EINVAL},
      {"chunk < block", small_chunk, EINVAL}, {"size not a multiple", ragged, EINVAL},
      {"bad url", bad_url, EINVAL},      {"bad block", bad_block, EINVAL},
  };
  for (const Case& k : cases) {
    CAPTURE(k.why);
    Status st = CreateVolume(k.o).status();
    CHECK(st.code() == k.err);
    CHECK_FALSE(st.message().empty());
    CHECK_FALSE(fs::exists(vol));
  }

  // A directory with other files in it.
  fs::create_directories(vol);
  { FILE* f = fopen((vol + "/precious").c_str(), "w"); fputs("x", f); fclose(f); }
  const std::string before = Snapshot(vol);
  CHECK(CreateVolume(Options(vol)).status().code() == EEXIST);
  CHECK(Snapshot(vol) == before);

  // A file where the directory should be.
  CHECK(CreateVolume(Options(vol + "/precious")).status().code() == EINVAL);
}

TEST_CASE("volume_create: an existing image is used as it is") {
  TempDir tmp;
  const std::string img = tmp.path + "/disk.img";
  { FILE* f = fopen(img.c_str(), "w"); REQUIRE(f); fclose(f); }
  fs::resize_file(img, 8 << 20);

  CreateVolumeOptions wrong = Options(tmp.path + "/v1", 16 << 20);
  wrong.image = img;
  Status st = CreateVolume(wrong).status();
  CHECK(st.code() == EINVAL);
  CHECK(st.message().find("8388608") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path + "/v1"));

  CreateVolumeOptions take = Options(tmp.path + "/v2", 0);
  take.image = img;
  Result<VolumeConfig> c = CreateVolume(take);
  REQUIRE(c.ok());
  CHECK(c->size == 8u << 20);
  CHECK(c->image == img);
  CHECK_FALSE(fs::exists(tmp.path + "/v2/image"));

  CreateVolumeOptions fresh = Options(tmp.path + "/v3", 4 << 20);
  fresh.image = tmp.path + "/new.img";
  REQUIRE(CreateVolume(fresh).ok());
  CHECK(fs::file_size(tmp.path + "/new.img") == 4u << 20);

  CreateVolumeOptions dir_image = Options(tmp.path + "/v4", 4 << 20);
  dir_image.image = tmp.path;
  CHECK(CreateVolume(dir_image).status().code() == EINVAL);
}

TEST_CASE("volume_lock: one holder, and unclean shutdowns are noticed") {
  TempDir tmp;
  {
    Result<VolumeLock> a = VolumeLock::Acquire(tmp.path, "mount");
    REQUIRE(a.ok());
    CHECK_FALSE(a->previous_unclean());
    Result<VolumeLock> b = VolumeLock::Acquire(tmp.path, "mount");
    CHECK(b.status().code() == EBUSY);
    CHECK(b.status().message().find("mounted only once") != std::string::npos);
    REQUIRE(a->MarkMounted().ok());
  }  // dies without MarkClean, like a killed daemon
  {
    Result<VolumeLock> a = VolumeLock::Acquire(tmp.path, "mount");
    REQUIRE(a.ok());
    CHECK(a->previous_unclean());
    CHECK(a->previous_marker().find("mounted by pid") != std::string::npos);
    REQUIRE(a->MarkMounted().ok());
    REQUIRE(a->MarkClean().ok());
  }
  Result<VolumeLock> c = VolumeLock::Acquire(tmp.path, "mount");
  REQUIRE(c.ok());
  CHECK_FALSE(c->previous_unclean());
}
