#include "amberfs/volume_config.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "base/durable_file.h"
#include "snapshot/change_tracker.h"
#include "snapshot/volume_layout.h"

using namespace amberfs;

namespace {

VolumeConfig SampleConfig() {
  VolumeConfig c;
  c.uuid = NewVolumeUuid().value();
  c.size = 1ull << 30;
  c.block_size = 4096;
  c.chunk_size = 65536;
  c.image = "image";
  c.slow_url = "file:///var/lib/amberfs/demo/archive";
  return c;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mount-config-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("volume_config: uuids are random version 4") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string u = NewVolumeUuid().value();
    CHECK(u.size() == 36);
    CHECK(u[14] == '4');
    CHECK(std::string("89ab").find(u[19]) != std::string::npos);
    seen.insert(u);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("volume_config: serialize and parse round trip") {
  VolumeConfig c = SampleConfig();
  c.image = "/dev/disk/by-id/some disk";
  c.slow_url = "s3://my-bucket/vols/a?endpoint=http://127.0.0.1:4569&region=x";
  REQUIRE(c.Validate().ok());
  std::string text = c.Serialize();
  Result<VolumeConfig> back = VolumeConfig::Parse(text);
  REQUIRE(back.ok());
  CHECK(back->uuid == c.uuid);
  CHECK(back->size == c.size);
  CHECK(back->block_size == c.block_size);
  CHECK(back->chunk_size == c.chunk_size);
  CHECK(back->image == c.image);
  CHECK(back->slow_url == c.slow_url);
  CHECK(back->Serialize() == text);
  CHECK(text.starts_with("amberfs-volume 3\n"));
  CHECK(back->compress == c.compress);
  CHECK(back->encrypted == c.encrypted);
}

TEST_CASE("volume_config: every single-byte change and every truncation is refused") {
  const std::string text = SampleConfig().Serialize();
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CAPTURE(i);
    CHECK(VolumeConfig::Parse(bad).status().code() == EINVAL);
  }
  for (size_t len = 0; len < text.size(); ++len) {
    CAPTURE(len);
    CHECK(VolumeConfig::Parse(text.substr(0, len)).status().code() == EINVAL);
  }
  CHECK(VolumeConfig::Parse(text + "x\n").status().code() == EINVAL);
  std::string msg = VolumeConfig::Parse("amberfs-volume 2\nsize 5\nchecksum xxh3 0000000000000000\n").status().message();
  CHECK(msg.find("checksum mismatch") != std::string::npos);
}

// Wraps an arbitrary body in the checksum line the format defines (XXH3_64bits
// of every byte before the line, 16 lower-case hex digits), so the checks that
// sit behind the checksum are reached.
static std::string WithChecksum(const std::string& body) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(body.data(), body.size())));
  return body + "checksum xxh3 " + hex + "\n";
}

TEST_CASE("volume_config: semantic errors behind a valid checksum") {
  const std::string uuid = NewVolumeUuid().value();
  auto body = [&](const std::string& version, const std::string& size, const std::string& block,
                  const std::string& chunk, const std::string& extra) {
    return "amberfs-volume " + version + "\nuuid " + uuid + "\nsize " + size + "\nblock_size " + block +
           "\nchunk_size " + chunk + "\nimage image\nslow file:///x/archive\n" + extra;
  };
  CHECK(VolumeConfig::Parse(WithChecksum(body("2", "1048576", "4096", "65536", ""))).ok());
  const std::string codec = "compress zstd\nencryption aes-256-gcm\n";
  Result<VolumeConfig> v3 = VolumeConfig::Parse(WithChecksum(body("3", "1048576", "4096", "65536", codec)));
  REQUIRE(v3.ok());
  CHECK(v3->format == 3);
  CHECK(v3->compress);
  CHECK(v3->encrypted);
  Result<VolumeConfig> v2 = VolumeConfig::Parse(WithChecksum(body("2", "1048576", "4096", "65536", "")));
  CHECK((v2->format == 2 && !v2->compress && !v2->encrypted));
  CHECK(v2->Serialize().starts_with("amberfs-volume 2\n"));  // a rewrite (resize) keeps it 2
  struct Case { std::string text; std::string why; };
  Case cases[] = {
      {body("4", "1048576", "4096", "65536", codec), "format version 4 is not supported (this amberfs reads 2 and 3)"},
      {body("1", "1048576", "4096", "65536", ""), "format version 1 is not supported (this amberfs reads 2 and 3; version 1 keeps one file per blob"},
      {body("3", "1048576", "4096", "65536", ""), "missing keys"},
      {body("3", "1048576", "4096", "65536", "compress zstd\n"), "missing keys"},
      {body("3", "1048576", "4096", "65536", "compress lz4\nencryption none\n"), "compress must be zstd or none"},
      {body("3", "1048576", "4096", "65536", "compress none\nencryption rot13\n"), "encryption must be"},
      {body("2", "1048576", "4096", "65536", "compress zstd\n"), "unknown key 'compress'"},
      {body("2", "1048576", "4096", "65536", "colour blue\n"), "unknown key"},
      {body("2", "1048576", "4096", "65536", "size 5\n"), "duplicate key"},
      {body("2", "0", "4096", "65536", ""), "zero"},
      {body("2", "1000000", "4096", "65536", ""), "not a multiple of the chunk size"},
      {body("2", "1048576", "3000", "65536", ""), "block size"},
      {body("2", "1048576", "8192", "4096", ""), "chunk size"},
      {body("2", "1048576", "4096", "98304", ""), "chunk size"},
      {body("2", "12x", "4096", "65536", ""), "bad number"},
      {body("2", "99999999999999999999", "4096", "65536", ""), "too large"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.why);
    Status st = VolumeConfig::Parse(WithChecksum(k.text)).status();
    CHECK(st.code() == EINVAL);
    CHECK(st.message().find(k.why) != std::string::npos);
  }
  CHECK(VolumeConfig::Parse(WithChecksum("hello 1\n")).status().message().find("bad magic") != std::string::npos);
}

