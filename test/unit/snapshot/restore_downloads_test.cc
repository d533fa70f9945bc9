// Restore downloads (restore_downloads.h): chunks in packs are fetched by
// ranges of their packs, one request for many; a blob wanted at several
// chunks once; a gap or a cap splits a pack's range; loose blobs and stores
// without packs one by one; a damaged blob in a range is EBADMSG naming it,
// and FetchAll fetches it and the rest of its range one by one.
#include "snapshot/restore_downloads.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "store/disk_store.h"
#include "store/pack_objects.h"
#include "store/slow_packs.h"
#include "support/counting_store.h"
#include "support/pack_test_util.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::BuildPack;
using testing::BuildPackOf;
using testing::BuiltPack;
using testing::CountingStore;
using testing::TempDir;

struct Rig {
  TempDir dir{"restore-dl"};
  CountingStore* counted = nullptr;
  std::unique_ptr<SlowPacks> store;
  BuiltPack a, b;
  std::vector<uint8_t> loose = testing::TestBlob(999, 5000);

  Rig() {
    auto disk = DiskStore::Open(dir / "slow");
    REQUIRE(disk.ok());
    auto c = std::make_unique<CountingStore>(std::move(disk).value());
    counted = c.get();
    store = std::make_unique<SlowPacks>(std::move(c));
    std::filesystem::create_directories(dir / "build");
    a = BuildPack(dir / "build", 0, 8);
    b = BuildPack(dir / "build", 100, 5);
    REQUIRE(PutPack(*store, a.sealed.name, a.bytes).ok());
    REQUIRE(PutPack(*store, b.sealed.name, b.bytes).ok());
    REQUIRE(store->Put(Pointer::Of(loose), loose).ok());
  }
};

// Fetches every download and checks each blob lands at its chunks.
std::map<uint64_t, std::vector<uint8_t>> FetchAll(Store* store, const std::vector<Download>& downloads) {
  std::map<uint64_t, std::vector<uint8_t>> at;
  for (const Download& d : downloads) {
    auto got = FetchDownload(store, d);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    REQUIRE(got->size() == d.blobs.size());
    for (size_t i = 0; i < d.blobs.size(); ++i)
      for (uint64_t chunk : d.blobs[i].chunks) at[chunk] = (*got)[i];
  }
  return at;
}

TEST_CASE("restore downloads: one range per pack, a blob wanted twice fetched once, loose blobs alone") {
  Rig rig;
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  std::map<uint64_t, std::vector<uint8_t>> want;
  uint64_t chunk = 0;
  for (const auto& blob : rig.a.blobs) want[chunk] = blob, chunks.emplace_back(chunk++, Pointer::Of(blob));
  for (const auto& blob : rig.b.blobs) want[chunk] = blob, chunks.emplace_back(chunk++, Pointer::Of(blob));
  want[chunk] = rig.a.blobs[3], chunks.emplace_back(chunk++, Pointer::Of(rig.a.blobs[3]));  // again
  want[chunk] = rig.loose, chunks.emplace_back(chunk++, Pointer::Of(rig.loose));

  auto plan = PlanDownloads(rig.store.get(), chunks);
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  CHECK(plan->size() == 3);  // pack a, pack b, the loose blob
  size_t packed = 0;
  for (const Download& d : *plan) packed += d.pack.IsNull() ? 0 : 1;
  CHECK(packed == 2);
  rig.counted->Reset();
  CHECK(FetchAll(rig.store.get(), *plan) == want);
  CHECK(rig.counted->gets == 3);  // one request per download, not per chunk
}

// A pack's blobs are in the order the snapshot hashed them, not the order of
// the chunks they fill: a range hands them on by chunk, so that the image
// writer sees adjacent chunks together.
TEST_CASE("restore downloads: a range's blobs are handed on in the order of their chunks, not of the pack") {
  Rig rig;
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  const size_t n = rig.a.blobs.size();
  for (size_t i = 0; i < n; ++i) chunks.emplace_back(n - 1 - i, Pointer::Of(rig.a.blobs[i]));  // reversed
  std::sort(chunks.begin(), chunks.end());
  auto plan = PlanDownloads(rig.store.get(), chunks);
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 1);
  std::vector<uint64_t> order;
  Status st = FetchAll(rig.store.get(), *plan, 1, [&](const WantedBlob& w, std::span<const uint8_t> bytes) {
    order.push_back(w.chunks.front());
    CHECK(Pointer::Of(bytes) == Pointer::Of(rig.a.blobs[n - 1 - w.chunks.front()]));
    return Status::OK();
  });
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  REQUIRE(order.size() == n);
  for (size_t i = 0; i < n; ++i) CHECK(order[i] == i);
}

