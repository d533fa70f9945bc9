#include "snapshot/catalog.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include <filesystem>
#include <fstream>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "support/temp_dir.h"

using amberfs::Catalog;
using amberfs::CatalogEntry;
using amberfs::Pointer;
using amberfs::Status;
using amberfs::testing::TempDir;

namespace {

CatalogEntry Entry(const std::string& name, uint64_t t) { return {name, t, Pointer::Of(name.data(), name.size())}; }

std::unique_ptr<Catalog> MustOpen(const TempDir& dir) {
  auto c = Catalog::Open(dir.path());
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return std::move(c).value();
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_CASE("catalog: add, get, list by time, remove") {
  TempDir dir("snap");
  auto cat = MustOpen(dir);
  CHECK(cat->List()->empty());
  REQUIRE(cat->Add(Entry("b", 300)).ok());
  REQUIRE(cat->Add(Entry("a", 200)).ok());
  REQUIRE(cat->Add(Entry("c", 200)).ok());
  REQUIRE(cat->Add(Entry("20261122T103000Z", 100)).ok());
  CHECK(cat->Add(Entry("a", 999)).code() == EEXIST);
  CHECK(cat->Get("a").value() == Entry("a", 200));  // the failed Add changed nothing

  auto list = cat->List();
  REQUIRE(list.ok());
  std::vector<std::string> names;
  for (auto& e : *list) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{"20261122T103000Z", "a", "c", "b"});
  CHECK((*list)[3] == Entry("b", 300));

  CHECK(cat->Get("zz").status().code() == ENOENT);
  CHECK(cat->Get("../x").status().code() == EINVAL);
  CHECK(cat->Add(Entry(".x", 1)).code() == EINVAL);
  CHECK(cat->Add(Entry("a/b", 1)).code() == EINVAL);
  CHECK(cat->Add({"nullrec", 1, Pointer()}).code() == EINVAL);
  CHECK(cat->Remove("zz").code() == ENOENT);
  REQUIRE(cat->Remove("a").ok());
  CHECK(cat->Get("a").status().code() == ENOENT);
  REQUIRE(cat->Add(Entry("a", 400)).ok());  // the name is free again

  cat.reset();
  cat = MustOpen(dir);  // persistent
  CHECK(cat->List()->size() == 4);
  CHECK(cat->Get("a").value() == Entry("a", 400));
}

TEST_CASE("catalog: corrupt entries and stray files are reported, never skipped") {
  TempDir dir("snap");
  auto cat = MustOpen(dir);
  REQUIRE(cat->Add(Entry("good", 1)).ok());
  REQUIRE(cat->Add(Entry("torn", 2)).ok());
  REQUIRE(cat->Add(Entry("renamed", 3)).ok());
  const std::string cdir = dir / "catalog";

  // A torn entry: cut short.
  REQUIRE(::truncate((cdir + "/torn").c_str(), 30) == 0);
  CHECK(cat->Get("torn").status().code() == EBADMSG);
  // An entry under the wrong file name (checksum fine, name differs).
  std::filesystem::rename(cdir + "/renamed", cdir + "/other");
  CHECK(cat->Get("other").status().code() == EBADMSG);
  // A bit flip in the record pointer.
  {
    REQUIRE(cat->Add(Entry("flipped", 4)).ok());
    int fd = ::open((cdir + "/flipped").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t b;
    REQUIRE(::pread(fd, &b, 1, 30) == 1);
    b ^= 1;
    REQUIRE(::pwrite(fd, &b, 1, 30) == 1);
    ::close(fd);
    CHECK(cat->Get("flipped").status().code() == EBADMSG);
  }
  WriteRaw(cdir + "/not a name", "junk");
  WriteRaw(cdir + "/huge", std::string(10000, 'x'));

  auto list = cat->List();
  CHECK(list.status().code() == EBADMSG);
  std::vector<Status> problems;
  list = cat->List(&problems);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].name == "good");
  CHECK(problems.size() == 5);
  for (auto& p : problems) {
    CHECK(p.code() == EBADMSG);
    CHECK(p.message().find(cdir) != std::string::npos);  // names the file
  }
}

TEST_CASE("catalog: stale temporaries from a crash are removed at open") {
  TempDir dir("snap");
  MustOpen(dir).reset();
  WriteRaw(dir / "catalog/.tmp-123-0", "half-written");
  auto cat = MustOpen(dir);
  CHECK_FALSE(std::filesystem::exists(dir / "catalog/.tmp-123-0"));
  auto list = cat->List();
  REQUIRE(list.ok());
  CHECK(list->empty());
  CHECK(Catalog::Open(dir / "missing/deeper").status().code() == ENOENT);
}

// The layout documented in catalog.h (and man/amberfs.5), byte for byte.
TEST_CASE("catalog: an entry file matches the documented format") {
  TempDir dir("snap");
  auto cat = MustOpen(dir);
  CatalogEntry e = Entry("nightly", 0x0102030405060708ull);
  REQUIRE(cat->Add(e).ok());
  auto bytes = amberfs::ReadSmallFile(dir / "catalog/nightly", 4096);
  REQUIRE(bytes.ok());
  REQUIRE(bytes->size() == 64 + 7);
  const uint8_t* p = bytes->data();
  CHECK(std::string(reinterpret_cast<const char*>(p), 8) == "AMBRCATE");
  CHECK(amberfs::GetLE32(p + 8) == 1);
  CHECK(amberfs::GetLE32(p + 12) == 7);
  CHECK(amberfs::GetLE64(p + 16) == e.created_ns);
  CHECK(Pointer::FromBytes(p + 24) == e.record);
  CHECK(std::string(reinterpret_cast<const char*>(p + 56), 7) == "nightly");
  CHECK(amberfs::GetLE64(p + 63) == XXH3_64bits(p, 63));
}

TEST_CASE("catalog: an entry whose name is no snapshot name is corrupt, even when it names its file (found by fuzzing)") {
  // fsck decodes whatever file it finds in catalog/; a well-formed entry for
  // the file "bad name" must not pass as a snapshot.
  for (const std::string name : {"bad name", ".hidden", "a\x01", "caf\xc3\xa9"}) {
    CAPTURE(name);
    CatalogEntry e = Entry(name, 1);
    std::vector<uint8_t> bytes = amberfs::EncodeCatalogEntry(e);
    auto decoded = amberfs::DecodeCatalogEntry(bytes, name);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.status().code() == EBADMSG);
  }
  CatalogEntry good = Entry("nightly-1.a_b", 1);
  auto decoded = amberfs::DecodeCatalogEntry(amberfs::EncodeCatalogEntry(good), good.name);
  REQUIRE(decoded.ok());
  CHECK(*decoded == good);
}
