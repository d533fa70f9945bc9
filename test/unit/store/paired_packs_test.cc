// PairedStore over a packed fast store (paired_store.h, packed_disk_store.h):
// a batch's packs go to the slow store whole, one object (and its index
// object) per pack, never a blob object; a pack upload cut off by a close
// resumes at the next open; an evicted pack is read back from the slow
// store by range; gc's deletes free a pack in both stores once all its blobs
// are dead.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "store/disk_store.h"
#include "store/pack_objects.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/slow_packs.h"
#include "store/upload_queue.h"
#include "support/eventually.h"
#include "support/fault_store.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

constexpr size_t kBlobBytes = 64 << 10;

std::vector<std::string> Objects(Store& store, const char* prefix) {
  std::vector<std::string> names;
  Status listed = store.ListObjects(prefix, [&](std::string_view name) {
    names.emplace_back(name);
    return Status::OK();
  });
  REQUIRE_MESSAGE(listed.ok(), listed.ToString());
  return names;
}

size_t LooseBlobs(Store& store) {
  size_t n = 0;
  REQUIRE(store.List([&](const Pointer&) {
                 ++n;
                 return Status::OK();
               }).ok());
  return n;
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file()) ++n;
  return n;
}

// A PairedStore whose fast store is packed (1 MiB packs) and whose slow store
// is a directory behind a FaultStore (which can be taken down).
struct PackedRig {
  TempDir dir{"paired-packs"};
  PackedDiskStore* fast = nullptr;
  testing::FaultStore* slow = nullptr;
  std::unique_ptr<PairedStore> store;

