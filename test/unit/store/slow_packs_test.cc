// SlowPacks (slow_packs.h): a slow store's packed and loose blobs seen as
// one blob store, the pack map's refreshes, and gc's Delete +
// ReclaimDeleted freeing whole dead packs only. A DiskStore slow store.
#include "store/slow_packs.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "base/durable_file.h"
#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/pack_objects.h"
#include "store/store_url.h"
#include "support/store_test_util.h"
#include "support/pack_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::TempDir;
using testing::TestBlob;

// Writes blobs seeded first..first+count-1 into a sealed pack under dir and
// returns its name and bytes (the blob of seed s is TestBlob(s, 2000 + s)).
std::pair<Pointer, std::vector<uint8_t>> SealPack(const std::string& dir, int first, int count) {
  std::vector<std::vector<uint8_t>> blobs;
  for (int s = first; s < first + count; ++s) blobs.push_back(TestBlob(s, 2000 + static_cast<size_t>(s)));
  testing::BuiltPack built = testing::BuildPackOf(dir, std::move(blobs));
  return {built.sealed.name, std::move(built.bytes)};
}

Pointer Key(int seed) { return Pointer::Of(TestBlob(seed, 2000 + static_cast<size_t>(seed))); }

struct Rig {
  TempDir dir{"slowpacks"};
  SlowPacks* packs = nullptr;  // owned by store
  std::unique_ptr<Store> store;

  explicit Rig(SlowPacksOptions options = {std::chrono::milliseconds(0)}) {
    DiskStoreOptions o;
    o.pack_objects = true;
    auto raw = DiskStore::Open(dir / "slow", o);
    REQUIRE(raw.ok());
    auto sp = std::make_unique<SlowPacks>(std::move(raw).value(), options);
    packs = sp.get();
    store = std::move(sp);
  }
  // Puts a pack straight into the raw store, behind the map's back (another
  // process's upload).
  Pointer PutPackRaw(int first, int count) {
    auto [name, bytes] = SealPack(dir.path(), first, count);
    REQUIRE(PutPack(packs->raw(), name, bytes).ok());
    return name;
  }
  void PutLoose(int seed) {
    auto blob = TestBlob(seed, 2000 + static_cast<size_t>(seed));
    REQUIRE(store->Put(Pointer::Of(blob), blob).ok());
  }
  std::vector<Pointer> Listed() {
    std::vector<Pointer> keys;
    REQUIRE(store->List([&](const Pointer& k) {
                   keys.push_back(k);
                   return Status::OK();
                 }).ok());
    return keys;
  }
};

