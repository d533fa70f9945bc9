// Volume as the frontend sees it: I/O, flush and snapshots only through the
// Volume (amberfs/volume.h); nothing internal is reached.
#include "amberfs/volume.h"

#include <doctest/doctest.h>

#include <vector>

#include "amberfs/volume_create.h"
#include "support/temp_dir.h"
#include "support/test_volume.h"
#include "volume/ctl.h"

using namespace amberfs;
using amberfs::testing::TempDir;

namespace {

constexpr uint64_t kSize = 4 << 20;

std::unique_ptr<Volume> OpenVolume(const std::string& voldir, bool read_only) {
  return amberfs::testing::OpenTestVolume(voldir, read_only);
}

std::vector<uint8_t> Bytes(uint8_t seed, size_t n) { return amberfs::testing::PatternBytes(seed, n); }

}  // namespace

TEST_CASE("volume: read, write, discard, flush and snapshots through the Volume") {
  TempDir dir("volume");
  const std::string voldir = dir / "vol";
  amberfs::testing::CreateTestVolume(voldir, kSize);

  std::vector<uint8_t> a = Bytes(1, 100000);
  {
    std::unique_ptr<Volume> v = OpenVolume(voldir, false);
    REQUIRE(v->has_snapshots());
    CHECK(v->ListSnapshots().value().empty());
    REQUIRE(v->Write(a.data(), a.size(), 12345).ok());
    std::vector<uint8_t> back(a.size());
    REQUIRE(v->Read(back.data(), back.size(), 12345).ok());
    CHECK(back == a);
    REQUIRE(v->Flush().ok());

    CtlDispatcher ctl;
    v->RegisterCtl(&ctl);
    REQUIRE(ctl.Execute("snapshot A").status.ok());
    REQUIRE(v->Discard(0, kSize).ok());
    std::vector<uint8_t> zeros(a.size()), now(a.size());
    REQUIRE(v->Read(now.data(), now.size(), 12345).ok());
    CHECK(now == zeros);
    Result<std::vector<SnapshotInfo>> list = v->ListSnapshots();
    REQUIRE(list.ok());
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].name == "A");
    std::vector<uint8_t> at_a(a.size());
    REQUIRE(v->ReadSnapshot("A", at_a.data(), at_a.size(), 12345).ok());
    CHECK(at_a == a);
    CHECK(v->ReadSnapshot("B", at_a.data(), at_a.size(), 0).code() == ENOENT);
    REQUIRE(v->Close().ok());
  }
  {
    std::unique_ptr<Volume> v = OpenVolume(voldir, true);
    CHECK_FALSE(v->has_snapshots());
    CHECK(v->ListSnapshots().value().empty());
    std::vector<uint8_t> buf(16);
    CHECK(v->ReadSnapshot("A", buf.data(), buf.size(), 0).code() == ENOENT);
    REQUIRE(v->Read(buf.data(), buf.size(), 0).ok());
    REQUIRE(v->Close().ok());
  }
}