  void Open(PairedOptions options = {}, bool slow_down = false) {
    store.reset();
    PackedDiskStoreOptions o;
    o.pack.target_bytes = 1 << 20;
    auto packed = PackedDiskStore::Open(dir / "fast", o);
    REQUIRE_MESSAGE(packed.ok(), packed.status().ToString());
    fast = packed->get();
    auto disk = DiskStore::Open(dir / "slow");
    REQUIRE(disk.ok());
    auto faulty = std::make_unique<testing::FaultStore>(std::move(disk).value(), "slow");
    slow = faulty.get();
    slow->SetDown(slow_down);
    options.upload_workers = 4;
    options.retry_initial = 5ms;
    options.retry_max = 20ms;
    auto opened = PairedStore::Open(std::move(packed).value(),
                                    std::make_unique<SlowPacks>(std::move(faulty), SlowPacksOptions{0ms}),
                                    dir / "upload.log", options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    store = std::move(opened).value();
  }

  // One batch of blobs first..first+n-1; returns their keys.
  std::vector<Pointer> PutBatch(int first, int n) {
    std::vector<Pointer> keys;
    auto batch = store->NewPutBatch();
    for (int i = first; i < first + n; ++i) {
      auto data = testing::TestBlob(i, kBlobBytes);
      keys.push_back(Pointer::Of(data));
      REQUIRE(batch->Put(keys.back(), data).ok());
    }
    Status committed = batch->Commit();
    REQUIRE_MESSAGE(committed.ok(), committed.ToString());
    return keys;
  }
};

TEST_CASE("paired over packs: a batch goes to the slow store as its packs, one object each, no blob objects") {
  PackedRig rig;
  rig.Open();
  std::vector<Pointer> keys = rig.PutBatch(0, 40);  // 2.5 MiB: three packs of 1 MiB
  REQUIRE(rig.store->Drain(30s).ok());
  Store& slow = rig.slow->inner();
  std::vector<std::string> packs = Objects(slow, "packs/");
  CHECK(packs.size() == 3);
  CHECK(Objects(slow, "index/").size() == 3);
  CHECK(LooseBlobs(slow) == 0);
  CHECK(rig.store->Stats().uploaded == 3);
  CHECK(FilesIn(rig.dir / "fast/packs") == 3);
  // Each blob, by range from its slow pack, where the fast index says.
  for (int i = 0; i < 40; ++i) {
    Result<BlobLocation> where = rig.fast->index().Lookup(keys[i]);
    REQUIRE(where.ok());
    auto blob = GetPackedBlob(slow, keys[i], *where);
    REQUIRE_MESSAGE(blob.ok(), blob.status().ToString());
    CHECK(*blob == testing::TestBlob(i, kBlobBytes));
  }
  // A second batch with 20 new blobs and 20 old ones uploads only the new.
  rig.PutBatch(20, 40);
  REQUIRE(rig.store->Drain(30s).ok());
  CHECK(Objects(slow, "packs/").size() == 5);  // 1.25 MiB more: two packs
  CHECK(LooseBlobs(slow) == 0);
}

// A slow store whose pack PUTs take a while, counting how many run at once.
class SlowPackPuts : public testing::FaultStore {
 public:
  using FaultStore::FaultStore;
  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override {
    const bool pack = name.starts_with("packs/");
    if (pack) {
      int now = ++running_;
      int seen = most_.load();
      while (now > seen && !most_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(50ms);
    }
    Status st = FaultStore::PutObject(name, bytes);
    if (pack) --running_;
    return st;
  }
  int most() const { return most_.load(); }

 private:
  std::atomic<int> running_{0}, most_{0};
};

TEST_CASE("paired over packs: at most four pack uploads at once, whatever the worker count") {
  TempDir dir("paired-packs");
  PackedDiskStoreOptions o;
  o.pack.target_bytes = 256 << 10;
  auto packed = PackedDiskStore::Open(dir / "fast", o);
  REQUIRE(packed.ok());
  auto slow = std::make_unique<SlowPackPuts>(DiskStore::Open(dir / "slow").value(), "slow");
  SlowPackPuts* counted = slow.get();
  PairedOptions options;
  options.upload_workers = 16;
  auto paired = PairedStore::Open(std::move(packed).value(), std::move(slow), dir / "upload.log", options);
  REQUIRE(paired.ok());
  auto batch = (*paired)->NewPutBatch();
  for (int i = 0; i < 48; ++i) {  // 3 MiB: twelve packs of 256 KiB
    auto data = testing::TestBlob(i, kBlobBytes);
    REQUIRE(batch->Put(Pointer::Of(data), data).ok());
  }
  REQUIRE(batch->Commit().ok());
  REQUIRE((*paired)->Drain(30s).ok());
  CHECK(Objects(counted->inner(), "packs/").size() == 12);
  CHECK(counted->most() >= 2);  // they do run side by side
  CHECK(counted->most() <= UploadQueue::kMaxPacksInFlight);
}

TEST_CASE("paired over packs: a pack upload cut off by a close resumes at the next open") {
  PackedRig rig;
  rig.Open({}, /*slow_down=*/true);
  std::vector<Pointer> keys = rig.PutBatch(0, 10);
  CHECK(rig.store->Stats().pending == 1);
  rig.Open();  // the store is back; the log still owes the pack
  REQUIRE(rig.store->Drain(30s).ok());
  CHECK(Objects(rig.slow->inner(), "packs/").size() == 1);
  SlowPacks reader(std::make_unique<testing::FaultStore>(DiskStore::Open(rig.dir / "slow").value(), "r"));
  for (int i = 0; i < 10; ++i) {
    auto blob = reader.Get(keys[i]);
    REQUIRE_MESSAGE(blob.ok(), blob.status().ToString());
    CHECK(*blob == testing::TestBlob(i, kBlobBytes));
  }
}

TEST_CASE("paired over packs: a fast store over budget evicts whole packs; their blobs come back by range") {
  PackedRig rig;
  PairedOptions options;
  options.fast_budget_bytes = 256 << 10;
  rig.Open(options);
  std::vector<Pointer> keys = rig.PutBatch(0, 40);
  REQUIRE(rig.store->Drain(30s).ok());
  // 2.5 MiB against a 256 KiB budget: at least two of the three packs go.
  REQUIRE(testing::Eventually([&] { return FilesIn(rig.dir / "fast/packs") <= 1; }));
  for (int i = 0; i < 40; ++i) {
    auto blob = rig.store->Get(keys[i]);
    REQUIRE_MESSAGE(blob.ok(), blob.status().ToString());
    CHECK(*blob == testing::TestBlob(i, kBlobBytes));
  }
  // Nothing was uploaded again, and no blob object was made.
  CHECK(rig.store->Stats().uploaded == 3);
  CHECK(LooseBlobs(rig.slow->inner()) == 0);
}

TEST_CASE("paired over packs: gc's deletes and ReclaimDeleted remove a dead pack from both stores") {
  PackedRig rig;
  rig.Open();
  std::vector<Pointer> dead = rig.PutBatch(0, 10);   // one pack
  std::vector<Pointer> live = rig.PutBatch(10, 10);  // another
  REQUIRE(rig.store->Drain(30s).ok());
  REQUIRE(Objects(rig.slow->inner(), "packs/").size() == 2);
  // What gc does: list the slow store, delete what is unreachable, reclaim.
  size_t listed = 0;
  REQUIRE(rig.store->slow().List([&](const Pointer&) {
    ++listed;
    return Status::OK();
  }).ok());
  CHECK(listed == 20);
  REQUIRE(rig.store->DeleteBlobs(dead).ok());
  Result<uint64_t> slow_freed = rig.store->slow().ReclaimDeleted();
  REQUIRE_MESSAGE(slow_freed.ok(), slow_freed.status().ToString());
  CHECK(*slow_freed > 10 * kBlobBytes);
  Result<uint64_t> fast_freed = rig.store->fast().ReclaimDeleted();
  REQUIRE(fast_freed.ok());
  CHECK(*fast_freed > 10 * kBlobBytes);
  CHECK(Objects(rig.slow->inner(), "packs/").size() == 1);
  CHECK(Objects(rig.slow->inner(), "index/").size() == 1);
  CHECK(FilesIn(rig.dir / "fast/packs") == 1);
  for (int i = 0; i < 10; ++i) {
    auto blob = rig.store->Get(live[i]);
    REQUIRE(blob.ok());
    CHECK(*blob == testing::TestBlob(10 + i, kBlobBytes));
    CHECK(rig.store->Get(dead[i]).status().code() == ENOENT);
  }
}

}  // namespace
}  // namespace amberfs
