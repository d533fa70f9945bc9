// ListVolumeSnapshots on a real volume written through Volume: the figures
// match what was written, and a missing slow store or blob makes figures
// unknown with a reason instead of failing the listing.
#include "amberfs/snapshot_listing.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <vector>

#include "amberfs/volume.h"
#include "amberfs/volume_create.h"
#include "store/packed_disk_store.h"
#include "support/slow_store_damage.h"
#include "support/temp_dir.h"
#include "volume/ctl.h"

using namespace amberfs;
using amberfs::testing::TempDir;

namespace {

constexpr uint64_t kSize = 4 << 20;
constexpr uint64_t kChunk = 64 << 10;
constexpr uint64_t kNode = 256 * 32;  // one index node: 4 MiB is 64 chunks, one leaf

void Fill(Volume& v, uint8_t seed, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> b(length);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed + i * 13 + i / 4096);
  REQUIRE(v.Write(b.data(), b.size(), offset).ok());
}

// Opens voldir as a mount would (plain I/O, a 1 MiB cache), runs `work`
// against it and its ctl dispatcher, and closes it.
void WithVolume(const std::string& voldir, const std::function<void(Volume&, CtlDispatcher&)>& work) {
  VolumeOptions o;
  o.cache_bytes = 1 << 20;
  o.io = IoBackend::kPlain;
  Result<std::unique_ptr<Volume>> v = Volume::Open(voldir, o);
  REQUIRE(v.ok());
  CtlDispatcher ctl;
  (*v)->RegisterCtl(&ctl);
  work(**v, ctl);
  REQUIRE((*v)->Close().ok());
}

}  // namespace

TEST_CASE("snapshot_listing: sizes, unique bytes, upload state, and what is unknown") {
  TempDir dir("snapshot-listing");
  const std::string voldir = dir / "vol";
  // Plaintext blobs (compress none), so each size is known exactly here.
  REQUIRE(CreateVolume(CreateVolumeOptions{.voldir = voldir, .size = kSize, .compress = false}).ok());
  {
    Result<std::vector<SnapshotListing>> none = ListVolumeSnapshots(voldir, {});
    REQUIRE(none.ok());
    CHECK(none->empty());
  }
  WithVolume(voldir, [](Volume& v, CtlDispatcher& ctl) {
    Fill(v, 1, 0, 2 * kChunk);  // A: chunks 0 and 1
    REQUIRE(ctl.Execute("snapshot A").status.ok());
    Fill(v, 2, 0, kChunk);  // B: chunk 0 new, chunk 1 shared with A
    REQUIRE(ctl.Execute("snapshot B").status.ok());
    REQUIRE(ctl.Execute("drain").status.ok());
  });

  Result<std::vector<SnapshotListing>> list = ListVolumeSnapshots(voldir, {});
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  for (const SnapshotListing& s : *list) {
    INFO(s.name << ": " << s.problem);
    CHECK(s.problem.empty());
    CHECK(s.logical_bytes == kSize);
    // Two chunks, one index node, the record (136 + name bytes).
    CHECK(s.stored_bytes == 2 * kChunk + kNode + 137);
    // Its own chunk 0, its own node and record; chunk 1 is shared.
    CHECK(s.unique_bytes == kChunk + kNode + 137);
    CHECK(s.uploaded == true);
    CHECK(s.record.size() == 64);
  }
  CHECK((*list)[0].name == "A");
  CHECK((*list)[1].name == "B");
  CHECK((*list)[0].created_ns <= (*list)[1].created_ns);

  SUBCASE("names only: no sizes, no upload state") {
    ListSnapshotsOptions o;
    o.sizes = o.uploads = false;
    Result<std::vector<SnapshotListing>> names = ListVolumeSnapshots(voldir, o);
    REQUIRE(names.ok());
    REQUIRE(names->size() == 2);
    CHECK_FALSE((*names)[0].stored_bytes.has_value());
    CHECK_FALSE((*names)[0].uploaded.has_value());
  }
  SUBCASE("the slow store is gone: sizes from the fast store, upload state unknown") {
    std::filesystem::rename(voldir + "/archive", voldir + "/archive.away");
    Result<std::vector<SnapshotListing>> l = ListVolumeSnapshots(voldir, {});
    REQUIRE(l.ok());
    CHECK((*l)[0].stored_bytes == 2 * kChunk + kNode + 137);
    CHECK_FALSE((*l)[0].uploaded.has_value());
    CHECK((*l)[0].problem.find("upload state unknown") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(voldir + "/archive"));  // not created by the listing
  }
  SUBCASE("a record gone from both stores: that snapshot's sizes unknown, no unique bytes") {
    const std::string rec = (*list)[1].record;
    {  // the fast copy sits in a pack: out of the index, as a delete does it
      auto fast = PackedDiskStore::Open(voldir + "/fast");
      REQUIRE(fast.ok());
      REQUIRE((*fast)->Delete(Pointer::FromHex(rec).value()).ok());
    }
    REQUIRE(testing::RemoveSlowBlob(voldir + "/archive", Pointer::FromHex(rec).value()));
    Result<std::vector<SnapshotListing>> l = ListVolumeSnapshots(voldir, {});
    REQUIRE(l.ok());
    CHECK((*l)[0].stored_bytes.has_value());
    CHECK_FALSE((*l)[1].stored_bytes.has_value());
    CHECK((*l)[1].problem.find(rec) != std::string::npos);
    CHECK_FALSE((*l)[0].unique_bytes.has_value());
  }
  SUBCASE("not a volume") {
    Result<std::vector<SnapshotListing>> l = ListVolumeSnapshots(dir.path(), {});
    CHECK_FALSE(l.ok());
    CHECK(l.status().message().find("not an amberfs volume") != std::string::npos);
  }
}

TEST_CASE("snapshot_listing: a compressed volume's sizes are what its stores hold") {
  TempDir dir("snapshot-listing");
  const std::string voldir = dir / "vol";
  REQUIRE(CreateVolume(CreateVolumeOptions{.voldir = voldir, .size = kSize}).ok());  // zstd, the default
  WithVolume(voldir, [](Volume& v, CtlDispatcher& ctl) {
    Fill(v, 1, 0, 2 * kChunk);  // a pattern: it compresses
    REQUIRE(ctl.Execute("snapshot A").status.ok());
    REQUIRE(ctl.Execute("drain").status.ok());
  });
  Result<std::vector<SnapshotListing>> list = ListVolumeSnapshots(voldir, {});
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  const uint64_t stored = (*list)[0].stored_bytes.value_or(0);
  INFO("stored " << stored);
  CHECK(stored > 0);
  CHECK(stored < kChunk);  // two 64 KiB chunks, a node and a record, compressed
  CHECK((*list)[0].unique_bytes == stored);
  // The slow store gone: the same sizes, from the fast store's index.
  std::filesystem::rename(voldir + "/archive", voldir + "/archive.away");
  Result<std::vector<SnapshotListing>> fast_only = ListVolumeSnapshots(voldir, {});
  REQUIRE(fast_only.ok());
  CHECK((*fast_only)[0].stored_bytes == stored);
}