std::vector<Pointer> Keys(std::initializer_list<int> seeds) {
  std::vector<Pointer> keys;
  for (int s : seeds) keys.push_back(Key(s));
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<Pointer> Sorted(std::vector<Pointer> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_CASE("SlowPacks: Get, Contains and List see packed and loose blobs") {
  Rig rig;
  rig.PutPackRaw(0, 4);
  rig.PutLoose(10);
  rig.PutLoose(2);  // also in the pack: listed once
  for (int s : {0, 1, 2, 3, 10}) {
    CAPTURE(s);
    auto got = rig.store->Get(Key(s));
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(*got == TestBlob(s, 2000 + static_cast<size_t>(s)));
    CHECK(rig.store->Contains(Key(s)).value());
  }
  CHECK(rig.store->Get(Key(99)).status().code() == ENOENT);
  CHECK(!rig.store->Contains(Key(99)).value());
  CHECK(Sorted(rig.Listed()) == Keys({0, 1, 2, 3, 10}));
  // Refs and the raw primitives are the raw store's.
  REQUIRE(rig.store->PutRef("volumes/v/config", TestBlob(1, 5)).ok());
  CHECK(rig.packs->raw().GetRef("volumes/v/config").value() == TestBlob(1, 5));
  CHECK(rig.store->Describe() == rig.packs->raw().Describe());
}

TEST_CASE("SlowPacks: a store with no packs, or none possible, is its loose blobs") {
  TempDir dir("slowpacks");
  for (bool pack_objects : {true, false}) {
    CAPTURE(pack_objects);
    DiskStoreOptions o;
    o.pack_objects = pack_objects;  // false: every object call is ENOTSUP
    auto raw = DiskStore::Open(dir / (pack_objects ? "with" : "without"), o);
    REQUIRE(raw.ok());
    SlowPacks store(std::move(raw).value());
    auto blob = TestBlob(1, 2001);
    REQUIRE(store.Put(Pointer::Of(blob), blob).ok());
    CHECK(store.Get(Key(1)).value() == blob);
    CHECK(store.Get(Key(2)).status().code() == ENOENT);
    CHECK(!store.Contains(Key(2)).value());
    REQUIRE(store.Delete(Key(1)).ok());
    CHECK(store.ReclaimDeleted().value() == 0);
    CHECK(store.Get(Key(1)).status().code() == ENOENT);
  }
}

TEST_CASE("SlowPacks: a pack uploaded after the map was built is found") {
  SUBCASE("by another writer, at the next miss") {
    Rig rig;
    rig.PutPackRaw(0, 2);
    CHECK(rig.store->Get(Key(0)).ok());  // builds the map
    rig.PutPackRaw(5, 2);
    CHECK(rig.store->Get(Key(6)).ok());
    CHECK(rig.store->Contains(Key(5)).value());
    CHECK(Sorted(rig.Listed()) == Keys({0, 1, 5, 6}));
  }
  SUBCASE("through this store: at once, even inside the refresh interval") {
    Rig rig(SlowPacksOptions{std::chrono::hours(1)});
    rig.PutPackRaw(0, 2);
    CHECK(rig.store->Get(Key(0)).ok());
    auto [name, bytes] = SealPack(rig.dir.path(), 5, 2);
    REQUIRE(PutPack(*rig.store, name, bytes).ok());
    CHECK(rig.store->Get(Key(6)).ok());
    // Behind its back, inside the interval: not yet; List refreshes anyway.
    rig.PutPackRaw(8, 1);
    CHECK(rig.store->Get(Key(8)).status().code() == ENOENT);
    CHECK(Sorted(rig.Listed()) == Keys({0, 1, 5, 6, 8}));
    CHECK(rig.store->Get(Key(8)).ok());
    // DeletePack through it: gone at once.
    REQUIRE(DeletePack(*rig.store, name).ok());
    CHECK(!rig.store->Contains(Key(5)).value());
  }
}

TEST_CASE("SlowPacks: a run of misses lists the store once per interval") {
  TempDir dir("slowpacks");
  DiskStoreOptions o;
  o.pack_objects = true;
  auto raw = DiskStore::Open(dir / "slow", o);
  REQUIRE(raw.ok());
  auto [name, bytes] = SealPack(dir.path(), 0, 3);
  REQUIRE(PutPack(**raw, name, bytes).ok());
  // Count the listings through a raw store that counts them.
  class ListCounter : public Store {
   public:
    explicit ListCounter(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
    std::atomic<int> lists{0};
    std::string Describe() const override { return inner_->Describe(); }
    Status Put(const Pointer& k, std::span<const uint8_t> d) override { return inner_->Put(k, d); }
    Result<std::vector<uint8_t>> Get(const Pointer& k) override { return inner_->Get(k); }
    Result<bool> Contains(const Pointer& k) override { return inner_->Contains(k); }
    Status Delete(const Pointer& k) override { return inner_->Delete(k); }
    Status List(const std::function<Status(const Pointer&)>& fn) override { return inner_->List(fn); }
    Status PutRef(std::string_view n, std::span<const uint8_t> d) override { return inner_->PutRef(n, d); }
    Result<std::vector<uint8_t>> GetRef(std::string_view n) override { return inner_->GetRef(n); }
    Status DeleteRef(std::string_view n) override { return inner_->DeleteRef(n); }
    Result<std::vector<std::string>> ListRefs(std::string_view p) override { return inner_->ListRefs(p); }
    Result<std::vector<uint8_t>> GetObjectRange(std::string_view n, uint64_t o, uint64_t l) override {
      return inner_->GetObjectRange(n, o, l);
    }
    Status ListObjects(std::string_view p, const std::function<Status(std::string_view)>& fn) override {
      ++lists;
      return inner_->ListObjects(p, fn);
    }

   private:
    std::unique_ptr<Store> inner_;
  };
  auto counter = std::make_unique<ListCounter>(std::move(raw).value());
  ListCounter* lists = counter.get();
  SlowPacks store(std::move(counter), SlowPacksOptions{std::chrono::hours(1)});
  // Concurrent misses and hits: one listing for all of them.
  std::vector<std::thread> threads;
  std::atomic<int> found{0}, missing{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (store.Get(Key(i % 3)).ok()) ++found;
        if (store.Get(Key(100 + t * 50 + i)).status().code() == ENOENT) ++missing;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(found == 200);
  CHECK(missing == 200);
  CHECK(lists->lists == 1);
}

TEST_CASE("SlowPacks: Delete and ReclaimDeleted free only packs with no live blob") {
  Rig rig;
  const Pointer all_dead = rig.PutPackRaw(0, 3);
  const Pointer half_dead = rig.PutPackRaw(10, 4);
  const Pointer live = rig.PutPackRaw(20, 2);
  rig.PutLoose(30);
  const uint64_t dead_size = std::filesystem::file_size(rig.dir / ("slow/" + PackObjectName(all_dead)));

  for (int s : {0, 1, 2, 10, 11, 30}) REQUIRE(rig.store->Delete(Key(s)).ok());
  for (int s : {0, 10, 30}) {
    CAPTURE(s);
    CHECK(rig.store->Get(Key(s)).status().code() == ENOENT);
    CHECK(!rig.store->Contains(Key(s)).value());
  }
  CHECK(Sorted(rig.Listed()) == Keys({12, 13, 20, 21}));

  auto freed = rig.store->ReclaimDeleted();
  REQUIRE_MESSAGE(freed.ok(), freed.status().ToString());
  CHECK(*freed == dead_size);
  std::vector<Pointer> left;
  REQUIRE(ListPacks(rig.packs->raw(), [&](const Pointer& p) {
            left.push_back(p);
            return Status::OK();
          }).ok());
  CHECK(Sorted(left) == Sorted({half_dead, live}));
  CHECK(!std::filesystem::exists(rig.dir / ("slow/" + PackObjectName(all_dead))));
  CHECK(rig.store->ReclaimDeleted().value() == 0);  // nothing more to free
  CHECK(rig.store->Get(Key(12)).ok());
  CHECK(rig.store->Get(Key(11)).status().code() == ENOENT);

  // The rest of the half-dead pack dies: now it goes too.
  for (int s : {12, 13}) REQUIRE(rig.store->Delete(Key(s)).ok());
  CHECK(rig.store->ReclaimDeleted().value() > 0);
  left.clear();
  REQUIRE(ListPacks(rig.packs->raw(), [&](const Pointer& p) {
            left.push_back(p);
            return Status::OK();
          }).ok());
  CHECK(left == std::vector<Pointer>{live});
  CHECK(Sorted(rig.Listed()) == Keys({20, 21}));
}

TEST_CASE("SlowPacks: a blob deleted and then uploaded again in a new pack is live") {
  Rig rig;
  const Pointer old_pack = rig.PutPackRaw(0, 2);
  for (int s : {0, 1}) REQUIRE(rig.store->Delete(Key(s)).ok());
  rig.PutPackRaw(1, 2);  // blob 1 again, with blob 2
  CHECK(rig.store->Get(Key(1)).ok());
  CHECK(rig.store->Get(Key(0)).status().code() == ENOENT);
  // The old pack holds blob 1, live again, but so does the new pack, which
  // has no dead blob: the old one goes, and blob 1 is still found.
  CHECK(rig.store->ReclaimDeleted().value() > 0);
  CHECK(GetPackIndex(rig.packs->raw(), old_pack, nullptr).status().code() == ENOENT);
  CHECK(rig.store->Get(Key(1)).ok());
}

TEST_CASE("SlowPacks: a blob in two packs stays found when one of them goes") {
  Rig rig;
  const Pointer first = rig.PutPackRaw(0, 2);
  const Pointer second = rig.PutPackRaw(1, 2);  // blob 1 in both
  CHECK(Sorted(rig.Listed()) == Keys({0, 1, 2}));
  for (const Pointer& gone : {first, second}) {
    Rig again;
    const Pointer a = again.PutPackRaw(0, 2), b = again.PutPackRaw(1, 2);
    REQUIRE(a == first);
    REQUIRE(b == second);
    CHECK(Sorted(again.Listed()) == Keys({0, 1, 2}));  // the map holds both
    REQUIRE(DeletePack(*again.store, gone).ok());
    CAPTURE(gone == first);
    CHECK(again.store->Get(Key(1)).ok());
    CHECK(again.store->Contains(Key(1)).value());
  }
  // Deleted, it is dead in both: both packs go once their other blobs die.
  REQUIRE(rig.store->Delete(Key(1)).ok());
  CHECK(rig.store->Get(Key(1)).status().code() == ENOENT);
  REQUIRE(rig.store->Delete(Key(0)).ok());
  REQUIRE(rig.store->ReclaimDeleted().ok());
  CHECK(!GetPackIndex(rig.packs->raw(), first, nullptr).ok());
  CHECK(GetPackIndex(rig.packs->raw(), second, nullptr).ok());
  CHECK(Sorted(rig.Listed()) == Keys({2}));
}

TEST_CASE("SlowPacks: a pack another volume's gc repacked and deleted is left for the pack that holds the blob now") {
  Rig rig;
  const Pointer old_pack = rig.PutPackRaw(0, 3);
  CHECK(rig.store->Get(Key(1)).ok());  // the map names old_pack for blob 1
  // Another process (its own SlowPacks over the same raw store) copies blob
  // 1 into a new pack and deletes the old one.
  rig.PutPackRaw(1, 1);
  REQUIRE(DeletePack(rig.packs->raw(), old_pack).ok());
  Result<std::vector<uint8_t>> got = rig.store->Get(Key(1));
  REQUIRE(got.ok());
  CHECK(Pointer::Of(*got) == Key(1));
  // A blob the old pack alone held is not found, and says so.
  CHECK(rig.store->Get(Key(2)).status().code() == ENOENT);
}

TEST_CASE("SlowPacks: a store away for a while (every read ENOENT) reads again once it is back") {
  Rig rig(SlowPacksOptions{std::chrono::hours(1)});  // no refresh due: the map must keep the pack
  rig.PutPackRaw(0, 3);
  CHECK(rig.store->Get(Key(1)).ok());
  const std::string slow = rig.dir / "slow", away = rig.dir / "slow.away";
  REQUIRE(::rename(slow.c_str(), away.c_str()) == 0);
  CHECK(!rig.store->Get(Key(1)).ok());
  CHECK(!rig.store->Get(Key(2)).ok());
  REQUIRE(::rename(away.c_str(), slow.c_str()) == 0);
  CHECK(rig.store->Get(Key(1)).ok());
  CHECK(rig.store->Get(Key(2)).ok());
}

TEST_CASE("SlowPacks: a damaged index object is skipped, the other packs still found") {
  Rig rig;
  const Pointer bad = rig.PutPackRaw(0, 2);
  rig.PutPackRaw(5, 2);
  REQUIRE(testing::FlipByte(rig.dir / ("slow/" + PackIndexObjectName(bad)), 1));
  CHECK(rig.store->Get(Key(5)).ok());
  CHECK(rig.store->Get(Key(0)).status().code() == ENOENT);
  CHECK(Sorted(rig.Listed()) == Keys({5, 6}));
}

TEST_CASE("SlowPacks: index objects read several at once: each pack's blobs where they are, damaged ones skipped") {
  Rig rig;
  // Three times as many packs as readers, two blobs each; every seventh
  // index object damaged, so readers meet errors between good reads.
  const int kPacks = static_cast<int>(3 * SlowPacks::kIndexReaders);
  std::vector<int> good;
  for (int p = 0; p < kPacks; ++p) {
    const Pointer name = rig.PutPackRaw(10 * p, 2);
    if (p % 7 == 3) {
      REQUIRE(testing::FlipByte(rig.dir / ("slow/" + PackIndexObjectName(name)), 1));
    } else {
      good.push_back(10 * p);
      good.push_back(10 * p + 1);
    }
  }
  for (int p = 0; p < kPacks; ++p) {
    for (int seed : {10 * p, 10 * p + 1}) {
      auto got = rig.store->Get(Key(seed));
      if (p % 7 == 3) {
        CHECK(got.status().code() == ENOENT);
      } else {
        REQUIRE(got.ok());
        CHECK(*got == TestBlob(seed, 2000 + static_cast<size_t>(seed)));
      }
    }
  }
  std::vector<Pointer> want;
  for (int seed : good) want.push_back(Key(seed));
  CHECK(Sorted(rig.Listed()) == Sorted(want));
}

TEST_CASE("SlowPacks: OpenStoreUrl wraps a file:// slow store") {
  TempDir dir("slowpacks");
  auto store = OpenStoreUrl("file://" + dir / "slow");
  REQUIRE(store.ok());
  auto* packs = dynamic_cast<SlowPacks*>(store->get());
  REQUIRE(packs != nullptr);
  auto* disk = dynamic_cast<DiskStore*>(&packs->raw());
  REQUIRE(disk != nullptr);
  auto [name, bytes] = SealPack(dir.path(), 0, 2);
  REQUIRE(PutPack(**store, name, bytes).ok());
  CHECK((*store)->Get(Key(1)).ok());
  CHECK(std::filesystem::exists(dir / "slow/blobs"));
  CHECK(std::filesystem::exists(dir / ("slow/packs/" + name.Hex().substr(0, 2) + "/" + name.Hex())));
}

}  // namespace
}  // namespace amberfs