TEST_CASE("restore downloads: a gap over 1 MiB splits a pack's range; a store without packs is blob by blob") {
  TempDir dir("restore-dl");
  auto disk = DiskStore::Open(dir / "slow");
  REQUIRE(disk.ok());
  SlowPacks store(std::move(disk).value());
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = 0; i < 3; ++i) blobs.push_back(testing::TestBlob(i, i == 1 ? (2 << 20) : 4096));  // 2 MiB between two small ones
  BuiltPack built = BuildPackOf(dir.path(), blobs);
  REQUIRE(PutPack(store, built.sealed.name, built.bytes).ok());
  std::vector<std::pair<uint64_t, Pointer>> chunks{{0, Pointer::Of(blobs[0])}, {1, Pointer::Of(blobs[2])}};
  auto plan = PlanDownloads(&store, chunks);
  REQUIRE(plan.ok());
  CHECK(plan->size() == 2);  // not one range over the 2 MiB nobody wants
  auto at = FetchAll(&store, *plan);
  CHECK(at[0] == blobs[0]);
  CHECK(at[1] == blobs[2]);

  // The raw store (no pack map): each blob is its own download.
  auto raw = DiskStore::Open(dir / "loose");
  REQUIRE(raw.ok());
  for (const auto& blob : blobs) REQUIRE((*raw)->Put(Pointer::Of(blob), blob).ok());
  auto singles = PlanDownloads(raw->get(), chunks);
  REQUIRE(singles.ok());
  CHECK(singles->size() == 2);
  CHECK(FetchAll(raw->get(), *singles).at(1) == blobs[2]);
}

TEST_CASE("restore downloads: a damaged blob in a pack's range is EBADMSG naming blob and pack") {
  Rig rig;
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  for (size_t i = 0; i < rig.a.blobs.size(); ++i) chunks.emplace_back(i, Pointer::Of(rig.a.blobs[i]));
  const PackEntry& victim = rig.a.sealed.entries[5];
  REQUIRE(testing::FlipByte(rig.dir / ("slow/" + PackObjectName(rig.a.sealed.name)), victim.offset + 7));
  auto plan = PlanDownloads(rig.store.get(), chunks);
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 1);
  auto got = FetchDownload(rig.store.get(), plan->front());
  CHECK(got.status().code() == EBADMSG);
  CHECK(got.status().message().find(victim.id.Hex()) != std::string::npos);
  CHECK(got.status().message().find(rig.a.sealed.name.Hex()) != std::string::npos);
}

TEST_CASE("restore downloads: from a damaged blob on, a range is fetched blob by blob; each blob handed on once") {
  Rig rig;
  std::vector<std::pair<uint64_t, Pointer>> chunks;
  std::map<uint64_t, std::vector<uint8_t>> want;
  for (size_t i = 0; i < rig.a.blobs.size(); ++i) {
    chunks.emplace_back(i, Pointer::Of(rig.a.blobs[i]));
    want[i] = rig.a.blobs[i];
  }
  const PackEntry& victim = rig.a.sealed.entries[5];
  REQUIRE(testing::FlipByte(rig.dir / ("slow/" + PackObjectName(rig.a.sealed.name)), victim.offset + 7));
  // Its good copy, loose (what SlowPacks::Get falls back to).
  for (const auto& blob : rig.a.blobs)
    if (Pointer::Of(blob) == victim.id) REQUIRE(rig.counted->Put(victim.id, blob).ok());
  auto plan = PlanDownloads(rig.store.get(), chunks);
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 1);
  std::map<uint64_t, std::vector<uint8_t>> at;
  size_t calls = 0;
  Status st = FetchAll(rig.store.get(), *plan, 1, [&](const WantedBlob& w, std::span<const uint8_t> bytes) {
    ++calls;
    for (uint64_t chunk : w.chunks) at[chunk].assign(bytes.begin(), bytes.end());
    return Status::OK();
  });
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(calls == rig.a.blobs.size());
  CHECK(at == want);
}

}  // namespace
}  // namespace amberfs
