#include "crypto/key_file.h"

#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::TempDir;

namespace {

std::string Write(const std::string& dir, const std::string& name, const std::string& content) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string AsString(const SecretBytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

}  // namespace

TEST_CASE("ReadKeyFile: whole content, one trailing newline dropped") {
  TempDir dir;
  auto a = ReadKeyFile(Write(dir.path(), "a", "secret\n"));
  REQUIRE(a.ok());
  CHECK(AsString(*a) == "secret");
  auto b = ReadKeyFile(Write(dir.path(), "b", "secret"));
  REQUIRE(b.ok());
  CHECK(AsString(*b) == "secret");
  auto c = ReadKeyFile(Write(dir.path(), "c", "two words\n\n"));
  REQUIRE(c.ok());
  CHECK(AsString(*c) == "two words\n");  // only one newline is dropped
  auto d = ReadKeyFile(Write(dir.path(), "d", std::string("a\0b\r\n", 5)));
  REQUIRE(d.ok());
  CHECK(AsString(*d) == std::string("a\0b\r", 4));  // bytes as they are
}

TEST_CASE("ReadKeyFile: empty, missing, directory and huge files are clear errors naming the file") {
  TempDir dir;
  for (const char* content : {"", "\n"}) {
    const std::string path = Write(dir.path(), "empty", content);
    auto r = ReadKeyFile(path);
    CHECK(r.status().code() == EINVAL);
    CHECK(r.status().message().find(path) != std::string::npos);
    CHECK(r.status().message().find("empty") != std::string::npos);
  }
  auto missing = ReadKeyFile(dir.path() + "/nope");
  CHECK(missing.status().code() == ENOENT);
  CHECK(missing.status().message().find("/nope") != std::string::npos);
  CHECK(ReadKeyFile(dir.path()).status().code() == EISDIR);
  auto big = ReadKeyFile(Write(dir.path(), "big", std::string(kMaxKeyFileBytes + 1, 'k')));
  CHECK(big.status().code() == EFBIG);
  CHECK(ReadKeyFile(Write(dir.path(), "max", std::string(kMaxKeyFileBytes, 'k'))).ok());
}

TEST_CASE("SecretBytes and SecretKey move, clone and truncate") {
  SecretBytes a(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("hello"), 5));
  SecretBytes b = std::move(a);
  CHECK(a.size() == 0);
  CHECK(b.size() == 5);
  SecretBytes c = b.Clone();
  c.Truncate(2);
  CHECK(AsString(c) == "he");
  CHECK(AsString(b) == "hello");
  SecretKey k;
  k.data()[0] = 7;
  SecretKey m = k.Clone();
  CHECK(m.SameAs(k));
  SecretKey n = std::move(m);
  CHECK(n.SameAs(k));
  CHECK_FALSE(m.SameAs(k));  // a moved-from key is wiped
}