TEST_CASE("volume_config: the slow URL goes through the store_url parser") {
  VolumeConfig c = SampleConfig();
  for (const char* good : {"file:///srv/archive", "s3://bucket", "s3://my-bucket/prefix/x?endpoint=http://127.0.0.1:9000"}) {
    c.slow_url = good;
    CAPTURE(good);
    CHECK(c.Validate().ok());
  }
  for (const char* bad : {"", "/srv/archive", "file://relative", "http://x/y", "s3://", "s3://Upper",
                          "file:///a\nb"}) {
    c.slow_url = bad;
    CAPTURE(bad);
    CHECK(c.Validate().code() == EINVAL);
  }
  CHECK(DefaultSlowUrl("/srv/vol") == "file:///srv/vol/archive");
}

TEST_CASE("volume_config: store and load through the file system") {
  TempDir dir;
  VolumeConfig c = SampleConfig();
  REQUIRE(c.Store(dir.path).ok());
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    CHECK(e.path().filename() == "config");  // no temporary left behind
  }
  Result<VolumeConfig> back = VolumeConfig::Load(dir.path);
  REQUIRE(back.ok());
  CHECK(back->uuid == c.uuid);
  CHECK(back->ImagePath(dir.path) == dir.path + "/image");
  VolumeConfig abs = c;
  abs.image = "/dev/loop7";
  CHECK(abs.ImagePath(dir.path) == "/dev/loop7");

  // A torn file: the first half of a newer config over the old one.
  std::string text = c.Serialize();
  std::string half = text.substr(0, text.size() / 2);
  REQUIRE(WriteFileAtomic(dir.path, "config", std::span(reinterpret_cast<const uint8_t*>(half.data()), half.size()),
                          /*no_replace=*/false)
              .ok());
  Status st = VolumeConfig::Load(dir.path).status();
  CHECK(st.code() == EINVAL);
  CHECK(st.message().find(dir.path + "/config") != std::string::npos);

  TempDir empty;
  st = VolumeConfig::Load(empty.path).status();
  CHECK(st.code() == ENOENT);
  CHECK(st.message().find("not an amberfs volume") != std::string::npos);

  VolumeConfig bad = c;
  bad.size = 12345;
  CHECK(bad.Store(empty.path).code() == EINVAL);
  CHECK_FALSE(std::filesystem::exists(empty.path + "/config"));
}

TEST_CASE("volume_config: the geometry it accepts is the one the snapshot layer accepts") {
  // Chunks below 4 KiB were once accepted here and refused by the mount.
  for (uint32_t chunk : {512u, 1024u, 2048u}) {
    CAPTURE(chunk);
    VolumeConfig c = SampleConfig();
    c.block_size = 512;
    c.chunk_size = chunk;
    Status st = c.Validate();
    CHECK(st.code() == EINVAL);
    CHECK(st.message().find("from 4K to 64M") != std::string::npos);
    CHECK(ValidateVolumeGeometry(c.size, c.block_size, c.chunk_size).code() == EINVAL);
  }
  // Every geometry the config accepts is one the change tracker accepts.
  for (uint32_t block = 256; block <= (128u << 10); block *= 2) {
    for (uint32_t chunk = 256; chunk <= (128u << 20); chunk *= 2) {
      CAPTURE(block);
      CAPTURE(chunk);
      if (ValidateVolumeGeometry(1ull << 30, block, chunk).ok()) {
        CHECK(ChangeTracker::CheckGeometry(1ull << 30, chunk).ok());
        CHECK(chunk >= block);
      }
    }
  }
  CHECK(ValidateVolumeGeometry(1ull << 30, 512, 4096).ok());
}
