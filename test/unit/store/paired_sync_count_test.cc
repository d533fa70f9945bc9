// How many syncs a single PairedStore::Put costs, counted through the FileOps
// seam: what paired_bench's put/s rests on, pinned without the noise of a
// shared disk. A carried Put is one fdatasync of the upload log (shared by
// concurrent Puts) and one rename, with no fsync or syncfs; without carrying,
// the fast store's own durable Put adds an fdatasync and a directory fsync.
//
// The slow store is down throughout, so the upload workers write no files and
// every counted call is a Put's. Over packs, a batch: its packs' syncs, the
// index's and the log's, never syncfs.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <chrono>
#include <thread>
#include <vector>

#include "base/durable_file.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "support/fault_file_ops.h"
#include "support/fault_store.h"
#include "support/temp_dir.h"

using namespace amberfs;
using testing::FaultFileOps;
using testing::FaultStore;
using testing::TempDir;
using Call = FaultFileOps::Call;
using namespace std::chrono_literals;

namespace {

constexpr size_t kBlobSize = 64 * 1024;

// Distinct 64 KiB blobs (the index leads, so no two are alike).
std::vector<uint8_t> Blob(int i) {
  std::vector<uint8_t> data(kBlobSize, static_cast<uint8_t>(i * 37));
  std::memcpy(data.data(), &i, sizeof i);
  return data;
}

// Over `fast`, or a DiskStore in dir/fast when it is null.
std::unique_ptr<PairedStore> OpenPaired(const TempDir& dir, bool carry, std::unique_ptr<Store> fast = nullptr) {
  if (!fast) {
    auto disk = DiskStore::Open(dir / "fast");
    REQUIRE(disk.ok());
    fast = std::move(disk).value();
  }
  auto slow = DiskStore::Open(dir / "slow");
  REQUIRE(slow.ok());
  auto down = std::make_unique<FaultStore>(std::move(slow).value());
  down->SetDown(true);
  PairedOptions options;
  options.upload_workers = 2;
  options.carry_data_in_log = carry;
  auto paired = PairedStore::Open(std::move(fast), std::move(down), dir / "upload.log", options);
  REQUIRE_MESSAGE(paired.ok(), paired.status().ToString());
  return std::move(paired).value();
}

// Puts `count` blobs one after the other into a fresh store, counting the
// calls into `ops` (installed for the Puts only, not for Open and close).
void PutOneAtATime(bool carry, int count, FaultFileOps& ops) {
  TempDir dir("paired-syncs");
  auto store = OpenPaired(dir, carry);
  ScopedFileOps installed(&ops);
  for (int i = 0; i < count; ++i) {
    auto data = Blob(i);
    Status s = store->Put(Pointer::Of(data), data);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
  }
}

// Counts like FaultFileOps and makes each fdatasync take a while, so that
// Puts arriving meanwhile gather behind it as they would behind a real disk.
class SlowDatasyncOps : public FaultFileOps {
 public:
  int Fdatasync(int fd) override {
    std::this_thread::sleep_for(20ms);
    return FaultFileOps::Fdatasync(fd);
  }
};

}  // namespace

TEST_CASE("Paired: a single carried Put costs one fdatasync and one rename, no fsync or syncfs") {
  constexpr int kPuts = 20;
  FaultFileOps ops;
  PutOneAtATime(/*carry=*/true, kPuts, ops);
  CHECK(ops.Calls(Call::kFdatasync) == kPuts);
  CHECK(ops.Calls(Call::kRename) == kPuts);
  CHECK(ops.Calls(Call::kFsync) == 0);
  CHECK(ops.Calls(Call::kSyncfs) == 0);
}

TEST_CASE("Paired: without carrying, a single Put costs two fdatasyncs and a directory fsync") {
  constexpr int kPuts = 20;
  FaultFileOps ops;
  PutOneAtATime(/*carry=*/false, kPuts, ops);
  CHECK(ops.Calls(Call::kFdatasync) == 2 * kPuts);
  CHECK(ops.Calls(Call::kRename) == kPuts);
  CHECK(ops.Calls(Call::kFsync) == kPuts);
  CHECK(ops.Calls(Call::kSyncfs) == 0);
}

TEST_CASE("Paired: concurrent carried Puts share the upload log's fdatasync") {
  TempDir dir("paired-syncs");
  auto store = OpenPaired(dir, /*carry=*/true);
  constexpr int kThreads = 16, kPerThread = 5, kPuts = kThreads * kPerThread;
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = 0; i < kPuts; ++i) blobs.push_back(Blob(i));
  SlowDatasyncOps ops;
  {
    ScopedFileOps installed(&ops);
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < kPuts;) {
          Status s = store->Put(Pointer::Of(blobs[i]), blobs[i]);
          CHECK_MESSAGE(s.ok(), s.ToString());
        }
      });
    for (auto& th : threads) th.join();
  }
  // Each 20 ms sync covers the Puts that arrived while the one before ran:
  // with 16 writers, rounds of several Puts (a loaded machine makes them
  // smaller, hence the loose bound). One sync per Put would mean that the
  // group commit is no longer shared, or that writers are serialised.
  const int syncs = ops.Calls(Call::kFdatasync);
  MESSAGE(kPuts << " concurrent carried Puts took " << syncs << " fdatasyncs");
  CHECK(syncs >= 1);
  CHECK(syncs <= kPuts / 2);
  CHECK(ops.Calls(Call::kRename) == kPuts);
  CHECK(ops.Calls(Call::kFsync) == 0);
  CHECK(ops.Calls(Call::kSyncfs) == 0);
}

TEST_CASE("Paired over packs: a batch costs an fdatasync per pack, one fsync, the index's and the log's, no syncfs") {
  TempDir dir("paired-syncs");
  PackedDiskStoreOptions packed;
  packed.pack.target_bytes = 1 << 20;  // 64 blobs of 64 KiB: four packs
  auto fast = PackedDiskStore::Open(dir / "fast", packed);
  REQUIRE(fast.ok());
  auto paired = OpenPaired(dir, /*carry=*/true, std::move(fast).value());  // as a mount opens it
  constexpr int kBlobs = 64;
  FaultFileOps ops;
  {
    ScopedFileOps installed(&ops);
    auto batch = paired->NewPutBatch();
    for (int i = 0; i < kBlobs; ++i) {
      auto data = Blob(i);
      Status s = batch->Put(Pointer::Of(data), data);
      REQUIRE_MESSAGE(s.ok(), s.ToString());
    }
    Status committed = batch->Commit();
    REQUIRE_MESSAGE(committed.ok(), committed.ToString());
  }
  const int packs = static_cast<int>(std::distance(std::filesystem::directory_iterator(dir / "fast/packs"),
                                                   std::filesystem::directory_iterator()));
  MESSAGE(kBlobs << " blobs in " << packs << " packs: " << ops.Calls(Call::kFdatasync) << " fdatasyncs, "
                 << ops.Calls(Call::kFsync) << " fsyncs");
  CHECK(packs >= 4);
  CHECK(ops.Calls(Call::kFdatasync) == packs + 2);  // each pack, the blob index, the upload log
  CHECK(ops.Calls(Call::kRename) == packs);
  CHECK(ops.Calls(Call::kFsync) == 1);  // fast/packs/
  CHECK(ops.Calls(Call::kSyncfs) == 0);
  // Every blob reads back from its pack.
  for (int i = 0; i < kBlobs; ++i) {
    auto data = Blob(i);
    auto got = paired->fast().Get(Pointer::Of(data));
    REQUIRE(got.ok());
    CHECK(*got == data);
  }
}
